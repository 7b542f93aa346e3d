"""The rule service-role-trusts-omics on snapshots built directly (no AWS, no sandbox).

Roles come from runs (snap.runs[].role_arn) and from configuration (snap.service_roles with reason
"configured"); each one's trust policy must let omics.amazonaws.com do sts:AssumeRole.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from auditor import engine
from auditor.engine import Result, RuleContext
from auditor.findings import Status
from auditor.models import CallError, Collected, RolePolicies, Run, ServiceRoleSource, Snapshot

ACCT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
OMICS = "omics.amazonaws.com"
ROLE = f"arn:aws:iam::{ACCT}:role/OmicsRunRole"
RUN_ARN = f"arn:aws:omics:{REGION}:{ACCT}:run/1234567"
DOCUMENTED_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": OMICS}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def trust_rule() -> Iterator[ModuleType]:
    """The rule module, imported without leaving it in the registry other test modules of this worker see.

    The built-in rules are loaded first (importing the module imports their package, which registers them),
    so only this rule's entry is taken out again, and only when it was not registered before.
    """
    engine.load_builtin_rules()
    registered_before = "service-role-trusts-omics" in engine.REGISTRY
    module = importlib.import_module("auditor.rules.service_role_trust")
    if module.RULE_ID not in engine.REGISTRY:  # imported earlier in this process and taken out again
        module = importlib.reload(module)
    yield module
    if not registered_before:
        engine.REGISTRY.pop(module.RULE_ID, None)


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow_omics(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": OMICS}, "Action": "sts:AssumeRole", **elements}


def snapshot(
    trust_policy: dict[str, Any] | None = DOCUMENTED_TRUST,
    *,
    role_arn: str = ROLE,
    from_run: bool = True,
    configured: bool = False,
    role: Collected[RolePolicies] | None = None,
    **kw: Any,
) -> Snapshot:
    runs = [Run(id="1234567", arn=RUN_ARN, status="COMPLETED", role_arn=role_arn)] if from_run else []
    reasons = ([f"run {runs[0].id}"] if from_run else []) + (["configured"] if configured else [])
    collected = role or Collected(
        value=RolePolicies(arn=role_arn, name=role_arn.rsplit("/", 1)[-1], trust_policy=trust_policy)
    )
    values: dict[str, Any] = {
        "runs": Collected(value=runs),
        "service_roles": Collected(value=[ServiceRoleSource(arn=role_arn, reasons=reasons)]),
        "roles": {role_arn: collected},
    }
    values.update(kw)
    return Snapshot(
        account_id=ACCT,
        region=REGION,
        collected_at=datetime.now(UTC),
        facets=["service_roles", "roles", "runs"],
        **values,
    )


def results(module: ModuleType, snap: Snapshot) -> list[Result]:
    return list(module.check(snap, RuleContext()))


def only(module: ModuleType, snap: Snapshot) -> Result:
    (result,) = results(module, snap)
    return result


def test_rule_metadata(trust_rule: ModuleType) -> None:
    meta = engine.REGISTRY[trust_rule.RULE_ID].meta
    assert meta.id == "service-role-trusts-omics"
    assert meta.severity.value.upper() == "HIGH"
    assert set(meta.facets) == {"service_roles", "roles", "runs"}


def test_documented_trust_passes(trust_rule: ModuleType) -> None:
    result = only(trust_rule, snapshot())
    assert result.status == Status.PASS, result.message
    assert result.resource == ROLE
    assert result.evidence["runs"] == [RUN_ARN]


def test_configured_role_without_runs_is_judged(trust_rule: ModuleType) -> None:
    result = only(trust_rule, snapshot(from_run=False, configured=True))
    assert result.status == Status.PASS
    assert result.evidence["configured"] is True


def test_role_only_trusted_by_listing_is_not_this_rules_business(trust_rule: ModuleType) -> None:
    snap = snapshot(from_run=False)
    snap.service_roles = Collected(value=[ServiceRoleSource(arn=ROLE, reasons=[f"trusts {OMICS}"])])
    assert results(trust_rule, snap) == []


def test_trust_for_another_service_fails(trust_rule: ModuleType) -> None:
    ec2 = trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    result = only(trust_rule, snapshot(ec2))
    assert result.status == Status.FAIL
    assert "does not allow sts:AssumeRole" in result.message
    assert result.evidence["missing"] == ["sts:AssumeRole"]


def test_explicit_deny_fails_and_is_named(trust_rule: ModuleType) -> None:
    policy = trust(allow_omics(), {"Sid": "NoOmics", "Effect": "Deny", "Principal": "*", "Action": "sts:*"})
    result = only(trust_rule, snapshot(policy))
    assert result.status == Status.FAIL
    assert "denies" in result.message and "NoOmics" in result.message
    assert result.evidence["denied"] == ["sts:AssumeRole"]


def test_no_trust_policy_fails(trust_rule: ModuleType) -> None:
    result = only(trust_rule, snapshot(None))
    assert result.status == Status.FAIL
    assert "no trust policy" in result.message


def test_source_account_condition_of_this_account_passes(trust_rule: ModuleType) -> None:
    policy = trust(allow_omics(Condition={"StringEquals": {"aws:SourceAccount": ACCT}}))
    assert only(trust_rule, snapshot(policy)).status == Status.PASS
    other = trust(allow_omics(Condition={"StringEquals": {"aws:SourceAccount": OTHER}}))
    assert only(trust_rule, snapshot(other)).status == Status.FAIL


def test_source_arn_of_runs_decides_for_roles_known_from_runs(trust_rule: ModuleType) -> None:
    policy = trust(allow_omics(Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:omics:{REGION}:{ACCT}:run/*"}}))
    assert only(trust_rule, snapshot(policy)).status == Status.PASS
    # Known only from configuration: no run ARN to judge aws:SourceArn against, so it says so.
    result = only(trust_rule, snapshot(policy, from_run=False, configured=True))
    assert result.status == Status.ERROR
    assert "aws:SourceArn" in result.message


def test_service_principal_keys_are_derived(trust_rule: ModuleType) -> None:
    policy = trust(
        allow_omics(),
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-abc123def4"},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        },
    )
    assert only(trust_rule, snapshot(policy)).status == Status.PASS


def test_request_time_condition_is_error_naming_the_key(trust_rule: ModuleType) -> None:
    policy = trust(allow_omics(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    result = only(trust_rule, snapshot(policy))
    assert result.status == Status.ERROR
    assert "aws:SourceIp" in result.message
    assert result.evidence["undecided"] == ["sts:AssumeRole"]


def test_role_of_another_account_is_not_applicable(trust_rule: ModuleType) -> None:
    foreign = f"arn:aws:iam::{OTHER}:role/SharedRunRole"
    result = only(trust_rule, snapshot(role_arn=foreign, role=Collected()))
    assert result.status == Status.NOT_APPLICABLE
    assert result.resource == foreign


def test_role_not_collected_or_unreadable_is_error(trust_rule: ModuleType) -> None:
    snap = snapshot()
    snap.roles = {}
    assert only(trust_rule, snap).status == Status.ERROR
    denied = CallError(operation="iam:GetRole", code="AccessDenied", permission="iam:GetRole", resource=ROLE)
    result = only(trust_rule, snapshot(role=Collected(error=denied)))
    assert result.status == Status.ERROR
    assert "iam:GetRole" in result.message


def test_failed_facets_are_reported_and_known_roles_still_judged(trust_rule: ModuleType) -> None:
    failure = CallError(operation="omics:ListRuns", code="ThrottlingException", permission="omics:ListRuns")
    snap = snapshot(from_run=False, configured=True)
    snap.runs = Collected(error=failure)
    statuses = sorted(r.status.value for r in results(trust_rule, snap))
    assert statuses == sorted([Status.ERROR.value, Status.PASS.value])


def test_failed_role_listing_does_not_hide_known_roles(trust_rule: ModuleType) -> None:
    failure = CallError(operation="iam:ListRoles", code="AccessDenied", permission="iam:ListRoles")
    snap = snapshot(configured=True)
    snap.service_roles = Collected(value=snap.service_roles.value, error=failure)
    assert [r.status for r in results(trust_rule, snap)] == [Status.PASS]
    snap.service_roles = Collected(error=failure)
    statuses = sorted(r.status.value for r in results(trust_rule, snap))
    assert statuses == sorted([Status.ERROR.value, Status.PASS.value])  # the run's role is still judged


def test_through_the_engine(trust_rule: ModuleType) -> None:
    findings = engine.run_rule(engine.REGISTRY[trust_rule.RULE_ID], snapshot(), RuleContext())
    assert [(f.rule_id, f.status) for f in findings] == [("service-role-trusts-omics", Status.PASS)]
