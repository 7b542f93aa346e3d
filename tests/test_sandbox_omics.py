"""HealthOmics sandbox backend, in-process (moto.mock_aws) through real boto3 clients."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from auditor.sandbox import omics
from tests.support.shapes import attach

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
REGISTRY_MAP = {
    "registryMappings": [
        {
            "upstreamRegistryUrl": "registry-1.docker.io",
            "ecrRepositoryPrefix": "docker-hub",
            "upstreamRepositoryPrefix": "library",
            "ecrAccountId": ACCOUNT,
            "credentialArn": SECRET,
        },
        {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"},
    ],
    "imageMappings": [
        {
            "sourceImage": "ubuntu:22.04",
            "destinationImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub/library/ubuntu:22.04",
        }
    ],
}
IMPLEMENTED = {
    "CreateWorkflow",
    "GetWorkflow",
    "ListWorkflows",
    "DeleteWorkflow",
    "CreateWorkflowVersion",
    "GetWorkflowVersion",
    "ListWorkflowVersions",
    "StartRun",
    "GetRun",
    "ListRuns",
    "CancelRun",
    "ListRunTasks",
    "GetRunTask",
}


@pytest.fixture(autouse=True)
def aws() -> Iterator[None]:
    omics.install()
    with mock_aws():
        yield


def _client(region: str = REGION, **kwargs: Any) -> Any:
    return attach(boto3.client("omics", region_name=region, **kwargs))


@pytest.fixture
def client() -> Any:
    return _client()


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _workflow(client: Any, **overrides: Any) -> str:
    params: dict[str, Any] = {
        "name": "germline",
        "definitionZip": b"PK\x03\x04 main.wdl",
        "engine": "WDL",
        "containerRegistryMap": REGISTRY_MAP,
    }
    params.update(overrides)
    return client.create_workflow(**params)["id"]


def _run(client: Any, workflow_id: str, **overrides: Any) -> str:
    params: dict[str, Any] = {
        "workflowId": workflow_id,
        "roleArn": ROLE,
        "outputUri": "s3://omics-out/runs",
        "name": "run-1",
    }
    params.update(overrides)
    return client.start_run(**params)["id"]


# ---- endpoint -------------------------------------------------------------------------


def test_requests_go_to_the_workflows_prefixed_host(client: Any) -> None:
    urls: list[str] = []
    client.meta.events.register("before-sign.omics", lambda request, **_: urls.append(request.url))
    client.list_workflows()
    assert urls == [f"https://workflows-omics.{REGION}.amazonaws.com/workflow"]


def test_every_served_operation_carries_the_workflows_host_prefix() -> None:
    model = boto3.session.Session().client("omics", region_name=REGION).meta.service_model
    assert {op: model.operation_model(op).endpoint for op in IMPLEMENTED} == {
        op: {"hostPrefix": "workflows-"} for op in IMPLEMENTED
    }


def test_bare_omics_host_is_served_too() -> None:
    # What botocore sends with host prefix injection disabled (the server-mode setup).
    client = _client(config=Config(inject_host_prefix=False))
    urls: list[str] = []
    client.meta.events.register("before-sign.omics", lambda request, **_: urls.append(request.url))
    assert client.list_workflows()["items"] == []
    assert urls == [f"https://omics.{REGION}.amazonaws.com/workflow"]


# ---- workflows ------------------------------------------------------------------------


def test_create_and_get_workflow_round_trips_the_registry_map(client: Any) -> None:
    created = client.create_workflow(
        name="germline",
        description="GATK",
        definitionZip=b"zip",
        engine="WDL",
        main="main.wdl",
        parameterTemplate={"sample": {"description": "sample id", "optional": False}},
        containerRegistryMap=REGISTRY_MAP,
        storageType="DYNAMIC",
        tags={"team": "genomics"},
    )
    assert re.fullmatch(r"\d{7}", created["id"])
    assert created["arn"] == f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{created['id']}"
    assert created["status"] == "CREATING"
    assert created["tags"] == {"team": "genomics"}

    workflow = client.get_workflow(id=created["id"])
    assert workflow["containerRegistryMap"] == REGISTRY_MAP
    assert workflow["status"] == "ACTIVE"
    assert workflow["type"] == "PRIVATE"
    assert workflow["uuid"] == created["uuid"]
    assert workflow["parameterTemplate"] == {"sample": {"description": "sample id", "optional": False}}
    assert (workflow["engine"], workflow["main"], workflow["storageType"]) == ("WDL", "main.wdl", "DYNAMIC")
    assert re.fullmatch(r"[0-9a-f]{64}", workflow["digest"])
    assert client.get_workflow(id=created["id"], type="PRIVATE")["id"] == created["id"]


def test_get_workflow_errors(client: Any) -> None:
    workflow_id = _workflow(client)
    with pytest.raises(ClientError) as missing:
        client.get_workflow(id="7654321")
    assert _error(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as wrong_type:
        client.get_workflow(id=workflow_id, type="READY2RUN")
    assert _error(wrong_type) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as foreign:
        client.get_workflow(id=workflow_id, workflowOwnerId="210987654321")
    assert _error(foreign) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as bad_id:
        client.get_workflow(id="abc")
    assert _error(bad_id) == ("ValidationException", 400)


def test_workflow_definition_is_required_once(client: Any) -> None:
    with pytest.raises(ClientError) as none:
        client.create_workflow(name="x")
    assert _error(none) == ("ValidationException", 400)
    with pytest.raises(ClientError) as both:
        client.create_workflow(name="x", definitionZip=b"zip", definitionUri="s3://b/wf.zip")
    assert _error(both) == ("ValidationException", 400)
    workflow_id = client.create_workflow(name="x", definitionUri="s3://b/wf.zip")["id"]
    assert "containerRegistryMap" not in client.get_workflow(id=workflow_id)


@pytest.mark.parametrize(
    ("mapping", "constraint"),
    [
        ({"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "x" * 257}, "length less than or equal to 256"),
        (
            {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "q", "upstreamRepositoryPrefix": "x" * 31},
            "length less than or equal to 30",
        ),
        (
            {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "q", "ecrAccountId": "12345678901x"},
            "regular expression pattern",
        ),
        (
            {
                "upstreamRegistryUrl": "quay.io",
                "ecrRepositoryPrefix": "q",
                "credentialArn": "arn:aws:iam::1:role/x" * 2,
            },
            "regular expression pattern",
        ),
        ({"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "bad\x00prefix"}, "regular expression pattern"),
    ],
)
def test_registry_mapping_constraints_from_the_model(client: Any, mapping: dict[str, str], constraint: str) -> None:
    with pytest.raises(ClientError) as exc:
        client.create_workflow(name="x", definitionZip=b"zip", containerRegistryMap={"registryMappings": [mapping]})
    assert _error(exc) == ("ValidationException", 400)
    message = exc.value.response["Error"]["Message"]
    assert "containerRegistryMap.registryMappings.1.member." in message
    assert constraint in message


@pytest.mark.parametrize("missing", ["upstreamRegistryUrl", "ecrRepositoryPrefix"])
def test_registry_mapping_required_members_checked_server_side(missing: str) -> None:
    # botocore would refuse to send this; callers that skip its validation get the service's answer.
    client = _client(config=Config(parameter_validation=False))
    mapping = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}
    del mapping[missing]
    with pytest.raises(ClientError) as exc:
        client.create_workflow(name="x", definitionZip=b"zip", containerRegistryMap={"registryMappings": [mapping]})
    assert _error(exc) == ("ValidationException", 400)
    assert (
        f"Value null at 'containerRegistryMap.registryMappings.1.member.{missing}'"
        in (exc.value.response["Error"]["Message"])
    )


def test_registry_map_uri_is_read_from_s3(client: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="maps")
    s3.put_object(Bucket="maps", Key="map.json", Body=json.dumps(REGISTRY_MAP).encode())
    workflow_id = client.create_workflow(name="x", definitionZip=b"zip", containerRegistryMapUri="s3://maps/map.json")[
        "id"
    ]
    assert client.get_workflow(id=workflow_id)["containerRegistryMap"] == REGISTRY_MAP
    with pytest.raises(ClientError) as missing:
        client.create_workflow(name="x", definitionZip=b"zip", containerRegistryMapUri="s3://maps/none.json")
    assert _error(missing) == ("ValidationException", 400)
    with pytest.raises(ClientError) as both:
        client.create_workflow(
            name="x",
            definitionZip=b"zip",
            containerRegistryMap=REGISTRY_MAP,
            containerRegistryMapUri="s3://maps/map.json",
        )
    assert _error(both) == ("ValidationException", 400)


def test_create_workflow_is_idempotent_per_request_id(client: Any) -> None:
    first = client.create_workflow(name="x", definitionZip=b"zip", requestId="req-1")
    again = client.create_workflow(name="x", definitionZip=b"zip", requestId="req-1")
    assert first["id"] == again["id"]
    assert len(client.list_workflows()["items"]) == 1


def test_list_workflows_filters_and_paginates(client: Any) -> None:
    ids = [_workflow(client, name=f"wf-{i % 2}") for i in range(5)]
    pages = list(client.get_paginator("list_workflows").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page["items"]] == ids
    assert "nextToken" not in pages[-1]
    item = pages[0]["items"][0]
    assert set(item) == {"arn", "id", "name", "status", "type", "digest", "creationTime"}

    assert len(client.list_workflows(name="wf-0")["items"]) == 3
    assert len(client.list_workflows(type="PRIVATE")["items"]) == 5
    assert client.list_workflows(type="READY2RUN")["items"] == []

    token = client.list_workflows(maxResults=2)["nextToken"]
    with pytest.raises(ClientError) as other_filter:
        client.list_workflows(name="wf-0", startingToken=token)
    assert _error(other_filter) == ("ValidationException", 400)
    with pytest.raises(ClientError) as garbage:
        client.list_workflows(startingToken="not-a-token")
    assert _error(garbage) == ("ValidationException", 400)
    with pytest.raises(ClientError) as too_many:
        client.list_workflows(maxResults=101)
    assert _error(too_many) == ("ValidationException", 400)


def test_delete_workflow(client: Any) -> None:
    workflow_id = _workflow(client)
    client.delete_workflow(id=workflow_id)
    assert client.list_workflows()["items"] == []
    with pytest.raises(ClientError) as gone:
        client.get_workflow(id=workflow_id)
    assert _error(gone) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as again:
        client.delete_workflow(id=workflow_id)
    assert _error(again) == ("ResourceNotFoundException", 404)


# ---- workflow versions ----------------------------------------------------------------


def test_workflow_versions_have_their_own_registry_maps(client: Any) -> None:
    workflow_id = _workflow(client)
    v2_map = {"registryMappings": [{"upstreamRegistryUrl": "ghcr.io", "ecrRepositoryPrefix": "github"}]}
    created = client.create_workflow_version(
        workflowId=workflow_id,
        versionName="v2",
        definitionZip=b"zip2",
        containerRegistryMap=v2_map,
        description="second",
    )
    assert created["arn"] == f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{workflow_id}/version/v2"
    assert (created["workflowId"], created["versionName"], created["status"]) == (workflow_id, "v2", "CREATING")
    client.create_workflow_version(workflowId=workflow_id, versionName="v3", definitionUri="s3://b/v3.zip")

    version = client.get_workflow_version(workflowId=workflow_id, versionName="v2")
    assert version["containerRegistryMap"] == v2_map
    assert (version["status"], version["type"], version["description"]) == ("ACTIVE", "PRIVATE", "second")
    assert "containerRegistryMap" not in client.get_workflow_version(workflowId=workflow_id, versionName="v3")
    assert client.get_workflow(id=workflow_id)["containerRegistryMap"] == REGISTRY_MAP

    pages = list(
        client.get_paginator("list_workflow_versions").paginate(
            workflowId=workflow_id, PaginationConfig={"PageSize": 1}
        )
    )
    assert [item["versionName"] for page in pages for item in page["items"]] == ["v2", "v3"]


def test_workflow_version_errors(client: Any) -> None:
    workflow_id = _workflow(client)
    client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"zip")
    with pytest.raises(ClientError) as duplicate:
        client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"zip")
    assert _error(duplicate) == ("ConflictException", 409)
    with pytest.raises(ClientError) as no_workflow:
        client.create_workflow_version(workflowId="7654321", versionName="v2", definitionZip=b"zip")
    assert _error(no_workflow) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as no_version:
        client.get_workflow_version(workflowId=workflow_id, versionName="v9")
    assert _error(no_version) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as bad_name:
        client.create_workflow_version(workflowId=workflow_id, versionName="-bad", definitionZip=b"zip")
    assert _error(bad_name) == ("ValidationException", 400)
    with pytest.raises(ClientError) as list_missing:
        client.list_workflow_versions(workflowId="7654321")
    assert _error(list_missing) == ("ResourceNotFoundException", 404)


# ---- runs -----------------------------------------------------------------------------


def test_start_and_get_run(client: Any) -> None:
    workflow_id = _workflow(client)
    client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"zip2")
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    )
    started = client.start_run(
        workflowId=workflow_id,
        workflowVersionName="v2",
        roleArn=ROLE,
        name="run-1",
        outputUri="s3://omics-out/runs/",
        parameters={"sample": "NA12878"},
        sessionPolicy=policy,
        tags={"cost": "lab"},
    )
    run_id = started["id"]
    assert re.fullmatch(r"\d{7}", run_id)
    assert started["arn"] == f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}"
    assert started["status"] == "PENDING"
    assert started["runOutputUri"] == f"s3://omics-out/runs/{run_id}"

    run = client.get_run(id=run_id)
    assert (run["id"], run["arn"], run["uuid"]) == (run_id, started["arn"], started["uuid"])
    assert (run["roleArn"], run["status"], run["workflowId"]) == (ROLE, "PENDING", workflow_id)
    assert (run["workflowVersionName"], run["workflowType"]) == ("v2", "PRIVATE")
    assert run["sessionPolicy"] == policy
    assert run["parameters"] == {"sample": "NA12878"}
    assert run["workflowUuid"] == client.get_workflow(id=workflow_id)["uuid"]
    assert (run["storageType"], run["storageCapacity"]) == ("STATIC", 1200)
    assert isinstance(run["creationTime"], datetime)
    assert "startTime" not in run and "stopTime" not in run


def test_start_run_errors(client: Any) -> None:
    template = {"sample": {"description": "sample id", "optional": False}, "ref": {"optional": True}}
    workflow_id = _workflow(client, parameterTemplate=template)
    cases: list[tuple[dict[str, Any], tuple[str, int]]] = [
        ({"workflowId": "7654321"}, ("ResourceNotFoundException", 404)),
        ({"workflowVersionName": "v9"}, ("ResourceNotFoundException", 404)),
        ({"parameters": {}}, ("ValidationException", 400)),
        ({"parameters": {"sample": "x", "unknown": 1}}, ("ValidationException", 400)),
        ({"parameters": {"sample": "x"}, "sessionPolicy": "not json"}, ("ValidationException", 400)),
        ({"parameters": {"sample": "x"}, "roleArn": "role/x"}, ("ValidationException", 400)),
        ({"parameters": {"sample": "x"}, "priority": 100001}, ("ValidationException", 400)),
    ]
    for overrides, expected in cases:
        with pytest.raises(ClientError) as exc:
            _run(client, workflow_id, **overrides)
        assert _error(exc) == expected, overrides
    assert _run(client, workflow_id, parameters={"sample": "x"})


def test_start_run_is_idempotent_and_can_duplicate(client: Any) -> None:
    workflow_id = _workflow(client)
    first = _run(client, workflow_id, requestId="same", storageType="DYNAMIC")
    assert _run(client, workflow_id, requestId="same") == first
    copy = client.start_run(runId=first, roleArn=ROLE, outputUri="s3://omics-out/copy")
    run = client.get_run(id=copy["id"])
    assert (run["runId"], run["workflowId"], run["storageType"]) == (first, workflow_id, "DYNAMIC")
    assert "storageCapacity" not in run


def test_list_runs_filters_orders_and_paginates(client: Any) -> None:
    workflow_id = _workflow(client)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    run_ids = []
    for i in range(5):
        run_id = _run(client, workflow_id, name=f"run-{i}")
        omics.set_run_state(
            ACCOUNT,
            REGION,
            run_id,
            status="COMPLETED" if i % 2 else "RUNNING",
            creation_time=base + timedelta(hours=i),
            start_time=base + timedelta(hours=i),
        )
        run_ids.append(run_id)

    pages = list(client.get_paginator("list_runs").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    listed = [item for page in pages for item in page["items"]]
    assert [item["id"] for item in listed] == run_ids[::-1]  # newest first
    assert all("roleArn" not in item for item in listed)
    assert listed[0]["workflowName"] == "germline"

    running = client.list_runs(status="RUNNING")["items"]
    assert {item["id"] for item in running} == {run_ids[0], run_ids[2], run_ids[4]}
    assert [item["id"] for item in client.list_runs(name="run-3")["items"]] == [run_ids[3]]
    with pytest.raises(ClientError) as bad_status:
        client.list_runs(status="DONE")
    assert _error(bad_status) == ("ValidationException", 400)


def test_set_run_state_seeds_status_and_times(client: Any) -> None:
    run_id = _run(client, _workflow(client))
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    omics.set_run_state(ACCOUNT, REGION, run_id, status="RUNNING", start_time=start)
    omics.set_run_state(ACCOUNT, REGION, run_id, status="COMPLETED", stop_time=datetime(2025, 3, 1, 13, 0))
    run = client.get_run(id=run_id)
    assert run["status"] == "COMPLETED"
    assert run["startTime"] == start
    assert run["stopTime"] == datetime(2025, 3, 1, 13, 0, tzinfo=UTC)  # naive means UTC

    with pytest.raises(ValueError, match="status must be one of"):
        omics.set_run_state(ACCOUNT, REGION, run_id, status="DONE")
    with pytest.raises(omics.ResourceNotFoundException):
        omics.set_run_state(ACCOUNT, REGION, "7654321", status="RUNNING")


def test_cancel_run(client: Any) -> None:
    run_id = _run(client, _workflow(client))
    client.cancel_run(id=run_id)
    run = client.get_run(id=run_id)
    assert run["status"] == "CANCELLED"
    assert "stopTime" in run
    with pytest.raises(ClientError) as again:
        client.cancel_run(id=run_id)
    assert _error(again) == ("ConflictException", 409)
    with pytest.raises(ClientError) as missing:
        client.cancel_run(id="7654321")
    assert _error(missing) == ("ResourceNotFoundException", 404)


def test_get_run_not_found(client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        client.get_run(id="7654321")
    assert _error(exc) == ("ResourceNotFoundException", 404)


# ---- run tasks ------------------------------------------------------------------------


def test_run_tasks_with_image_details(client: Any) -> None:
    run_id = _run(client, _workflow(client))
    ecr_image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub/library/ubuntu:22.04"
    digest = "sha256:" + "a" * 64
    start = datetime(2025, 3, 1, tzinfo=UTC)
    task_ids = [
        omics.add_run_task(
            ACCOUNT,
            REGION,
            run_id,
            name=f"task-{i}",
            image=ecr_image,
            image_digest=digest,
            source_image="ubuntu:22.04",
            start_time=start + timedelta(minutes=i),
            stop_time=start + timedelta(minutes=i + 1),
            status="FAILED" if i == 2 else "COMPLETED",
        )
        for i in range(3)
    ]
    bare = omics.add_run_task(ACCOUNT, REGION, run_id, name="no-image", status="RUNNING")
    assert all(re.fullmatch(r"\d{7}", t) for t in [*task_ids, bare])

    pages = list(client.get_paginator("list_run_tasks").paginate(id=run_id, PaginationConfig={"PageSize": 3}))
    listed = [item for page in pages for item in page["items"]]
    assert [item["taskId"] for item in listed] == [*task_ids, bare]
    assert all("imageDetails" not in item for item in listed)
    assert [item["taskId"] for item in client.list_run_tasks(id=run_id, status="FAILED")["items"]] == [task_ids[2]]

    task = client.get_run_task(id=run_id, taskId=task_ids[0])
    assert task["imageDetails"] == {"image": ecr_image, "imageDigest": digest, "sourceImage": "ubuntu:22.04"}
    assert (task["name"], task["status"], task["startTime"]) == ("task-0", "COMPLETED", start)
    assert "imageDetails" not in client.get_run_task(id=run_id, taskId=bare)


def test_run_task_gpus_and_instance_type(client: Any) -> None:
    """Both ListRunTasks and GetRunTask answer gpus and instanceType (TaskListItem and GetRunTaskResponse)."""
    run_id = _run(client, _workflow(client))
    cpu = omics.add_run_task(ACCOUNT, REGION, run_id, name="cpu")
    gpu = omics.add_run_task(ACCOUNT, REGION, run_id, name="gpu", gpus=2, instance_type="omics.g5.2xlarge")
    listed = {item["taskId"]: item for item in client.list_run_tasks(id=run_id)["items"]}
    assert (listed[cpu]["gpus"], listed[gpu]["gpus"]) == (0, 2)
    task = client.get_run_task(id=run_id, taskId=gpu)
    assert (task["gpus"], task["instanceType"]) == (2, "omics.g5.2xlarge")
    assert client.get_run_task(id=run_id, taskId=cpu)["instanceType"].startswith("omics.c.")
    with pytest.raises(ValueError, match="gpus must be an integer of at least 0"):
        omics.add_run_task(ACCOUNT, REGION, run_id, name="t", gpus=-1)


def test_run_task_errors(client: Any) -> None:
    run_id = _run(client, _workflow(client))
    with pytest.raises(ClientError) as no_task:
        client.get_run_task(id=run_id, taskId="7654321")
    assert _error(no_task) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as no_run:
        client.list_run_tasks(id="7654321")
    assert _error(no_run) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as deleted_status:
        client.list_run_tasks(id=run_id, status="DELETED")  # TaskStatus has no DELETED
    assert _error(deleted_status) == ("ValidationException", 400)
    with pytest.raises(ValueError, match="status must be one of"):
        omics.add_run_task(ACCOUNT, REGION, run_id, name="t", status="DELETED")
    with pytest.raises(ValueError, match="regular expression pattern"):
        omics.add_run_task(ACCOUNT, REGION, run_id, name="t", image_digest="md5:abc")
    with pytest.raises(omics.ResourceNotFoundException):
        omics.add_run_task(ACCOUNT, REGION, "7654321", name="t")


# ---- failed runs and tasks (failureReason, statusMessage) ---------------------------------

PULL_DENIED = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
    f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/my-workflow/bwa:0.7.17: 403 Forbidden"
)


def test_failed_run_carries_failure_reason_and_status_message(client: Any) -> None:
    """GetRun answers both members, validated against botocore's output shape (attach); ListRuns neither."""
    run_id = _run(client, _workflow(client))
    message = "HealthOmics doesn't have permission to access the image URI."
    omics.set_run_state(
        ACCOUNT, REGION, run_id, status="FAILED", failure_reason="ECR_PERMISSION_ERROR", status_message=message
    )
    run = client.get_run(id=run_id)
    assert (run["status"], run["failureReason"], run["statusMessage"]) == ("FAILED", "ECR_PERMISSION_ERROR", message)
    (item,) = client.list_runs()["items"]
    assert "failureReason" not in item and "statusMessage" not in item  # RunListItem has neither member
    # a run moved out of FAILED has no failure reason any more; its status message stays until replaced
    omics.set_run_state(ACCOUNT, REGION, run_id, status="RUNNING")
    again = client.get_run(id=run_id)
    assert "failureReason" not in again and again["statusMessage"] == message


def test_a_healthy_run_has_neither_member(client: Any) -> None:
    run = client.get_run(id=_run(client, _workflow(client)))
    assert "failureReason" not in run and "statusMessage" not in run


def test_failed_task_carries_failure_reason_and_status_message(client: Any) -> None:
    run_id = _run(client, _workflow(client))
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/my-workflow/bwa:0.7.17"
    task_id = omics.add_run_task(
        ACCOUNT,
        REGION,
        run_id,
        name="BWA_INDEX",
        status="FAILED",
        image=image,
        failure_reason="ECR_PERMISSION_ERROR",
        status_message=PULL_DENIED,
    )
    ok = omics.add_run_task(ACCOUNT, REGION, run_id, name="ALIGN", status="COMPLETED")
    task = client.get_run_task(id=run_id, taskId=task_id)  # validated against GetRunTask's output shape
    assert (task["status"], task["failureReason"], task["statusMessage"]) == (
        "FAILED",
        "ECR_PERMISSION_ERROR",
        PULL_DENIED,
    )
    assert task["imageDetails"] == {"image": image}
    healthy = client.get_run_task(id=run_id, taskId=ok)
    assert "failureReason" not in healthy and "statusMessage" not in healthy
    listed = client.list_run_tasks(id=run_id)["items"]  # TaskListItem has neither member
    assert all("failureReason" not in t and "statusMessage" not in t for t in listed)
    assert [t["taskId"] for t in client.list_run_tasks(id=run_id, status="FAILED")["items"]] == [task_id]


def test_seeded_failure_fields_must_fit_the_model(client: Any) -> None:
    """RunFailureReason/TaskFailureReason are 1-64 characters of the model's pattern; only FAILED ones carry one."""
    run_id = _run(client, _workflow(client))
    with pytest.raises(ValueError, match="only FAILED"):
        omics.set_run_state(ACCOUNT, REGION, run_id, status="COMPLETED", failure_reason="ECR_PERMISSION_ERROR")
    with pytest.raises(ValueError, match="less than or equal to 64"):
        omics.set_run_state(ACCOUNT, REGION, run_id, status="FAILED", failure_reason="X" * 65)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        omics.set_run_state(ACCOUNT, REGION, run_id, status="FAILED", failure_reason="")
    with pytest.raises(ValueError, match="regular expression pattern"):
        omics.set_run_state(ACCOUNT, REGION, run_id, status="FAILED", status_message="bell\x07")
    with pytest.raises(ValueError, match="only FAILED"):
        omics.add_run_task(ACCOUNT, REGION, run_id, name="t", status="RUNNING", failure_reason="OUT_OF_MEMORY_ERROR")
    with pytest.raises(ValueError, match="less than or equal to 64"):
        omics.add_run_task(ACCOUNT, REGION, run_id, name="t", status="FAILED", failure_reason="Y" * 65)
    assert client.get_run(id=run_id)["status"] == "PENDING"  # nothing was changed by the refusals
    assert client.list_run_tasks(id=run_id)["items"] == []


def test_the_model_names_the_members_the_sandbox_answers() -> None:
    """The members this extension serves exist in botocore's model with these shapes (and only in Get*)."""
    model = boto3.session.Session().client("omics", region_name=REGION).meta.service_model
    get_run = model.operation_model("GetRun").output_shape.members
    get_task = model.operation_model("GetRunTask").output_shape.members
    assert (get_run["failureReason"].name, get_run["statusMessage"].name) == ("RunFailureReason", "RunStatusMessage")
    assert (get_task["failureReason"].name, get_task["statusMessage"].name) == (
        "TaskFailureReason",
        "TaskStatusMessage",
    )
    assert get_run["failureReason"].metadata["max"] == get_task["failureReason"].metadata["max"] == 64
    for listed in ("RunListItem", "TaskListItem"):
        assert not {"failureReason", "statusMessage"} & set(model.shape_for(listed).members)


# ---- isolation and conformance --------------------------------------------------------


def test_state_is_per_account_and_region(client: Any) -> None:
    workflow_id = _workflow(client)
    assert _client("us-west-2").list_workflows()["items"] == []
    assert workflow_id in omics.omics_backends[ACCOUNT][REGION].workflows
    assert omics.omics_backends["210987654321"][REGION].workflows == {}


def test_state_is_reset_between_mocks(client: Any) -> None:
    assert client.list_workflows()["items"] == []  # earlier tests created workflows


def test_every_operation_answers_in_the_model_shape() -> None:
    seen: list[str] = []
    client = attach(boto3.client("omics", region_name=REGION), seen)  # raises ShapeViolation on mismatch
    workflow_id = _workflow(client, parameterTemplate={"sample": {"optional": True}})
    client.get_workflow(id=workflow_id)
    client.list_workflows()
    client.create_workflow_version(
        workflowId=workflow_id, versionName="v2", definitionZip=b"zip", containerRegistryMap=REGISTRY_MAP
    )
    client.get_workflow_version(workflowId=workflow_id, versionName="v2")
    client.list_workflow_versions(workflowId=workflow_id)
    run_id = _run(client, workflow_id, workflowVersionName="v2", sessionPolicy="{}", parameters={"sample": "x"})
    task_id = omics.add_run_task(
        ACCOUNT,
        REGION,
        run_id,
        name="t",
        image="i",
        image_digest="sha256:0",
        source_image="s",
        start_time=datetime.now(UTC),
        stop_time=datetime.now(UTC),
    )
    client.get_run(id=run_id)
    client.list_runs()
    client.list_run_tasks(id=run_id)
    client.get_run_task(id=run_id, taskId=task_id)
    client.cancel_run(id=run_id)
    client.delete_workflow(id=workflow_id)
    assert set(seen) == IMPLEMENTED


# ---- exported definitions (GetWorkflow / GetWorkflowVersion export=DEFINITION) -----------

_EXPORT_ZIP = b"PK\x03\x04 exported definition v1"
_REPOSITORY = {
    "connectionArn": f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0f3a1c2e-1111-2222-3333-444455556666",
    "fullRepositoryId": "genomics/pipelines",
}


def test_export_definition_serves_the_zip_of_the_workflow_and_of_each_version(client: Any) -> None:
    import requests

    workflow_id = _workflow(client, definitionZip=_EXPORT_ZIP)
    client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"PK\x03\x04 v2")

    url = client.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]  # shape-validated (attach)
    bucket = omics.definition_bucket_name(ACCOUNT, REGION)
    assert url.startswith(f"https://{bucket}.s3.{REGION}.amazonaws.com/")
    assert "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == _EXPORT_ZIP  # moto serves it (mock_aws intercepts requests)

    version_url = client.get_workflow_version(workflowId=workflow_id, versionName="v2", export=["DEFINITION"])[
        "definition"
    ]
    assert requests.get(version_url, timeout=10).content == b"PK\x03\x04 v2"
    # Asking again stores nothing new (content addressed) and serves the same bytes.
    again = client.get_workflow(id=workflow_id, export=["DEFINITION", "README"])["definition"]
    assert requests.get(again, timeout=10).content == _EXPORT_ZIP


def test_definition_is_omitted_unless_exported(client: Any) -> None:
    workflow_id = _workflow(client, definitionZip=_EXPORT_ZIP)
    client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"zip")
    assert "definition" not in client.get_workflow(id=workflow_id)
    assert "definition" not in client.get_workflow(id=workflow_id, export=["README"])
    assert "definition" not in client.get_workflow(id=workflow_id, export=[])
    assert "definition" not in client.get_workflow_version(workflowId=workflow_id, versionName="v2")
    # Nothing was copied to S3 for requests that did not export the definition.
    assert omics.definition_bucket_name(ACCOUNT, REGION) not in {
        b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
    }


def test_export_value_must_be_in_the_enum(client: Any) -> None:
    workflow_id = _workflow(client)
    with pytest.raises(ClientError) as bad:
        client.get_workflow(id=workflow_id, export=["SOURCE"])
    assert _error(bad) == ("ValidationException", 400)


def test_export_of_a_definition_uri_serves_the_s3_object_it_named(client: Any) -> None:
    import requests

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="defs")
    s3.put_object(Bucket="defs", Key="wf/main.zip", Body=b"PK\x03\x04 from s3")
    from_s3 = client.create_workflow(name="s3", definitionUri="s3://defs/wf/main.zip")["id"]
    # HealthOmics imports the definition at creation: a later change to the object is not the workflow's.
    s3.put_object(Bucket="defs", Key="wf/main.zip", Body=b"PK\x03\x04 changed later")
    url = client.get_workflow(id=from_s3, export=["DEFINITION"])["definition"]
    assert requests.get(url, timeout=10).content == b"PK\x03\x04 from s3"

    missing = client.create_workflow(name="gone", definitionUri="s3://defs/wf/none.zip")["id"]
    assert "definition" not in client.get_workflow(id=missing, export=["DEFINITION"])


def test_export_of_a_repository_definition_is_omitted(client: Any) -> None:
    workflow_id = client.create_workflow(name="repo", definitionRepository=_REPOSITORY, engine="NEXTFLOW")["id"]
    assert "definition" not in client.get_workflow(id=workflow_id, export=["DEFINITION"])


def test_exported_definition_through_the_server_is_a_plain_http_get() -> None:
    import urllib.request

    from auditor.sandbox.server import start_server

    with start_server() as server:
        remote = attach(server.client("omics"))
        workflow_id = remote.create_workflow(name="wf", definitionZip=_EXPORT_ZIP)["id"]
        remote.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"PK\x03\x04 v2")
        url = remote.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
        assert url.startswith(f"{server.url}/{omics.definition_bucket_name(ACCOUNT, REGION)}/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == _EXPORT_ZIP
        version_url = remote.get_workflow_version(workflowId=workflow_id, versionName="v2", export=["DEFINITION"])[
            "definition"
        ]
        with urllib.request.urlopen(version_url, timeout=10) as response:
            assert response.read() == b"PK\x03\x04 v2"
