"""Container registry map files: load and validate against botocore's shape, check against PTC rules, generate.

The shape check is botocore's own ``ParamValidator`` over ``omics``'
``ContainerRegistryMap`` (required members, types, lengths, unknown keys), plus
the patterns botocore does not enforce (account id, secret ARN). Agreement with
the account is judged by the ``registry-map-consistent`` rule itself, run on a
snapshot holding the map as a pseudo-workflow, so ``map validate`` and ``scan``
can never disagree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from auditor import upstreams
from auditor.engine import RuleContext, run_rule
from auditor.errors import MapError
from auditor.files import load_data
from auditor.findings import Finding
from auditor.models import Collected, ContainerRegistryMap, ImageMapping, RegistryMapping, Snapshot, Workflow
from auditor.refs import InvalidReference, parse_reference

_ACCOUNT = re.compile(r"^[0-9]{12}$")
_SECRET_ARN = re.compile(r"^arn:aws(-\w+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+$")


def _shape() -> Any:
    return botocore.session.get_session().get_service_model("omics").shape_for("ContainerRegistryMap")


def schema_problems(data: Any) -> list[str]:
    """Every way ``data`` is not a ContainerRegistryMap the HealthOmics API would accept."""
    if not isinstance(data, dict):
        return ["the map must be a JSON object with registryMappings and/or imageMappings"]
    report = ParamValidator().validate(data, _shape())
    problems = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    for i, m in enumerate(data.get("registryMappings") or []):
        if not isinstance(m, dict):
            continue
        if "ecrAccountId" in m and not _ACCOUNT.match(str(m["ecrAccountId"])):
            problems.append(f"registryMappings[{i}].ecrAccountId must be 12 digits")
        if "credentialArn" in m and not _SECRET_ARN.match(str(m["credentialArn"])):
            problems.append(f"registryMappings[{i}].credentialArn is not a Secrets Manager secret ARN")
        prefix = m.get("upstreamRepositoryPrefix")
        if prefix and (problem := upstreams.ptc_prefix_problem(prefix)):
            problems.append(f"registryMappings[{i}].upstreamRepositoryPrefix: {problem}")
    for i, m in enumerate(data.get("imageMappings") or []):
        if not isinstance(m, dict):
            continue
        for key in ("sourceImage", "destinationImage"):
            if key in m and isinstance(m[key], str):
                try:
                    parse_reference(m[key])
                except InvalidReference as exc:
                    problems.append(f"imageMappings[{i}].{key}: {exc.reason}")
    return problems


def from_api(data: dict[str, Any]) -> ContainerRegistryMap:
    return ContainerRegistryMap(
        registry_mappings=[
            RegistryMapping(
                upstream_registry_url=m["upstreamRegistryUrl"],
                ecr_repository_prefix=m["ecrRepositoryPrefix"],
                upstream_repository_prefix=m.get("upstreamRepositoryPrefix"),
                ecr_account_id=m.get("ecrAccountId"),
                credential_arn=m.get("credentialArn"),
            )
            for m in data.get("registryMappings") or []
        ],
        image_mappings=[
            ImageMapping(source_image=m.get("sourceImage"), destination_image=m.get("destinationImage"))
            for m in data.get("imageMappings") or []
        ],
    )


def to_api(crm: ContainerRegistryMap) -> dict[str, Any]:
    """The map in the API's (and the CLI's) member names, empty members left out."""
    return {
        "registryMappings": [
            {
                k: v
                for k, v in {
                    "upstreamRegistryUrl": m.upstream_registry_url,
                    "ecrRepositoryPrefix": m.ecr_repository_prefix,
                    "upstreamRepositoryPrefix": m.upstream_repository_prefix,
                    "ecrAccountId": m.ecr_account_id,
                    "credentialArn": m.credential_arn,
                }.items()
                if v
            }
            for m in crm.registry_mappings
        ],
        "imageMappings": [
            {"sourceImage": m.source_image, "destinationImage": m.destination_image} for m in crm.image_mappings
        ],
    }


def load_map(path: str | Path) -> ContainerRegistryMap:
    p = Path(path)
    data = load_data(p, "registry map", error=MapError, yaml_ok=False)
    problems = schema_problems(data)
    if problems:
        raise MapError(f"{p}: not a valid container registry map:\n  " + "\n  ".join(problems))
    return from_api(data)


def check_against(crm: ContainerRegistryMap, snap: Snapshot, ctx: RuleContext | None = None) -> list[Finding]:
    """The registry-map rule's verdict on this map in this account and region."""
    from auditor.engine import load_builtin_rules
    from auditor.rules import registry_map

    pseudo = Workflow(
        id="map-file",
        arn=f"arn:aws:omics:{snap.region}:{snap.account_id}:workflow/map-file",
        name="map file",
        registry_map=Collected[ContainerRegistryMap | None](value=crm),
    )
    copy = snap.model_copy(update={"workflows": Collected[list[Workflow]](value=[pseudo])})
    rule = load_builtin_rules()[registry_map.RULE_ID]
    return run_rule(rule, copy, ctx or RuleContext())


def generate(references: list[tuple[str, str | None]], snap: Snapshot) -> tuple[ContainerRegistryMap, list[str]]:
    """A map covering ``references`` ((raw, default registry) pairs) from the account's rules and ECR copies.

    Registry mappings come from the PTC rules for the registries in use; a reference whose registry has
    no usable rule gets an image mapping to an existing same-region ECR repository holding a copy (the
    same path, or the same path under any prefix). What neither covers is returned as a note.
    """
    rules = snap.ptc_rules.value or []
    repositories = {r.name for r in snap.repositories.value or []}
    host = snap.registry_host()
    registry: dict[str, RegistryMapping] = {}
    images: dict[str, ImageMapping] = {}
    notes: list[str] = []
    for raw, default_registry in references:
        try:
            ref = parse_reference(raw, default_registry=default_registry)
        except InvalidReference as exc:
            notes.append(f"{raw}: {exc.reason}")
            continue
        if ref.registry == host:
            continue  # already a private ECR image of this account and region
        up = upstreams.upstream_for_registry(ref.pull_host) or upstreams.upstream_for_registry(ref.registry)
        rule = None
        if up is not None and up.healthomics_ptc_supported:
            from auditor.rules.ptc_rule_coverage import rules_for_upstream

            serving = rules_for_upstream(up.ptc_url or ref.pull_host, rules)
            rule = serving[0] if serving else None
        if rule is not None:
            key = rule.upstream_registry_url
            registry.setdefault(
                key,
                RegistryMapping(
                    upstream_registry_url=key, ecr_repository_prefix=rule.ecr_repository_prefix.rstrip("/")
                ),
            )
            continue
        copies = sorted(r for r in repositories if r == ref.repository or r.endswith("/" + ref.repository))
        if copies:
            suffix = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
            images.setdefault(raw, ImageMapping(source_image=raw, destination_image=f"{host}/{copies[0]}{suffix}"))
            continue
        notes.append(f"{raw}: no pull-through cache rule for {ref.registry} and no copy in this account's ECR")
    return (
        ContainerRegistryMap(registry_mappings=list(registry.values()), image_mappings=list(images.values())),
        notes,
    )
