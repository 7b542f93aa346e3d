"""Fix ``service-role-can-pull``: a least-privilege inline policy on the HealthOmics service role.

The inline policy ``OmicsEcrAuditPull`` holds one statement (same Sid) allowing
the three pull actions on exactly the repositories the role's own workflows use
in this region (their definitions and recent runs' tasks) that the role cannot
pull from yet: the fix never widens a role beyond what its workflows use. If a
permissions boundary, an explicit Deny or a run's session policy would still
block the pull, an Allow cannot help and the plan refuses instead of pretending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import botocore.exceptions
from auditor.rules.service_role import can_pull, pull_targets

from auditor.findings import Finding, Status
from auditor.fix import ApiCall, Clients, FixContext, PlanItem, StateKind, Target, fixer, make_change, register_kind
from auditor.fix import refused as refuse
from auditor.grants import FIX_PULL_ACTIONS
from auditor.policy_merge import (
    IAM_INLINE_POLICY_LIMIT,
    PolicyMergeError,
    find_statement,
    merge_statement,
    parse_document,
    render,
)

RULE_ID = "service-role-can-pull"
POLICY_NAME = "OmicsEcrAuditPull"
SID = "OmicsEcrAuditPull"


def _read(clients: Clients, target: Target) -> dict[str, Any] | None:
    try:
        resp = clients.get("iam", target.region).get_role_policy(
            RoleName=target.key["roleName"], PolicyName=target.key["policyName"]
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise
    doc = resp["PolicyDocument"]  # boto3 responses are untyped; IAM returns the document as a JSON object
    return cast("dict[str, Any]", json.loads(doc) if isinstance(doc, str) else doc)


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    key = {"RoleName": target.key["roleName"], "PolicyName": target.key["policyName"]}
    if saved is None:
        return [ApiCall(service="iam", operation="DeleteRolePolicy", params=key)] if current is not None else []
    return [ApiCall(service="iam", operation="PutRolePolicy", params={**key, "PolicyDocument": json.dumps(saved)})]


KIND = register_kind(
    StateKind(
        name="role_policy",
        read=_read,
        restore=_restore,
        permissions=("iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"),
        writes=(("iam", "PutRolePolicy"), ("iam", "DeleteRolePolicy")),
    )
)


def _compact_size(doc: Any) -> int:
    return len(json.dumps(doc, separators=(",", ":")))


@fixer(rule_id=RULE_ID, permissions=KIND.permissions)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    snap = ctx.snap
    sessions: dict[str, list[str]] = {}
    for run in snap.runs.value or []:
        if run.role_arn and run.session_policy:
            sessions.setdefault(run.role_arn, []).append(run.session_policy)
    for f in findings:
        arn = f.resource
        collected = snap.roles.get(arn)
        role = collected.value if collected else None
        if role is None:
            yield refuse(f, "the role's policies were not collected")
            continue
        target = Target(
            kind=KIND.name,
            account=snap.account_id,
            region=snap.region,
            key={"roleName": role.name, "policyName": POLICY_NAME},
        )
        # Only what this role's workflows use and it cannot pull yet: never a prefix, never another team's scope.
        targets = [
            t
            for t in pull_targets(snap, arn)
            if any(can_pull(snap, role, t, s).status != Status.PASS for s in [None, *sessions.get(arn, [])])
        ]
        if not targets:
            continue
        before = ctx.read(target)
        try:
            doc = parse_document(json.dumps(before) if before is not None else None, f"inline policy {POLICY_NAME}")
            existing = find_statement(doc, SID) or {}
            resources = existing.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else list(resources)
            resources += sorted(t for t in targets if t not in resources)
            new_doc = merge_statement(
                doc, {"Sid": SID, "Effect": "Allow", "Action": list(FIX_PULL_ACTIONS), "Resource": resources}
            )
            others = sum(_compact_size(d) for name, d in role.inline_policies.items() if name != POLICY_NAME)
            if others + _compact_size(new_doc) > IAM_INLINE_POLICY_LIMIT:
                raise PolicyMergeError(
                    f"role {role.name}'s inline policies would total {others + _compact_size(new_doc):,} characters, "
                    f"over IAM's {IAM_INLINE_POLICY_LIMIT:,}; attach a managed policy instead"
                )
            text = render(new_doc, IAM_INLINE_POLICY_LIMIT, "inline policy")
        except PolicyMergeError as exc:
            yield refuse(f, str(exc))
            continue
        docs = [d for name, d in role.inline_policies.items() if name != POLICY_NAME] + [new_doc]
        docs += list(role.attached_policies.values())
        blocked = []
        for session_policy in [None, *sessions.get(arn, [])]:
            for t in targets:
                verdict = can_pull(snap, role, t, session_policy, documents=docs)
                if verdict.status != Status.PASS:
                    where = "a run's session policy" if session_policy else "the role's boundary or a Deny"
                    blocked.append(f"{where} still blocks {', '.join(verdict.denied + verdict.missing) or 'it'} on {t}")
        if blocked:
            yield refuse(f, "an Allow would not be enough: " + "; ".join(sorted(set(blocked))))
            continue
        yield make_change(
            rule_id=RULE_ID,
            findings=[f],
            target=target,
            summary=f"Role {role.name}: inline policy {POLICY_NAME} allowing {', '.join(FIX_PULL_ACTIONS)} on "
            f"{len(resources)} repository scope(s).",
            api_calls=[
                ApiCall(
                    service="iam",
                    operation="PutRolePolicy",
                    params={"RoleName": role.name, "PolicyName": POLICY_NAME, "PolicyDocument": text},
                )
            ],
            before=before,
            after=new_doc,
            permissions=KIND.permissions,
        )
