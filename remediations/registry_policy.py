"""Fix ``registry-policy-allows-omics``: merge one omics statement into the registry policy.

The statement (Sid ``OmicsEcrAuditPtcImport``) grants ``omics.amazonaws.com``
``ecr:CreateRepository`` and ``ecr:BatchImportUpstreamImage`` on exactly
``arn:aws:ecr:<region>:<account>:repository/<prefix>/*`` for each prefix that
lacks the grant, limited by ``aws:SourceAccount`` to this account. A later fix
extends the same statement's Resource list; nothing else in the policy moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import botocore.exceptions

from auditor.findings import Finding, Status
from auditor.fix import ApiCall, Clients, FixContext, PlanItem, StateKind, Target, fixer, make_change, register_kind
from auditor.fix import refused as refuse
from auditor.grants import PTC_REGISTRY_ACTIONS, resource_policy_grants_omics
from auditor.policy_merge import (
    ECR_POLICY_LIMIT,
    PolicyMergeError,
    find_statement,
    merge_statement,
    parse_document,
    render,
)

RULE_ID = "registry-policy-allows-omics"
SID = "OmicsEcrAuditPtcImport"
OMICS = "omics.amazonaws.com"


def _read(clients: Clients, target: Target) -> str | None:
    try:
        return cast(str, clients.get("ecr", target.region).get_registry_policy()["policyText"])  # untyped boto3
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "RegistryPolicyNotFoundException":
            return None
        raise


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    if saved is None:
        return [ApiCall(service="ecr", operation="DeleteRegistryPolicy")] if current is not None else []
    return [ApiCall(service="ecr", operation="PutRegistryPolicy", params={"policyText": saved})]


KIND = register_kind(
    StateKind(
        name="registry_policy",
        read=_read,
        restore=_restore,
        permissions=("ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy", "ecr:DeleteRegistryPolicy"),
        writes=(("ecr", "PutRegistryPolicy"), ("ecr", "DeleteRegistryPolicy")),
    )
)


def statement(resources: list[str], account: str) -> dict[str, Any]:
    return {
        "Sid": SID,
        "Effect": "Allow",
        "Principal": {"Service": OMICS},
        "Action": list(PTC_REGISTRY_ACTIONS),
        "Resource": resources,
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }


@fixer(rule_id=RULE_ID, permissions=KIND.permissions)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    if not findings:
        return
    snap = ctx.snap
    target = Target(kind=KIND.name, account=snap.account_id, region=snap.region)
    before = ctx.read(target)
    try:
        doc = parse_document(before, "the registry policy")
        ours = find_statement(doc, SID) or {}
        resources = ours.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else list(resources)
        for f in findings:
            pattern = snap.prefix_pattern(f.evidence["prefix"])
            if pattern not in resources:
                resources.append(pattern)
        text = render(merge_statement(doc, statement(resources, snap.account_id)), ECR_POLICY_LIMIT, "registry policy")
    except PolicyMergeError as exc:
        for f in findings:
            yield refuse(f, str(exc))
        return
    still_denied = []
    for f in findings:
        verdict = resource_policy_grants_omics(
            text, snap, PTC_REGISTRY_ACTIONS, snap.prefix_pattern(f.evidence["prefix"])
        )
        if verdict.status != Status.PASS:
            still_denied.append(
                (f, verdict.message(subject="The merged registry policy", scope=f.resource, granted=""))
            )
    if still_denied:
        # An explicit Deny (or a condition) another team wrote wins over our Allow; that is theirs to change.
        for f, why in still_denied:
            yield refuse(f, f"adding the grant would not be enough: {why}")
        denied_ids = {d[0].id for d in still_denied}
        findings = [f for f in findings if f.id not in denied_ids]
        if not findings:
            return
    prefixes = ", ".join(f.evidence["prefix"] for f in findings)
    yield make_change(
        rule_id=RULE_ID,
        findings=findings,
        target=target,
        summary=f"Registry policy: let omics.amazonaws.com create and import cache repositories under {prefixes} "
        f"(statement {SID}; other statements unchanged).",
        api_calls=[ApiCall(service="ecr", operation="PutRegistryPolicy", params={"policyText": text})],
        before=before,
        after=text,
        permissions=KIND.permissions,
    )
