"""The sandbox's DescribeImageScanFindings and StartImageScan, faithful to botocore's model (every response is
validated against its output shape): basic and enhanced shapes, pagination, ScanNotFoundException, the 24-hour
StartImageScan limit, and the seeding helper ``set_image_scan_findings``."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from auditor.sandbox.ecr import clear_image_scan, scan_finding, set_image_scan_findings
from auditor.sandbox.images import push_image
from tests.support.sandbox import ACCOUNT, REGION
from tests.support.shapes import attach

REPO = "team/bwa"


def ecr(session: boto3.Session) -> Any:
    return attach(session.client("ecr"))


def image(session: boto3.Session, tag: str = "0.7.17") -> str:
    client = ecr(session)
    client.create_repository(repositoryName=REPO)
    return push_image(client, REPO, tag=tag)


def test_an_image_never_scanned_answers_scan_not_found(aws: boto3.Session) -> None:
    digest = image(aws)
    with pytest.raises(ClientError) as err:
        ecr(aws).describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
    assert err.value.response["Error"]["Code"] == "ScanNotFoundException"
    assert REPO in err.value.response["Error"]["Message"]


def test_unknown_repository_and_image_are_the_models_errors(aws: boto3.Session) -> None:
    image(aws)
    client = ecr(aws)
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.describe_image_scan_findings(repositoryName="nope", imageId={"imageTag": "x"})
    with pytest.raises(client.exceptions.ImageNotFoundException):
        client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageTag": "missing"})
    with pytest.raises(ClientError) as err:
        client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageTag": "x"}, maxResults=5000)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_seeded_basic_findings_have_the_basic_shape_and_counts(aws: boto3.Session) -> None:
    digest = image(aws)
    set_image_scan_findings(
        ACCOUNT,
        REGION,
        REPO,
        digest,
        [
            scan_finding("CVE-2023-4863", "CRITICAL", package="libwebp", version="1.2.4"),
            scan_finding("CVE-2023-38545", "HIGH", package="curl", version="7.88.1"),
            scan_finding("CVE-2022-0001", "LOW", package="zlib", version="1.2.11"),
        ],
    )
    resp = ecr(aws).describe_image_scan_findings(repositoryName=REPO, imageId={"imageTag": "0.7.17"})
    assert resp["imageId"] == {"imageDigest": digest, "imageTag": "0.7.17"}
    assert resp["imageScanStatus"]["status"] == "COMPLETE"
    found = resp["imageScanFindings"]
    assert "enhancedFindings" not in found
    assert found["findingSeverityCounts"] == {"CRITICAL": 1, "HIGH": 1, "LOW": 1}
    first = found["findings"][0]
    assert first["name"] == "CVE-2023-4863" and first["severity"] == "CRITICAL"
    assert {"key": "package_name", "value": "libwebp"} in first["attributes"]
    assert "nextToken" not in resp


def test_enhanced_findings_follow_the_registry_scan_type(aws: boto3.Session) -> None:
    digest = image(aws)
    ecr(aws).put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    set_image_scan_findings(
        ACCOUNT, REGION, REPO, digest, [scan_finding("CVE-2024-3094", "CRITICAL", package="xz", enhanced=True)]
    )
    resp = ecr(aws).describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
    assert resp["imageScanStatus"]["status"] == "ACTIVE"
    found = resp["imageScanFindings"]
    assert "findings" not in found
    (enhanced,) = found["enhancedFindings"]
    assert enhanced["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2024-3094"
    assert enhanced["packageVulnerabilityDetails"]["vulnerablePackages"][0]["name"] == "xz"


def test_findings_are_paginated_with_max_results_and_the_boto3_paginator(aws: boto3.Session) -> None:
    digest = image(aws)
    many = [scan_finding(f"CVE-2020-{i:05d}", "MEDIUM", package=f"p{i}") for i in range(250)]
    set_image_scan_findings(ACCOUNT, REGION, REPO, digest, many)
    client = ecr(aws)
    first = client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
    assert len(first["imageScanFindings"]["findings"]) == 100  # the documented default page
    assert first["imageScanFindings"]["findingSeverityCounts"] == {"MEDIUM": 250}
    pages = list(
        client.get_paginator("describe_image_scan_findings").paginate(
            repositoryName=REPO, imageId={"imageDigest": digest}, PaginationConfig={"PageSize": 120}
        )
    )
    assert [len(p["imageScanFindings"]["findings"]) for p in pages] == [120, 120, 10]
    names = [f["name"] for p in pages for f in p["imageScanFindings"]["findings"]]
    assert names == [f["name"] for f in many]
    with pytest.raises(ClientError) as err:
        client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest}, nextToken="garbage")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_start_image_scan_completes_once_per_day(aws: boto3.Session) -> None:
    digest = image(aws)
    client = ecr(aws)
    started = client.start_image_scan(repositoryName=REPO, imageId={"imageDigest": digest})
    assert started["imageScanStatus"] == {"status": "IN_PROGRESS"}
    assert started["imageId"]["imageDigest"] == digest
    resp = client.describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
    assert resp["imageScanStatus"]["status"] == "COMPLETE"
    assert resp["imageScanFindings"]["findings"] == []
    with pytest.raises(client.exceptions.LimitExceededException):
        client.start_image_scan(repositoryName=REPO, imageId={"imageDigest": digest})


def test_seeding_rejects_a_finding_outside_the_model_and_clear_forgets_the_scan(aws: boto3.Session) -> None:
    digest = image(aws)
    with pytest.raises(ValueError, match="ImageScanFinding"):
        set_image_scan_findings(ACCOUNT, REGION, REPO, digest, [{"name": "CVE-1", "cvss": 9.8}])
    with pytest.raises(ValueError, match="severity"):
        scan_finding("CVE-1", "SEVERE")
    set_image_scan_findings(ACCOUNT, REGION, REPO, digest, [])
    assert ecr(aws).describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
    clear_image_scan(ACCOUNT, REGION, REPO, digest)
    with pytest.raises(ClientError):
        ecr(aws).describe_image_scan_findings(repositoryName=REPO, imageId={"imageDigest": digest})
