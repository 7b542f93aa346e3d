"""Tests for auditor.policy: IAM evaluation semantics, the anchor bugs, and glob properties."""

from __future__ import annotations

import fnmatch
import functools
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from auditor.policy import (
    Decision,
    Evaluation,
    PolicyParseError,
    Request,
    Tri,
    actions_allowed,
    combine,
    evaluate_identity_policies,
    evaluate_resource_policy,
    glob_covers,
    glob_intersects,
    glob_match,
    intersect,
    parse_policy,
    statement_applies,
)

ACCT = "111122223333"
OTHER = "444455556666"
OMICS = "omics.amazonaws.com"
REPO_BASE = f"arn:aws:ecr:us-east-1:{ACCT}:repository"
REPO = f"{REPO_BASE}/docker-hub/library/ubuntu"
QUAY_REPO = f"{REPO_BASE}/quay/biocontainers/samtools"
DOCKER_HUB = f"{REPO_BASE}/docker-hub/*"
ROLE = f"arn:aws:iam::{ACCT}:role/OmicsRunRole"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/OmicsRunRole/run-1234"
WORKFLOW = f"arn:aws:omics:us-east-1:{ACCT}:workflow/1234567"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]

ALLOW, DENY, IMPLICIT, UNKNOWN = Decision.ALLOWED, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY, Decision.UNKNOWN


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def stmt(effect: str = "Allow", **elements: Any) -> dict[str, Any]:
    """A resource-policy statement for omics pulling ubuntu unless overridden (None removes)."""
    base: dict[str, Any] = {"Effect": effect, "Principal": {"Service": OMICS}, "Action": "ecr:BatchGetImage"}
    base.update(elements)
    return {k: v for k, v in base.items() if v is not None}


def ident(effect: str = "Allow", **elements: Any) -> dict[str, Any]:
    """An identity-policy statement (no Principal, Resource "*") unless overridden."""
    base: dict[str, Any] = {"Effect": effect, "Action": "ecr:BatchGetImage", "Resource": "*"}
    base.update(elements)
    return {k: v for k, v in base.items() if v is not None}


def omics_req(**kw: Any) -> Request:
    values: dict[str, Any] = {"action": "ecr:BatchGetImage", "resource": REPO, "principal_service": OMICS}
    values.update(kw)
    return Request(**values)


def role_req(**kw: Any) -> Request:
    values: dict[str, Any] = {"action": "ecr:BatchGetImage", "resource": REPO, "principal_arn": ROLE}
    values.update(kw)
    return Request(**values)


TRI_TO_DECISION = {Tri.YES: ALLOW, Tri.NO: IMPLICIT, Tri.MAYBE: UNKNOWN}


# --- parsing ---------------------------------------------------------------------------------

PARSE_ERRORS: list[tuple[Any, str, bool | None]] = [
    ("{not json", "not valid JSON", None),
    ("[]", "must be a JSON object", None),
    ({"Version": "2012-10-17"}, "no Statement", None),
    ({"Statement": "Allow"}, "object or a list", None),
    ({"Statement": ["x"]}, "statement index 0: must be a JSON object", None),
    (doc(stmt(Effect="allow")), "Effect must be 'Allow' or 'Deny'", None),
    (doc(stmt(Effect=None)), "Effect must be", None),
    (doc(stmt(Effect="Permit")), "Effect must be", None),
    (doc(stmt(NotAction="ecr:PutImage")), "both Action and NotAction", None),
    (doc(stmt(Action=None)), "needs Action or NotAction", None),
    (doc(stmt(Resource="*", NotResource="*")), "both Resource and NotResource", None),
    (doc(stmt(NotPrincipal={"AWS": ROLE})), "both Principal and NotPrincipal", None),
    (doc(stmt(Action="BatchGetImage")), "'service:Action'", None),
    (doc(stmt(Action=[])), "non-empty", None),
    (doc(stmt(Action=5)), "non-empty", None),
    (doc(stmt(Principal=OMICS)), "Principal must be '*' or an object", None),
    (doc(stmt(Principal={"Svc": OMICS})), "unknown principal type 'Svc'", None),
    (doc(stmt(Principal={"Service": []})), "Principal.Service", None),
    (doc(stmt(Condition="x")), "Condition must be an object", None),
    (doc(stmt(Condition={"StringEquals": "x"})), "must map keys to values", None),
    (doc(stmt(Condition={"StringEquals": {"aws:SourceAccount": {"a": 1}}})), "values must be", None),
    (doc(stmt(Conditions={"StringEquals": {"k": "v"}})), "unknown element(s) ['Conditions']", None),
    (doc(stmt(Sid=3)), "Sid must be a string", None),
    ({"Version": "2020-01-01", "Statement": []}, "Version must be", None),
    ({"Statement": [], "Extra": 1}, "unknown top-level", None),
    (doc(stmt(Principal=None)), "needs Principal or NotPrincipal", True),
    (doc(ident()), "needs Principal or NotPrincipal", True),
    (doc(ident(Resource=None)), "needs Resource or NotResource", False),
]


@pytest.mark.parametrize(("document", "message", "resource_policy"), PARSE_ERRORS)
def test_parse_errors(document: Any, message: str, resource_policy: bool | None) -> None:
    with pytest.raises(PolicyParseError, match=re.escape(message)):
        parse_policy(document, resource_policy=resource_policy)


def test_parse_error_names_statement_and_is_value_error() -> None:
    with pytest.raises(ValueError, match=r"statement 'Bad' \(index 1\)"):
        parse_policy(doc(stmt(), stmt(Sid="Bad", Effect="Maybe")))


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_missing_policy_parses_as_empty(empty: str | None) -> None:
    assert parse_policy(empty).statements == ()
    evaluation = evaluate_resource_policy(empty, omics_req())
    assert evaluation.decision is IMPLICIT
    assert any("no resource policy" in r for r in evaluation.reasons)


def test_parse_single_statement_object_and_string_elements() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": stmt(Sid="One", Resource=REPO)})
    policy = parse_policy(text, resource_policy=True)
    (only,) = policy.statements
    assert only.sid == "One"
    assert only.actions == ("ecr:BatchGetImage",)
    assert only.resources == (REPO,)
    assert only.principal is not None and only.principal.service == (OMICS,)
    assert only.variables


def test_parse_normalises_condition_scalars_and_principal_lists() -> None:
    policy = parse_policy(
        doc(
            stmt(
                Principal={"AWS": [ACCT, ROLE], "Service": OMICS},
                Condition={"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"k": [3600, 1.5]}},
            )
        )
    )
    (only,) = policy.statements
    assert only.principal is not None and only.principal.aws == (ACCT, ROLE)
    values = {c.operator: c.values for c in only.conditions}
    assert values == {"Bool": ("true",), "NumericLessThan": ("3600", "1.5")}


def test_parse_accepts_parsed_policy_and_checks_kind() -> None:
    policy = parse_policy(doc(ident()))
    assert parse_policy(policy) is policy
    with pytest.raises(PolicyParseError):
        parse_policy(policy, resource_policy=True)


def test_version_2008_disables_variables() -> None:
    assert not parse_policy(doc(ident(), version="2008-10-17")).statements[0].variables
    assert not parse_policy({"Statement": [ident()]}).statements[0].variables


# --- Request ---------------------------------------------------------------------------------


def test_request_context_keys_are_case_insensitive_and_scalars_coerced() -> None:
    request = Request(action="a:b", resource="*", context={"AWS:SourceAccount": ACCT, "aws:MFA": None})
    assert request.context == {"aws:sourceaccount": [ACCT], "aws:mfa": None}
    with pytest.raises(ValidationError, match="given twice"):
        Request(action="a:b", resource="*", context={"aws:X": "1", "AWS:x": "2"})


def test_request_is_frozen_and_derives_account() -> None:
    request = role_req()
    assert request.account == ACCT
    assert Request(action="a:b", resource="*", principal_arn=SESSION).account == ACCT
    with pytest.raises(ValidationError):
        request.action = "ecr:PutImage"  # type: ignore[misc]


# --- actions ---------------------------------------------------------------------------------

ACTION_CASES = [
    ("ecr:BatchGetImage", "ecr:BatchGetImage", True),
    ("ECR:batchgetimage", "ecr:BatchGetImage", True),
    ("ecr:BatchGetImage", "ECR:BATCHGETIMAGE", True),
    ("ecr:Batch*", "ecr:BatchGetImage", True),
    ("ecr:Batch*", "ecr:BatchCheckLayerAvailability", True),
    ("ecr:Batch*", "ecr:GetDownloadUrlForLayer", False),
    ("ecr:batch*", "ecr:BatchGetImage", True),
    ("ecr:*", "ecr:BatchGetImage", True),
    ("*", "ecr:BatchGetImage", True),
    ("ecr:Get*Layer", "ecr:GetDownloadUrlForLayer", True),
    ("ecr:*Image", "ecr:BatchGetImage", True),
    ("ecr:*Image", "ecr:BatchCheckLayerAvailability", False),
    ("ecr:BatchGetImag?", "ecr:BatchGetImage", True),
    ("ecr:BatchGetImage?", "ecr:BatchGetImage", False),
    ("ec?:BatchGetImage", "ecr:BatchGetImage", True),
    ("ecr:BatchGetImages", "ecr:BatchGetImage", False),
    ("ecr:BatchGet", "ecr:BatchGetImage", False),
    ("s3:*", "ecr:BatchGetImage", False),
    ("ecr-public:*", "ecr:BatchGetImage", False),
    (["s3:GetObject", "ecr:BatchGetImage"], "ecr:BatchGetImage", True),
]


@pytest.mark.parametrize(("actions", "action", "allowed"), ACTION_CASES)
def test_action_matching(actions: str | list[str], action: str, allowed: bool) -> None:
    evaluation = evaluate_resource_policy(doc(stmt(Action=actions)), omics_req(action=action))
    assert evaluation.decision is (ALLOW if allowed else IMPLICIT)


NOT_ACTION_CASES = [
    # Allow + NotAction grants everything except the listed actions.
    ([stmt(Action=None, NotAction="ecr:Delete*")], "ecr:BatchGetImage", ALLOW),
    ([stmt(Action=None, NotAction="ecr:Delete*")], "ecr:DeleteRepository", IMPLICIT),
    ([stmt(Action=None, NotAction="ECR:DELETE*")], "ecr:DeleteRepository", IMPLICIT),
    # Deny + NotAction denies everything except the listed actions.
    ([stmt(Action="ecr:*"), stmt("Deny", Action=None, NotAction=PULL)], "ecr:BatchGetImage", ALLOW),
    ([stmt(Action="ecr:*"), stmt("Deny", Action=None, NotAction=PULL)], "ecr:PutImage", DENY),
    ([stmt(Action="ecr:*"), stmt("Deny", Action=None, NotAction="ecr:Batch*")], "ecr:GetDownloadUrlForLayer", DENY),
]


@pytest.mark.parametrize(("statements", "action", "expected"), NOT_ACTION_CASES)
def test_not_action(statements: list[dict[str, Any]], action: str, expected: Decision) -> None:
    assert evaluate_resource_policy(doc(*statements), omics_req(action=action)).decision is expected


# --- resources -------------------------------------------------------------------------------

RESOURCE_CASES = [
    # (effect, Resource, request resource, statement applies?)
    ("Allow", "*", REPO, Tri.YES),
    ("Allow", "*", DOCKER_HUB, Tri.YES),
    ("Allow", REPO, REPO, Tri.YES),
    ("Allow", DOCKER_HUB, REPO, Tri.YES),
    ("Allow", f"{REPO_BASE}/quay/*", REPO, Tri.NO),
    ("Allow", f"{REPO_BASE}/Docker-Hub/*", REPO, Tri.NO),  # ARNs are case-sensitive
    ("Allow", REPO.upper(), REPO, Tri.NO),
    ("Allow", f"{REPO_BASE}/docker-hub/library/ubunt?", REPO, Tri.YES),
    ("Allow", DOCKER_HUB, DOCKER_HUB, Tri.YES),
    ("Allow", f"{REPO_BASE}/*", DOCKER_HUB, Tri.YES),
    ("Allow", f"arn:aws:ecr:*:{ACCT}:repository/*", DOCKER_HUB, Tri.YES),
    ("Allow", f"{REPO_BASE}/docker-hub*", DOCKER_HUB, Tri.YES),
    ("Allow", f"{REPO_BASE}/docker-hub/library/*", DOCKER_HUB, Tri.NO),  # covers only part
    ("Allow", f"{REPO_BASE}/docker-hub/?*", DOCKER_HUB, Tri.NO),  # misses "docker-hub/" itself
    ("Allow", REPO, DOCKER_HUB, Tri.NO),
    ("Allow", f"{REPO_BASE}/quay/*", DOCKER_HUB, Tri.NO),
    ("Allow", [f"{REPO_BASE}/quay/*", f"{REPO_BASE}/docker-hub/*"], DOCKER_HUB, Tri.YES),
    ("Allow", [f"{REPO_BASE}/docker-hub/", f"{REPO_BASE}/docker-hub/?*"], DOCKER_HUB, Tri.YES),  # union
    ("Allow", f"arn:aws:ecr:us-west-2:{ACCT}:repository/*", DOCKER_HUB, Tri.NO),
    ("Deny", "*", DOCKER_HUB, Tri.YES),
    ("Deny", f"{REPO_BASE}/docker-hub/library/*", DOCKER_HUB, Tri.YES),  # intersects
    ("Deny", REPO, DOCKER_HUB, Tri.YES),
    ("Deny", f"{REPO_BASE}/*/ubuntu", DOCKER_HUB, Tri.YES),
    ("Deny", f"{REPO_BASE}/quay/*", DOCKER_HUB, Tri.NO),
    ("Deny", f"arn:aws:ecr:us-west-2:{ACCT}:repository/*", DOCKER_HUB, Tri.NO),
    ("Deny", f"{REPO_BASE}/quay/*", REPO, Tri.NO),
    ("Deny", DOCKER_HUB, REPO, Tri.YES),
]


@pytest.mark.parametrize(("effect", "resources", "resource", "expected"), RESOURCE_CASES)
def test_resource_scoping(effect: str, resources: str | list[str], resource: str, expected: Tri) -> None:
    (statement,) = parse_policy(doc(ident(effect, Resource=resources)), resource_policy=False).statements
    result = statement_applies(statement, role_req(resource=resource), resource_policy=False)
    assert result.applies is expected, result.reason


NOT_RESOURCE_CASES = [
    ("Allow", f"{REPO_BASE}/quay/*", REPO, Tri.YES),
    ("Allow", f"{REPO_BASE}/quay/*", QUAY_REPO, Tri.NO),
    ("Allow", f"{REPO_BASE}/quay/*", DOCKER_HUB, Tri.YES),  # disjoint from the whole pattern
    ("Allow", f"{REPO_BASE}/quay/*", f"{REPO_BASE}/*", Tri.NO),  # part of it is excluded
    ("Deny", DOCKER_HUB, REPO, Tri.NO),
    ("Deny", DOCKER_HUB, QUAY_REPO, Tri.YES),
    ("Deny", DOCKER_HUB, DOCKER_HUB, Tri.NO),
    ("Deny", DOCKER_HUB, f"{REPO_BASE}/*", Tri.YES),  # some repositories escape the exclusion
]


@pytest.mark.parametrize(("effect", "excluded", "resource", "expected"), NOT_RESOURCE_CASES)
def test_not_resource(effect: str, excluded: str, resource: str, expected: Tri) -> None:
    (statement,) = parse_policy(doc(ident(effect, Resource=None, NotResource=excluded))).statements
    result = statement_applies(statement, role_req(resource=resource), resource_policy=False)
    assert result.applies is expected, result.reason


def test_resource_policy_without_resource_means_its_own_resource() -> None:
    assert evaluate_resource_policy(doc(stmt()), omics_req(resource=DOCKER_HUB)).decision is ALLOW


def test_statements_jointly_cover_a_pattern() -> None:
    two = doc(ident(Resource=f"{REPO_BASE}/docker-hub/"), ident(Resource=f"{REPO_BASE}/docker-hub/?*"))
    evaluation = evaluate_identity_policies([two], role_req(resource=DOCKER_HUB))
    assert evaluation.decision is ALLOW
    assert any("together allow" in r for r in evaluation.reasons)
    conditional = doc(
        ident(Resource=f"{REPO_BASE}/docker-hub/"),
        ident(Resource=f"{REPO_BASE}/docker-hub/?*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    )
    assert evaluate_identity_policies([conditional], role_req(resource=DOCKER_HUB)).decision is UNKNOWN
    one_part = doc(ident(Resource=f"{REPO_BASE}/docker-hub/library/*"))
    assert evaluate_identity_policies([one_part], role_req(resource=DOCKER_HUB)).decision is IMPLICIT


def test_resource_policy_variables() -> None:
    policy = doc(ident(Resource=f"{REPO_BASE}/${{aws:PrincipalTag/team}}/*"))
    tagged = role_req(context={"aws:PrincipalTag/team": "docker-hub"})
    assert evaluate_identity_policies([policy], tagged).decision is ALLOW
    other = role_req(context={"aws:PrincipalTag/team": "quay"})
    assert evaluate_identity_policies([policy], other).decision is IMPLICIT
    assert evaluate_identity_policies([policy], role_req()).decision is UNKNOWN  # key unknown
    default = doc(ident(Resource=f"{REPO_BASE}/${{aws:PrincipalTag/team, 'docker-hub'}}/*"))
    untagged = role_req(context={"aws:PrincipalTag/team": None})
    assert evaluate_identity_policies([default], untagged).decision is ALLOW
    literal = doc(ident(Resource=f"{REPO_BASE}/${{aws:PrincipalTag/team}}/*"), version="2008-10-17")
    assert evaluate_identity_policies([literal], tagged).decision is IMPLICIT  # no variables before 2012-10-17
    star = doc(ident(Resource=f"{REPO_BASE}/docker-hub/${{*}}"))
    assert evaluate_identity_policies([star], role_req()).decision is IMPLICIT  # ${*} is a literal star


# --- principals ------------------------------------------------------------------------------

PRINCIPAL_CASES: list[tuple[Any, dict[str, Any], Decision]] = [
    ("*", {"principal_service": OMICS}, ALLOW),
    ({"AWS": "*"}, {"principal_service": OMICS}, ALLOW),
    ("*", {}, ALLOW),
    ({"Service": OMICS}, {"principal_service": OMICS}, ALLOW),
    ({"Service": ["ec2.amazonaws.com", OMICS]}, {"principal_service": OMICS}, ALLOW),
    ({"Service": "ec2.amazonaws.com"}, {"principal_service": OMICS}, IMPLICIT),
    ({"Service": OMICS}, {"principal_arn": ROLE}, IMPLICIT),
    ({"AWS": ACCT}, {"principal_arn": ROLE}, ALLOW),
    ({"AWS": f"arn:aws:iam::{ACCT}:root"}, {"principal_arn": ROLE}, ALLOW),
    ({"AWS": f"arn:aws:iam::{ACCT}:root"}, {"principal_arn": SESSION}, ALLOW),
    ({"AWS": f"arn:aws:iam::{OTHER}:root"}, {"principal_arn": ROLE}, IMPLICIT),
    ({"AWS": OTHER}, {"principal_arn": ROLE}, IMPLICIT),
    ({"AWS": ROLE}, {"principal_arn": ROLE}, ALLOW),
    ({"AWS": [f"arn:aws:iam::{OTHER}:root", ROLE]}, {"principal_arn": ROLE}, ALLOW),
    ({"AWS": f"arn:aws:iam::{ACCT}:role/Other"}, {"principal_arn": ROLE}, IMPLICIT),
    ({"AWS": ROLE}, {"principal_arn": SESSION}, ALLOW),  # a role ARN covers its sessions
    ({"AWS": f"arn:aws:iam::{ACCT}:role/team/OmicsRunRole"}, {"principal_arn": SESSION}, ALLOW),
    ({"AWS": ROLE}, {"principal_service": OMICS}, IMPLICIT),
    ({"AWS": ACCT}, {"principal_account": ACCT}, ALLOW),
    ({"AWS": ROLE}, {"principal_account": ACCT}, UNKNOWN),  # which role of the account?
    ({"AWS": ROLE}, {"principal_account": OTHER}, IMPLICIT),
    ({"AWS": ROLE}, {}, UNKNOWN),  # nobody told us who asks
    ({"Service": OMICS}, {}, UNKNOWN),
    ({"AWS": "arn:aws:iam::*:role/OmicsRunRole"}, {"principal_arn": ROLE}, IMPLICIT),  # no partial wildcards
    ({"AWS": "AROAEXAMPLEUNIQUEID1"}, {"principal_arn": ROLE}, UNKNOWN),
    ({"Federated": "cognito-identity.amazonaws.com"}, {"principal_arn": ROLE}, IMPLICIT),
]


@pytest.mark.parametrize(("principal", "who", "expected"), PRINCIPAL_CASES)
def test_principal_matching(principal: Any, who: dict[str, Any], expected: Decision) -> None:
    request = Request(action="ecr:BatchGetImage", resource=REPO, **who)
    assert evaluate_resource_policy(doc(stmt(Principal=principal)), request).decision is expected


NOT_PRINCIPAL_CASES = [
    # Allow + NotPrincipal: everyone except the listed principals.
    ([stmt(Principal=None, NotPrincipal={"AWS": ROLE})], {"principal_arn": ROLE}, IMPLICIT),
    ([stmt(Principal=None, NotPrincipal={"AWS": ROLE})], {"principal_arn": f"arn:aws:iam::{ACCT}:role/X"}, ALLOW),
    ([stmt(Principal=None, NotPrincipal={"AWS": ROLE})], {"principal_service": OMICS}, ALLOW),
    # Deny + NotPrincipal: deny everyone except the listed principals.
    (
        [stmt(Principal="*"), stmt("Deny", Principal=None, NotPrincipal={"Service": OMICS})],
        {"principal_service": OMICS},
        ALLOW,
    ),
    (
        [stmt(Principal="*"), stmt("Deny", Principal=None, NotPrincipal={"Service": OMICS})],
        {"principal_arn": ROLE},
        DENY,
    ),
    (
        [stmt(Principal="*"), stmt("Deny", Principal=None, NotPrincipal={"AWS": ACCT})],
        {"principal_arn": SESSION},
        ALLOW,
    ),
    (
        [stmt(Principal="*"), stmt("Deny", Principal=None, NotPrincipal={"AWS": ROLE})],
        {"principal_account": ACCT},
        UNKNOWN,
    ),
]


@pytest.mark.parametrize(("statements", "who", "expected"), NOT_PRINCIPAL_CASES)
def test_not_principal(statements: list[dict[str, Any]], who: dict[str, Any], expected: Decision) -> None:
    request = Request(action="ecr:BatchGetImage", resource=REPO, **who)
    assert evaluate_resource_policy(doc(*statements), request).decision is expected


def test_identity_policies_ignore_principal() -> None:
    weird = doc(ident(Principal={"Service": "ec2.amazonaws.com"}))
    assert evaluate_identity_policies([weird], role_req()).decision is ALLOW


# --- conditions ------------------------------------------------------------------------------

SRC_ACCT = "aws:SourceAccount"
SRC_ARN = "aws:SourceArn"
WF_PATTERN = f"arn:aws:omics:us-east-1:{ACCT}:workflow/*"
OTHER_WF = f"arn:aws:omics:us-east-1:{OTHER}:workflow/1234567"

CONDITION_CASES: list[tuple[str, dict[str, Any], dict[str, Any], Tri]] = [
    # String operators
    ("eq match", {"StringEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: ACCT}, Tri.YES),
    ("eq other account", {"StringEquals": {SRC_ACCT: OTHER}}, {SRC_ACCT: ACCT}, Tri.NO),
    ("eq key unknown", {"StringEquals": {SRC_ACCT: ACCT}}, {}, Tri.MAYBE),
    ("eq key absent", {"StringEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: None}, Tri.NO),
    ("eq key empty list is absent", {"StringEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: []}, Tri.NO),
    ("key case-insensitive", {"StringEquals": {"AWS:SOURCEACCOUNT": ACCT}}, {"aws:sourceaccount": ACCT}, Tri.YES),
    ("value case-sensitive", {"StringEquals": {"k": "ABC"}}, {"k": "abc"}, Tri.NO),
    ("eq has no wildcards", {"StringEquals": {"k": "a*"}}, {"k": "abc"}, Tri.NO),
    ("ignore case", {"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, Tri.YES),
    ("values OR", {"StringEquals": {SRC_ACCT: [OTHER, ACCT]}}, {SRC_ACCT: ACCT}, Tri.YES),
    ("not-eq other", {"StringNotEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: OTHER}, Tri.YES),
    ("not-eq same", {"StringNotEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: ACCT}, Tri.NO),
    ("not-eq absent is true", {"StringNotEquals": {SRC_ACCT: ACCT}}, {SRC_ACCT: None}, Tri.YES),
    ("not-eq unknown", {"StringNotEquals": {SRC_ACCT: ACCT}}, {}, Tri.MAYBE),
    ("not-eq values NOR hit", {"StringNotEquals": {"k": ["a", "b"]}}, {"k": "a"}, Tri.NO),
    ("not-eq values NOR miss", {"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, Tri.YES),
    ("not-eq ignore case", {"StringNotEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, Tri.NO),
    ("like workflow", {"StringLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: WORKFLOW}, Tri.YES),
    ("like other workflow", {"StringLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: OTHER_WF}, Tri.NO),
    ("like ?", {"StringLike": {"k": "a?c"}}, {"k": "abc"}, Tri.YES),
    ("like case-sensitive", {"StringLike": {"k": "A*"}}, {"k": "abc"}, Tri.NO),
    ("not-like match", {"StringNotLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: WORKFLOW}, Tri.NO),
    ("not-like absent", {"StringNotLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: None}, Tri.YES),
    # ARN operators
    ("arn-like", {"ArnLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: WORKFLOW}, Tri.YES),
    (
        "arn-like region wildcard",
        {"ArnLike": {SRC_ARN: f"arn:aws:omics:*:{ACCT}:workflow/*"}},
        {SRC_ARN: WORKFLOW},
        Tri.YES,
    ),
    ("arn-like other account", {"ArnLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: OTHER_WF}, Tri.NO),
    ("arn-equals", {"ArnEquals": {SRC_ARN: WORKFLOW}}, {SRC_ARN: WORKFLOW}, Tri.YES),
    ("arn-equals not an arn", {"ArnEquals": {SRC_ARN: WORKFLOW}}, {SRC_ARN: "workflow/1234567"}, Tri.NO),
    ("arn-not-like match", {"ArnNotLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: WORKFLOW}, Tri.NO),
    ("arn-not-like other", {"ArnNotLike": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: OTHER_WF}, Tri.YES),
    ("arn-not-equals absent", {"ArnNotEquals": {SRC_ARN: WORKFLOW}}, {SRC_ARN: None}, Tri.YES),
    # AND / OR structure
    ("keys AND ok", {"StringEquals": {SRC_ACCT: ACCT, "k": "v"}}, {SRC_ACCT: ACCT, "k": "v"}, Tri.YES),
    ("keys AND one fails", {"StringEquals": {SRC_ACCT: ACCT, "k": "v"}}, {SRC_ACCT: ACCT, "k": "x"}, Tri.NO),
    ("keys AND one unknown", {"StringEquals": {SRC_ACCT: ACCT, "k": "v"}}, {SRC_ACCT: ACCT}, Tri.MAYBE),
    (
        "operators AND",
        {"StringEquals": {SRC_ACCT: ACCT}, "ArnLike": {SRC_ARN: WF_PATTERN}},
        {SRC_ACCT: ACCT, SRC_ARN: WORKFLOW},
        Tri.YES,
    ),
    ("operators AND: false beats unknown", {"StringEquals": {SRC_ACCT: ACCT, SRC_ARN: "x"}}, {SRC_ACCT: OTHER}, Tri.NO),
    # IfExists and Null
    ("if-exists absent", {"StringEqualsIfExists": {SRC_ACCT: ACCT}}, {SRC_ACCT: None}, Tri.YES),
    ("if-exists present other", {"StringEqualsIfExists": {SRC_ACCT: ACCT}}, {SRC_ACCT: OTHER}, Tri.NO),
    ("if-exists unknown", {"StringEqualsIfExists": {SRC_ACCT: ACCT}}, {}, Tri.MAYBE),
    ("arn-like-if-exists present", {"ArnLikeIfExists": {SRC_ARN: WF_PATTERN}}, {SRC_ARN: WORKFLOW}, Tri.YES),
    ("null true absent", {"Null": {SRC_ACCT: "true"}}, {SRC_ACCT: None}, Tri.YES),
    ("null true present", {"Null": {SRC_ACCT: "true"}}, {SRC_ACCT: ACCT}, Tri.NO),
    ("null false present", {"Null": {SRC_ACCT: False}}, {SRC_ACCT: ACCT}, Tri.YES),
    ("null false absent", {"Null": {SRC_ACCT: "false"}}, {SRC_ACCT: None}, Tri.NO),
    ("null unknown", {"Null": {SRC_ACCT: "true"}}, {}, Tri.MAYBE),
    # Bool, numeric, date, IP
    ("bool true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, Tri.YES),
    ("bool json true", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": True}, Tri.YES),
    ("bool false", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, Tri.NO),
    ("bool absent", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": None}, Tri.NO),
    ("numeric lt", {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}, {"aws:MultiFactorAuthAge": "100"}, Tri.YES),
    (
        "numeric lt fails",
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": 7200},
        Tri.NO,
    ),
    ("numeric ge", {"NumericGreaterThanEquals": {"n": "10"}}, {"n": "10"}, Tri.YES),
    ("numeric eq float", {"NumericEquals": {"n": "10"}}, {"n": "10.0"}, Tri.YES),
    ("numeric not-eq absent", {"NumericNotEquals": {"n": "10"}}, {"n": None}, Tri.YES),
    ("numeric garbage", {"NumericEquals": {"n": "10"}}, {"n": "ten"}, Tri.MAYBE),
    (
        "date lt",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2025-06-01T00:00:00Z"},
        Tri.YES,
    ),
    (
        "date gt",
        {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2025-06-01T00:00:00Z"},
        Tri.NO,
    ),
    ("date epoch", {"DateGreaterThan": {"aws:EpochTime": "1000"}}, {"aws:EpochTime": "2000"}, Tri.YES),
    (
        "date garbage",
        {"DateEquals": {"aws:CurrentTime": "tomorrow"}},
        {"aws:CurrentTime": "2025-06-01T00:00:00Z"},
        Tri.MAYBE,
    ),
    ("ip in", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, Tri.YES),
    ("ip out", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "192.168.0.1"}, Tri.NO),
    ("not-ip", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "192.168.0.1"}, Tri.YES),
    # Set operators (multi-valued keys)
    ("any-value hit", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "a"]}, Tri.YES),
    ("any-value miss", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c"]}, Tri.NO),
    ("any-value absent", {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": None}, Tri.NO),
    (
        "any-value negated absent",
        {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "a"}},
        {"aws:TagKeys": None},
        Tri.MAYBE,
    ),
    (
        "all-values subset",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b", "c"]}},
        {"aws:TagKeys": ["a", "b"]},
        Tri.YES,
    ),
    (
        "all-values escape",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
        {"aws:TagKeys": ["a", "z"]},
        Tri.NO,
    ),
    ("all-values absent is true", {"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {"aws:TagKeys": None}, Tri.YES),
    (
        "all-values like",
        {"ForAllValues:StringLike": {"aws:TagKeys": "Created*"}},
        {"aws:TagKeys": ["CreatedBy", "CreatedAt"]},
        Tri.YES,
    ),
    (
        "all-values not-like",
        {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
        {"aws:TagKeys": ["key1a", "x"]},
        Tri.NO,
    ),
    ("single op, values disagree", {"StringEquals": {"k": "a"}}, {"k": ["a", "b"]}, Tri.MAYBE),
    ("single op, values agree", {"StringEquals": {"k": "a"}}, {"k": ["a", "a"]}, Tri.YES),
    # Unsupported or malformed: never a silent grant
    ("unknown operator", {"StringFuzzyMatch": {"k": "a"}}, {"k": "a"}, Tri.MAYBE),
    ("unknown qualifier", {"ForSomeValues:StringEquals": {"k": "a"}}, {"k": "a"}, Tri.MAYBE),
    ("null with qualifier", {"ForAnyValue:Null": {"k": "true"}}, {"k": None}, Tri.MAYBE),
    # Policy variables in condition values
    ("variable", {"StringEquals": {SRC_ACCT: "${aws:PrincipalAccount}"}}, {SRC_ACCT: ACCT}, Tri.YES),
    ("variable mismatch", {"StringEquals": {SRC_ACCT: "${aws:PrincipalAccount}"}}, {SRC_ACCT: OTHER}, Tri.NO),
    ("variable unknown", {"StringEquals": {SRC_ACCT: "${aws:PrincipalTag/x}"}}, {SRC_ACCT: ACCT}, Tri.MAYBE),
    ("variable escaped $", {"StringEquals": {"k": "${$}{x}"}}, {"k": "${x}"}, Tri.YES),
    ("variable literal star", {"StringLike": {"k": "a${*}"}}, {"k": "a*"}, Tri.YES),
    ("variable literal star is not a wildcard", {"StringLike": {"k": "a${*}"}}, {"k": "abc"}, Tri.NO),
]


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [pytest.param(cond, ctx, exp, id=name) for name, cond, ctx, exp in CONDITION_CASES],
)
def test_conditions(condition: dict[str, Any], context: dict[str, Any], expected: Tri) -> None:
    (statement,) = parse_policy(doc(ident(Condition=condition))).statements
    result = statement_applies(statement, role_req(context=context), resource_policy=False)
    assert result.applies is expected, result.reason
    evaluation = evaluate_identity_policies([doc(ident(Condition=condition))], role_req(context=context))
    assert evaluation.decision is TRI_TO_DECISION[expected]


def test_condition_variables_not_substituted_in_version_2008() -> None:
    condition = {"StringEquals": {SRC_ACCT: "${aws:PrincipalAccount}"}}
    policy = doc(ident(Condition=condition), version="2008-10-17")
    assert evaluate_identity_policies([policy], role_req(context={SRC_ACCT: ACCT})).decision is IMPLICIT
    literal = role_req(context={SRC_ACCT: "${aws:PrincipalAccount}"})
    assert evaluate_identity_policies([policy], literal).decision is ALLOW


def test_derived_principal_context_keys() -> None:
    condition = {"StringEquals": {"aws:PrincipalAccount": ACCT, "aws:PrincipalArn": ROLE}}
    assert evaluate_identity_policies([doc(ident(Condition=condition))], role_req()).decision is ALLOW
    service = {"StringEquals": {"aws:PrincipalServiceName": OMICS}}
    assert evaluate_resource_policy(doc(stmt(Condition=service)), omics_req()).decision is ALLOW
    # Explicit context wins over derivation.
    explicit = role_req(context={"aws:PrincipalAccount": OTHER})
    assert evaluate_identity_policies([doc(ident(Condition=condition))], explicit).decision is IMPLICIT


DENY_CONDITION_CASES = [
    # Confused-deputy guard: deny omics unless the call comes from our own account.
    ({SRC_ACCT: OTHER}, DENY),
    ({SRC_ACCT: ACCT}, ALLOW),
    ({SRC_ACCT: None}, DENY),  # StringNotEquals with the key absent is true (IAM docs)
    ({}, UNKNOWN),  # the deny might apply: the allow cannot be trusted
]


@pytest.mark.parametrize(("context", "expected"), DENY_CONDITION_CASES)
def test_conditional_deny(context: dict[str, Any], expected: Decision) -> None:
    policy = doc(stmt(), stmt("Deny", Sid="OnlyOurAccount", Condition={"StringNotEquals": {SRC_ACCT: ACCT}}))
    assert evaluate_resource_policy(policy, omics_req(context=context)).decision is expected


# --- evaluation order and UNKNOWN propagation ------------------------------------------------

UNCERTAIN = {"StringEquals": {SRC_ACCT: ACCT}}  # undecided when the context lacks aws:SourceAccount

ORDER_CASES = [
    ("allow only", [stmt()], ALLOW),
    ("allow + deny", [stmt(), stmt("Deny")], DENY),
    ("deny first", [stmt("Deny"), stmt()], DENY),
    ("allow + undecided deny", [stmt(), stmt("Deny", Condition=UNCERTAIN)], UNKNOWN),
    ("undecided allow", [stmt(Condition=UNCERTAIN)], UNKNOWN),
    ("undecided allow + allow", [stmt(Condition=UNCERTAIN), stmt()], ALLOW),
    ("undecided deny only", [stmt("Deny", Condition=UNCERTAIN)], IMPLICIT),
    ("deny + undecided allow", [stmt("Deny"), stmt(Condition=UNCERTAIN)], DENY),
    ("undecided both", [stmt(Condition=UNCERTAIN), stmt("Deny", Condition=UNCERTAIN)], UNKNOWN),
    ("other action only", [stmt(Action="ecr:PutImage")], IMPLICIT),
    ("deny other action", [stmt(), stmt("Deny", Action="ecr:PutImage")], ALLOW),
    ("no statements", [], IMPLICIT),
]


@pytest.mark.parametrize(("statements", "expected"), [pytest.param(s, e, id=n) for n, s, e in ORDER_CASES])
def test_evaluation_order(statements: list[dict[str, Any]], expected: Decision) -> None:
    assert evaluate_resource_policy(doc(*statements), omics_req()).decision is expected


def test_reasons_name_statements() -> None:
    policy = doc(stmt(Sid="Pull"), stmt(Action="ecr:*"), stmt("Deny", Sid="DenyAll", Action="*", Principal="*"))
    evaluation = evaluate_resource_policy(policy, omics_req())
    assert evaluation.decision is DENY
    assert [m.sid for m in evaluation.allows] == ["Pull", None]
    assert [(m.sid, m.index, m.effect) for m in evaluation.denies] == [("DenyAll", 2, "Deny")]
    text = "\n".join(evaluation.reasons)
    assert "statement 'DenyAll' (index 2) explicitly denies ecr:BatchGetImage" in text
    assert "statement index 1 allows ecr:BatchGetImage" in text
    assert evaluation.reasons[-1].startswith("decision: explicit_deny")


def test_undecided_lists_missing_key() -> None:
    evaluation = evaluate_resource_policy(doc(stmt(Sid="Cond", Condition=UNCERTAIN)), omics_req())
    (match,) = evaluation.undecided
    assert match.sid == "Cond" and match.conditional
    assert "aws:SourceAccount is not in the request context" in match.reason


def test_non_applicable_statement_is_explained() -> None:
    policy = doc(stmt(Sid="QuayOnly", Resource=f"{REPO_BASE}/quay/*"))
    evaluation = evaluate_resource_policy(policy, omics_req(resource=DOCKER_HUB))
    assert evaluation.decision is IMPLICIT
    assert any("'QuayOnly'" in r and "does not match" in r for r in evaluation.reasons)


# --- identity side: boundary and session policy ----------------------------------------------

ALLOW_PULL = doc(ident(Action=PULL))
DESCRIBE_ONLY = doc(ident(Action="ecr:Describe*"))
QUAY_ONLY = doc(ident(Action="ecr:*", Resource=f"{REPO_BASE}/quay/*"))
DENY_ALL = doc(ident("Deny", Action="*"))

IDENTITY_CASES: list[tuple[str, list[Any], Any, Any, Decision]] = [
    ("identity allows", [ALLOW_PULL], None, None, ALLOW),
    ("identity allows as json text", [json.dumps(ALLOW_PULL)], None, None, ALLOW),
    ("nothing allows", [DESCRIBE_ONLY], None, None, IMPLICIT),
    ("no identity policies", [], None, None, IMPLICIT),
    ("boundary allows", [ALLOW_PULL], doc(ident(Action="ecr:*")), None, ALLOW),
    ("boundary too narrow", [ALLOW_PULL], DESCRIBE_ONLY, None, IMPLICIT),
    ("boundary alone grants nothing", [DESCRIBE_ONLY], doc(ident(Action="ecr:*")), None, IMPLICIT),
    ("boundary denies", [ALLOW_PULL], DENY_ALL, None, DENY),
    ("boundary undecided", [ALLOW_PULL], doc(ident(Action="ecr:*", Condition=UNCERTAIN)), None, UNKNOWN),
    ("session allows", [ALLOW_PULL], None, doc(ident(Action="ecr:*")), ALLOW),
    ("session scoped elsewhere", [ALLOW_PULL], None, QUAY_ONLY, IMPLICIT),
    ("session denies", [ALLOW_PULL], None, DENY_ALL, DENY),
    ("empty session policy allows nothing", [ALLOW_PULL], None, doc(), IMPLICIT),
    ("all three allow", [ALLOW_PULL], doc(ident(Action="ecr:*")), doc(ident(Action="*")), ALLOW),
    ("deny in second identity policy", [ALLOW_PULL, DENY_ALL], None, None, DENY),
    ("allow in second identity policy", [DESCRIBE_ONLY, ALLOW_PULL], None, None, ALLOW),
]


@pytest.mark.parametrize(
    ("docs", "boundary", "session", "expected"), [pytest.param(*c[1:], id=c[0]) for c in IDENTITY_CASES]
)
def test_identity_side(docs: list[Any], boundary: Any, session: Any, expected: Decision) -> None:
    evaluation = evaluate_identity_policies(docs, role_req(), boundary=boundary, session_policy=session)
    assert evaluation.decision is expected


def test_identity_reasons_name_source_documents() -> None:
    evaluation = evaluate_identity_policies([DESCRIBE_ONLY, ALLOW_PULL], role_req(), boundary=DESCRIBE_ONLY)
    assert evaluation.decision is IMPLICIT
    assert any(r.startswith("identity[1] statement index 0 allows") for r in evaluation.reasons)
    assert "the permissions boundary does not allow ecr:BatchGetImage on " + REPO in evaluation.reasons
    assert evaluation.allows[0].source == "identity[1]"


def test_identity_accepts_a_single_document() -> None:
    assert evaluate_identity_policies(ALLOW_PULL, role_req()).decision is ALLOW  # type: ignore[arg-type]


# --- combine / intersect ---------------------------------------------------------------------


def _resource(statements: list[dict[str, Any]], **ctx: Any) -> Evaluation:
    return evaluate_resource_policy(doc(*statements), role_req(context=ctx))


ALLOWED_EVAL = Evaluation(decision=ALLOW)
IMPLICIT_EVAL = Evaluation(decision=IMPLICIT)


def test_combine_union_semantics() -> None:
    assert combine(ALLOWED_EVAL, IMPLICIT_EVAL).decision is ALLOW
    assert combine(IMPLICIT_EVAL, IMPLICIT_EVAL).decision is IMPLICIT
    assert combine(ALLOWED_EVAL, Evaluation(decision=DENY)).decision is DENY
    assert combine().decision is IMPLICIT
    assert combine(Evaluation(decision=UNKNOWN), ALLOWED_EVAL).decision is ALLOW  # an undecided allow cannot matter


def test_combine_keeps_undecided_denies() -> None:
    maybe_deny = evaluate_resource_policy(doc(stmt("Deny", Principal="*", Condition=UNCERTAIN)), role_req())
    assert maybe_deny.decision is IMPLICIT and maybe_deny.denied is Tri.MAYBE
    identity = evaluate_identity_policies([ALLOW_PULL], role_req())
    combined = combine(maybe_deny, identity)
    assert combined.decision is UNKNOWN
    assert len(combined.undecided) == 1
    assert combined.reasons[-1].endswith("decision unknown")


def test_intersect_requires_all() -> None:
    assert intersect(ALLOWED_EVAL, ALLOWED_EVAL).decision is ALLOW
    assert intersect(ALLOWED_EVAL, IMPLICIT_EVAL).decision is IMPLICIT
    assert intersect(ALLOWED_EVAL, Evaluation(decision=UNKNOWN)).decision is UNKNOWN
    assert intersect(IMPLICIT_EVAL, Evaluation(decision=UNKNOWN)).decision is IMPLICIT
    assert intersect(ALLOWED_EVAL, Evaluation(decision=DENY)).decision is DENY
    assert intersect().decision is IMPLICIT


def test_evaluation_derives_facts_from_decision() -> None:
    assert Evaluation(decision=DENY).denied is Tri.YES
    assert Evaluation(decision=UNKNOWN).granted is Tri.MAYBE
    assert Evaluation(decision=ALLOW).allowed and not Evaluation(decision=IMPLICIT).allowed


# --- anchor bugs (docs/healthomics-pitfalls.md §1.1) -----------------------------------------------

HEALTHOMICS_REPO_POLICY = doc(
    {
        "Sid": "omics workflow access",
        "Effect": "Allow",
        "Principal": {"Service": OMICS},
        "Action": PULL,
        "Resource": "*",
    }
)


def test_anchor_allow_plus_explicit_deny_is_denied() -> None:
    policy = doc(HEALTHOMICS_REPO_POLICY["Statement"][0], stmt("Deny", Sid="NoOmics", Action="ecr:*"))
    evaluation = evaluate_resource_policy(policy, omics_req())
    assert evaluation.decision is DENY
    assert evaluation.denies[0].sid == "NoOmics"


def test_anchor_source_account_of_another_account_is_not_a_grant() -> None:
    policy = doc(stmt(Action=PULL, Condition={"StringEquals": {SRC_ACCT: OTHER}}))
    ours = omics_req(context={SRC_ACCT: ACCT, SRC_ARN: WORKFLOW})
    assert evaluate_resource_policy(policy, ours).decision is IMPLICIT
    assert evaluate_resource_policy(policy, omics_req()).decision is UNKNOWN  # never ALLOWED without context
    workflow_bound = doc(stmt(Action=PULL, Condition={"ArnLike": {SRC_ARN: OTHER_WF}}))
    assert evaluate_resource_policy(workflow_bound, ours).decision is IMPLICIT


def test_anchor_batch_and_get_wildcards_grant_pull() -> None:
    policy = doc(stmt(Action=["ecr:Batch*", "ecr:Get*"]))
    results = actions_allowed(policy, PULL, omics_req(), resource_policy=True)
    assert {a: e.decision for a, e in results.items()} == dict.fromkeys(PULL, ALLOW)


def test_anchor_registry_policy_scoped_to_quay_does_not_cover_docker_hub() -> None:
    registry = doc(
        stmt(
            Sid="AllowPTCinRegPermissions",
            Action=["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
            Resource=f"{REPO_BASE}/quay/*",
        )
    )
    template = omics_req(resource=DOCKER_HUB)
    results = actions_allowed(
        registry, ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"], template, resource_policy=True
    )
    assert all(e.decision is IMPLICIT for e in results.values())
    quay = actions_allowed(
        registry, ["ecr:CreateRepository"], omics_req(resource=f"{REPO_BASE}/quay/*"), resource_policy=True
    )
    assert quay["ecr:CreateRepository"].decision is ALLOW


def test_healthomics_documented_policies() -> None:
    repo = actions_allowed(HEALTHOMICS_REPO_POLICY, PULL, omics_req(), resource_policy=True)
    assert all(e.allowed for e in repo.values())
    creation_template = doc(
        {
            "Sid": "PTCRepoCreationTemplate",
            "Effect": "Allow",
            "Principal": {"Service": OMICS},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": "*",
        }
    )
    rct = actions_allowed(creation_template, PULL, omics_req(), resource_policy=True)
    assert rct["ecr:BatchCheckLayerAvailability"].decision is IMPLICIT
    assert rct["ecr:BatchGetImage"].decision is ALLOW


def test_actions_allowed_identity_side() -> None:
    results = actions_allowed(doc(ident(Action="ecr:Get*")), PULL, role_req(), resource_policy=False)
    assert results["ecr:GetDownloadUrlForLayer"].decision is ALLOW
    assert results["ecr:BatchGetImage"].decision is IMPLICIT


def test_cross_account_needs_both_sides() -> None:
    other_role = f"arn:aws:iam::{OTHER}:role/OmicsRunRole"
    request = role_req(principal_arn=other_role)
    repo_policy = doc(stmt(Principal={"AWS": f"arn:aws:iam::{OTHER}:root"}, Action=PULL))
    resource_side = evaluate_resource_policy(repo_policy, request)
    identity_side = evaluate_identity_policies([DESCRIBE_ONLY], request)
    assert resource_side.decision is ALLOW
    assert intersect(resource_side, identity_side).decision is IMPLICIT
    assert intersect(resource_side, evaluate_identity_policies([ALLOW_PULL], request)).decision is ALLOW


# --- glob matching ---------------------------------------------------------------------------

GLOB_CASES = [
    ("*", "", True),
    ("", "", True),
    ("?", "", False),
    ("a*b", "ab", True),
    ("a*b", "axxb", True),
    ("a*b", "axxc", False),
    ("*a*a*", "aa", True),
    ("a?c", "abc", True),
    ("arn:*:ecr:*", "arn:aws:ecr:us-east-1", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), GLOB_CASES)
def test_glob_match_examples(pattern: str, text: str, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


COVER_CASES = [
    ("*?", "?*", True),  # the naive alignment DP gets this wrong
    ("?*", "*?", True),
    ("*?", "*", False),
    (["", "?*"], "*", True),
    (["a*", "b*"], "*", False),
    ("a*", "a?", True),
    ("a?", "a*", False),
    ("**", "x*y", True),
    ("*a*", "*a", True),
    ("*ab*", "*a*b*", False),
]


@pytest.mark.parametrize(("patterns", "target", "expected"), COVER_CASES)
def test_glob_covers_examples(patterns: str | list[str], target: str, expected: bool) -> None:
    assert glob_covers(patterns, target) is expected


ALPHABET = "abc"  # "c" never appears in generated patterns: it stands for "any other character"
MAX_LEN = 8
STRINGS = ["".join(p) for n in range(MAX_LEN + 1) for p in itertools.product(ALPHABET, repeat=n)]
patterns_st = st.text(alphabet="ab*?", max_size=3)
small_patterns_st = st.text(alphabet="ab*?", max_size=3)


@functools.cache
def _brute(pattern: str, length: int) -> frozenset[str]:
    # fnmatch is a fine oracle here: generated patterns contain no "[" classes.
    return frozenset(s for s in STRINGS if len(s) <= length and fnmatch.fnmatchcase(s, pattern))


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="ab*?", max_size=6), text=st.text(alphabet=ALPHABET, max_size=7))
def test_glob_match_agrees_with_fnmatch(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


@settings(max_examples=200, deadline=None)
@given(a=patterns_st, b=patterns_st)
def test_glob_intersects_agrees_with_brute_force(a: str, b: str) -> None:
    # A shortest common string never needs more characters than the two patterns have together.
    bound = len(a) + len(b)
    assert glob_intersects(a, b) == bool(_brute(a, bound) & _brute(b, bound))
    assert glob_intersects(a, b) == glob_intersects(b, a)


@settings(max_examples=200, deadline=None)
@given(patterns=st.lists(small_patterns_st, min_size=1, max_size=2), target=small_patterns_st)
def test_glob_covers_agrees_with_brute_force(patterns: list[str], target: str) -> None:
    bound = MAX_LEN
    inside = _brute(target, bound)
    covered = set().union(*(_brute(p, bound) for p in patterns))
    assert glob_covers(patterns, target) == inside.issubset(covered)


@settings(max_examples=200, deadline=None)
@given(pattern=patterns_st, other=patterns_st)
def test_glob_relations_are_consistent(pattern: str, other: str) -> None:
    assert glob_covers(pattern, pattern)
    assert glob_covers("*", pattern)
    assert glob_intersects(pattern, pattern)
    if glob_covers(other, pattern):
        assert glob_intersects(other, pattern)  # every pattern matches at least one string
