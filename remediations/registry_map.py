"""Fix ``registry-map-consistent``: write a corrected container registry map for the workflow.

HealthOmics cannot edit an existing workflow's (or version's) registry map, so
this fixer makes no API call: it writes ``registry-maps/<workflow id>.json``
beside the plan, shows the diff, and gives the ``create-workflow-version``
command that publishes it. Registry mappings are aligned with the account's
cache rules (including rules this plan creates); what no map can fix (a missing
credential secret, a missing destination image) is listed for a person.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.rules.ptc_rule_coverage import rules_for_upstream

from auditor import upstreams
from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.gate.regmap import to_api
from auditor.models import ContainerRegistryMap, PtcRule, RegistryMapping, Snapshot
from auditor.policy_merge import unified_diff
from auditor.refs import ImageReference, try_parse_reference
from auditor.terminal import command_line

RULE_ID = "registry-map-consistent"


def _rule_for(m: RegistryMapping, rules: list[PtcRule]) -> PtcRule | None:
    """The rule a mapping should name: the one with its prefix if that caches its upstream, else the first that does."""
    same = rules_for_upstream(m.upstream_registry_url, rules)
    exact = [r for r in same if r.ecr_repository_prefix.rstrip("/") == m.ecr_repository_prefix.rstrip("/")]
    candidates = exact or same
    return candidates[0] if candidates else None


def corrected_map(snap: Snapshot, crm: ContainerRegistryMap) -> tuple[ContainerRegistryMap, list[str]]:
    """The map with every cacheable registry mapping pointed at its rule, and what is left for a person."""
    rules = snap.ptc_rules.value or []
    left: list[str] = []
    fixed: list[RegistryMapping] = []
    for m in crm.registry_mappings:
        up = upstreams.upstream_for_ptc_url(m.upstream_registry_url) or upstreams.upstream_for_registry(
            m.upstream_registry_url
        )
        if up is not None and up.omics_copy_supported:
            if not m.credential_arn:
                left.append(
                    f"{m.upstream_registry_url}: add a credentialArn (a secret HealthOmics uses to copy images)"
                )
            else:
                secret = snap.secrets.get(m.credential_arn)
                if secret is not None and secret.value is not None and not secret.value.exists:
                    left.append(f"{m.upstream_registry_url}: create secret {m.credential_arn} or point at another")
            fixed.append(m)
            continue
        if (m.ecr_account_id and m.ecr_account_id != snap.account_id) or up is None or not up.healthomics_ptc_supported:
            if up is None or not up.healthomics_ptc_supported:
                left.append(f"{m.upstream_registry_url}: ECR cannot cache it for HealthOmics; stage its images instead")
            fixed.append(m)
            continue
        rule = _rule_for(m, rules)
        if rule is None:
            left.append(f"{m.upstream_registry_url}: no pull-through cache rule yet (see ptc-rule-coverage)")
            fixed.append(m)
            continue
        upstream_prefix = (
            rule.upstream_repository_prefix if rule.upstream_repository_prefix not in (None, "ROOT") else None
        )
        fixed.append(
            m.model_copy(
                update={
                    "upstream_registry_url": rule.upstream_registry_url,
                    "ecr_repository_prefix": rule.ecr_repository_prefix.rstrip("/"),
                    "upstream_repository_prefix": upstream_prefix,
                }
            )
        )
    existing = {r.name for r in snap.repositories.value or []}
    host = snap.registry_host()
    for im in crm.image_mappings:
        dest = try_parse_reference(im.destination_image or "")
        if isinstance(dest, ImageReference) and dest.registry == host and dest.repository not in existing:
            left.append(f"image mapping {im.source_image}: destination repository {dest.repository} does not exist")
    return crm.model_copy(update={"registry_mappings": fixed}), left


def missing_destination_sources(snap: Snapshot, crm: ContainerRegistryMap) -> list[str]:
    """The source images of image mappings whose same-account destination repository or image is missing."""
    existing = {r.name for r in snap.repositories.value or []}
    host = snap.registry_host()
    out: list[str] = []
    for im in crm.image_mappings:
        dest = try_parse_reference(im.destination_image or "")
        source = try_parse_reference(im.source_image or "")
        if not isinstance(dest, ImageReference) or not isinstance(source, ImageReference) or dest.registry != host:
            continue
        key = f"{dest.repository}@{dest.digest}" if dest.digest else f"{dest.repository}:{dest.tag}"
        image = snap.images.get(key)
        gone = image is not None and image.value is not None and not image.value.exists
        if dest.repository not in existing or gone:
            out.append(source.normalized)
    return list(dict.fromkeys(out))


# No AWS permissions: the fixer writes a local file; publishing it (omics:CreateWorkflowVersion) is a person's release.
@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    snap = ctx.snap
    workflows = {wf.arn: wf for wf in snap.workflows.value or []}
    for f in findings:
        wf = workflows.get(f.resource)
        crm = wf.registry_map.value if wf else None
        if wf is None or crm is None:
            continue
        fixed, left = corrected_map(snap, crm)
        before, after = to_api(crm), to_api(fixed)
        artifact = None
        if ctx.out_dir is not None and after != before:
            path = ctx.out_dir / "registry-maps" / f"{wf.id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(after, indent=2) + "\n", encoding="utf-8")
            artifact = str(path)
        r = ("--region", snap.region)
        map_file = artifact or f"registry-maps/{wf.id}.json"
        publish = (
            [
                command_line(
                    ["aws", "omics", "get-workflow", "--id", wf.id, "--export", "DEFINITION", *r],
                    comment="the definition, to publish again",
                ),
                command_line(
                    [
                        *("aws", "omics", "create-workflow-version", "--workflow-id", wf.id),
                        *("--version-name", "<new version>", "--definition-uri", "<s3 URI of the definition>"),
                        *("--request-id", "<unique id>", "--container-registry-map", f"file://{map_file}", *r),
                    ]
                ),
            ]
            if after != before
            else []
        )
        copies = [
            command_line(
                ["omics-ecr-audit", "copy", source, *r],
                comment="its mapped destination is missing: prime or copy it into ECR (plan; --apply writes it)",
            )
            for source in missing_destination_sources(snap, crm)
        ]
        yield ManualStep(
            rule_id=RULE_ID,
            finding_ids=[f.id],
            account=snap.account_id,
            region=snap.region,
            resource=f.resource,
            title=f"Publish a corrected registry map for workflow {wf.name or wf.id}",
            why="HealthOmics cannot change an existing workflow's registry map; publish the corrected map as a new "
            "workflow version." + (" Still needs a person: " + "; ".join(left) if left else ""),
            commands=publish + copies,
            artifact=artifact,
            before=before,
            after=after,
            diff=unified_diff(before, after, f"registry map of {wf.id}"),
        )
