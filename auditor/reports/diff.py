"""Run-to-run diff: which problems are new, which were resolved, which persist.

Finding ids are stable (``engine.finding_id`` hashes rule, account, region and
resource), so two documents are compared id by id, never by message text.

A *problem* is a FAIL or ERROR finding. MUTED findings are accepted risks: they
are not problems, but they are listed apart so a suppression that starts hiding
a failure is visible in the diff.

* **new**: a problem now that was not a problem before (absent, PASS, N/A or MUTED).
* **resolved**: a problem before that is now PASS or N/A, or whose resource is gone
  from a cell that this run scanned successfully.
* **persisting**: a problem in both runs (FAIL→ERROR and back included).
* **muted**: a problem before that is now MUTED.
* **unverified**: a problem before whose cell (account, region) this run did not
  scan, or scanned with an error. Calling these "resolved" would be a lie: nobody looked.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field, computed_field

from auditor.findings import Finding, FindingsDocument, Status
from auditor.terminal import terminal_text

PROBLEM = frozenset({Status.FAIL, Status.ERROR})


class ChangedFinding(BaseModel):
    """A finding present in both runs; ``finding`` is the current one."""

    finding: Finding
    previous_status: Status


class FindingsDiff(BaseModel):
    old_run: str
    new_run: str
    new: list[Finding] = Field(default_factory=list)
    resolved: list[Finding] = Field(default_factory=list)  # the old findings, as they were
    persisting: list[ChangedFinding] = Field(default_factory=list)
    muted: list[ChangedFinding] = Field(default_factory=list)
    unverified: list[Finding] = Field(default_factory=list)  # the old findings, as they were

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "resolved": len(self.resolved),
            "persisting": len(self.persisting),
            "muted": len(self.muted),
            "unverified": len(self.unverified),
        }


def _scanned_cells(doc: FindingsDocument) -> set[tuple[str, str]]:
    """Cells whose absence of a finding means something: scanned (or evaluated offline) without a cell error."""
    cells = {(t.account, t.region) for t in doc.run.targets if t.status in ("scanned", "offline")}
    if not doc.run.targets:  # a document without targets (hand-made, old): trust the cells its findings cover
        cells = {(f.account, f.region) for f in doc.findings}
    return cells


def _errored_cells(findings: Iterable[Finding]) -> set[tuple[str, str]]:
    # A cell-wide error is reported once per rule on "account/<id>/region/<name>" (engine.cell_error_findings).
    return {
        (f.account, f.region)
        for f in findings
        if f.status == Status.ERROR and f.resource == f"account/{f.account}/region/{f.region}"
    }


def diff_documents(old: FindingsDocument, new: FindingsDocument) -> FindingsDiff:
    before = {f.id: f for f in old.findings}
    after = {f.id: f for f in new.findings}
    looked = _scanned_cells(new) - _errored_cells(new.findings)
    out = FindingsDiff(old_run=old.run.id, new_run=new.run.id)
    for fid, f in after.items():
        was = before.get(fid)
        if f.status in PROBLEM:
            if was is not None and was.status in PROBLEM:
                out.persisting.append(ChangedFinding(finding=f, previous_status=was.status))
            else:
                out.new.append(f)
        elif f.status == Status.MUTED and was is not None and was.status in PROBLEM:
            out.muted.append(ChangedFinding(finding=f, previous_status=was.status))
    for fid, was in before.items():
        if was.status not in PROBLEM:
            continue
        now = after.get(fid)
        if now is None:
            (out.resolved if (was.account, was.region) in looked else out.unverified).append(was)
        elif now.status in (Status.PASS, Status.NOT_APPLICABLE):
            out.resolved.append(was)
    return out


def render_diff(d: FindingsDiff) -> str:
    """The terminal view of ``omics-ecr-audit diff``."""
    c = d.counts
    lines = [
        f"diff {d.old_run} → {d.new_run}",
        f"new {c['new']}  resolved {c['resolved']}  persisting {c['persisting']}  "
        f"muted {c['muted']}  unverified {c['unverified']}",
    ]

    def block(title: str, items: list[tuple[str, Finding]]) -> None:
        if not items:
            return
        lines.append("")
        lines.append(f"{title}:")
        for mark, f in items:
            lines.append(f"  {mark:<13} {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}")
            lines.append(f"                {f.message}")

    block("New", [(f"+ {f.status.value}", f) for f in d.new])
    block("Resolved", [(f"- {f.status.value}", f) for f in d.resolved])
    block("Muted since last run", [(f"~ {c.previous_status.value}→MUTED", c.finding) for c in d.muted])
    block("Unverified (cell not scanned this run)", [(f"? {f.status.value}", f) for f in d.unverified])
    block("Persisting", [(f"= {c.finding.status.value}", c.finding) for c in d.persisting])
    # Run ids, resources and messages come from findings files: one line each, escaped.
    return terminal_text(lines)
