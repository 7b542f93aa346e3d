"""``copy --manifest`` with the ECR helper's example manifest (seed 003), as a user runs it: each command its own
process against the sandbox server, whose cache rules import from a real registry on 127.0.0.1.

The demo account has cache rules for Docker Hub (with a credential), Quay, ECR Public and GHCR: six of the seven
images are primed through them (the sandbox serves those upstreams from the local registry, ``sandbox
--upstream``). us.gcr.io has no cache rule: it is replaced by the local registry, as the issue says, and copied.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.support.journeys import SandboxProcess, journey_env, run_cli
from tests.support.local_registry import LocalRegistry, push_image, push_index, start_registry
from tests.support.workflows import nextflow_definition

# seed 003's container_image_manifest.json, us.gcr.io replaced by the local registry (HOST)
SEED_003 = [
    "ubuntu:20.04",
    "HOST/broad-gatk/gatk:4.4.0.0",
    "ghcr.io/miniwdl-ext/miniwdl-aws:v0.9.0-1-g243f36f",
    "quay.io/biocontainers/bcftools:1.16--hfe4b78e_1",
    "public.ecr.aws/docker/library/python:3.9.16-bullseye",
    "quay/biocontainers/bwa-mem2:2.2.1--he513fc3_0",
    "ecr-public/aws-genomics/google/deepvariant:1.4.0",
]
UPSTREAM_IMAGES = {  # upstream repository -> tag, in the local registry
    "library/ubuntu": "20.04",
    "broad-gatk/gatk": "4.4.0.0",
    "miniwdl-ext/miniwdl-aws": "v0.9.0-1-g243f36f",
    "biocontainers/bcftools": "1.16--hfe4b78e_1",
    "docker/library/python": "3.9.16-bullseye",
    "biocontainers/bwa-mem2": "2.2.1--he513fc3_0",
    "aws-genomics/google/deepvariant": "1.4.0",
}
MULTI_PLATFORM = {"library/ubuntu", "docker/library/python", "broad-gatk/gatk"}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with start_registry(tmp_path_factory.mktemp("upstream")) as reg:
        for repository, tag in UPSTREAM_IMAGES.items():
            if repository in MULTI_PLATFORM:
                push_index(reg, repository, tag, platforms=["linux/amd64", "linux/arm64"], attestations=True)
            else:
                push_image(reg, repository, tag, config={"Cmd": ["/bin/bash"]})
        yield reg


@pytest.fixture(scope="module")
def server(upstream: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    served = ["registry-1.docker.io", "quay.io", "public.ecr.aws", "ghcr.io"]
    args = [arg for url in served for arg in ("--upstream", f"{url}={upstream.host}")]
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"), *args)
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        assert sandbox.stop(signal.SIGTERM) == 0


def _cli(server: SandboxProcess, tmp: Path, *args: str) -> Any:
    result = run_cli([*args, "--endpoint-url", server.url], cwd=tmp, env=journey_env(tmp))
    assert "Traceback" not in result.stdout + result.stderr, result.describe()
    return result


def test_seed_003_manifest_primes_or_copies_everything_then_changes_nothing(
    server: SandboxProcess, upstream: LocalRegistry, tmp_path: Path
) -> None:
    manifest = tmp_path / "container_image_manifest.json"
    manifest.write_text(json.dumps({"manifest": [m.replace("HOST", upstream.host) for m in SEED_003]}))
    config = tmp_path / "omics-ecr-audit.yaml"
    config.write_text(f"copy:\n  namespaces:\n    '{upstream.host}': gcr\n  docker_config: false\n")
    common = ["--manifest", str(manifest), "--config", str(config), "--region", "us-east-1"]
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    # The demo's GHCR credential is malformed on purpose (the audit reports it); a user fixes it first, as
    # `copy` says when it is not: "The secret value must be a JSON object with the keys username and accessToken".
    secrets = session.client("secretsmanager", endpoint_url=server.url)
    (ghcr,) = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "ghcr" in s["Name"]]
    secrets.put_secret_value(SecretId=ghcr, SecretString=json.dumps({"username": "u", "accessToken": "t"}))
    server.dirty = True

    plan = _cli(server, tmp_path, "copy", *common, "--out", "plan")
    assert plan.returncode == 0, plan.describe()
    planned = json.loads((tmp_path / "plan" / "copy-report.json").read_text())
    assert [i["action"] for i in planned["items"]] == ["prime", "copy", "prime", "prime", "prime", "prime", "prime"]
    assert not planned["applied"]

    first = _cli(server, tmp_path, "copy", *common, "--apply", "--out", "first")
    assert first.returncode == 0, first.describe()
    report = json.loads((tmp_path / "first" / "copy-report.json").read_text())
    assert [i["outcome"] for i in report["items"]] == ["done"] * 7, [i["reason"] for i in report["items"]]
    assert report["items"][1]["repository"] == "gcr/broad-gatk/gatk"
    assert report["items"][0]["repository"] == "docker-hub/library/ubuntu"
    # the map is printed and written; `map validate` accepts it against the account's rules
    crm = json.loads((tmp_path / "first" / "registry-map.json").read_text())
    assert "Container registry map for the workflow" in first.stdout and '"registryMappings"' in first.stdout
    assert {m["ecrRepositoryPrefix"] for m in crm["registryMappings"]} == {"docker-hub", "quay", "ecr-public", "ghcr"}
    assert [m["destinationImage"].split("/", 1)[1] for m in crm["imageMappings"]] == ["gcr/broad-gatk/gatk:4.4.0.0"]
    valid = _cli(
        server, tmp_path, "map", "validate", str(tmp_path / "first" / "registry-map.json"), "--region", "us-east-1"
    )
    assert valid.returncode == 0, valid.describe()

    second = _cli(server, tmp_path, "copy", *common, "--apply", "--out", "second")
    assert second.returncode == 0, second.describe()
    again = json.loads((tmp_path / "second" / "copy-report.json").read_text())
    assert [i["action"] for i in again["items"]] == ["skip"] * 7
    writes = [
        op
        for op in again["api_calls"]
        if op.split(":")[1].startswith(("Put", "Upload", "Initiate", "Create", "Set", "Complete"))
    ]
    assert writes == [] and "0 write(s)" in second.stdout

    # the copied and primed images pass the architecture, runnable and repository-policy rules
    omics = session.client("omics", endpoint_url=server.url, config=BotoConfig(inject_host_prefix=False))
    destinations = [i["destination"] for i in report["items"]]
    omics.create_workflow(
        name=f"seed-003-{time.monotonic_ns()}", engine="NEXTFLOW", definitionZip=nextflow_definition(*destinations)
    )
    server.dirty = True
    rules = "image-not-arm-only,image-runnable,repository-policy-grants-omics"
    scan = _cli(server, tmp_path, "scan", "--rules", rules, "--out", "scan", "--region", "us-east-1")
    findings = json.loads((tmp_path / "scan" / "findings.json").read_text())["findings"]
    repositories = {i["repository"] for i in report["items"]}
    ours = [f for f in findings if any(f"repository/{r}" in f["resource"] for r in repositories)]
    assert ours and all(f["status"] == "PASS" for f in ours), [
        (f["rule_id"], f["resource"], f["message"]) for f in ours if f["status"] != "PASS"
    ]
    assert {f["rule_id"] for f in ours} == set(rules.split(","))
    assert scan.returncode in (0, 1)
