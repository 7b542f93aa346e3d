"""Workflows pin their images: no `latest` (or untagged) reference, and no tag that moved since the last run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from auditor.derive import ImageUse, workflow_uses
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import Run, RunTask, Snapshot, Workflow
from auditor.refs import InvalidReference, parse_reference

RULE_ID = "pinned-by-digest"
MUTABLE = "latest"  # what a reference without tag or digest means too (refs.parse_reference)


def _mutable(tag: str | None, digest: str | None) -> bool:
    return digest is None and (tag or MUTABLE) == MUTABLE


def _definition_findings(uses: list[ImageUse]) -> tuple[list[str], list[str], int]:
    """(mutable uses, version-tag uses, digest-pinned count) of a workflow's definition containers."""
    mutable: list[str] = []
    tagged: list[str] = []
    pinned = 0
    for use in uses:
        if use.written is None:
            continue  # decided by the run's parameters: the runs show what it was
        if use.resolved:
            tag, digest = use.tag, use.digest
        else:
            try:
                parsed = parse_reference(use.written)
            except InvalidReference:
                continue  # the workflow-images rule reports it
            tag, digest = parsed.tag, parsed.digest
        where = f"{use.origin}: {use.written}" + (
            f" (pulled as {use.repository}:{tag})" if use.resolved and use.via != "ecr" else ""
        )
        if digest:
            pinned += 1
        elif _mutable(tag, digest):
            mutable.append(where)
        else:
            tagged.append(where)
    return mutable, tagged, pinned


def _mapping_findings(wf: Workflow) -> tuple[list[str], int]:
    """(image mappings whose destination is `latest` or untagged, digest-pinned destinations)."""
    crm = wf.registry_map.value
    mutable: list[str] = []
    pinned = 0
    for mapping in crm.image_mappings if crm else []:
        try:
            parsed = parse_reference(mapping.destination_image or "")
        except InvalidReference:
            continue  # the registry-map rule reports it
        if parsed.digest:
            pinned += 1
        elif _mutable(parsed.tag, parsed.digest):
            mutable.append(f"image mapping {mapping.source_image} -> {mapping.destination_image}")
    return mutable, pinned


def _run_tasks(snap: Snapshot, runs: list[Run]) -> tuple[list[str], list[dict[str, Any]], list[str], int]:
    """(mutable task images, tags moved since the last run that used them, tags whose digest is unknown, pinned)."""
    host = snap.registry_host()
    last: dict[tuple[str, str], tuple[datetime | None, Run, RunTask]] = {}
    mutable: list[str] = []
    pinned = 0
    for run in runs:
        for task in run.tasks.value or []:
            if not task.image:
                continue
            try:
                parsed = parse_reference(task.image)
            except InvalidReference:
                continue
            if parsed.digest:
                pinned += 1
                continue
            assert parsed.tag is not None
            if _mutable(parsed.tag, None):
                where = f"run {run.id} task {task.task_id}: {task.image}"
                if where not in mutable:
                    mutable.append(where)
            if parsed.registry != host or not task.image_digest:
                continue
            key = (parsed.repository, parsed.tag)
            when = run.creation_time or run.start_time
            previous = last.get(key)
            if previous is None or (when and (previous[0] is None or when > previous[0])):
                last[key] = (when, run, task)
    moved: list[dict[str, Any]] = []
    unknown: list[str] = []
    for (repository, tag), (_, run, task) in sorted(last.items()):
        current = snap.images.get(f"{repository}:{tag}")
        now_digest = current.value.digest if current is not None and current.value and current.value.exists else None
        if now_digest is None:
            unknown.append(f"{repository}:{tag}")
        elif now_digest != task.image_digest:
            moved.append(
                {
                    "image": f"{repository}:{tag}",
                    "last_run": run.id,
                    "task": task.task_id,
                    "run_digest": task.image_digest,
                    "current_digest": now_digest,
                }
            )
    return mutable, moved, unknown, pinned


@rule(
    id=RULE_ID,
    title="Workflows use images pinned by digest (no `latest`), and no tag moved since the last run used it",
    severity=Severity.LOW,
    rationale=(
        "Seed 002 recommends pinning versions. A reference without a tag means `latest`, which upstreams move and "
        "delete: the same workflow version then runs different software, or fails when the tag disappears (the "
        "users' reports in issue 15). HealthOmics records the digest each task ran (GetRunTask imageDetails."
        "imageDigest); when the tag now names another digest, the next run will not reproduce the last one. The "
        "rule reads the registered definitions (resolved through the container registry map), the map's image "
        "mappings and the recent runs' tasks; digest-pinned uses pass, a version tag passes with a note."
    ),
    remediation=(
        "Reference each container as `repository@sha256:<digest>` (or `repository:<version>@sha256:<digest>`) in "
        "the workflow definition and in the image mappings' destinationImage, then create a new workflow version. "
        "`omics-ecr-audit resolve` prints the digest each tag resolves to now; for a tag that moved, decide which "
        "digest is right (the evidence names both)."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://docs.aws.amazon.com/omics/latest/api/API_ImageDetails.html",
    ],
    facets=["workflows", "workflow_definitions", "runs", "run_tasks", "repositories", "images"],
    group="hygiene",
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("omics-workflows", workflows=snap.workflows)
    if errors:
        yield from errors
        return
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose task images are judged")
    uses: dict[str, list[ImageUse]] = {}
    for use in workflow_uses(snap):
        if use.source == "definition":
            uses.setdefault(use.workflow_id, []).append(use)
    runs: dict[str, list[Run]] = {}
    for run in snap.runs.value or []:
        runs.setdefault(run.workflow_id or "", []).append(run)
    for wf in snap.workflows.value or []:
        if (wf.type or "PRIVATE") != "PRIVATE":
            continue
        if wf.definition.error is not None:
            yield error_result(wf.definition.error, wf.arn, "the workflow definition")
            continue
        if wf.registry_map.error is not None:
            yield error_result(wf.registry_map.error, wf.arn, "the workflow's container registry map")
            continue
        task_error = next((r.tasks.error for r in runs.get(wf.id, []) if r.tasks.error is not None), None)
        if task_error is not None:
            yield error_result(task_error, wf.arn, "the tasks of the workflow's runs")
            continue
        definition, version_tags, pinned_def = _definition_findings(uses.get(wf.id, []))
        mappings, pinned_map = _mapping_findings(wf)
        tasks, moved, unknown, pinned_run = _run_tasks(snap, runs.get(wf.id, []))
        checked = (
            len(definition) + len(version_tags) + pinned_def + len(mappings) + pinned_map + len(tasks) + pinned_run
        )
        evidence: dict[str, Any] = {"workflow": wf.id}
        for key, value in (
            ("mutable_in_definition", definition),
            ("mutable_in_image_mappings", mappings),
            ("mutable_in_run_tasks", tasks),
            ("tags_moved", moved),
            ("version_tags", version_tags),
            ("current_digest_unknown", unknown),
        ):
            if value:
                evidence[key] = value
        if not checked and not moved:
            continue  # nothing this workflow names could be read as an image reference
        problems = []
        if definition or mappings or tasks:
            problems.append("uses `latest` (or no tag): " + "; ".join([*definition, *mappings, *tasks][:8]))
        for m in moved:
            problems.append(
                f"tag {m['image']} moved since run {m['last_run']} (task {m['task']}) ran {m['run_digest']}: "
                f"it now names {m['current_digest']}"
            )
        if problems:
            yield Result(
                status=Status.FAIL,
                resource=wf.arn,
                message=f"Workflow {wf.name or wf.id} " + " | ".join(problems) + ".",
                evidence=evidence,
            )
            continue
        note = f" ({len(version_tags)} by version tag, not digest)" if version_tags else ""
        yield Result(
            status=Status.PASS,
            resource=wf.arn,
            message=f"Workflow {wf.name or wf.id} pins every image it names{note}; no tag moved since its last run.",
            evidence=evidence,
        )
