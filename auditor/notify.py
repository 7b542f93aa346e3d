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
