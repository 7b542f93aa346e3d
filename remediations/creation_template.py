"""Fix ``creation-template-grants-omics``: create a PULL_THROUGH_CACHE template, or merge into the covering one.

* No template applied for PULL_THROUGH_CACHE covers the prefix: create one with
  exactly the PTC prefix, AES256, mutable tags (cache repositories must stay
  mutable to be refreshed) and a repository policy holding the omics pull
  statement.
* A covering template exists but does not grant: merge the omics statement
  into its repository policy and send every other setting back unchanged
  (UpdateRepositoryCreationTemplate's treatment of omitted members is not
  documented, so nothing is left to its default).
* A template with exactly that prefix exists but is not applied for
  PULL_THROUGH_CACHE: changing what it applies to would change other teams'
  repositories too, so that is a manual step.

The statement grants all three pull actions (one more than HealthOmics' own
template example) so repositories created from the template also pass the
repository-policy rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import botocore.session
from auditor.remediations.repository_policy import pull_statement
from auditor.rules.creation_template import PTC, covering_template

from auditor.findings import Finding, Status
from auditor.fix import (
    ApiCall,
    Clients,
    FixContext,
    ManualStep,
    PlanItem,
    StateKind,
    Target,
    fixer,
    make_change,
    register_kind,
)
from auditor.fix import refused as refuse
from auditor.grants import OMICS_PULL_ACTIONS, resource_policy_grants_omics
from auditor.policy_merge import ECR_POLICY_LIMIT, PolicyMergeError, merge_statement, parse_document, render
from auditor.terminal import command_line, shell_comment

RULE_ID = "creation-template-grants-omics"
# Every member UpdateRepositoryCreationTemplate takes, from botocore's model (the final word on shapes).
SETTINGS = tuple(
    botocore.session.get_session()
    .get_service_model("ecr")
    .operation_model("UpdateRepositoryCreationTemplate")
    .input_shape.members
)
_CLEARABLE = ("description", "repositoryPolicy", "lifecyclePolicy")  # strings an update can empty


def _settings(template: dict[str, Any]) -> dict[str, Any]:
    return {k: template[k] for k in SETTINGS if template.get(k) not in (None, "", [])}


def _read(clients: Clients, target: Target) -> dict[str, Any] | None:
    prefix = target.key["prefix"]
    pages = clients.get("ecr", target.region).get_paginator("describe_repository_creation_templates")
    for page in pages.paginate(prefixes=[prefix]):
        for template in page.get("repositoryCreationTemplates", []):
            if template.get("prefix") == prefix:
                return _settings(template)
    return None


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    prefix = target.key["prefix"]
    if saved is None:
        return [ApiCall(service="ecr", operation="DeleteRepositoryCreationTemplate", params={"prefix": prefix})]
    if current is None:
        return [ApiCall(service="ecr", operation="CreateRepositoryCreationTemplate", params=dict(saved))]
    params = dict(saved)
    for name in _CLEARABLE:
        if name not in saved and name in current:
            params[name] = ""
    return [ApiCall(service="ecr", operation="UpdateRepositoryCreationTemplate", params=params)]


KIND = register_kind(
    StateKind(
        name="creation_template",
        read=_read,
        restore=_restore,
        permissions=(
            "ecr:DescribeRepositoryCreationTemplates",
            "ecr:CreateRepositoryCreationTemplate",
            "ecr:UpdateRepositoryCreationTemplate",
            "ecr:DeleteRepositoryCreationTemplate",
            # ECR's template page lists these for whoever manages templates with policies.
            "ecr:CreateRepository",
            "ecr:PutLifecyclePolicy",
            "ecr:SetRepositoryPolicy",
            # an existing template's customRoleArn is sent back unchanged on update
            "iam:PassRole",
        ),
        writes=(
            ("ecr", "CreateRepositoryCreationTemplate"),
            ("ecr", "UpdateRepositoryCreationTemplate"),
            ("ecr", "DeleteRepositoryCreationTemplate"),
        ),
    )
)


def _policy_with_grant(current_text: str | None, account: str) -> str:
    doc = parse_document(current_text, "the template's repository policy")
    return render(merge_statement(doc, pull_statement(account)), ECR_POLICY_LIMIT, "template repository policy")


@fixer(rule_id=RULE_ID, permissions=KIND.permissions)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    snap = ctx.snap
    templates = snap.templates.value or []
    by_prefix = {t.prefix: t for t in templates}
    groups: dict[str, list[Finding]] = {}  # template prefix to write -> findings it fixes
    for f in findings:
        prefix = f.evidence["prefix"]
        covering = covering_template(templates, prefix)
        if covering is None and prefix in by_prefix:
            other = by_prefix[prefix]
            yield ManualStep(
                rule_id=RULE_ID,
                finding_ids=[f.id],
                account=snap.account_id,
                region=snap.region,
                resource=f.resource,
                title=f"Apply template {prefix!r} to PULL_THROUGH_CACHE",
                why=f"Template {prefix!r} exists but applies only to {other.applied_for}; adding PULL_THROUGH_CACHE "
                "would also give new cache repositories its other settings, which its owners should decide.",
                commands=[
                    command_line(
                        [
                            *("aws", "ecr", "update-repository-creation-template", "--prefix", prefix),
                            *("--applied-for", *other.applied_for, PTC, "--region", snap.region),
                        ]
                    ),
                    # A comment, not prose: every line of a plan's commands must be safe to paste.
                    shell_comment(
                        "then re-run `omics-ecr-audit fix` to merge the omics pull statement into its policy"
                    ),
                ],
            )
            continue
        groups.setdefault(covering.prefix if covering else prefix, []).append(f)
    for template_prefix, group in groups.items():
        target = Target(kind=KIND.name, account=snap.account_id, region=snap.region, key={"prefix": template_prefix})
        before = ctx.read(target)
        after: dict[str, Any]  # the template as it will be written
        try:
            if before is None:
                after = {
                    "prefix": template_prefix,
                    "description": f"HealthOmics pull access for {template_prefix} cache repositories "
                    "(created by omics-ecr-audit)",
                    "encryptionConfiguration": {"encryptionType": "AES256"},
                    "imageTagMutability": "MUTABLE",
                    "repositoryPolicy": _policy_with_grant(None, snap.account_id),
                    "appliedFor": [PTC],
                }
                call = ApiCall(service="ecr", operation="CreateRepositoryCreationTemplate", params=after)
                summary = f"Create repository creation template {template_prefix!r} for PULL_THROUGH_CACHE with the "
                summary += "omics pull statement."
            else:
                after = {
                    **before,
                    "repositoryPolicy": _policy_with_grant(before.get("repositoryPolicy"), snap.account_id),
                }
                call = ApiCall(service="ecr", operation="UpdateRepositoryCreationTemplate", params=after)
                summary = f"Template {template_prefix!r}: merge the omics pull statement into its repository policy "
                summary += "(other statements and settings unchanged)."
        except PolicyMergeError as exc:
            for f in group:
                yield refuse(f, str(exc))
            continue
        denied = [
            f
            for f in group
            if resource_policy_grants_omics(
                after["repositoryPolicy"], snap, OMICS_PULL_ACTIONS, snap.prefix_pattern(f.evidence["prefix"])
            ).status
            != Status.PASS
        ]
        for f in denied:
            yield refuse(f, "the template's policy denies omics.amazonaws.com; adding an Allow would not help")
        fixed = [f for f in group if f not in denied]
        if not fixed:
            continue
        yield make_change(
            rule_id=RULE_ID,
            findings=fixed,
            target=target,
            summary=summary,
            api_calls=[call],
            before=before,
            after=after,
            permissions=KIND.permissions,
        )
