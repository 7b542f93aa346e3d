"""ERROR reporting under injected faults, end to end: boto3 -> sandbox -> collector -> rules -> findings.

Faults are botocore ``before-send`` handlers on the scan's boto3 session. moto's own stubber is a
built-in handler of the generic ``before-send`` event, registered when the session is created, and
``Endpoint._do_get_response`` takes the *first* non-None response of all handlers. A handler on the
same generic event would run after moto's and lose silently, so ours are registered with
``register_first`` on the operation's own event (``before-send.<service-id>.<Operation>``), and every
test asserts that the fault was actually injected.

The demo account is seeded once per module (seeding sleeps ~2 s so that rule changes and run windows
differ in timestamps); each test scans it through a fresh session, so handlers never leak between
tests. Scans are read-only (tests/test_api_calls.py proves it), and every test compares the findings
it does not expect to change with a clean baseline scan, which would show any drift.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
import botocore.retries.bucket
import botocore.retries.standard
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.credentials import CredentialResolver

import auditor.ratelimit
from auditor.aws import CollectOptions
from auditor.collect import Collector
from auditor.config import parse_config
from auditor.engine import load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Status, exit_code
from auditor.sandbox.seed import SHARED_TOOLS_ACCOUNT, DemoAccount, expected_failures
from auditor.scan import scan_live, select_rules
from tests.support.faults import Fault, denied, denied_code, error_response, ok_response, request_param
from tests.support.sandbox import ACCOUNT, REGION, run_scan

SECRET = "dckr_pat_DEMO_NOT_A_SECRET"  # the demo Docker Hub secret's access token
RULES = sorted(load_builtin_rules())
Key = tuple[str, str]  # (rule id, resource)


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def workflow_arn(workflow_id: str) -> str:
    return f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{workflow_id}"


ARM_TOOL = "docker-hub/biocontainers/arm-tool"
SAMTOOLS = "quay/biocontainers/samtools"
UBUNTU = "docker-hub/library/ubuntu"

# --- the sandbox, seeded once --------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(demo: DemoAccount) -> FindingsDocument:
    doc = run_scan(boto3.Session(region_name=REGION))
    # the reference every test compares against: the demo's seeded FAILs, no ERROR
    assert not [f for f in doc.findings if f.status == Status.ERROR]
    for rule_id, resources in expected_failures(demo).items():
        assert {f.resource for f in doc.findings if f.rule_id == rule_id and f.status == Status.FAIL} == resources
    return doc


@pytest.fixture
def session(demo: DemoAccount) -> boto3.Session:
    """A fresh session on the seeded sandbox: fault handlers registered on it die with the test."""
    return boto3.Session(region_name=REGION)


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry decisions and attempt counts, drop the waiting: the exponential backoff
    (1 s base for throttling), the adaptive mode's client-side rate limiter, which blocks after a
    throttle, and our own limiters' back-off (tests/test_ratelimit_adaptive.py tests that). Without this
    the throttling tests take ~15 s."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    monkeypatch.setattr(auditor.ratelimit.RateLimiter, "throttled", lambda self, *args, **kwargs: None)


@pytest.fixture(autouse=True)
def secret_never_logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Whatever fails, the demo secret's value never reaches the logs (botocore's DEBUG included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="botocore")
    yield
    out, err = capsys.readouterr()
    assert SECRET not in out
    assert SECRET not in err
    assert SECRET not in caplog.text
    assert "Traceback" not in out + err


# --- assertions ---------------------------------------------------------------------------------


def by_key(doc: FindingsDocument) -> dict[Key, Finding]:
    out: dict[Key, Finding] = {}
    for f in doc.findings:
        assert (f.rule_id, f.resource) not in out, f"duplicate finding {f.rule_id} {f.resource}"
        out[(f.rule_id, f.resource)] = f
    return out


def assert_error(finding: Finding, operation: str, code: str, *, permission: bool = True) -> None:
    assert finding.status == Status.ERROR, (finding.rule_id, finding.resource, finding.status, finding.message)
    api_error = finding.evidence.get("api_error")
    assert api_error is not None, (finding.rule_id, finding.resource, finding.evidence)
    assert api_error["operation"] == operation
    assert api_error["code"] == code
    if permission:
        # the IAM action to grant is named where the user reads it
        assert api_error.get("permission") == operation
        assert f"needs {operation}" in finding.message
    else:
        assert "permission" not in api_error  # a timeout or a dead endpoint is not a permission problem
    assert operation in finding.message and code in finding.message


@dataclass
class Expect:
    operation: str
    code: str
    errors: dict[str, set[str]]  # rule id -> resources that must be ERROR naming this call
    whole_rules: set[str] = field(default_factory=set)  # rules whose every finding must be ERROR
    may_change: set[Key] = field(default_factory=set)  # baseline findings this fault may legitimately alter
    permission: bool = True


def assert_fault_reported(doc: FindingsDocument, baseline: FindingsDocument, expect: Expect) -> None:
    got, base = by_key(doc), by_key(baseline)
    error_keys = {(rule, res) for rule, resources in expect.errors.items() for res in resources}
    for key in error_keys:
        assert key in got, f"missing ERROR finding {key}"
        assert_error(got[key], expect.operation, expect.code, permission=expect.permission)
    for rule in expect.whole_rules:
        findings = [f for k, f in got.items() if k[0] == rule]
        assert findings, rule
        # never PASS (nor NOT_APPLICABLE, FAIL) on data that could not be read
        assert {f.status for f in findings} == {Status.ERROR}, (rule, [(f.resource, f.status) for f in findings])
    # every other rule and resource gives its normal result
    for key in (set(got) | set(base)) - error_keys - expect.may_change:
        if key[0] in expect.whole_rules:
            continue
        assert key in got, f"finding {key} disappeared"
        assert key in base, f"unexpected new finding {key}: {got[key].status} {got[key].message}"
        assert got[key].status == base[key].status, (key, base[key].status, got[key].status, got[key].message)
    assert doc.run.targets and all(t.status == "scanned" for t in doc.run.targets)
    assert exit_code(doc, doc.run.severity_threshold) == 3
    assert SECRET not in doc.model_dump_json()


# What a failure of the ptc_rules facet does to each rule depending on it (resource of the facet ERROR).
# (A role is judged against what its workflows use, so the role rule does not depend on the cache rules.)
PTC_DEPENDENT = {
    "creation-template-grants-omics": "repository-creation-templates",
    "ptc-rule-coverage": "pull-through-cache-rules",
    "ptc-rule-unchanged-during-run": "pull-through-cache-rules",
    "registry-map-consistent": "workflows",
    "registry-policy-allows-omics": "registry-policy",
    "repository-policy-grants-omics": "repositories",
    "ecr-scanning-on": "registry-scanning",
    "grants-scoped": "omics-grants",
}
WORKFLOW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
LEGACY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"
SHARED = f"arn:aws:ecr:{REGION}:{SHARED_TOOLS_ACCOUNT}:repository/shared-tools"
# Without the runs, no role is known to have run a workflow, so neither what each role must pull nor which
# roles pull the other account's images is known: ERROR, never NOT_APPLICABLE.
# The trust rule judges the roles runs name: without the runs they drop out, and "omics-runs" says why.
TRUST_OF_RUN_ROLES = {("service-role-trusts-omics", WORKFLOW_ROLE), ("service-role-trusts-omics", LEGACY_ROLE)}
RUNS_UNREADABLE = {
    "service-role-can-pull": {"omics-runs", WORKFLOW_ROLE, LEGACY_ROLE},
    "cross-account-source-grants": {"omics-runs", f"{SHARED}/gatk", f"{SHARED}/multiqc"},
    "service-role-trusts-omics": {"omics-runs"},
    # Which roles ran which workflows, which images runs used: unknown, so ERROR, never PASS.
    "grants-scoped": {"iam-roles"},
    "lifecycle-keeps-used-images": {"omics-runs"},
    "pinned-by-digest": {"omics-runs"},
}
# The grants-scoped rule judges the roles that ran workflows: without the runs or the role list they drop
# out, and "iam-roles" says why.
GRANTS_OF_RUN_ROLES = {("grants-scoped", WORKFLOW_ROLE), ("grants-scoped", LEGACY_ROLE)}
# Image references that only run tasks name (pinned digests). When runs or run tasks cannot be read they
# drop out of the inspected set without an ERROR: see test_image_rule_reports_an_incomplete_image_set.
# The two image rules (architecture, runnable) judge the same images and read them the same way.
IMAGE_RULES = ("image-not-arm-only", "image-runnable")
RUN_TASK_ONLY_IMAGES = {(rule, repo_arn(repo) + "@") for rule in IMAGE_RULES for repo in (UBUNTU, SAMTOOLS)}
# The image rules report an ERROR naming the facet that chose which images to inspect.
IMAGES_FROM_PTC_RULES = {rule: {"image-selection/ptc-rules"} for rule in IMAGE_RULES}
IMAGES_FROM_RUNS = {rule: {"image-selection/runs"} for rule in IMAGE_RULES}
# The cache repositories' newest tags are not listed without the cache rules (test_image_rule_reports_...).
SAMTOOLS_NEWEST = {(rule, repo_arn(SAMTOOLS) + ":1.17") for rule in IMAGE_RULES}
# Without CloudTrail no prefix can be vouched for (earlier updates are only there): ERROR, not PASS.
CLOUDTRAIL_ERRORS = {
    "ptc-rule-unchanged-during-run": {
        "cloudtrail/ptc-rule-events",
        "pull-through-cache-rule/docker-hub",
        "pull-through-cache-rule/quay",
        "pull-through-cache-rule/ecr-public",
    }
}
# The ghcr rule was updated ~2 s after it was created, while a run was active; only CloudTrail shows the
# update as a change of its own: see test_cloudtrail_unreadable_never_turns_a_fail_into_a_pass.
GHCR_CHANGE = ("ptc-rule-unchanged-during-run", "pull-through-cache-rule/ghcr")


def _resolve(baseline: FindingsDocument, rule: str, resource: str) -> str:
    """A resource ending in "@" stands for the one digest-pinned image of that repository in the baseline."""
    if not resource.endswith("@"):
        return resource
    [found] = [k[1] for k in by_key(baseline) if k[0] == rule and k[1].startswith(resource)]
    return found


def _digest_keys(baseline: FindingsDocument) -> set[Key]:
    """The baseline keys of RUN_TASK_ONLY_IMAGES (their resources end in a digest the seed computes)."""
    return {k for k in by_key(baseline) for rule, prefix in RUN_TASK_ONLY_IMAGES if k[0] == rule and prefix in k[1]}


# --- AccessDenied ---------------------------------------------------------------------------------


def test_repository_policy_denied_for_one_repository_only(session, baseline) -> None:
    fault = Fault(
        session,
        "ecr:GetRepositoryPolicy",
        denied("ecr"),
        when=lambda r: request_param(r, "repositoryName") == ARM_TOOL,
    )
    doc = run_scan(session)
    assert fault.injected == 1
    # the other three of this account were read normally, and the two other-account sources across accounts
    assert fault.calls == 6
    assert_fault_reported(
        doc,
        baseline,
        Expect(
            "ecr:GetRepositoryPolicy",
            "AccessDeniedException",
            {"repository-policy-grants-omics": {repo_arn(ARM_TOOL)}, "grants-scoped": {repo_arn(ARM_TOOL)}},
        ),
    )
    got = by_key(doc)
    assert got[("repository-policy-grants-omics", repo_arn(UBUNTU))].status == Status.PASS
    assert got[("repository-policy-grants-omics", repo_arn(SAMTOOLS))].status == Status.FAIL


@dataclass
class DeniedCase:
    operation: str
    errors: dict[str, set[str]]
    whole_rules: set[str] = field(default_factory=set)
    may_change: set[Key] = field(default_factory=set)
    run_task_images_drop: bool = False
    only: Callable[[AWSPreparedRequest], bool] | None = None


DENIED_CASES = {
    "registry-policy": DeniedCase(
        "ecr:GetRegistryPolicy",
        {"registry-policy-allows-omics": {"registry-policy"}, "grants-scoped": {"registry-policy"}},
        whole_rules={"registry-policy-allows-omics"},
    ),
    "ptc-rules": DeniedCase(
        "ecr:DescribePullThroughCacheRules",
        {rule: {resource} for rule, resource in PTC_DEPENDENT.items()} | IMAGES_FROM_PTC_RULES,
        whole_rules=set(PTC_DEPENDENT),
        # the newest tags of the PTC repositories are not listed; see test_image_rule_reports_...
        may_change=SAMTOOLS_NEWEST,
    ),
    "list-runs": DeniedCase(
        "omics:ListRuns",
        {"ptc-rule-unchanged-during-run": {"pull-through-cache-rules"}} | RUNS_UNREADABLE | IMAGES_FROM_RUNS,
        whole_rules={"ptc-rule-unchanged-during-run", "cross-account-source-grants"},
        may_change=TRUST_OF_RUN_ROLES | GRANTS_OF_RUN_ROLES,
        run_task_images_drop=True,
    ),
    "list-roles": DeniedCase(
        "iam:ListRoles",
        {"service-role-can-pull": {"iam-roles"}, "grants-scoped": {"iam-roles"}},
        may_change=GRANTS_OF_RUN_ROLES,
    ),
    "cloudtrail": DeniedCase(
        "cloudtrail:LookupEvents",
        CLOUDTRAIL_ERRORS,
        may_change={GHCR_CHANGE},
    ),
    "describe-secret": DeniedCase(
        "secretsmanager:DescribeSecret",
        {"ptc-rule-coverage": {"pull-through-cache-rule/docker-hub", "pull-through-cache-rule/ghcr"}},
    ),
    "download-url": DeniedCase(
        "ecr:GetDownloadUrlForLayer",
        # arm-tool, samtools and bwa are single-platform images: their architecture (and entrypoint, variables,
        # shell) is in the config blob. The ubuntu index lists its platforms itself (the architecture rule still
        # judges it), but image-runnable reads its linux/amd64 image's config blob.
        {
            rule: {
                repo_arn(ARM_TOOL) + ":1.0",
                repo_arn(SAMTOOLS) + ":1.17",
                repo_arn(SAMTOOLS) + "@",
                repo_arn("my-workflow/bwa") + ":0.7.17",
                *((repo_arn(UBUNTU) + ":22.04", repo_arn(UBUNTU) + "@") if rule == "image-runnable" else ()),
            }
            for rule in IMAGE_RULES
        },
    ),
    "batch-get-image": DeniedCase(
        "ecr:BatchGetImage",
        {rule: {repo_arn(ARM_TOOL) + ":1.0"} for rule in IMAGE_RULES},
        only=lambda r: request_param(r, "repositoryName") == ARM_TOOL,
    ),
}


@pytest.mark.parametrize("case_id", list(DENIED_CASES))
def test_access_denied(case_id: str, session, baseline) -> None:
    case = DENIED_CASES[case_id]
    service = case.operation.split(":")[0]
    fault = Fault(session, case.operation, denied(service), when=case.only)
    doc = run_scan(session)
    assert fault.injected >= 1, "the fault did not fire"
    errors = {rule: {_resolve(baseline, rule, r) for r in resources} for rule, resources in case.errors.items()}
    may_change = set(case.may_change) | (_digest_keys(baseline) if case.run_task_images_drop else set())
    assert_fault_reported(
        doc,
        baseline,
        Expect(case.operation, denied_code(service), errors, whole_rules=case.whole_rules, may_change=may_change),
    )


def test_list_roles_denied_still_judges_roles_known_from_runs(session, baseline, demo) -> None:
    Fault(session, "iam:ListRoles", denied("iam"))
    doc = run_scan(session)
    roles = {f.resource: f for f in doc.findings if f.rule_id == "service-role-can-pull" and ":role/" in f.resource}
    workflow_role = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
    legacy_role = f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"
    assert roles[workflow_role].status == Status.PASS
    assert roles[legacy_role].status == Status.FAIL
    for arn, run in ((workflow_role, demo.runs["done"]), (legacy_role, demo.runs["active"])):
        why = roles[arn].evidence["why_checked"]
        assert f"run {run}" in why and all(w.startswith("run ") for w in why)  # found through runs, not the listing
    assert f"arn:aws:iam::{ACCOUNT}:role/LambdaRole" not in roles


# --- throttling --------------------------------------------------------------------------------------


def test_get_run_always_throttled_is_error_after_max_attempts(session, baseline, demo) -> None:
    fault = Fault(session, "omics:GetRun", lambda r: error_response("omics", "ThrottlingException"))
    doc = run_scan(session)
    # adaptive retry mode, total_max_attempts = CollectOptions.max_attempts (scan_live uses the default)
    assert fault.calls == fault.injected == len(demo.runs) * CollectOptions().max_attempts
    assert doc.api_calls["omics:GetRun"] == len(demo.runs)  # calls are counted once, not per attempt
    assert_fault_reported(
        doc,
        baseline,
        Expect(
            "omics:GetRun",
            "ThrottlingException",
            {"ptc-rule-unchanged-during-run": {"pull-through-cache-rules"}}
            | RUNS_UNREADABLE
            | IMAGES_FROM_RUNS
            # GetRun failed for runs ListRuns named: each workflow's run tasks are unknown, not absent
            | {"pinned-by-digest": {"omics-runs", *(workflow_arn(w) for w in demo.workflows.values())}},
            whole_rules={"ptc-rule-unchanged-during-run", "cross-account-source-grants"},
            may_change=_digest_keys(baseline) | TRUST_OF_RUN_ROLES | GRANTS_OF_RUN_ROLES,
            permission=False,  # throttling is not a missing permission
        ),
    )
    omics_runs = by_key(doc)[("service-role-can-pull", "omics-runs")]
    assert omics_runs.evidence["api_error"]["resource"].startswith(f"arn:aws:omics:{REGION}:{ACCOUNT}:run/")


def test_max_attempts_option_bounds_the_retries(session, demo) -> None:
    fault = Fault(session, "omics:GetRun", lambda r: error_response("omics", "ThrottlingException"))
    snap = Collector(session, REGION, ["runs"], CollectOptions(max_attempts=2)).collect()
    assert fault.calls == len(demo.runs) * 2
    assert snap.runs.error is not None and snap.runs.error.code == "ThrottlingException"
    assert snap.runs.value is not None and len(snap.runs.value) == len(demo.runs)  # still listed
    assert all(run.tasks.error is not None for run in snap.runs.value)
    assert all(run.role_arn is None for run in snap.runs.value)  # what GetRun would have told
    assert snap.api_calls == {"omics:GetRun": len(demo.runs), "omics:ListRuns": 1, "sts:GetCallerIdentity": 1}


def test_transient_throttle_is_retried_and_gives_the_normal_result(session, baseline, demo) -> None:
    fault = Fault(
        session, "omics:GetRun", lambda r: error_response("omics", "ThrottlingException"), times_per_request=2
    )
    doc = run_scan(session)
    assert fault.injected == 2 * len(demo.runs)  # each GetRun failed twice...
    assert fault.calls == 3 * len(demo.runs)  # ...and succeeded on its third attempt
    assert {k: f.status for k, f in by_key(doc).items()} == {k: f.status for k, f in by_key(baseline).items()}
    assert doc.api_calls == baseline.api_calls
    assert exit_code(doc, doc.run.severity_threshold) == 1  # the demo's FAILs, nothing incomplete


# --- timeouts and unreachable endpoints ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc_type", "operation"),
    [
        (botocore.exceptions.ReadTimeoutError, "cloudtrail:LookupEvents"),
        (botocore.exceptions.EndpointConnectionError, "secretsmanager:DescribeSecret"),
        (botocore.exceptions.ConnectTimeoutError, "ecr:GetRegistryPolicy"),
    ],
)
def test_network_failure_is_error_and_the_scan_continues(exc_type, operation, session, baseline) -> None:
    fault = Fault(session, operation, lambda r: exc_type(endpoint_url=r.url))
    doc = run_scan(session)
    max_attempts = CollectOptions().max_attempts
    expect = {
        "cloudtrail:LookupEvents": Expect(  # the first of the three lookups fails after its attempts
            operation,
            exc_type.__name__,
            CLOUDTRAIL_ERRORS,
            may_change={GHCR_CHANGE},
            permission=False,
        ),
        "secretsmanager:DescribeSecret": Expect(
            operation,
            exc_type.__name__,
            {"ptc-rule-coverage": {"pull-through-cache-rule/docker-hub", "pull-through-cache-rule/ghcr"}},
            permission=False,
        ),
        "ecr:GetRegistryPolicy": Expect(
            operation,
            exc_type.__name__,
            {"registry-policy-allows-omics": {"registry-policy"}, "grants-scoped": {"registry-policy"}},
            whole_rules={"registry-policy-allows-omics"},
            permission=False,
        ),
    }[operation]
    # retried as transient, then reported
    assert fault.calls == doc.api_calls[operation] * max_attempts
    assert_fault_reported(doc, baseline, expect)


# --- a whole cell failing ------------------------------------------------------------------------------


def _session_without_credentials() -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("credential_provider", CredentialResolver(providers=[]))
    return boto3.Session(region_name=REGION, botocore_session=core)


@pytest.mark.parametrize("account_id", [None, ACCOUNT], ids=["account-from-sts", "account-given"])
def test_no_credentials_fails_the_cell_not_the_scan(account_id, demo) -> None:
    doc = run_scan(_session_without_credentials(), account_id=account_id)  # must not raise
    [target] = doc.run.targets
    assert target.status == "error"
    assert target.region == REGION
    assert target.error is not None and target.error.code == "NoCredentialsError"
    assert sorted(f.rule_id for f in doc.findings) == RULES  # one ERROR per selected rule
    for f in doc.findings:
        assert f.status == Status.ERROR
        assert f.resource == f"account/{account_id or 'unknown'}/region/{REGION}"
        assert f.evidence["api_error"]["code"] == "NoCredentialsError"
        assert "Unable to locate credentials" in f.message
    assert exit_code(doc, doc.run.severity_threshold) == 3
    if account_id is None:
        assert doc.api_calls == {"sts:GetCallerIdentity": 1}  # attempted (counted before signing), never sent


def test_one_failed_region_does_not_hide_the_others(session, baseline) -> None:
    other = "us-west-2"
    fault = Fault(
        session,
        "sts:GetCallerIdentity",
        lambda r: error_response("sts", "InvalidClientTokenId", 403, "The security token included is invalid."),
        when=lambda r: other in r.url,
    )
    cfg = parse_config({})
    doc = scan_live(cfg, select_rules(cfg), session=session, regions=[REGION, other])
    assert fault.injected == 1
    targets = {t.region: t for t in doc.run.targets}
    assert targets[REGION].status == "scanned"
    assert targets[other].status == "error"
    broken = [f for f in doc.findings if f.region == other]
    assert sorted(f.rule_id for f in broken) == RULES
    for f in broken:
        # invalid credentials are not a missing permission: no IAM action is named
        assert_error(f, "sts:GetCallerIdentity", "InvalidClientTokenId", permission=False)
    healthy = {(f.rule_id, f.resource): f.status for f in doc.findings if f.region == REGION}
    assert healthy == {k: f.status for k, f in by_key(baseline).items()}
    assert exit_code(doc, doc.run.severity_threshold) == 3


# --- malformed data from the service -------------------------------------------------------------------


def test_repository_policy_that_is_not_json_fails_clearly(session, baseline) -> None:
    def not_json(request: AWSPreparedRequest) -> AWSResponse:
        name = request_param(request, "repositoryName")
        return ok_response(json.dumps({"registryId": ACCOUNT, "repositoryName": name, "policyText": "{not json"}))

    fault = Fault(
        session, "ecr:GetRepositoryPolicy", not_json, when=lambda r: request_param(r, "repositoryName") == ARM_TOOL
    )
    doc = run_scan(session)
    assert fault.injected == 1
    got = by_key(doc)
    finding = got[("repository-policy-grants-omics", repo_arn(ARM_TOOL))]
    assert finding.status == Status.FAIL  # was PASS with the real policy
    assert "not a valid policy document" in finding.message
    assert finding.evidence["policy_excerpt"] == "{not json"
    # A text that is not a policy grants nothing: nothing to scope, and the rule above already FAILs it.
    assert got[("grants-scoped", repo_arn(ARM_TOOL))].status == Status.NOT_APPLICABLE
    changed = {("repository-policy-grants-omics", repo_arn(ARM_TOOL)), ("grants-scoped", repo_arn(ARM_TOOL))}
    for key, base in by_key(baseline).items():
        if key not in changed:
            assert got[key].status == base.status, key
    assert exit_code(doc, doc.run.severity_threshold) == 1


def _get_role_policy_xml(document: str) -> str:
    return (
        '<GetRolePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRolePolicyResult>'
        "<PolicyName>omics-ecr-pull</PolicyName><RoleName>OmicsWorkflowRole</RoleName>"
        f"<PolicyDocument>{document}</PolicyDocument></GetRolePolicyResult>"
        "<ResponseMetadata><RequestId>fault</RequestId></ResponseMetadata></GetRolePolicyResponse>"
    )


def test_role_policy_that_is_not_json_is_that_roles_error(session, baseline) -> None:
    fault = Fault(
        session, "iam:GetRolePolicy", lambda r: ok_response(_get_role_policy_xml("%7Bnot%20json"), "text/xml")
    )
    doc = run_scan(session)  # used to raise JSONDecodeError out of the whole scan
    assert fault.injected == 1
    role = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
    finding = by_key(doc)[("service-role-can-pull", role)]
    assert_error(finding, "iam:GetRolePolicy", "MalformedResponse", permission=False)
    assert "JSONDecodeError" in finding.message
    assert_fault_reported(
        doc,
        baseline,
        Expect(
            "iam:GetRolePolicy",
            "MalformedResponse",
            # the role's own side of its cross-account pull cannot be judged either
            {
                "service-role-can-pull": {role},
                "cross-account-source-grants": {f"{SHARED}/multiqc|{role}"},
                "grants-scoped": {role},
            },
            permission=False,
        ),
    )


def test_pull_through_cache_rule_missing_a_required_member_is_error(session, baseline) -> None:
    body = json.dumps({"pullThroughCacheRules": [{"upstreamRegistryUrl": "quay.io"}]})  # no ecrRepositoryPrefix
    fault = Fault(session, "ecr:DescribePullThroughCacheRules", lambda r: ok_response(body))
    doc = run_scan(session)  # used to raise KeyError out of the whole scan
    assert fault.injected == 1
    assert_fault_reported(
        doc,
        baseline,
        Expect(
            "ecr:DescribePullThroughCacheRules",
            "MalformedResponse",
            {rule: {resource} for rule, resource in PTC_DEPENDENT.items()} | IMAGES_FROM_PTC_RULES,
            whole_rules=set(PTC_DEPENDENT),
            may_change=SAMTOOLS_NEWEST,
            permission=False,
        ),
    )


# --- secrets ------------------------------------------------------------------------------------------


def test_secret_value_is_never_reported_or_logged(session, capsys, caplog, demo) -> None:
    Fault(session, "secretsmanager:DescribeSecret", denied("secretsmanager"))
    doc = run_scan(session)
    out, err = capsys.readouterr()
    logs = out + err + caplog.text
    # the capture sees the auditor's structured logs and botocore's DEBUG lines, so the check is not vacuous
    assert "api_call_failed" in logs
    assert "secretsmanager" in caplog.text
    assert demo.secrets["docker-hub"] in doc.model_dump_json()  # the secret is named...
    assert SECRET not in doc.model_dump_json()  # ...never its value
    assert SECRET not in logs


# --- gaps once found in the rules, kept as regressions -----------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "respond"),
    [
        ("omics:ListRuns", denied("omics")),
        ("omics:GetRunTask", denied("omics")),
        ("omics:GetRun", lambda r: error_response("omics", "ThrottlingException")),
        ("ecr:DescribePullThroughCacheRules", denied("ecr")),
    ],
)
def test_image_rule_reports_an_incomplete_image_set(operation, respond, session) -> None:
    Fault(session, operation, respond)
    doc = run_scan(session, rules=["image-not-arm-only"])
    errors = [f for f in doc.findings if f.status == Status.ERROR]
    assert any(f.evidence.get("api_error", {}).get("operation") == operation for f in errors)


def test_cloudtrail_unreadable_never_turns_a_fail_into_a_pass(session, baseline) -> None:
    assert by_key(baseline)[GHCR_CHANGE].status == Status.FAIL
    Fault(session, "cloudtrail:LookupEvents", denied("cloudtrail"))
    doc = run_scan(session, rules=["ptc-rule-unchanged-during-run"])
    assert by_key(doc)[GHCR_CHANGE].status != Status.PASS
