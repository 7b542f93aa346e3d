"""``template-role-for-kms-and-tags`` is fixed by a person: which role ECR assumes, and what it may do, is theirs.

The role must trust ``ecr.amazonaws.com`` and be allowed to create and tag repositories and to use the template's
KMS key (ECR user guide, repository creation templates: custom policy and IAM role); choosing or creating it, and
granting it the key, is a security decision. The plan shows the trust statement, the permissions the guide lists,
and the update that sets ``customRoleArn`` with every other setting of the template sent back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "template-role-for-kms-and-tags"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecr.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ROLE_NAME = "EcrRepositoryCreationTemplateRole"  # a suggestion; the person choosing the role decides
# The permissions the ECR guide's custom policy for repository creation templates lists.
ROLE_ACTIONS = ("ecr:CreateRepository", "ecr:TagResource", "kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey")


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        prefix = f.evidence.get("prefix") or f.resource.split("/", 1)[-1]
        key = f.evidence.get("kms_key")
        role_arn = f"arn:{ctx.snap.partition}:iam::{f.account}:role/{ROLE_NAME}"
        yield ManualStep.for_finding(
            f,
            title=f"Give repository creation template {prefix!r} a custom role",
            why=f.message,
            commands=[
                shell_comment(f"role trust policy (trust.json): {json.dumps(TRUST)}"),
                shell_comment(
                    f"role permissions: {', '.join(ROLE_ACTIONS)}"
                    + (f" (the kms: actions on {key})" if key else " (kms: actions only for a KMS template)")
                ),
                command_line(
                    [
                        "aws",
                        "iam",
                        "create-role",
                        "--role-name",
                        ROLE_NAME,
                        "--assume-role-policy-document",
                        "file://trust.json",
                    ],
                    comment="or use an existing role that trusts ecr.amazonaws.com, and its ARN below",
                ),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "describe-repository-creation-templates",
                        "--prefixes",
                        prefix,
                        "--region",
                        f.region,
                    ],
                    comment="the template's current settings: send them back unchanged with the role",
                ),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "update-repository-creation-template",
                        "--prefix",
                        prefix,
                        "--custom-role-arn",
                        role_arn,
                        "--region",
                        f.region,
                    ],
                ),
            ],
        )
