"""The CloudTrail management events the sandbox records for mutating ECR and IAM calls.

Every call goes through a real boto3 client (in-process ``mock_aws`` after
``auditor.sandbox.install()``, and once through the HTTP sandbox server); every response,
LookupEvents included, is validated against botocore's output shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

import auditor.sandbox
from auditor.sandbox import cloudtrail, ecr, iam
from auditor.sandbox.server import start_server
from tests.support.shapes import attach

ACCOUNT = "123456789012"
REGION = "eu-west-1"  # not us-east-1, so that IAM's placement in us-east-1 is visible
IAM_REGION = "us-east-1"
REPO = "tools/samtools"
ROLE = "OmicsWorkflowRole"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "omics.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)
PERMISSIONS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}],
    }
)
REPOSITORY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HealthOmics",
                "Effect": "Allow",
                "Principal": {"Service": "omics.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)
REGISTRY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Replicate",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*",
            }
        ],
    }
)
LIFECYCLE_POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)
CONFIG = b'{"architecture":"amd64","os":"linux"}'
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(CONFIG),
            "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(),
        },
        "layers": [],
    }
)
# "Jul 11, 2018 10:17:44 PM": how CloudTrail writes timestamps inside responseElements.
CLOUDTRAIL_TIME = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M$")


@dataclass
class Clients:
    ecr: Any
    # Created for REGION: IAM is global, its events still land in us-east-1. Not shape-checked:
    # botocore's own handler json-decodes IAM policy documents into dicts before the after-call
    # hook sees them, so every output carrying one would be misreported (the answers are moto's).
    iam: Any
    trail: Any  # CloudTrail in REGION
    trail_east: Any  # CloudTrail in us-east-1

    def policy_arn(self, name: str = "omics-ecr") -> str:
        try:
            return str(self.iam.create_policy(PolicyName=name, PolicyDocument=PERMISSIONS)["Policy"]["Arn"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            return f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def _clients(endpoint_url: str | None = None) -> Clients:
    def client(service: str, region: str, validate: bool = True) -> Any:
        extra = {"endpoint_url": endpoint_url} if endpoint_url else {}
        made = boto3.client(
            service,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            **extra,
        )
        return attach(made) if validate else made

    return Clients(
        client("ecr", REGION),
        client("iam", REGION, validate=False),
        client("cloudtrail", REGION),
        client("cloudtrail", IAM_REGION),
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    auditor.sandbox.install()
    with mock_aws():
        yield _clients()


def _events(trail: Any, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(LookupEvents entry, parsed CloudTrailEvent) for every event named ``name``, newest first."""
    pages = trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]
    )
    return [(event, json.loads(event["CloudTrailEvent"])) for page in pages for event in page["Events"]]


def _only(trail: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    events = _events(trail, name)
    assert len(events) == 1, [record.get("errorCode") for _, record in events]
    return events[0]


def _repository(c: Clients) -> None:
    c.ecr.create_repository(repositoryName=REPO)


def _config_blob(c: Clients) -> None:
    """Upload MANIFEST's config blob: PutImage refuses a manifest whose blobs the repository lacks."""
    upload_id = c.ecr.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    c.ecr.upload_layer_part(
        repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=len(CONFIG) - 1, layerPartBlob=CONFIG
    )
    c.ecr.complete_layer_upload(
        repositoryName=REPO, uploadId=upload_id, layerDigests=["sha256:" + hashlib.sha256(CONFIG).hexdigest()]
    )


def _role(c: Clients) -> None:
    c.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)


@dataclass(frozen=True)
class Case:
    setup: Callable[[Clients], None]
    call: Callable[[Clients], Any]
    request_keys: frozenset[str]
    response: bool  # whether the operation has output (responseElements not null)


def _setup(*steps: Callable[[Clients], Any]) -> Callable[[Clients], None]:
    def run(c: Clients) -> None:
        for step in steps:
            step(c)

    return run


ECR_CASES: dict[str, Case] = {
    "CreateRepository": Case(
        _setup(),
        lambda c: c.ecr.create_repository(repositoryName=REPO, imageTagMutability="IMMUTABLE"),
        frozenset({"repositoryName", "imageTagMutability"}),
        True,
    ),
    "DeleteRepository": Case(
        _setup(_repository),
        lambda c: c.ecr.delete_repository(repositoryName=REPO, force=True),
        frozenset({"repositoryName", "force"}),
        True,
    ),
    "SetRepositoryPolicy": Case(
        _setup(_repository),
        lambda c: c.ecr.set_repository_policy(repositoryName=REPO, policyText=REPOSITORY_POLICY),
        frozenset({"repositoryName", "policyText"}),
        True,
    ),
    "DeleteRepositoryPolicy": Case(
        _setup(_repository, lambda c: c.ecr.set_repository_policy(repositoryName=REPO, policyText=REPOSITORY_POLICY)),
        lambda c: c.ecr.delete_repository_policy(repositoryName=REPO),
        frozenset({"repositoryName"}),
        True,
    ),
    "PutImage": Case(
        _setup(_repository, _config_blob),
        lambda c: c.ecr.put_image(repositoryName=REPO, imageManifest=MANIFEST, imageTag="1.17"),
        frozenset({"repositoryName", "imageManifest", "imageTag"}),
        True,
    ),
    "PutLifecyclePolicy": Case(
        _setup(_repository),
        lambda c: c.ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=LIFECYCLE_POLICY),
        frozenset({"repositoryName", "lifecyclePolicyText"}),
        True,
    ),
    "DeleteLifecyclePolicy": Case(
        _setup(
            _repository,
            lambda c: c.ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=LIFECYCLE_POLICY),
        ),
        lambda c: c.ecr.delete_lifecycle_policy(repositoryName=REPO),
        frozenset({"repositoryName"}),
        True,
    ),
    "PutRegistryPolicy": Case(
        _setup(),
        lambda c: c.ecr.put_registry_policy(policyText=REGISTRY_POLICY),
        frozenset({"policyText"}),
        True,
    ),
    "DeleteRegistryPolicy": Case(
        _setup(lambda c: c.ecr.put_registry_policy(policyText=REGISTRY_POLICY)),
        lambda c: c.ecr.delete_registry_policy(),
        frozenset(),
        True,
    ),
    "PutRegistryScanningConfiguration": Case(
        _setup(),
        lambda c: c.ecr.put_registry_scanning_configuration(
            scanType="BASIC",
            rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
        ),
        frozenset({"scanType", "rules"}),
        True,
    ),
    "PutImageScanningConfiguration": Case(
        _setup(_repository),
        lambda c: c.ecr.put_image_scanning_configuration(
            repositoryName=REPO, imageScanningConfiguration={"scanOnPush": True}
        ),
        frozenset({"repositoryName", "imageScanningConfiguration"}),
        True,
    ),
    "CreateRepositoryCreationTemplate": Case(
        _setup(),
        lambda c: c.ecr.create_repository_creation_template(
            prefix="docker-hub", appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=REPOSITORY_POLICY
        ),
        frozenset({"prefix", "appliedFor", "repositoryPolicy"}),
        True,
    ),
    "UpdateRepositoryCreationTemplate": Case(
        _setup(
            lambda c: c.ecr.create_repository_creation_template(prefix="docker-hub", appliedFor=["PULL_THROUGH_CACHE"])
        ),
        lambda c: c.ecr.update_repository_creation_template(prefix="docker-hub", description="cache"),
        frozenset({"prefix", "description"}),
        True,
    ),
    "DeleteRepositoryCreationTemplate": Case(
        _setup(
            lambda c: c.ecr.create_repository_creation_template(prefix="docker-hub", appliedFor=["PULL_THROUGH_CACHE"])
        ),
        lambda c: c.ecr.delete_repository_creation_template(prefix="docker-hub"),
        frozenset({"prefix"}),
        True,
    ),
}

IAM_CASES: dict[str, Case] = {
    "CreateRole": Case(
        _setup(),
        lambda c: c.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "k", "Value": "v"}]),
        frozenset({"roleName", "assumeRolePolicyDocument", "tags"}),
        True,
    ),
    "DeleteRole": Case(_setup(_role), lambda c: c.iam.delete_role(RoleName=ROLE), frozenset({"roleName"}), False),
    "UpdateAssumeRolePolicy": Case(
        _setup(_role),
        lambda c: c.iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=TRUST),
        frozenset({"roleName", "policyDocument"}),
        False,
    ),
    "PutRolePolicy": Case(
        _setup(_role),
        lambda c: c.iam.put_role_policy(RoleName=ROLE, PolicyName="ecr", PolicyDocument=PERMISSIONS),
        frozenset({"roleName", "policyName", "policyDocument"}),
        False,
    ),
    "DeleteRolePolicy": Case(
        _setup(_role, lambda c: c.iam.put_role_policy(RoleName=ROLE, PolicyName="ecr", PolicyDocument=PERMISSIONS)),
        lambda c: c.iam.delete_role_policy(RoleName=ROLE, PolicyName="ecr"),
        frozenset({"roleName", "policyName"}),
        False,
    ),
    "AttachRolePolicy": Case(
        _setup(_role),
        lambda c: c.iam.attach_role_policy(RoleName=ROLE, PolicyArn=c.policy_arn()),
        frozenset({"roleName", "policyArn"}),
        False,
    ),
    "DetachRolePolicy": Case(
        _setup(_role, lambda c: c.iam.attach_role_policy(RoleName=ROLE, PolicyArn=c.policy_arn())),
        lambda c: c.iam.detach_role_policy(RoleName=ROLE, PolicyArn=c.policy_arn()),
        frozenset({"roleName", "policyArn"}),
        False,
    ),
    "PutRolePermissionsBoundary": Case(
        _setup(_role),
        lambda c: c.iam.put_role_permissions_boundary(RoleName=ROLE, PermissionsBoundary=c.policy_arn()),
        frozenset({"roleName", "permissionsBoundary"}),
        False,
    ),
    "DeleteRolePermissionsBoundary": Case(
        _setup(_role, lambda c: c.iam.put_role_permissions_boundary(RoleName=ROLE, PermissionsBoundary=c.policy_arn())),
        lambda c: c.iam.delete_role_permissions_boundary(RoleName=ROLE),
        frozenset({"roleName"}),
        False,
    ),
    "CreatePolicyVersion": Case(
        _setup(),
        lambda c: c.iam.create_policy_version(PolicyArn=c.policy_arn(), PolicyDocument=PERMISSIONS, SetAsDefault=True),
        frozenset({"policyArn", "policyDocument", "setAsDefault"}),
        True,
    ),
    "SetDefaultPolicyVersion": Case(
        _setup(lambda c: c.iam.create_policy_version(PolicyArn=c.policy_arn(), PolicyDocument=PERMISSIONS)),
        lambda c: c.iam.set_default_policy_version(PolicyArn=c.policy_arn(), VersionId="v2"),
        frozenset({"policyArn", "versionId"}),
        False,
    ),
    "DeletePolicyVersion": Case(
        _setup(lambda c: c.iam.create_policy_version(PolicyArn=c.policy_arn(), PolicyDocument=PERMISSIONS)),
        lambda c: c.iam.delete_policy_version(PolicyArn=c.policy_arn(), VersionId="v2"),
        frozenset({"policyArn", "versionId"}),
        False,
    ),
}


def _check_common(record: dict[str, Any], name: str, source: str, region: str) -> None:
    assert (record["eventName"], record["eventSource"], record["awsRegion"]) == (name, source, region)
    assert record["readOnly"] is False and record["managementEvent"] is True
    assert (record["eventType"], record["recipientAccountId"]) == ("AwsApiCall", ACCOUNT)
    assert record["userIdentity"]["type"] == "IAMUser" and record["userIdentity"]["accountId"] == ACCOUNT


def test_the_lists_cover_every_recorded_event() -> None:
    assert set(ECR_CASES) == set(ecr.RECORDED_EVENT_NAMES) - {
        "CreatePullThroughCacheRule",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
    }
    assert set(IAM_CASES) == set(iam.RECORDED_EVENT_NAMES)


@pytest.mark.parametrize("name", list(ECR_CASES))
def test_ecr_call_is_recorded_once_in_its_own_region(aws: Clients, name: str) -> None:
    case = ECR_CASES[name]
    case.setup(aws)
    before = datetime.now(UTC).replace(microsecond=0)
    case.call(aws)
    after = datetime.now(UTC)

    event, record = _only(aws.trail, name)
    assert _events(aws.trail_east, name) == []  # ECR is regional: nothing in another region
    _check_common(record, name, "ecr.amazonaws.com", REGION)
    assert (event["EventSource"], event["ReadOnly"]) == ("ecr.amazonaws.com", "false")
    assert before <= event["EventTime"] <= after
    assert set(record["requestParameters"] or {}) == case.request_keys
    assert "errorCode" not in record
    assert isinstance(record["responseElements"], dict) == case.response
    if "repositoryName" in case.request_keys:
        assert event["Resources"] == [{"ResourceType": "AWS::ECR::Repository", "ResourceName": REPO}]
        assert record["resources"] == [
            {
                "accountId": ACCOUNT,
                "type": "AWS::ECR::Repository",
                "ARN": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}",
            }
        ]


@pytest.mark.parametrize("name", list(IAM_CASES))
def test_iam_call_is_recorded_once_in_us_east_1(aws: Clients, name: str) -> None:
    case = IAM_CASES[name]
    case.setup(aws)
    case.call(aws)

    event, record = _only(aws.trail_east, name)
    assert _events(aws.trail, name) == []  # not in the region the IAM client was created for
    _check_common(record, name, "iam.amazonaws.com", IAM_REGION)
    assert event["EventSource"] == "iam.amazonaws.com"
    assert set(record["requestParameters"]) == case.request_keys
    assert "errorCode" not in record
    assert isinstance(record["responseElements"], dict) == case.response
    if "roleName" in case.request_keys:
        assert {"ResourceType": "AWS::IAM::Role", "ResourceName": ROLE} in event["Resources"]


def test_set_repository_policy_carries_the_policy_text(aws: Clients) -> None:
    _repository(aws)
    aws.ecr.set_repository_policy(repositoryName=REPO, policyText=REPOSITORY_POLICY)
    _, record = _only(aws.trail, "SetRepositoryPolicy")
    assert record["requestParameters"] == {"repositoryName": REPO, "policyText": REPOSITORY_POLICY}
    assert record["responseElements"] == {
        "registryId": ACCOUNT,
        "repositoryName": REPO,
        "policyText": REPOSITORY_POLICY,
    }


def test_put_image_follows_the_documented_example(aws: Clients) -> None:
    _repository(aws)
    _config_blob(aws)
    digest = aws.ecr.put_image(repositoryName=REPO, imageManifest=MANIFEST, imageTag="1.17")["image"]["imageId"][
        "imageDigest"
    ]
    _, record = _only(aws.trail, "PutImage")
    assert record["requestParameters"] == {"repositoryName": REPO, "imageManifest": MANIFEST, "imageTag": "1.17"}
    image = record["responseElements"]["image"]
    assert (image["repositoryName"], image["registryId"], image["imageManifest"]) == (REPO, ACCOUNT, MANIFEST)
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "1.17"}


def test_response_timestamps_are_written_as_cloudtrail_does(aws: Clients) -> None:
    _repository(aws)
    _role(aws)
    _, created = _only(aws.trail, "CreateRepository")
    assert CLOUDTRAIL_TIME.match(created["responseElements"]["repository"]["createdAt"])
    _, role = _only(aws.trail_east, "CreateRole")
    assert CLOUDTRAIL_TIME.match(role["responseElements"]["role"]["createDate"])
    assert role["responseElements"]["role"]["roleName"] == ROLE


def test_iam_request_parameters_use_cloudtrails_names(aws: Clients) -> None:
    _role(aws)
    aws.iam.put_role_policy(RoleName=ROLE, PolicyName="ecr", PolicyDocument=PERMISSIONS)
    arn = aws.policy_arn()
    aws.iam.attach_role_policy(RoleName=ROLE, PolicyArn=arn)
    _, put = _only(aws.trail_east, "PutRolePolicy")
    assert put["requestParameters"] == {"roleName": ROLE, "policyName": "ecr", "policyDocument": PERMISSIONS}
    assert put["responseElements"] is None
    event, attach_record = _only(aws.trail_east, "AttachRolePolicy")
    assert attach_record["requestParameters"] == {"roleName": ROLE, "policyArn": arn}
    assert event["Resources"] == [
        {"ResourceType": "AWS::IAM::Role", "ResourceName": ROLE},
        {"ResourceType": "AWS::IAM::Policy", "ResourceName": arn},
    ]


@pytest.mark.parametrize(
    ("name", "call", "code", "trail"),
    [
        (
            "SetRepositoryPolicy",
            lambda c: c.ecr.set_repository_policy(repositoryName="missing", policyText=REPOSITORY_POLICY),
            "RepositoryNotFoundException",
            "trail",
        ),
        (
            "PutImage",
            lambda c: c.ecr.put_image(repositoryName="missing", imageManifest=MANIFEST, imageTag="1"),
            "RepositoryNotFoundException",
            "trail",
        ),
        ("DeleteRegistryPolicy", lambda c: c.ecr.delete_registry_policy(), "RegistryPolicyNotFoundException", "trail"),
        (
            "DeleteRepositoryCreationTemplate",
            lambda c: c.ecr.delete_repository_creation_template(prefix="missing"),
            "TemplateNotFoundException",
            "trail",
        ),
        (
            "PutRolePolicy",
            lambda c: c.iam.put_role_policy(RoleName="missing", PolicyName="p", PolicyDocument=PERMISSIONS),
            "NoSuchEntity",
            "trail_east",
        ),
        (
            "CreateRole",
            lambda c: (_role(c), c.iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)),
            "EntityAlreadyExists",
            "trail_east",
        ),
    ],
)
def test_failed_call_is_recorded_with_the_error_code_the_client_got(
    aws: Clients, name: str, call: Callable[[Clients], Any], code: str, trail: str
) -> None:
    with pytest.raises(ClientError) as exc:
        call(aws)
    assert exc.value.response["Error"]["Code"] == code
    events = _events(getattr(aws, trail), name)
    failed = [record for _, record in events if "errorCode" in record]
    assert len(failed) == 1
    assert failed[0]["errorCode"] == code and failed[0]["errorMessage"]
    assert failed[0]["responseElements"] is None
    # DeleteRegistryPolicy takes no parameters: CloudTrail shows null rather than {}.
    assert (failed[0]["requestParameters"] is None) == (name == "DeleteRegistryPolicy")


def test_first_pull_through_the_cache_records_create_repository_invoked_by_ecr(aws: Clients) -> None:
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/aws/aws-cli")
    ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/aws/aws-cli")  # exists now: no second creation

    event, record = _only(aws.trail, "CreateRepository")
    assert record["userIdentity"]["invokedBy"] == "ecr.amazonaws.com"
    assert record["sourceIPAddress"] == record["userAgent"] == "ecr.amazonaws.com"
    assert record["requestParameters"] == {"repositoryName": "ecr-public/aws/aws-cli"}
    assert record["responseElements"]["repository"]["repositoryName"] == "ecr-public/aws/aws-cli"
    assert event["Resources"] == [{"ResourceType": "AWS::ECR::Repository", "ResourceName": "ecr-public/aws/aws-cli"}]
    assert _events(aws.trail, "PutImage") == []  # images the cache imports are not PutImage calls


def test_install_is_idempotent(aws: Clients) -> None:
    for _ in range(2):
        auditor.sandbox.install()
        ecr.install()
        iam.install()
        cloudtrail.install()
    _role(aws)
    _repository(aws)
    assert len(_events(aws.trail_east, "CreateRole")) == 1
    assert len(_events(aws.trail, "CreateRepository")) == 1


def test_concurrent_calls_are_all_recorded(aws: Clients) -> None:
    _role(aws)

    def put_many(worker: int) -> None:
        client = boto3.client("iam", region_name=REGION)
        for i in range(5):
            client.put_role_policy(RoleName=ROLE, PolicyName=f"p{worker}-{i}", PolicyDocument=PERMISSIONS)

    threads = [threading.Thread(target=put_many, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = {record["requestParameters"]["policyName"] for _, record in _events(aws.trail_east, "PutRolePolicy")}
    assert len(names) == 20


def test_ptc_event_lookups_see_only_ptc_events(aws: Clients) -> None:
    # The demo's mid-run rule and the scan look PTC events up by EventName: the other recorded
    # events must not show up in (or add pages to) those queries.
    _repository(aws)
    aws.ecr.set_repository_policy(repositoryName=REPO, policyText=REPOSITORY_POLICY)
    _role(aws)
    aws.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    for name in ("CreatePullThroughCacheRule", "UpdatePullThroughCacheRule", "DeletePullThroughCacheRule"):
        response = aws.trail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
            StartTime=datetime.now(UTC) - timedelta(days=90),
        )
        assert "NextToken" not in response
        assert [event["EventName"] for event in response["Events"]] == (
            [name] if name == "CreatePullThroughCacheRule" else []
        )


def test_events_are_recorded_through_the_http_server() -> None:
    with start_server() as server:
        requests.post(f"{server.url}/moto-api/reset", timeout=5).raise_for_status()
        c = _clients(server.url)
        _repository(c)
        c.ecr.set_repository_policy(repositoryName=REPO, policyText=REPOSITORY_POLICY)
        with pytest.raises(ClientError):
            c.ecr.set_repository_policy(repositoryName="missing", policyText=REPOSITORY_POLICY)
        _role(c)
        c.iam.put_role_policy(RoleName=ROLE, PolicyName="ecr", PolicyDocument=PERMISSIONS)

        events = [record for _, record in _events(c.trail, "SetRepositoryPolicy")]
        assert [record.get("errorCode") for record in events] == ["RepositoryNotFoundException", None]
        assert events[1]["requestParameters"]["policyText"] == REPOSITORY_POLICY
        _, put = _only(c.trail_east, "PutRolePolicy")
        assert put["requestParameters"] == {"roleName": ROLE, "policyName": "ecr", "policyDocument": PERMISSIONS}
        assert _events(c.trail, "PutRolePolicy") == []


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2018, 7, 11, 22, 17, 44, tzinfo=UTC), "Jul 11, 2018 10:17:44 PM"),
        (datetime(2019, 1, 2, 0, 5, 9, tzinfo=UTC), "Jan 2, 2019 12:05:09 AM"),
        (datetime(2019, 1, 2, 12, 0, 0, tzinfo=UTC), "Jan 2, 2019 12:00:00 PM"),
    ],
)
def test_cloudtrail_time(when: datetime, expected: str) -> None:
    assert cloudtrail.cloudtrail_time(when) == expected
