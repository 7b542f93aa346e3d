"""Fix ``repository-policy-grants-omics``: merge the omics pull statement into each repository's policy.

Templates only act when a repository is created, so existing cache repositories
and image-mapping destinations are fixed one by one with SetRepositoryPolicy.
A repository without a policy gets one holding only our statement (rollback
deletes it again); a repository with a policy keeps every other statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import botocore.exceptions

from auditor.findings import Finding, Status
from auditor.fix import ApiCall, Clients, FixContext, PlanItem, StateKind, Target, fixer, make_change, register_kind
from auditor.fix import refused as refuse
from auditor.grants import FIX_PULL_ACTIONS, OMICS_PULL_ACTIONS, resource_policy_grants_omics
from auditor.policy_merge import ECR_POLICY_LIMIT, PolicyMergeError, merge_statement, parse_document, render

RULE_ID = "repository-policy-grants-omics"
SID = "OmicsEcrAuditPull"


def pull_statement(account: str) -> dict[str, Any]:
    """The omics pull grant for a repository policy (no Resource: a repository policy is about itself)."""
    return {
        "Sid": SID,
        "Effect": "Allow",
        "Principal": {"Service": "omics.amazonaws.com"},
        "Action": list(FIX_PULL_ACTIONS),
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }


def _read(clients: Clients, target: Target) -> str | None:
    try:
        client = clients.get("ecr", target.region)
        response = client.get_repository_policy(repositoryName=target.key["repositoryName"])
        return cast(str, response["policyText"])  # boto3 responses are untyped
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "RepositoryPolicyNotFoundException":
            return None
        raise


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    name = target.key["repositoryName"]
    if saved is None:
        if current is None:
            return []
        return [ApiCall(service="ecr", operation="DeleteRepositoryPolicy", params={"repositoryName": name})]
    return [
        ApiCall(service="ecr", operation="SetRepositoryPolicy", params={"repositoryName": name, "policyText": saved})
    ]


KIND = register_kind(
    StateKind(
        name="repository_policy",
        read=_read,
        restore=_restore,
        permissions=("ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"),
        writes=(("ecr", "SetRepositoryPolicy"), ("ecr", "DeleteRepositoryPolicy")),
    )
)


@fixer(rule_id=RULE_ID, permissions=KIND.permissions)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    snap = ctx.snap
    for f in findings:
        name = f.evidence.get("repository")
        if not name:
            continue
        target = Target(kind=KIND.name, account=snap.account_id, region=snap.region, key={"repositoryName": name})
        before = ctx.read(target)
        try:
            doc = parse_document(before, f"repository {name}'s policy")
            text = render(merge_statement(doc, pull_statement(snap.account_id)), ECR_POLICY_LIMIT, "repository policy")
        except PolicyMergeError as exc:
            yield refuse(f, str(exc))
            continue
        if resource_policy_grants_omics(text, snap, OMICS_PULL_ACTIONS, f.resource).status != Status.PASS:
            yield refuse(f, f"repository {name}'s policy denies omics.amazonaws.com; an Allow would not help")
            continue
        yield make_change(
            rule_id=RULE_ID,
            findings=[f],
            target=target,
            summary=f"Repository {name}: merge the omics pull statement into its policy"
            + (" (it has none yet)." if before is None else " (other statements unchanged)."),
            api_calls=[
                ApiCall(
                    service="ecr", operation="SetRepositoryPolicy", params={"repositoryName": name, "policyText": text}
                )
            ],
            before=before,
            after=text,
            permissions=KIND.permissions,
        )
