"""``scan``, ``targets`` and ``merge``: audit accounts, list what a scan would cover, join a run's parts.

Exit codes of scan and merge: 0 clean, 1 findings at or above the severity threshold, 2 usage or
configuration error, 3 audit incomplete (some finding is ERROR), 4 a Security Hub import failed.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from auditor.commands import command, common, options
from auditor.errors import ExitCode, UsageError
from auditor.findings import exit_code, load_findings, merge_documents
from auditor.terminal import terminal_text


def _scan_arguments(p: argparse.ArgumentParser) -> None:
    options.add_scan_options(p)
    options.add_aws(p)
    options.add_regions(p)
    p.add_argument("--inventory", help="evaluate a saved inventory file offline instead of calling AWS")
    p.add_argument("--save-inventory", help="write the collected inventory snapshot(s) to this file")
    g = p.add_argument_group("incremental scan (docs/usage.md#incremental-scans)")
    g.add_argument(
        "--since-last",
        metavar="INVENTORY",
        help="the previous scan's --save-inventory file: re-read only what CloudTrail says changed since, "
        "carry the rest (save this scan's inventory for the next one with --save-inventory)",
    )
    g.add_argument(
        "--full-after",
        metavar="DAYS",
        type=options.positive,
        default=7,
        help="read a cell in full when its last full scan is older than this (default: 7)",
    )
    options.add_report_options(p)
    options.add_target_options(p)
    options.add_cache(p)


@command(
    "scan",
    help="scan an account (live, read-only) or re-evaluate a saved inventory",
    arguments=_scan_arguments,
)
def run_scan(args: argparse.Namespace) -> int:
    from auditor.incremental import Settings as IncrementalSettings
    from auditor.scan import load_inventory, scan_inventory, scan_live, scan_org, suppress

    config, rules, suppressions = common.selection_of(args)
    previous = common.previous_of(args)  # read before the scan: a bad file fails fast
    if args.since_last and args.inventory:
        raise UsageError("--since-last needs a live scan; it cannot be combined with --inventory")
    since = load_inventory(args.since_last) if args.since_last else None
    settings = IncrementalSettings(full_after=timedelta(days=args.full_after))
    session = None
    config = common.with_targets(config, args)
    if args.inventory:
        doc = scan_inventory(config, rules, args.inventory)
    elif config.targets is not None:
        session = common.session_of(args, config)
        doc = scan_org(
            config,
            rules,
            session=session,
            endpoint_url=args.endpoint_url,
            save_to=args.save_inventory,
            digest_cache=options.cache_of(args),
            since=since,
            incremental_settings=settings,
        )
    else:
        session = common.session_of(args, config)
        doc = scan_live(
            config,
            rules,
            session=session,
            regions=common.scan_regions(args, config, session),
            endpoint_url=args.endpoint_url,
            save_to=args.save_inventory,
            digest_cache=options.cache_of(args),
            since=since,
            incremental_settings=settings,
        )
        common.refuse_rejected_credentials(doc, args, config)
    if suppressions:
        doc = suppress(doc, suppressions)
    common.report(doc, args, previous=previous)
    imported = common.securityhub(doc, args, session)
    code = exit_code(doc, config.severity_threshold)
    # An incomplete Security Hub import must not pass silently, but findings and ERRORs speak first.
    return code if code or imported else ExitCode.PARTIAL


def _targets_arguments(p: argparse.ArgumentParser) -> None:
    options.add_config(p)
    options.add_regions(p)
    options.add_json(p)
    options.add_target_options(p)
    options.add_aws(p)


@command(
    "targets",
    help="list the account x region cells a scan would cover (read-only)",
    arguments=_targets_arguments,
)
def run_targets(args: argparse.Namespace) -> int:
    from auditor.targets import cells_by_account, plan_cells

    config = common.with_targets(common.config_of(args), args)
    session = common.session_of(args, config)
    if config.targets is None and not config.regions:  # the caller's account: the session's region, never a guess
        config = config.model_copy(update={"regions": common.scan_regions(args, config, session)})
    cells = plan_cells(config, session, endpoint_url=args.endpoint_url)
    if args.json:
        common.out(json.dumps([c.model_dump() for c in cells], indent=2))
        return ExitCode.OK
    by_account = cells_by_account(cells)
    lines = [f"{len(cells)} cell(s): {len(by_account)} account(s)"]
    lines += [f"  {account}  {', '.join(c.region for c in cs)}" for account, cs in by_account.items()]
    common.out(terminal_text(lines))
    return ExitCode.OK


def _merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parts", nargs="+", metavar="PART", help="findings.json files of the same run")
    p.add_argument("--run-id", help="id of the merged run (default: the parts' common id, else a new one)")
    options.add_out_folder(p)
    options.add_outputs(p)
    options.add_quiet(p)


@command(
    "merge",
    help="join the findings files of one run's parts (e.g. per cell) into one",
    arguments=_merge_arguments,
)
def run_merge(args: argparse.Namespace) -> int:
    parts = [load_findings(p) for p in args.parts]
    try:
        doc = merge_documents(parts, run_id=args.run_id)
    except ValueError as exc:
        raise UsageError(f"cannot merge: {exc}") from None
    common.report(doc, args)
    return exit_code(doc, doc.run.severity_threshold)
