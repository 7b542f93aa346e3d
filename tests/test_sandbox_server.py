"""The sandbox served by ThreadedMotoServer: HealthOmics and CloudTrail over real HTTP."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import auditor.sandbox
from auditor.sandbox import cloudtrail, omics
from auditor.sandbox.server import HOST_PREFIX_ENV, S3_ENDPOINT_ENV, SandboxServer, start_server
from tests.support.shapes import attach

ACCOUNT = "123456789012"  # moto's account for the "testing" access key
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
HAS_ECR_EXTENSION = importlib.util.find_spec("auditor.sandbox.ecr") is not None


def _install_own_extensions() -> None:
    # The ECR extension is developed separately; these tests must not depend on it.
    cloudtrail.install()
    omics.install()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auditor.sandbox, "install", _install_own_extensions)
        with start_server() as running:
            yield running


@pytest.fixture(autouse=True)
def reset(server: SandboxServer) -> None:
    requests.post(f"{server.url}/moto-api/reset", timeout=5).raise_for_status()


def _client(server: SandboxServer, service: str, region: str = REGION) -> Any:
    # Exactly how the tools call the sandbox: a plain client with endpoint_url.
    client = boto3.client(
        service,
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return attach(client)


def _error(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_url_and_environment(server: SandboxServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0
    assert os.environ[S3_ENDPOINT_ENV] == server.url
    assert os.environ[HOST_PREFIX_ENV] == "true"


def test_stop_restores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditor.sandbox, "install", _install_own_extensions)
    monkeypatch.setenv(S3_ENDPOINT_ENV, "http://before")
    monkeypatch.delenv(HOST_PREFIX_ENV, raising=False)
    second = start_server(port=0)
    assert os.environ[S3_ENDPOINT_ENV] == second.url
    second.stop()
    second.stop()  # idempotent
    assert os.environ[S3_ENDPOINT_ENV] == "http://before"
    assert HOST_PREFIX_ENV not in os.environ
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{second.url}/moto-api/", timeout=2)


def test_port_in_use_raises_instead_of_hanging(server: SandboxServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        start_server(port=port)
    assert os.environ[S3_ENDPOINT_ENV] == server.url


def test_botocore_would_prefix_the_server_host(server: SandboxServer) -> None:
    # Why the server disables host prefix injection: with it, the host does not resolve.
    client = boto3.client(
        "omics",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(inject_host_prefix=True),
    )
    urls: list[str] = []

    class Captured(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise Captured  # stop before the DNS lookup that would fail

    client.meta.events.register("before-send.omics", capture)
    with pytest.raises(Captured):
        client.list_workflows()
    assert urls == [server.url.replace("http://", "http://workflows-") + "/workflow"]


def test_omics_lifecycle_through_the_server(server: SandboxServer) -> None:
    client = _client(server, "omics")
    registry_map = {
        "registryMappings": [{"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"}]
    }
    workflow_id = client.create_workflow(name="wf", definitionZip=b"zip", containerRegistryMap=registry_map)["id"]
    assert client.get_workflow(id=workflow_id)["containerRegistryMap"] == registry_map
    client.create_workflow_version(workflowId=workflow_id, versionName="v2", definitionZip=b"zip")
    assert client.get_workflow_version(workflowId=workflow_id, versionName="v2")["versionName"] == "v2"
    assert len(client.list_workflow_versions(workflowId=workflow_id)["items"]) == 1

    run_ids = [
        client.start_run(workflowId=workflow_id, roleArn=ROLE, outputUri="s3://out/", name=f"r{i}")["id"]
        for i in range(3)
    ]
    start = datetime.now(UTC) - timedelta(hours=1)
    omics.set_run_state(ACCOUNT, REGION, run_ids[0], status="RUNNING", start_time=start)
    task_id = omics.add_run_task(
        ACCOUNT, REGION, run_ids[0], name="align", image="img", image_digest="sha256:1", source_image="ubuntu:22.04"
    )
    run = client.get_run(id=run_ids[0])
    assert (run["status"], run["roleArn"], run["startTime"]) == ("RUNNING", ROLE, start)
    pages = list(client.get_paginator("list_runs").paginate(PaginationConfig={"PageSize": 2}))
    assert sorted(item["id"] for page in pages for item in page["items"]) == sorted(run_ids)
    assert client.list_runs(status="RUNNING")["items"][0]["id"] == run_ids[0]
    assert [t["taskId"] for t in client.list_run_tasks(id=run_ids[0])["items"]] == [task_id]
    assert client.get_run_task(id=run_ids[0], taskId=task_id)["imageDetails"]["sourceImage"] == "ubuntu:22.04"
    client.cancel_run(id=run_ids[1])
    assert client.get_run(id=run_ids[1])["status"] == "CANCELLED"
    assert len(client.list_workflows()["items"]) == 1
    client.delete_workflow(id=workflow_id)


def test_omics_errors_through_the_server(server: SandboxServer) -> None:
    client = _client(server, "omics")
    with pytest.raises(ClientError) as missing:
        client.get_run(id="7654321")
    assert _error(missing) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as invalid:
        client.create_workflow(
            name="wf",
            definitionZip=b"zip",
            containerRegistryMap={
                "registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "x" * 300}]
            },
        )
    assert _error(invalid) == ("ValidationException", 400)
    workflow_id = client.create_workflow(name="wf", definitionZip=b"zip")["id"]
    run_id = client.start_run(workflowId=workflow_id, roleArn=ROLE, outputUri="s3://out/")["id"]
    client.cancel_run(id=run_id)
    with pytest.raises(ClientError) as conflict:
        client.cancel_run(id=run_id)
    assert _error(conflict) == ("ConflictException", 409)


def test_omics_state_is_per_region_in_server_mode(server: SandboxServer) -> None:
    _client(server, "omics").create_workflow(name="wf", definitionZip=b"zip")
    assert _client(server, "omics", "eu-west-1").list_workflows()["items"] == []


def test_helper_client_works_without_the_environment(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOST_PREFIX_ENV)
    client = attach(server.client("omics"))
    assert client.meta.config.inject_host_prefix is False
    assert client.list_workflows()["items"] == []


def test_cloudtrail_lookup_events_through_the_server(server: SandboxServer) -> None:
    now = datetime.now(UTC)
    ids = [
        cloudtrail.record_event(
            ACCOUNT,
            REGION,
            event_source="ecr.amazonaws.com",
            event_name="CreatePullThroughCacheRule",
            request_parameters={"n": i},
            event_time=now - timedelta(minutes=i),
        )
        for i in range(5)
    ]
    client = _client(server, "cloudtrail")
    pages = list(
        client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreatePullThroughCacheRule"}],
            PaginationConfig={"PageSize": 2},
        )
    )
    assert [e["EventId"] for p in pages for e in p["Events"]] == ids
    with pytest.raises(ClientError) as exc:
        client.lookup_events(MaxResults=51)
    assert _error(exc) == ("InvalidMaxResultsException", 400)


@pytest.mark.skipif(not HAS_ECR_EXTENSION, reason="auditor.sandbox.ecr is not written yet")
def test_start_server_with_every_extension() -> None:
    with start_server() as full:
        assert _client(full, "omics").list_workflows()["items"] == []


@pytest.mark.skipif(not HAS_ECR_EXTENSION, reason="python -m installs every extension, ECR included")
def test_module_entry_point_serves_until_terminated() -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor.sandbox.server", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        client = boto3.client(
            "omics",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(inject_host_prefix=False),
        )
        assert attach(client).list_workflows()["items"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
