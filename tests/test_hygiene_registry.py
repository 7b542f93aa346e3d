"""Registry hygiene rules end to end through boto3 against the sandbox: ecr-scanning-on (and its fixer),
template-role-for-kms-and-tags (manual step), cloudtrail-records-changes, and the mid-run rule's evidence window."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from auditor.rules.cloudtrail_trail import advanced_selector_records
from auditor.rules.ecr_scanning import filter_covers_prefix, filter_matches

from auditor.cli import main
from auditor.engine import load_builtin_rules
from auditor.findings import Status
from auditor.sandbox.trails import set_event_data_store_status
from tests.support.faults import Fault, denied
from tests.support.sandbox import ACCOUNT, REGION, by_resource, run_scan
from tests.support.shapes import attach
from tests.support.writes import count_writes

PASS, FAIL, ERROR, NA = Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE
SCANNING, TEMPLATE_ROLE, TRAIL, MID_RUN = (
    "ecr-scanning-on",
    "template-role-for-kms-and-tags",
    "cloudtrail-records-changes",
    "ptc-rule-unchanged-during-run",
)
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-templates"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


def scan(session: boto3.Session, rule_id: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-rule scan whose API calls stay inside the rule's facets; resource -> finding."""
    doc = run_scan(session, rules=[rule_id], config=config)
    assert set(doc.api_calls) <= set(load_builtin_rules()[rule_id].meta.permissions), doc.api_calls
    return by_resource(doc, rule_id)


def statuses(found: dict[str, Any]) -> dict[str, Status]:
    return {r: f.status for r, f in found.items()}


def ecr(session: boto3.Session) -> Any:
    return attach(session.client("ecr"))


def cache_rules(session: boto3.Session, *prefixes: str) -> None:
    urls = {"quay": "quay.io", "ecr-public": "public.ecr.aws", "k8s": "registry.k8s.io"}
    for prefix in prefixes:
        ecr(session).create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=urls[prefix])


def scanning(session: boto3.Session, scan_type: str, *rules: tuple[str, list[str]]) -> None:
    ecr(session).put_registry_scanning_configuration(
        scanType=scan_type,
        rules=[
            {"scanFrequency": freq, "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters]}
            for freq, filters in rules
        ],
    )


# --- ECR's WILDCARD filters, as the ECR guide's table shows them ------------------------------------------------


@pytest.mark.parametrize(
    ("scan_filter", "expected"),
    [
        ("prod", [True, True, True, True, True]),
        ("*prod", [True, True, False, False, False]),
        ("prod*", [True, False, True, False, True]),
        ("*prod*", [True, True, True, True, True]),
        ("prod*repo", [False, False, True, False, True]),
    ],
)
def test_filter_matching_follows_the_ecr_guide_table(scan_filter: str, expected: list[bool]) -> None:
    names = ["prod", "repo-prod", "prod-repo", "repo-prod-repo", "prodrepo"]
    assert [filter_matches(scan_filter, n) for n in names] == expected


@pytest.mark.parametrize(
    ("scan_filter", "prefix", "covers"),
    [
        ("quay/*", "quay", True),
        ("quay*", "quay", True),
        ("*", "quay", True),
        ("qu*/*", "quay", True),
        ("quay", "quay", True),  # no wildcard: every name containing "quay"
        ("uay", "quay", True),
        ("quay/x", "quay", False),  # only names containing quay/x
        ("quay/library/*", "quay", False),
        ("*quay", "quay", False),  # must end the name
        ("quay*", "quay-mirror", True),
        ("quay/*", "quay-mirror", False),
        ("*", "ROOT", True),
        ("a*", "ROOT", False),
        ("docker-hub/*", "docker-hub/", True),  # a prefix's trailing slash is implied anyway
    ],
)
def test_a_filter_covers_a_prefix_only_when_it_matches_every_name_under_it(
    scan_filter: str, prefix: str, covers: bool
) -> None:
    assert filter_covers_prefix(scan_filter, prefix) is covers


def test_sandbox_scanning_filters_match_as_ecr_documents(aws: boto3.Session) -> None:
    client = ecr(aws)
    for name in ("prod", "prod-repo", "repo-prod"):
        client.create_repository(repositoryName=name)
    scanning(aws, "BASIC", ("SCAN_ON_PUSH", ["*prod"]))
    on_push = {
        r["repositoryName"]: r["imageScanningConfiguration"] for r in client.describe_repositories()["repositories"]
    }
    assert set(on_push) == {"prod", "prod-repo", "repo-prod"}
    with pytest.raises(client.exceptions.ValidationException):
        scanning(aws, "BASIC", ("CONTINUOUS_SCAN", ["*"]))
    with pytest.raises(client.exceptions.ValidationException):
        scanning(aws, "BASIC", ("SCAN_ON_PUSH", ["a__b/*"]))
    with pytest.raises(client.exceptions.ValidationException):
        scanning(aws, "ENHANCED", ("SCAN_ON_PUSH", ["a"]), ("CONTINUOUS_SCAN", ["b"]), ("SCAN_ON_PUSH", ["c"]))


# --- ecr-scanning-on ------------------------------------------------------------------------------------------------


def test_scanning_default_configuration_fails_every_cache_prefix(aws: boto3.Session) -> None:
    cache_rules(aws, "quay", "ecr-public")
    found = scan(aws, SCANNING)
    assert statuses(found) == {"registry-scanning/quay": FAIL, "registry-scanning/ecr-public": FAIL}
    assert "scanned only when someone starts a scan" in found["registry-scanning/quay"].message


def test_scanning_passes_per_prefix_covered_on_push(aws: boto3.Session) -> None:
    cache_rules(aws, "quay", "ecr-public")
    scanning(aws, "BASIC", ("SCAN_ON_PUSH", ["quay/*", "ecr-public/library/*"]))
    found = scan(aws, SCANNING)
    assert statuses(found) == {"registry-scanning/quay": PASS, "registry-scanning/ecr-public": FAIL}
    assert found["registry-scanning/quay"].evidence["covered_by"] == [
        {"scan_frequency": "SCAN_ON_PUSH", "filter": "quay/*"}
    ]


def test_enhanced_continuous_scanning_covers_and_manual_never_does(aws: boto3.Session) -> None:
    cache_rules(aws, "quay", "ecr-public")
    scanning(aws, "ENHANCED", ("CONTINUOUS_SCAN", ["quay*"]))
    assert statuses(scan(aws, SCANNING)) == {"registry-scanning/quay": PASS, "registry-scanning/ecr-public": FAIL}
    scanning(aws, "BASIC", ("MANUAL", ["*"]))
    assert set(statuses(scan(aws, SCANNING)).values()) == {FAIL}


def test_scanning_without_cache_rules_is_not_applicable(aws: boto3.Session) -> None:
    assert set(statuses(scan(aws, SCANNING)).values()) == {NA}


def test_scanning_access_denied_is_error_naming_the_call(aws: boto3.Session) -> None:
    cache_rules(aws, "quay")
    fault = Fault(aws, "ecr:GetRegistryScanningConfiguration", denied("ecr"))
    found = scan(aws, SCANNING)
    assert fault.injected and set(statuses(found).values()) == {ERROR}
    (finding,) = found.values()
    assert finding.evidence["api_error"]["operation"] == "ecr:GetRegistryScanningConfiguration"


def _fix(out: Path, *args: str) -> int:
    return main(["fix", "--out", str(out), "--quiet", *args])


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "fix-report.json").read_text())


def _config(session: boto3.Session) -> dict[str, Any]:
    return ecr(session).get_registry_scanning_configuration()["scanningConfiguration"]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    return count_writes(monkeypatch)


def test_scanning_fix_merges_keeps_rules_and_type_is_idempotent_and_rolls_back(
    aws: boto3.Session, tmp_path: Path, writes: Counter[str]
) -> None:
    cache_rules(aws, "quay", "ecr-public")
    scanning(aws, "ENHANCED", ("CONTINUOUS_SCAN", ["team-a/*"]), ("SCAN_ON_PUSH", ["ecr-public/*", "tools"]))
    before = _config(aws)
    assert _fix(tmp_path / "first", "--apply") in (0, 1)
    applied = _report(tmp_path / "first")["applied"]
    assert applied["error"] is None
    after = _config(aws)
    assert after["scanType"] == "ENHANCED"
    assert after["rules"][0] == before["rules"][0]  # the other team's continuous rule, untouched
    assert [f["filter"] for f in after["rules"][1]["repositoryFilters"]] == ["ecr-public/*", "tools", "quay/*"]
    assert set(statuses(scan(aws, SCANNING)).values()) == {PASS}

    writes.clear()
    assert _fix(tmp_path / "second", "--apply") in (0, 1)
    assert sum(writes.values()) == 0
    assert _config(aws) == after

    assert main(["rollback", applied["backup"]]) == 0
    assert _config(aws) == before


def test_scanning_fix_adds_a_rule_when_there_is_room_and_refuses_when_there_is_none(
    aws: boto3.Session, tmp_path: Path
) -> None:
    cache_rules(aws, "quay")
    assert _fix(tmp_path / "first", "--apply") in (0, 1)
    assert _config(aws)["rules"] == [
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "quay/*", "filterType": "WILDCARD"}]}
    ]
    scanning(aws, "BASIC", ("MANUAL", ["x"]), ("MANUAL", ["y"]))
    assert _fix(tmp_path / "second") == 1
    plan = json.loads((tmp_path / "second" / "plan.json").read_text())
    assert [r["rule_id"] for r in plan["refused"]] == [SCANNING]
    assert "2 scanning rules" in plan["refused"][0]["reason"]


# --- template-role-for-kms-and-tags ------------------------------------------------------------------------------


def _template(session: boto3.Session, prefix: str, applied_for: list[str], **settings: Any) -> None:
    ecr(session).create_repository_creation_template(prefix=prefix, appliedFor=applied_for, **settings)


def test_template_role_fail_pass_and_not_applicable(aws: boto3.Session, tmp_path: Path) -> None:
    _template(aws, "kms", ["PULL_THROUGH_CACHE"], encryptionConfiguration={"encryptionType": "KMS", "kmsKey": KEY})
    _template(aws, "tagged", ["REPLICATION"], resourceTags=[{"Key": "team", "Value": "genomics"}])
    _template(
        aws,
        "both",
        ["PULL_THROUGH_CACHE"],
        encryptionConfiguration={"encryptionType": "KMS_DSSE", "kmsKey": KEY},
        resourceTags=[{"Key": "team", "Value": "genomics"}],
        customRoleArn=ROLE,
    )
    _template(aws, "plain", ["PULL_THROUGH_CACHE"], encryptionConfiguration={"encryptionType": "AES256"})
    found = scan(aws, TEMPLATE_ROLE)
    assert statuses(found) == {
        "repository-creation-template/kms": FAIL,
        "repository-creation-template/tagged": FAIL,
        "repository-creation-template/both": PASS,
        "repository-creation-template/plain": NA,
    }
    assert found["repository-creation-template/kms"].severity.value == "high"
    assert found["repository-creation-template/tagged"].severity.value == "medium"  # not a cache template
    assert "KMS encryption" in found["repository-creation-template/kms"].message

    assert _fix(tmp_path / "plan") == 1
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    steps = [m for m in plan["manual"] if m["rule_id"] == TEMPLATE_ROLE]
    assert {s["resource"] for s in steps} == {"repository-creation-template/kms", "repository-creation-template/tagged"}
    assert not [c for c in plan["changes"] if c["rule_id"] == TEMPLATE_ROLE]
    assert any("--custom-role-arn" in c for s in steps for c in s["commands"])


def test_template_role_access_denied_is_error(aws: boto3.Session) -> None:
    _template(aws, "kms", ["PULL_THROUGH_CACHE"], encryptionConfiguration={"encryptionType": "KMS", "kmsKey": KEY})
    fault = Fault(aws, "ecr:DescribeRepositoryCreationTemplates", denied("ecr"))
    found = scan(aws, TEMPLATE_ROLE)
    assert fault.injected and set(statuses(found).values()) == {ERROR}


# --- cloudtrail-records-changes ----------------------------------------------------------------------------------


def _trail(session: boto3.Session, name: str, *, region: str = REGION, logging: bool = True, **kw: Any) -> str:
    s3 = session.client("s3", region_name=REGION)
    if "trail-logs" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="trail-logs")
    ct = attach(session.client("cloudtrail", region_name=region))
    arn = ct.create_trail(Name=name, S3BucketName="trail-logs", **kw)["TrailARN"]
    if logging:
        ct.start_logging(Name=name)
    return arn


SOURCES = {"ecr": "cloudtrail/ecr.amazonaws.com", "omics": "cloudtrail/omics.amazonaws.com"}


def _trail_statuses(session: boto3.Session, **kw: Any) -> dict[str, Status]:
    """The rule's verdict per event source (one finding each)."""
    found = statuses(scan(session, TRAIL, **kw))
    assert set(found) == set(SOURCES.values()), found
    return {name: found[resource] for name, resource in SOURCES.items()}


def _trail_status(session: boto3.Session, **kw: Any) -> Status:
    """The verdict when both sources get the same one (the selectors below do not tell them apart)."""
    ecr, omics = _trail_statuses(session, **kw).values()
    assert ecr == omics, (ecr, omics)
    return ecr


def test_cloudtrail_no_trail_fails(aws: boto3.Session) -> None:
    found = scan(aws, TRAIL)
    assert set(statuses(found).values()) == {FAIL}
    assert all("90 days" in f.message for f in found.values())


def test_cloudtrail_logging_trail_with_default_selectors_passes(aws: boto3.Session) -> None:
    arn = _trail(aws, "main")
    found = scan(aws, TRAIL)
    assert set(statuses(found).values()) == {PASS}
    assert all(f.evidence["recorders"] == [arn] for f in found.values())


def test_cloudtrail_multi_region_trail_of_another_region_counts_single_region_does_not(aws: boto3.Session) -> None:
    _trail(aws, "elsewhere", region="eu-west-1")
    assert _trail_status(aws) == FAIL  # not even listed here
    _trail(aws, "everywhere", region="eu-west-1", IsMultiRegionTrail=True)
    assert _trail_status(aws) == PASS


def test_cloudtrail_trail_not_logging_or_read_only_fails(aws: boto3.Session) -> None:
    arn = _trail(aws, "stopped", logging=False)
    found = scan(aws, TRAIL)
    assert set(statuses(found).values()) == {FAIL}
    assert all(f.evidence["not_recording"] == [{"trail": arn, "why": "not logging"}] for f in found.values())
    ct = attach(aws.client("cloudtrail"))
    ct.start_logging(Name="stopped")
    ct.put_event_selectors(TrailName="stopped", EventSelectors=[{"ReadWriteType": "ReadOnly"}])
    assert _trail_status(aws) == FAIL
    ct.put_event_selectors(TrailName="stopped", EventSelectors=[{"ReadWriteType": "WriteOnly"}])
    assert _trail_status(aws) == PASS


def test_cloudtrail_advanced_selectors(aws: boto3.Session) -> None:
    _trail(aws, "advanced")
    ct = attach(aws.client("cloudtrail"))

    def selectors(*fields: dict[str, Any]) -> Status:
        ct.put_event_selectors(
            TrailName="advanced", AdvancedEventSelectors=[{"Name": "s", "FieldSelectors": list(fields)}]
        )
        return _trail_status(aws)

    management = {"Field": "eventCategory", "Equals": ["Management"]}
    assert selectors(management) == PASS
    assert selectors(management, {"Field": "readOnly", "Equals": ["false"]}) == PASS
    assert selectors(management, {"Field": "readOnly", "Equals": ["true"]}) == FAIL
    assert selectors(management, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]}) == PASS
    assert selectors({"Field": "eventCategory", "Equals": ["Data"]}) == FAIL
    # A selector that leaves one source out: that source FAILs, the other PASSes.
    ct.put_event_selectors(
        TrailName="advanced",
        AdvancedEventSelectors=[
            {"Name": "s", "FieldSelectors": [management, {"Field": "eventSource", "NotEquals": ["ecr.amazonaws.com"]}]}
        ],
    )
    assert _trail_statuses(aws) == {"ecr": FAIL, "omics": PASS}


def test_advanced_selector_narrowed_by_an_unknown_field_does_not_count() -> None:
    selector = {
        "Name": "only rules",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "Equals": ["CreatePullThroughCacheRule"]},
        ],
    }
    ok, why = advanced_selector_records(selector, "ecr.amazonaws.com")
    assert not ok and "eventName" in why


def test_cloudtrail_organisation_trail_counts(aws: boto3.Session) -> None:
    _trail(aws, "org-trail", IsMultiRegionTrail=True, IsOrganizationTrail=True)
    assert _trail_status(aws) == PASS


def test_cloudtrail_event_data_store_counts_when_enabled(aws: boto3.Session) -> None:
    ct = attach(aws.client("cloudtrail"))
    ct.create_event_data_store(Name="lake")
    assert _trail_status(aws) == PASS
    set_event_data_store_status(ACCOUNT, REGION, "lake", "STOPPED_INGESTION")
    assert _trail_status(aws) == FAIL


@pytest.mark.parametrize(
    "operation", ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"]
)
def test_cloudtrail_access_denied_is_error_unless_another_trail_proves_it(aws: boto3.Session, operation: str) -> None:
    _trail(aws, "main")
    fault = Fault(aws, operation, denied("cloudtrail"))
    found = scan(aws, TRAIL)
    assert fault.injected and set(statuses(found).values()) == {ERROR}
    assert all(f.evidence["api_error"]["operation"] == operation for f in found.values())


def test_cloudtrail_event_data_stores_denied_is_error_without_a_trail_and_ignored_with_one(aws: boto3.Session) -> None:
    fault = Fault(aws, "cloudtrail:ListEventDataStores", denied("cloudtrail"))
    assert _trail_status(aws) == ERROR and fault.injected
    _trail(aws, "main")
    assert _trail_status(aws) == PASS


# --- the mid-run rule's evidence window ------------------------------------------------------------------------------


def test_mid_run_rule_says_event_history_is_the_only_record_without_a_trail(aws: boto3.Session) -> None:
    cache_rules(aws, "quay")
    (finding,) = scan(aws, MID_RUN).values()
    window = finding.evidence["evidence_window"]
    assert "no trail records ECR's management events" in window["note"] and window["short"] is False
    _trail(aws, "main")
    (finding,) = scan(aws, MID_RUN).values()
    assert "evidence_window" not in finding.evidence
