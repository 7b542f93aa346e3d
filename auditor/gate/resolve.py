"""Resolve an image reference to the ECR URI HealthOmics would pull, the way HealthOmics does it.

Order (docs/aws-semantics.md §7.2): an exact image mapping first, then a registry mapping
for the reference's registry, else the reference must already be a private ECR
URI in the workflow's region. Both sides of every comparison go through the one
normaliser (:mod:`auditor.refs`), so ``ubuntu``, ``docker.io/library/ubuntu:latest``
and ``registry-1.docker.io/library/ubuntu`` are the same image. Where AWS does
not document the behaviour (precedence, normalisation of ``sourceImage``), the
choice is the one ``docs/aws-semantics.md`` records as the likely one and is named in
the README.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from auditor import upstreams
from auditor.models import ContainerRegistryMap, ImageMapping, RegistryMapping
from auditor.refs import ImageReference, InvalidReference, canonical_registry, ecr_uri, parse_reference

Via = Literal["image-mapping", "registry-mapping", "ecr", "none", "invalid"]


class Resolution(BaseModel):
    """One reference resolved: the JSON line `resolve` prints and the gate's per-container verdict."""

    input: str
    normalized: str | None = None
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    ecr_uri: str | None = None
    # Tag and digest of the image HealthOmics pulls: an image mapping's destination's own (a
    # destination without either means ``latest``), otherwise the reference's own (a registry mapping
    # rewrites only the repository). The pinning check, the image lookup and the architecture check read
    # these, never ``tag``/``digest``, which describe the input.
    pull_tag: str | None = None
    pull_digest: str | None = None
    reason: str = ""
    via: Via = "none"
    ecr_account: str | None = None
    ecr_region: str | None = None
    ecr_repository: str | None = None
    ptc_prefix: str | None = None  # the cache prefix a registry mapping sends it through
    upstream: str | None = None  # upstream key (docker-hub, quay, ...) when known
    warnings: list[str] = Field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.ecr_uri is not None


def _strip_prefix(path: str, prefix: str | None) -> str | None:
    if not prefix or prefix == "ROOT":
        return path
    stem = prefix.rstrip("/")
    return path[len(stem) + 1 :] if path.startswith(stem + "/") else None


def _mapping_registry(m: RegistryMapping) -> str:
    host = m.upstream_registry_url.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return canonical_registry(host)


def _match_image_mapping(ref: ImageReference, mappings: list[ImageMapping]) -> ImageMapping | None:
    for m in mappings:
        try:
            source = parse_reference(m.source_image or "")
        except InvalidReference:
            continue
        if source.name == ref.name and source.tag == ref.tag and source.digest == ref.digest:
            return m
    return None


def _specificity(m: RegistryMapping) -> int:
    prefix = m.upstream_repository_prefix or "ROOT"
    return 0 if prefix == "ROOT" else len(prefix.rstrip("/"))


def _match_registry_mapping(ref: ImageReference, mappings: list[RegistryMapping]) -> tuple[RegistryMapping, str] | None:
    best: tuple[RegistryMapping, str] | None = None
    for m in mappings:
        if _mapping_registry(m) != ref.registry:
            continue
        rest = _strip_prefix(ref.repository, m.upstream_repository_prefix)
        if rest is None:
            continue
        if best is None or _specificity(m) > _specificity(best[0]):
            best = (m, rest)
    return best


def resolve(
    raw: str,
    crm: ContainerRegistryMap | None = None,
    *,
    account: str | None = None,
    region: str | None = None,
    default_registry: str | None = None,
) -> Resolution:
    """How HealthOmics in ``account``/``region`` would resolve ``raw`` with the map ``crm``."""
    out = Resolution(input=raw)
    try:
        ref = parse_reference(raw, default_registry=default_registry)
    except InvalidReference as exc:
        out.via = "invalid"
        out.reason = f"not a valid image reference: {exc.reason}"
        return out
    out.normalized, out.registry, out.repository = ref.normalized, ref.registry, ref.repository
    out.tag, out.digest = ref.tag, ref.digest
    up = upstreams.upstream_for_registry(ref.pull_host) or upstreams.upstream_for_registry(ref.registry)
    out.upstream = up.key if up else None
    crm = crm or ContainerRegistryMap()

    mapped = _match_image_mapping(ref, crm.image_mappings)
    if mapped is not None:
        # HealthOmics pulls the destination exactly as written: its repository and its own tag or digest
        # (``latest`` when it has neither, §7.1), whatever tag or digest the source carried.
        out.via = "image-mapping"
        try:
            dest = parse_reference(mapped.destination_image or "")
        except InvalidReference as exc:
            out.reason = f"image mapping destination {mapped.destination_image!r} is invalid: {exc.reason}"
            return out
        _pulls(out, dest, f"image mapping destination {dest.normalized}")
        return _ecr_destination(out, dest, region, f"image mapping {mapped.source_image} → {dest.normalized}")

    _pulls(out, ref, None)

    match = _match_registry_mapping(ref, crm.registry_mappings)
    if match is not None:
        m, rest = match
        out.via = "registry-mapping"
        copy = up is not None and up.omics_copy_supported
        if copy and not m.credential_arn:
            out.reason = (
                f"{ref.registry} is a registry HealthOmics copies from itself; its registry mapping needs a "
                "credentialArn"
            )
            return out
        if not copy and (up is None or not up.healthomics_ptc_supported):
            out.reason = f"{ref.registry} cannot be cached for HealthOmics; stage the image in ECR and map it"
            return out
        target_account = m.ecr_account_id or account
        if target_account is None or region is None:
            out.reason = "registry mapping found, but the account and region are needed to form the ECR URI"
            out.ptc_prefix = m.ecr_repository_prefix.rstrip("/")
            return out
        out.ptc_prefix = m.ecr_repository_prefix.rstrip("/")
        repository = f"{out.ptc_prefix}/{rest}" if out.ptc_prefix != "ROOT" else rest
        try:
            uri = ecr_uri(target_account, region, repository, tag=ref.tag, digest=ref.digest)
        except ValueError as exc:
            out.reason = f"registry mapping gives an invalid ECR URI: {exc}"
            return out
        out.ecr_uri, out.ecr_account, out.ecr_region, out.ecr_repository = uri, target_account, region, repository
        how = "copied by HealthOmics" if copy else "pull-through cache"
        out.reason = f"registry mapping {m.upstream_registry_url} → prefix {out.ptc_prefix} ({how})"
        return out

    if ref.ecr is not None:
        out.via = "ecr"
        return _ecr_destination(out, ref, region, "already a private ECR image")

    out.via = "none"
    if up is None:
        out.reason = (
            f"{ref.registry} is not a registry ECR can cache or HealthOmics can copy; stage the image in a private "
            "ECR repository and add an image mapping"
        )
    elif up.omics_copy_supported:
        out.reason = (
            f"{ref.registry} resolves only through a registry mapping with a credentialArn (HealthOmics copies it)"
        )
    elif not up.healthomics_ptc_supported:
        out.reason = f"HealthOmics cannot use a pull-through cache of {up.display_name}; stage the image in ECR"
    else:
        out.reason = (
            f"no mapping for {ref.registry}: add a registry mapping {{upstreamRegistryUrl: "
            f"{up.registry_url or up.ptc_url}, ecrRepositoryPrefix: <PTC prefix>}} (or an image mapping)"
        )
    return out


def _pulls(out: Resolution, pulled: ImageReference, what: str | None) -> None:
    """Record the tag/digest HealthOmics pulls and warn when that image is not pinned by digest."""
    out.pull_tag, out.pull_digest = pulled.tag, pulled.digest
    if pulled.digest is None:
        subject = f"{what} uses tag {pulled.tag!r}, which" if what else f"tag {pulled.tag!r}"
        out.warnings.append(f"unpinned: {subject} can change upstream; pin it by digest for reproducible runs")


def _ecr_destination(out: Resolution, dest: ImageReference, region: str | None, how: str) -> Resolution:
    ecr = dest.ecr
    if ecr is None:
        out.reason = f"{how}: {dest.normalized} is not a private ECR image"
        return out
    if region is not None and ecr.region != region:
        out.reason = f"{how}: {dest.normalized} is in {ecr.region}, not the workflow's region {region}"
        return out
    out.ecr_uri = dest.normalized
    out.ecr_account, out.ecr_region, out.ecr_repository = ecr.account, ecr.region, dest.repository
    out.reason = how
    return out
