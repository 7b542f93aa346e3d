"""Self-contained HTML report for people: one file, no network, readable offline and printable.

Layout, made to fit a screen from a 390 px phone to a desktop: a one-screen server-rendered summary (counts,
inline SVG charts, the scope), then the findings table, FAIL and ERROR first with PASS, MUTED and
NOT_APPLICABLE one click away, then the long sections (account-by-region coverage matrix, rule table,
accepted risks, failed runs, run-to-run diff, run info). All but the table needs no JavaScript. The table is
rendered page by page in the browser from embedded JSON islands, so 50,000 findings stay fast: one island
holds the table's rows, parsed on load; the other holds every finding's evidence (the bulk of a large
report), parsed only when a row is first expanded. Nothing is wider than the window: long ARNs, digests and
messages wrap, and below 720 px every table turns into one card per row (report.css).

Safety: every value from the document goes through Jinja2 autoescaping or the ``tojson`` filter
(which escapes ``<``, ``>``, ``&`` and ``'``, so data can never close the ``<script>`` element); the
browser side uses ``textContent`` only. A Content-Security-Policy meta tag allows nothing but the
report's own inline style and script (by hash) and ``data:`` images, so even an escaping bug could
not load or run anything else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import jinja2
from markupsafe import Markup
from pydantic_core import to_jsonable_python

from auditor.findings import Finding, FindingsDocument, Severity, Status, Target, summarize
from auditor.models import FailedRun
from auditor.reports import RenderOptions, report_format
from auditor.reports.diff import FindingsDiff, diff_documents
from auditor.run_failures import verdict
from auditor.terminal import command_line

TEMPLATE = "report.html.j2"
CLI = "omics-ecr-audit"

# The summary reads in this order; the table sorts worst first, like the document (scan.sort_findings).
SUMMARY_STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.MUTED, Status.NOT_APPLICABLE)
TABLE_STATUSES = (Status.ERROR, Status.FAIL, Status.MUTED, Status.PASS, Status.NOT_APPLICABLE)
SEVERITIES = tuple(sorted(Severity, key=lambda s: -s.rank))

# What the findings table shows before the reader picks: the problems. The rest is one click away ("All findings").
DEFAULT_STATUSES = frozenset({Status.FAIL.value, Status.ERROR.value})

# Resolved/unverified findings are server-rendered; past this many the list would slow the page for no reader.
DIFF_LIST_LIMIT = 500

# The columns of one embedded finding row; the script looks fields up by these names.
ROW_FIELDS = (
    "id",
    "status",
    "severity",
    "rule",
    "account",
    "region",
    "resource",
    "message",
    "title",
    "remediation",
    "commands",
    "new",
)

_BAR_WIDTH = 1000.0  # SVG viewBox units; the bars scale with the page
SEVERITY_CHART_WIDTH = 280.0  # the severity bars' viewBox width; the longest bar fills it


# --- view model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One coloured part of a bar, in viewBox units."""

    key: str  # a status or a severity: the label, and the CSS class suffix
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    title: str
    counts: dict[str, int]
    bar: list[Segment]


CellState = Literal["error", "fail", "ok", "not-scanned"]

_CELL_MARKERS: dict[CellState, str] = {
    "error": "⚠ ERROR",
    "fail": "✗ FAIL",
    "ok": "✓ OK",
    "not-scanned": "— not scanned",
}


@dataclass(frozen=True)
class Cell:
    account: str
    region: str
    state: CellState
    counts: dict[str, int]
    target_status: str | None  # "scanned" | "error" | "offline", None when no target named the cell
    error: str | None  # why the whole cell could not be scanned

    @property
    def marker(self) -> str:
        return _CELL_MARKERS[self.state]


@dataclass(frozen=True)
class Coverage:
    regions: list[str]
    rows: list[tuple[str, list[Cell]]]  # (account, one cell per region)
    unplaced: int  # findings tied to no single cell (an expired suppression for "*")

    @property
    def states(self) -> dict[CellState, int]:
        """How many cells are in each state, worst first: the summary's one-line view of the matrix."""
        counts = Counter(cell.state for _, cells in self.rows for cell in cells)
        return {state: counts[state] for state in _CELL_MARKERS}


@dataclass(frozen=True)
class Acceptance:
    """Findings muted by the same accepted risk."""

    reason: str
    owner: str
    expires: str | None
    original_status: str
    count: int


@dataclass(frozen=True)
class DiffView:
    previous_run: str
    counts: dict[str, int]
    new_ids: frozenset[str]
    resolved: list[Finding]
    unverified: list[Finding]


@dataclass(frozen=True)
class RunView:
    id: str
    mode: str
    started: str
    finished: str
    duration: str
    tool_version: str
    severity_threshold: str
    rules: int
    targets: int
    api_calls_total: int
    api_calls: dict[str, int]
    incremental: list[IncrementalRow] = field(default_factory=list)  # an incremental scan's record, per cell


@dataclass(frozen=True)
class IncrementalRow:
    """One cell of an incremental scan: what it trusted from the previous inventory."""

    cell: str
    last_full_scan: str
    events: str
    reread: str
    carried: str
    fallback: str


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none"


def incremental_rows(doc: FindingsDocument) -> list[IncrementalRow]:
    return [
        IncrementalRow(
            cell=f"{c.account}/{c.region}",
            last_full_scan=_when(c.last_full_scan),
            events=str(sum(c.events.values())),
            reread=_counts(c.reread),
            carried=_counts(c.carried),
            fallback=c.fallback or "",
        )
        for c in doc.run.incremental or []
    ]


@dataclass(frozen=True)
class ReportView:
    title: str
    run: RunView
    total: int
    status_counts: dict[str, int]
    status_bar: list[Segment]
    failed_by_severity: dict[str, int]
    severity_bars: list[Segment]
    rules: list[RuleRow]
    coverage: Coverage
    acceptances: list[Acceptance]
    diff: DiffView | None
    table: dict[str, Any]  # the rows' JSON island
    evidence: list[Any]  # the evidence JSON island, in row order
    failed_runs: list[FailedRunRow] = field(default_factory=list)  # the document's failed_runs, explained
    problems: int = 0  # FAIL and ERROR findings
    default_statuses: frozenset[str] = DEFAULT_STATUSES  # the status filter's initial (and reset) choice


@dataclass(frozen=True)
class FailedRunRow:
    """One failed run of the look-back window and what explains it (auditor.run_failures)."""

    run: FailedRun
    verdict: str


# --- building blocks --------------------------------------------------------------------


def stacked_bar(counts: dict[str, int], order: Sequence[str], width: float = _BAR_WIDTH) -> list[Segment]:
    """Segments of a full-width bar, in ``order``; empty parts are left out (nothing to hover or print)."""
    total = sum(counts.get(k, 0) for k in order)
    segments, x = [], 0.0
    for key in order:
        count = counts.get(key, 0)
        if not count:
            continue
        part = width * count / total
        segments.append(Segment(key=key, count=count, x=round(x, 2), width=round(part, 2)))
        x += part
    return segments


def proportional_bars(counts: dict[str, int], order: Sequence[str], width: float = _BAR_WIDTH) -> list[Segment]:
    """One bar per key, the longest filling ``width`` (a bar chart, not a stack)."""
    top = max(counts.values(), default=0) or 1
    return [
        Segment(key=k, count=counts.get(k, 0), x=0.0, width=round(width * counts.get(k, 0) / top, 2)) for k in order
    ]


def cli_commands(finding: Finding, run_rules: Sequence[str]) -> list[dict[str, str]]:
    """What to run for this finding, shell-quoted.

    No rule puts a ready command into ``evidence``: manual steps (a token to store, a secret to create)
    live in the fix plan, built from a live snapshot. So a fixable FAIL gets the fix plan and its apply;
    a FAIL that only a person can fix, but whose rule has a fixer, gets the plan, which prints the exact
    manual commands; anything else a re-check. ``--rules`` only names rules the run could select (not
    e.g. ``suppression-expired``), ``--regions`` only a concrete region (not an expired suppression's ``*``).
    """
    scope = []
    if finding.region and finding.region != "*":
        scope += ["--regions", finding.region]
    if finding.rule_id in run_rules:
        scope += ["--rules", finding.rule_id]
    if finding.fixable and finding.status == Status.FAIL:
        return [
            {"label": "Plan the fix (read-only, shows the diff)", "command": command_line([CLI, "fix", *scope])},
            {"label": "Apply it (backed up, reversible)", "command": command_line([CLI, "fix", *scope, "--apply"])},
        ]
    recheck = {"label": "Re-check after acting", "command": command_line([CLI, "scan", *scope])}
    if _has_manual_steps(finding, run_rules):
        plan = {"label": "Show the exact manual steps (read-only)", "command": command_line([CLI, "fix", *scope])}
        return [plan, recheck]
    return [recheck]


def _has_manual_steps(finding: Finding, run_rules: Sequence[str]) -> bool:
    from auditor.fix import load_fixers

    return finding.status == Status.FAIL and finding.rule_id in run_rules and finding.rule_id in load_fixers()


def command_key(finding: Finding, run_rules: Sequence[str]) -> tuple[str, str, bool, bool, bool]:
    """Everything :func:`cli_commands` reads: findings with the same key get the same commands."""
    fix = finding.fixable and finding.status == Status.FAIL
    return finding.rule_id, finding.region, finding.rule_id in run_rules, fix, _has_manual_steps(finding, run_rules)


def _is_cell(account: str, region: str) -> bool:
    return "*" not in (account, region)


def coverage(targets: Sequence[Target], findings: Sequence[Finding]) -> Coverage:
    """The account-by-region matrix: every cell a target names or a finding lies in; the rest are "not scanned"."""
    by_cell: dict[tuple[str, str], Counter[str]] = {}
    unplaced = 0
    for f in findings:
        if not _is_cell(f.account, f.region):
            unplaced += 1
            continue
        by_cell.setdefault((f.account, f.region), Counter())[f.status.value] += 1
    target_of = {(t.account, t.region): t for t in targets}
    cells = set(by_cell) | set(target_of)
    accounts = sorted({a for a, _ in cells})
    regions = sorted({r for _, r in cells})
    rows = []
    for account in accounts:
        row = []
        for region in regions:
            target = target_of.get((account, region))
            counts = by_cell.get((account, region), Counter())
            row.append(
                Cell(
                    account=account,
                    region=region,
                    state=_cell_state(target, counts),
                    counts={s.value: counts[s.value] for s in TABLE_STATUSES if counts[s.value]},
                    target_status=target.status if target else None,
                    error=target.error.describe() if target and target.error else None,
                )
            )
        rows.append((account, row))
    return Coverage(regions=regions, rows=rows, unplaced=unplaced)


def _cell_state(target: Target | None, counts: Counter[str]) -> CellState:
    if (target is not None and target.status == "error") or counts[Status.ERROR.value]:
        return "error"
    if target is None and not counts:
        return "not-scanned"
    if counts[Status.FAIL.value]:
        return "fail"
    return "ok"


def acceptances(findings: Iterable[Finding]) -> list[Acceptance]:
    """MUTED findings grouped by the suppression that muted them, largest group first."""
    groups: Counter[tuple[str, str, str | None, str]] = Counter()
    for f in findings:
        if f.status != Status.MUTED:
            continue
        record = f.evidence.get("suppression") or {}
        key = (
            str(record.get("reason", "?")),
            str(record.get("owner", "?")),
            record.get("expires"),
            str(record.get("original_status", "?")),
        )
        groups[key] += 1
    return [
        Acceptance(reason=r, owner=o, expires=e, original_status=s, count=n)
        for (r, o, e, s), n in sorted(groups.items(), key=lambda item: (-item[1], item[0][0]))
    ]


def _worst_first(findings: Iterable[Finding]) -> list[Finding]:
    rank = {s: i for i, s in enumerate(TABLE_STATUSES)}
    return sorted(
        findings, key=lambda f: (rank[f.status], -f.severity.rank, f.rule_id, f.account, f.region, f.resource)
    )


def diff_view(d: FindingsDiff) -> DiffView:
    return DiffView(
        previous_run=d.old_run,
        counts=d.counts,
        new_ids=frozenset(f.id for f in d.new),
        resolved=_worst_first(d.resolved),
        unverified=_worst_first(d.unverified),
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment else "—"


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "—"
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_view(doc: FindingsDocument) -> RunView:
    run = doc.run
    return RunView(
        id=run.id,
        mode=run.mode,
        started=_when(run.started),
        finished=_when(run.finished),
        duration=_duration(run.started, run.finished),
        tool_version=run.tool_version,
        severity_threshold=run.severity_threshold.value,
        rules=len(run.rules),
        targets=len(run.targets),
        api_calls_total=sum(doc.api_calls.values()),
        api_calls=dict(sorted(doc.api_calls.items())),
        incremental=incremental_rows(doc),
    )


class _Interner:
    """Values that repeat across findings (titles, remediation, commands) are embedded once, rows keep an index."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Hashable, int] = {}

    def __call__(self, key: Hashable, make: Callable[[], Any] | None = None) -> int:
        """The index of the value named ``key``: the key itself, or what ``make`` builds the first time."""
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.values)
            self.values.append(key if make is None else make())
        return index


def table_data(doc: FindingsDocument, new_ids: frozenset[str]) -> dict[str, Any]:
    """The table's JSON island: what the rows show and the expanded rows need besides evidence, repeated
    strings interned.

    Lookup lists of accounts, regions and rules are sorted, so sorting rows by their index sorts them by name;
    statuses and severities are listed worst first for the same reason.
    """
    findings = doc.findings
    status_ix = {s.value: i for i, s in enumerate(TABLE_STATUSES)}
    severity_ix = {s.value: i for i, s in enumerate(SEVERITIES)}
    accounts = sorted({f.account for f in findings})
    regions = sorted({f.region for f in findings})
    rules = sorted({f.rule_id for f in findings})
    account_ix = {a: i for i, a in enumerate(accounts)}
    region_ix = {r: i for i, r in enumerate(regions)}
    rule_ix = {r: i for i, r in enumerate(rules)}
    titles, remediations, commands = _Interner(), _Interner(), _Interner()
    rows = []
    for f in findings:
        rows.append(
            [
                f.id,
                status_ix[f.status.value],
                severity_ix[f.severity.value],
                rule_ix[f.rule_id],
                account_ix[f.account],
                region_ix[f.region],
                f.resource,
                f.message,
                titles(f.title),
                remediations(f.remediation),
                commands(command_key(f, doc.run.rules), functools.partial(cli_commands, f, doc.run.rules)),
                int(f.id in new_ids),
            ]
        )
    return {
        "fields": ROW_FIELDS,
        "statuses": [s.value for s in TABLE_STATUSES],
        "severities": [s.value for s in SEVERITIES],
        "accounts": accounts,
        "regions": regions,
        "rules": rules,
        "titles": titles.values,
        "remediations": remediations.values,
        "commands": commands.values,
        "findings": rows,
    }


def build_view(doc: FindingsDocument, options: RenderOptions) -> ReportView:
    summary = summarize(doc.findings, doc.run.rules)
    status_counts = {s.value: summary["by_status"][s.value] for s in SUMMARY_STATUSES}
    failed = {s.value: summary["failed_by_severity"][s.value] for s in SEVERITIES}
    titles = {f.rule_id: f.title for f in doc.findings}
    rules = [
        RuleRow(
            rule_id=rule_id,
            title=titles.get(rule_id, ""),
            counts=counts,
            bar=stacked_bar(counts, [s.value for s in SUMMARY_STATUSES]),
        )
        for rule_id, counts in summary["by_rule"].items()
    ]
    diff = diff_view(diff_documents(options.previous, doc)) if options.previous is not None else None
    problems = sum(status_counts[s] for s in DEFAULT_STATUSES)
    return ReportView(
        title=f"omics-ecr-audit report · run {doc.run.id}",
        run=run_view(doc),
        total=summary["total"],
        status_counts=status_counts,
        status_bar=stacked_bar(status_counts, list(status_counts)),
        failed_by_severity=failed,
        severity_bars=proportional_bars(failed, list(failed), width=SEVERITY_CHART_WIDTH),
        rules=rules,
        coverage=coverage(doc.run.targets, doc.findings),
        acceptances=acceptances(doc.findings),
        diff=diff,
        table=table_data(doc, diff.new_ids if diff else frozenset()),
        evidence=[f.evidence for f in doc.findings],
        failed_runs=[FailedRunRow(run=r, verdict=verdict(r)) for r in doc.failed_runs],
        problems=problems,
        # A report with nothing to fix opens on everything it checked rather than on an empty table.
        default_statuses=DEFAULT_STATUSES if problems else frozenset(s.value for s in Status),
    )


# --- rendering ----------------------------------------------------------------------------


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("auditor.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Compact JSON and document order: the islands are the bulk of a large report. Evidence is JSON-ready
    # almost always (rules dump models in JSON mode); pydantic converts the rest (datetimes, models) on demand.
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "sort_keys": False, "default": to_jsonable_python}
    env.filters["number"] = number
    return env


def number(n: int) -> str:
    """Counts as people read them: 50,000."""
    return f"{n:,}"


@dataclass(frozen=True)
class Asset:
    """A stylesheet or script inlined into the page, with the CSP hash that allows exactly this text."""

    text: str
    csp_hash: str


@functools.cache
def asset(name: str) -> Asset:
    env = environment()
    assert env.loader is not None
    text, _, _ = env.loader.get_source(env, name)
    # Inlined verbatim (it is ours, not data); it must not be able to end its own element early.
    if "</" in text:
        raise ValueError(f"{name} must not contain '</' (it is inlined into a <style>/<script> element)")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Asset(text=text, csp_hash=f"'sha256-{digest}'")


def content_security_policy(style: Asset, script: Asset) -> str:
    """Nothing may load: only this page's own style and script run, and only data: images (the favicon)."""
    return (
        f"default-src 'none'; style-src {style.csp_hash}; script-src {script.csp_hash}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


@report_format("html", suffix=".html", description="self-contained HTML report for people")
def render_html(doc: FindingsDocument, options: RenderOptions) -> str:
    style, script = asset("report.css"), asset("report.js")
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            view=build_view(doc, options),
            style=Markup(style.text),
            script=Markup(script.text),
            csp=content_security_policy(style, script),
            diff_list_limit=DIFF_LIST_LIMIT,
            markers=_CELL_MARKERS,
            severity_chart_width=SEVERITY_CHART_WIDTH,
        )
    )
