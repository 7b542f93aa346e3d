"""``ptc-rule-unchanged-during-run`` has no automatic fix: the change already happened.

The plan says which runs to check and how to avoid it next time; the fixer's
own interlock (no cache-rule writes while a run is active) is the prevention.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line

RULE_ID = "ptc-rule-unchanged-during-run"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        runs = sorted({o["run"] for o in f.evidence.get("overlaps", [])})
        r = ("--region", f.region)
        yield ManualStep(
            rule_id=RULE_ID,
            finding_ids=[f.id],
            account=f.account,
            region=f.region,
            resource=f.resource,
            title=f"Check runs that overlapped a change to {f.resource.split('/', 1)[-1]}",
            why="A cache rule changed while these runs were active; they may have failed or used unexpected images. "
            "Change cache rules only when no run is active (omics-ecr-audit fix enforces this).",
            commands=[
                command_line(
                    ["aws", "omics", "get-run", "--id", run, *r],
                    comment="check status and task images; re-run if in doubt",
                )
                for run in runs
            ]
            + [
                command_line(
                    ["aws", "omics", "list-runs", "--status", "RUNNING", *r],
                    comment="before any future cache-rule change",
                )
            ],
        )
