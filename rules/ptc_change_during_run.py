"""No pull-through cache rule was created, updated or deleted while a HealthOmics run was active."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from auditor.rules.cloudtrail_trail import EVENT_HISTORY_DAYS, recording

from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import Run, Snapshot

RULE_ID = "ptc-rule-unchanged-during-run"
ACTIVE = frozenset({"PENDING", "STARTING", "RUNNING", "STOPPING"})
# createdAt and the CloudTrail Create event describe the same change when this close together.
SAME_CHANGE = timedelta(seconds=120)


def run_window(run: Run, now: datetime) -> tuple[datetime, datetime] | None:
    """When a run could be resolving images: from creation (PENDING runs may already resolve) to stop, or now."""
    start = run.creation_time or run.start_time
    if start is None:
        return None
    end = run.stop_time or (now if run.status in ACTIVE else None)
    if end is None:
        end = run.start_time or start  # terminal run without stop time: the shortest honest window
    return start, end


@rule(
    id=RULE_ID,
    title="No pull-through cache rule changed while a HealthOmics run was active",
    severity=Severity.MEDIUM,
    rationale=(
        "AWS warns not to change a pull-through cache rule while a run uses its repositories: the run may fail or "
        "pull unexpected images. Rule timestamps (createdAt/updatedAt) and CloudTrail Create/Update/"
        "DeletePullThroughCacheRule events are compared with the windows of runs in the look-back period."
    ),
    remediation=(
        "Change pull-through cache rules only when no run is PENDING, STARTING, RUNNING or STOPPING in the region "
        "(`aws omics list-runs --status RUNNING`); re-run affected runs and check which image digests they used "
        "(`aws omics get-run-task`)."
    ),
    references=["https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html"],
    facets=["ptc_rules", "runs", "ptc_events", "trails"],
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("pull-through-cache-rules", ptc_rules=snap.ptc_rules, runs=snap.runs)
    if errors:
        yield from errors
        return
    if snap.ptc_events.error is not None:
        yield error_result(
            snap.ptc_events.error,
            "cloudtrail/ptc-rule-events",
            "CloudTrail events (deleted rules and earlier updates cannot be seen)",
        )
    now = ctx.now
    windows = [(run, w) for run in snap.runs.value or [] if (w := run_window(run, now)) is not None]
    changes: dict[str, list[tuple[str, datetime, str]]] = {}  # prefix -> (what, when, source)
    for r in snap.ptc_rules.value or []:
        if r.created_at:
            changes.setdefault(r.ecr_repository_prefix, []).append(("created", r.created_at, "rule.createdAt"))
        # ECR may stamp updatedAt at creation; only a different time is a separate change (even seconds later).
        if r.updated_at and r.updated_at != r.created_at:
            changes.setdefault(r.ecr_repository_prefix, []).append(("updated", r.updated_at, "rule.updatedAt"))
    for ev in snap.ptc_events.value or []:
        if ev.error_code or not ev.ecr_repository_prefix:
            continue  # a failed call changed nothing
        what = ev.event_name.removesuffix("PullThroughCacheRule").lower() + "d"
        known = changes.setdefault(ev.ecr_repository_prefix, [])
        if any(abs(t - ev.event_time) <= SAME_CHANGE and w == what for w, t, _ in known):
            continue
        known.append((what, ev.event_time, f"CloudTrail {ev.event_id}"))
    current = {r.ecr_repository_prefix for r in snap.ptc_rules.value or []}
    # Without a trail recording ECR's management events (cache rules are ECR's), event history (90 days) is the
    # only record of past changes.
    untrailed = recording(snap, event_data_stores=False, sources=("ecr.amazonaws.com",)).records is False
    horizon = now - timedelta(days=EVENT_HISTORY_DAYS)
    short = untrailed and (
        ctx.run_lookback_days > EVENT_HISTORY_DAYS or any(start < horizon for _, (start, _) in windows)
    )
    note = (
        f"no trail records ECR's management events here: CloudTrail event history, kept {EVENT_HISTORY_DAYS} days "
        f"(since {horizon.date().isoformat()}), is the only record of earlier changes"
    )
    for prefix in sorted(set(changes) | current):
        resource = f"pull-through-cache-rule/{prefix}"
        overlaps: list[dict[str, Any]] = []
        for what, when, source in sorted(changes.get(prefix, []), key=lambda c: c[1]):
            for run, (start, end) in windows:
                if start <= when <= end:
                    overlaps.append(
                        {
                            "change": what,
                            "at": when.isoformat(),
                            "source": source,
                            "run": run.id,
                            "run_status": run.status,
                            "run_window": [start.isoformat(), end.isoformat()],
                        }
                    )
        evidence: dict[str, Any] = {
            "changes": [{"change": w, "at": t.isoformat(), "source": s} for w, t, s in changes.get(prefix, [])],
            "runs_considered": len(windows),
        }
        if untrailed:
            evidence["evidence_window"] = {"since": horizon.isoformat(), "short": short, "note": note}
        if overlaps:
            evidence["overlaps"] = overlaps
            runs = sorted({o["run"] for o in overlaps})
            yield Result(
                status=Status.FAIL,
                resource=resource,
                evidence=evidence,
                message=f"Pull through cache rule {prefix!r} was {overlaps[0]['change']} at {overlaps[0]['at']} "
                f"while run(s) {', '.join(runs)} were active.",
            )
        elif snap.ptc_events.error is not None:
            # Rule timestamps show only the latest update; earlier updates live in CloudTrail alone.
            yield Result(
                status=Status.ERROR,
                resource=resource,
                evidence={**evidence, "api_error": snap.ptc_events.error.model_dump(exclude_none=True)},
                message=f"No overlap visible in the rule's own timestamps, but CloudTrail could not be read, so "
                f"earlier changes to {prefix!r} cannot be ruled out: {snap.ptc_events.error.describe()}",
            )
        else:
            yield Result(
                status=Status.PASS,
                resource=resource,
                evidence=evidence,
                message=f"No change to pull through cache rule {prefix!r} overlapped a run"
                + (f" ({note})." if short else "."),
            )
