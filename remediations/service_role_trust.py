"""``service-role-trusts-omics`` is fixed by a person: a trust policy decides who may become the role.

Widening who can assume a role is a security decision the auditor does not take on its own, even towards
omics.amazonaws.com; the plan shows the documented statement (scoped to this account with
aws:SourceAccount) and the two commands that merge it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.grants import OMICS
from auditor.terminal import command_line, shell_comment

RULE_ID = "service-role-trusts-omics"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        name = f.resource.rsplit("/", 1)[-1]
        statement = {
            "Sid": "AllowHealthOmicsToAssume",
            "Effect": "Allow",
            "Principal": {"Service": OMICS},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": f.account}},
        }
        yield ManualStep.for_finding(
            f,
            title=f"Let HealthOmics assume role {name}",
            why=f.message,
            commands=[
                command_line(
                    ["aws", "iam", "get-role", "--role-name", name, "--query", "Role.AssumeRolePolicyDocument"],
                    comment="the current trust policy; keep its other statements and remove any Deny on omics",
                ),
                shell_comment(f"merge this statement: {json.dumps(statement)}"),
                command_line(
                    [
                        "aws",
                        "iam",
                        "update-assume-role-policy",
                        "--role-name",
                        name,
                        "--policy-document",
                        "file://trust.json",
                    ]
                ),
            ],
        )
