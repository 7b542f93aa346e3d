"""``fix`` and ``rollback``: plan and apply fixes for FAIL findings, and undo them from the backup.

fix: 0 nothing left to do, 1 changes pending (plan only, blocked, or not verified), 2 usage error or
refused (stale plan, --max-changes, a saved plan whose writes the fixers would not make now), 3
incomplete (some cell or resource could not be read: its ERROR is named), 4 apply stopped part-way
(the backup restores it). rollback: 0 restored, 1 something was not, 2 refused (nothing written: a
backup whose digest does not match the recorded one, another account...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.commands import command, common, options
from auditor.errors import ExitCode, FixRefused, UsageError
from auditor.findings import write_findings
from auditor.outputs import OutputFolder, is_s3
from auditor.terminal import printable

if TYPE_CHECKING:
    import boto3

    from auditor.config import Config
    from auditor.engine import Rule
    from auditor.fix import Clients
    from auditor.suppressions import Suppression


def _fix_arguments(p: argparse.ArgumentParser) -> None:
    options.add_scan_options(p)
    options.add_cache(p)
    options.add_aws(p)
    options.add_regions(p)
    p.add_argument("--findings", help="plan only for the FAIL findings of this findings.json (re-checked live)")
    p.add_argument("--plan-out", help="write the plan here (default: <out>/plan.json)")
    p.add_argument("--plan", dest="plan_file", help="with --apply: apply exactly this plan file, nothing else")
    p.add_argument("--apply", action="store_true", help="make the changes (default: only show the plan)")
    p.add_argument("--max-changes", type=options.positive, help="refuse to apply if more writes than this would happen")
    p.add_argument("--backup", help="backup folder or s3://bucket/prefix (default: <out>/backups)")


@command("fix", help="plan fixes for FAIL findings (read-only); --apply to make them", arguments=_fix_arguments)
def run_fix(args: argparse.Namespace) -> int:
    from auditor.fix import Clients

    config, rules, suppressions = common.selection_of(args)
    session = common.session_of(args, config)
    clients = Clients(session, args.endpoint_url)
    with common.outputs(args) as folder:
        return _fix(args, config, rules, suppressions, session, clients, folder)


def _fix(
    args: argparse.Namespace,
    config: Config,
    rules: list[Rule],
    suppressions: list[Suppression],
    session: boto3.Session,
    clients: Clients,
    folder: OutputFolder,
) -> int:
    from auditor.fix import Clients, load_plan, render_plan, suppressed_changes, write_plan
    from auditor.fixrun import apply_and_verify, fix_exit_code, plan_live, render_report, replan, unread
    from auditor.scan import suppress

    out = folder.path
    reference = None
    if args.plan_file:
        if args.findings:
            raise UsageError("--plan applies a saved plan; it cannot be combined with --findings")
        if not args.apply:
            raise UsageError("--plan applies a saved plan; it needs --apply")
        plan = load_plan(args.plan_file)
        hits = suppressed_changes(plan, suppressions)
        if hits:
            # "apply exactly this plan" cannot drop a change silently: refuse and let a person re-plan.
            raise FixRefused(
                "the plan would fix suppressed findings; re-run `fix` to plan again:\n  " + "\n  ".join(hits)
            )
        # A plan file is data: every write in it must be one the fixers plan now for its findings.
        reference, doc = replan(
            plan,
            config,
            session=session,
            clients=clients,
            endpoint_url=args.endpoint_url,
            suppressions=suppressions,
            digest_cache=options.cache_of(args),
        )
    else:
        plan, doc = plan_live(
            config,
            rules,
            session=session,
            clients=clients,
            regions=common.scan_regions(args, config, session),
            endpoint_url=args.endpoint_url,
            findings_file=args.findings,
            suppressions=suppressions,
            out_dir=out,
            digest_cache=options.cache_of(args),
        )
        common.say_region(args)
        path = write_plan(plan, args.plan_out or out / "plan.json")
        shown = folder.publish(path) if not args.plan_out else str(path)
        if not args.quiet:
            common.out(render_plan(plan) + f"\n\nplan written to {shown}")
    common.refuse_rejected_credentials(doc, args, config)
    if doc is not None and suppressions:
        doc = suppress(doc, suppressions)  # an accepted ERROR does not make the run incomplete
    missing = unread(doc)
    if missing and args.plan_file:
        common.incomplete(missing, "the scan re-deriving the plan")
    elif missing:
        common.incomplete(
            missing, "the plan covers only what could be read; it is not a statement that nothing is left"
        )
    if not args.apply:
        if plan.changes and not args.quiet:
            common.out("nothing was changed; re-run with --apply to make these changes")
        return fix_exit_code(plan, None, doc)
    report, after = apply_and_verify(
        plan,
        config,
        session=session,
        clients=Clients(session, args.endpoint_url),
        backup_to=args.backup or _backups(args.out, out),
        max_changes=args.max_changes,
        endpoint_url=args.endpoint_url,
        reference=reference,
        profile=args.profile or config.profile,
        digest_cache=options.cache_of(args),
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "fix-report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    shown = folder.publish(out / "fix-report.json")
    if after is not None:
        after = suppress(after, suppressions) if suppressions else after
        folder.publish(write_findings(after, out, "findings-after.json"))
        common.incomplete(unread(after), "the verifying re-scan")
    if not args.quiet:
        common.out(render_report(report) + f"\n\nreport written to {shown}")
    return fix_exit_code(plan, report, doc, after)


def _backups(location: str, out: Path) -> str:
    """The default backup folder: <out>/backups, where --out is (an s3:// --out backs up to S3 directly)."""
    return f"{location.rstrip('/')}/backups" if is_s3(location) else str(out / "backups")


def _rollback_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("backup", help="backup.json (or its folder, or the s3:// URI fix printed)")
    options.add_aws(p)
    options.add_region(p, "region of an s3:// backup's bucket (default: the session's)")
    p.add_argument("--force", action="store_true", help="also restore documents changed again since the fix")
    p.add_argument(
        "--sha256",
        help="the backup's digest, as in the `undo with:` line fix printed (default: the digest fix-report.json "
        "beside the backups folder records for it, or an s3:// backup's x-amz-meta-sha256)",
    )
    p.add_argument(
        "--unverified",
        action="store_true",
        help="restore a backup whose digest was not recorded or does not match (read the backup first)",
    )


@command("rollback", help="restore the documents a fix changed, from its backup", arguments=_rollback_arguments)
def run_rollback(args: argparse.Namespace) -> int:
    from auditor.fix import Clients, load_backup, rollback

    session = common.session_of(args)
    clients = Clients(session, args.endpoint_url)
    backup = load_backup(
        args.backup,
        clients,
        args.region or session.region_name or "us-east-1",
        sha256=args.sha256,
        unverified=args.unverified,
    )
    if args.unverified and not args.sha256:
        print(f"omics-ecr-audit: restoring {args.backup} without checking its digest (--unverified)", file=sys.stderr)
    outcomes = rollback(backup, clients, force=args.force)
    for o in outcomes:
        common.out(printable(f"{o.outcome:<17} {o.target}" + (f"  ({o.detail})" if o.detail else "")))
    restored = all(o.outcome in ("restored", "already-restored") for o in outcomes)
    return ExitCode.OK if restored else ExitCode.FINDINGS
