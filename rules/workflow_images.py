"""Every container a registered workflow's definition names resolves to a private ECR image HealthOmics can use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.derive import ImageUse, workflow_uses
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import Snapshot, Workflow

RULE_ID = "workflow-images-resolve"


def _problem(snap: Snapshot, use: ImageUse, existing: set[str]) -> str | None:
    """Why HealthOmics could not pull this definition container, or None when it can (as far as this rule sees)."""
    if use.written is None:
        return None  # decided by the run's parameters: listed, not judged
    if not use.resolved:
        return f"{use.origin}: {use.written} — {use.unresolved}"
    if use.account == snap.account_id and use.ptc_prefix is None and use.repository not in existing:
        # A cache repository is created on the first pull; a repository used directly must exist already.
        return f"{use.origin}: {use.written} — repository {use.repository} does not exist in {snap.region}"
    return None


@rule(
    id=RULE_ID,
    title="Every container a registered workflow names resolves to a private ECR image in the workflow's region",
    severity=Severity.HIGH,
    rationale=(
        "HealthOmics pulls task images only from private ECR repositories in the workflow's region. The scan reads "
        "each private workflow's definition (GetWorkflow --export DEFINITION) with the gate's extractors and "
        "resolves every container through the workflow's container registry map, as HealthOmics does: a reference "
        "that no mapping rewrites to private ECR, an ECR image in another region, or a directly used repository "
        "that does not exist fails the task when the run reaches it. Values that only a run's parameters decide "
        "are listed, not guessed; the images recent runs really pulled are judged by the other rules."
    ),
    remediation=(
        "Add a registry mapping for the upstream (its pull-through cache prefix) or an image mapping to an ECR copy "
        "(`omics-ecr-audit map generate` on the exported definition writes one; stage images no cache can serve in "
        "this account's ECR), then create a new workflow version; use an ECR repository in the workflow's own region."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr-mapping.html",
    ],
    facets=["workflows", "workflow_definitions", "repositories"],
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("omics-workflows", workflows=snap.workflows, repositories=snap.repositories)
    if errors:
        yield from errors
        return
    existing = {r.name for r in snap.repositories.value or []}
    uses: dict[str, list[ImageUse]] = {}
    for use in workflow_uses(snap):
        if use.source == "definition":
            uses.setdefault(use.workflow_id, []).append(use)
    for wf in snap.workflows.value or []:
        if (wf.type or "PRIVATE") != "PRIVATE":
            continue
        yield from _judge(snap, wf, uses.get(wf.id, []), existing)


def _judge(snap: Snapshot, wf: Workflow, uses: list[ImageUse], existing: set[str]) -> Iterable[Result]:
    name = wf.name or wf.id
    if wf.definition.error is not None:
        yield error_result(wf.definition.error, wf.arn, f"the definition of workflow {name}")
        return
    definition = wf.definition.value
    if definition is None:
        return  # not collected (HealthOmics has no endpoint in this region)
    if not definition.languages:
        yield Result(
            status=Status.NOT_APPLICABLE,
            resource=wf.arn,
            evidence={"workflow": wf.id, "unreadable": definition.problems},
            message=f"Workflow {name}'s definition holds no WDL, Nextflow or CWL file the extractors recognise.",
        )
        return
    problems = [p for p in (_problem(snap, u, existing) for u in uses) if p]
    undetermined = [f"{u.origin}: {u.unresolved}" for u in uses if u.written is None]
    determined = [u for u in uses if u.written is not None]
    evidence: dict[str, Any] = {
        "workflow": wf.id,
        "languages": definition.languages,
        "containers": [
            {
                "where": u.origin,
                "written": u.written,
                "pulls": f"{u.account}.dkr.ecr.{u.region}/{u.repository}" if u.resolved else None,
                "via": u.via,
            }
            for u in uses
        ],
    }
    if undetermined:
        evidence["undetermined"] = undetermined
    if definition.problems:
        evidence["unreadable"] = definition.problems
    if problems:
        yield Result(
            status=Status.FAIL,
            resource=wf.arn,
            evidence=evidence,
            message=f"Workflow {name} names {len(problems)} container(s) HealthOmics cannot pull: "
            + "; ".join(problems),
        )
    elif definition.problems:
        yield Result(
            status=Status.ERROR,
            resource=wf.arn,
            evidence=evidence,
            message=f"Cannot read all of workflow {name}'s definition, so its containers are not all known: "
            + "; ".join(definition.problems[:5]),
        )
    elif not uses:
        yield Result(
            status=Status.NOT_APPLICABLE,
            resource=wf.arn,
            evidence=evidence,
            message=f"Workflow {name}'s definition names no container the extractors recognise.",
        )
    else:
        note = (
            f" {len(undetermined)} more depend on run parameters and are judged from the runs' tasks."
            if undetermined
            else ""
        )
        yield Result(
            status=Status.PASS,
            resource=wf.arn,
            evidence=evidence,
            message=f"All {len(determined)} determined container(s) of workflow {name} resolve to private ECR "
            f"images in {snap.region}.{note}",
        )
