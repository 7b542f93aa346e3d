"""The Lambda handler end to end against the sandbox (moto + the project's extensions).

The nightly run writes a valid findings document and the HTML report to S3, and publishes the NEW
problems to SNS (read back through a subscribed SQS queue); a second run lists only what is new; a quiet
night publishes nothing. The Step Functions path (plan -> scan_cell per cell -> merge) gives exactly the
findings of a single run; a cell whose part is missing becomes ERROR findings. Bad configuration and bad
events give a clear error result, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import auditor.lambda_handler as lh
from auditor.findings import FindingsDocument, Status
from auditor.lambda_handler import handler
from auditor.notify import notification
from auditor.sandbox.documents import OMICS, omics_statement
from auditor.sandbox.documents import policy_document as policy
from auditor.sandbox.seed import EXPECTED_FAILURES, seed_demo_account
from tests.support import lambda_hub
from tests.support.lambda_hub import BUCKET, Hub
from tests.support.sandbox import ACCOUNT, PULL, REGION

SCHEDULED = {
    "version": "0",
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"],
    "detail": {},
}
SAMTOOLS = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/samtools"


# The hub (bucket, topic, queue) and the organisation behind it, fixtures "hub" and "org": tests/support/lambda_hub.py.
_hub_fixture, _org_fixture = lambda_hub.hub_fixture, lambda_hub.org_fixture


def problems(doc: FindingsDocument) -> dict[str, str]:
    return {f.id: f.resource for f in doc.findings if f.status in (Status.FAIL, Status.ERROR)}


# --- the nightly run ----------------------------------------------------------------------------------


def test_scheduled_run_writes_findings_and_report_and_notifies(hub: Hub) -> None:
    demo = seed_demo_account(hub.session)
    result = handler(SCHEDULED)
    assert result["ok"] is True and result["action"] == "run", result
    run_id = result["run_id"]
    assert result["findings"] == f"s3://{BUCKET}/runs/{run_id}/findings.json"
    assert result["reports"] == {"html": f"s3://{BUCKET}/runs/{run_id}/report.html"}
    assert set(hub.keys(f"runs/{run_id}/")) == {
        f"runs/{run_id}/findings.json",
        f"runs/{run_id}/report.html",
        f"runs/{run_id}/summary.json",
    }

    doc = hub.document(f"runs/{run_id}/findings.json")
    assert doc.run.id == run_id
    assert [(t.account, t.region, t.status) for t in doc.run.targets] == [(demo.account, REGION, "scanned")]
    failing = {(f.rule_id, f.resource) for f in doc.findings if f.status == Status.FAIL}
    for rule_id, resources in EXPECTED_FAILURES.items():
        for resource in resources:
            if not resource.startswith("<"):
                assert (rule_id, resource) in failing
    assert not [f for f in doc.findings if f.status == Status.ERROR]
    html = hub.s3_text(f"runs/{run_id}/report.html")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "ptc-rule-coverage" in html

    # the first run: every problem is new
    (note,) = hub.messages()
    assert note["Subject"].startswith(f"omics-ecr-audit: {len(problems(doc))} new findings")
    assert len(note["Subject"]) < 100 and note["Subject"].isascii()
    assert "upstream/registry.k8s.io" in note["Message"]
    assert SAMTOOLS in note["Message"]
    assert f"s3://{BUCKET}/runs/{run_id}/findings.json" in note["Message"]
    assert f"s3://{BUCKET}/runs/{run_id}/report.html" in note["Message"]
    assert result["notified"] is True
    assert set(result["new_finding_ids"]) == set(problems(doc))
    assert result["exit_code"] == 1

    latest = json.loads(hub.s3_text("latest/run.json"))
    assert latest["run_id"] == run_id
    assert hub.document("latest/findings.json").run.id == run_id
    summary = json.loads(hub.s3_text(f"runs/{run_id}/summary.json"))
    assert summary["run_id"] == run_id and summary["diff"] == {"new": len(problems(doc))}


def test_second_run_notifies_only_new_findings_and_a_quiet_night_is_quiet(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_demo_account(hub.session, pause=0)
    first = handler({"action": "run"})
    hub.messages()
    ecr = hub.session.client("ecr")
    # one problem fixed ...
    ecr.set_repository_policy(
        repositoryName="quay/biocontainers/samtools",
        policyText=policy(omics_statement(PULL, "OmicsPull", source_account=ACCOUNT)),
    )
    # ... and one new: a cache repository nobody granted omics access to
    ecr.create_repository(repositoryName="quay/biocontainers/bcftools")
    new_repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/bcftools"

    second = handler({"action": "run"})
    assert second["ok"], second
    assert second["previous_run"] == first["run_id"]
    assert second["diff"]["new"] == 1 and second["diff"]["resolved"] == 1
    doc = hub.document(f"runs/{second['run_id']}/findings.json")
    (new_id,) = second["new_finding_ids"]
    assert next(f for f in doc.findings if f.id == new_id).resource == new_repo
    (note,) = hub.messages()
    assert note["Subject"].startswith("omics-ecr-audit: 1 new finding (1 FAIL)")
    assert new_repo in note["Message"]
    assert SAMTOOLS not in note["Message"]  # resolved, not new
    assert "upstream/registry.k8s.io" not in note["Message"]  # persisting, not new
    assert f"Since run {first['run_id']}: 1 new, 1 resolved" in note["Message"]

    # nothing changed: no notification at all ...
    third = handler({"action": "run"})
    assert third["ok"] and third["diff"]["new"] == 0 and third["notified"] is False
    assert hub.messages() == []
    # ... unless asked for one
    monkeypatch.setenv("NOTIFY_ALWAYS", "true")
    fourth = handler({"action": "run"})
    assert fourth["notified"] is True
    (quiet,) = hub.messages()
    assert quiet["Subject"].startswith("omics-ecr-audit: no new findings")


def test_run_without_topic_still_writes_everything(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo_account(hub.session, pause=0)
    monkeypatch.delenv("SNS_TOPIC_ARN")
    monkeypatch.setenv("REPORT_FORMATS", "html,sarif")
    result = handler({"action": "run"})
    assert result["ok"] and result["notified"] is False
    assert set(result["reports"]) == {"html", "sarif"}
    sarif = json.loads(hub.s3_text(f"runs/{result['run_id']}/report.sarif"))
    assert sarif["version"] == "2.1.0"
    assert hub.messages() == []


# --- the Step Functions path ---------------------------------------------------------------------------


def _fan_out(skip: set[tuple[str, str]] = frozenset()) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[assignment]
    planned = handler({"action": "plan"})
    assert planned["ok"], planned
    for cell in planned["cells"]:
        if (cell["account"], cell["region"]) in skip:
            continue
        out = handler({"action": "scan_cell", "run_id": planned["run_id"], **cell})
        assert out["ok"] and out["part"].endswith(f"/parts/{cell['account']}-{cell['region']}.json"), out
    merged = handler({"action": "merge", "run_id": planned["run_id"], "cells_key": planned["cells_key"]})
    assert merged["ok"], merged
    return planned, merged


def test_plan_scan_cells_merge_equals_a_single_run(hub: Hub, org: list[str]) -> None:
    single = handler({"action": "run"})
    assert single["ok"], single
    planned, merged = _fan_out()
    assert planned["cells"] == [{"account": a, "region": REGION} for a in org]
    assert planned["count"] == 2 and planned["bucket"] == BUCKET
    assert json.loads(hub.s3_text(planned["cells_key"])) == planned["cells"]
    assert planned["map_results_prefix"] == f"runs/{planned['run_id']}/map"
    assert merged["run_id"] == planned["run_id"] and merged["missing_cells"] == []

    one = hub.document(f"runs/{single['run_id']}/findings.json")
    fanned = hub.document(f"runs/{merged['run_id']}/findings.json")
    assert {(f.id, f.status) for f in fanned.findings} == {(f.id, f.status) for f in one.findings}
    assert {(t.account, t.region, t.status) for t in fanned.run.targets} == {(a, REGION, "scanned") for a in org}
    member = next(a for a in org if a != ACCOUNT)
    assert any(f.account == member and f.status == Status.FAIL for f in fanned.findings)
    # the single run came first: the merged run has nothing new to say
    assert merged["diff"]["new"] == 0 and merged["notified"] is False


def test_a_cell_without_a_part_becomes_error_findings(hub: Hub, org: list[str]) -> None:
    member = next(a for a in org if a != ACCOUNT)
    _planned, merged = _fan_out(skip={(member, REGION)})
    assert merged["missing_cells"] == [{"account": member, "region": REGION}]
    doc = hub.document(f"runs/{merged['run_id']}/findings.json")
    target = next(t for t in doc.run.targets if t.account == member)
    assert target.status == "error" and target.error is not None and target.error.code == "CellNotScanned"
    errors = [f for f in doc.findings if f.account == member]
    assert {f.status for f in errors} == {Status.ERROR}
    assert {f.resource for f in errors} == {f"account/{member}/region/{REGION}"}
    assert {f.rule_id for f in errors} == set(doc.run.rules)  # one per rule
    assert "map iteration failed" in errors[0].message
    assert merged["cells_with_errors"] == 1
    (note,) = hub.messages()
    assert f"{member}/{REGION}  account/{member}/region/{REGION}" in note["Message"]
    assert "1 could not be scanned" in note["Message"]


def test_plan_keeps_large_cell_lists_in_s3_only(hub: Hub, org: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lh, "INLINE_CELLS_LIMIT", 10)
    planned = handler({"action": "plan"})
    assert planned["ok"] and "cells" not in planned and planned["cells_truncated"] is True
    assert len(json.loads(hub.s3_text(planned["cells_key"]))) == planned["count"] == 2


# --- fixing (single-function runs) ----------------------------------------------------------------------


def test_fix_never_calls_an_account_it_could_not_read_done(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly fix loop: a planning scan with an unread cell is "incomplete", never "nothing to apply"."""
    from auditor import fixrun
    from auditor.findings import Target
    from auditor.models import CallError

    seed_demo_account(hub.session, pause=0)
    monkeypatch.setenv("FIX_ENABLED", "true")
    monkeypatch.setenv("FIX_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/omics-ecr-audit-fix")
    monkeypatch.setenv("MEMBER_FIX_ROLE_NAME", "OmicsEcrAuditFix")
    real = fixrun.plan_live

    def planning_scan_lost_the_cell(*args: Any, **kwargs: Any) -> Any:
        plan, doc = real(*args, **kwargs)
        lost = Target(
            account=ACCOUNT,
            region=REGION,
            status="error",
            error=CallError(operation="ecr:DescribeRepositories", code="AccessDenied", message="denied"),
        )
        run = doc.run.model_copy(update={"targets": [lost]})
        return plan.model_copy(update={"changes": []}), doc.model_copy(update={"run": run})

    monkeypatch.setattr(fixrun, "plan_live", planning_scan_lost_the_cell)
    out = handler({"action": "run"})
    assert out["ok"], out
    (entry,) = out["fixes"]["accounts"]
    assert entry["outcome"].startswith("incomplete"), entry
    assert any("could not be read" in line and "AccessDenied" in line for line in entry["unread"]), entry


def test_run_with_fix_enabled_applies_within_the_budget(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo_account(hub.session, pause=0)
    monkeypatch.setenv("FIX_ENABLED", "true")
    monkeypatch.setenv("FIX_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/omics-ecr-audit-fix")
    monkeypatch.setenv("MEMBER_FIX_ROLE_NAME", "OmicsEcrAuditFix")
    monkeypatch.setenv("MAX_FIX_CHANGES", "2")
    small = handler({"action": "run"})
    assert small["ok"], small
    (entry,) = small["fixes"]["accounts"]
    assert entry["outcome"].startswith("refused: ") and "max-changes 2" in entry["outcome"]
    assert small["fixes"]["applied"] == 0

    monkeypatch.setenv("MAX_FIX_CHANGES", "50")
    big = handler({"action": "run"})
    (entry,) = big["fixes"]["accounts"]
    assert entry["outcome"] == "applied" and big["fixes"]["applied"] == entry["applied"] > 0
    # under the account's own prefix: the only one its member fix role may write (deploy/)
    assert entry["backup"].startswith(f"s3://{BUCKET}/backups/{ACCOUNT}/{big['run_id']}/")
    assert entry["report"] == f"s3://{BUCKET}/runs/{big['run_id']}/fix/{ACCOUNT}/fix-report.json"
    report = json.loads(hub.s3_text(f"runs/{big['run_id']}/fix/{ACCOUNT}/fix-report.json"))
    assert report["applied"]["backup"] == entry["backup"]
    verified = {v["resource"]: v["after"] for v in report["verification"]}
    assert verified[SAMTOOLS] == "PASS"
    assert entry["verified_pass"] == sum(1 for v in report["verification"] if v["after"] == "PASS") > 0
    backup_key = entry["backup"].removeprefix(f"s3://{BUCKET}/")
    assert json.loads(hub.s3_text(backup_key))["kind"] == "omics-ecr-audit/backup"


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"AUDIT_CONFIG": "regions: [moon-base-1]"}, "regions: not AWS region names"),
        ({"AUDIT_CONFIG": "rules: [oops"}, "AUDIT_CONFIG: not valid YAML or JSON (line"),
        ({"AUDIT_CONFIG": "colour: blue"}, "colour: unknown setting"),
        ({"AUDIT_CONFIG": "rules: {include: [no-such-rule]}"}, "unknown rule id(s): no-such-rule"),
        ({"AUDIT_CONFIG_S3": "s3://omics-ecr-audit-runs/config/missing.yaml"}, "not both"),
        ({"AUDIT_CONFIG": "", "AUDIT_CONFIG_S3": "s3://omics-ecr-audit-runs/config/missing.yaml"}, "no such object"),
        ({"AUDIT_CONFIG": "", "AUDIT_CONFIG_S3": "https://example.com/c.yaml"}, "must be an s3://bucket/key URI"),
        ({"AUDIT_BUCKET": ""}, "AUDIT_BUCKET is not set"),
        ({"MAX_FIX_CHANGES": "many"}, "MAX_FIX_CHANGES must be a whole number"),
        ({"REPORT_FORMATS": "pdf"}, "REPORT_FORMATS names unknown format(s) pdf"),
        ({"AUDIT_CONFIG": ""}, "cannot list the organization's accounts"),  # no organisation in this account
    ],
)
def test_bad_configuration_is_a_clear_error_result(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], needle: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = handler({"action": "run"})
    assert result["ok"] is False and result["action"] == "run"
    assert needle in result["error"], result["error"]
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert '"event": "action_failed"' in err
    assert hub.messages() == []


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"action": "launch"}, "unknown action 'launch'; known: guard, merge, plan, run, scan_cell"),
        ({"action": "scan_cell", "run_id": "r1", "region": "us-east-1"}, "account: Field required"),
        ({"action": "scan_cell", "run_id": "r1", "account": "12345", "region": "us-east-1"}, "at least 12 characters"),
        ({"action": "scan_cell", "run_id": "r1", "account": "12345678901x", "region": "us-east-1"}, "12-digit account"),
        ({"action": "scan_cell", "run_id": "r1", "account": "123456789012", "region": "mars"}, "AWS region name"),
        ({"action": "scan_cell", "account": "123456789012", "region": "us-east-1"}, "run_id: Field required"),
        ({"action": "merge", "run_id": "never-planned"}, "was run never-planned planned?"),
        ({"action": "merge", "run_id": "r1", "cells_key": "latest/findings.json"}, "cells_key: must be runs/<run id>/"),
        ({"action": "merge", "run_id": "r1", "cells_key": "runs/r2/cells.json"}, "cells_key must be under runs/"),
        ({"action": "merge", "run_id": "r1", "cells": []}, "cells: List should have at least 1 item"),
        ({"action": 7}, "action must be a string"),
    ],
)
def test_bad_events_are_clear_error_results(hub: Hub, event: dict[str, Any], needle: str) -> None:
    result = handler(event)
    assert result["ok"] is False
    assert needle in result["error"], result["error"]


def test_a_non_object_event_is_an_error_result(hub: Hub) -> None:
    result = handler(["run"])
    assert result == {"ok": False, "action": "?", "error": "the event must be a JSON object, not list"}


def test_config_from_s3_and_external_id_never_echoed(hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    seed_demo_account(hub.session, pause=0)
    hub.session.client("s3").put_object(
        Bucket=BUCKET, Key="config/audit.yaml", Body=b"rules:\n  include: [registry-policy-allows-omics]\n"
    )
    monkeypatch.setenv("AUDIT_CONFIG", "")
    monkeypatch.setenv("AUDIT_CONFIG_S3", f"s3://{BUCKET}/config/audit.yaml")
    monkeypatch.setenv("EXTERNAL_ID", "very-private-external-id")
    result = handler({"action": "run"})
    assert result["ok"], result
    doc = hub.document(f"runs/{result['run_id']}/findings.json")
    assert doc.run.rules == ["registry-policy-allows-omics"]
    out = capsys.readouterr()
    assert "very-private-external-id" not in out.err + out.out + json.dumps(result)


# --- the notification itself ------------------------------------------------------------------------------


def test_notification_subject_fits_sns_and_message_lists_the_first_n(hub: Hub) -> None:
    seed_demo_account(hub.session, pause=0)
    result = handler({"action": "run"})
    doc = hub.document(f"runs/{result['run_id']}/findings.json")
    new = [f for f in doc.findings if f.status in (Status.FAIL, Status.ERROR)]
    many = new * 40  # a bad night in a large organisation
    subject, message = notification(doc, many, {"new": len(many)}, None, result, limit=5)
    assert len(subject) < 100 and subject.isascii() and "\n" not in subject
    assert f"New findings (5 of {len(many)}):" in message
    assert f"... and {len(many) - 5} more: see the report." in message
    assert message.count("\n[") == 5
    assert OMICS not in subject
