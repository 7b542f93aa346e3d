"""Organisation scale: many account x region cells, each failing alone, rate limits, coverage, merging.

The estate is a moto organisation of three accounts (the management account, which runs the audit,
and two members entered through the audit role) in two HealthOmics regions. Two cells hold the full
demo setup (seed.py), two a single half-configured cache rule, two nothing. It is seeded once per
module; tests that inject faults do so on a fresh session (tests/support/faults.py explains the hooks),
and compare the cells they do not break with the clean baseline scan.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSPreparedRequest
from moto.iam.models import get_account_id_from

from auditor.aws import CollectOptions
from auditor.config import Config, parse_config
from auditor.engine import load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Status, compute_coverage, exit_code, merge_documents
from auditor.ratelimit import DEFAULT_RATE_LIMITS, DeadlineExceeded, RateLimiter, RateLimits
from auditor.sandbox.seed import SHARED_TOOLS_ACCOUNT, expected_failures
from auditor.scan import scan_live, scan_org, select_rules, suppress
from auditor.suppressions import Suppression
from auditor.targets import Cell
from tests.support.clock import FakeClock, max_in_window
from tests.support.faults import Fault, error_response, request_param
from tests.support.org import OTHER, REGIONS, WORKFLOWS_AT_PACE, Estate, member_session
from tests.support.sandbox import ACCOUNT, REGION

RULES = list(load_builtin_rules())

# --- the estate (tests/support/org.py), seeded once per module by the `estate` fixture ----------------


def org_config(**extra: Any) -> Config:
    return parse_config({"regions": list(REGIONS), "targets": {"organization": {}}, **extra})


def org_scan(session: boto3.Session, config: Config | None = None, **kw: Any) -> FindingsDocument:
    config = config or org_config()
    return scan_org(config, select_rules(config), session=session, **kw)


@pytest.fixture(scope="module")
def baseline(estate: Estate) -> FindingsDocument:
    return org_scan(boto3.Session(region_name=REGION))


@pytest.fixture
def session(estate: Estate) -> boto3.Session:
    """A fresh session on the seeded estate: fault handlers registered on it die with the test."""
    return boto3.Session(region_name=REGION)


@pytest.fixture
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry decisions and attempt counts, drop its backoff sleeps (as in test_faults)."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


# --- helpers ----------------------------------------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/")


def request_cell(request: AWSPreparedRequest) -> tuple[str, str]:
    """(account, region) of a signed request: the access key's account (moto knows it) and the signing region."""
    auth = request.headers.get("Authorization", b"")
    match = _CREDENTIAL.search(auth.decode() if isinstance(auth, bytes) else auth)
    assert match, auth
    return get_account_id_from(match.group(1)), match.group(2)


def in_cell(account: str, region: str) -> Any:
    return lambda request: request_cell(request) == (account, region)


def cell_of(f: Finding) -> tuple[str, str]:
    return f.account, f.region


def statuses(doc: FindingsDocument, cells: set[tuple[str, str]] | None = None) -> dict[str, Status]:
    return {f.id: f.status for f in doc.findings if cells is None or cell_of(f) in cells}


def other_cells(estate: Estate, *broken: tuple[str, str]) -> set[tuple[str, str]]:
    return {(c.account, c.region) for c in estate.cells} - set(broken)


def assert_cell_error(doc: FindingsDocument, cell: tuple[str, str], operation: str, code: str) -> None:
    [target] = [t for t in doc.run.targets if (t.account, t.region) == cell]
    assert target.status == "error"
    assert target.error is not None and (target.error.operation, target.error.code) == (operation, code)
    findings = [f for f in doc.findings if cell_of(f) == cell]
    assert sorted(f.rule_id for f in findings) == sorted(RULES)  # one ERROR per selected rule, nothing else
    for f in findings:
        assert f.status == Status.ERROR
        assert f.resource == f"account/{cell[0]}/region/{cell[1]}"
        assert f.evidence["api_error"]["operation"] == operation
        assert f.evidence["api_error"]["code"] == code


_ARN_ACCOUNT = re.compile(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


# --- a scan of the whole estate -----------------------------------------------------------------------


def test_every_cell_is_scanned_in_its_own_account(estate: Estate, baseline: FindingsDocument) -> None:
    assert [(t.account, t.region, t.status) for t in baseline.run.targets] == [
        (c.account, c.region, "scanned") for c in estate.cells
    ]
    assert {cell_of(f) for f in baseline.findings} == {(c.account, c.region) for c in estate.cells}
    # each member's role assumed once for both its regions; the caller's own account needs none
    assert baseline.api_calls["sts:AssumeRole"] == len(estate.members)
    assert baseline.api_calls["organizations:ListAccountsForParent"] == 1
    # no finding is about a resource of another account, except the source of a cross-account pull
    for f in baseline.findings:
        source = {SHARED_TOOLS_ACCOUNT} if f.rule_id == "cross-account-source-grants" else set()
        assert set(_ARN_ACCOUNT.findall(f.resource)) <= {f.account} | source, (f.account, f.resource)
    # the demo, seeded in two accounts and regions, fails exactly where it was built to
    for (account, region), demo in estate.demos.items():
        for rule_id, resources in expected_failures(demo).items():
            failed = {
                f.resource
                for f in baseline.findings
                if (f.account, f.region, f.rule_id, f.status) == (account, region, rule_id, Status.FAIL)
            }
            assert failed == resources, (account, region, rule_id)


def test_each_cell_judges_as_a_scan_of_that_account_alone(estate: Estate, baseline: FindingsDocument) -> None:
    config = parse_config({})
    for cell in estate.cells:
        alone = scan_live(
            config,
            select_rules(config),
            session=member_session(boto3.Session(region_name=REGION), cell.account, cell.region),
            regions=[cell.region],
        )
        assert alone.run.targets[0].account == cell.account
        assert statuses(alone) == statuses(baseline, {(cell.account, cell.region)}), cell


def test_empty_and_half_configured_cells_differ_from_each_other(estate: Estate, baseline: FindingsDocument) -> None:
    """The sandbox keeps each account's cache rules apart: the same region, different results."""
    research, genomics = estate.members["research"], estate.members["genomics"]
    coverage_rule = {cell_of(f): f.status for f in baseline.findings if f.rule_id == "creation-template-grants-omics"}
    assert coverage_rule[(genomics, REGION)] == Status.FAIL  # the lone ecr-public rule has no template
    assert coverage_rule[(research, REGION)] == Status.NOT_APPLICABLE  # nothing there at all


def test_sandbox_extensions_keep_accounts_apart(estate: Estate) -> None:
    """Cache rules, templates, workflows and CloudTrail events live per account and region in the sandbox."""
    genomics, research = estate.members["genomics"], estate.members["research"]

    sessions: dict[tuple[str, str], boto3.Session] = {}

    def client(service: str, account: str, region: str) -> Any:
        if (account, region) not in sessions:
            sessions[(account, region)] = member_session(boto3.Session(region_name=REGION), account, region)
        return sessions[(account, region)].client(service)

    def prefixes(account: str, region: str) -> list[str]:
        rules = client("ecr", account, region).describe_pull_through_cache_rules()["pullThroughCacheRules"]
        return sorted(r["ecrRepositoryPrefix"] for r in rules)

    def templates(account: str, region: str) -> list[str]:
        found = client("ecr", account, region).describe_repository_creation_templates()["repositoryCreationTemplates"]
        return sorted(t["prefix"] for t in found)

    def workflows(account: str, region: str) -> int:
        return len(client("omics", account, region).list_workflows()["items"])

    def rule_events(account: str, region: str) -> int:
        lookup = [{"AttributeKey": "EventName", "AttributeValue": "CreatePullThroughCacheRule"}]
        return len(client("cloudtrail", account, region).lookup_events(LookupAttributes=lookup)["Events"])

    demo_prefixes = ["docker-hub", "ecr-public", "ghcr", "quay"]
    assert prefixes(ACCOUNT, REGION) == prefixes(genomics, OTHER) == demo_prefixes
    assert prefixes(genomics, REGION) == prefixes(research, OTHER) == ["ecr-public"]
    assert prefixes(ACCOUNT, OTHER) == prefixes(research, REGION) == []
    demo_templates = ["ROOT", "docker-hub", "quay", "replicated/kms", "replicated/tagged"]
    assert templates(ACCOUNT, REGION) == templates(genomics, OTHER) == demo_templates
    assert templates(genomics, REGION) == templates(research, REGION) == []
    assert workflows(ACCOUNT, REGION) == workflows(genomics, OTHER) == 2
    assert workflows(genomics, REGION) == workflows(ACCOUNT, OTHER) == 0
    assert workflows(research, OTHER) == WORKFLOWS_AT_PACE
    assert rule_events(ACCOUNT, REGION) == rule_events(genomics, OTHER) == 4
    assert rule_events(genomics, REGION) == 1
    assert rule_events(research, REGION) == rule_events(ACCOUNT, OTHER) == 0


def test_without_targets_scan_org_is_the_callers_account(estate: Estate, baseline: FindingsDocument) -> None:
    config = parse_config({})
    doc = scan_org(config, select_rules(config), session=boto3.Session(region_name=REGION))
    assert [(t.account, t.region, t.status) for t in doc.run.targets] == [(ACCOUNT, REGION, "scanned")]
    assert statuses(doc) == statuses(baseline, {(ACCOUNT, REGION)})
    assert "sts:AssumeRole" not in doc.api_calls


def test_own_account_through_the_role_when_asked(estate: Estate, baseline: FindingsDocument) -> None:
    config = parse_config(
        {"targets": {"accounts": [ACCOUNT], "role": {"use_caller_credentials_for_own_account": False}}}
    )
    doc = scan_org(
        config,
        select_rules(config),
        session=boto3.Session(region_name=REGION),
        cells=[Cell(account=ACCOUNT, region=REGION)],
    )
    assert doc.api_calls["sts:AssumeRole"] == 1
    assert statuses(doc) == statuses(baseline, {(ACCOUNT, REGION)})


def test_credentials_that_reach_another_account_are_an_error(estate: Estate) -> None:
    """A role template that does not depend on the target lands in the wrong account: caught, not scanned."""
    genomics = estate.members["genomics"]
    config = parse_config(
        {
            "targets": {
                "accounts": [genomics],
                "role": {"arn_template": f"arn:aws:iam::{ACCOUNT}:role/Audit-{{account}}"},
            }
        }
    )
    doc = scan_org(
        config,
        select_rules(config),
        session=boto3.Session(region_name=REGION),
        cells=[Cell(account=genomics, region=REGION)],
    )
    assert_cell_error(doc, (genomics, REGION), "sts:GetCallerIdentity", "WrongAccount")
    assert f"reach account {ACCOUNT}" in doc.findings[0].message


# --- failures stay in their cells ---------------------------------------------------------------------


def test_a_role_that_cannot_be_assumed_fails_that_accounts_cells_only(estate, baseline, session) -> None:
    denied = estate.members["research"]
    fault = Fault(
        session,
        "sts:AssumeRole",
        lambda r: error_response("sts", "AccessDenied", 403, f"not authorized to perform sts:AssumeRole on {denied}"),
        when=lambda r: f":{denied}:" in (request_param(r, "RoleArn") or ""),
    )
    doc = org_scan(session)
    assert fault.injected == 1  # once for the account, not once per region
    assert doc.api_calls["sts:AssumeRole"] == len(estate.members)
    for region in REGIONS:
        assert_cell_error(doc, (denied, region), "sts:AssumeRole", "AccessDenied")
        [target] = [t for t in doc.run.targets if (t.account, t.region) == (denied, region)]
        assert target.error is not None
        assert target.error.resource == f"arn:aws:iam::{denied}:role/OmicsEcrAuditReadOnly"
        assert target.error.permission == "sts:AssumeRole"
    healthy = other_cells(estate, (denied, REGION), (denied, OTHER))
    assert statuses(doc, healthy) == statuses(baseline, healthy)
    assert exit_code(doc, doc.run.severity_threshold) == 3


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("sts:GetCallerIdentity", "InvalidClientTokenId", 403),  # the cell's first call, STS in that region
        ("ecr:DescribePullThroughCacheRules", "UnrecognizedClientException", 400),  # a later call of the cell
    ],
)
def test_a_region_not_enabled_fails_that_cell_only(estate, baseline, session, operation, code, status) -> None:
    cell = (estate.members["genomics"], OTHER)
    service = operation.split(":")[0]
    fault = Fault(
        session,
        operation,
        lambda r: error_response(service, code, status, "The security token included in the request is invalid."),
        when=in_cell(*cell),
    )
    doc = org_scan(session)
    assert fault.injected >= 1
    assert_cell_error(doc, cell, operation, code)
    assert all(f.evidence["api_error"].get("permission") is None for f in doc.findings if cell_of(f) == cell)
    healthy = other_cells(estate, cell)
    assert statuses(doc, healthy) == statuses(baseline, healthy)


def test_a_throttling_storm_in_one_cell(estate, baseline, session, no_retry_waits) -> None:
    cell = (estate.members["genomics"], OTHER)  # a demo cell: workflows, runs, repositories
    throttled = lambda r: error_response("omics", "ThrottlingException", 400, "Rate exceeded")  # noqa: E731
    always = [Fault(session, op, throttled, when=in_cell(*cell)) for op in ("omics:ListWorkflows", "omics:GetRun")]
    ecr_storm = Fault(
        session,
        "ecr:DescribeRepositories",
        lambda r: error_response("ecr", "ThrottlingException", 400, "Rate exceeded"),
        when=in_cell(*cell),
        times_per_request=3,  # three throttles, then the fourth attempt gets through
    )
    doc = org_scan(session)
    attempts = CollectOptions().max_attempts
    for fault in always:
        assert fault.injected > 0 and fault.injected % attempts == 0  # every attempt of every call throttled
    assert ecr_storm.injected == 3
    [target] = [t for t in doc.run.targets if (t.account, t.region) == cell]
    assert target.status == "scanned"  # throttling is the calls' failure, not the cell's
    mine = [f for f in doc.findings if cell_of(f) == cell]
    throttled_errors = [
        f
        for f in mine
        if f.status == Status.ERROR and f.evidence.get("api_error", {}).get("code") == "ThrottlingException"
    ]
    assert {f.evidence["api_error"]["operation"] for f in throttled_errors} == {"omics:ListWorkflows", "omics:GetRun"}
    for f in throttled_errors:
        assert "ThrottlingException" in f.message and "needs" not in f.message  # not a missing permission

    # the repositories were read after their retries: each is judged as in the baseline (the rule's
    # "workflows" finding is ERROR now: it could not learn which repositories the workflows map)
    def repositories(source: FindingsDocument) -> dict[str, Status]:
        return {
            f.resource: f.status
            for f in source.findings
            if cell_of(f) == cell and f.rule_id == "repository-policy-grants-omics" and f.resource.startswith("arn:")
        }

    # Only the team's directly used repository drops out: which repositories workflows use directly is
    # learnt from the workflows, and those could not be read (the "workflows" ERROR says so).
    cache_repositories = {r: s for r, s in repositories(baseline).items() if ":repository/my-workflow/" not in r}
    assert repositories(doc) == cache_repositories != {}
    healthy = other_cells(estate, cell)
    assert statuses(doc, healthy) == statuses(baseline, healthy)


def test_a_cell_past_its_time_budget_is_error_and_the_others_finish(estate, baseline, session) -> None:
    slow = (estate.members["research"], REGION)
    # The budget leaves healthy cells room to finish on a loaded machine (six test workers on two cores
    # took a healthy cell past a 3 s budget); the slow cell overruns it whatever the load.
    fault = Fault(session, "sts:GetCallerIdentity", lambda r: time.sleep(12.5), when=in_cell(*slow))
    config = org_config(concurrency={"cell_timeout_seconds": 12, "max_cells": 6})
    doc = org_scan(session, config)
    assert fault.injected == 1
    assert_cell_error(doc, slow, "scan:cell", "CellTimeout")
    healthy = other_cells(estate, slow)
    assert statuses(doc, healthy) == statuses(baseline, healthy)


# --- rate limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "rate"), [("omics", "GetRunTask", 10), ("cloudtrail", "LookupEvents", 2)]
)
def test_limiter_keeps_published_rates(service: str, operation: str, rate: int) -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock, sleep=clock.sleep)
    limiter = limits.limiter("111111111111", REGION, service, operation)
    assert limiter is not None and limiter.rate == rate
    starts = []
    for _ in range(10 * rate):
        limiter.acquire()
        starts.append(clock.now)
    assert max_in_window(starts, 1.0) == rate  # bursts up to the quota, never over it in any second
    assert starts[-1] - starts[0] == pytest.approx(9.0)  # and keeps the quota's pace: 10 s of calls
    assert starts[:rate] == [1000.0] * rate  # the first second's calls need not wait


def test_limiters_are_per_account_region_and_scope() -> None:
    clock = FakeClock()
    limits = RateLimits({"iam": 5, "omics:GetRun": 20, "ecr:BatchGetImage": None}, clock=clock, sleep=clock.sleep)
    same = limits.limiter("111111111111", REGION, "omics", "ListRuns")
    assert same is limits.limiter("111111111111", REGION, "omics", "GetWorkflow")  # one HealthOmics limiter
    assert same is not limits.limiter("222222222222", REGION, "omics", "ListRuns")  # quotas are per account...
    assert same is not limits.limiter("111111111111", OTHER, "omics", "ListRuns")  # ...and per region
    get_run = limits.limiter("111111111111", REGION, "omics", "GetRun")
    assert get_run is not None and get_run is not same and get_run.rate == 20  # an operation set apart
    describe = limits.limiter("111111111111", REGION, "ecr", "DescribeImages")
    policy = limits.limiter("111111111111", REGION, "ecr", "GetRepositoryPolicy")
    assert describe is not None and policy is not None and describe is not policy  # "ecr:*": one per operation
    assert describe.rate == DEFAULT_RATE_LIMITS["ecr:*"]
    assert limits.limiter("111111111111", REGION, "ecr", "BatchGetImage") is not None  # "ecr:*" still applies
    assert limits.limiter("111111111111", REGION, "iam", "GetRole") is limits.limiter(
        "111111111111", OTHER, "iam", "ListRoles"
    )  # IAM is global: one quota per account
    assert limits.limiter("111111111111", REGION, "secretsmanager", "DescribeSecret") is None


def test_limiter_deadline_and_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)
    limiter.acquire(deadline=clock.now + 5)
    limiter.acquire(deadline=clock.now + 5)
    with pytest.raises(DeadlineExceeded):
        limiter.acquire(deadline=clock.now + 0.5)  # the next slot is a second away
    assert clock.slept == []  # refused without sleeping first
    # real threads, real clock: 60 calls at 50/s from 6 threads take ~0.2 s past the first burst
    real = RateLimiter(50)
    begun = time.monotonic()
    workers = [threading.Thread(target=lambda: [real.acquire() for _ in range(10)]) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert real.calls == 60
    assert time.monotonic() - begun >= 0.19


def test_calls_of_a_real_scan_keep_the_rates(estate: Estate, session: boto3.Session) -> None:
    cell = (estate.members["research"], OTHER)
    starts: dict[str, list[float]] = {"omics": [], "cloudtrail": []}
    lock = threading.Lock()

    def record(service: str, operation: str = "") -> Any:
        def handler(request: AWSPreparedRequest, event_name: str = "", **_: Any) -> None:
            if request_cell(request) == cell and event_name.endswith(operation):
                with lock:
                    starts[service].append(time.monotonic())

        return handler

    # On the service's event, after the limiter (which make_client registers first), before the sandbox answers.
    session.events.register("before-send.omics", record("omics"))
    # LookupEvents only: the mid-run rule also reads the trails (DescribeTrails...), under limits of their own
    session.events.register("before-send.cloudtrail", record("cloudtrail", ".LookupEvents"))
    # the published quotas, spelled out so that the test does not depend on the defaults
    config = org_config(
        rules={"include": ["registry-map-consistent", "ptc-rule-unchanged-during-run"]},
        concurrency={"rate_limits": {"omics": 10, "cloudtrail:LookupEvents": 2}},
    )
    doc = org_scan(session, config, cells=[Cell(account=cell[0], region=cell[1])])
    assert doc.run.targets[0].status == "scanned"
    omics_calls = sum(n for call, n in doc.api_calls.items() if call.startswith("omics:"))
    assert len(starts["omics"]) == omics_calls >= WORKFLOWS_AT_PACE + 1
    assert len(starts["cloudtrail"]) == doc.api_calls["cloudtrail:LookupEvents"] == 3
    # 50 ms of slack for thread scheduling between the limiter and the recorder
    assert max_in_window(starts["omics"], 0.95) <= 10
    assert max_in_window(starts["cloudtrail"], 0.95) <= 2
    assert max(starts["omics"]) - min(starts["omics"]) >= (omics_calls - 10) / 10 - 0.1
    assert max(starts["cloudtrail"]) - min(starts["cloudtrail"]) >= 1 - 0.1


# --- coverage ----------------------------------------------------------------------------------------------


def assert_coverage_matches(doc: FindingsDocument) -> None:
    coverage = doc.coverage
    assert coverage is not None
    assert coverage.rules == doc.run.rules
    cells = [(c.account, c.region) for c in coverage.cells]
    assert cells == sorted({(t.account, t.region) for t in doc.run.targets})
    assert [(r.account, r.region, r.rule) for r in coverage.rows] == [
        (a, r, rule) for a, r in cells for rule in doc.run.rules
    ]
    counted: Counter[tuple[str, str, str, str]] = Counter(
        (f.account, f.region, f.rule_id, f.status.value) for f in doc.findings
    )
    for row in coverage.rows:
        assert set(row.counts) == {s.value for s in Status}  # zeros included
        for status, n in row.counts.items():
            assert n == counted[(row.account, row.region, row.rule, status)]
        assert row.total == sum(row.counts.values())
    for cell in coverage.cells:
        rows = [r for r in coverage.rows if (r.account, r.region) == (cell.account, cell.region)]
        assert cell.counts == {s.value: sum(r.counts[s.value] for r in rows) for s in Status}
        assert cell.total == sum(r.total for r in rows)
    assert sum(c.total for c in coverage.cells) == len(doc.findings)


def test_coverage_counts_every_cell_and_rule(estate, baseline, session) -> None:
    assert_coverage_matches(baseline)
    assert len(baseline.coverage.rows) == len(estate.cells) * len(RULES)
    assert {c.status for c in baseline.coverage.cells} == {"scanned"}
    # an ERROR cell is accounted for too: one ERROR per rule
    denied = estate.members["research"]
    Fault(session, "sts:AssumeRole", lambda r: error_response("sts", "AccessDenied", 403))
    doc = org_scan(session)
    assert_coverage_matches(doc)
    for cell in doc.coverage.cells:
        if cell.account == denied:
            assert cell.status == "error"
            assert cell.counts["ERROR"] == cell.total == len(RULES)


def test_suppression_moves_coverage_counts(estate, baseline) -> None:
    account, region = ACCOUNT, REGION
    rule = "creation-template-grants-omics"
    before = next(r for r in baseline.coverage.rows if (r.account, r.region, r.rule) == (account, region, rule))
    assert before.counts["FAIL"] > 0
    muted = suppress(
        baseline, [Suppression(rule=rule, account=account, region=region, reason="accepted", owner="platform")]
    )
    after = next(r for r in muted.coverage.rows if (r.account, r.region, r.rule) == (account, region, rule))
    assert after.counts["MUTED"] == before.counts["FAIL"] + before.counts["MUTED"] and after.counts["FAIL"] == 0
    assert after.total == before.total
    assert_coverage_matches(muted)


def test_documents_without_coverage_still_load(baseline) -> None:
    old = json.loads(baseline.model_dump_json())
    old["schema_version"] = "1.0"
    del old["coverage"]
    loaded = FindingsDocument.model_validate(old)
    assert loaded.coverage == baseline.coverage
    assert loaded.schema_version == "1.0"


# --- merging the parts of a run -------------------------------------------------------------------------


def _without_setup_calls(calls: dict[str, int]) -> dict[str, int]:
    """Calls made per cell; discovery and account entry depend on how the run was split."""
    return {k: v for k, v in calls.items() if not k.startswith(("organizations:", "sts:"))}


def test_merged_parts_equal_one_scan(estate, baseline) -> None:
    cells = estate.cells
    halves = (cells[: len(cells) // 2], cells[len(cells) // 2 :])
    parts = [org_scan(boto3.Session(region_name=REGION), cells=half, run_id="run-42") for half in halves]
    merged = merge_documents(parts)
    assert merged.run.id == "run-42"
    assert [f.id for f in merged.findings] == [f.id for f in baseline.findings]
    assert statuses(merged) == statuses(baseline)
    assert merged.summary == baseline.summary
    assert merged.coverage == baseline.coverage
    assert [(t.account, t.region, t.status) for t in merged.run.targets] == [
        (t.account, t.region, t.status) for t in baseline.run.targets
    ]
    assert _without_setup_calls(merged.api_calls) == _without_setup_calls(baseline.api_calls)
    assert merged.run.started == min(p.run.started for p in parts)
    assert merge_documents(parts, run_id="chosen").run.id == "chosen"


def test_merge_dedupes_worst_status_wins_and_checks_rules(baseline) -> None:
    twice = merge_documents([baseline, baseline])
    assert [f.id for f in twice.findings] == [f.id for f in baseline.findings]  # a retried branch adds nothing
    assert twice.api_calls == {k: 2 * v for k, v in baseline.api_calls.items()}
    passing = next(f for f in baseline.findings if f.status == Status.PASS)
    worse = baseline.model_copy(
        update={"findings": [passing.model_copy(update={"status": Status.ERROR})], "coverage": None}
    )
    merged = merge_documents([baseline, worse])
    assert {f.id: f.status for f in merged.findings}[passing.id] == Status.ERROR
    assert {f.id: f.status for f in merge_documents([worse, baseline]).findings}[passing.id] == Status.ERROR
    assert merged.summary["by_status"]["ERROR"] == baseline.summary["by_status"]["ERROR"] + 1
    assert merged.summary["by_status"]["PASS"] == baseline.summary["by_status"]["PASS"] - 1
    assert_coverage_matches(merged)
    other_rules = baseline.model_copy(update={"run": baseline.run.model_copy(update={"rules": RULES[:1]})})
    with pytest.raises(ValueError, match="judged rules"):
        merge_documents([baseline, other_rules])
    with pytest.raises(ValueError):
        merge_documents([])


def test_compute_coverage_counts_findings_of_unlisted_cells(baseline) -> None:
    run = baseline.run.model_copy(update={"targets": []})
    coverage = compute_coverage(run, baseline.findings)
    assert {c.status for c in coverage.cells} == {"unlisted"}
    assert sum(c.total for c in coverage.cells) == len(baseline.findings)
