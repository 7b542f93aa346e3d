"""The wording of a run's SNS notification: a subject line and a plain-text message.

Pure text from a findings document and the run's result; ``auditor.lambda_handler.notify`` decides
whether to send it and publishes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SUBJECT_LIMIT = 99  # SNS: ASCII, under 100 characters
MESSAGE_FINDING_CHARS = 300


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def notification(
    doc: Any, new: Sequence[Any], counts: Mapping[str, int], previous: Any, result: Mapping[str, Any], limit: int
) -> tuple[str, str]:
    """(subject, message) of the run's SNS notification."""
    accounts = len({t.account for t in doc.run.targets})
    regions = len({t.region for t in doc.run.targets})
    by_kind: dict[str, int] = {}
    for f in new:
        by_kind[f.status.value] = by_kind.get(f.status.value, 0) + 1
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))
    if new:
        subject = f"omics-ecr-audit: {len(new)} new finding{'s' if len(new) != 1 else ''} ({kinds})"
    else:
        subject = "omics-ecr-audit: no new findings"
    subject = _ascii(f"{subject}, {accounts} account{'s' if accounts != 1 else ''}")[:SUBJECT_LIMIT]
    s = doc.summary["by_status"]
    lines = [
        f"omics-ecr-audit run {doc.run.id}",
        f"Cells: {len(doc.run.targets)} ({accounts} accounts x {regions} regions), "
        f"{result['cells_with_errors']} could not be scanned",
        f"Findings: {doc.summary['total']}  PASS {s.get('PASS', 0)}  FAIL {s.get('FAIL', 0)}  "
        f"ERROR {s.get('ERROR', 0)}  MUTED {s.get('MUTED', 0)}  N/A {s.get('NOT_APPLICABLE', 0)}",
    ]
    if previous is not None:
        lines.append(
            f"Since run {previous.run.id}: {counts.get('new', 0)} new, {counts.get('resolved', 0)} resolved, "
            f"{counts.get('persisting', 0)} persisting, {counts.get('unverified', 0)} not verified (cell not scanned)"
        )
    else:
        lines.append("First run: every FAIL and ERROR counts as new.")
    fixes = result.get("fixes")
    if fixes:
        lines.append(f"Fixes: {fixes['applied']} change(s) applied (budget {fixes['budget']})")
    lines.append("")
    if new:
        shown = list(new)[:limit]
        lines.append(f"New findings ({len(shown)} of {len(new)}):")
        for f in shown:
            lines.append(
                f"[{f.status.value:<5}] {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}"
            )
            lines.append(f"        {f.message[:MESSAGE_FINDING_CHARS]}")
        if len(new) > len(shown):
            lines.append(f"... and {len(new) - len(shown)} more: see the report.")
        lines.append("")
    lines.append(f"Findings: {result['findings']}")
    for name, uri in result["reports"].items():
        lines.append(f"Report ({name}): {uri}")
    return subject, "\n".join(lines)


def guard_notification(
    event: Mapping[str, Any], new: Sequence[Any], fix: Mapping[str, Any] | None, record: str, limit: int
) -> tuple[str, str]:
    """(subject, message) of the real-time guard's SNS notification: the FAILs one API call made new.

    ``event``: ``auditor.guard.GuardEvent.summary()`` with the rules re-evaluated; ``fix``: what the guard's
    fix did (None when it was not asked to fix); ``record``: the S3 URI of the guard's record of the event.
    """
    fails = f"{len(new)} new FAIL{'s' if len(new) != 1 else ''}"
    subject = _ascii(f"omics-ecr-audit guard: {fails} after {event['name']} in {event['account']}/{event['region']}")
    caller = event.get("caller") or "unknown caller"
    via = f" (through {event['invoked_by']})" if event.get("invoked_by") else ""
    lines = [
        f"omics-ecr-audit guard: {event['name']} ({event['source']}) in {event['account']}/{event['region']} "
        f"at {event['time']}",
        f"Called by: {caller}{via}",
        f"CloudTrail event {event['cloudtrail_event_id']}, EventBridge event {event['id']}",
        f"Rules re-evaluated: {', '.join(event.get('rules') or [])}",
        "",
    ]
    shown = list(new)[:limit]
    lines.append(f"New FAIL findings ({len(shown)} of {len(new)}):")
    for f in shown:
        lines.append(f"[{f.status.value:<5}] {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}")
        lines.append(f"        {f.message[:MESSAGE_FINDING_CHARS]}")
    if len(new) > len(shown):
        lines.append(f"... and {len(new) - len(shown)} more: see the record.")
    lines.append("")
    if fix is not None:
        lines.append(f"Fix (GUARD_FIX_ENABLED): {fix.get('outcome', '?')}")
        for change in fix.get("changes") or []:
            lines.append(f"  {change}")
        if fix.get("backup"):
            lines.append(f"  backup: {fix['backup']}")
        if fix.get("undo"):
            lines.append(f"  undo: {fix['undo']}")
        verified = fix.get("verified") or {}
        if verified:
            lines.append("  judged again: " + ", ".join(f"{k} {v}" for k, v in sorted(verified.items())))
        lines.append("")
    lines.append(f"Record: {record}")
    return subject[:SUBJECT_LIMIT], "\n".join(lines)
