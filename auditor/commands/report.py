"""``report`` and ``diff``: render a findings.json, and compare two of them.

report: 0 written (2 on bad input, 4 when a Security Hub import failed).
diff: 0, or 1 with --fail-on-new when there are new problems.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditor.commands import command, common, options
from auditor.errors import ExitCode
from auditor.findings import load_findings


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("findings", help="findings.json written by scan, demo or the nightly run")
    options.add_format(p, default="html", help=f"report formats, comma-separated: {options.REPORT_FORMATS}")
    options.add_out(p, help="file, folder, or - for stdout (default: report.<suffix> beside FINDINGS)")
    options.add_previous(p)
    p.add_argument("--suppressions", help="apply this suppressions file before rendering")
    options.add_securityhub(p)
    options.add_aws(p)


@command(
    "report",
    help="render a findings.json as HTML, SARIF, JUnit, ASFF or OCSF",
    arguments=_report_arguments,
)
def run_report(args: argparse.Namespace) -> int:
    from auditor.reports.command import parse_formats, write_to
    from auditor.scan import suppress
    from auditor.suppressions import load_suppressions

    doc = load_findings(args.findings)
    formats = parse_formats(args.format)
    if args.suppressions:
        doc = suppress(doc, load_suppressions(args.suppressions))
    out = args.out or str(Path(args.findings).parent) + "/"
    for path in write_to(doc, formats, out, common.previous_of(args)):
        print(f"report written to {path}", file=sys.stderr)
    return ExitCode.OK if common.securityhub(doc, args) else ExitCode.PARTIAL


def _diff_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="the earlier findings.json")
    p.add_argument("new", help="the later findings.json")
    options.add_json(p)
    p.add_argument("--fail-on-new", action="store_true", help="exit 1 when there are new problems")


@command("diff", help="new, resolved and persisting findings between two runs", arguments=_diff_arguments)
def run_diff(args: argparse.Namespace) -> int:
    from auditor.reports.diff import diff_documents, render_diff

    diff = diff_documents(load_findings(args.old), load_findings(args.new))
    common.out(diff.model_dump_json(indent=2) if args.json else render_diff(diff))
    return ExitCode.FINDINGS if args.fail_on_new and diff.new else ExitCode.OK
