"""``grants-scoped`` has no automatic fix: the plan shows the exact narrower statement to put in place.

Narrowing a grant can cut off access the scan cannot see: a workflow registered tomorrow under another prefix, a
principal sharing the statement, a repository a team creates by hand. The finding's evidence carries the narrower
statement, already checked by the policy evaluator against the probes and the grants HealthOmics needs; a person
decides and applies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import shell_comment

RULE_ID = "grants-scoped"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        commands: list[str] = []
        for fix in f.evidence.get("statements", []):
            commands.append(shell_comment(f"replace {fix['statement']} with:"))
            commands.append(shell_comment(json.dumps(fix["narrower_statement"], sort_keys=True)))
            if fix.get("note"):
                commands.append(shell_comment(fix["note"]))
        if f.evidence.get("how_to_apply"):
            commands.append(shell_comment(str(f.evidence["how_to_apply"])))
        if f.evidence.get("broad_grants"):
            commands.append(shell_comment(f"remove the ECR pull actions from {'; '.join(f.evidence['broad_grants'])}"))
            if f.evidence.get("narrower_statement"):
                statement = json.dumps(f.evidence["narrower_statement"], sort_keys=True)
                commands.append(shell_comment(f"aws iam put-role-policy with the statement {statement}"))
        yield ManualStep.for_finding(f, title=f"Narrow the grants of {f.resource}", why=f.message, commands=commands)
