"""Images in another account's ECR are readable by the run roles of the workflows that use them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.derive import ImageUse, foreign_repositories
from auditor.engine import Result, RuleContext, error_result, facet_errors, role_or_result, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS_PULL_ACTIONS, Verdict, access_grants, identity_grants
from auditor.models import RolePolicies, Snapshot
from auditor.policy import Decision, PolicyParseError, Request, evaluate_resource_policy, parse_policy

RULE_ID = "cross-account-source-grants"


def resource_policy_grants(
    policy: str | None, actions: list[str], arn: str, *, principal_arn: str, account: str
) -> Verdict:
    """The source side alone: does the repository policy name the principal (or its account) for ``actions``?"""
    if policy is None:
        return Verdict(status=Status.FAIL, missing=actions, reasons=["there is no repository policy"])
    try:
        parsed = parse_policy(policy, resource_policy=True)
    except PolicyParseError as exc:
        return Verdict(status=Status.FAIL, missing=actions, reasons=[f"not a valid policy document: {exc}"])
    verdict = Verdict(status=Status.PASS)
    for action in actions:
        ev = evaluate_resource_policy(
            parsed, Request(action=action, resource=arn, principal_arn=principal_arn, principal_account=account)
        )
        bucket = {
            Decision.EXPLICIT_DENY: verdict.denied,
            Decision.IMPLICIT_DENY: verdict.missing,
            Decision.UNKNOWN: verdict.undecided,
        }.get(ev.decision)
        if bucket is not None:
            bucket.append(action)
            verdict.reasons += [r for r in ev.reasons if r not in verdict.reasons]
    verdict.status = (
        Status.FAIL if verdict.denied or verdict.missing else Status.ERROR if verdict.undecided else Status.PASS
    )
    return verdict


def cross_account_grants(
    role: RolePolicies, policy: str | None, arn: str, actions: Iterable[str], *, account: str
) -> dict[str, Verdict]:
    """Both sides of a cross-account pull: the source repository's policy and the role's own policies."""
    actions = list(actions)
    return {
        "repository policy": resource_policy_grants(policy, actions, arn, principal_arn=role.arn, account=account),
        "role": identity_grants(
            list(role.inline_policies.values()) + list(role.attached_policies.values()),
            actions,
            arn,
            boundary=role.permissions_boundary,
            principal_arn=role.arn,
            account=account,
        ),
    }


def _roles_using(snap: Snapshot, uses: list[ImageUse]) -> dict[str, list[str]]:
    """Run role ARN -> the workflows (that use the repository) it ran."""
    workflows = {u.workflow_id for u in uses}
    roles: dict[str, list[str]] = {}
    for run in snap.runs.value or []:
        if run.role_arn and run.workflow_id in workflows:
            seen = roles.setdefault(run.role_arn, [])
            if run.workflow_id not in seen:
                seen.append(run.workflow_id)
    return roles


@rule(
    id=RULE_ID,
    title="A container image in another account's ECR is readable by the run roles that pull it",
    severity=Severity.HIGH,
    rationale=(
        "A different AWS account can own a workflow's container image as long as the source repository grants "
        "access. Across accounts both sides must allow the pull: the source repository's policy must grant the "
        "run role (or the workflow's account) ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, and the role's "
        "identity policies must allow them on that repository's ARN. In an organisation scan the source account "
        "is scanned too and its policy is read there; in a single-account scan the policy is read across accounts, "
        "and when that is not allowed the finding is an ERROR naming the access it lacked."
    ),
    remediation=(
        "In the source account, add a repository policy statement granting the run role ARN the pull actions "
        "(`aws ecr set-repository-policy --registry-id <source account>`), and allow the same actions on the "
        "repository ARN in the run role's identity policy."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html",
    ],
    facets=[
        "foreign_repository_policies",
        "workflows",
        "workflow_definitions",
        "runs",
        "run_tasks",
        "roles",
        "service_roles",
    ],
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    # Which images are used comes from the workflows, their definitions and their runs' tasks.
    errors = facet_errors("omics-workflows", workflows=snap.workflows)
    if errors:
        yield from errors
        return
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose roles pull the images")
    for arn, uses in sorted(foreign_repositories(snap).items()):
        owner = arn.split(":")[4]
        where = sorted({f"workflow {u.workflow_id} ({u.origin})" for u in uses})
        evidence: dict[str, Any] = {"repository": arn, "owner": owner, "used_by": where[:10]}
        policy = snap.foreign_repository_policies.get(arn)
        if policy is None:
            yield Result(status=Status.ERROR, resource=arn, evidence=evidence, message="The policy was not collected.")
            continue
        if policy.error is not None:
            result = error_result(policy.error, arn, f"the repository policy in account {owner}")
            result.message += (
                f". Without it the cross-account pull cannot be judged: scan account {owner} in the same run "
                f"(organisation scan), or let account {snap.account_id} call ecr:GetRepositoryPolicy on it."
            )
            result.evidence.update(evidence)
            yield result
            continue
        roles = _roles_using(snap, uses)
        if not roles and snap.runs.error is not None:
            yield error_result(snap.runs.error, arn, "the runs, so which roles pull this image is not known")
            continue
        if not roles:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=arn,
                evidence=evidence,
                message=f"No recent run of the workflows using {arn} names a run role to judge.",
            )
            continue
        for role_arn, workflows in sorted(roles.items()):
            yield _judge(snap, arn, owner, role_arn, workflows, policy.value, dict(evidence))


def _judge(
    snap: Snapshot,
    arn: str,
    owner: str,
    role_arn: str,
    workflows: list[str],
    policy: str | None,
    evidence: dict[str, Any],
) -> Result:
    resource = f"{arn}|{role_arn}"
    evidence.update({"role": role_arn, "workflows": workflows})
    role = role_or_result(snap, role_arn, evidence, resource=resource)
    if isinstance(role, Result):
        return role
    # The verdict: every policy as AWS combines them across accounts (both sides must allow, any Deny wins).
    overall = access_grants(
        OMICS_PULL_ACTIONS,
        arn,
        principal_arn=role.arn,
        identity_documents=list(role.inline_policies.values()) + list(role.attached_policies.values()),
        boundary=role.permissions_boundary,
        resource_policy=policy,
        resource_account=owner,
    )
    # Each side on its own, only to say which one is missing.
    sides: dict[str, Verdict] = cross_account_grants(role, policy, arn, OMICS_PULL_ACTIONS, account=snap.account_id)
    evidence["decision"] = overall.evidence()
    evidence["sides"] = {side: verdict.evidence() for side, verdict in sides.items()}
    if overall.status == Status.PASS:
        return Result(
            status=Status.PASS,
            resource=resource,
            evidence=evidence,
            message=f"Role {role.name} may pull {arn}: the source account's repository policy grants it and its "
            "own policies allow it.",
        )
    failing = {side: v for side, v in sides.items() if v.status == Status.FAIL}
    if overall.status == Status.FAIL and not failing:
        failing = {"both": overall}
    undecided = {side: v for side, v in sides.items() if v.status == Status.ERROR} or {"both": overall}
    if failing:
        parts = []
        if "repository policy" in failing:
            v = failing["repository policy"]
            parts.append(
                f"the repository policy in account {owner} does not grant {role.name} {', '.join(v.denied + v.missing)}"
            )
        if "role" in failing:
            v = failing["role"]
            parts.append(f"role {role.name}'s own policies do not allow {', '.join(v.denied + v.missing)} on it")
        if "both" in failing:
            parts.append("; ".join(failing["both"].reasons[-3:]))
        return Result(
            status=Status.FAIL,
            resource=resource,
            evidence=evidence,
            message=f"Role {role.name} cannot pull {arn} across accounts: " + "; ".join(parts) + ".",
        )
    reasons = "; ".join(r for v in undecided.values() for r in v.reasons[:3])
    return Result(
        status=Status.ERROR,
        resource=resource,
        evidence=evidence,
        message=f"Cannot decide whether role {role.name} may pull {arn}: {reasons}",
    )
