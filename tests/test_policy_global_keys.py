"""Global condition keys the evaluator derives, account-principal delegation, boundaries and NotPrincipal.

Each case of the issue "Decidable policies come back ERROR" with the answer AWS documents
(docs/policy-evaluation.md gives the sources):

* reference_policies_condition-keys.html — which keys a request carries;
* reference_policies_elements_condition_operators.html — a condition on an absent key is false, except
  that a negated operator (StringNotEquals, ...) is true, ...IfExists is true, Null checks presence;
* reference_policies_evaluation-logic.html — account principals delegate, role-ARN grants are limited
  by an implicit deny in a boundary or session policy, session-ARN grants are not, cross-account needs both;
* reference_policies_elements_notprincipal.html — a Deny with NotPrincipal always denies an IAM
  principal that has a permissions boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auditor import grants
from auditor.findings import Status
from auditor.models import Collected, Snapshot, Workflow
from auditor.policy import Decision, Request, derived_context, evaluate_access, evaluate_resource_policy

ACCT = "111122223333"
OTHER = "444455556666"
OMICS = "omics.amazonaws.com"
REGION = "us-east-1"
REPO = f"arn:aws:ecr:{REGION}:{ACCT}:repository/docker-hub/library/ubuntu"
OTHER_REPO = f"arn:aws:ecr:{REGION}:{OTHER}:repository/shared/tool"
EU_REPO = f"arn:aws:ecr:eu-west-1:{ACCT}:repository/docker-hub/library/ubuntu"
ROLE = f"arn:aws:iam::{ACCT}:role/OmicsRunRole"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/OmicsRunRole/run-1234"
PULL = "ecr:BatchGetImage"
ORG = "o-abc123def4"

ALLOW, DENY, IMPLICIT, UNKNOWN = Decision.ALLOWED, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY, Decision.UNKNOWN


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def res_stmt(effect: str = "Allow", principal: Any = None, **elements: Any) -> dict[str, Any]:
    """A repository-policy statement for the pull action (Principal omics unless given)."""
    return {"Effect": effect, "Principal": principal or {"Service": OMICS}, "Action": PULL, **elements}


def id_stmt(effect: str = "Allow", action: str = PULL, **elements: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": "*", **elements}


ALLOW_PULL = doc(id_stmt())
DESCRIBE_ONLY = doc(id_stmt(action="ecr:Describe*"))
ALLOW_ALL = doc(id_stmt(action="*"))


def omics(resource: str = REPO, **context: Any) -> Request:
    return Request(action=PULL, resource=resource, principal_service=OMICS, context=context)


def role(resource: str = REPO, principal: str = ROLE, **kw: Any) -> Request:
    return Request(action=PULL, resource=resource, principal_arn=principal, **kw)


# --- keys derived for a service principal -------------------------------------------------------

# The deny AWS recommends to keep a resource inside the organization without locking out AWS services
# (aws:PrincipalIsAWSService example on reference_policies_condition-keys.html).
ORG_PERIMETER = res_stmt(
    "Deny",
    "*",
    Sid="OrgOnlyExceptServices",
    Condition={
        "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG},
        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
    },
)


def test_bool_if_exists_principal_is_aws_service_exempts_omics() -> None:
    evaluation = evaluate_resource_policy(doc(res_stmt(), ORG_PERIMETER), omics())
    assert evaluation.decision is ALLOW
    assert any("aws:PrincipalIsAWSService" in r and "fails" in r for r in evaluation.reasons)


def test_same_perimeter_still_asks_about_a_roles_organization() -> None:
    # A role is not an AWS service (aws:PrincipalIsAWSService is false), and its organization is not known.
    policy = doc(res_stmt(principal={"AWS": ROLE}), ORG_PERIMETER)
    unknown = evaluate_access(request=role(), resource_policy=policy)
    assert unknown.decision is UNKNOWN
    assert any("aws:PrincipalOrgID" in r and "not in the request context" in r for r in unknown.reasons)
    inside = evaluate_access(request=role(context={"aws:PrincipalOrgID": ORG}), resource_policy=policy)
    assert inside.decision is ALLOW
    outside = evaluate_access(request=role(context={"aws:PrincipalOrgID": "o-elsewhere1"}), resource_policy=policy)
    assert outside.decision is DENY


def test_deny_string_not_equals_principal_org_id_denies_omics() -> None:
    # aws:PrincipalOrgID is only present for members of an organization, and a service principal is not
    # one. A negated operator on an absent key is TRUE (condition operators page), so this Deny applies to
    # omics.amazonaws.com — the reason AWS's own note says such a policy also blocks AWS services.
    policy = doc(res_stmt(), res_stmt("Deny", "*", Condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG}}))
    evaluation = evaluate_resource_policy(policy, omics())
    assert evaluation.decision is DENY
    assert any("aws:PrincipalOrgID" in r and "key absent" in r for r in evaluation.reasons)


def test_allow_only_for_the_organization_does_not_grant_omics() -> None:
    policy = doc(res_stmt("Allow", "*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    evaluation = evaluate_resource_policy(policy, omics())
    assert evaluation.decision is IMPLICIT
    assert any("aws:PrincipalOrgID" in r for r in evaluation.reasons)


def test_principal_tags_are_absent_for_a_service_principal() -> None:
    policy = doc(res_stmt(), res_stmt("Deny", "*", Condition={"StringEquals": {"aws:PrincipalTag/team": "x"}}))
    assert evaluate_resource_policy(policy, omics()).decision is ALLOW
    null_check = doc(res_stmt(Condition={"Null": {"aws:PrincipalTag/team": "true"}}))
    assert evaluate_resource_policy(null_check, omics()).decision is ALLOW


def test_service_principal_keys() -> None:
    ctx = derived_context(omics())
    assert ctx["aws:principalisawsservice"] == ["true"]
    assert ctx["aws:principalservicename"] == [OMICS]
    assert ctx["aws:principalorgid"] is None and ctx["aws:principalorgpaths"] is None
    assert ctx["aws:requestedregion"] == [REGION] and ctx["aws:resourceaccount"] == [ACCT]
    # Documented as present for every signed request, value for a service principal not documented: unknown.
    assert "aws:principalaccount" not in ctx and "aws:principalarn" not in ctx
    assert "aws:multifactorauthpresent" not in ctx


def test_caller_context_wins_over_derivation() -> None:
    policy = doc(res_stmt(Condition={"Bool": {"aws:PrincipalIsAWSService": "true"}}))
    assert evaluate_resource_policy(policy, omics()).decision is ALLOW
    assert evaluate_resource_policy(policy, omics(**{"aws:PrincipalIsAWSService": "false"})).decision is IMPLICIT


def test_omics_contexts_do_not_duplicate_derived_keys() -> None:
    snap = Snapshot(
        account_id=ACCT,
        region=REGION,
        collected_at=datetime.now(UTC),
        workflows=Collected(value=[Workflow(id="1", arn=f"arn:aws:omics:{REGION}:{ACCT}:workflow/1")]),
    )
    for ctx in grants.omics_contexts(snap):
        assert {k.lower() for k in ctx} == {"aws:sourceaccount", "aws:sourcearn"}
    guarded = doc(res_stmt(), ORG_PERIMETER)
    assert grants.resource_policy_grants_omics(guarded, snap, [PULL], REPO).status == Status.PASS


# --- keys derived for the role ------------------------------------------------------------------


def test_role_condition_on_requested_region_is_decided() -> None:
    policy = doc(id_stmt(Condition={"StringEquals": {"aws:RequestedRegion": REGION}}))
    assert evaluate_access(request=role(), identity_policies=[policy]).decision is ALLOW
    assert evaluate_access(request=role(EU_REPO), identity_policies=[policy]).decision is IMPLICIT
    # A pattern ARN has a concrete region too (a pull-through-cache prefix).
    pattern = role(f"arn:aws:ecr:{REGION}:{ACCT}:repository/docker-hub/*")
    assert evaluate_access(request=pattern, identity_policies=[policy]).decision is ALLOW


def test_role_condition_on_resource_account_is_decided() -> None:
    own_only = doc(id_stmt(), id_stmt("Deny", Condition={"StringNotEquals": {"aws:ResourceAccount": ACCT}}))
    assert evaluate_access(request=role(), identity_policies=[own_only]).decision is ALLOW
    repo_policy = doc(res_stmt(principal={"AWS": ROLE}))
    cross = evaluate_access(request=role(OTHER_REPO), identity_policies=[own_only], resource_policy=repo_policy)
    assert cross.decision is DENY


def test_role_condition_on_mfa_is_decided_for_a_session_omics_assumed() -> None:
    deny_without_mfa = doc(
        id_stmt(), id_stmt("Deny", action="*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
    )
    assumed = role(principal_session="service-assumed")
    assert evaluate_access(request=assumed, identity_policies=[deny_without_mfa]).decision is DENY
    require_mfa = doc(id_stmt(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    assert evaluate_access(request=assumed, identity_policies=[require_mfa]).decision is IMPLICIT
    # Not knowing how the credentials were obtained, the MFA key stays unknown and is named.
    unknown = evaluate_access(request=role(), identity_policies=[require_mfa])
    assert unknown.decision is UNKNOWN
    assert any("aws:MultiFactorAuthPresent" in r for r in unknown.reasons)


def test_role_is_not_an_aws_service() -> None:
    policy = doc(id_stmt(), id_stmt("Deny", Condition={"Bool": {"aws:PrincipalIsAWSService": "false"}}))
    assert evaluate_access(request=role(), identity_policies=[policy]).decision is DENY
    service_name = doc(id_stmt(Condition={"Null": {"aws:PrincipalServiceName": "true"}}))
    assert evaluate_access(request=role(), identity_policies=[service_name]).decision is ALLOW


def test_access_grants_decides_role_conditions() -> None:
    policy = doc(
        id_stmt(Condition={"StringEquals": {"aws:RequestedRegion": REGION, "aws:ResourceAccount": ACCT}}),
        id_stmt("Deny", action="*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
    )
    verdict = grants.access_grants([PULL], REPO, principal_arn=ROLE, identity_documents=[policy])
    assert verdict.status == Status.PASS, verdict.reasons


# --- what stays unknown ---------------------------------------------------------------------------


def test_request_time_key_stays_unknown_and_is_named() -> None:
    policy = doc(id_stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    evaluation = evaluate_access(request=role(principal_session="service-assumed"), identity_policies=[policy])
    assert evaluation.decision is UNKNOWN
    assert any("aws:SourceIp" in r for r in evaluation.reasons)
    verdict = grants.access_grants([PULL], REPO, principal_arn=ROLE, identity_documents=[policy])
    assert verdict.status == Status.ERROR
    assert "aws:SourceIp" in "; ".join(verdict.reasons)


@pytest.mark.parametrize(
    "key", ["aws:SourceIp", "aws:CurrentTime", "aws:SecureTransport", "aws:UserAgent", "aws:SourceVpc"]
)
def test_request_time_keys_are_never_derived(key: str) -> None:
    assert key.lower() not in derived_context(omics())
    assert key.lower() not in derived_context(role(principal_session="service-assumed"))


def test_no_region_derived_for_a_global_or_wildcard_arn() -> None:
    assert "aws:requestedregion" not in derived_context(role(ROLE))  # IAM ARN: no region field
    assert "aws:requestedregion" not in derived_context(role("arn:aws:ecr:*:111122223333:repository/x"))
    assert "aws:resourceaccount" not in derived_context(role("arn:aws:ecr:us-east-1:*:repository/x"))
    assert derived_context(role("*")).keys().isdisjoint({"aws:requestedregion", "aws:resourceaccount"})


# --- account principals delegate ------------------------------------------------------------------


@pytest.mark.parametrize("account_principal", [ACCT, f"arn:aws:iam::{ACCT}:root"])
def test_account_principal_same_account_needs_identity(account_principal: str) -> None:
    policy = doc(res_stmt(principal={"AWS": account_principal}))
    alone = evaluate_resource_policy(policy, role())
    assert alone.decision is ALLOW and alone.allows[0].delegated  # unchanged for old callers, but marked
    no_identity = evaluate_access(request=role(), identity_policies=[DESCRIBE_ONLY], resource_policy=policy)
    assert no_identity.decision is IMPLICIT
    assert any("only to the principal's account" in r for r in no_identity.reasons)
    with_identity = evaluate_access(request=role(), identity_policies=[ALLOW_PULL], resource_policy=policy)
    assert with_identity.decision is ALLOW


@pytest.mark.parametrize("account_principal", [ACCT, f"arn:aws:iam::{ACCT}:root"])
def test_account_principal_cross_account_needs_identity(account_principal: str) -> None:
    policy = doc(res_stmt(principal={"AWS": account_principal}))
    assert evaluate_access(request=role(OTHER_REPO), resource_policy=policy).decision is IMPLICIT
    allowed = evaluate_access(request=role(OTHER_REPO), identity_policies=[ALLOW_PULL], resource_policy=policy)
    assert allowed.decision is ALLOW
    assert any("cross account" in r for r in allowed.reasons)


def test_cross_account_direct_grant_still_needs_identity() -> None:
    policy = doc(res_stmt(principal={"AWS": ROLE}))
    assert evaluate_access(request=role(OTHER_REPO), resource_policy=policy).decision is IMPLICIT
    both = evaluate_access(request=role(OTHER_REPO), identity_policies=[ALLOW_PULL], resource_policy=policy)
    assert both.decision is ALLOW
    # No repository policy at all: another account's role gets nothing, whatever its identity says.
    assert evaluate_access(request=role(OTHER_REPO), identity_policies=[ALLOW_ALL]).decision is IMPLICIT


def test_deny_naming_the_account_denies_every_principal_of_it() -> None:
    policy = doc(res_stmt(principal={"AWS": ROLE}), res_stmt("Deny", {"AWS": f"arn:aws:iam::{ACCT}:root"}))
    assert evaluate_access(request=role(), identity_policies=[ALLOW_PULL], resource_policy=policy).decision is DENY


def test_same_account_direct_grant_suffices_without_identity() -> None:
    for principal in ({"AWS": ROLE}, {"AWS": SESSION}, "*"):
        policy = doc(res_stmt(principal=principal))
        assert evaluate_access(request=role(principal=SESSION), resource_policy=policy).decision is ALLOW, principal


def test_access_grants_with_repository_policy_and_account() -> None:
    delegated = doc(res_stmt(principal={"AWS": ACCT}))
    lacking = grants.access_grants([PULL], OTHER_REPO, principal_arn=ROLE, resource_policy=delegated)
    assert lacking.status == Status.FAIL and lacking.missing == [PULL]
    ok = grants.access_grants(
        [PULL], OTHER_REPO, principal_arn=ROLE, identity_documents=[ALLOW_PULL], resource_policy=delegated
    )
    assert ok.status == Status.PASS
    # resource_account overrides the ARN: the same ARN judged as our own account's repository.
    same = grants.access_grants(
        [PULL],
        OTHER_REPO,
        principal_arn=ROLE,
        resource_policy=doc(res_stmt(principal={"AWS": ROLE})),
        resource_account=ACCT,
    )
    assert same.status == Status.PASS


# --- permissions boundary and session policy limit a grant to the role ARN ------------------------


def test_boundary_limits_a_repository_grant_to_the_role_arn() -> None:
    policy = doc(res_stmt(principal={"AWS": ROLE}))
    limited = evaluate_access(request=role(principal=SESSION), boundary=DESCRIBE_ONLY, resource_policy=policy)
    assert limited.decision is IMPLICIT
    assert any("limited by the permissions boundary" in r for r in limited.reasons)
    # The boundary only limits: it allowing the pull is enough for the role-ARN grant, no identity policy needed.
    within = evaluate_access(request=role(principal=SESSION), boundary=ALLOW_PULL, resource_policy=policy)
    assert within.decision is ALLOW


def test_session_policy_limits_a_repository_grant_to_the_role_arn() -> None:
    policy = doc(res_stmt(principal={"AWS": ROLE}))
    limited = evaluate_access(request=role(principal=SESSION), session_policy=DESCRIBE_ONLY, resource_policy=policy)
    assert limited.decision is IMPLICIT


@pytest.mark.parametrize("principal", [{"AWS": SESSION}, "*"])
def test_boundary_does_not_limit_a_grant_to_the_session_or_everyone(principal: Any) -> None:
    policy = doc(res_stmt(principal=principal))
    evaluation = evaluate_access(
        request=role(principal=SESSION), boundary=DESCRIBE_ONLY, session_policy=DESCRIBE_ONLY, resource_policy=policy
    )
    assert evaluation.decision is ALLOW


def test_explicit_deny_in_boundary_blocks_every_grant() -> None:
    policy = doc(res_stmt(principal={"AWS": SESSION}))
    boundary = doc(id_stmt(action="*"), id_stmt("Deny"))
    assert evaluate_access(request=role(principal=SESSION), boundary=boundary, resource_policy=policy).decision is DENY


# --- NotPrincipal with a permissions boundary -----------------------------------------------------

NOT_PRINCIPAL_POLICY = doc(
    res_stmt(principal={"AWS": ROLE}),
    {"Effect": "Deny", "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{ACCT}:root"]}, "Action": "ecr:*"},
)


def test_not_principal_deny_spares_a_listed_principal_without_boundary() -> None:
    evaluation = evaluate_access(request=role(), identity_policies=[ALLOW_PULL], resource_policy=NOT_PRINCIPAL_POLICY)
    assert evaluation.decision is ALLOW


def test_not_principal_deny_always_denies_a_principal_with_boundary() -> None:
    evaluation = evaluate_access(
        request=role(), identity_policies=[ALLOW_PULL], boundary=ALLOW_ALL, resource_policy=NOT_PRINCIPAL_POLICY
    )
    assert evaluation.decision is DENY
    assert any("NotPrincipal Deny always applies" in r for r in evaluation.reasons)
    flagged = role(principal_boundary=True)
    assert evaluate_resource_policy(NOT_PRINCIPAL_POLICY, flagged).decision is DENY


def test_not_principal_deny_does_not_touch_a_service_principal_it_lists() -> None:
    policy = doc(res_stmt(), {"Effect": "Deny", "NotPrincipal": {"Service": OMICS}, "Action": "ecr:*"})
    assert evaluate_access(request=omics(), resource_policy=policy).decision is ALLOW


def test_service_principal_has_only_the_resource_side() -> None:
    assert evaluate_access(request=omics(), identity_policies=[ALLOW_ALL]).decision is IMPLICIT
    assert evaluate_access(request=omics(), resource_policy=doc(res_stmt())).decision is ALLOW
