"""Scan orchestration: select rules, collect each (account, region) cell, evaluate, build the findings document.

Two entry points share one engine: :func:`scan_live` (the caller's account, given regions) and
:func:`scan_org` (any set of account x region cells, each account entered through a role, see
``auditor.targets``). Cells run in a bounded pool; whatever goes wrong in a cell (the role cannot
be assumed, the region is not enabled, the cell runs out of time, a bug) becomes ERROR findings for
that cell and never stops the others. ``auditor.findings.merge_documents`` joins the documents of
one run scanned in parts (the Step Functions map); the document itself lives in ``auditor.findings``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import botocore.exceptions
import structlog
from pydantic import ValidationError

from auditor import progress
from auditor.aws import ApiCallCounter, CellError, CollectOptions, call_error
from auditor.collect import Collector, read_from_owners
from auditor.config import Config, RoleSettings
from auditor.custom_rules import build_rule
from auditor.engine import RULE_GROUPS, Rule, RuleContext, cell_error_findings, load_builtin_rules, run_rules
from auditor.errors import UsageError
from auditor.facets import expand_facets
from auditor.files import load_data
from auditor.findings import (
    Finding,
    FindingsDocument,
    IncrementalCell,
    RunInfo,
    Severity,
    Status,
    Target,
    build_document,
    compute_coverage,
    sort_findings,
    summarize,
)
from auditor.incremental import Baseline, incremental_cell, mark_carried
from auditor.incremental import Settings as IncrementalSettings
from auditor.models import CallError, Snapshot
from auditor.ratelimit import DeadlineExceeded, RateLimits
from auditor.suppressions import EXPIRED_RULE_ID, Suppression, apply_suppressions
from auditor.targets import Cell, account_session, caller_account, known_regions, partition_of, plan_cells
from auditor.terminal import terminal_text

log = structlog.get_logger("auditor.scan")
INVENTORY_SCHEMA_VERSION = 1


# --- rule selection -------------------------------------------------------------------


def all_rules(config: Config) -> dict[str, Rule]:
    rules = dict(load_builtin_rules())
    for spec in config.custom_rules:
        if spec.id in rules:
            raise UsageError(f"custom rule id {spec.id!r} clashes with a built-in rule")
        rules[spec.id] = build_rule(spec)
    return rules


def select_rules(
    config: Config,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    groups: Sequence[str] = (),
    min_severity: Severity | str | None = None,
) -> list[Rule]:
    """The rules to run: ``include`` (default: all), less ``exclude``, within ``groups`` (default: every group),
    of severity ``min_severity`` or higher (default: any). Selecting nothing is a UsageError: a scan of no
    rule would report a clean account."""
    rules = all_rules(config)
    unknown_groups = sorted(set(groups) - set(RULE_GROUPS))
    if unknown_groups:
        raise UsageError(f"unknown rule group(s): {', '.join(unknown_groups)}; known: {', '.join(RULE_GROUPS)}")
    include = list(include) or config.rules.include
    exclude = list(exclude) + config.rules.exclude
    unknown = [r for r in [*include, *exclude] if r not in rules]
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)} (see `omics-ecr-audit rules`)")
    chosen = [rules[r] for r in include] if include else list(rules.values())
    floor = Severity(min_severity).rank if min_severity else None
    selected = [
        r
        for r in chosen
        if r.meta.id not in exclude
        and (not groups or r.meta.group in groups)
        and (floor is None or r.meta.severity.rank >= floor)
    ]
    if not selected and chosen and (groups or floor is not None):
        asked = [f"group {g}" for g in groups]
        if min_severity:
            asked.append(f"severity {Severity(min_severity).value} or higher")
        raise UsageError(f"no rule is selected by {', '.join(asked)} (see `omics-ecr-audit rules`)")
    return selected


def rule_context(config: Config, now: datetime | None = None) -> RuleContext:
    return RuleContext(
        required_upstreams=config.required_upstreams,
        service_roles=config.service_roles,
        run_lookback_days=config.run_lookback_days,
        image_tags_per_repository=config.image_tags_per_repository,
        max_image_size_bytes=config.max_image_size_bytes,
        max_gpu_image_size_bytes=config.max_gpu_image_size_bytes,
        now=now or datetime.now(UTC),
    )


# --- inventory files --------------------------------------------------------------------


def save_inventory(snapshots: Iterable[Snapshot], path: str | Path) -> None:
    doc = {"schema_version": INVENTORY_SCHEMA_VERSION, "snapshots": [s.model_dump(mode="json") for s in snapshots]}
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")


def load_inventory(path: str | Path) -> list[Snapshot]:
    p = Path(path)
    data = load_data(p, "inventory", error=UsageError, yaml_ok=False, small=False)
    if isinstance(data, dict) and "snapshots" in data:
        if data.get("schema_version") != INVENTORY_SCHEMA_VERSION:
            raise UsageError(
                f"{p}: inventory schema_version {data.get('schema_version')!r} is not supported "
                f"(expected {INVENTORY_SCHEMA_VERSION})"
            )
        items = data["snapshots"]
    elif isinstance(data, dict):
        items = [data]
    else:
        raise UsageError(f"{p}: an inventory is an object with a 'snapshots' list")
    out = []
    for index, item in enumerate(items):
        try:
            out.append(Snapshot.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise UsageError(
                f"{p}: snapshot {index} is malformed at {where}: {first['msg']} ({exc.error_count()} problem(s))"
            ) from None
    return out


# --- live scanning ----------------------------------------------------------------------


def facets_for(rules: Iterable[Rule]) -> set[str]:
    return expand_facets({f for r in rules for f in r.meta.facets})


def collect_cell(
    session: boto3.Session,
    region: str,
    facets: set[str],
    options: CollectOptions,
    counter: ApiCallCounter,
    account_id: str | None = None,
    baseline: Baseline | None = None,
) -> tuple[Snapshot | None, CallError | None]:
    """Collect one cell; a failure that stops the whole cell (no credentials, region off) is returned, not raised.

    ``baseline``: the previous inventory of an incremental scan (``auditor.incremental``)."""
    try:
        collector = Collector(session, region, facets, options, counter, account_id=account_id, baseline=baseline)
        return collector.collect(), None
    except CellError as exc:  # a call showed that nothing in the cell can be read (region off, token invalid)
        log.error("cell_failed", region=region, code=exc.error.code, operation=exc.error.operation)
        return None, exc.error
    except DeadlineExceeded:
        error = CallError(
            operation="scan:cell",
            code="CellTimeout",
            message="the cell ran past its time budget (concurrency.cell_timeout_seconds); its reads stopped "
            "part-way, so no result of the cell is reported",
            resource=f"region/{region}",
        )
        log.error("cell_failed", region=region, code=error.code)
        return None, error
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # Name what actually failed. Every other call goes through aws.attempt(), so a ClientError
        # reaching here comes from the STS account lookup; credential errors belong to no operation.
        operation = getattr(exc, "operation_name", None)
        label = f"sts:{operation}" if operation else "credentials"
        error = call_error(exc, label, f"region/{region}")
        log.error("cell_failed", region=region, code=error.code)
        return None, error


def evaluate(snapshots: Iterable[Snapshot], rules: Sequence[Rule], ctx: RuleContext) -> list[Finding]:
    findings: list[Finding] = []
    for snap in snapshots:
        findings.extend(run_rules(snap, rules, ctx))
    return findings


def suppress(doc: FindingsDocument, suppressions: list[Suppression], today: date | None = None) -> FindingsDocument:
    """A new document with accepted risks MUTED and expired suppressions reported (see auditor.suppressions).

    Meant for a document fresh from a scan; ``today`` defaults to the UTC date. The run, targets and API call
    counts are kept; findings are re-sorted and the summary is rebuilt.
    """
    today = today or datetime.now(UTC).date()
    findings = [f for f in doc.findings if f.rule_id != EXPIRED_RULE_ID]  # never report an expiry twice
    findings = sort_findings(apply_suppressions(findings, suppressions, today), doc.run.rules)
    return doc.model_copy(
        update={
            "findings": findings,
            "summary": summarize(findings, doc.run.rules),
            "coverage": compute_coverage(doc.run, findings),  # MUTED moves counts between columns
        }
    )


def collect_options(
    config: Config, endpoint_url: str | None = None, digest_cache: Path | None = None
) -> CollectOptions:
    """What every cell of a scan collects with: the config, and the digest cache folder (None: off)."""
    return CollectOptions(
        run_lookback_days=config.run_lookback_days,
        image_tags_per_repository=config.image_tags_per_repository,
        service_roles=config.service_roles,
        max_workers=config.workers_per_cell,
        endpoint_url=endpoint_url,
        rate_limits=RateLimits(config.concurrency.rate_limits),
        digest_cache=digest_cache,
        vulnerabilities=config.vulnerabilities,
    )


SessionFor = Callable[[], tuple[boto3.Session | None, CallError | None]]


@dataclass(frozen=True)
class _CellJob:
    region: str
    session: SessionFor  # the session for the cell's account, or why there is none
    account: str | None = None  # the target account; None: whichever account the credentials reach
    verify: bool = False  # ask STS in the cell's region who the credentials are (and that it is ``account``)


@dataclass
class _CellOutcome:
    account: str
    region: str
    snapshot: Snapshot | None
    error: CallError | None
    api_calls: dict[str, int]


def _run_cell(
    job: _CellJob,
    facets: set[str],
    options: CollectOptions,
    timeout: float | None,
    baseline: Baseline | None = None,
    reporter: progress.Reporter = progress.SILENT,
) -> _CellOutcome:
    """One cell, start to end; never raises (a failure is the cell's ERROR, never the other cells')."""
    counter = ApiCallCounter()
    handle = reporter.cell_started(f"{job.account}/{job.region}" if job.account else job.region, counter)
    outcome: _CellOutcome | None = None
    try:
        outcome = _collect_one(job, facets, options, timeout, baseline, counter)
        return outcome
    finally:
        reporter.cell_finished(handle, outcome is not None and outcome.snapshot is not None)


def _collect_one(
    job: _CellJob,
    facets: set[str],
    options: CollectOptions,
    timeout: float | None,
    baseline: Baseline | None,
    counter: ApiCallCounter,
) -> _CellOutcome:
    account = job.account or "unknown"
    try:
        session, error = job.session()
        if session is None:
            return _CellOutcome(account, job.region, None, error, {})
        if timeout is not None:  # the budget starts once the account is entered
            clock = options.rate_limits.clock if options.rate_limits is not None else time.monotonic
            options = replace(options, deadline=clock() + timeout)
        # Verifying makes the cell's first call STS GetCallerIdentity in the cell's region: a region that
        # is not enabled for the account fails there, and credentials that reach the wrong account are caught.
        snap, error = collect_cell(
            session, job.region, facets, options, counter, None if job.verify else job.account, baseline
        )
        if snap is not None and job.account is not None and snap.account_id != job.account:
            error = CallError(
                operation="sts:GetCallerIdentity",
                code="WrongAccount",
                message=f"the credentials for account {job.account} reach account {snap.account_id}",
                resource=f"region/{job.region}",
            )
            snap = None
    except Exception as exc:  # a bug must cost one cell, not the run
        log.exception("cell_crashed", account=account, region=job.region)
        snap, error = None, CallError(operation="scan:cell", code=type(exc).__name__, message=str(exc)[:500])
    if snap is not None:
        account = snap.account_id
    return _CellOutcome(account, job.region, snap, error, counter.snapshot())


def _scan_cells(
    config: Config,
    rules: Sequence[Rule],
    jobs: Sequence[_CellJob],
    *,
    endpoint_url: str | None,
    mode: str,
    run_id: str | None = None,
    save_to: str | Path | None = None,
    keep_snapshots: list[Snapshot] | None = None,
    extra_calls: ApiCallCounter | None = None,
    digest_cache: Path | None = None,
    since: Sequence[Snapshot] | None = None,
    incremental_settings: IncrementalSettings | None = None,
) -> FindingsDocument:
    """Collect every cell in a bounded pool, judge the snapshots, build the document.

    ``since``: the previous inventory; the scan is then incremental (``auditor.incremental``)."""
    run = RunInfo(
        id=run_id or str(uuid.uuid4()),
        started=datetime.now(UTC),
        mode=mode,
        rules=[r.meta.id for r in rules],
        severity_threshold=config.severity_threshold,
    )
    options = collect_options(config, endpoint_url, digest_cache)
    facets = facets_for(rules)
    timeout = config.concurrency.cell_timeout_seconds
    workers = max(1, min(config.concurrency.max_cells, len(jobs)))
    baseline = Baseline(since, now=options.now, settings=incremental_settings) if since is not None else None
    reporter = progress.current()
    reporter.cells_planned(len(jobs))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cell") as pool:
        outcomes = list(pool.map(lambda job: _run_cell(job, facets, options, timeout, baseline, reporter), jobs))
    ctx = rule_context(config, options.now)
    snapshots: list[Snapshot] = []
    findings: list[Finding] = []
    api_calls: Counter[str] = Counter(extra_calls.snapshot() if extra_calls else {})
    _read_sources_from_owners(jobs, outcomes, options, api_calls)
    for outcome in outcomes:
        api_calls.update(outcome.api_calls)
        if outcome.snapshot is None:
            assert outcome.error is not None
            run.targets.append(
                Target(account=outcome.account, region=outcome.region, status="error", error=outcome.error)
            )
            findings.extend(cell_error_findings(rules, outcome.account, outcome.region, outcome.error))
            continue
        snapshots.append(outcome.snapshot)
        run.targets.append(Target(account=outcome.account, region=outcome.region, status="scanned"))
        findings.extend(run_rules(outcome.snapshot, rules, ctx))
    if baseline is not None:
        mark_carried(findings, snapshots)
        run.incremental = [incremental_cell(s) for s in snapshots if s.incremental is not None]
    if save_to:
        save_inventory(snapshots, save_to)
    if keep_snapshots is not None:
        keep_snapshots.extend(snapshots)
    doc = build_document(run, findings, dict(sorted(api_calls.items())))
    return _with_failed_runs(doc, snapshots)


def _read_sources_from_owners(
    jobs: Sequence[_CellJob], outcomes: Sequence[_CellOutcome], options: CollectOptions, api_calls: Counter[str]
) -> None:
    """Cross-account sources whose owner is scanned in this run are read with the owner's credentials."""
    scanned = {(o.account, o.region): job for job, o in zip(jobs, outcomes, strict=True) if o.snapshot is not None}

    def session_for(account: str, region: str) -> boto3.Session | None:
        job = scanned.get((account, region))
        return job.session()[0] if job is not None else None

    snapshots = [o.snapshot for o in outcomes if o.snapshot is not None and o.snapshot.foreign_repository_policies]
    if not snapshots:
        return
    counter = ApiCallCounter()
    read_from_owners(snapshots, session_for, options, counter)
    api_calls.update(counter.snapshot())


def _check_regions(session: boto3.Session, regions: Iterable[str]) -> None:
    unknown = sorted(set(regions) - known_regions(session))
    if unknown:
        raise UsageError(f"not AWS regions with ECR: {', '.join(unknown)}")


def scan_live(
    config: Config,
    rules: Sequence[Rule],
    *,
    session: boto3.Session,
    regions: Sequence[str],
    endpoint_url: str | None = None,
    account_id: str | None = None,
    save_to: str | Path | None = None,
    mode: str = "live",
    keep_snapshots: list[Snapshot] | None = None,
    digest_cache: Path | None = None,
    since: Sequence[Snapshot] | None = None,
    incremental_settings: IncrementalSettings | None = None,
) -> FindingsDocument:
    """The caller's account, region by region, with the session's credentials (``config.targets`` is not read).

    ``account_id`` spares each cell its STS lookup; ``keep_snapshots`` receives the snapshots (the fixer
    plans from them); ``digest_cache`` is the folder of image platforms by digest kept across scans;
    ``since`` the previous inventory of an incremental scan, trusted as ``incremental_settings`` say.
    """
    regions = list(regions) or [session.region_name or "us-east-1"]
    _check_regions(session, regions)
    jobs = [_CellJob(region=r, session=lambda: (session, None), account=account_id) for r in regions]
    return _scan_cells(
        config,
        rules,
        jobs,
        endpoint_url=endpoint_url,
        mode=mode,
        save_to=save_to,
        keep_snapshots=keep_snapshots,
        digest_cache=digest_cache,
        since=since,
        incremental_settings=incremental_settings,
    )


class _AccountSessions:
    """One session per account, opened once however many of the account's cells run, and in parallel
    for different accounts. A role that cannot be assumed is tried once; every cell of the account
    gets the same error."""

    def __init__(
        self, base: boto3.Session, role: RoleSettings, endpoint_url: str | None, counter: ApiCallCounter
    ) -> None:
        self._base = base
        self._role = role
        self._endpoint_url = endpoint_url
        self._counter = counter
        self._lock = threading.Lock()
        self._opened: dict[str, Future[tuple[boto3.Session | None, CallError | None]]] = {}
        self._caller: Future[str | None] | None = None

    def caller(self) -> str | None:
        """The caller's own account (once); None when STS cannot say, and then every account goes through the role."""
        with self._lock:
            owner = self._caller is None
            if owner:
                self._caller = Future()
            pending = self._caller
        assert pending is not None
        if owner:
            try:
                pending.set_result(caller_account(self._base, endpoint_url=self._endpoint_url, counter=self._counter))
            except Exception as exc:
                log.warning("caller_identity_failed", error=type(exc).__name__)
                pending.set_result(None)
        return pending.result()

    def get(self, account: str) -> tuple[boto3.Session | None, CallError | None]:
        with self._lock:
            pending = self._opened.get(account)
            owner = pending is None
            if owner:
                pending = self._opened[account] = Future()
        assert pending is not None
        if owner:
            try:
                opened = self._open(account)
            except Exception as exc:  # never leave the account's other cells waiting on a crash
                log.exception("account_open_crashed", account=account)
                opened = None, CallError(operation="sts:AssumeRole", code=type(exc).__name__, message=str(exc)[:500])
            pending.set_result(opened)
        return pending.result()

    def _open(self, account: str) -> tuple[boto3.Session | None, CallError | None]:
        if self._role.use_caller_credentials_for_own_account and self.caller() == account:
            return self._base, None
        role_arn = self._role.arn(account, partition_of(self._base))
        try:
            opened = account_session(
                self._base, account, self._role, endpoint_url=self._endpoint_url, counter=self._counter
            )
            return opened, None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            operation = getattr(exc, "operation_name", None)
            error = call_error(exc, f"sts:{operation}" if operation else "credentials", role_arn)
            log.error("account_unreachable", account=account, role=role_arn, code=error.code)
            return None, error


def scan_org(
    config: Config,
    rules: Sequence[Rule],
    *,
    session: boto3.Session,
    cells: Sequence[Cell] | None = None,
    endpoint_url: str | None = None,
    mode: str = "live",
    keep_snapshots: list[Snapshot] | None = None,
    run_id: str | None = None,
    save_to: str | Path | None = None,
    digest_cache: Path | None = None,
    since: Sequence[Snapshot] | None = None,
    incremental_settings: IncrementalSettings | None = None,
) -> FindingsDocument:
    """Scan account x region cells: ``cells``, or every cell ``targets.plan_cells`` finds for the config.

    Each account is entered through ``config.targets.role`` (assumed once per account, refreshed on long
    runs); the caller's own account with the caller's credentials when the role settings allow it. A
    Step Functions map passes a few cells per invocation and the same ``run_id`` to each, then joins the
    parts with ``auditor.findings.merge_documents``. Without ``targets`` this is a scan of the caller's account.
    """
    calls = ApiCallCounter()  # discovery, caller identity and AssumeRole: part of the run's cost too
    if cells is None:
        cells = plan_cells(config, session, endpoint_url=endpoint_url, counter=calls)
    cells = list(dict.fromkeys(cells))
    _check_regions(session, {c.region for c in cells})
    role = config.targets.role if config.targets is not None else RoleSettings()
    sessions = _AccountSessions(session, role, endpoint_url, calls)

    def session_of(account: str) -> SessionFor:
        return lambda: sessions.get(account)

    jobs = [_CellJob(region=c.region, session=session_of(c.account), account=c.account, verify=True) for c in cells]
    log.info("scan_org_start", cells=len(jobs), accounts=len({c.account for c in cells}))
    return _scan_cells(
        config,
        rules,
        jobs,
        endpoint_url=endpoint_url,
        mode=mode,
        run_id=run_id,
        save_to=save_to,
        keep_snapshots=keep_snapshots,
        extra_calls=calls,
        digest_cache=digest_cache,
        since=since,
        incremental_settings=incremental_settings,
    )


def scan_inventory(config: Config, rules: Sequence[Rule], path: str | Path) -> FindingsDocument:
    snapshots = load_inventory(path)
    run = RunInfo(
        id=str(uuid.uuid4()),
        started=datetime.now(UTC),
        mode="inventory",
        rules=[r.meta.id for r in rules],
        severity_threshold=config.severity_threshold,
    )
    ctx = rule_context(config, max((s.collected_at for s in snapshots), default=None))
    run.targets = [Target(account=s.account_id, region=s.region, status="offline") for s in snapshots]
    missing = facets_for(rules) - {f for s in snapshots for f in s.facets}
    if missing and snapshots:
        log.warning("inventory_missing_facets", facets=sorted(missing))
    api_calls: Counter[str] = Counter()
    for s in snapshots:
        api_calls.update(s.api_calls)
    doc = build_document(run, evaluate(snapshots, rules, ctx), dict(sorted(api_calls.items())))
    return _with_failed_runs(doc, snapshots)


def _with_failed_runs(doc: FindingsDocument, snapshots: Iterable[Snapshot]) -> FindingsDocument:
    """The document with its ``failed_runs`` section: the FAILED runs collected, explained by its findings."""
    from auditor.run_failures import explain_failed_runs

    doc.failed_runs = explain_failed_runs(snapshots, doc.findings)
    return doc


# --- outputs --------------------------------------------------------------------------


_LISTED_TARGETS = 6  # beyond this many cells the terminal gets counts, and the cells that failed by name


def _targets_line(targets: Sequence[Target]) -> str:
    if len(targets) <= _LISTED_TARGETS:
        return "targets: " + ", ".join(f"{t.account}/{t.region} ({t.status})" for t in targets)
    by_status = Counter(t.status for t in targets)
    accounts, regions = len({t.account for t in targets}), len({t.region for t in targets})
    counts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    failed = [f"{t.account}/{t.region}" for t in targets if t.status == "error"]
    line = f"targets: {len(targets)} cells ({accounts} accounts x {regions} regions): {counts}"
    return line + (f"; could not scan: {', '.join(failed)}" if failed else "")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing"


def _incremental_lines(cells: Sequence[IncrementalCell]) -> list[str]:
    """What an incremental scan trusted: carried data, re-reads, the event window, cells read in full."""
    carried: Counter[str] = Counter()
    reread: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for cell in cells:
        carried.update(cell.carried)
        reread.update(cell.reread)
        events.update(cell.events)
    partial = [c for c in cells if not c.full]
    lines = []
    if partial:
        since = min(c.previous_scan for c in partial if c.previous_scan is not None)
        full = min(c.last_full_scan for c in partial)
        lines.append(
            f"incremental: changes since {since:%Y-%m-%d %H:%M} UTC (CloudTrail: {sum(events.values())} event(s)); "
            f"last full scan {full:%Y-%m-%d %H:%M} UTC"
        )
        lines.append(f"  carried from the previous inventory: {_counts(dict(carried))}")
        lines.append(f"  re-read because an event named them: {_counts(dict(reread))}")
    for c in cells:
        if c.full or c.fallback:
            lines.append(f"  {c.account}/{c.region}: {'read in full: ' if c.full else ''}{c.fallback}")
    return lines


def _problem_lines(doc: FindingsDocument) -> list[str]:
    lines = []
    for f in doc.findings:
        if f.status in (Status.FAIL, Status.ERROR):
            lines.append(
                f"[{f.status.value:<5}] {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}"
            )
            lines.append(f"        {f.message}")
    return lines


def render_problems(doc: FindingsDocument) -> str:
    """Only what failed (``--quiet``): each FAIL and ERROR finding, two lines each; empty when there is none."""
    return terminal_text(_problem_lines(doc))


def render_summary(doc: FindingsDocument) -> str:
    """A readable summary for the terminal: per rule, per cell, then every FAIL and ERROR, then every MUTED."""
    lines = []
    s = doc.summary["by_status"]
    lines.append(f"omics-ecr-audit {doc.run.tool_version} · run {doc.run.id} · {doc.run.mode}")
    lines.append(_targets_line(doc.run.targets))
    if doc.run.incremental is not None:
        lines.extend(_incremental_lines(doc.run.incremental))
    lines.append(
        f"findings: {doc.summary['total']}  PASS {s['PASS']}  FAIL {s['FAIL']}  MUTED {s.get('MUTED', 0)}  "
        f"ERROR {s['ERROR']}  N/A {s['NOT_APPLICABLE']}"
    )
    lines.append("")
    width = max((len(r) for r in doc.summary["by_rule"]), default=10)
    lines.append(f"{'rule'.ljust(width)}  PASS  FAIL  MUTED  ERROR  N/A")
    for rule_id, counts in doc.summary["by_rule"].items():
        lines.append(
            f"{rule_id.ljust(width)}  {counts.get('PASS', 0):>4}  {counts.get('FAIL', 0):>4}  "
            f"{counts.get('MUTED', 0):>5}  {counts.get('ERROR', 0):>5}  {counts.get('NOT_APPLICABLE', 0):>3}"
        )
    problems = _problem_lines(doc)
    if problems:
        lines.append("")
        lines.extend(problems)
    muted = [f for f in doc.findings if f.status == Status.MUTED]
    if muted:
        lines.append("")
        for f in muted:
            record = f.evidence.get("suppression") or {}
            until = f"until {record['expires']}" if record.get("expires") else "with no expiry"
            lines.append(
                f"[{f.status.value:<5}] {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}"
            )
            lines.append(f"        {f.message}")
            lines.append(
                f"        accepted by {record.get('owner', '?')} {until} "
                f"(was {record.get('original_status', '?')}): {record.get('reason', '?')}"
            )
    if doc.failed_runs:
        from auditor.run_failures import summary_lines

        lines.append("")
        lines.extend(summary_lines(doc.failed_runs))
    calls = sum(doc.api_calls.values())
    lines.append("")
    lines.append(f"API calls: {calls} ({len(doc.api_calls)} operations)")
    # Resources, messages, accounts and suppression reasons come from AWS and files: one line each, escaped.
    return terminal_text(lines)
