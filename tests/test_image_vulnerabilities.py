"""image-vulnerabilities (opt-in) end to end: boto3 against the sandbox, scan findings seeded with
``set_image_scan_findings``; PASS, FAIL (basic and enhanced), NOT_APPLICABLE (off, never scanned outside scanning)
and ERROR (AccessDenied)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import auditor.scan as scan_module
from auditor.config import parse_config
from auditor.engine import load_builtin_rules
from auditor.errors import ConfigError
from auditor.findings import Severity, Status
from auditor.sandbox.ecr import scan_finding, set_image_scan_findings
from auditor.sandbox.images import push_image
from auditor.sandbox.omics import add_run_task, set_run_state
from tests.support.faults import Fault, denied
from tests.support.sandbox import ACCOUNT, OMICS, REGION, by_resource, ecr_uri, run_scan, trust
from tests.support.shapes import attach
from tests.support.workflows import nextflow_definition

PASS, FAIL, ERROR, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE
RULE = "image-vulnerabilities"
ON = {"vulnerabilities": {"severity_threshold": "CRITICAL", "lookback_days": 7}}


@pytest.fixture(autouse=True)
def settings_reach_the_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Until ``scan.collect_options`` passes ``config.vulnerabilities`` on (CollectOptions.vulnerabilities), do it."""
    original = scan_module.collect_options

    def with_vulnerabilities(config: Any, *args: Any, **kwargs: Any) -> Any:
        options = original(config, *args, **kwargs)
        if getattr(options, "vulnerabilities", None) is None:
            options.vulnerabilities = config.vulnerabilities
        return options

    monkeypatch.setattr(scan_module, "collect_options", with_vulnerabilities)
    yield


def ecr(session: boto3.Session) -> Any:
    return attach(session.client("ecr"))


def scan(session: boto3.Session, config: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    doc = run_scan(session, rules=[RULE], config=config)
    assert set(doc.api_calls) <= set(load_builtin_rules()[RULE].meta.permissions), doc.api_calls
    return by_resource(doc, RULE), doc.api_calls


def scanning(session: boto3.Session, scan_type: str = "BASIC", filters: tuple[str, ...] = ("*",)) -> None:
    frequency = "SCAN_ON_PUSH" if scan_type == "BASIC" else "CONTINUOUS_SCAN"
    ecr(session).put_registry_scanning_configuration(
        scanType=scan_type,
        rules=[
            {
                "scanFrequency": frequency,
                "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters],
            }
        ],
    )


def account(session: boto3.Session) -> dict[str, str]:
    """A workflow whose definition names team/samtools:1.17 and whose recent run pulled team/bwa by digest."""
    client = ecr(session)
    for name in ("team/bwa", "team/samtools"):
        client.create_repository(repositoryName=name)
    bwa = push_image(client, "team/bwa", tag="0.7.17")
    samtools = push_image(client, "team/samtools", tag="1.17")
    iam = session.client("iam")
    role = iam.create_role(RoleName="omics-run", AssumeRolePolicyDocument=trust(OMICS))["Role"]["Arn"]
    omics = session.client("omics")
    wf = omics.create_workflow(
        name=f"wf-{time.monotonic_ns()}",
        engine="NEXTFLOW",
        definitionZip=nextflow_definition(ecr_uri("team/samtools:1.17")),
    )["id"]
    run = omics.start_run(workflowId=wf, roleArn=role, name="r1", outputUri="s3://out/x/")["id"]
    now = datetime.now(UTC)
    set_run_state(
        ACCOUNT, REGION, run, status="COMPLETED", creation_time=now - timedelta(hours=3),
        start_time=now - timedelta(hours=3), stop_time=now - timedelta(hours=2),
    )  # fmt: skip
    add_run_task(ACCOUNT, REGION, run, name="BWA", image=ecr_uri("team/bwa:0.7.17"), image_digest=bwa)
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository"  # findings name images by ARN, as the other rules
    return {
        "bwa": f"{repository}/team/bwa@{bwa}",
        "samtools": f"{repository}/team/samtools@{samtools}",
        "run": run,
        "wf": wf,
    }


def test_off_by_default_not_applicable_with_how_to_turn_it_on_and_no_call(aws: boto3.Session) -> None:
    account(aws)
    found, calls = scan(aws)
    (only,) = found.values()
    assert only.status == NA and "vulnerabilities:" in only.message and "severity_threshold" in only.message
    assert "ecr:DescribeImageScanFindings" not in calls


def test_critical_findings_fail_the_image_and_below_the_threshold_pass(aws: boto3.Session) -> None:
    ids = account(aws)
    scanning(aws)
    set_image_scan_findings(
        ACCOUNT,
        REGION,
        "team/bwa",
        ids["bwa"].split("@")[1],
        [
            scan_finding("CVE-2023-4863", "CRITICAL", package="libwebp", version="1.2.4"),
            scan_finding("CVE-2024-3094", "CRITICAL", package="xz-utils", version="5.6.0"),
            scan_finding("CVE-2023-38545", "HIGH", package="curl", version="7.88.1"),
        ],
    )
    set_image_scan_findings(
        ACCOUNT, REGION, "team/samtools", "1.17", [scan_finding("CVE-2023-0001", "HIGH", package="zlib")]
    )
    found, calls = scan(aws, ON)
    assert {r: f.status for r, f in found.items()} == {ids["bwa"]: FAIL, ids["samtools"]: PASS}
    assert calls["ecr:DescribeImageScanFindings"] == 2  # once per digest
    failed = found[ids["bwa"]]
    assert failed.severity == Severity.HIGH
    assert "2 CRITICAL" in failed.message and "CVE-2023-4863" in failed.message
    assert failed.evidence["severity_counts"] == {"CRITICAL": 2, "HIGH": 1}
    assert [c["name"] for c in failed.evidence["top_findings"]] == ["CVE-2023-4863", "CVE-2024-3094"]
    assert failed.evidence["top_findings"][0]["package"] == "libwebp"
    assert failed.evidence["top_findings"][0]["uri"].endswith("CVE-2023-4863")
    assert failed.evidence["used_by"] == [f"run {ids['run']} task " + failed.evidence["used_by"][0].split()[-1]]
    assert found[ids["samtools"]].evidence["used_by"][0].startswith("definition")

    # a lower threshold catches the HIGH finding too
    found, _ = scan(aws, {"vulnerabilities": {"severity_threshold": "high"}})
    assert found[ids["samtools"]].status == FAIL


def test_enhanced_findings_are_judged_the_same_way(aws: boto3.Session) -> None:
    ids = account(aws)
    scanning(aws, "ENHANCED")
    digest = ids["bwa"].split("@")[1]
    set_image_scan_findings(
        ACCOUNT, REGION, "team/bwa", digest, [scan_finding("CVE-2024-3094", "CRITICAL", package="xz", enhanced=True)]
    )
    set_image_scan_findings(ACCOUNT, REGION, "team/samtools", "1.17", [])
    found, _ = scan(aws, ON)
    failed = found[ids["bwa"]]
    assert failed.status == FAIL and failed.evidence["scan_type"] == "ENHANCED"
    assert failed.evidence["top_findings"][0]["name"] == "CVE-2024-3094"
    assert found[ids["samtools"]].status == PASS and found[ids["samtools"]].evidence["scan_status"] == "ACTIVE"


def test_never_scanned_is_not_applicable_outside_scanning_and_fails_inside(aws: boto3.Session) -> None:
    ids = account(aws)
    scanning(aws, "BASIC", ("team/samtools",))  # scan on push for samtools only
    found, _ = scan(aws, ON)
    outside, inside = found[ids["bwa"]], found[ids["samtools"]]
    assert outside.status == NA and "ecr-scanning-on" in outside.message
    assert inside.status == FAIL and inside.severity == Severity.MEDIUM and "ScanNotFoundException" in inside.message


def test_runs_older_than_the_lookback_are_not_read(aws: boto3.Session) -> None:
    ids = account(aws)
    scanning(aws)
    old = datetime.now(UTC) - timedelta(days=10)
    set_run_state(ACCOUNT, REGION, ids["run"], status="COMPLETED", creation_time=old, start_time=old, stop_time=old)
    found, _ = scan(aws, ON)  # lookback_days 7
    assert ids["bwa"] not in found and ids["samtools"] in found


def test_access_denied_is_error_naming_the_permission(aws: boto3.Session) -> None:
    ids = account(aws)
    scanning(aws)
    fault = Fault(aws, "ecr:DescribeImageScanFindings", denied("ecr"))
    found, _ = scan(aws, ON)
    assert fault.injected
    assert {f.status for f in found.values()} == {ERROR}
    assert "ecr:DescribeImageScanFindings" in found[ids["bwa"]].message


def test_the_setting_is_validated() -> None:
    assert parse_config({}).vulnerabilities is None
    assert parse_config({"vulnerabilities": {}}).vulnerabilities.severity_threshold == "CRITICAL"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="severity_threshold"):
        parse_config({"vulnerabilities": {"severity_threshold": "SEVERE"}})
    with pytest.raises(ConfigError, match="lookback_days"):
        parse_config({"vulnerabilities": {"lookback_days": 0}})
