"""``report`` and ``diff``: render a findings.json, and compare two of them.

report: 0 written (2 on bad input, 4 when a Security Hub import failed). Its status lines ("report written
to ...") go to stdout, as scan's do; with ``--out -`` stdout carries the report itself and there are none.
diff: 0, or 1 with --fail-on-new when there are new problems.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor.commands import command, common, options
from auditor.errors import ExitCode
from auditor.findings import load_findings
from auditor.outputs import is_s3


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "findings", help="findings.json written by scan, demo or the nightly run (a file or s3://BUCKET/KEY)"
    )
    options.add_format(p, default="html", help=f"report formats, comma-separated: {options.REPORT_FORMATS}")
    options.add_out(
        p,
        help="file, folder (ending in /), s3://BUCKET/PREFIX, or - for stdout "
        "(default: report.<suffix> beside FINDINGS)",
    )
    options.add_previous(p)
    p.add_argument("--suppressions", help="apply this suppressions file before rendering")
    options.add_securityhub(p)
    options.add_aws(p)


@command(
    "report",
    help="render a findings.json as HTML, SARIF, JUnit, ASFF, OCSF or CSV",
    arguments=_report_arguments,
)
def run_report(args: argparse.Namespace) -> int:
    from auditor.reports.command import parse_formats, write_to
    from auditor.scan import suppress
    from auditor.suppressions import load_suppressions

    formats = parse_formats(args.format)
    doc = common.findings_of(args, args.findings)
    if args.suppressions:
        doc = suppress(doc, load_suppressions(args.suppressions))
    out = args.out
    if not out:  # beside FINDINGS, wherever that is
        out = args.findings.rpartition("/")[0] + "/" if is_s3(args.findings) else str(Path(args.findings).parent) + "/"
    previous = common.previous_of(args)
    if is_s3(out):
        # s3://b/p/ (or several formats): report.<suffix> under the prefix; s3://b/p/name.html: that object
        folderlike = out.endswith("/") or len(formats) > 1 or out.count("/") == 2
        parent, _, name = (out, "", "") if folderlike else out.rpartition("/")
        with common.outputs(args, parent) as folder:
            local = str(folder.path) + "/" if folderlike else str(folder.path / name)
            for path in write_to(doc, formats, local, previous):
                common.out(f"report written to {folder.publish(path)}")
    else:
        for path in write_to(doc, formats, out, previous):
            common.out(f"report written to {path}")
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
