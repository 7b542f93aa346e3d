"""Every built-in rule end to end: account state built through boto3 against the sandbox, one-rule scans.

Each test seeds a small account with real boto3 calls (plus the sandbox's seeding helpers for what no
public API can set: run state, run tasks, a first pull through the cache), runs a scan restricted to
one rule (which also exercises facet selection: only that rule's facets are collected) and asserts
the exact status of every reported resource, and that messages/evidence name the right thing.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.engine import load_builtin_rules
from auditor.findings import Status
from auditor.sandbox import images
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.omics import add_run_task, set_run_state
from tests.support.sandbox import (
    ACCOUNT,
    OMICS,
    PULL,
    REGION,
    by_resource,
    ecr_uri,
    omics_statement,
    policy,
    run_scan,
    statuses,
    trust,
)
from tests.support.workflows import nextflow_definition

PASS, FAIL, ERROR, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE
OTHER_ACCOUNT = "210987654321"
DEFINITION = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: the sandbox stores definitions opaquely
TEMPLATE_PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
PTC_ACTIONS = ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]


# --- seeding helpers (boto3 only, except run state/tasks, which no public API sets) --------------------


@dataclass
class Account:
    session: boto3.Session
    ecr: Any
    sm: Any
    iam: Any
    omics: Any


@pytest.fixture
def acct(aws: boto3.Session) -> Account:
    return Account(aws, aws.client("ecr"), aws.client("secretsmanager"), aws.client("iam"), aws.client("omics"))


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def prefix_arn(prefix: str) -> str:
    return repo_arn(f"{prefix}/*")


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def identity_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str] | str, resource: list[str] | str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def deny(actions: list[str] | str, resource: list[str] | str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resource, **extra}


def source_account(account: str) -> dict[str, Any]:
    return {"StringEquals": {"aws:SourceAccount": account}}


def dockerhub_secret(a: Account, name: str = "ecr-pullthroughcache/docker-hub", **value: str) -> str:
    value = value or {"username": "u", "accessToken": "dckr_pat_TEST_NOT_A_SECRET"}
    return a.sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]


def ptc_rule(a: Account, prefix: str, url: str, credential_arn: str | None = None) -> None:
    kwargs = {"credentialArn": credential_arn} if credential_arn else {}
    a.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=url, **kwargs)


def workflow(
    a: Account,
    name: str,
    registry: list[dict[str, str]] | None = None,
    image: list[tuple[str, str]] | None = None,
    containers: tuple[str, ...] = (),
) -> tuple[str, str]:
    """(id, arn) of a new private workflow with the given container registry map (none when both empty) and
    a Nextflow definition naming ``containers`` (an empty zip when there are none)."""
    kwargs: dict[str, Any] = {}
    if registry or image:
        kwargs["containerRegistryMap"] = {
            "registryMappings": registry or [],
            "imageMappings": [{"sourceImage": s, "destinationImage": d} for s, d in image or []],
        }
    definition = nextflow_definition(*containers) if containers else DEFINITION
    created = a.omics.create_workflow(name=name, engine="NEXTFLOW", definitionZip=definition, **kwargs)
    return created["id"], created["arn"]


def run(
    a: Account,
    workflow_id: str,
    role: str,
    *,
    status: str = "COMPLETED",
    started: timedelta | datetime = timedelta(hours=3),
    stopped: timedelta | None = timedelta(hours=2),
    session_policy: str | None = None,
) -> str:
    """Start a run and move it to ``status``; ``started`` is a time or how long ago, ``stopped`` how long
    ago (None: not stopped)."""
    kwargs = {"sessionPolicy": session_policy} if session_policy else {}
    run_id = a.omics.start_run(
        workflowId=workflow_id, roleArn=role, name=f"run-{time.monotonic_ns()}", outputUri="s3://out/x/", **kwargs
    )["id"]
    now = datetime.now(UTC)
    start = started if isinstance(started, datetime) else now - started
    set_run_state(
        ACCOUNT,
        REGION,
        run_id,
        status=status,
        creation_time=start,
        start_time=start,
        stop_time=now - stopped if stopped is not None else None,
    )
    return run_id


def omics_role(a: Account, name: str, *statements: dict[str, Any], service: str = OMICS) -> str:
    a.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))
    if statements:
        a.iam.put_role_policy(RoleName=name, PolicyName="pull", PolicyDocument=identity_policy(*statements))
    return role_arn(name)


def managed(a: Account, name: str, *statements: dict[str, Any]) -> str:
    return a.iam.create_policy(PolicyName=name, PolicyDocument=identity_policy(*statements))["Policy"]["Arn"]


def scan(a: Account, rule_id: str, config: dict[str, Any] | None = None):
    """A one-rule scan; also checks facet selection: every API call made is one the rule's facets need."""
    doc = run_scan(a.session, rules=[rule_id], config=config)
    assert {f.rule_id for f in doc.findings} == {rule_id}
    needed = set(load_builtin_rules()[rule_id].meta.permissions)
    assert set(doc.api_calls) <= needed, f"calls outside {rule_id}'s facets: {set(doc.api_calls) - needed}"
    return doc


# =====================================================================================================
# ptc-rule-coverage
# =====================================================================================================

COVERAGE = "ptc-rule-coverage"


def test_coverage_missing_rule_for_registry_map_upstream(acct: Account) -> None:
    wf_id, _ = workflow(acct, "wf", registry=[{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}])
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {"upstream/quay.io": FAIL}
    finding = by_resource(doc, COVERAGE)["upstream/quay.io"]
    assert "No pull-through cache rule for upstream quay.io" in finding.message
    assert wf_id in finding.message
    assert finding.evidence["needed_by"] == [f"registry map of workflow {wf_id} (quay)"]
    assert finding.fixable


def test_coverage_registry_map_upstream_with_rule_passes(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    workflow(acct, "wf", registry=[{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}])
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {"upstream/quay.io": PASS, "pull-through-cache-rule/quay": PASS}
    assert by_resource(doc, COVERAGE)["upstream/quay.io"].evidence["rules"] == ["quay"]
    # quay needs no credentials: the rule is not validated (no ValidatePullThroughCacheRule call)
    assert "ecr:ValidatePullThroughCacheRule" not in doc.api_calls


@pytest.mark.parametrize("with_rule", [False, True])
def test_coverage_required_upstreams_from_config(acct: Account, with_rule: bool) -> None:
    if with_rule:
        ptc_rule(acct, "quay", "quay.io")
    doc = scan(acct, COVERAGE, config={"required_upstreams": ["quay.io"]})
    found = by_resource(doc, COVERAGE)
    if with_rule:
        assert statuses(doc, COVERAGE) == {"upstream/quay.io": PASS, "pull-through-cache-rule/quay": PASS}
    else:
        assert statuses(doc, COVERAGE) == {"upstream/quay.io": FAIL}
        assert "required by configuration" in found["upstream/quay.io"].message
    assert found["upstream/quay.io"].evidence["needed_by"] == ["required by configuration"]


@pytest.mark.parametrize("destination_exists", [False, True])
def test_coverage_image_mapping_needs_upstream_only_when_destination_is_missing(
    acct: Account, destination_exists: bool
) -> None:
    if destination_exists:
        acct.ecr.create_repository(repositoryName="quay/biocontainers/samtools")
    wf_id, _ = workflow(
        acct,
        "wf",
        image=[("quay.io/biocontainers/samtools:1.17", ecr_uri("quay/biocontainers/samtools:1.17"))],
    )
    doc = scan(acct, COVERAGE)
    if destination_exists:
        # staged by hand: no upstream needed, no rules exist -> nothing to check
        assert statuses(doc, COVERAGE) == {f"rule/{COVERAGE}": NA}
    else:
        assert statuses(doc, COVERAGE) == {"upstream/quay.io": FAIL}
        evidence = by_resource(doc, COVERAGE)["upstream/quay.io"].evidence
        assert evidence["needed_by"] == [f"image mapping of workflow {wf_id} (quay.io/biocontainers/samtools:1.17)"]


def test_coverage_docker_hub_with_valid_secret_passes(acct: Account) -> None:
    ptc_rule(acct, "docker-hub", "registry-1.docker.io", dockerhub_secret(acct))
    workflow(
        acct, "wf", registry=[{"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"}]
    )
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {
        "upstream/registry-1.docker.io": PASS,
        "pull-through-cache-rule/docker-hub": PASS,
    }
    assert doc.api_calls.get("ecr:ValidatePullThroughCacheRule") == 1
    assert "registry-1.docker.io" in by_resource(doc, COVERAGE)["pull-through-cache-rule/docker-hub"].message


def test_coverage_secret_without_access_token_fails_validation(acct: Account) -> None:
    ptc_rule(acct, "docker-hub", "registry-1.docker.io", dockerhub_secret(acct, username="only-a-user"))
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {"pull-through-cache-rule/docker-hub": FAIL}
    finding = by_resource(doc, COVERAGE)["pull-through-cache-rule/docker-hub"]
    assert "ValidatePullThroughCacheRule says invalid" in finding.message
    assert "accessToken" in finding.message
    assert finding.evidence["validation"]["is_valid"] is False
    assert "only-a-user" not in json.dumps(finding.evidence)  # never the secret's value


def test_coverage_secret_scheduled_for_deletion_fails(acct: Account) -> None:
    arn = dockerhub_secret(acct)
    ptc_rule(acct, "docker-hub", "registry-1.docker.io", arn)
    acct.sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {"pull-through-cache-rule/docker-hub": FAIL}
    finding = by_resource(doc, COVERAGE)["pull-through-cache-rule/docker-hub"]
    assert "'ecr-pullthroughcache/docker-hub' is scheduled for deletion" in finding.message
    assert any("ValidatePullThroughCacheRule" in p for p in finding.evidence["problems"])


def test_coverage_unauthenticated_quay_rule_passes_and_each_rule_is_judged(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    ptc_rule(acct, "ghcr", "ghcr.io", dockerhub_secret(acct, "ecr-pullthroughcache/ghcr", username="u"))
    doc = scan(acct, COVERAGE)
    # no workflow needs anything, but every existing rule is still judged on its own
    assert statuses(doc, COVERAGE) == {"pull-through-cache-rule/quay": PASS, "pull-through-cache-rule/ghcr": FAIL}
    assert doc.api_calls.get("ecr:ValidatePullThroughCacheRule") == 1  # only the authenticated upstream


def test_coverage_mappings_served_by_another_registry_need_no_rule_here(acct: Account) -> None:
    """A registry mapping to another account's registry, or an image mapping whose destination lives in
    another account/region, is served by that registry's own cache: this account needs no rule for it."""
    workflow(
        acct,
        "wf",
        registry=[{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay", "ecrAccountId": OTHER_ACCOUNT}],
        image=[
            ("ubuntu:22.04", ecr_uri("docker-hub/library/ubuntu:22.04", account=OTHER_ACCOUNT)),
            ("public.ecr.aws/lts/ubuntu:22.04", ecr_uri("ecr-public/lts/ubuntu:22.04", region="us-west-2")),
        ],
    )
    doc = scan(acct, COVERAGE)
    assert statuses(doc, COVERAGE) == {f"rule/{COVERAGE}": NA}


def test_coverage_docker_hub_image_mapping_needs_registry_1_docker_io(acct: Account) -> None:
    wf_id, _ = workflow(acct, "wf", image=[("ubuntu:22.04", ecr_uri("docker-hub/library/ubuntu:22.04"))])
    doc = scan(acct, COVERAGE, config={"required_upstreams": ["docker.io"]})
    assert statuses(doc, COVERAGE) == {"upstream/registry-1.docker.io": FAIL}
    assert by_resource(doc, COVERAGE)["upstream/registry-1.docker.io"].evidence["needed_by"] == [
        "required by configuration",
        f"image mapping of workflow {wf_id} (ubuntu:22.04)",
    ]


# =====================================================================================================
# registry-policy-allows-omics
# =====================================================================================================

REGISTRY = "registry-policy-allows-omics"
REGISTRY_PREFIXES = ("quay", "ecr-public")


def _registry_setup(a: Account, *statements: dict[str, Any]) -> None:
    ptc_rule(a, "quay", "quay.io")
    ptc_rule(a, "ecr-public", "public.ecr.aws")
    if statements:
        a.ecr.put_registry_policy(policyText=policy(*statements))


def _registry(quay: Status, ecr_public: Status) -> dict[str, Status]:
    return {"registry-policy/quay": quay, "registry-policy/ecr-public": ecr_public}


REGISTRY_CASES: list[tuple[str, list[dict[str, Any]], Status, Status]] = [
    (
        "documented-grant-own-account",
        [
            omics_statement(
                PTC_ACTIONS,
                Resource=[prefix_arn(p) for p in REGISTRY_PREFIXES],
                Condition=source_account(ACCOUNT),
            )
        ],
        PASS,
        PASS,
    ),
    ("wildcards", [omics_statement(["ecr:*"], Resource=repo_arn("*"))], PASS, PASS),
    ("action-wildcard-mixed-case", [omics_statement(["ECR:batch*", "ecr:Create*"], Resource="*")], PASS, PASS),
    (
        "deny-import-on-quay",
        [
            omics_statement(["ecr:*"], Resource=repo_arn("*")),
            {
                "Sid": "NoQuayImport",
                "Effect": "Deny",
                "Principal": {"Service": OMICS},
                "Action": "ecr:BatchImportUpstreamImage",
                "Resource": prefix_arn("quay"),
            },
        ],
        FAIL,
        PASS,
    ),
    (
        "source-account-of-another-account",
        [omics_statement(PTC_ACTIONS, Resource="*", Condition=source_account(OTHER_ACCOUNT))],
        FAIL,
        FAIL,
    ),
    ("resource-scoped-to-another-prefix", [omics_statement(PTC_ACTIONS, Resource=prefix_arn("quay"))], PASS, FAIL),
    (
        "not-action-grant",
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": OMICS},
                "NotAction": ["ecr:DeleteRepository"],
                "Resource": repo_arn("*"),
            }
        ],
        PASS,
        PASS,
    ),
    (
        "not-action-excluding-import",
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": OMICS},
                "NotAction": ["ecr:BatchImportUpstreamImage"],
                "Resource": repo_arn("*"),
            }
        ],
        FAIL,
        FAIL,
    ),
    (
        "documented-deny-other-source-accounts",
        [
            omics_statement(PTC_ACTIONS, Resource=repo_arn("*")),
            {
                "Effect": "Deny",
                "Principal": {"Service": OMICS},
                "Action": "ecr:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}},
            },
        ],
        PASS,
        PASS,
    ),
    (
        "service-principal-list",
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", OMICS]},
                "Action": PTC_ACTIONS,
                "Resource": repo_arn("*"),
            }
        ],
        PASS,
        PASS,
    ),
    (
        "grant-to-another-principal-only",
        [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                "Action": PTC_ACTIONS,
                "Resource": repo_arn("*"),
            }
        ],
        FAIL,
        FAIL,
    ),
]


@pytest.mark.parametrize(
    ("statements", "quay", "ecr_public"), [c[1:] for c in REGISTRY_CASES], ids=[c[0] for c in REGISTRY_CASES]
)
def test_registry_policy_cases(
    acct: Account, statements: list[dict[str, Any]], quay: Status, ecr_public: Status
) -> None:
    _registry_setup(acct, *statements)
    doc = scan(acct, REGISTRY)
    assert statuses(doc, REGISTRY) == _registry(quay, ecr_public)
    for prefix in REGISTRY_PREFIXES:
        finding = by_resource(doc, REGISTRY)[f"registry-policy/{prefix}"]
        assert finding.evidence["resource"] == prefix_arn(prefix)
        assert prefix_arn(prefix) in finding.message
        if finding.status == FAIL:
            assert finding.evidence.get("missing") or finding.evidence.get("denied")


def test_registry_policy_absent_fails_every_prefix(acct: Account) -> None:
    _registry_setup(acct)
    doc = scan(acct, REGISTRY)
    assert statuses(doc, REGISTRY) == _registry(FAIL, FAIL)
    for finding in by_resource(doc, REGISTRY).values():
        assert finding.evidence["missing"] == PTC_ACTIONS
        assert "there is no policy" in finding.message


def test_registry_policy_explicit_deny_is_named(acct: Account) -> None:
    _registry_setup(
        acct,
        omics_statement(["ecr:*"], Resource=repo_arn("*")),
        {
            "Effect": "Deny",
            "Principal": {"Service": OMICS},
            "Action": "ecr:BatchImportUpstreamImage",
            "Resource": prefix_arn("quay"),
        },
    )
    finding = by_resource(scan(acct, REGISTRY), REGISTRY)["registry-policy/quay"]
    assert finding.evidence["denied"] == ["ecr:BatchImportUpstreamImage"]
    assert "ecr:CreateRepository" not in finding.message.split(" on ")[0]


def test_registry_policy_unknown_condition_key_is_error_with_reason(acct: Account) -> None:
    """A key only the moment of the request decides (the caller's address) cannot be vouched for."""
    _registry_setup(
        acct,
        omics_statement(PTC_ACTIONS, Resource=repo_arn("*"), Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    )
    doc = scan(acct, REGISTRY)
    assert statuses(doc, REGISTRY) == _registry(ERROR, ERROR)
    finding = by_resource(doc, REGISTRY)["registry-policy/quay"]
    assert finding.message.startswith("Cannot decide")
    assert "aws:sourceip" in finding.message.lower()
    assert finding.evidence["undecided"] == PTC_ACTIONS


def test_registry_policy_grant_on_principal_org_id_never_reaches_a_service_principal(acct: Account) -> None:
    """aws:PrincipalOrgID is absent from a service principal's requests, so the grant does not apply to omics
    (docs/policy-evaluation.md): a definite FAIL, not an undecidable ERROR."""
    _registry_setup(
        acct,
        omics_statement(
            PTC_ACTIONS, Resource=repo_arn("*"), Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}
        ),
    )
    doc = scan(acct, REGISTRY)
    assert statuses(doc, REGISTRY) == _registry(FAIL, FAIL)
    finding = by_resource(doc, REGISTRY)["registry-policy/quay"]
    assert "aws:PrincipalOrgID".lower() in finding.message.lower()
    assert finding.evidence["missing"] == PTC_ACTIONS


@pytest.mark.parametrize(("workflows", "expected"), [(0, ERROR), (2, PASS)])
def test_registry_policy_source_arn_wildcard_for_own_workflows(acct: Account, workflows: int, expected: Status) -> None:
    """ArnLike on every workflow of the account holds for each known workflow; with no workflow known the
    auditor cannot tell which aws:SourceArn HealthOmics will send, so it says so rather than PASS."""
    for i in range(workflows):
        workflow(acct, f"wf{i}")
    condition = {"ArnLike": {"aws:SourceArn": f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/*"}}
    _registry_setup(acct, omics_statement(PTC_ACTIONS, Resource=repo_arn("*"), Condition=condition))
    assert statuses(scan(acct, REGISTRY), REGISTRY) == _registry(expected, expected)


def test_registry_policy_source_arn_of_one_of_two_workflows_fails(acct: Account) -> None:
    _, wf1_arn = workflow(acct, "wf1")
    workflow(acct, "wf2")
    _registry_setup(
        acct, omics_statement(PTC_ACTIONS, Resource=repo_arn("*"), Condition={"ArnEquals": {"aws:SourceArn": wf1_arn}})
    )
    assert statuses(scan(acct, REGISTRY), REGISTRY) == _registry(FAIL, FAIL)


_FOREIGN_PRINCIPALS = st.sampled_from(
    [
        {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        {"AWS": OTHER_ACCOUNT},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:role/SomeoneElse"},
        {"Service": "lambda.amazonaws.com"},
        {"Service": "replication.ecr.amazonaws.com"},
    ]
)
_ECR_ACTIONS = st.sampled_from(
    ["ecr:*", "ecr:CreateRepository", "ecr:BatchImportUpstreamImage", "ecr:ReplicateImage", "ecr:Batch*"]
)
_RESOURCES = st.sampled_from(["*", repo_arn("*"), prefix_arn("quay"), prefix_arn("ecr-public"), prefix_arn("other")])
_FOREIGN_STATEMENT = st.builds(
    lambda effect, principal, actions, resource: {
        "Effect": effect,
        "Principal": principal,
        "Action": actions,
        "Resource": resource,
    },
    st.sampled_from(["Allow", "Deny"]),
    _FOREIGN_PRINCIPALS,
    st.lists(_ECR_ACTIONS, min_size=1, max_size=3, unique=True),
    _RESOURCES,
)
_OMICS_BASES = {
    "grant-quay-only": [omics_statement(PTC_ACTIONS, Resource=prefix_arn("quay"), Condition=source_account(ACCOUNT))],
    "grant-all": [omics_statement(["ecr:*"], Resource=repo_arn("*"))],
    "nothing": [],
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
@given(base=st.sampled_from(sorted(_OMICS_BASES)), foreign=st.lists(_FOREIGN_STATEMENT, min_size=1, max_size=4))
def test_registry_policy_foreign_statements_never_change_the_omics_verdict(
    aws: boto3.Session, base: str, foreign: list[dict[str, Any]]
) -> None:
    """Statements for other principals (Allow or Deny, any ECR action) are irrelevant to omics.amazonaws.com."""
    ecr = aws.client("ecr")
    if not ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]:
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")

    def verdict(statements: list[dict[str, Any]]) -> dict[str, Status]:
        if statements:
            ecr.put_registry_policy(policyText=policy(*statements))
        else:
            with contextlib.suppress(ecr.exceptions.RegistryPolicyNotFoundException):
                ecr.delete_registry_policy()
        return statuses(run_scan(aws, rules=[REGISTRY]), REGISTRY)

    assert verdict(_OMICS_BASES[base] + foreign) == verdict(_OMICS_BASES[base])


# =====================================================================================================
# creation-template-grants-omics
# =====================================================================================================

TEMPLATE = "creation-template-grants-omics"


def _template(a: Account, prefix: str, applied_for: list[str], *statements: dict[str, Any]) -> None:
    kwargs = {"repositoryPolicy": policy(*statements)} if statements else {}
    a.ecr.create_repository_creation_template(prefix=prefix, appliedFor=applied_for, **kwargs)


GOOD_TEMPLATE = omics_statement(TEMPLATE_PULL, sid="PTCRepoCreationTemplate", Resource="*")


def test_template_for_prefix_with_omics_pull_passes(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    _template(acct, "quay", ["PULL_THROUGH_CACHE"], GOOD_TEMPLATE)
    doc = scan(acct, TEMPLATE)
    assert statuses(doc, TEMPLATE) == {"creation-template-coverage/quay": PASS}
    finding = by_resource(doc, TEMPLATE)["creation-template-coverage/quay"]
    assert finding.evidence["template_prefix"] == "quay"
    assert "Template 'quay' covers 'quay'" in finding.message


def test_template_without_any_template_fails(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    finding = by_resource(scan(acct, TEMPLATE), TEMPLATE)["creation-template-coverage/quay"]
    assert finding.status == FAIL
    assert "No repository creation template applied for PULL_THROUGH_CACHE covers PTC prefix 'quay'" in finding.message


def test_template_applied_only_for_replication_fails(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    _template(acct, "quay", ["REPLICATION"], GOOD_TEMPLATE)
    _template(acct, "ROOT", ["CREATE_ON_PUSH"], GOOD_TEMPLATE)
    doc = scan(acct, TEMPLATE)
    assert statuses(doc, TEMPLATE) == {"creation-template-coverage/quay": FAIL}
    finding = by_resource(doc, TEMPLATE)["creation-template-coverage/quay"]
    assert set(finding.evidence["not_applied_for_ptc"]) == {"quay", "ROOT"}
    assert "not applied for PULL_THROUGH_CACHE" in finding.message


def test_template_root_applied_for_ptc_covers_every_prefix(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    ptc_rule(acct, "ecr-public", "public.ecr.aws")
    _template(acct, "ROOT", ["REPLICATION", "PULL_THROUGH_CACHE"], GOOD_TEMPLATE)
    doc = scan(acct, TEMPLATE)
    assert statuses(doc, TEMPLATE) == {
        "creation-template-coverage/quay": PASS,
        "creation-template-coverage/ecr-public": PASS,
    }
    assert {f.evidence["template_prefix"] for f in by_resource(doc, TEMPLATE).values()} == {"ROOT"}


def test_template_specific_template_not_applied_for_ptc_falls_back_to_root(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    _template(acct, "ROOT", ["PULL_THROUGH_CACHE"], GOOD_TEMPLATE)
    _template(acct, "quay", ["REPLICATION"], omics_statement(["ecr:BatchGetImage"], Resource="*"))
    finding = by_resource(scan(acct, TEMPLATE), TEMPLATE)["creation-template-coverage/quay"]
    assert finding.status == PASS
    assert finding.evidence["template_prefix"] == "ROOT"


def test_template_longest_prefix_wins_over_root(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    ptc_rule(acct, "ecr-public", "public.ecr.aws")
    _template(acct, "ROOT", ["PULL_THROUGH_CACHE"], GOOD_TEMPLATE)
    _template(acct, "quay", ["PULL_THROUGH_CACHE"], omics_statement(["ecr:BatchGetImage"], Resource="*"))
    doc = scan(acct, TEMPLATE)
    assert statuses(doc, TEMPLATE) == {
        "creation-template-coverage/quay": FAIL,
        "creation-template-coverage/ecr-public": PASS,
    }
    finding = by_resource(doc, TEMPLATE)["creation-template-coverage/quay"]
    assert finding.evidence["template_prefix"] == "quay"
    assert finding.evidence["missing"] == ["ecr:GetDownloadUrlForLayer"]


def test_template_policy_lacking_get_download_url_fails(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    _template(
        acct,
        "quay",
        ["PULL_THROUGH_CACHE"],
        omics_statement(["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"], Resource="*"),
    )
    finding = by_resource(scan(acct, TEMPLATE), TEMPLATE)["creation-template-coverage/quay"]
    assert finding.status == FAIL
    assert "ecr:GetDownloadUrlForLayer" in finding.message
    assert "Template 'quay' (covering 'quay')" in finding.message


def test_template_without_repository_policy_fails(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    _template(acct, "quay", ["PULL_THROUGH_CACHE"])
    finding = by_resource(scan(acct, TEMPLATE), TEMPLATE)["creation-template-coverage/quay"]
    assert finding.status == FAIL
    assert finding.evidence["missing"] == TEMPLATE_PULL


@pytest.mark.parametrize(("workflows", "expected"), [(1, PASS), (2, FAIL)])
def test_template_source_arn_condition_must_hold_for_every_workflow(
    acct: Account, workflows: int, expected: Status
) -> None:
    """A grant limited to one workflow's ARN is not a grant for the account's other workflows."""
    arns = [workflow(acct, f"wf{i}")[1] for i in range(workflows)]
    ptc_rule(acct, "quay", "quay.io")
    _template(
        acct,
        "quay",
        ["PULL_THROUGH_CACHE"],
        omics_statement(TEMPLATE_PULL, Resource="*", Condition={"StringEquals": {"aws:SourceArn": arns[0]}}),
    )
    doc = scan(acct, TEMPLATE)
    assert statuses(doc, TEMPLATE) == {"creation-template-coverage/quay": expected}


# =====================================================================================================
# repository-policy-grants-omics
# =====================================================================================================

REPO = "repository-policy-grants-omics"
FULL_PULL = omics_statement(PULL, Resource="*", Condition=source_account(ACCOUNT))


def test_repository_created_before_template_has_no_policy(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="quay/biocontainers/samtools")
    ptc_rule(acct, "quay", "quay.io")
    _template(acct, "quay", ["PULL_THROUGH_CACHE"], FULL_PULL)  # too late for the existing repository
    simulate_ptc_pull(ACCOUNT, REGION, "quay/biocontainers/bwa")  # created from the template
    doc = scan(acct, REPO)
    samtools, bwa = repo_arn("quay/biocontainers/samtools"), repo_arn("quay/biocontainers/bwa")
    assert statuses(doc, REPO) == {samtools: FAIL, bwa: PASS}
    finding = by_resource(doc, REPO)[samtools]
    assert finding.message == (
        "Repository quay/biocontainers/samtools has no repository policy, so HealthOmics cannot pull from it."
    )
    assert finding.evidence["why_checked"] == ["under PTC prefix quay"]


def test_repository_with_deny_for_omics_fails(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    acct.ecr.create_repository(repositoryName="quay/tool")
    acct.ecr.set_repository_policy(
        repositoryName="quay/tool",
        policyText=policy(
            FULL_PULL,
            {"Sid": "NoLayers", "Effect": "Deny", "Principal": {"Service": OMICS}, "Action": "ecr:GetDownloadUrl*"},
        ),
    )
    doc = scan(acct, REPO)
    assert statuses(doc, REPO) == {repo_arn("quay/tool"): FAIL}
    finding = by_resource(doc, REPO)[repo_arn("quay/tool")]
    assert finding.evidence["denied"] == ["ecr:GetDownloadUrlForLayer"]
    assert "ecr:GetDownloadUrlForLayer" in finding.message


@pytest.mark.parametrize("good", [True, False])
def test_repository_image_mapping_destination_outside_ptc_prefixes_is_checked(acct: Account, good: bool) -> None:
    ptc_rule(acct, "quay", "quay.io")
    acct.ecr.create_repository(repositoryName="custom/ubuntu")
    acct.ecr.create_repository(repositoryName="internal/unrelated")  # neither cached nor mapped
    if good:
        acct.ecr.set_repository_policy(repositoryName="custom/ubuntu", policyText=policy(FULL_PULL))
    else:
        acct.ecr.set_repository_policy(  # BatchGetImage alone: no layers, no pull
            repositoryName="custom/ubuntu", policyText=policy(omics_statement(["ecr:BatchGetImage"], Resource="*"))
        )
    wf_id, _ = workflow(
        acct,
        "wf",
        image=[
            ("ubuntu:22.04", ecr_uri("custom/ubuntu:22.04")),
            ("busybox:1", ecr_uri("custom/missing:1")),  # destination repo absent: the registry-map rule's finding
        ],
    )
    doc = scan(acct, REPO)
    assert statuses(doc, REPO) == {repo_arn("custom/ubuntu"): PASS if good else FAIL}
    finding = by_resource(doc, REPO)[repo_arn("custom/ubuntu")]
    assert finding.evidence["why_checked"] == [f"image mapping of workflow {wf_id}"]
    if not good:
        assert finding.evidence["missing"] == ["ecr:GetDownloadUrlForLayer"]


def test_repository_outside_prefixes_and_unmapped_is_not_reported(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    acct.ecr.create_repository(repositoryName="internal/tool")
    acct.ecr.create_repository(repositoryName="quayside/tool")  # "quay" has an implied "/": not under it
    doc = scan(acct, REPO)
    assert statuses(doc, REPO) == {f"rule/{REPO}": NA}
    assert "ecr:GetRepositoryPolicy" not in doc.api_calls


# =====================================================================================================
# service-role-can-pull
# =====================================================================================================

ROLE = "service-role-can-pull"


SAMTOOLS = "quay.io/biocontainers/samtools:1.17"
SAMTOOLS_REPO = "quay/biocontainers/samtools"
QUAY_MAPS = [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]


def _role_setup(a: Account, role: str | None = None) -> str:
    """A quay PTC rule and a workflow whose definition pulls samtools through it (and a run of it with ``role``);
    returns the workflow id."""
    ptc_rule(a, "quay", "quay.io")
    wf_id = workflow(a, "wf", registry=QUAY_MAPS, containers=(SAMTOOLS,))[0]
    if role is not None:
        run(a, wf_id, role)
    return wf_id


def test_role_scoped_to_what_its_workflow_uses_passes(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(PULL, repo_arn(SAMTOOLS_REPO)))
    wf_id = _role_setup(acct, arn)
    doc = scan(acct, ROLE)
    assert statuses(doc, ROLE) == {arn: PASS}
    finding = by_resource(doc, ROLE)[arn]
    assert finding.evidence["targets"] == {repo_arn(SAMTOOLS_REPO): [f"workflow {wf_id} (main.nf:4 (process P0))"]}
    assert finding.evidence["workflows"] == [wf_id]


def test_role_missing_one_action_fails(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"], repo_arn("*")))
    _role_setup(acct, arn)
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert finding.message == (
        f"Role OmicsRole cannot pull what HealthOmics needs: role policies: ecr:GetDownloadUrlForLayer not "
        f"allowed on {repo_arn(SAMTOOLS_REPO)}"
    )


def test_role_managed_policy_allows_but_boundary_lacks_an_action(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole")
    _role_setup(acct, arn)
    acct.iam.attach_role_policy(RoleName="OmicsRole", PolicyArn=managed(acct, "ecr-all", allow("ecr:*")))
    boundary = managed(acct, "boundary", allow(["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability", "s3:*"]))
    acct.iam.put_role_permissions_boundary(RoleName="OmicsRole", PermissionsBoundary=boundary)
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert "ecr:GetDownloadUrlForLayer" in finding.message
    assert finding.evidence["permissions_boundary"] == boundary


def test_role_explicit_deny_in_another_attached_policy_fails(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(PULL, repo_arn("*")))
    _role_setup(acct, arn)
    acct.iam.attach_role_policy(
        RoleName="OmicsRole", PolicyArn=managed(acct, "no-quay", deny("ecr:BatchGetImage", prefix_arn("quay")))
    )
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert "ecr:BatchGetImage not allowed" in finding.message
    details = finding.evidence["details"][f"role policies → {repo_arn(SAMTOOLS_REPO)}"]
    assert details["denied"] == ["ecr:BatchGetImage"]


def test_role_resource_scoped_to_a_different_prefix_fails(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(PULL, prefix_arn("docker-hub")))
    _role_setup(acct, arn)
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert repo_arn(SAMTOOLS_REPO) in finding.message


def test_role_is_never_held_to_another_teams_cache_rule(acct: Account) -> None:
    """Seed 002's least privilege: a role scoped to its own workflow's images passes when another team adds a
    cache rule and a workflow of its own, and the fixer leaves it alone."""
    arn = omics_role(acct, "OmicsRole", allow(PULL, repo_arn(SAMTOOLS_REPO)))
    _role_setup(acct, arn)
    other = omics_role(acct, "OtherTeamRole", allow(PULL, prefix_arn("ecr-public")))
    ptc_rule(acct, "ecr-public", "public.ecr.aws")
    other_wf = workflow(
        acct,
        "other",
        registry=[{"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"}],
        containers=("public.ecr.aws/docker/library/python:3.12",),
    )[0]
    run(acct, other_wf, other)
    assert statuses(scan(acct, ROLE), ROLE) == {arn: PASS, other: PASS}


def test_role_referenced_only_by_a_run_is_judged_and_unused_lambda_role_is_not(acct: Account) -> None:
    used = omics_role(acct, "RunOnlyRole", allow(["ecr:BatchGetImage"]), service="lambda.amazonaws.com")
    omics_role(acct, "LambdaRole", allow(PULL), service="lambda.amazonaws.com")  # neither trusts omics nor used
    wf_id = _role_setup(acct)
    run_id = run(acct, wf_id, used)
    doc = scan(acct, ROLE)
    assert statuses(doc, ROLE) == {used: FAIL}
    assert by_resource(doc, ROLE)[used].evidence["why_checked"] == [f"run {run_id}"]


def test_role_from_configuration_without_runs_is_judged_against_nothing(acct: Account) -> None:
    _role_setup(acct)
    configured = omics_role(acct, "ConfiguredRole", allow(PULL), service="lambda.amazonaws.com")
    doc = scan(acct, ROLE, config={"service_roles": [configured]})
    finding = by_resource(doc, ROLE)[configured]
    assert finding.status == NA
    assert finding.evidence["why_checked"] == ["configured"]
    assert "ran no HealthOmics run" in finding.message


def test_role_run_session_policy_excluding_pulls_fails(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(PULL, repo_arn("*")))
    wf_id = _role_setup(acct, arn)
    scoped_run = run(acct, wf_id, arn, session_policy=identity_policy(allow(["s3:*", "logs:*"])))
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert f"session policy of run {scoped_run}" in finding.message
    assert "role policies:" not in finding.message  # the role itself is fine


def test_role_must_also_reach_image_mapping_destinations(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    wf_id = workflow(
        acct,
        "wf",
        registry=QUAY_MAPS,
        image=[("ubuntu:22.04", ecr_uri("custom/ubuntu:22.04"))],
        containers=(SAMTOOLS, "ubuntu:22.04"),
    )[0]
    arn = omics_role(acct, "OmicsRole", allow(PULL, prefix_arn("quay")))
    run(acct, wf_id, arn)
    finding = by_resource(scan(acct, ROLE), ROLE)[arn]
    assert finding.status == FAIL
    assert sorted(finding.evidence["targets"]) == sorted([repo_arn(SAMTOOLS_REPO), repo_arn("custom/ubuntu")])
    assert f"not allowed on {repo_arn('custom/ubuntu')}" in finding.message
    assert f"not allowed on {repo_arn(SAMTOOLS_REPO)}" not in finding.message


def test_role_of_another_account_used_by_a_run_is_not_applicable(acct: Account) -> None:
    foreign = f"arn:aws:iam::{OTHER_ACCOUNT}:role/SharedRole"
    _role_setup(acct, foreign)
    doc = scan(acct, ROLE)
    assert statuses(doc, ROLE) == {foreign: NA}
    assert "belongs to another account" in by_resource(doc, ROLE)[foreign].message


def test_role_without_anything_to_pull_is_not_applicable(acct: Account) -> None:
    arn = omics_role(acct, "OmicsRole", allow(PULL))
    assert statuses(scan(acct, ROLE), ROLE) == {arn: NA}


# =====================================================================================================
# image-not-arm-only
# =====================================================================================================

ARCH = "image-not-arm-only"


def _push_index(a: Account, repo: str, tag: str, platforms: list[str], media_type: str, attest: bool = False) -> str:
    return images.push_index(
        a.ecr, repo, tag=tag, platforms=platforms, media_type=media_type, include_attestation=attest
    )


IMAGE_CASES = [
    (
        "oci-index-amd64-arm64",
        lambda a, r: _push_index(a, r, "1", ["linux/amd64", "linux/arm64"], images.OCI_INDEX),
        PASS,
        "index",
    ),
    (
        "docker-list-arm64-only",
        lambda a, r: _push_index(a, r, "1", ["linux/arm64/v8"], images.DOCKER_MANIFEST_LIST),
        FAIL,
        "index",
    ),
    ("docker-v2-arm64", lambda a, r: images.push_image(a.ecr, r, tag="1", architecture="arm64"), FAIL, "config-blob"),
    (
        "oci-manifest-amd64",
        lambda a, r: images.push_image(a.ecr, r, tag="1", architecture="amd64", media_type=images.OCI_MANIFEST),
        PASS,
        "config-blob",
    ),
    ("schema1-amd64", lambda a, r: images.push_schema1(a.ecr, r, tag="1", architecture="amd64"), PASS, "schema1"),
    ("schema1-arm64", lambda a, r: images.push_schema1(a.ecr, r, tag="1", architecture="arm64"), FAIL, "schema1"),
    (
        "attested-arm64-only",
        lambda a, r: _push_index(a, r, "1", ["linux/arm64"], images.OCI_INDEX, attest=True),
        FAIL,
        "index",
    ),
    (
        "attested-amd64",
        lambda a, r: _push_index(a, r, "1", ["linux/amd64"], images.OCI_INDEX, attest=True),
        PASS,
        "index",
    ),
]


@pytest.mark.parametrize(("push", "expected", "source"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES])
def test_image_architecture_cases(acct: Account, push: Any, expected: Status, source: str) -> None:
    ptc_rule(acct, "quay", "quay.io")
    acct.ecr.create_repository(repositoryName="quay/tool")
    digest = push(acct, "quay/tool")
    doc = scan(acct, ARCH)
    resource = f"{repo_arn('quay/tool')}:1"
    assert statuses(doc, ARCH) == {resource: expected}
    finding = by_resource(doc, ARCH)[resource]
    assert finding.evidence["platform_source"] == source
    assert finding.evidence["digest"] == digest
    assert finding.evidence["origins"] == ["ptc-newest"]
    assert "unknown/unknown" not in finding.evidence["platforms"]  # attestation entries are not platforms
    assert ("ARM-only" in finding.message) == (expected == FAIL)


def test_image_mapping_to_missing_tag_is_not_applicable(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="custom/ubuntu")
    images.push_image(acct.ecr, "custom/ubuntu", tag="22.04")
    wf_id, _ = workflow(acct, "wf", image=[("ubuntu:24.04", ecr_uri("custom/ubuntu:24.04"))])
    doc = scan(acct, ARCH)
    resource = f"{repo_arn('custom/ubuntu')}:24.04"
    assert statuses(doc, ARCH) == {resource: NA}
    assert by_resource(doc, ARCH)[resource].evidence["origins"] == [f"image-mapping:{wf_id}"]


def test_image_newest_n_tags_per_cache_repository(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    acct.ecr.create_repository(repositoryName="quay/tool")
    images.push_image(acct.ecr, "quay/tool", tag="old", architecture="arm64")
    time.sleep(1.05)  # imagePushedAt has 1 s grain: make "new" strictly newer
    images.push_image(acct.ecr, "quay/tool", tag="new", architecture="amd64")
    newest_only = scan(acct, ARCH, config={"image_tags_per_repository": 1})
    assert statuses(newest_only, ARCH) == {f"{repo_arn('quay/tool')}:new": PASS}
    both = scan(acct, ARCH, config={"image_tags_per_repository": 2})
    assert statuses(both, ARCH) == {f"{repo_arn('quay/tool')}:new": PASS, f"{repo_arn('quay/tool')}:old": FAIL}


def test_image_of_run_task_is_inspected_by_digest(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="custom/caller")
    # The state after the tag moved on: the arm64 image the task ran is now untagged, 2.0 is amd64.
    # (The sandbox drops an image whose tag is re-pushed, so the untagged image is pushed directly.)
    arm = images.push_image(acct.ecr, "custom/caller", tag=None, architecture="arm64")
    images.push_image(acct.ecr, "custom/caller", tag="2.0", architecture="amd64")
    wf_id, _ = workflow(acct, "wf")
    run_id = run(acct, wf_id, role_arn("AnyRole"))
    task_id = add_run_task(
        ACCOUNT, REGION, run_id, name="CALL", image=ecr_uri("custom/caller:2.0"), image_digest=arm, source_image="c:2"
    )
    doc = scan(acct, ARCH)
    resource = f"{repo_arn('custom/caller')}@{arm}"
    assert statuses(doc, ARCH) == {resource: FAIL}  # the image the task actually ran, not today's tag
    assert by_resource(doc, ARCH)[resource].evidence["origins"] == [f"run-task:{run_id}/{task_id}"]


# =====================================================================================================
# ptc-rule-unchanged-during-run
# =====================================================================================================

CHANGE = "ptc-rule-unchanged-during-run"


def test_change_rule_created_while_a_run_is_running_fails(acct: Account) -> None:
    wf_id, _ = workflow(acct, "wf")
    run_id = run(acct, wf_id, role_arn("R"), status="RUNNING", started=timedelta(hours=1), stopped=None)
    ptc_rule(acct, "quay", "quay.io")
    doc = scan(acct, CHANGE)
    assert statuses(doc, CHANGE) == {"pull-through-cache-rule/quay": FAIL}
    finding = by_resource(doc, CHANGE)["pull-through-cache-rule/quay"]
    assert "was created at" in finding.message and run_id in finding.message
    assert {o["run"] for o in finding.evidence["overlaps"]} == {run_id}


def test_change_pending_run_counts_from_creation(acct: Account) -> None:
    wf_id, _ = workflow(acct, "wf")
    run_id = acct.omics.start_run(workflowId=wf_id, roleArn=role_arn("R"), name="p", outputUri="s3://out/x/")["id"]
    set_run_state(ACCOUNT, REGION, run_id, status="PENDING", creation_time=datetime.now(UTC) - timedelta(hours=1))
    ptc_rule(acct, "quay", "quay.io")
    assert statuses(scan(acct, CHANGE), CHANGE) == {"pull-through-cache-rule/quay": FAIL}


def test_change_update_after_the_run_completed_passes(acct: Account) -> None:
    wf_id, _ = workflow(acct, "wf")
    run(acct, wf_id, role_arn("R"), status="COMPLETED", started=timedelta(hours=3), stopped=timedelta(hours=2))
    run(acct, wf_id, role_arn("R"), status="FAILED", started=timedelta(hours=1), stopped=timedelta(minutes=30))
    ptc_rule(acct, "docker-hub", "registry-1.docker.io", dockerhub_secret(acct))
    acct.ecr.update_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub", credentialArn=dockerhub_secret(acct, "ecr-pullthroughcache/docker-hub-2")
    )
    doc = scan(acct, CHANGE)
    assert statuses(doc, CHANGE) == {"pull-through-cache-rule/docker-hub": PASS}
    evidence = by_resource(doc, CHANGE)["pull-through-cache-rule/docker-hub"].evidence
    assert evidence["runs_considered"] == 2
    assert {c["change"] for c in evidence["changes"]} >= {"created", "updated"}


def test_change_deleted_rule_seen_only_in_cloudtrail_fails(acct: Account) -> None:
    """Rules exist before the run; during it one is deleted and a rejected create is attempted on the other."""
    wf_id, _ = workflow(acct, "wf")
    ptc_rule(acct, "quay", "quay.io")
    ptc_rule(acct, "ecr-public", "public.ecr.aws")
    time.sleep(1.1)  # 1 s timestamp grain: the run window must start strictly after both creations
    run_id = run(
        acct,
        wf_id,
        role_arn("R"),
        status="RUNNING",
        started=datetime.now(UTC).replace(microsecond=0),  # whole second: CloudTrail times may be truncated
        stopped=None,
    )
    acct.ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    with pytest.raises(acct.ecr.exceptions.PullThroughCacheRuleAlreadyExistsException):
        ptc_rule(acct, "ecr-public", "public.ecr.aws")  # a failed call changes nothing
    doc = scan(acct, CHANGE)
    assert statuses(doc, CHANGE) == {"pull-through-cache-rule/quay": FAIL, "pull-through-cache-rule/ecr-public": PASS}
    finding = by_resource(doc, CHANGE)["pull-through-cache-rule/quay"]
    assert [(o["change"], o["run"]) for o in finding.evidence["overlaps"]] == [("deleted", run_id)]
    assert finding.evidence["overlaps"][0]["source"].startswith("CloudTrail ")
    assert "Pull through cache rule 'quay' was deleted at" in finding.message


def test_change_without_runs_passes(acct: Account) -> None:
    ptc_rule(acct, "quay", "quay.io")
    doc = scan(acct, CHANGE)
    assert statuses(doc, CHANGE) == {"pull-through-cache-rule/quay": PASS}
    assert by_resource(doc, CHANGE)["pull-through-cache-rule/quay"].evidence["runs_considered"] == 0


# =====================================================================================================
# registry-map-consistent
# =====================================================================================================

MAP = "registry-map-consistent"
QUAY_MAP = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}


def _wave_secret(a: Account) -> str:
    return a.sm.create_secret(Name="omics-registry/wave", SecretString=json.dumps({"username": "u", "password": "p"}))[
        "ARN"
    ]


def _map_setup(a: Account) -> None:
    ptc_rule(a, "quay", "quay.io")
    ptc_rule(a, "docker-hub", "registry-1.docker.io", dockerhub_secret(a))
    a.ecr.create_repository(repositoryName="custom/ubuntu")
    images.push_image(a.ecr, "custom/ubuntu", tag="22.04")


MAP_CASES: list[tuple[str, list[dict[str, str]], list[tuple[str, str]], Status, str]] = [
    (
        "correct",
        [QUAY_MAP, {"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"}],
        [("ubuntu:22.04", ecr_uri("custom/ubuntu:22.04"))],
        PASS,
        "agrees with the PTC rules",
    ),
    (
        "prefix-mismatch",
        [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay-io"}],
        [],
        FAIL,
        "no pull-through cache rule has that prefix",
    ),
    (
        "upstream-mismatch",
        [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "docker-hub"}],
        [],
        FAIL,
        "whose rule caches registry-1.docker.io instead",
    ),
    (
        "destination-in-another-region",
        [QUAY_MAP],
        [("ubuntu:22.04", ecr_uri("custom/ubuntu:22.04", region="us-west-2"))],
        FAIL,
        "is in us-west-2, not the workflow's region us-east-1",
    ),
    (
        "destination-tag-missing",
        [QUAY_MAP],
        [("ubuntu:24.04", ecr_uri("custom/ubuntu:24.04"))],
        FAIL,
        "destination image custom/ubuntu:24.04 does not exist",
    ),
    (
        "destination-repository-missing",
        [],
        [("ubuntu:22.04", ecr_uri("custom/nothing:22.04"))],
        FAIL,
        "destination repository custom/nothing does not exist",
    ),
    (
        "wave-without-credential",
        [{"upstreamRegistryUrl": "community.wave.seqera.io", "ecrRepositoryPrefix": "wave"}],
        [],
        FAIL,
        "community.wave.seqera.io is not a pull-through cache upstream",
    ),
    (
        "gcr-without-credential",
        [{"upstreamRegistryUrl": "gcr.io", "ecrRepositoryPrefix": "gcr"}],
        [],
        FAIL,
        "gcr.io is not a pull-through cache upstream",
    ),
]


@pytest.mark.parametrize(
    ("registry", "image", "expected", "text"), [c[1:] for c in MAP_CASES], ids=[c[0] for c in MAP_CASES]
)
def test_registry_map_cases(
    acct: Account, registry: list[dict[str, str]], image: list[tuple[str, str]], expected: Status, text: str
) -> None:
    _map_setup(acct)
    _, arn = workflow(acct, "wf", registry=registry, image=image)
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {arn: expected}
    finding = by_resource(doc, MAP)[arn]
    assert text in finding.message
    assert finding.evidence["workflow"] == arn.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("upstream_prefix", "expected"), [("biocontainers", PASS), (None, FAIL)])
def test_registry_map_upstream_repository_prefix_must_match_the_rule(
    acct: Account, upstream_prefix: str | None, expected: Status
) -> None:
    acct.ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="bioc", upstreamRegistryUrl="quay.io", upstreamRepositoryPrefix="biocontainers"
    )
    mapping = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "bioc"}
    if upstream_prefix:
        mapping["upstreamRepositoryPrefix"] = upstream_prefix
    _, arn = workflow(acct, "wf", registry=[mapping])
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {arn: expected}
    if expected == FAIL:
        assert "differs from the rule's 'biocontainers'" in by_resource(doc, MAP)[arn].message


def test_registry_map_mappings_into_another_account_are_left_to_that_account(acct: Account) -> None:
    _, arn = workflow(
        acct,
        "wf",
        registry=[{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay", "ecrAccountId": OTHER_ACCOUNT}],
        image=[("ubuntu:22.04", ecr_uri("custom/ubuntu:22.04", account=OTHER_ACCOUNT))],
    )
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {arn: PASS}
    notes = by_resource(doc, MAP)[arn].evidence["notes"]
    assert len(notes) == 2 and all(OTHER_ACCOUNT in n for n in notes)


@pytest.mark.parametrize("role_may_read", [True, False])
def test_registry_map_wave_secret_readable_by_run_role(acct: Account, role_may_read: bool) -> None:
    secret = _wave_secret(acct)
    _, arn = workflow(
        acct,
        "wf",
        registry=[{"upstreamRegistryUrl": "wave.seqera.io", "ecrRepositoryPrefix": "wave", "credentialArn": secret}],
    )
    statement = allow("secretsmanager:GetSecretValue", secret) if role_may_read else allow("s3:GetObject")
    role = omics_role(acct, "WaveRole", statement)
    run(acct, arn.rsplit("/", 1)[-1], role)
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {arn: PASS if role_may_read else FAIL}
    if not role_may_read:
        message = by_resource(doc, MAP)[arn].message
        assert "run role WaveRole may not read secret omics-registry/wave" in message


def test_registry_map_wave_secret_that_does_not_exist_fails(acct: Account) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:omics-registry/gone-AbCdEf"
    _, arn = workflow(
        acct,
        "wf",
        registry=[{"upstreamRegistryUrl": "wave.seqera.io", "ecrRepositoryPrefix": "wave", "credentialArn": missing}],
    )
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {arn: FAIL}
    assert f"credential secret {missing} for wave.seqera.io does not exist" in by_resource(doc, MAP)[arn].message


def test_registry_map_workflow_without_map_is_not_applicable(acct: Account) -> None:
    _map_setup(acct)
    _, bare = workflow(acct, "bare")
    _, mapped = workflow(acct, "mapped", registry=[QUAY_MAP])
    doc = scan(acct, MAP)
    assert statuses(doc, MAP) == {bare: NA, mapped: PASS}
    assert "has no container registry map" in by_resource(doc, MAP)[bare].message


# =====================================================================================================
# what workflows use: their definitions (GetWorkflow --export DEFINITION) and their runs' tasks
# =====================================================================================================

IMAGES = "workflow-images-resolve"
REPO = "repository-policy-grants-omics"
BWA = ecr_uri("my-workflow/bwa:0.7.17")  # built and pushed by the team, used directly (seed 004)


def test_definition_images_that_cannot_resolve_fail_with_file_and_line(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="my-workflow/bwa")
    elsewhere = ecr_uri("my-workflow/bwa:0.7.17", region="eu-west-1")
    _, wf_arn = workflow(
        acct, "wf", registry=QUAY_MAPS, containers=(SAMTOOLS, BWA, "ubuntu:22.04", elsewhere, ecr_uri("gone/x:1"))
    )
    finding = by_resource(scan(acct, IMAGES), IMAGES)[wf_arn]
    assert finding.status == FAIL
    assert finding.message.startswith("Workflow wf names 3 container(s) HealthOmics cannot pull: ")
    assert "main.nf:16 (process P2): ubuntu:22.04 — no mapping for docker.io" in finding.message
    assert "main.nf:22 (process P3)" in finding.message and "not the workflow's region us-east-1" in finding.message
    assert "main.nf:28 (process P4)" in finding.message and "repository gone/x does not exist" in finding.message
    pulls = {c["where"]: c["pulls"] for c in finding.evidence["containers"]}
    assert pulls["main.nf:4 (process P0)"] == f"{ACCOUNT}.dkr.ecr.{REGION}/{SAMTOOLS_REPO}"
    assert pulls["main.nf:10 (process P1)"] == f"{ACCOUNT}.dkr.ecr.{REGION}/my-workflow/bwa"


def test_definition_images_that_all_resolve_pass(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="my-workflow/bwa")
    _, wf_arn = workflow(acct, "wf", registry=QUAY_MAPS, containers=(SAMTOOLS, BWA))
    finding = by_resource(scan(acct, IMAGES), IMAGES)[wf_arn]
    assert finding.status == PASS, finding.message
    assert finding.message == "All 2 determined container(s) of workflow wf resolve to private ECR images in us-east-1."


def test_directly_used_repository_without_policy_fails_naming_where_it_is_used(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="my-workflow/bwa")
    acct.ecr.create_repository(repositoryName="unrelated/tool")  # used by nothing: never judged
    wf_id, _ = workflow(acct, "wf", containers=(BWA,))
    doc = scan(acct, REPO)
    assert statuses(doc, REPO) == {repo_arn("my-workflow/bwa"): FAIL}
    finding = by_resource(doc, REPO)[repo_arn("my-workflow/bwa")]
    assert finding.evidence["why_checked"] == [f"used by workflow {wf_id} (main.nf:4 (process P0))"]
    assert "has no repository policy" in finding.message


def test_directly_used_repository_with_the_documented_policy_passes(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="my-workflow/bwa")
    acct.ecr.set_repository_policy(
        repositoryName="my-workflow/bwa", policyText=policy(omics_statement(TEMPLATE_PULL, "OmicsPull"))
    )
    workflow(acct, "wf", containers=(BWA,))
    assert statuses(scan(acct, REPO), REPO) == {repo_arn("my-workflow/bwa"): PASS}


def test_arm_only_image_in_a_directly_used_repository_fails(acct: Account) -> None:
    acct.ecr.create_repository(repositoryName="my-workflow/bwa")
    images.push_image(acct.ecr, "my-workflow/bwa", tag="0.7.17", architecture="arm64")
    wf_id, _ = workflow(acct, "wf", containers=(BWA,))
    doc = scan(acct, ARCH)
    failed = [f for f in doc.findings if f.status == FAIL]
    assert len(failed) == 1
    assert failed[0].evidence["origins"] == [f"definition:{wf_id}:main.nf:4 (process P0)"]
