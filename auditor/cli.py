"""Command line: ``omics-ecr-audit {scan,fix,rollback,gate,resolve,map,report,diff,demo,rules}``.

Exit codes of scan and demo: 0 clean, 1 findings at or above the severity
threshold, 2 usage or configuration error, 3 audit incomplete (some finding is
ERROR). fix: 0 nothing left to do, 1 changes pending (plan only, blocked, or not
verified), 2 usage error or refused (stale plan, --max-changes, a saved plan whose
writes the fixers would not make now), 3 incomplete (some cell or resource could
not be read: its ERROR is named), 4 apply stopped part-way (the backup restores
it). rollback: 0 restored, 1 something was not, 2 refused (nothing written: a
backup whose digest does not match the recorded one, another account...).
report: 0 written (2 on bad input, 4 when a Security Hub import failed).
diff: 0, or 1 with --fail-on-new when there are new problems.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import boto3
import botocore.exceptions
from pydantic import ValidationError

from auditor import __version__, logs
from auditor.config import Config, ConfigError, load_config
from auditor.engine import Severity
from auditor.files import InputError
from auditor.fix import FixRefused, fix_permissions, load_fixers
from auditor.scan import (
    FindingsDocument,
    UsageError,
    all_rules,
    exit_code,
    render_summary,
    scan_inventory,
    scan_live,
    scan_org,
    select_rules,
    suppress,
    write_findings,
)
from auditor.suppressions import Suppression, load_suppressions
from auditor.terminal import printable, safe_for_terminal, terminal_text

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_PARTIAL = 0, 1, 2, 3, 4


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _add_scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="configuration file (YAML or JSON)")
    p.add_argument("--rules", type=_csv, default=[], help="comma-separated rule ids to run (default: all)")
    p.add_argument("--exclude-rules", type=_csv, default=[], help="comma-separated rule ids to skip")
    p.add_argument(
        "--severity-threshold",
        choices=[s.value for s in Severity],
        help="lowest severity of a FAIL that makes the exit code 1 (default: config, else low)",
    )
    p.add_argument("--out", default="out", help="output folder for findings.json (default: ./out)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.add_argument("--suppressions", help="suppressions file (accepted risks: shown MUTED, never fixed)")


def _add_report_options(p: argparse.ArgumentParser, *, default: str = "") -> None:
    p.add_argument(
        "--output",
        default=default,
        help=f"report formats to write beside findings.json, comma-separated: html,sarif,junit,asff,ocsf "
        f"(default: {default or 'none'})",
    )
    p.add_argument("--previous", help="the last run's findings.json: reports show new and resolved findings")
    p.add_argument("--to-securityhub", action="store_true", help="import the findings into Security Hub (ASFF)")
    p.add_argument("--securityhub-region", help="Security Hub region (default: the session's)")


def _add_target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("accounts (default: config `targets:`, else the credentials' own account)")
    g.add_argument("--accounts", type=_csv, default=[], help="comma-separated account ids to scan")
    g.add_argument("--organization", action="store_true", help="every ACTIVE account of the AWS Organization")
    g.add_argument("--role-name", help="role to assume in each account (default: OmicsEcrAuditReadOnly)")
    g.add_argument("--external-id", help="external id the role's trust policy requires")
    g.add_argument("--max-cells", type=_positive, help="account x region cells scanned at once")


def _add_aws_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="AWS profile (default: config, else the default credential chain)")
    p.add_argument("--endpoint-url", help="send every AWS call to this endpoint (e.g. the sandbox server)")


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omics-ecr-audit",
        description="Audit AWS HealthOmics container access through ECR pull-through cache.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan an account (live, read-only) or re-evaluate a saved inventory")
    _add_scan_options(scan)
    _add_aws_options(scan)
    scan.add_argument("--regions", type=_csv, default=[], help="comma-separated regions (default: config/session)")
    scan.add_argument("--inventory", help="evaluate a saved inventory file offline instead of calling AWS")
    scan.add_argument("--save-inventory", help="write the collected inventory snapshot(s) to this file")
    _add_report_options(scan)
    _add_target_options(scan)

    targets = sub.add_parser("targets", help="list the account x region cells a scan would cover (read-only)")
    targets.add_argument("--config", help="configuration file")
    targets.add_argument("--regions", type=_csv, default=[], help="comma-separated regions")
    targets.add_argument("--json", action="store_true", help="machine-readable output")
    _add_target_options(targets)
    _add_aws_options(targets)

    merge = sub.add_parser("merge", help="join the findings files of one run's parts (e.g. per cell) into one")
    merge.add_argument("parts", nargs="+", metavar="PART", help="findings.json files of the same run")
    merge.add_argument("--run-id", help="id of the merged run (default: the parts' common id, else a new one)")
    merge.add_argument("--out", default="out", help="output folder (default: ./out)")
    merge.add_argument("--output", default="", help="report formats to write beside findings.json")
    merge.add_argument("--quiet", action="store_true", help="do not print the summary")

    fix = sub.add_parser("fix", help="plan fixes for FAIL findings (read-only); --apply to make them")
    _add_scan_options(fix)
    _add_aws_options(fix)
    fix.add_argument("--regions", type=_csv, default=[], help="comma-separated regions (default: config/session)")
    fix.add_argument("--findings", help="plan only for the FAIL findings of this findings.json (re-checked live)")
    fix.add_argument("--plan-out", help="write the plan here (default: <out>/plan.json)")
    fix.add_argument("--plan", dest="plan_file", help="with --apply: apply exactly this plan file, nothing else")
    fix.add_argument("--apply", action="store_true", help="make the changes (default: only show the plan)")
    fix.add_argument("--max-changes", type=_positive, help="refuse to apply if more writes than this would happen")
    fix.add_argument("--backup", help="backup folder or s3://bucket/prefix (default: <out>/backups)")

    rollback = sub.add_parser("rollback", help="restore the documents a fix changed, from its backup")
    rollback.add_argument("backup", help="backup.json (or its folder, or the s3:// URI fix printed)")
    _add_aws_options(rollback)
    rollback.add_argument("--region", help="region of an s3:// backup's bucket (default: the session's)")
    rollback.add_argument("--force", action="store_true", help="also restore documents changed again since the fix")
    rollback.add_argument(
        "--sha256",
        help="the backup's digest, as in the `undo with:` line fix printed (default: the digest fix-report.json "
        "beside the backups folder records for it, or an s3:// backup's x-amz-meta-sha256)",
    )
    rollback.add_argument(
        "--unverified",
        action="store_true",
        help="restore a backup whose digest was not recorded or does not match (read the backup first)",
    )

    gate = sub.add_parser("gate", help="CI gate: extract a workflow's containers, resolve them, check the account")
    gate.add_argument("path", help="workflow folder or zip (WDL, Nextflow, CWL)")
    gate.add_argument("--params", help="parameters file (JSON/YAML inputs) used to resolve container values")
    source = gate.add_mutually_exclusive_group()
    source.add_argument("--map", help="container registry map file (JSON, API member names)")
    source.add_argument("--workflow-id", help="take the container registry map of this HealthOmics workflow")
    state = gate.add_mutually_exclusive_group()
    state.add_argument("--inventory", help="check against a saved inventory instead of calling AWS")
    state.add_argument("--offline", action="store_true", help="only extract and resolve; no account checks")
    gate.add_argument("--account", help="target account (with --offline, or to pick from an inventory)")
    gate.add_argument("--region", help="target region (default: config/session)")
    gate.add_argument("--format", choices=["text", "json", "sarif"], default="text", help="output format of --out")
    gate.add_argument("--out", help="write the --format output here (default: stdout)")
    gate.add_argument("--sarif", help="also write SARIF 2.1.0 here (for code-scanning upload)")
    gate.add_argument("--config", help="configuration file")
    gate.add_argument(
        "--severity-threshold", choices=[s.value for s in Severity], help="lowest FAIL severity giving exit 1"
    )
    _add_aws_options(gate)

    resolve = sub.add_parser("resolve", help="resolve image references as HealthOmics would (one JSON line each)")
    resolve.add_argument("refs", nargs="+", metavar="REF")
    resolve.add_argument("--map", help="container registry map file")
    resolve.add_argument("--account", help="account of the workflow (forms the ECR URI)")
    resolve.add_argument("--region", help="region of the workflow")

    regmap = sub.add_parser("map", help="generate or validate a container registry map")
    map_sub = regmap.add_subparsers(dest="map_command", required=True)
    generate = map_sub.add_parser("generate", help="write a map covering every container of a workflow")
    generate.add_argument("path", help="workflow folder or zip")
    generate.add_argument("--params", help="parameters file")
    generate.add_argument("--out", help="write the map here (default: stdout)")
    validate = map_sub.add_parser("validate", help="check a map's schema and its agreement with the PTC rules")
    validate.add_argument("file")
    for p in (generate, validate):
        p.add_argument("--inventory", help="the account's inventory file (else live with --region)")
        p.add_argument("--account", help="pick this account from the inventory")
        p.add_argument("--region", help="region (live: read the account's rules there)")
        p.add_argument("--config", help="configuration file")
        _add_aws_options(p)

    demo = sub.add_parser("demo", help="seed the embedded sandbox with a realistic broken account and scan it")
    _add_scan_options(demo)
    demo.add_argument("--fix", action="store_true", help="also apply the plan and re-scan (writes findings-after.json)")
    demo.add_argument(
        "--output", default="html", help="report formats beside findings.json, comma-separated (default: html)"
    )
    demo.set_defaults(out="demo-out")

    report = sub.add_parser("report", help="render a findings.json as HTML, SARIF, JUnit, ASFF or OCSF")
    report.add_argument("findings", help="findings.json written by scan, demo or the nightly run")
    report.add_argument("--format", default="html", help="comma-separated: html,sarif,junit,asff,ocsf (default html)")
    report.add_argument("--out", help="file, folder, or - for stdout (default: report.<suffix> beside FINDINGS)")
    report.add_argument("--previous", help="the last run's findings.json: show new and resolved findings")
    report.add_argument("--suppressions", help="apply this suppressions file before rendering")
    report.add_argument("--to-securityhub", action="store_true", help="also import the findings into Security Hub")
    report.add_argument("--securityhub-region", help="Security Hub region (default: the session's)")
    _add_aws_options(report)

    diff = sub.add_parser("diff", help="new, resolved and persisting findings between two runs")
    diff.add_argument("old", help="the earlier findings.json")
    diff.add_argument("new", help="the later findings.json")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.add_argument("--fail-on-new", action="store_true", help="exit 1 when there are new problems")

    perms = sub.add_parser("permissions", help="the least-privilege IAM policy the code declares for a role")
    kind = perms.add_mutually_exclusive_group(required=True)
    kind.add_argument("--scan", dest="kind", action="store_const", const="scan", help="member account, read-only")
    kind.add_argument("--fix", dest="kind", action="store_const", const="fix", help="member account, fix role")
    kind.add_argument("--hub", dest="kind", action="store_const", const="hub", help="audit account: Lambda role")
    perms.add_argument("--format", choices=["json", "yaml"], default="json")
    perms.add_argument("--config", help="configuration file (its custom rules add their facets' permissions)")

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--json", action="store_true", help="machine-readable output")
    rules.add_argument("--config", help="configuration file (to include its custom rules)")

    sandbox = sub.add_parser(
        "sandbox",
        help="serve the embedded sandbox (no AWS account needed) on 127.0.0.1 until Ctrl-C",
        description="Serve the embedded sandbox (moto + HealthOmics, ECR pull-through cache, CloudTrail) on "
        "127.0.0.1 until Ctrl-C or SIGTERM (exit 0), printing the endpoint and the environment to export. "
        "Exit 2: port in use, or the 'sandbox' extra is not installed. "
        "POST /_sandbox/reseed[?seed=demo|empty] resets and reseeds it while it runs.",
    )
    sandbox.add_argument("--port", type=_positive, default=5000, help="port to serve on, 0 for a free one (5000)")
    sandbox.add_argument("--seed", choices=["demo", "empty"], default="demo", help="initial state (default: demo)")
    return parser


def _fixer_kind(rule_id: str) -> str | None:
    fixer = load_fixers().get(rule_id)
    if fixer is None:
        return None
    return "automatic" if fixer.automatic else "manual steps"


def _print_rules(config: Config, as_json: bool) -> None:
    rules = all_rules(config)
    rows = [
        {
            "id": r.meta.id,
            "severity": r.meta.severity.value,
            "title": r.meta.title,
            "fixable": r.meta.fixable,
            "custom": r.meta.custom,
            "permissions": r.meta.permissions,
            "fixer": _fixer_kind(r.meta.id),
            "fix_permissions": fix_permissions([r.meta.id]),
            "rationale": r.meta.rationale,
            "remediation": r.meta.remediation,
            "references": r.meta.references,
        }
        for r in rules.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        fix = "fixable" if row["fixable"] else "manual"
        # Custom rules (ids, titles, permissions) are read from files: each line escaped on its own.
        print(printable(f"{row['id']:<34} {row['severity']:<8} {fix:<8} {row['title']}"))
        print(printable(f"{'':<34} permissions: {', '.join(row['permissions'])}"))
        if row["fix_permissions"]:
            print(printable(f"{'':<34} fix needs: {', '.join(row['fix_permissions'])}"))


def _with_targets(config: Config, args: argparse.Namespace) -> Config:
    """The config with the command line's account, role and region choices laid over it."""
    from auditor.config import OrganizationTargets, Targets

    update: dict = {}
    if getattr(args, "regions", None):
        update["regions"] = args.regions
    targets = config.targets
    if args.accounts or args.organization:
        if args.accounts and args.organization:
            raise UsageError("--accounts and --organization exclude each other")
        base = targets.model_dump() if targets else {}
        choice = (
            {"accounts": args.accounts, "organization": None}
            if args.accounts
            else {"accounts": None, "organization": base.get("organization") or OrganizationTargets().model_dump()}
        )
        try:
            targets = Targets.model_validate({**base, **choice})
        except ValidationError as exc:
            raise UsageError(f"--accounts: {exc.errors()[0]['msg']}") from None
    if args.role_name or args.external_id:
        if targets is None:
            raise UsageError("--role-name/--external-id need --accounts, --organization or targets: in the config")
        role = targets.role.model_copy(
            update={k: v for k, v in {"name": args.role_name, "external_id": args.external_id}.items() if v}
        )
        targets = targets.model_copy(update={"role": role})
    if targets is not config.targets:
        update["targets"] = targets
    if args.max_cells:
        update["concurrency"] = config.concurrency.model_copy(update={"max_cells": args.max_cells})
    if not update:
        return config
    try:
        return Config.model_validate({**config.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UsageError(f"invalid command line choice at {where}: {first['msg']}") from None


def _targets_command(args: argparse.Namespace, config: Config) -> int:
    from auditor.targets import cells_by_account, plan_cells

    config = _with_targets(config, args)
    session = boto3.Session(profile_name=args.profile or config.profile)
    cells = plan_cells(config, session, endpoint_url=args.endpoint_url)
    if args.json:
        _print(json.dumps([c.model_dump() for c in cells], indent=2))
        return EXIT_OK
    by_account = cells_by_account(cells)
    lines = [f"{len(cells)} cell(s): {len(by_account)} account(s)"]
    lines += [f"  {account}  {', '.join(c.region for c in cs)}" for account, cs in by_account.items()]
    _print(terminal_text(lines))
    return EXIT_OK


def _merge_command(args: argparse.Namespace) -> int:
    from auditor.fixrun import load_findings
    from auditor.scan import merge_documents

    parts = [load_findings(p) for p in args.parts]
    try:
        doc = merge_documents(parts, run_id=args.run_id)
    except ValueError as exc:
        raise UsageError(f"cannot merge: {exc}") from None
    _report(doc, args)
    return exit_code(doc, doc.run.severity_threshold)


def _suppressions(args: argparse.Namespace, config: Config) -> list[Suppression]:
    path = getattr(args, "suppressions", None) or config.suppressions
    return load_suppressions(path) if path else []


def _print(text: str) -> None:
    """Print to stdout, never a raw control character but the newlines between lines.

    The renderers escape each value before joining lines (auditor.terminal); this is the net under
    them. Its escapes are JSON's, so JSON printed here still decodes to the same values.
    """
    try:
        print(safe_for_terminal(text))
    except BrokenPipeError:
        # `omics-ecr-audit scan | head`: the reader left; files are written, the exit code stands.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _report(
    doc: FindingsDocument,
    args: argparse.Namespace,
    name: str = "findings.json",
    previous: FindingsDocument | None = None,
) -> None:
    """findings.json, then every ``--output`` format beside it (report.html for findings.json, ...)."""
    from auditor.reports.command import parse_formats, write_reports

    formats = parse_formats(getattr(args, "output", "") or "")
    path = write_findings(doc, args.out, name)
    stem = "report" + name.removeprefix("findings").removesuffix(".json")
    written = write_reports(doc, formats, args.out, previous, stem=stem)
    if not args.quiet:
        lines = [render_summary(doc), "", f"findings written to {path}"]
        lines += [f"report written to {p}" for p in written]
        _print("\n".join(lines))


def _previous(args: argparse.Namespace) -> FindingsDocument | None:
    from auditor.fixrun import load_findings

    return load_findings(args.previous) if getattr(args, "previous", None) else None


def _securityhub(doc: FindingsDocument, args: argparse.Namespace, session: boto3.Session | None = None) -> bool:
    """Import into Security Hub when asked; False (and a message) when some finding was not imported."""
    if not getattr(args, "to_securityhub", False):
        return True
    from auditor.reports.asff import push_to_securityhub

    session = session or boto3.Session(profile_name=args.profile)
    result = push_to_securityhub(
        doc,
        session,
        region=args.securityhub_region or session.region_name,
        endpoint_url=args.endpoint_url,
        previous=_previous(args),  # problems gone since then are archived, not left open
    )
    print(safe_for_terminal(result.describe()), file=sys.stderr)  # stdout may be carrying a report (`--out -`)
    return not result.failed


def _report_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from auditor.fixrun import load_findings
    from auditor.reports.command import parse_formats, write_to

    doc = load_findings(args.findings)
    formats = parse_formats(args.format)
    if args.suppressions:
        doc = suppress(doc, load_suppressions(args.suppressions))
    out = args.out or str(Path(args.findings).parent) + "/"
    for path in write_to(doc, formats, out, _previous(args)):
        print(f"report written to {path}", file=sys.stderr)
    return EXIT_OK if _securityhub(doc, args) else EXIT_PARTIAL


def _diff_command(args: argparse.Namespace) -> int:
    from auditor.fixrun import load_findings
    from auditor.reports.diff import diff_documents, render_diff

    diff = diff_documents(load_findings(args.old), load_findings(args.new))
    _print(diff.model_dump_json(indent=2) if args.json else render_diff(diff))
    return EXIT_FINDINGS if args.fail_on_new and diff.new else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.command == "rollback":
        return _rollback(args)
    if args.command == "report":
        return _report_command(args)
    if args.command == "diff":
        return _diff_command(args)
    if args.command == "merge":
        return _merge_command(args)
    if args.command == "resolve":
        from auditor.gate.command import run_resolve

        return run_resolve(args)
    if args.command == "sandbox":
        from auditor.sandbox.command import run_sandbox

        return run_sandbox(args)
    config = load_config(getattr(args, "config", None))
    if args.command == "map":
        from auditor.gate.command import run_map

        return run_map(args, config)
    if args.command == "gate":
        return _gate(args, config)
    if args.command == "rules":
        _print_rules(config, args.json)
        return EXIT_OK
    if args.command == "targets":
        return _targets_command(args, config)
    if args.command == "permissions":
        from auditor.permissions import render_permissions

        _print(render_permissions(args.kind, args.format, config))
        return EXIT_OK
    if args.severity_threshold:
        config = config.model_copy(update={"severity_threshold": Severity(args.severity_threshold)})
    rules = select_rules(config, args.rules, args.exclude_rules)
    suppressions = _suppressions(args, config)
    if args.command == "fix":
        return _fix(args, config, rules, suppressions)
    if args.command == "demo":
        return _demo(args, config, rules, suppressions)
    previous = _previous(args)  # read before the scan: a bad file fails fast
    session = None
    config = _with_targets(config, args)
    if args.inventory:
        doc = scan_inventory(config, rules, args.inventory)
    elif config.targets is not None:
        session = boto3.Session(profile_name=args.profile or config.profile)
        doc = scan_org(config, rules, session=session, endpoint_url=args.endpoint_url, save_to=args.save_inventory)
    else:
        session = boto3.Session(profile_name=args.profile or config.profile)
        doc = scan_live(
            config,
            rules,
            session=session,
            regions=args.regions or config.regions,
            endpoint_url=args.endpoint_url,
            save_to=args.save_inventory,
        )
    if suppressions:
        doc = suppress(doc, suppressions)
    _report(doc, args, previous=previous)
    imported = _securityhub(doc, args, session)
    code = exit_code(doc, config.severity_threshold)
    # An incomplete Security Hub import must not pass silently, but findings and ERRORs speak first.
    return code if code or imported else EXIT_PARTIAL


def _fix(args: argparse.Namespace, config: Config, rules: list, suppressions: list[Suppression]) -> int:
    from pathlib import Path

    from auditor.fix import Clients, load_plan, render_plan, suppressed_changes, write_plan
    from auditor.fixrun import apply_and_verify, fix_exit_code, plan_live, render_report, replan, unread

    session = boto3.Session(profile_name=args.profile or config.profile)
    clients = Clients(session, args.endpoint_url)
    out = Path(args.out)
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
            plan, config, session=session, clients=clients, endpoint_url=args.endpoint_url, suppressions=suppressions
        )
    else:
        plan, doc = plan_live(
            config,
            rules,
            session=session,
            clients=clients,
            regions=args.regions or config.regions,
            endpoint_url=args.endpoint_url,
            findings_file=args.findings,
            suppressions=suppressions,
            out_dir=out,
        )
        path = write_plan(plan, args.plan_out or out / "plan.json")
        if not args.quiet:
            _print(render_plan(plan) + f"\n\nplan written to {path}")
    if doc is not None and suppressions:
        doc = suppress(doc, suppressions)  # an accepted ERROR does not make the run incomplete
    missing = unread(doc)
    if missing and args.plan_file:
        _incomplete(missing, "the scan re-deriving the plan")
    elif missing:
        _incomplete(missing, "the plan covers only what could be read; it is not a statement that nothing is left")
    if not args.apply:
        if plan.changes and not args.quiet:
            _print("nothing was changed; re-run with --apply to make these changes")
        return fix_exit_code(plan, None, doc)
    report, after = apply_and_verify(
        plan,
        config,
        session=session,
        clients=Clients(session, args.endpoint_url),
        backup_to=args.backup or str(out / "backups"),
        max_changes=args.max_changes,
        endpoint_url=args.endpoint_url,
        reference=reference,
        profile=args.profile or config.profile,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "fix-report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if after is not None:
        after = suppress(after, suppressions) if suppressions else after
        write_findings(after, out, "findings-after.json")
        _incomplete(unread(after), "the verifying re-scan")
    if not args.quiet:
        _print(render_report(report) + f"\n\nreport written to {out / 'fix-report.json'}")
    return fix_exit_code(plan, report, doc, after)


def _incomplete(lines: list[str], what: str) -> None:
    """Say on stderr (even with --quiet) which cells could not be read: exit code 3, never "nothing to do"."""
    if lines:
        print(f"omics-ecr-audit: INCOMPLETE ({what}):\n  " + "\n  ".join(lines), file=sys.stderr)


def _gate(args: argparse.Namespace, config: Config) -> int:
    from auditor.gate.command import gate_sarif, render_gate, run_gate, write_output

    if args.severity_threshold:
        config = config.model_copy(update={"severity_threshold": Severity(args.severity_threshold)})
    doc = run_gate(args, config)
    if args.format == "json":
        write_output(doc.model_dump(mode="json"), args.out)
    elif args.format == "sarif":
        write_output(gate_sarif(doc), args.out)
    else:
        write_output(render_gate(doc), args.out)
    if args.sarif:
        write_output(gate_sarif(doc), args.sarif)
    return exit_code(doc, config.severity_threshold)


def _rollback(args: argparse.Namespace) -> int:
    from auditor.fix import Clients, load_backup, rollback

    session = boto3.Session(profile_name=args.profile)
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
        _print(printable(f"{o.outcome:<17} {o.target}" + (f"  ({o.detail})" if o.detail else "")))
    return EXIT_OK if all(o.outcome in ("restored", "already-restored") for o in outcomes) else EXIT_FINDINGS


def _demo(args: argparse.Namespace, config: Config, rules: list, suppressions: list[Suppression]) -> int:
    from pathlib import Path

    from auditor.demo import run_demo
    from auditor.fix import render_plan
    from auditor.fixrun import render_report

    result = run_demo(config, rules, out_dir=Path(args.out), fix=args.fix, suppressions=suppressions)
    _report(result.findings, args)
    if not args.quiet:
        _print("\n" + render_plan(result.plan) + f"\n\nplan written to {Path(args.out) / 'plan.json'}")
    if result.report is not None:
        assert result.findings_after is not None
        _report(result.findings_after, args, "findings-after.json", previous=result.findings)
        if not args.quiet:
            _print("\n" + render_report(result.report))
        return exit_code(result.findings_after, config.severity_threshold)
    return exit_code(result.findings, config.severity_threshold)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    try:
        return _run(args)
    except (ConfigError, UsageError, FixRefused, InputError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except botocore.exceptions.ProfileNotFound as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # Scans turn AWS errors into ERROR findings; this is the last net for fix/rollback bookkeeping calls.
        return _fail(f"AWS call failed: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, code: int) -> int:
    """One message on stderr; it may quote file names and AWS values, so no raw control character reaches it."""
    print(safe_for_terminal(f"omics-ecr-audit: {message}"), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
