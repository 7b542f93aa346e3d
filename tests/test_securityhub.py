"""ASFF mapping and the Security Hub import.

moto accepts any finding, so every ASFF finding produced here is validated against botocore's
``AwsSecurityFinding`` shape (ParamValidator) and against the limits the shape documentation states
(lengths, list sizes, the non-blank string pattern), read from the model itself. The import is run
against moto's Security Hub, with BatchImportFindings calls counted through a botocore event hook and
faults injected with before-send handlers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape
from botocore.validate import ParamValidator

from auditor.errors import UsageError
from auditor.findings import FindingsDocument, Severity, Status, Target
from auditor.reports import FORMATS, RenderOptions
from auditor.reports.asff import (
    BATCH_SIZE,
    AsffError,
    SecurityHubAccessDenied,
    SecurityHubError,
    SecurityHubNotEnabled,
    _client_config,
    asff_id,
    product_arn,
    push_to_securityhub,
    to_asff,
)
from auditor.sandbox.seed import seed_demo_account
from auditor.scan import suppress
from auditor.suppressions import EXPIRED_RULE_ID, Suppression
from tests.support.format_documents import (
    REPO,
    RULE,
    T0,
    error_cell_doc,
    make_doc,
    make_finding,
    muted_record,
    with_suppressions,
)
from tests.support.sandbox import ACCOUNT, REGION, run_scan, sandbox_account

SECRET = "wJalrXUtnFEMI-do-not-log-this-K7MDENG"

# --- the model as the judge -----------------------------------------------------------------------

_MODEL = botocore.session.get_session().get_service_model("securityhub")
FINDING_SHAPE: StructureShape = _MODEL.shape_for("AwsSecurityFinding")
_MAX_LEN = re.compile(r"Maximum (?:length )?of (\d+)(?: length)?", re.IGNORECASE)
_EXACT_LEN = re.compile(r"Length Constraints: (\d+)\.")
_MAX_ITEMS = re.compile(r"Maximum number of (\d+) items?")
_MIN_ITEMS = re.compile(r"Minimum number of (\d+) items?")
_MAP_LIMITS = re.compile(
    r"up to (\d+) key-value pairs.*?key can contain up to (\d+) characters.*?value can contain up to (\d+)"
)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html or "")


def shape_problems(value: Any, shape: Shape, doc: str = "", path: str = "") -> list[str]:
    """Everything the documented ASFF limits reject, walking the value along its botocore shape."""
    problems: list[str] = []
    doc = _text(doc)
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            if name in value:
                problems += shape_problems(value[name], member, member.documentation, f"{path}.{name}")
    elif isinstance(shape, ListShape):
        if m := _MAX_ITEMS.search(doc):
            problems += [f"{path}: {len(value)} items > {m[1]}"] if len(value) > int(m[1]) else []
        if m := _MIN_ITEMS.search(doc):
            problems += [f"{path}: {len(value)} items < {m[1]}"] if len(value) < int(m[1]) else []
        for i, item in enumerate(value):
            problems += shape_problems(item, shape.member, "", f"{path}[{i}]")
    elif isinstance(shape, MapShape):
        if m := _MAP_LIMITS.search(doc):
            pairs, key_len, value_len = map(int, m.groups())
            problems += [f"{path}: {len(value)} pairs > {pairs}"] if len(value) > pairs else []
            problems += [f"{path}: key {k!r} > {key_len}" for k in value if len(k) > key_len]
            problems += [f"{path}.{k}: value > {value_len}" for k, v in value.items() if len(v) > value_len]
        for k, v in value.items():
            problems += shape_problems(k, shape.key, "", f"{path}<key>")
            problems += shape_problems(v, shape.value, "", f"{path}.{k}")
    elif isinstance(shape, StringShape):
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value, re.DOTALL):
            problems.append(f"{path}: {value!r} does not match {pattern}")
        if m := _MAX_LEN.search(doc):
            problems += [f"{path}: {len(value)} chars > {m[1]}"] if len(value) > int(m[1]) else []
        if m := _EXACT_LEN.search(doc):
            problems += [f"{path}: {len(value)} chars != {m[1]}"] if len(value) != int(m[1]) else []
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
    return problems


def assert_valid_asff(findings: list[dict[str, Any]]) -> None:
    request_shape = _MODEL.operation_model("BatchImportFindings").input_shape
    for start in range(0, len(findings), BATCH_SIZE):
        report = ParamValidator().validate({"Findings": findings[start : start + BATCH_SIZE]}, request_shape)
        assert not report.has_errors(), report.generate_report()
    for finding in findings:
        assert set(FINDING_SHAPE.required_members) <= set(finding)
        assert shape_problems(finding, FINDING_SHAPE) == [], finding["Id"]
        assert len(json.dumps(finding).encode()) < 240 * 1024
        assert finding["SchemaVersion"] == "2018-10-08"


def test_the_limit_reader_finds_the_documented_limits() -> None:
    # guard the guard: the regexes must actually pick the limits up from the model's documentation
    limits = {
        name: _MAX_LEN.search(_text(FINDING_SHAPE.members[name].documentation))
        for name in ("Id", "GeneratorId", "Title", "Description")
    }
    assert {k: int(m[1]) for k, m in limits.items() if m} == {
        "Id": 512,
        "GeneratorId": 512,
        "Title": 256,
        "Description": 1024,
    }
    text = _MODEL.shape_for("Recommendation").members["Text"].documentation
    assert _MAX_LEN.search(_text(text))[1] == "512"
    too_long = {"Title": "x" * 257, "AwsAccountId": "1234", "Description": " ", "Severity": {"Label": "BAD"}}
    assert len(shape_problems(too_long, FINDING_SHAPE)) == 4


# --- the mapping ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def muted_doc() -> FindingsDocument:
    """The demo scan with suppressions applied, taken in a sandbox that is gone before the import tests run
    (the conftest ``demo`` fixture would stay active for the module and share its moto state with them)."""
    with pytest.MonkeyPatch.context() as mp, sandbox_account(mp):
        seed_demo_account(boto3.Session(region_name=REGION))
        doc = run_scan(boto3.Session(region_name=REGION))
    return with_suppressions(doc)


def asff_of(doc: FindingsDocument, **kw: Any) -> list[dict[str, Any]]:
    findings = to_asff(doc, product_region=REGION, audit_account=ACCOUNT, **kw)
    assert_valid_asff(findings)
    return findings


def test_demo_scan_findings_are_valid_asff(muted_doc: FindingsDocument) -> None:
    findings = asff_of(muted_doc)
    assert len(findings) == len(muted_doc.findings)
    for item, f in zip(findings, muted_doc.findings, strict=True):
        assert item["Id"] == asff_id(f)
        assert item["GeneratorId"] == f.rule_id
        assert item["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert item["AwsAccountId"] == ACCOUNT
        assert item["Title"] == f.title
        assert item["Description"] == f.message
        assert item["CreatedAt"] == "{}Z".format(muted_doc.run.started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])
        assert item["ProductFields"]["omics-ecr-audit/FindingId"] == f.id
        assert "Software and Configuration Checks/AWS Security Best Practices" in item["Types"]
    types = {item["Resources"][0]["Id"]: item["Resources"][0]["Type"] for item in findings}
    assert types[REPO] == "AwsEcrRepository"
    assert types[f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"] == "AwsIamRole"
    assert types[f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/biocontainers/arm-tool:1.0"] == (
        "AwsEcrContainerImage"
    )
    assert types[f"{ACCOUNT}/{REGION}/pull-through-cache-rule/ghcr"] == "Other"


@pytest.mark.parametrize(
    ("status", "evidence", "compliance", "workflow", "record", "label"),
    [
        (Status.FAIL, {}, "FAILED", "NEW", "ACTIVE", "HIGH"),
        (Status.ERROR, {"api_error": {"code": "AccessDeniedException"}}, "NOT_AVAILABLE", "NEW", "ACTIVE", "HIGH"),
        (Status.MUTED, muted_record(), "FAILED", "SUPPRESSED", "ACTIVE", "HIGH"),
        (Status.PASS, {}, "PASSED", "RESOLVED", "ARCHIVED", "INFORMATIONAL"),
        (Status.NOT_APPLICABLE, {}, "NOT_AVAILABLE", "RESOLVED", "ARCHIVED", "INFORMATIONAL"),
    ],
)
def test_status_mapping(status, evidence, compliance, workflow, record, label) -> None:
    [item] = asff_of(make_doc([make_finding(status, evidence=evidence)]))
    assert item["Compliance"]["Status"] == compliance
    assert item["Workflow"]["Status"] == workflow
    assert item["RecordState"] == record
    assert item["Severity"] == item["FindingProviderFields"]["Severity"] == {"Label": label, "Original": "high"}
    assert ("Note" in item) == (status == Status.MUTED)
    if status == Status.MUTED:
        assert "accepted" in item["Note"]["Text"] and "me@example.org" in item["Note"]["Text"]
        assert "2027-03-31" in item["Note"]["Text"]


@pytest.mark.parametrize(
    ("severity", "label"),
    [
        (Severity.CRITICAL, "CRITICAL"),
        (Severity.MEDIUM, "MEDIUM"),
        (Severity.LOW, "LOW"),
        (Severity.INFO, "INFORMATIONAL"),
    ],
)
def test_severity_labels(severity, label) -> None:
    [item] = asff_of(make_doc([make_finding(Status.FAIL, severity=severity)]))
    assert item["Severity"]["Label"] == label


def test_muted_error_keeps_not_available() -> None:
    record = muted_record()
    record["suppression"]["original_status"] = "ERROR"
    [item] = asff_of(make_doc([make_finding(Status.MUTED, evidence=record)]))
    assert item["Compliance"]["Status"] == "NOT_AVAILABLE"


def test_long_text_is_cut_to_the_documented_limits() -> None:
    finding = make_finding(Status.MUTED, message="m" * 5000, title="t" * 400, evidence=muted_record(reason="r" * 900))
    finding = finding.model_copy(update={"remediation": "fix " * 400})
    [item] = asff_of(make_doc([finding]))
    assert len(item["Description"]) == 1024 and item["Description"].endswith("…")
    assert len(item["Title"]) == 256
    assert len(item["Remediation"]["Recommendation"]["Text"]) <= 512
    assert len(item["Note"]["Text"]) <= 512
    assert all(len(v) <= 2048 for v in item["ProductFields"].values())


def test_id_is_stable_across_runs_and_unique_per_resource() -> None:
    first = asff_of(make_doc([make_finding(Status.FAIL), make_finding(Status.PASS, REPO + "-2")]))
    later = make_doc(
        [make_finding(Status.PASS), make_finding(Status.FAIL, REPO + "-2")], started=T0 + timedelta(days=3)
    )
    second = asff_of(later)
    assert [f["Id"] for f in first] == [f["Id"] for f in second]
    assert len({f["Id"] for f in first}) == 2
    assert second[0]["UpdatedAt"] > first[0]["UpdatedAt"]  # a later scan must win over the stored finding


def test_error_cells_and_wildcard_accounts(muted_doc: FindingsDocument) -> None:
    cells = asff_of(error_cell_doc())
    account = [f for f in cells if f["Resources"][0]["Type"] == "AwsAccount"]
    assert len(account) == 2
    assert {f["Resources"][0]["Id"] for f in account} == {f"AWS::::Account:{ACCOUNT}"}
    assert {f["Resources"][0]["Region"] for f in account} == {"eu-west-1"}
    assert {f["ProductFields"]["omics-ecr-audit/ErrorCode"] for f in account} == {"ExpiredToken"}
    [expired] = [f for f in asff_of(muted_doc) if f["GeneratorId"] == EXPIRED_RULE_ID]
    assert expired["AwsAccountId"] == ACCOUNT  # "*" is attributed to the importing account
    assert expired["Resources"][0]["Region"] == REGION
    assert expired["Severity"]["Label"] == "INFORMATIONAL"


def test_problems_gone_since_the_previous_run_are_archived() -> None:
    gone = make_finding(Status.FAIL, REPO + "-deleted")
    before = make_doc([make_finding(Status.FAIL), gone], started=T0 - timedelta(days=1))
    items = asff_of(make_doc([make_finding(Status.FAIL)]), previous=before)
    assert [i["Id"] for i in items] == [asff_id(make_finding(Status.FAIL)), asff_id(gone)]
    assert (items[1]["RecordState"], items[1]["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    assert items[1]["ProductFields"]["omics-ecr-audit/Status"] == "ABSENT"
    # a cell this run could not scan proves nothing: its old problems are not archived
    unscanned = make_doc(
        [make_finding(Status.FAIL)], targets=[Target(account=ACCOUNT, region="eu-west-1", status="scanned")]
    )
    assert len(asff_of(unscanned, previous=before)) == 1


def test_partition_and_arguments() -> None:
    assert (
        product_arn("cn-north-1", ACCOUNT) == f"arn:aws-cn:securityhub:cn-north-1:{ACCOUNT}:product/{ACCOUNT}/default"
    )
    with pytest.raises(AsffError):
        to_asff(make_doc([]), product_region=REGION, audit_account="*")
    with pytest.raises(AsffError):
        to_asff(make_doc([]), product_region="not-a-region", audit_account=ACCOUNT)


def test_render_writes_the_list(muted_doc: FindingsDocument) -> None:
    items = json.loads(FORMATS["asff"].render(muted_doc, RenderOptions()))
    assert_valid_asff(items)
    assert len(items) == len(muted_doc.findings)
    assert json.loads(FORMATS["asff"].render(make_doc([], targets=[]), RenderOptions())) == []


# --- the import into Security Hub (moto) -------------------------------------------------------------


@pytest.fixture
def hub(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A sandbox account with Security Hub enabled and a distinctive secret key that must never be printed."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    session = boto3.Session(region_name=REGION)
    session.client("securityhub").enable_security_hub()
    yield session


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retry decisions and attempt counts, drop the backoff sleeps and the adaptive rate limiter."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


@pytest.fixture(autouse=True)
def secret_never_printed(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    out, err = capsys.readouterr()
    assert SECRET not in out + err + caplog.text


class CallCounter:
    """Counts calls of one operation: before-parameter-build fires once per API call (not per retry) and sees
    the call's own parameters."""

    def __init__(self, session: boto3.Session, operation: str = "BatchImportFindings") -> None:
        self.calls = 0
        self.sizes: list[int] = []
        session.events.register(f"before-parameter-build.securityhub.{operation}", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.sizes.append(len(params.get("Findings", [])))


def many_findings(n: int, *, fail_every: int = 3) -> list:
    return [make_finding(Status.FAIL if i % fail_every == 0 else Status.PASS, f"{REPO}-{i:04d}") for i in range(n)]


def stored(session: boto3.Session) -> dict[str, dict[str, Any]]:
    client = session.client("securityhub")
    out: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("get_findings").paginate():
        out.update({f["Id"]: f for f in page["Findings"]})
    return out


def test_250_findings_go_in_three_batches_and_all_arrive(hub: boto3.Session) -> None:
    doc = make_doc(many_findings(250))
    counter = CallCounter(hub)
    result = push_to_securityhub(doc, hub)
    assert counter.calls == 3 == result.batches
    assert counter.sizes == [100, 100, 50]
    assert (result.imported, result.sent, result.failed) == (250, 250, [])
    assert result.ok
    assert result.product_arn == product_arn(REGION, ACCOUNT)
    in_hub = stored(hub)
    assert set(in_hub) == {asff_id(f) for f in doc.findings}
    assert "imported 250 finding(s) in 3 batch(es)" in result.describe()


def test_reimport_updates_in_place_and_resolves_the_fixed_finding(hub: boto3.Session) -> None:
    findings = many_findings(250)
    push_to_securityhub(make_doc(findings), hub)
    fixed = findings[0]
    assert fixed.status == Status.FAIL
    findings[0] = fixed.model_copy(update={"status": Status.PASS, "message": "now granted", "fixable": False})
    counter = CallCounter(hub)
    result = push_to_securityhub(make_doc(findings, started=T0 + timedelta(hours=6)), hub)
    assert (counter.calls, result.imported) == (3, 250)
    in_hub = stored(hub)
    assert len(in_hub) == 250  # updated, not duplicated
    now = in_hub[asff_id(fixed)]
    assert now["Compliance"]["Status"] == "PASSED"
    assert now["RecordState"] == "ARCHIVED"  # the provider-owned field that carries the fix on a real hub
    assert now["Workflow"]["Status"] == "RESOLVED"  # moto applies it; a real hub keeps the customer's (see asff.py)
    assert now["Description"] == "now granted"
    assert now["UpdatedAt"] > now["CreatedAt"]


def test_failed_findings_are_reported_per_finding(hub: boto3.Session) -> None:
    doc = make_doc(many_findings(120))
    rejected = asff_id(doc.findings[105])

    def reject_one(parsed: dict[str, Any], **_: Any) -> None:
        # Security Hub rejecting one finding of the second batch, as BatchImportFindings reports it
        if parsed.get("SuccessCount") == 20:  # the second batch: 120 = 100 + 20
            parsed["SuccessCount"] -= 1
            parsed["FailedCount"] = 1
            parsed["FailedFindings"] = [{"Id": rejected, "ErrorCode": "InvalidInput", "ErrorMessage": "Bad Resources"}]

    hub.events.register("after-call.securityhub.BatchImportFindings", reject_one)
    result = push_to_securityhub(doc, hub)
    assert result.imported == 119
    assert [(f.id, f.error_code, f.error_message) for f in result.failed] == [
        (rejected, "InvalidInput", "Bad Resources")
    ]
    assert not result.ok
    assert "1 failed (InvalidInput 1)" in result.describe()


def test_findings_of_another_account_are_not_sent(hub: boto3.Session) -> None:
    other = make_finding(
        Status.FAIL, account="210987654321", resource="arn:aws:ecr:us-east-1:210987654321:repository/x"
    )
    counter = CallCounter(hub)
    result = push_to_securityhub(make_doc([make_finding(Status.FAIL), other]), hub)
    assert counter.sizes == [1]
    assert result.imported == 1
    assert [(f.id, f.error_code) for f in result.failed] == [(asff_id(other), "AccountMismatch")]


def test_hub_not_enabled_is_a_clear_error(aws: boto3.Session) -> None:
    counter = CallCounter(aws)
    with pytest.raises(SecurityHubNotEnabled) as caught:
        push_to_securityhub(make_doc(many_findings(3)), aws)
    message = str(caught.value)
    assert "\n" not in message
    assert f"not enabled in account {ACCOUNT}, region {REGION}" in message
    assert "enable-security-hub" in message
    assert counter.calls == 0
    assert isinstance(caught.value, UsageError)  # the CLI prints UsageErrors on one line, exit code 2


def _error(code: str, status: int, message: str = "injected") -> AWSResponse:
    class Body:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield json.dumps({"__type": code, "message": message}).encode()

    headers = {"content-type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": "test"}
    return AWSResponse("https://fault.invalid/", status, headers, Body())


class Fault:
    """Answers BatchImportFindings before moto does (every HTTP attempt, so retries are counted)."""

    def __init__(self, session: boto3.Session, code: str, status: int) -> None:
        self.attempts = 0
        self.code, self.status = code, status
        session.events.register_first("before-send.securityhub.BatchImportFindings", self)

    def __call__(self, **_: Any) -> AWSResponse:
        self.attempts += 1
        return _error(self.code, self.status)


def test_access_denied_is_a_clear_error(hub: boto3.Session) -> None:
    Fault(hub, "AccessDeniedException", 403)
    with pytest.raises(SecurityHubAccessDenied) as caught:
        push_to_securityhub(make_doc(many_findings(3)), hub)
    message = str(caught.value)
    assert "\n" not in message
    assert "securityhub:BatchImportFindings" in message and "AccessDeniedException" in message
    assert isinstance(caught.value, SecurityHubError)


def test_rejected_credentials_are_a_clear_error(hub: boto3.Session) -> None:
    Fault(hub, "UnrecognizedClientException", 400)
    with pytest.raises(SecurityHubError, match=r"^AWS rejected the credentials .*\(UnrecognizedClientException\)$"):
        push_to_securityhub(make_doc(many_findings(3)), hub)


def test_invalid_access_on_import_means_not_enabled(hub: boto3.Session) -> None:
    Fault(hub, "InvalidAccessException", 401)
    with pytest.raises(SecurityHubNotEnabled):
        push_to_securityhub(make_doc(many_findings(3)), hub)


def test_all_findings_rejected_with_invalid_access_means_not_enabled(hub: boto3.Session) -> None:
    def reject_all(parsed: dict[str, Any], params: Any = None, **_: Any) -> None:
        parsed["FailedFindings"] = [{"Id": "x", "ErrorCode": "InvalidAccess", "ErrorMessage": "not subscribed"}]
        parsed["FailedCount"], parsed["SuccessCount"] = 1, 0

    hub.events.register("after-call.securityhub.BatchImportFindings", reject_all)
    with pytest.raises(SecurityHubNotEnabled):
        push_to_securityhub(make_doc(many_findings(1)), hub)


def test_throttling_is_retried_adaptively_then_reported_for_the_batch(hub: boto3.Session) -> None:
    assert _client_config(REGION).retries["mode"] == "adaptive"
    fault = Fault(hub, "ThrottlingException", 400)
    result = push_to_securityhub(make_doc(many_findings(130)), hub)
    assert fault.attempts == 2 * _client_config(REGION).retries["total_max_attempts"]  # both batches retried
    assert result.batches == 2 and result.imported == 0
    assert len(result.failed) == 130
    assert {f.error_code for f in result.failed} == {"ThrottlingException"}


def test_suppressed_findings_arrive_suppressed(hub: boto3.Session) -> None:
    doc = make_doc([make_finding(Status.FAIL), make_finding(Status.FAIL, REPO + "-legacy")])
    accepted = Suppression(rule=RULE, resource="*-legacy", reason="legacy, retired in Q3", owner="ops@example.org")
    doc = suppress(doc, [accepted], today=date(2026, 3, 1))
    push_to_securityhub(doc, hub)
    muted = stored(hub)[asff_id(make_finding(Status.FAIL, REPO + "-legacy"))]
    assert muted["Workflow"]["Status"] == "SUPPRESSED"
    assert "legacy, retired in Q3" in muted["Note"]["Text"]


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SecurityHubError, match="no AWS credentials"):
        push_to_securityhub(make_doc([make_finding(Status.FAIL)]), boto3.Session(region_name=REGION))


def test_unreachable_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(SecurityHubError, match=r"^cannot reach AWS STS in us-east-1: EndpointConnectionError$"):
        push_to_securityhub(
            make_doc([make_finding(Status.FAIL)]), boto3.Session(region_name=REGION), endpoint_url="http://127.0.0.1:9"
        )
