"""``lifecycle-keeps-used-images`` has no automatic fix: the plan tells a person which rule to change.

Which images a repository keeps is its owner's retention decision (cost, compliance); rewriting a lifecycle
policy could keep what must go or, worse, a wrong edit could expire more. The step names the rule, the image and
the commands to preview the corrected policy before putting it.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "lifecycle-keeps-used-images"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        expiring = f.evidence.get("expiring") or []
        names = ", ".join(sorted({str(e.get("image")) for e in expiring})) or f.resource
        rules = sorted({int(e["rule_priority"]) for e in expiring if "rule_priority" in e})
        repository = f.evidence.get("repository")
        template = f.evidence.get("template")
        if template:
            commands = [
                command_line(["aws", "ecr", "describe-repository-creation-templates", "--prefixes", str(template)]),
                shell_comment(
                    f"edit rule(s) {rules} of its lifecycle policy, or add a higher-priority rule selecting {names}"
                ),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "update-repository-creation-template",
                        "--prefix",
                        str(template),
                        "--lifecycle-policy",
                        "file://lifecycle.json",
                    ]
                ),
            ]
        else:
            name = str(repository or f.resource.rsplit("repository/", 1)[-1])
            commands = [
                command_line(["aws", "ecr", "get-lifecycle-policy", "--repository-name", name]),
                shell_comment(
                    f"edit rule(s) {rules}, or add a higher-priority rule whose tagPatternList selects {names} "
                    "(imageCountMoreThan with a large countNumber): a lower rule cannot expire what it selects"
                ),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "start-lifecycle-policy-preview",
                        "--repository-name",
                        name,
                        "--lifecycle-policy-text",
                        "file://lifecycle.json",
                    ],
                    comment="check the preview keeps the images in use",
                ),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "put-lifecycle-policy",
                        "--repository-name",
                        name,
                        "--lifecycle-policy-text",
                        "file://lifecycle.json",
                    ]
                ),
            ]
        yield ManualStep.for_finding(
            f,
            title=f"Keep {names} out of the lifecycle policy's reach",
            why=f.message,
            commands=commands,
        )
