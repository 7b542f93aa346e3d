"""Each workflow's container registry map agrees with the account's PTC rules and points at real images."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor import upstreams
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.grants import identity_grants
from auditor.models import ImageMapping, PtcRule, RegistryMapping, Snapshot, Workflow
from auditor.refs import InvalidReference, parse_reference

RULE_ID = "registry-map-consistent"


class _Judgement:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.undecided: list[str] = []
        self.notes: list[str] = []


def _workflow_roles(snap: Snapshot, wf: Workflow) -> list[str]:
    return sorted({r.role_arn for r in snap.runs.value or [] if r.workflow_id == wf.id and r.role_arn})


def _check_copy_mapping(snap: Snapshot, wf: Workflow, m: RegistryMapping, j: _Judgement) -> None:
    """Registries HealthOmics copies from itself need a credentialArn the workflow's role can read."""
    if not m.credential_arn:
        j.problems.append(
            f"{m.upstream_registry_url} is not a pull-through cache upstream; HealthOmics copies from it "
            "only through a registry mapping with a credentialArn"
        )
        return
    secret = snap.secrets.get(m.credential_arn)
    if secret is None or secret.error is not None:
        j.undecided.append(
            f"secret {m.credential_arn} could not be read"
            + (f" ({secret.error.describe()})" if secret and secret.error else "")
        )
        return
    if secret.value is None or not secret.value.exists:
        j.problems.append(f"credential secret {m.credential_arn} for {m.upstream_registry_url} does not exist")
        return
    if secret.value.deleted_date is not None:
        j.problems.append(f"credential secret {secret.value.name} is scheduled for deletion")
    roles = _workflow_roles(snap, wf)
    if snap.runs.error is not None:
        j.undecided.append(
            f"runs could not be read, so the roles that need {secret.value.name} are unknown "
            f"({snap.runs.error.describe()})"
        )
    elif not roles:
        j.notes.append(
            f"no recent run of this workflow, so no role to check for secretsmanager:GetSecretValue on "
            f"{secret.value.name}"
        )
    for role_arn in roles:
        collected = snap.roles.get(role_arn)
        if collected is None or collected.value is None:
            j.undecided.append(f"role {role_arn} could not be read to check access to the secret")
            continue
        role = collected.value
        verdict = identity_grants(
            list(role.inline_policies.values()) + list(role.attached_policies.values()),
            ["secretsmanager:GetSecretValue"],
            m.credential_arn,
            boundary=role.permissions_boundary,
            principal_arn=role.arn,
            account=snap.account_id,
        )
        if verdict.status == Status.FAIL:
            j.problems.append(
                f"run role {role.name} may not read secret {secret.value.name} (secretsmanager:GetSecretValue)"
            )
        elif verdict.status == Status.ERROR:
            j.undecided.append(f"cannot decide whether role {role.name} may read {secret.value.name}")


def _check_registry_mapping(
    snap: Snapshot, wf: Workflow, m: RegistryMapping, rules: list[PtcRule], j: _Judgement
) -> None:
    up = upstreams.upstream_for_ptc_url(m.upstream_registry_url) or upstreams.upstream_for_registry(
        m.upstream_registry_url
    )
    if up is not None and up.omics_copy_supported:
        _check_copy_mapping(snap, wf, m, j)
        return
    if up is None or not up.healthomics_ptc_supported:
        j.problems.append(f"{m.upstream_registry_url} is a registry ECR cannot cache for HealthOmics")
        return
    if m.ecr_account_id and m.ecr_account_id != snap.account_id:
        j.notes.append(
            f"mapping for {m.upstream_registry_url} uses account {m.ecr_account_id}'s registry; "
            "it is checked when that account is scanned"
        )
        return
    rule_ = next((r for r in rules if r.ecr_repository_prefix.rstrip("/") == m.ecr_repository_prefix.rstrip("/")), None)
    if rule_ is None:
        j.problems.append(
            f"maps {m.upstream_registry_url} to prefix {m.ecr_repository_prefix!r}, but no pull-through "
            f"cache rule has that prefix (rules: {sorted(r.ecr_repository_prefix for r in rules)})"
        )
        return
    if rule_.upstream_registry_url != m.upstream_registry_url:
        j.problems.append(
            f"maps {m.upstream_registry_url} to prefix {m.ecr_repository_prefix!r}, whose rule caches "
            f"{rule_.upstream_registry_url} instead"
        )
    if (m.upstream_repository_prefix or "ROOT") != (rule_.upstream_repository_prefix or "ROOT"):
        j.problems.append(
            f"upstreamRepositoryPrefix {m.upstream_repository_prefix!r} differs from the rule's "
            f"{rule_.upstream_repository_prefix!r}"
        )


def _check_image_mapping(snap: Snapshot, m: ImageMapping, j: _Judgement) -> None:
    try:
        parse_reference(m.source_image or "")
    except InvalidReference as exc:
        j.problems.append(f"image mapping source {m.source_image!r} is not a valid reference: {exc}")
    try:
        dest = parse_reference(m.destination_image or "")
    except InvalidReference as exc:
        j.problems.append(f"image mapping destination {m.destination_image!r} is not a valid reference: {exc}")
        return
    ecr = dest.ecr
    if ecr is None:
        j.problems.append(f"destination {m.destination_image} is not a private ECR image")
        return
    if ecr.region != snap.region:
        j.problems.append(
            f"destination {m.destination_image} is in {ecr.region}, not the workflow's region {snap.region}"
        )
        return
    if ecr.account != snap.account_id:
        j.notes.append(f"destination {m.destination_image} is in account {ecr.account}; checked when it is scanned")
        return
    existing = {r.name for r in snap.repositories.value or []}
    if dest.repository not in existing:
        prefix = upstreams.longest_prefix(snap.ptc_prefixes(), dest.repository)
        if prefix is None:
            j.problems.append(f"destination repository {dest.repository} does not exist")
        else:
            # ECR creates a cache repository (from its template) on the first pull (seed 000's combined map).
            j.notes.append(
                f"destination repository {dest.repository} is not cached yet; the cache rule {prefix!r} creates "
                "it on the first pull"
            )
        return
    key = f"{dest.repository}@{dest.digest}" if dest.digest else f"{dest.repository}:{dest.tag}"
    image = snap.images.get(key)
    if image is None:
        j.undecided.append(f"destination image {key} was not inspected")
    elif image.error is not None:
        j.undecided.append(f"destination image {key} could not be read: {image.error.describe()}")
    elif image.value is not None and not image.value.exists:
        j.problems.append(f"destination image {key} does not exist")


@rule(
    id=RULE_ID,
    title="Workflow container registry maps agree with the PTC rules and point at existing same-region images",
    severity=Severity.HIGH,
    rationale=(
        "HealthOmics rewrites image references with the workflow's container registry map: image mappings first, "
        "then registry mappings. A registry mapping whose prefix or upstream differs from the pull-through cache "
        "rule, an image mapping whose destination is missing or in another region, or a mapping for a registry "
        "HealthOmics copies itself (Seqera Wave, nvcr.io, gcr.io, Artifact Registry) without a readable "
        "credentialArn makes the task fail to start."
    ),
    remediation=(
        "Correct the map (registry mappings must use the PTC rule's exact upstreamRegistryUrl and "
        "ecrRepositoryPrefix; image-mapping destinations must exist in this region) and publish it as a new "
        "workflow version: `aws omics create-workflow-version --workflow-id <id> --version-name <v> "
        "--container-registry-map-uri s3://.../map.json ...` (an existing version's map cannot be edited)."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://docs.aws.amazon.com/omics/latest/dev/containers-workflow-creation.html",
        "https://docs.aws.amazon.com/omics/latest/dev/containers-non-ptc-registries.html",
    ],
    facets=["workflows", "ptc_rules", "repositories", "images", "secrets", "runs", "roles"],
    # `fix` writes a corrected map, but only a new workflow version (a person's release) can carry it.
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors(
        "workflows", workflows=snap.workflows, ptc_rules=snap.ptc_rules, repositories=snap.repositories
    )
    if errors:
        yield from errors
        return
    rules = snap.ptc_rules.value or []
    for wf in snap.workflows.value or []:
        if wf.registry_map.error is not None:
            yield error_result(wf.registry_map.error, wf.arn, "the workflow's container registry map")
            continue
        crm = wf.registry_map.value
        if crm is None or not (crm.registry_mappings or crm.image_mappings):
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=wf.arn,
                evidence={"workflow": wf.id},
                message=f"Workflow {wf.name or wf.id} has no container registry map.",
            )
            continue
        j = _Judgement()
        for m in crm.registry_mappings:
            _check_registry_mapping(snap, wf, m, rules, j)
        for im in crm.image_mappings:
            _check_image_mapping(snap, im, j)
        evidence: dict[str, Any] = {
            "workflow": wf.id,
            "name": wf.name,
            "container_registry_map": crm.model_dump(mode="json", exclude_none=True),
        }
        if j.notes:
            evidence["notes"] = j.notes
        if j.problems:
            evidence["problems"] = j.problems
            yield Result(
                status=Status.FAIL,
                resource=wf.arn,
                evidence=evidence,
                message=f"Workflow {wf.name or wf.id}'s registry map is broken: " + "; ".join(j.problems),
            )
        elif j.undecided:
            evidence["undecided"] = j.undecided
            yield Result(
                status=Status.ERROR,
                resource=wf.arn,
                evidence=evidence,
                message=f"Cannot fully check workflow {wf.name or wf.id}'s registry map: " + "; ".join(j.undecided),
            )
        else:
            yield Result(
                status=Status.PASS,
                resource=wf.arn,
                evidence=evidence,
                message=f"Workflow {wf.name or wf.id}'s registry map agrees with the PTC rules.",
            )
