"""``cross-account-source-grants`` has no automatic fix: the source repository belongs to another account.

The auditor never writes outside the account it fixes; the plan gives the source account's owner the exact
statement to merge, and the workflow account's side when the role lacks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.grants import FIX_PULL_ACTIONS
from auditor.terminal import command_line, shell_comment

RULE_ID = "cross-account-source-grants"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        repository = str(f.evidence.get("repository", f.resource.split("|")[0]))
        role = str(f.evidence.get("role", ""))
        owner = repository.split(":")[4] if repository.count(":") >= 5 else "<source account>"
        name = repository.split(":repository/", 1)[-1]
        statement = {
            "Sid": "AllowHealthOmicsRunRolePull",
            "Effect": "Allow",
            "Principal": {"AWS": role or "<run role ARN>"},
            "Action": list(FIX_PULL_ACTIONS),
        }
        yield ManualStep.for_finding(
            f,
            title=f"Let {role or 'the run role'} pull {repository}",
            why=f.message,
            commands=[
                shell_comment(f"in account {owner}: merge this statement into {name}'s repository policy"),
                shell_comment(json.dumps(statement)),
                command_line(
                    ["aws", "ecr", "get-repository-policy", "--registry-id", owner, "--repository-name", name],
                    comment="read the current policy first; keep its other statements",
                ),
                shell_comment(
                    f"in account {f.account}: allow {', '.join(FIX_PULL_ACTIONS)} on {repository} in the role's policy"
                ),
            ],
        )
