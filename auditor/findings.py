"""The findings document: its models, how it is built, merged, sorted, summarised, saved and read,
and what it means for the exit code.

Everything that reads or writes ``findings.json`` (the scan, the gate, the fix runner, the reports,
``merge``, ``diff``, the Lambda handler) imports it from here. This module knows nothing of rules,
AWS or the command line: the engine (``auditor.engine``) makes :class:`Finding` objects, this
module makes documents of them.

The document carries ``coverage``: for every cell and selected rule, how many findings of each
status, zeros included, so a reader can see that every cell was judged by every rule.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from auditor import __version__
from auditor.errors import ExitCode, UsageError
from auditor.files import load_model
from auditor.models import CallError, FailedRun

# 1.1 added ``coverage``; 1.0 documents still load (their coverage is computed from their findings).
SCHEMA_VERSION = "1.1"


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    # A FAIL or ERROR a person accepted as a risk (see auditor.suppressions); never trips the exit code.
    MUTED = "MUTED"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Finding(BaseModel):
    """One line of the findings document (schema in README)."""

    id: str
    rule_id: str
    title: str
    status: Status
    severity: Severity
    account: str
    region: str
    resource: str
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    remediation: str
    fixable: bool


def finding_id(rule_id: str, account: str, region: str, resource: str) -> str:
    """Stable across runs for the same rule and resource (diffs and Security Hub rely on it)."""
    digest = hashlib.sha256(f"{rule_id}|{account}|{region}|{resource}".encode()).hexdigest()
    return f"oea-{digest[:24]}"


# --- the document ---------------------------------------------------------------------


class Target(BaseModel):
    account: str
    region: str
    status: str  # "scanned" | "error" | "offline"
    error: CallError | None = None


class IncrementalCell(BaseModel):
    """How an incremental scan read one cell: what it trusted from the previous inventory, and why."""

    account: str
    region: str
    full: bool  # read in full (``fallback`` says why)
    fallback: str | None = None
    previous_scan: datetime | None = None  # when the previous scan of the cell began
    last_full_scan: datetime  # nothing carried was read before this
    window_start: datetime | None = None  # the CloudTrail window searched
    window_end: datetime | None = None
    events: dict[str, int] = Field(default_factory=dict)  # event name -> count in the window
    reread: dict[str, int] = Field(default_factory=dict)  # what -> resources re-read because an event named them
    carried: dict[str, int] = Field(default_factory=dict)  # what -> resources carried from the previous inventory


class RunInfo(BaseModel):
    id: str
    started: datetime
    finished: datetime | None = None
    tool_version: str = __version__
    mode: str = "live"  # live | inventory | demo
    targets: list[Target] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    severity_threshold: Severity = Severity.LOW
    incremental: list[IncrementalCell] | None = None  # set by an incremental scan (scan --since-last)


class CoverageRow(BaseModel):
    """One rule in one cell: how many findings of each status (every status present, zeros included)."""

    account: str
    region: str
    rule: str
    counts: dict[str, int]
    total: int


class CoverageCell(BaseModel):
    """One (account, region): how it was scanned and its findings of every selected rule together."""

    account: str
    region: str
    status: str  # the target's status (scanned | error | offline); "unlisted" if only findings name the cell
    counts: dict[str, int]
    total: int


class Coverage(BaseModel):
    """The cell x rule matrix: ``rows`` has len(cells) x len(rules) entries, in cell then rule order.

    Counted: the findings of the run's selected rules (suppression-expiry notices belong to no rule).
    """

    rules: list[str] = Field(default_factory=list)
    cells: list[CoverageCell] = Field(default_factory=list)
    rows: list[CoverageRow] = Field(default_factory=list)


class FindingsDocument(BaseModel):
    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    summary: dict[str, Any] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    api_calls: dict[str, int] = Field(default_factory=dict)
    coverage: Coverage | None = None  # computed when absent (documents older than 1.1, hand-built ones)
    # FAILED runs of the look-back window, each explained by findings or "not container-related"
    # (auditor.run_failures); empty when no selected rule collects runs. Absent in older documents.
    failed_runs: list[FailedRun] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_coverage(self) -> FindingsDocument:
        if self.coverage is None:
            self.coverage = compute_coverage(self.run, self.findings)
        return self


# --- summary, order, coverage ---------------------------------------------------------


def summarize(findings: Sequence[Finding], rule_order: Sequence[str] = ()) -> dict[str, Any]:
    by_status = Counter(f.status.value for f in findings)
    by_severity = Counter(f.severity.value for f in findings if f.status == Status.FAIL)
    by_rule: dict[str, Counter[str]] = {rule_id: Counter() for rule_id in rule_order}
    for f in findings:
        by_rule.setdefault(f.rule_id, Counter())[f.status.value] += 1
    return {
        "total": len(findings),
        "by_status": {s.value: by_status.get(s.value, 0) for s in Status},
        "failed_by_severity": {s.value: by_severity.get(s.value, 0) for s in Severity},
        "by_rule": {k: {s.value: v.get(s.value, 0) for s in Status} for k, v in by_rule.items()},
    }


_STATUS_ORDER = {Status.ERROR: 0, Status.FAIL: 1, Status.MUTED: 2, Status.PASS: 3, Status.NOT_APPLICABLE: 4}


def sort_findings(findings: Iterable[Finding], rule_order: Sequence[str] = ()) -> list[Finding]:
    """The document's order: worst status first, then severity, the rules' reading order, and the resource."""
    rule_rank = {rule_id: i for i, rule_id in enumerate(rule_order)}

    def key(f: Finding) -> tuple[Any, ...]:
        return (
            _STATUS_ORDER[f.status],
            -f.severity.rank,
            rule_rank.get(f.rule_id, len(rule_rank)),
            f.account,
            f.region,
            f.resource,
        )

    return sorted(findings, key=key)


_STATUS_RANK_TARGET = {"offline": 0, "scanned": 1, "unlisted": 2, "error": 3}


def _all_statuses(counts: Counter[str]) -> dict[str, int]:
    return {s.value: counts.get(s.value, 0) for s in Status}


def compute_coverage(run: RunInfo, findings: Sequence[Finding]) -> Coverage:
    """Every cell of the run (its targets, and any cell a finding names) x every selected rule, zeros included."""
    rules = list(run.rules)
    selected = set(rules)
    cell_status: dict[tuple[str, str], str] = {}
    for target in run.targets:
        key = (target.account, target.region)
        previous = cell_status.get(key)
        if previous is None or _STATUS_RANK_TARGET.get(target.status, 0) > _STATUS_RANK_TARGET.get(previous, 0):
            cell_status[key] = target.status
    counts: dict[tuple[str, str, str], Counter[str]] = {}
    for f in findings:
        if f.rule_id not in selected:
            continue
        cell_status.setdefault((f.account, f.region), "unlisted")
        counts.setdefault((f.account, f.region, f.rule_id), Counter())[f.status.value] += 1
    cells: list[CoverageCell] = []
    rows: list[CoverageRow] = []
    for account, region in sorted(cell_status):
        total: Counter[str] = Counter()
        for rule_id in rules:
            got = counts.get((account, region, rule_id), Counter())
            total.update(got)
            row_counts = _all_statuses(got)
            rows.append(
                CoverageRow(
                    account=account, region=region, rule=rule_id, counts=row_counts, total=sum(row_counts.values())
                )
            )
        cell_counts = _all_statuses(total)
        cells.append(
            CoverageCell(
                account=account,
                region=region,
                status=cell_status[(account, region)],
                counts=cell_counts,
                total=sum(cell_counts.values()),
            )
        )
    return Coverage(rules=rules, cells=cells, rows=rows)


# --- building and merging ---------------------------------------------------------------


def build_document(run: RunInfo, findings: list[Finding], api_calls: dict[str, int]) -> FindingsDocument:
    run.finished = datetime.now(UTC)
    findings = sort_findings(findings, run.rules)
    return FindingsDocument(
        run=run,
        summary=summarize(findings, run.rules),
        findings=findings,
        api_calls=api_calls,
        coverage=compute_coverage(run, findings),
    )


def merge_documents(parts: Sequence[FindingsDocument], *, run_id: str | None = None) -> FindingsDocument:
    """One document from the parts of one run (the cells a Step Functions map scanned separately).

    The run id is ``run_id`` when given, else the parts' common id, else a new one (parts of one run
    should share the id the plan step chose, see ``auditor.scan.scan_org``). Parts must have judged the same
    rules with the same threshold, or the coverage would claim rules a cell never ran. Findings are
    deduplicated by id (a retried branch), the worst status winning as in the engine; targets likewise
    (an ERROR target wins); API call counts are summed; started/finished span the parts.
    """
    if not parts:
        raise ValueError("merge_documents needs at least one document")
    first = parts[0].run
    for part in parts[1:]:
        if part.run.rules != first.rules:
            raise ValueError(f"run {part.run.id} judged rules {part.run.rules}, not {first.rules}")
        if part.run.severity_threshold != first.severity_threshold:
            raise ValueError(f"run {part.run.id} has severity threshold {part.run.severity_threshold}")
    ids = {p.run.id for p in parts}
    modes = {p.run.mode for p in parts}
    targets: dict[tuple[str, str], Target] = {}
    for target in (t for p in parts for t in p.run.targets):
        key = (target.account, target.region)
        kept = targets.get(key)
        if kept is None or _STATUS_RANK_TARGET.get(target.status, 0) > _STATUS_RANK_TARGET.get(kept.status, 0):
            targets[key] = target
    findings: dict[str, Finding] = {}
    for f in (f for p in parts for f in p.findings):
        kept_finding = findings.get(f.id)
        if kept_finding is None or _STATUS_ORDER[f.status] < _STATUS_ORDER[kept_finding.status]:
            findings[f.id] = f
    api_calls: Counter[str] = Counter()
    for part in parts:
        api_calls.update(part.api_calls)
    incremental: dict[tuple[str, str], IncrementalCell] = {}
    for cell in (c for p in parts for c in p.run.incremental or []):
        incremental[(cell.account, cell.region)] = cell  # a retried branch: one account per cell
    run = RunInfo(
        id=run_id or (next(iter(ids)) if len(ids) == 1 else str(uuid.uuid4())),
        started=min(p.run.started for p in parts),
        finished=max((p.run.finished or p.run.started) for p in parts),
        tool_version=first.tool_version,
        mode=next(iter(modes)) if len(modes) == 1 else "mixed",
        targets=[targets[k] for k in sorted(targets)],
        rules=list(first.rules),
        severity_threshold=first.severity_threshold,
        incremental=[incremental[k] for k in sorted(incremental)] if incremental else None,
    )
    ordered = sort_findings(findings.values(), run.rules)
    return FindingsDocument(
        run=run,
        summary=summarize(ordered, run.rules),
        findings=ordered,
        api_calls=dict(sorted(api_calls.items())),
        coverage=compute_coverage(run, ordered),
        failed_runs=_merge_failed_runs(parts),
    )


def _merge_failed_runs(parts: Sequence[FindingsDocument]) -> list[FailedRun]:
    """The parts' failed runs, one per run ARN (a retried branch lists it twice), in the parts' order."""
    runs: dict[str, FailedRun] = {}
    for failed in (r for p in parts for r in p.failed_runs):
        runs.setdefault(failed.arn, failed)
    return list(runs.values())


# --- files and the exit code ------------------------------------------------------------


def load_findings(path: str | Path) -> FindingsDocument:
    return load_model(path, FindingsDocument, "findings document", UsageError)


def write_findings(doc: FindingsDocument, out_dir: str | Path, name: str = "findings.json") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    return path


def exit_code(doc: FindingsDocument, threshold: Severity) -> ExitCode:
    """0 clean, 1 FAIL at or above threshold, 3 audit incomplete (any ERROR wins: the audit cannot vouch).

    MUTED findings (accepted risks, even former ERRORs) never count.
    """
    if any(f.status == Status.ERROR for f in doc.findings):
        return ExitCode.INCOMPLETE
    if any(f.status == Status.FAIL and f.severity.rank >= threshold.rank for f in doc.findings):
        return ExitCode.FINDINGS
    return ExitCode.OK
