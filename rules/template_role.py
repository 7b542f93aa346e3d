"""A repository creation template that sets KMS encryption or resource tags names a custom role.

ECR creates repositories from a template with its service-linked role unless ``customRoleArn`` names another
one; the ECR user guide says a template that uses KMS keys, resource tags or both needs a custom role
(aws-semantics.md §2). Without it the repository the first pull through the cache should create is not created,
and that first pull fails, long after the template was written.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.engine import Result, RuleContext, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import CreationTemplate, Snapshot

RULE_ID = "template-role-for-kms-and-tags"
KMS_TYPES = frozenset({"KMS", "KMS_DSSE"})
PTC = "PULL_THROUGH_CACHE"


def needs_role(template: CreationTemplate) -> list[str]:
    """What in the template needs a custom role: "KMS encryption (KMS)" and/or "resource tags"."""
    reasons = []
    if (template.encryption_type or "").upper() in KMS_TYPES:
        reasons.append(f"{template.encryption_type} encryption")
    if template.resource_tags:
        reasons.append(f"{len(template.resource_tags)} resource tag(s)")
    return reasons


@rule(
    id=RULE_ID,
    title="A creation template with KMS encryption or resource tags names a custom role",
    severity=Severity.HIGH,
    rationale=(
        "The ECR user guide (Creating a repository creation template) says that a template using KMS keys, resource "
        "tags or both needs a custom IAM role for ECR to assume (customRoleArn), with the policy and trust it "
        "describes; the service-linked role ECR uses otherwise cannot apply them. A pull-through cache template "
        "without one breaks the first pull of every new image under its prefix."
    ),
    remediation=(
        "Create a role trusted by ecr.amazonaws.com with the permissions the ECR guide lists for templates "
        "(ecr:CreateRepository, ecr:TagResource, kms:CreateGrant, kms:RetireGrant, kms:DescribeKey), then set it: "
        "`aws ecr update-repository-creation-template --prefix <prefix> --custom-role-arn <role ARN>` (send the "
        "template's other settings unchanged). Or drop the KMS encryption and resource tags from the template."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates-create.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates-create-iam.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates-custom.html",
    ],
    facets=["templates"],
    group="hygiene",
    fixable=False,  # a person's fix: the role, its trust and its KMS grants (remediations/template_role.py)
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("repository-creation-templates", templates=snap.templates)
    if errors:
        yield from errors
        return
    for template in snap.templates.value or []:
        resource = f"repository-creation-template/{template.prefix}"
        reasons = needs_role(template)
        evidence = {
            "prefix": template.prefix,
            "applied_for": template.applied_for,
            "encryption_type": template.encryption_type,
            "kms_key": template.kms_key,
            "resource_tags": [t.get("Key") for t in template.resource_tags],
            "custom_role_arn": template.custom_role_arn,
        }
        if not reasons:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=resource,
                evidence=evidence,
                message=f"Template {template.prefix!r} sets neither KMS encryption nor resource tags; ECR's "
                "service-linked role is enough.",
            )
        elif template.custom_role_arn:
            yield Result(
                status=Status.PASS,
                resource=resource,
                evidence=evidence,
                message=f"Template {template.prefix!r} sets {' and '.join(reasons)} and names custom role "
                f"{template.custom_role_arn}.",
            )
        else:
            uses = ", ".join(template.applied_for) or "no scenario"
            yield Result(
                status=Status.FAIL,
                resource=resource,
                evidence=evidence,
                # Only a pull-through cache template breaks HealthOmics' first pull; the others break replication
                # or create-on-push, which is still worth knowing.
                severity=None if PTC in template.applied_for else Severity.MEDIUM,
                message=f"Template {template.prefix!r} (applied for {uses}) sets {' and '.join(reasons)} but names "
                "no customRoleArn: ECR cannot create repositories from it, so the first pull of a new image under "
                "it fails.",
            )
