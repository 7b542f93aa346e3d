"""``omics-ecr-audit copy``: put every image a workflow needs into ECR private, the way HealthOmics can pull it.

For each reference (normalised by :mod:`auditor.refs`, as ``resolve`` does):

* **prime** — a pull-through cache rule in the region serves the reference's registry: ask ECR for the image in
  the cache repository (``BatchGetImage``), which makes ECR create the repository from its creation template
  and import the image; then check the image is there, with its digest (``DescribeImages``). Seed 001's
  ``CheckContainerAvailability`` primes the same way. GUESS: that an API ``BatchGetImage`` triggers the import
  as a ``docker pull`` does (docs/aws-semantics.md §4.1; docs/copy.md).
* **copy** — no cache rule serves it (gcr.io, Artifact Registry, ghcr.io, mcr.microsoft.com, Docker Hub without
  credentials, any other registry): read the manifest (or index: every platform, attestations included; an
  image without linux/amd64 is refused) and every blob from the upstream over the OCI distribution API
  (:mod:`auditor.registry`), and push them through ECR's layer-upload API (``BatchCheckLayerAvailability``,
  ``InitiateLayerUpload``, ``UploadLayerPart``, ``CompleteLayerUpload``, ``PutImage``): no Docker daemon, so
  it runs in Lambda too. Manifests are pushed as the exact upstream bytes, so the digest is preserved; it is
  checked after the push. Blobs the repository already has are skipped, so an interrupted copy resumes.
  The target repository is ``<namespace>/<upstream repository>`` (:data:`DEFAULT_NAMESPACES`, configurable).
* **skip** — the image (same digest) is already where it would go.

Every repository written to ends with the omics pull statement merged into its policy, never replacing one:
a new repository gets a policy with only that statement; an existing one is changed through the fix engine
(:func:`auditor.fix.apply_plan`: re-read, backup first, stale-plan refusal). Nothing is written without
``apply``; ``max_changes`` bounds the writes (repositories, policies, images) before the first one.

The report lists what was primed, copied, skipped and failed, and the container registry map to give the
workflow (registry mappings for the cache rules used, image mappings for the copies): a file ``map validate``
accepts. Credentials for an upstream come from a Secrets Manager secret named in the configuration or from
the Docker config file; they are never printed, logged or written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.exceptions
import structlog
from pydantic import BaseModel, Field

from auditor import manifests, upstreams
from auditor.aws import ApiCallCounter
from auditor.collect import repository_policy
from auditor.config import CopySettings
from auditor.errors import FixRefused, InputError
from auditor.findings import Status
from auditor.fix import ApiCall, Clients, Plan, Target, apply_plan, make_change
from auditor.gate import regmap
from auditor.grants import OMICS_PULL_ACTIONS, resource_policy_grants_omics
from auditor.models import ContainerRegistryMap, ImageMapping, PtcRule, RegistryMapping, Snapshot
from auditor.policy_merge import ECR_POLICY_LIMIT, PolicyMergeError, merge_statement, parse_document, render
from auditor.refs import ImageReference, InvalidReference, ecr_uri, parse_reference, try_parse_reference
from auditor.registry import Credentials, Manifest, RegistryClient, RegistryError
from auditor.remediations.repository_policy import KIND as REPOSITORY_POLICY
from auditor.remediations.repository_policy import pull_statement

log = structlog.get_logger("auditor.copy")

# The ECR helper's namespaces (seed 003), plus the registries HealthOmics users meet most; a registry not
# listed gets its host with every character ECR refuses turned into '-' (docs/copy.md).
DEFAULT_NAMESPACES: dict[str, str] = {
    "docker.io": "dockerhub",
    "gcr.io": "gcr",
    "ghcr.io": "ghcr",
    "mcr.microsoft.com": "mcr",
    "quay.io": "quay",
    "public.ecr.aws": "ecr-public",
    "registry.k8s.io": "k8s",
    "registry.gitlab.com": "gitlab",
    "nvcr.io": "nvcr",
}
_GCR_REGIONAL = re.compile(r"(?:[a-z]+\.)?gcr\.io")  # us.gcr.io, eu.gcr.io, asia.gcr.io
_ARTIFACT_REGISTRY = re.compile(r"[a-z0-9-]+-docker\.pkg\.dev")  # Google Artifact Registry (seed 003: gar/)

# ECR's UploadLayerPart takes what InitiateLayerUpload's partSize says; this is only the fallback.
DEFAULT_PART_SIZE = 10 * 1024 * 1024
_BATCH_CHECK_LIMIT = 100  # BatchCheckLayerAvailability layerDigests: 1-100 (botocore model)
MAX_REFERENCES = 1000  # images per run: a manifest file is untrusted input

# What `copy` calls (the permissions-coverage test proves each against recorded calls). The plan reads only;
# `--apply` adds the writes. Priming needs CreateRepository and BatchImportUpstreamImage too: ECR checks the
# caller's right to create the cache repository and import into it (ECR guide, pull through cache IAM policy).
PLAN_PERMISSIONS: tuple[str, ...] = (
    "sts:GetCallerIdentity",
    "ecr:DescribePullThroughCacheRules",
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:GetRepositoryPolicy",
    "secretsmanager:GetSecretValue",  # only the secrets `copy.credentials` names
)
APPLY_PERMISSIONS: tuple[str, ...] = (
    *PLAN_PERMISSIONS,
    "ecr:BatchGetImage",
    "ecr:BatchImportUpstreamImage",
    "ecr:CreateRepository",
    "ecr:SetRepositoryPolicy",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)

Action = Literal["prime", "copy", "skip", "fail"]
Outcome = Literal["planned", "done", "unchanged", "failed"]


class CopyError(Exception):
    """One image could not be planned or copied; the message is safe to print (no secret, no URL)."""


class CopyItem(BaseModel):
    """One reference: what copy would do (plan) or did (apply)."""

    source: str
    normalized: str | None = None
    action: Action
    outcome: Outcome = "planned"
    reason: str = ""
    repository: str | None = None  # the ECR repository it lands in
    destination: str | None = None  # the ECR URI the workflow should use (tag, or digest when pinned)
    digest: str | None = None  # the image's digest (upstream for a copy; ECR's for a prime)
    platforms: list[str] = Field(default_factory=list)
    ptc_prefix: str | None = None  # prime: the cache rule's prefix
    upstream_registry_url: str | None = None  # prime: the rule's upstream URL (for the registry map)
    writes: list[str] = Field(default_factory=list)  # the writes it plans or made, in order
    blobs_copied: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0


class CopyReport(BaseModel):
    kind: Literal["omics-ecr-audit/copy"] = "omics-ecr-audit/copy"
    account: str
    region: str
    applied: bool
    started: datetime
    items: list[CopyItem] = Field(default_factory=list)
    registry_map: dict[str, Any] = Field(default_factory=dict)  # the map file (CreateWorkflow's shape)
    policy_changes: list[str] = Field(default_factory=list)  # repositories whose policy gets the omics statement
    backup: str | None = None  # where the replaced repository policies were saved
    api_calls: dict[str, int] = Field(default_factory=dict)

    def count(self, action: Action) -> int:
        return sum(1 for i in self.items if i.action == action)

    @property
    def failed(self) -> bool:
        return any(i.action == "fail" or i.outcome == "failed" for i in self.items)

    @property
    def write_count(self) -> int:
        return sum(len(i.writes) for i in self.items if i.action in ("prime", "copy")) + len(self.policy_changes)


# --- planning -----------------------------------------------------------------------------------------------


def namespace_for(registry: str, overrides: dict[str, str] | None = None) -> str:
    """The ECR namespace copies from ``registry`` (a canonical host) land under."""
    host = registry.lower()
    table = {**DEFAULT_NAMESPACES, **{k.lower(): v for k, v in (overrides or {}).items()}}
    if host in table:
        return table[host]
    if _GCR_REGIONAL.fullmatch(host):
        return table["gcr.io"]
    if _ARTIFACT_REGISTRY.fullmatch(host):
        return "gar"
    return re.sub(r"[^a-z0-9._-]+", "-", host).strip("-._") or "registry"


def serving_rule(ref: ImageReference, rules: Sequence[PtcRule]) -> tuple[PtcRule, str] | None:
    """The cache rule that serves ``ref`` and the cache repository it creates, or None.

    A rule serves a reference when its upstream is the reference's registry (Docker Hub only with a credential,
    as ECR requires) and, when the rule names an upstream repository prefix, the reference is under it.
    """
    for rule in sorted(rules, key=lambda r: r.ecr_repository_prefix):
        upstream = upstreams.upstream_for_ptc_url(rule.upstream_registry_url)
        if upstream is None or not upstream.matches_host(ref.registry) or not upstream.healthomics_ptc_supported:
            continue  # a cache HealthOmics cannot pull through (e.g. Chainguard) does not serve the workflow
        if upstream.requires_credentials and not rule.credential_arn:
            continue
        path = ref.repository
        prefix = (rule.upstream_repository_prefix or "").strip("/")
        if prefix and prefix != upstreams.ROOT:
            if not path.startswith(prefix + "/"):
                continue
            path = path[len(prefix) + 1 :]
        if rule.ecr_repository_prefix == upstreams.ROOT:
            return rule, path
        return rule, upstreams.cache_repository(rule.ecr_repository_prefix, path)
    return None


def _reference(ref: ImageReference) -> str:
    return ref.digest or ref.tag or "latest"


def _destination(account: str, region: str, repository: str, ref: ImageReference) -> str:
    suffix = f"@{ref.digest}" if ref.digest else f":{ref.tag or 'latest'}"
    return ecr_uri(account, region, repository) + suffix


class Copier:
    """Plans and applies one copy run in one account and region."""

    def __init__(
        self,
        session: boto3.Session,
        region: str,
        settings: CopySettings | None = None,
        *,
        endpoint_url: str | None = None,
        registry_client: Callable[[str, Credentials | None], RegistryClient] | None = None,
    ) -> None:
        self.session = session
        self.region = region
        self.settings = settings or CopySettings()
        self.counter = ApiCallCounter()
        self.clients = Clients(session, endpoint_url=endpoint_url, counter=self.counter)
        self.ecr = self.clients.get("ecr", region)
        self._make_registry = registry_client or (lambda host, creds: RegistryClient(host, credentials=creds))
        self._registries: dict[str, RegistryClient] = {}
        self._account: str | None = None
        self._rules: list[PtcRule] | None = None
        self._repositories: dict[str, bool] = {}

    # -- reads -------------------------------------------------------------------------------------------------

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = str(self.clients.get("sts", self.region).get_caller_identity()["Account"])
        return self._account

    def rules(self) -> list[PtcRule]:
        if self._rules is None:
            found: list[PtcRule] = []
            for page in self.ecr.get_paginator("describe_pull_through_cache_rules").paginate():
                for r in page.get("pullThroughCacheRules", []):
                    found.append(
                        PtcRule(
                            ecr_repository_prefix=r["ecrRepositoryPrefix"],
                            upstream_registry_url=r["upstreamRegistryUrl"],
                            upstream_registry=r.get("upstreamRegistry"),
                            credential_arn=r.get("credentialArn"),
                            upstream_repository_prefix=r.get("upstreamRepositoryPrefix"),
                        )
                    )
            self._rules = found
        return self._rules

    def repository_exists(self, name: str) -> bool:
        if name not in self._repositories:
            try:
                self.ecr.describe_repositories(repositoryNames=[name])
                self._repositories[name] = True
            except botocore.exceptions.ClientError as exc:
                if exc.response["Error"]["Code"] != "RepositoryNotFoundException":
                    raise
                self._repositories[name] = False
        return self._repositories[name]

    def ecr_digest(self, repository: str, ref: ImageReference) -> str | None:
        """The digest ECR holds for the reference's tag (or the digest itself), or None."""
        if not self.repository_exists(repository):
            return None
        image_id = {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.tag or "latest"}
        try:
            details = self.ecr.describe_images(repositoryName=repository, imageIds=[image_id])["imageDetails"]
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "ImageNotFoundException":
                return None
            raise
        return str(details[0]["imageDigest"]) if details else None

    def registry(self, host: str) -> RegistryClient:
        if host not in self._registries:
            self._registries[host] = self._make_registry(host, self._credentials(host))
        return self._registries[host]

    def _credentials(self, host: str) -> Credentials | None:
        from auditor.registry import credentials_from_docker_config, credentials_from_secret

        secret = {k.lower(): v for k, v in self.settings.credentials.items()}.get(host.lower())
        if secret:
            return credentials_from_secret(self.clients.get("secretsmanager", self.region), secret)
        if self.settings.docker_config:
            return credentials_from_docker_config(host)
        return None

    # -- plan --------------------------------------------------------------------------------------------------

    def plan(self, sources: Sequence[str]) -> CopyReport:
        report = CopyReport(account=self.account, region=self.region, applied=False, started=datetime.now(UTC))
        seen: set[str] = set()
        for source in sources:
            item = self._plan_one(source)
            if item.normalized and item.normalized in seen:
                continue  # the same image written twice (ubuntu, docker.io/library/ubuntu:latest)
            if item.normalized:
                seen.add(item.normalized)
            report.items.append(item)
        report.policy_changes = sorted(
            {i.repository for i in report.items if i.repository and "SetRepositoryPolicy" in i.writes}
        )
        report.registry_map = registry_map(report)
        report.api_calls = self.counter.snapshot()
        return report

    def _plan_one(self, source: str) -> CopyItem:
        try:
            ref = parse_reference(source)
        except InvalidReference as exc:
            return CopyItem(source=source, action="fail", outcome="failed", reason=f"not an image reference: {exc}")
        item = CopyItem(source=source, normalized=ref.normalized, action="skip")
        try:
            if ref.ecr is not None:
                item.reason = "already an ECR private image: nothing to copy (the rules judge its access)"
                return item
            served = serving_rule(ref, self.rules())
            if served is not None:
                return self._plan_prime(item, ref, *served)
            return self._plan_copy(item, ref)
        except (RegistryError, CopyError) as exc:
            item.action, item.outcome, item.reason = "fail", "failed", str(exc)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            item.action, item.outcome, item.reason = "fail", "failed", _aws_error(exc)
        return item

    def _plan_prime(self, item: CopyItem, ref: ImageReference, rule: PtcRule, repository: str) -> CopyItem:
        item.repository, item.ptc_prefix = repository, rule.ecr_repository_prefix
        item.upstream_registry_url = rule.upstream_registry_url
        item.destination = _destination(self.account, self.region, repository, ref)
        digest = self.ecr_digest(repository, ref)
        if digest is not None:
            item.digest = digest
            item.reason = f"already in the cache repository {repository} (cache rule {rule.ecr_repository_prefix})"
            self._plan_policy(item, repository)
            return item
        item.action = "prime"
        item.reason = f"served by the cache rule {rule.ecr_repository_prefix} ({rule.upstream_registry_url})"
        item.writes = ["BatchGetImage (the cache creates the repository and imports the image)"]
        return item

    def _plan_copy(self, item: CopyItem, ref: ImageReference) -> CopyItem:
        namespace = namespace_for(ref.registry, self.settings.namespaces)
        repository = f"{namespace}/{ref.repository}"
        item.repository = repository
        item.destination = _destination(self.account, self.region, repository, ref)
        upstream = self.registry(ref.pull_host).manifest(ref.repository, _reference(ref))
        item.digest = upstream.digest
        item.platforms = self._platforms(ref, upstream)
        if manifests.has_linux_amd64(item.platforms) is False:
            raise CopyError(
                f"{ref.normalized} offers only {', '.join(item.platforms)}: HealthOmics runs linux/amd64 images "
                "only, so copying it would not help (build or find an amd64 image)"
            )
        existing = self.ecr_digest(repository, ref)
        if existing == upstream.digest:
            item.reason = f"already in {repository} with the same digest"
            self._plan_policy(item, repository)
            return item
        item.action = "copy"
        item.reason = (
            "no cache rule serves "
            + ref.registry
            + (f" (the tag now points at another digest in {repository})" if existing else "")
        )
        if not self.repository_exists(repository):
            item.writes.append(f"CreateRepository {repository}")
            item.writes.append("SetRepositoryPolicy (a new policy holding only the omics pull statement)")
        else:
            self._plan_policy(item, repository)
        item.writes.append(f"copy {upstream.digest} ({len(item.platforms) or 1} platform(s)) through the layer upload")
        return item

    def _platforms(self, ref: ImageReference, upstream: Manifest) -> list[str]:
        info = manifests.parse_manifest(upstream.data, upstream.media_type)
        if info.kind == "index":
            return list(info.platforms)
        if info.kind == "manifest" and info.config_digest:
            config = b"".join(self.registry(ref.pull_host).blob_chunks(ref.repository, info.config_digest))
            return [manifests.config_facts(config).platform]
        if info.kind == "schema1":
            raise CopyError(f"{ref.normalized} is a Docker schema 1 image, which ECR no longer accepts on push")
        raise CopyError(f"{ref.normalized} is not a container image ({upstream.media_type})")

    def _plan_policy(self, item: CopyItem, repository: str) -> None:
        """Plan the omics pull statement into an existing repository's policy when it does not grant it."""
        text = repository_policy(self.ecr, repository)
        if text is not None and _grants_omics(text, self.account, self.region, repository):
            return
        item.writes.append("SetRepositoryPolicy (merge the omics pull statement; other statements kept)")

    # -- apply -------------------------------------------------------------------------------------------------

    def apply(self, report: CopyReport, *, max_changes: int | None, backup_to: str) -> CopyReport:
        """Write what ``report`` plans (re-planned by the caller just before); refuses above ``max_changes``."""
        if max_changes is not None and report.write_count > max_changes:
            raise CopyError(
                f"the plan makes {report.write_count} writes, more than --max-changes {max_changes}: "
                "nothing was written"
            )
        report.applied = True
        policy_targets: list[str] = []
        for item in report.items:
            if item.action not in ("prime", "copy") and not item.writes:
                item.outcome = "unchanged"
                continue
            try:
                if item.action == "prime":
                    self._prime(item)
                elif item.action == "copy":
                    self._copy(item)
                if item.repository and any(w.startswith("SetRepositoryPolicy") for w in item.writes):
                    policy_targets.append(item.repository)
                item.outcome = "done" if item.action in ("prime", "copy") else "unchanged"
            except (RegistryError, CopyError) as exc:
                item.outcome, item.reason = "failed", str(exc)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                item.outcome, item.reason = "failed", _aws_error(exc)
        if policy_targets:
            try:
                report.backup = self._merge_policies(sorted(set(policy_targets)), backup_to)
            except (CopyError, FixRefused, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                why = str(exc) if isinstance(exc, (CopyError, FixRefused)) else _aws_error(exc)
                for item in report.items:
                    if item.repository in policy_targets:
                        item.outcome, item.reason = "failed", f"the omics pull statement was not merged: {why}"
        report.registry_map = registry_map(report)
        report.api_calls = self.counter.snapshot()
        return report

    def _prime(self, item: CopyItem) -> None:
        assert item.repository and item.normalized
        ref = parse_reference(item.normalized)
        # by the tag when there is one, even with a digest: a first pull by digest may not fill the cache
        # (docs/copy.md); the digest is then checked below
        image_id = {"imageTag": ref.tag} if ref.tag else {"imageDigest": ref.digest or ""}
        got = self.ecr.batch_get_image(
            repositoryName=item.repository, imageIds=[image_id], acceptedMediaTypes=list(manifests.ACCEPTED_MEDIA_TYPES)
        )
        for failure in got.get("failures", []):
            raise CopyError(
                f"the cache could not import {ref.normalized}: {failure.get('failureCode')} "
                f"{str(failure.get('failureReason', ''))[:200]}"
            )
        self._repositories[item.repository] = True
        digest = self.ecr_digest(item.repository, ref)
        if digest is None:
            raise CopyError(f"{ref.normalized} is still not in {item.repository} after the cache pull")
        item.digest = digest
        text = repository_policy(self.ecr, item.repository)
        if text is None or not _grants_omics(text, self.account, self.region, item.repository):
            item.writes.append("SetRepositoryPolicy (merge the omics pull statement; the template gave none)")

    def _copy(self, item: CopyItem) -> None:
        assert item.repository and item.normalized and item.digest
        ref = parse_reference(item.normalized)
        if not self.repository_exists(item.repository):
            self.ecr.create_repository(repositoryName=item.repository, imageScanningConfiguration={"scanOnPush": True})
            self._repositories[item.repository] = True
        client = self.registry(ref.pull_host)
        upstream = client.manifest(ref.repository, item.digest)
        self._push_manifest(item, client, ref.repository, upstream, tag=None if ref.digest else ref.tag or "latest")
        pushed = self.ecr_digest(item.repository, ref)
        if pushed != upstream.digest:
            raise CopyError(f"ECR holds {pushed} for {ref.normalized}, not the upstream digest {upstream.digest}")

    def _push_manifest(
        self, item: CopyItem, client: RegistryClient, upstream_repo: str, manifest: Manifest, tag: str | None
    ) -> None:
        doc = json.loads(manifest.data)
        children = [m["digest"] for m in doc.get("manifests", []) if isinstance(m, dict) and m.get("digest")]
        for child in children:  # every entry, attestations included: PutImage refuses an index with one missing
            self._push_manifest(item, client, upstream_repo, client.manifest(upstream_repo, child), tag=None)
        blobs = [] if children else _blobs_of(doc)
        self._upload_missing(item, client, upstream_repo, blobs)
        params: dict[str, Any] = {
            "repositoryName": item.repository,
            "imageManifest": manifest.data.decode("utf-8"),
            "imageManifestMediaType": manifest.media_type,
            "imageDigest": manifest.digest,
        }
        if tag is not None:
            params["imageTag"] = tag
        try:
            self.ecr.put_image(**params)
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] != "ImageAlreadyExistsException":
                raise

    def _upload_missing(
        self, item: CopyItem, client: RegistryClient, upstream_repo: str, blobs: list[tuple[str, int | None]]
    ) -> None:
        sizes = dict(blobs)
        digests = list(sizes)
        missing: list[str] = []
        for start in range(0, len(digests), _BATCH_CHECK_LIMIT):
            chunk = digests[start : start + _BATCH_CHECK_LIMIT]
            got = self.ecr.batch_check_layer_availability(repositoryName=item.repository, layerDigests=chunk)
            available = {
                layer["layerDigest"] for layer in got.get("layers", []) if layer.get("layerAvailability") == "AVAILABLE"
            }
            missing.extend(d for d in chunk if d not in available)
        item.blobs_skipped += len(digests) - len(missing)
        for digest in missing:
            upload = self.ecr.initiate_layer_upload(repositoryName=item.repository)
            part_size = int(upload.get("partSize") or DEFAULT_PART_SIZE)
            position = 0
            # the declared size bounds the download: a registry sending more is refused before ECR gets it
            chunks = client.blob_chunks(upstream_repo, digest, expected_size=sizes[digest])
            for part in _parts(chunks, part_size):
                self.ecr.upload_layer_part(
                    repositoryName=item.repository,
                    uploadId=upload["uploadId"],
                    partFirstByte=position,
                    partLastByte=position + len(part) - 1,
                    layerPartBlob=part,
                )
                position += len(part)
            try:
                self.ecr.complete_layer_upload(
                    repositoryName=item.repository, uploadId=upload["uploadId"], layerDigests=[digest]
                )
            except botocore.exceptions.ClientError as exc:
                if exc.response["Error"]["Code"] != "LayerAlreadyExistsException":  # another copy won the race
                    raise
            item.blobs_copied += 1
            item.bytes_copied += position

    def _merge_policies(self, repositories: list[str], backup_to: str) -> str | None:
        """The omics pull statement into each repository's policy, through the fix engine (backup, stale check)."""
        account = self.account
        plan = Plan(id=f"copy-{datetime.now(UTC):%Y%m%dT%H%M%S}", created=datetime.now(UTC), source="copy")
        for name in repositories:
            before = repository_policy(self.ecr, name)
            try:
                doc = parse_document(before, f"repository {name}'s policy")
                text = render(merge_statement(doc, pull_statement(account)), ECR_POLICY_LIMIT, "repository policy")
            except PolicyMergeError as exc:
                raise CopyError(f"repository {name}: {exc}") from None
            if before is not None and _grants_omics(before, account, self.region, name):
                continue
            target = Target(
                kind=REPOSITORY_POLICY.name, account=account, region=self.region, key={"repositoryName": name}
            )
            plan.changes.append(
                make_change(
                    rule_id="copy",
                    findings=[],
                    target=target,
                    summary=f"Repository {name}: merge the omics pull statement into its policy",
                    api_calls=[
                        ApiCall(
                            service="ecr",
                            operation="SetRepositoryPolicy",
                            params={"repositoryName": name, "policyText": text},
                        )
                    ],
                    before=before,
                    after=text,
                    permissions=REPOSITORY_POLICY.permissions,
                )
            )
        if not plan.changes:
            return None
        applied = apply_plan(plan, self.clients, backup_to=backup_to)
        if applied.error is not None:
            raise CopyError(f"merging the omics pull statement stopped: {applied.error}")
        return applied.backup


def _blobs_of(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(digest, declared size) of an image manifest's config and layers; foreign (non-distributable) layers,
    which carry ``urls``, are not pushed."""
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str) or not isinstance(layers, list):
        raise CopyError("the upstream manifest has no config or layers")
    out: dict[str, int | None] = {}
    for descriptor in [config, *layers]:
        if isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str) and not descriptor.get("urls"):
            size = descriptor.get("size")
            ok = isinstance(size, int) and not isinstance(size, bool) and size >= 0
            out.setdefault(descriptor["digest"], size if ok else None)
    return list(out.items())


def _parts(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Re-cut a byte stream into parts of ``size`` (the last may be shorter); at least one part."""
    buffer = bytearray()
    sent = False
    for chunk in chunks:
        buffer.extend(chunk)
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
            sent = True
    if buffer or not sent:
        yield bytes(buffer)


def _grants_omics(text: str, account: str, region: str, repository: str) -> bool:
    snap = Snapshot(account_id=account, region=region, collected_at=datetime.now(UTC))
    arn = snap.repository_arn(repository)
    return resource_policy_grants_omics(text, snap, OMICS_PULL_ACTIONS, arn).status == Status.PASS


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{exc.operation_name}: {err.get('Code', '')} {str(err.get('Message', ''))[:200]}".strip()
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def registry_map(report: CopyReport) -> dict[str, Any]:
    """The container registry map for the workflow: the cache rules used and an image mapping per copy."""
    prefixes: dict[str, RegistryMapping] = {}
    images: list[ImageMapping] = []
    for item in report.items:
        if item.action == "fail" or item.outcome == "failed" or not item.destination:
            continue
        if item.ptc_prefix and item.upstream_registry_url:
            # the rule's exact upstreamRegistryUrl and prefix, as `map generate` writes them (docs/gate.md)
            prefixes.setdefault(
                item.ptc_prefix,
                RegistryMapping(
                    upstream_registry_url=item.upstream_registry_url,
                    ecr_repository_prefix=item.ptc_prefix.rstrip("/"),
                ),
            )
        elif item.repository and item.normalized:
            images.append(ImageMapping(source_image=item.normalized, destination_image=item.destination))
    crm = ContainerRegistryMap(registry_mappings=list(prefixes.values()), image_mappings=images)
    return regmap.to_api(crm)


# --- inputs -------------------------------------------------------------------------------------------------


# The ECR helper's manifest (seed 003) also takes its own namespaces as a shorthand for the registry:
# "quay/biocontainers/bwa-mem2:2.2.1" means quay.io/biocontainers/bwa-mem2. Only in a manifest file, never
# for IMAGE arguments or workflows, where Docker's rule stands (that would be Docker Hub's "quay" account).
HELPER_SHORTHAND: dict[str, str] = {
    "quay": "quay.io",
    "ecr-public": "public.ecr.aws",
    "dockerhub": "docker.io",
    "ghcr": "ghcr.io",
    "gcr": "gcr.io",
    "mcr": "mcr.microsoft.com",
}


def expand_helper_shorthand(raw: str) -> str:
    """``quay/x/y:t`` -> ``quay.io/x/y:t`` (seed 003's manifest convention); anything else unchanged."""
    first, _, rest = raw.partition("/")
    if rest and first in HELPER_SHORTHAND:
        return f"{HELPER_SHORTHAND[first]}/{rest}"
    return raw


def references_from_manifest(path: str | Path) -> list[str]:
    """Seed 003's ``container_image_manifest.json`` (``{"manifest": [uri, ...]}``) or a JSON list of URIs.

    Entries written with the ECR helper's namespace shorthand (``quay/...``, ``ecr-public/...``) are read as
    the helper reads them (:data:`HELPER_SHORTHAND`).
    """
    from auditor.files import load_data

    try:
        data = load_data(path, "image manifest")
    except InputError as exc:
        raise CopyError(str(exc)) from None
    items = data.get("manifest") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CopyError(f'{path}: expected {{"manifest": ["image", ...]}} or a JSON list of image references')
    if len(items) > MAX_REFERENCES:
        raise CopyError(f"{path}: {len(items)} images; at most {MAX_REFERENCES} per run")
    return [expand_helper_shorthand(i) for i in items]


def references_from_workflow(path: str | Path) -> list[str]:
    """Every container a workflow folder or zip names (the gate's extractors); unresolved ones are refused."""
    found: list[str] = []
    problems: list[str] = []
    try:
        found, problems = _workflow_images(Path(path))
    except InputError as exc:
        raise CopyError(str(exc)) from None
    if problems and not found:
        raise CopyError("no image could be read from the workflow: " + "; ".join(problems[:5]))
    if len(found) > MAX_REFERENCES:
        raise CopyError(f"{path}: {len(found)} images; at most {MAX_REFERENCES} per run")
    return found


def _workflow_images(path: Path) -> tuple[list[str], list[str]]:
    from auditor.gate.gate import extract, workflow_folder

    found: list[str] = []
    problems: list[str] = []
    with workflow_folder(path) as root:
        for extraction in extract(root):
            problems.extend(f"{e.file}:{e.line or '?'}: {e.message}" for e in extraction.errors)
            for c in extraction.containers:
                if c.raw is None:
                    problems.append(f"{c.file}:{c.line}: {c.expression} could not be resolved ({c.unresolved})")
                else:
                    parsed = try_parse_reference(c.raw, default_registry=c.default_registry)
                    found.append(parsed.normalized if isinstance(parsed, ImageReference) else c.raw)
    return found, problems


# --- output -------------------------------------------------------------------------------------------------

_VERB = {"prime": "PRIME", "copy": "COPY ", "skip": "SKIP ", "fail": "FAIL "}


def render_report(report: CopyReport, map_path: Path | None = None) -> str:
    """The plan (or what was done) for a terminal: one line per image, its writes, the map to use."""
    from auditor.terminal import printable

    title = "Copied into ECR" if report.applied else "Plan (nothing written; --apply to make these changes)"
    lines = [f"{title}: account {report.account}, {report.region}"]
    for item in report.items:
        state = "" if item.outcome == "planned" else f" [{item.outcome}]"
        target = f" -> {item.destination}" if item.destination else ""
        lines.append(f"  {_VERB[item.action]} {printable(item.source)}{target}{state}")
        lines.append(f"         {printable(item.reason)}")
        for write in item.writes:
            lines.append(f"         - {printable(write)}")
        if item.blobs_copied or item.blobs_skipped:
            lines.append(
                f"         {item.blobs_copied} blob(s) uploaded ({item.bytes_copied} bytes), "
                f"{item.blobs_skipped} already there"
            )
    counts = ", ".join(f"{report.count(a)} {a}" for a in ("prime", "copy", "skip", "fail"))
    lines.append(f"{counts}; {report.write_count} write(s)")
    if report.backup:
        lines.append(f"Replaced repository policies saved in {printable(report.backup)}")
    if report.registry_map.get("registryMappings") or report.registry_map.get("imageMappings"):
        where = f" (written to {printable(str(map_path))})" if map_path else ""
        lines.append(f"Container registry map for the workflow{where}:")
        lines.append(json.dumps(report.registry_map, indent=2))
    return "\n".join(lines)
