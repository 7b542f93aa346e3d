"""Scan orchestration: select rules, collect each (account, region) cell, evaluate, build the findings document."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import structlog
from pydantic import BaseModel, Field, ValidationError

from auditor import __version__
from auditor.collect import ApiCallCounter, CollectOptions, Collector, call_error, expand_facets
from auditor.config import Config
from auditor.custom_rules import build_rule
from auditor.engine import (
    Finding,
    Rule,
    RuleContext,
    Severity,
    Status,
    cell_error_findings,
    load_builtin_rules,
    run_rules,
)
from auditor.models import CallError, Snapshot
from auditor.suppressions import EXPIRED_RULE_ID, Suppression, apply_suppressions

log = structlog.get_logger("auditor.scan")
SCHEMA_VERSION = "1.0"
INVENTORY_SCHEMA_VERSION = 1


class UsageError(Exception):
    """Bad input from the user (unknown rule, unreadable inventory...): exit code 2."""


class Target(BaseModel):
    account: str
    region: str
    status: str  # "scanned" | "error" | "offline"
    error: CallError | None = None


class RunInfo(BaseModel):
    id: str
    started: datetime
    finished: datetime | None = None
    tool_version: str = __version__
    mode: str = "live"  # live | inventory | demo
    targets: list[Target] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    severity_threshold: Severity = Severity.LOW


class FindingsDocument(BaseModel):
    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    summary: dict[str, Any] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    api_calls: dict[str, int] = Field(default_factory=dict)


# --- rule selection -------------------------------------------------------------------


def all_rules(config: Config) -> dict[str, Rule]:
    rules = dict(load_builtin_rules())
    for spec in config.custom_rules:
        if spec.id in rules:
            raise UsageError(f"custom rule id {spec.id!r} clashes with a built-in rule")
        rules[spec.id] = build_rule(spec)
    return rules


def select_rules(config: Config, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Rule]:
    rules = all_rules(config)
    include = list(include) or config.rules.include
    exclude = list(exclude) + config.rules.exclude
    unknown = [r for r in [*include, *exclude] if r not in rules]
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)} (see `omics-ecr-audit rules`)")
    chosen = [rules[r] for r in include] if include else list(rules.values())
    return [r for r in chosen if r.meta.id not in exclude]


def rule_context(config: Config, now: datetime | None = None) -> RuleContext:
    return RuleContext(
        required_upstreams=config.required_upstreams,
        service_roles=config.service_roles,
        run_lookback_days=config.run_lookback_days,
        image_tags_per_repository=config.image_tags_per_repository,
        now=now or datetime.now(UTC),
    )


# --- inventory files --------------------------------------------------------------------


def save_inventory(snapshots: Iterable[Snapshot], path: str | Path) -> None:
    doc = {"schema_version": INVENTORY_SCHEMA_VERSION, "snapshots": [s.model_dump(mode="json") for s in snapshots]}
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")


def load_inventory(path: str | Path) -> list[Snapshot]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{p}: cannot read inventory: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
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


def _partition_regions(session: boto3.Session) -> list[str]:
    """Regions of the other partitions (China, GovCloud), which get_available_regions lists separately."""
    return [
        r for p in session.get_available_partitions() if p != "aws" for r in session.get_available_regions("ecr", p)
    ]


def collect_cell(
    session: boto3.Session,
    region: str,
    facets: set[str],
    options: CollectOptions,
    counter: ApiCallCounter,
    account_id: str | None = None,
) -> tuple[Snapshot | None, CallError | None]:
    """Collect one cell; a failure that stops the whole cell (no credentials, region off) is returned, not raised."""
    try:
        collector = Collector(session, region, facets, options, counter, account_id=account_id)
        return collector.collect(), None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # Name what actually failed. Every other call goes through collect.attempt(), so a ClientError
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


def build_document(run: RunInfo, findings: list[Finding], api_calls: dict[str, int]) -> FindingsDocument:
    run.finished = datetime.now(UTC)
    findings = sort_findings(findings, run.rules)
    return FindingsDocument(run=run, summary=summarize(findings, run.rules), findings=findings, api_calls=api_calls)


def suppress(doc: FindingsDocument, suppressions: list[Suppression], today: date | None = None) -> FindingsDocument:
    """A new document with accepted risks MUTED and expired suppressions reported (see auditor.suppressions).

    Meant for a document fresh from a scan; ``today`` defaults to the UTC date. The run, targets and API call
    counts are kept; findings are re-sorted and the summary is rebuilt.
    """
    today = today or datetime.now(UTC).date()
    findings = [f for f in doc.findings if f.rule_id != EXPIRED_RULE_ID]  # never report an expiry twice
    findings = sort_findings(apply_suppressions(findings, suppressions, today), doc.run.rules)
    return doc.model_copy(update={"findings": findings, "summary": summarize(findings, doc.run.rules)})


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
) -> FindingsDocument:
    """Collect and judge every region; ``keep_snapshots`` receives the snapshots (the fixer plans from them)."""
    run = RunInfo(
        id=str(uuid.uuid4()),
        started=datetime.now(UTC),
        mode=mode,
        rules=[r.meta.id for r in rules],
        severity_threshold=config.severity_threshold,
    )
    counter = ApiCallCounter()
    options = CollectOptions(
        run_lookback_days=config.run_lookback_days,
        image_tags_per_repository=config.image_tags_per_repository,
        service_roles=config.service_roles,
        max_workers=config.max_workers,
        endpoint_url=endpoint_url,
    )
    facets = facets_for(rules)
    regions = list(regions) or [session.region_name or "us-east-1"]
    unknown = sorted(set(regions) - set(session.get_available_regions("ecr")) - set(_partition_regions(session)))
    if unknown:
        raise UsageError(f"not AWS regions with ECR: {', '.join(unknown)}")
    with ThreadPoolExecutor(max_workers=min(4, len(regions)), thread_name_prefix="cell") as pool:
        results = list(pool.map(lambda r: collect_cell(session, r, facets, options, counter, account_id), regions))
    ctx = rule_context(config, options.now)
    snapshots, findings = [], []
    for region, (snap, error) in zip(regions, results, strict=True):
        if snap is None:
            assert error is not None
            acct = account_id or "unknown"
            run.targets.append(Target(account=acct, region=region, status="error", error=error))
            findings.extend(cell_error_findings(rules, acct, region, error))
            continue
        snapshots.append(snap)
        run.targets.append(Target(account=snap.account_id, region=region, status="scanned"))
        findings.extend(run_rules(snap, rules, ctx))
    if save_to:
        save_inventory(snapshots, save_to)
    if keep_snapshots is not None:
        keep_snapshots.extend(snapshots)
    return build_document(run, findings, counter.snapshot())


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
    return build_document(run, evaluate(snapshots, rules, ctx), dict(sorted(api_calls.items())))


# --- outputs --------------------------------------------------------------------------


def exit_code(doc: FindingsDocument, threshold: Severity) -> int:
    """0 clean, 1 FAIL at or above threshold, 3 audit incomplete (any ERROR wins: the audit cannot vouch).

    MUTED findings (accepted risks, even former ERRORs) never count.
    """
    if any(f.status == Status.ERROR for f in doc.findings):
        return 3
    if any(f.status == Status.FAIL and f.severity.rank >= threshold.rank for f in doc.findings):
        return 1
    return 0


def write_findings(doc: FindingsDocument, out_dir: str | Path, name: str = "findings.json") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    return path


def render_summary(doc: FindingsDocument) -> str:
    """A readable summary for the terminal: per rule, per cell, then every FAIL and ERROR, then every MUTED."""
    lines = []
    s = doc.summary["by_status"]
    lines.append(f"omics-ecr-audit {doc.run.tool_version} · run {doc.run.id} · {doc.run.mode}")
    lines.append("targets: " + ", ".join(f"{t.account}/{t.region} ({t.status})" for t in doc.run.targets))
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
    problems = [f for f in doc.findings if f.status in (Status.FAIL, Status.ERROR)]
    if problems:
        lines.append("")
        for f in problems:
            lines.append(
                f"[{f.status.value:<5}] {f.severity.value:<8} {f.rule_id}  {f.account}/{f.region}  {f.resource}"
            )
            lines.append(f"        {f.message}")
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
    calls = sum(doc.api_calls.values())
    lines.append("")
    lines.append(f"API calls: {calls} ({len(doc.api_calls)} operations)")
    return "\n".join(lines)
