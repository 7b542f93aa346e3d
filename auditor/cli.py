"""Command line: ``omics-ecr-audit {scan,demo,rules}``.

Exit codes: 0 clean, 1 findings at or above the severity threshold, 2 usage or
configuration error, 3 audit incomplete (some finding is ERROR).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import boto3
import botocore.exceptions

from auditor import __version__, logs
from auditor.config import Config, ConfigError, load_config
from auditor.engine import Severity
from auditor.scan import (
    UsageError,
    all_rules,
    exit_code,
    render_summary,
    scan_inventory,
    scan_live,
    select_rules,
    write_findings,
)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


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
    scan.add_argument("--profile", help="AWS profile (default: config, else the default credential chain)")
    scan.add_argument("--regions", type=_csv, default=[], help="comma-separated regions (default: config/session)")
    scan.add_argument("--inventory", help="evaluate a saved inventory file offline instead of calling AWS")
    scan.add_argument("--save-inventory", help="write the collected inventory snapshot(s) to this file")
    scan.add_argument("--endpoint-url", help="send every AWS call to this endpoint (e.g. the sandbox server)")

    demo = sub.add_parser("demo", help="seed the embedded sandbox with a realistic broken account and scan it")
    _add_scan_options(demo)
    demo.set_defaults(out="demo-out")

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--json", action="store_true", help="machine-readable output")
    rules.add_argument("--config", help="configuration file (to include its custom rules)")
    return parser


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
        print(f"{row['id']:<34} {row['severity']:<8} {fix:<8} {row['title']}")
        print(f"{'':<34} permissions: {', '.join(row['permissions'])}")


def _run(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    if args.command == "rules":
        _print_rules(config, args.json)
        return EXIT_OK
    if args.severity_threshold:
        config = config.model_copy(update={"severity_threshold": Severity(args.severity_threshold)})
    rules = select_rules(config, args.rules, args.exclude_rules)
    if args.command == "demo":
        from auditor.demo import run_demo

        doc = run_demo(config, rules)
    elif args.inventory:
        doc = scan_inventory(config, rules, args.inventory)
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
    path = write_findings(doc, args.out)
    if not args.quiet:
        try:
            print(render_summary(doc))
            print(f"\nfindings written to {path}")
        except BrokenPipeError:
            # `omics-ecr-audit scan | head`: the reader left; findings.json is written, the exit code stands.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code(doc, config.severity_threshold)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    try:
        return _run(args)
    except (ConfigError, UsageError) as exc:
        print(f"omics-ecr-audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except botocore.exceptions.ProfileNotFound as exc:
        print(f"omics-ecr-audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("omics-ecr-audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
