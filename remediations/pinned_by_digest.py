"""``pinned-by-digest`` has no automatic fix: pinning means publishing a new workflow version.

Which digest is right (the one the last run used, or the tag's current one) is the workflow owner's call, and a
registered workflow version cannot be edited in place: the owner changes the definition and creates a version.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "pinned-by-digest"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        workflow = str(f.evidence.get("workflow", f.resource))
        commands = [
            command_line(["aws", "omics", "get-workflow", "--id", workflow, "--export", "DEFINITION"]),
            command_line(["omics-ecr-audit", "resolve", "<definition directory>"], comment="the digest of each tag"),
            shell_comment("write each container as repository@sha256:<digest> (definition and image mappings)"),
        ]
        for moved in f.evidence.get("tags_moved", []):
            commands.append(
                shell_comment(
                    f"{moved['image']}: the last run used {moved['run_digest']}, the tag now names "
                    f"{moved['current_digest']}: choose one"
                )
            )
        commands.append(shell_comment("then create a new workflow version (aws omics create-workflow-version)"))
        yield ManualStep.for_finding(
            f, title=f"Pin the images of workflow {workflow} by digest", why=f.message, commands=commands
        )
