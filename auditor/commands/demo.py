"""``demo``: seed the embedded sandbox with a broken account, scan it, plan (and with --fix apply) the fixes.

Exit codes as scan's (of the re-scan after --fix).
"""

from __future__ import annotations

import argparse

from auditor.commands import command, common, options
from auditor.findings import exit_code


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    options.add_scan_options(p, out="demo-out")
    p.add_argument("--fix", action="store_true", help="also apply the plan and re-scan (writes findings-after.json)")
    options.add_outputs(p, default="html")


@command(
    "demo",
    help="seed the embedded sandbox with a realistic broken account and scan it",
    arguments=_demo_arguments,
)
def run_demo(args: argparse.Namespace) -> int:
    from auditor.demo import run_demo
    from auditor.fix import render_plan
    from auditor.fixrun import render_report

    config, rules, suppressions = common.selection_of(args)
    with common.outputs(args) as folder:
        result = run_demo(config, rules, out_dir=folder.path, fix=args.fix, suppressions=suppressions)
        common.report(result.findings, args, folder=folder)
        plan = folder.publish(folder.path / "plan.json")
        if not args.quiet:
            common.out("\n" + render_plan(result.plan) + f"\n\nplan written to {plan}")
        if result.report is not None:
            assert result.findings_after is not None
            common.report(result.findings_after, args, "findings-after.json", previous=result.findings, folder=folder)
            if not args.quiet:
                common.out("\n" + render_report(result.report))
            return exit_code(result.findings_after, config.severity_threshold)
        return exit_code(result.findings, config.severity_threshold)
