"""CloudTrail LookupEvents in the sandbox, in-process (moto.mock_aws) through real boto3 clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.base_backend import BackendDict

from auditor.sandbox import cloudtrail
from tests.support.shapes import attach

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR = "ecr.amazonaws.com"
PTC_RULE = "AWS::ECR::PullThroughCacheRule"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def aws() -> Iterator[None]:
    cloudtrail.install()
    with mock_aws():
        yield


@pytest.fixture
def client(aws: None) -> Any:
    return attach(boto3.client("cloudtrail", region_name=REGION))


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _record(
    name: str = "CreatePullThroughCacheRule", *, minutes_ago: float = 0, region: str = REGION, **kwargs: Any
) -> str:
    kwargs.setdefault("request_parameters", {"ecrRepositoryPrefix": "docker-hub"})
    return cloudtrail.record_event(
        ACCOUNT,
        region,
        event_source=kwargs.pop("event_source", ECR),
        event_name=name,
        event_time=NOW - timedelta(minutes=minutes_ago),
        **kwargs,
    )


def _ids(response: dict[str, Any]) -> list[str]:
    return [event["EventId"] for event in response["Events"]]


def test_recorded_event_fields_and_cloudtrail_record(client: Any) -> None:
    event_id = _record(
        request_parameters={"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"},
        response_elements={"ecrRepositoryPrefix": "docker-hub"},
        resources=[(PTC_RULE, "docker-hub")],
        username="alice",
    )
    (event,) = client.lookup_events()["Events"]
    assert event["EventId"] == event_id
    assert (event["EventName"], event["EventSource"], event["Username"]) == ("CreatePullThroughCacheRule", ECR, "alice")
    assert event["ReadOnly"] == "false"
    assert event["EventTime"] == NOW
    assert event["Resources"] == [{"ResourceType": PTC_RULE, "ResourceName": "docker-hub"}]
    assert event["AccessKeyId"].startswith("AKIA") and len(event["AccessKeyId"]) == 20

    record = json.loads(event["CloudTrailEvent"])
    assert record["eventID"] == event_id
    assert record["eventTime"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == (
        ECR,
        "CreatePullThroughCacheRule",
        REGION,
    )
    assert record["requestParameters"]["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert record["responseElements"] == {"ecrRepositoryPrefix": "docker-hub"}
    assert record["readOnly"] is False and record["managementEvent"] is True
    assert (record["eventType"], record["recipientAccountId"]) == ("AwsApiCall", ACCOUNT)
    assert record["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert record["userIdentity"]["accessKeyId"] == event["AccessKeyId"]
    assert {"eventVersion", "sourceIPAddress", "userAgent", "requestID"} <= set(record)
    assert "errorCode" not in record and "errorMessage" not in record


def test_failed_call_carries_error_code(client: Any) -> None:
    _record(
        "DeletePullThroughCacheRule",
        error_code="PullThroughCacheRuleNotFoundException",
        error_message="rule not found",
        request_parameters={"ecrRepositoryPrefix": "gone"},
    )
    record = json.loads(client.lookup_events()["Events"][0]["CloudTrailEvent"])
    assert (record["errorCode"], record["errorMessage"]) == ("PullThroughCacheRuleNotFoundException", "rule not found")
    assert record["responseElements"] is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventName", "UpdatePullThroughCacheRule", ["update"]),
        ("EventSource", "omics.amazonaws.com", ["workflow"]),
        ("ResourceName", "quay", ["update"]),
        ("ResourceType", PTC_RULE, ["update", "create"]),
        ("Username", "bob", ["workflow"]),
        ("ReadOnly", "true", ["workflow"]),
        ("ReadOnly", "false", ["update", "create"]),
    ],
)
def test_lookup_attributes(client: Any, key: str, value: str, expected: list[str]) -> None:
    ids = {
        "create": _record(minutes_ago=3, resources=[(PTC_RULE, "docker-hub")]),
        "update": _record("UpdatePullThroughCacheRule", minutes_ago=2, resources=[(PTC_RULE, "quay")]),
        "workflow": _record(
            "GetWorkflow",
            minutes_ago=1,
            event_source="omics.amazonaws.com",
            username="bob",
            read_only=True,
            request_parameters={"id": "1234567"},
        ),
    }
    response = client.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
    assert _ids(response) == [ids[name] for name in expected]


def test_event_id_and_access_key_lookups(client: Any) -> None:
    first = _record(username="alice")
    _record(username="bob")
    assert _ids(client.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": first}])) == [
        first
    ]
    key = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": first}])["Events"][0][
        "AccessKeyId"
    ]
    assert _ids(client.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key}])) == [
        first
    ]


def test_time_range_is_inclusive_and_newest_first(client: Any) -> None:
    ids = [_record(minutes_ago=m) for m in (30, 20, 10)]
    assert _ids(client.lookup_events()) == ids[::-1]
    start, end = NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)
    assert _ids(client.lookup_events(StartTime=start, EndTime=end)) == [ids[2], ids[1]]
    assert _ids(client.lookup_events(StartTime=start)) == [ids[2], ids[1]]
    assert _ids(client.lookup_events(EndTime=start)) == [ids[1], ids[0]]


def test_events_older_than_90_days_are_not_returned(client: Any) -> None:
    recent = _record(minutes_ago=60 * 24 * 89)
    _record(minutes_ago=60 * 24 * 91)
    assert _ids(client.lookup_events()) == [recent]
    assert _ids(client.lookup_events(StartTime=NOW - timedelta(days=365))) == [recent]


def test_default_page_size_is_50_and_paginator_walks_all(client: Any) -> None:
    ids = [_record(minutes_ago=i) for i in range(55)]
    first = client.lookup_events()
    assert len(first["Events"]) == 50 and "NextToken" in first
    second = client.lookup_events(NextToken=first["NextToken"])
    assert _ids(first) + _ids(second) == ids
    assert "NextToken" not in second

    pages = list(client.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 20}))
    assert [len(p["Events"]) for p in pages] == [20, 20, 15]
    assert [e for p in pages for e in _ids(p)] == ids


def test_pages_are_stable_when_events_arrive_between_pages(client: Any) -> None:
    ids = [_record(minutes_ago=i) for i in range(4)]
    first = client.lookup_events(MaxResults=2)
    _record()  # newer than everything: must not shift the next page
    second = client.lookup_events(MaxResults=2, NextToken=first["NextToken"])
    assert _ids(first) + _ids(second) == ids


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "EventName", "AttributeValue": "A"},
                    {"AttributeKey": "EventSource", "AttributeValue": ECR},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"LookupAttributes": [{"AttributeKey": "Region", "AttributeValue": "us-east-1"}]},
            "InvalidLookupAttributesException",
        ),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"StartTime": NOW, "EndTime": NOW - timedelta(seconds=1)}, "InvalidTimeRangeException"),
        ({"NextToken": "garbage"}, "InvalidNextTokenException"),
        ({"EventCategory": "data"}, "InvalidEventCategoryException"),
    ],
)
def test_lookup_errors(client: Any, params: dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as exc:
        client.lookup_events(**params)
    assert _error(exc) == (code, 400)


def test_next_token_is_bound_to_its_parameters(client: Any) -> None:
    for i in range(3):
        _record(minutes_ago=i)
    token = client.lookup_events(MaxResults=1)["NextToken"]
    # A different page size is fine; a different query is not.
    assert len(client.lookup_events(MaxResults=2, NextToken=token)["Events"]) == 2
    with pytest.raises(ClientError) as exc:
        client.lookup_events(MaxResults=1, NextToken=token, StartTime=NOW - timedelta(days=1))
    assert _error(exc) == ("InvalidNextTokenException", 400)


def test_insight_category_returns_no_management_events(client: Any) -> None:
    _record()
    assert client.lookup_events(EventCategory="insight")["Events"] == []


def test_events_are_per_account_and_region(client: Any) -> None:
    _record(region="eu-west-1")
    cloudtrail.record_event("210987654321", REGION, event_source=ECR, event_name="X", request_parameters=None)
    assert client.lookup_events()["Events"] == []
    assert len(attach(boto3.client("cloudtrail", region_name="eu-west-1")).lookup_events()["Events"]) == 1


def test_concurrent_recording_loses_nothing(client: Any) -> None:
    def record_many() -> None:
        for _ in range(25):
            cloudtrail.record_event(ACCOUNT, REGION, event_source=ECR, event_name="PutImage", request_parameters={})

    threads = [threading.Thread(target=record_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pages = client.get_paginator("lookup_events").paginate()
    assert sum(len(page["Events"]) for page in pages) == 100


def test_trail_operations_still_work(client: Any) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="trail-bucket")
    client.create_trail(Name="audit", S3BucketName="trail-bucket")
    assert client.get_trail(Name="audit")["Trail"]["Name"] == "audit"


def test_record_event_without_an_active_mock() -> None:
    # No `client` fixture here, so no mock is active: the event goes to moto's backend dict.
    cloudtrail.install()
    try:
        event_id = cloudtrail.record_event(
            "111122223333", "eu-central-1", event_source=ECR, event_name="X", request_parameters=None
        )
        page, token = cloudtrail.lookup("111122223333", "eu-central-1", {})
        assert [event.attributes["EventId"] for event in page] == [event_id]
        assert token is None
        with mock_aws():  # starting a mock resets moto's state, recorded events included
            assert attach(boto3.client("cloudtrail", region_name="eu-central-1")).lookup_events()["Events"] == []
    finally:
        BackendDict.reset()
