"""``omics-ecr-audit fix``: scan (or read a findings file), plan, and on request apply, verify and report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import boto3
from pydantic import BaseModel, Field

from auditor.config import Config
from auditor.engine import Rule, Status
from auditor.files import load_model
from auditor.fix import (
    NOT_JUDGED,
    ApplyReport,
    Clients,
    FixRefused,
    Plan,
    Verification,
    apply_plan,
    build_plan,
    load_fixers,
    verify,
)
from auditor.models import Snapshot
from auditor.scan import FindingsDocument, UsageError, rule_context, scan_live, select_rules
from auditor.suppressions import Suppression

EXIT_DONE, EXIT_PENDING, EXIT_REFUSED, EXIT_PARTIAL = 0, 1, 2, 4


class FixReport(BaseModel):
    """What ``fix --apply`` did: per change, then per finding after a fresh scan."""

    plan_id: str
    applied: ApplyReport | None = None
    verification: list[Verification] = Field(default_factory=list)
    rollback: str | None = None  # the command that undoes this fix
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))


def load_findings(path: str | Path) -> FindingsDocument:
    return load_model(path, FindingsDocument, "findings document", UsageError)


def fixable_rules(rules: Sequence[Rule]) -> list[Rule]:
    fixers = load_fixers()
    return [r for r in rules if r.meta.id in fixers]


def plan_live(
    config: Config,
    rules: Sequence[Rule],
    *,
    session: boto3.Session,
    clients: Clients,
    regions: Sequence[str],
    endpoint_url: str | None = None,
    account_id: str | None = None,
    findings_file: str | None = None,
    suppressions: Sequence[Suppression] = (),
    out_dir: Path | None = None,
    mode: str = "live",
) -> tuple[Plan, FindingsDocument]:
    """Scan the cells (read-only), then plan fixes for their FAIL findings."""
    only: set[str] | None = None
    muted: dict[str, dict] = {}
    source = "live scan"
    if findings_file:
        given = load_findings(findings_file)
        only = {f.id for f in given.findings if f.status in (Status.FAIL, Status.MUTED)}
        muted = {f.id: f.evidence.get("suppression") or {} for f in given.findings if f.status == Status.MUTED}
        regions = list(regions) or sorted({f.region for f in given.findings if f.region != "*"})
        source = f"findings file {findings_file} (run {given.run.id})"
    # Follow-on fixes of a new cache rule are planned by rules that may not be selected: scan them too.
    scanned = list(rules)
    if any(r.meta.id == "ptc-rule-coverage" for r in rules):
        have = {r.meta.id for r in scanned}
        scanned += [r for r in fixable_rules(select_rules(Config())) if r.meta.id not in have]
    snapshots: list[Snapshot] = []
    doc = scan_live(
        config,
        scanned,
        session=session,
        regions=regions,
        endpoint_url=endpoint_url,
        account_id=account_id,
        mode=mode,
        keep_snapshots=snapshots,
    )
    if only is not None:
        accounts = {f.account for f in doc.findings}
        wanted = {f.account for f in given.findings} - {"*", "unknown"}
        if wanted and not wanted & accounts:
            raise UsageError(
                f"{findings_file} is about account(s) {', '.join(sorted(wanted))}, but the credentials reach "
                f"{', '.join(sorted(accounts)) or 'no account'}"
            )
    selected = {r.meta.id for r in rules}
    plan = build_plan(
        snapshots,
        doc.findings,
        sorted(selected),
        rule_context(config),
        clients,
        source=f"{source}; scan {doc.run.id}",
        only_finding_ids=only,
        muted=muted,
        suppressions=suppressions,
        out_dir=out_dir,
    )
    return plan, doc


def apply_and_verify(
    plan: Plan,
    config: Config,
    *,
    session: boto3.Session,
    clients: Clients,
    backup_to: str,
    max_changes: int | None,
    endpoint_url: str | None = None,
    account_id: str | None = None,
    mode: str = "live",
) -> tuple[FixReport, FindingsDocument | None]:
    """Apply the plan, then re-scan the cells it touched with every rule that has a fixer."""
    report = FixReport(plan_id=plan.id)
    report.applied = apply_plan(plan, clients, backup_to=backup_to, max_changes=max_changes)
    if report.applied.backup:
        report.rollback = f"omics-ecr-audit rollback {report.applied.backup}"
    regions = sorted({c.region for c in plan.changes})
    if not regions:
        return report, None
    rules = fixable_rules(select_rules(Config()))
    after = scan_live(
        config, rules, session=session, regions=regions, endpoint_url=endpoint_url, account_id=account_id, mode=mode
    )
    report.verification = verify(plan, after.findings)
    return report, after


def fix_exit_code(plan: Plan, report: FixReport | None) -> int:
    """0 nothing left to do; 1 something remains (changes pending or blocked, a fix refused or not verified,
    steps for a person); 4 apply stopped part-way (the backup restores it)."""
    if report is not None and report.applied is not None and report.applied.error:
        return EXIT_PARTIAL
    if plan.refused or plan.manual:
        return EXIT_PENDING
    if report is None:
        return EXIT_PENDING if plan.changes else EXIT_DONE
    assert report.applied is not None
    if any(o.outcome == "blocked" for o in report.applied.outcomes):
        return EXIT_PENDING
    if any(v.after not in ("PASS", NOT_JUDGED) for v in report.verification):
        return EXIT_PENDING
    return EXIT_DONE


def render_report(report: FixReport) -> str:
    lines = []
    if report.applied:
        a = report.applied
        lines.append(f"apply: {a.write_calls} write call(s); backup: {a.backup or 'none needed'}")
        for o in a.outcomes:
            lines.append(f"  {o.outcome:<15} {o.rule_id}  {o.target}" + (f"  ({o.detail})" if o.detail else ""))
        if a.error:
            lines.append(f"STOPPED: {a.error}")
    if report.verification:
        lines.append("verify (fresh scan):")
        for v in report.verification:
            lines.append(f"  {v.before} -> {v.after:<5} {v.rule_id}  {v.resource}")
    if report.rollback:
        lines.append(f"undo with: {report.rollback}")
    return "\n".join(lines)


__all__ = [
    "EXIT_DONE",
    "EXIT_PARTIAL",
    "EXIT_PENDING",
    "EXIT_REFUSED",
    "FixRefused",
    "FixReport",
    "apply_and_verify",
    "fix_exit_code",
    "load_findings",
    "plan_live",
    "render_report",
]
