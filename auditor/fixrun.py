"""``omics-ecr-audit fix``: scan (or read a findings file), plan, and on request apply, verify and report.

A saved plan (``fix --apply --plan``) is re-derived before anything is written: :func:`replan` scans the
plan's regions and plans its findings again, and ``apply_plan`` refuses any change still to write that
the fixers do not plan now. A scan with any ERROR (a cell or a resource that could not be read) makes
the exit code 3, whatever else happened: nothing can be vouched for about what was not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from pydantic import BaseModel, Field

from auditor.config import Config
from auditor.engine import Rule
from auditor.errors import ExitCode, FixRefused, UsageError
from auditor.findings import FindingsDocument, Status, load_findings
from auditor.fix import (
    NOT_JUDGED,
    ApplyReport,
    Clients,
    Plan,
    Verification,
    apply_plan,
    build_plan,
    check_account,
    check_calls,
    load_fixers,
    verify,
)
from auditor.models import Snapshot
from auditor.scan import rule_context, scan_live, select_rules
from auditor.suppressions import Suppression
from auditor.terminal import command_line, terminal_text


class FixReport(BaseModel):
    """What ``fix --apply`` did: per change, then per finding after a fresh scan."""

    plan_id: str
    applied: ApplyReport | None = None
    verification: list[Verification] = Field(default_factory=list)
    rollback: str | None = None  # the command that undoes this fix
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))


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
    only_finding_ids: set[str] | None = None,
    digest_cache: Path | None = None,
) -> tuple[Plan, FindingsDocument]:
    """Scan the cells (read-only), then plan fixes for their FAIL findings (only these, when given);
    ``digest_cache``: the scan's folder of image platforms by digest (None: off)."""
    only: set[str] | None = only_finding_ids
    muted: dict[str, dict[str, Any]] = {}
    source = "live scan"
    if findings_file:
        given = load_findings(findings_file)
        only = {f.id for f in given.findings if f.status in (Status.FAIL, Status.MUTED)}
        muted = {f.id: f.evidence.get("suppression") or {} for f in given.findings if f.status == Status.MUTED}
        regions = list(regions) or sorted({f.region for f in given.findings if f.region != "*"})
        source = f"findings file {findings_file} (run {given.run.id})"
    # Follow-on fixes (e.g. the grants a new cache rule needs) are planned by rules that may not be
    # selected: scan them too when a selected rule's fixer declares it has follow-ons.
    scanned = list(rules)
    fixers = load_fixers()
    if any(fixers[r.meta.id].follow_ons for r in rules if r.meta.id in fixers):
        # Follow-ons come from the selected rules' own groups (a cache rule's grants are access rules).
        have, groups = {r.meta.id for r in scanned}, sorted({r.meta.group for r in rules})
        scanned += [r for r in fixable_rules(select_rules(Config(), groups=groups)) if r.meta.id not in have]
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
        digest_cache=digest_cache,
    )
    if findings_file:
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


def replan(
    saved: Plan,
    config: Config,
    *,
    session: boto3.Session,
    clients: Clients,
    endpoint_url: str | None = None,
    account_id: str | None = None,
    suppressions: Sequence[Suppression] = (),
    mode: str = "live",
    digest_cache: Path | None = None,
) -> tuple[Plan, FindingsDocument | None]:
    """What the fixers plan now for the findings a saved plan names, in its regions (read-only).

    ``apply_plan(..., reference=...)`` accepts a saved change only if this plan holds the same one.
    """
    if not saved.changes:
        return Plan(id=saved.id, created=saved.created, source="nothing to re-derive"), None
    # Cheap, and before any scan: calls no kind makes, or another account's plan, are refused outright.
    check_calls(saved)
    check_account(clients, [c.target for c in saved.changes], "plan")
    fixers = load_fixers()
    rule_ids = sorted({c.rule_id for c in saved.changes})
    unknown = [r for r in rule_ids if r not in fixers or not fixers[r].automatic]
    if unknown:
        raise FixRefused(f"the plan names rule(s) without an automatic fixer: {', '.join(unknown)}; nothing changed")
    rules = [r for r in fixable_rules(select_rules(Config())) if r.meta.id in rule_ids]
    return plan_live(
        config,
        rules,
        session=session,
        clients=clients,
        regions=sorted({c.region for c in saved.changes}),
        endpoint_url=endpoint_url,
        account_id=account_id,
        suppressions=suppressions,
        mode=mode,
        only_finding_ids={fid for c in saved.changes for fid in c.finding_ids},
        digest_cache=digest_cache,
    )


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
    reference: Plan | None = None,
    profile: str | None = None,
    digest_cache: Path | None = None,
) -> tuple[FixReport, FindingsDocument | None]:
    """Apply the plan, then re-scan the cells it touched with every rule that has a fixer.

    ``reference``: for a saved plan, the plan :func:`replan` made now (see ``apply_plan``).
    ``profile``: named in the printed undo command, so that it reaches the same account as the fix.
    """
    report = FixReport(plan_id=plan.id)
    report.applied = apply_plan(plan, clients, backup_to=backup_to, max_changes=max_changes, reference=reference)
    if report.applied.backup:
        report.rollback = undo_command(report.applied, plan, profile=profile, endpoint_url=endpoint_url)
    regions = sorted({c.region for c in plan.changes})
    if not regions:
        return report, None
    rules = fixable_rules(select_rules(Config()))
    after = scan_live(
        config,
        rules,
        session=session,
        regions=regions,
        endpoint_url=endpoint_url,
        account_id=account_id,
        mode=mode,
        digest_cache=digest_cache,
    )
    report.verification = verify(plan, after.findings)
    return report, after


def unread(doc: FindingsDocument | None) -> list[str]:
    """One line per cell that could not be read, or read only in part (its ERROR rules and why)."""
    if doc is None:
        return []
    lines = []
    failed = set()
    for t in doc.run.targets:
        if t.status == "error":
            failed.add((t.account, t.region))
            why = t.error.describe() if t.error is not None else "unknown error"
            lines.append(f"{t.account}/{t.region}: could not be read: {why}")
    errors: dict[tuple[str, str], dict[str, str]] = {}
    for f in doc.findings:
        if f.status == Status.ERROR and (f.account, f.region) not in failed:
            errors.setdefault((f.account, f.region), {}).setdefault(f.rule_id, f.message)
    for (account, region), rules in sorted(errors.items()):
        detail = "; ".join(f"{rule}: {message}" for rule, message in sorted(rules.items()))
        lines.append(f"{account}/{region}: read only in part, rule(s) with ERROR: {detail}")
    return lines


def undo_command(
    applied: ApplyReport, plan: Plan, *, profile: str | None = None, endpoint_url: str | None = None
) -> str:
    """The exact command that undoes ``applied``: pasted as printed, it must reach the same account and backup."""
    args = ["omics-ecr-audit", "rollback", applied.backup or ""]
    if applied.backup_sha256:
        args += ["--sha256", applied.backup_sha256]
    if profile:
        args += ["--profile", profile]
    if endpoint_url:
        args += ["--endpoint-url", endpoint_url]
    if (applied.backup or "").startswith("s3://") and plan.changes:
        args += ["--region", plan.changes[0].region]  # the backup's bucket client was made in this region
    return command_line(args)


def fix_exit_code(plan: Plan, report: FixReport | None, *scans: FindingsDocument | None) -> ExitCode:
    """4 apply stopped part-way (the backup restores it); 3 incomplete: one of ``scans`` (the scan planned
    from, the verifying re-scan) has an ERROR, so some cell or resource was not read and nothing can be said
    about it; 1 something remains (changes pending or blocked, a fix refused or not verified, steps for a
    person); 0 nothing left to do."""
    if report is not None and report.applied is not None and report.applied.error:
        return ExitCode.PARTIAL
    if any(unread(doc) for doc in scans):
        return ExitCode.INCOMPLETE
    if plan.refused or plan.manual:
        return ExitCode.FINDINGS
    if report is None:
        return ExitCode.FINDINGS if plan.changes else ExitCode.OK
    assert report.applied is not None
    if any(o.outcome == "blocked" for o in report.applied.outcomes):
        return ExitCode.FINDINGS
    if any(v.after not in ("PASS", NOT_JUDGED) for v in report.verification):
        return ExitCode.FINDINGS
    return ExitCode.OK


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
    # Targets, details and resources carry AWS-derived text: one line each, escaped.
    return terminal_text(lines)


__all__ = [
    "FixReport",
    "apply_and_verify",
    "fix_exit_code",
    "plan_live",
    "render_report",
    "replan",
    "unread",
]
