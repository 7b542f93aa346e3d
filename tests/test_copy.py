"""``copy`` end to end: a real registry on 127.0.0.1 (Debian's docker-registry) as the upstream, the sandbox's ECR
(layer-upload API through boto3) as the destination; then the audit's own rules judge what was copied."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.config import CopySettings
from auditor.copy import APPLY_PERMISSIONS, Copier, CopyError, CopyReport
from auditor.registry import Credentials, RegistryClient, RegistryError
from auditor.sandbox.documents import OMICS, policy_document
from auditor.sandbox.registry_source import registry_source
from auditor.sandbox.upstream import set_upstream_source
from tests.support.local_registry import LocalRegistry, push_image, push_index, start_registry
from tests.support.sandbox import ACCOUNT, REGION, by_resource, run_scan
from tests.support.workflows import nextflow_definition

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as reg:
        push_image(reg, "team/tool", "1", config={"Cmd": ["/bin/bash"]})
        push_index(reg, "team/multi", "2", platforms=["linux/amd64", "linux/arm64"], attestations=True)
        push_index(reg, "team/list", "3", platforms=["linux/amd64", "linux/ppc64le"], media_type=DOCKER_LIST)
        push_image(reg, "team/armonly", "1", platform="linux/arm64")
        push_image(reg, "team/big", "1", layer_sizes=[23 * 1024 * 1024, 1024])
        yield reg


@pytest.fixture(scope="module")
def private_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with start_registry(tmp_path_factory.mktemp("private"), token_auth=True) as reg:
        push_image(reg, "lab/secret-tool", "1")
        yield reg


def _settings(reg: LocalRegistry, **extra: Any) -> CopySettings:
    return CopySettings(namespaces={reg.host: "local"}, docker_config=False, **extra)


def _copy(
    aws: boto3.Session, refs: list[str], settings: CopySettings, *, apply: bool, tmp: Path, **kw: Any
) -> CopyReport:
    copier = Copier(aws, REGION, settings)
    report = copier.plan(refs)
    if apply:
        report = copier.apply(report, max_changes=kw.get("max_changes"), backup_to=str(tmp / "backups"))
    return report


def _uses(aws: boto3.Session, *uris: str) -> None:
    aws.client("omics").create_workflow(
        name=f"wf-{time.monotonic_ns()}", engine="NEXTFLOW", definitionZip=nextflow_definition(*uris)
    )


def test_plan_writes_nothing_and_apply_copies_with_the_digest(
    aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path
) -> None:
    refs = [f"{upstream.host}/team/tool:1", f"{upstream.host}/team/multi:2", f"{upstream.host}/team/list:3"]
    plan = _copy(aws, refs, _settings(upstream), apply=False, tmp=tmp_path)
    assert [i.action for i in plan.items] == ["copy", "copy", "copy"]
    assert aws.client("ecr").describe_repositories()["repositories"] == []  # the plan wrote nothing
    assert plan.items[1].platforms == ["linux/amd64", "linux/arm64"]

    done = _copy(aws, refs, _settings(upstream), apply=True, tmp=tmp_path)
    assert [i.outcome for i in done.items] == ["done", "done", "done"], [i.reason for i in done.items]
    ecr = aws.client("ecr")
    for item, ref in zip(done.items, refs, strict=True):
        client = RegistryClient(upstream.host)
        name = ref.split("/", 1)[1].rsplit(":", 1)[0]
        upstream_digest = client.manifest(name, ref.rsplit(":", 1)[1]).digest
        assert item.digest == upstream_digest
        held = ecr.describe_images(repositoryName=item.repository, imageIds=[{"imageDigest": upstream_digest}])
        assert held["imageDetails"][0]["imageDigest"] == upstream_digest
    # every repository copy created carries the omics pull statement (its only statement)
    policy = json.loads(ecr.get_repository_policy(repositoryName="local/team/tool")["policyText"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": OMICS}]
    # the map: one image mapping per copy, in the shape CreateWorkflow takes
    assert [m["sourceImage"] for m in done.registry_map["imageMappings"]] == refs
    assert {m["destinationImage"] for m in done.registry_map["imageMappings"]} == {i.destination for i in done.items}
    # a second run changes nothing
    again = _copy(aws, refs, _settings(upstream), apply=True, tmp=tmp_path)
    assert [i.action for i in again.items] == ["skip", "skip", "skip"] and again.write_count == 0
    assert not any(
        op.startswith(("ecr:Put", "ecr:Upload", "ecr:Initiate", "ecr:Create", "ecr:Set")) for op in again.api_calls
    )


def test_the_copies_pass_the_audit(aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path) -> None:
    refs = [f"{upstream.host}/team/tool:1", f"{upstream.host}/team/multi:2"]
    done = _copy(aws, refs, _settings(upstream), apply=True, tmp=tmp_path)
    _uses(aws, *(i.destination or "" for i in done.items))
    doc = run_scan(aws, rules=["image-not-arm-only", "image-runnable", "repository-policy-grants-omics"])
    for item in done.items:
        arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{item.repository}"
        for rule in ("image-not-arm-only", "image-runnable"):
            assert by_resource(doc, rule)[f"{arn}:{item.destination.rsplit(':', 1)[1]}"].status.value == "PASS"
        assert by_resource(doc, "repository-policy-grants-omics")[arn].status.value == "PASS"


def test_a_large_layer_goes_in_parts_and_an_interrupted_copy_resumes(
    aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{upstream.host}/team/big:1"
    calls: list[int] = []
    original = RegistryClient.blob_chunks

    def fail_after_first_blob(self: RegistryClient, repository: str, digest: str, **kw: Any) -> Iterator[bytes]:
        calls.append(1)
        if len(calls) > 2:  # the plan read the config, the apply uploaded it; the network "breaks" at the layers
            raise RegistryError("network", "connection reset by the test")
        return original(self, repository, digest, **kw)

    monkeypatch.setattr(RegistryClient, "blob_chunks", fail_after_first_blob)
    broken = _copy(aws, [ref], _settings(upstream), apply=True, tmp=tmp_path)
    assert broken.items[0].outcome == "failed" and "connection reset" in broken.items[0].reason
    assert broken.failed
    monkeypatch.setattr(RegistryClient, "blob_chunks", original)
    resumed = _copy(aws, [ref], _settings(upstream), apply=True, tmp=tmp_path)
    item = resumed.items[0]
    assert item.outcome == "done" and item.blobs_skipped >= 1  # the config uploaded before the break
    assert resumed.api_calls["ecr:UploadLayerPart"] >= 3  # a 23 MiB layer in 10 MiB parts
    assert item.bytes_copied > 23 * 1024 * 1024


def test_an_arm_only_image_is_refused(aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path) -> None:
    plan = _copy(aws, [f"{upstream.host}/team/armonly:1"], _settings(upstream), apply=False, tmp=tmp_path)
    assert plan.items[0].action == "fail" and "linux/arm64" in plan.items[0].reason and "amd64" in plan.items[0].reason
    assert plan.failed


def test_max_changes_refuses_before_any_write(aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path) -> None:
    copier = Copier(aws, REGION, _settings(upstream))
    report = copier.plan([f"{upstream.host}/team/tool:1", f"{upstream.host}/team/multi:2"])
    with pytest.raises(CopyError, match="more than --max-changes 2"):
        copier.apply(report, max_changes=2, backup_to=str(tmp_path / "b"))
    assert aws.client("ecr").describe_repositories()["repositories"] == []


def test_an_existing_policy_is_merged_and_backed_up(
    aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path
) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="local/team/tool")
    other = {"Sid": "Ci", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["ecr:*"]}
    ecr.set_repository_policy(repositoryName="local/team/tool", policyText=policy_document(other))
    done = _copy(aws, [f"{upstream.host}/team/tool:1"], _settings(upstream), apply=True, tmp=tmp_path)
    assert done.items[0].outcome == "done" and done.backup
    sids = [
        s.get("Sid")
        for s in json.loads(ecr.get_repository_policy(repositoryName="local/team/tool")["policyText"])["Statement"]
    ]
    assert "Ci" in sids and len(sids) == 2
    (entry,) = json.loads(Path(done.backup).read_text())["entries"]  # rollback restores exactly this
    before = json.loads(entry["before"])
    assert entry["target"]["key"] == {"repositoryName": "local/team/tool"}
    assert [st["Sid"] for st in before["Statement"]] == ["Ci"]


def test_token_auth_upstream_with_a_secret(aws: boto3.Session, private_upstream: LocalRegistry, tmp_path: Path) -> None:
    assert private_upstream.credentials is not None
    secret = aws.client("secretsmanager").create_secret(
        Name="ecr-pullthroughcache/local",
        SecretString=json.dumps(
            {"username": private_upstream.credentials.username, "accessToken": private_upstream.credentials.password}
        ),
    )["ARN"]
    ref = f"{private_upstream.host}/lab/secret-tool:1"
    anonymous = _copy(aws, [ref], _settings(private_upstream), apply=False, tmp=tmp_path)
    assert anonymous.items[0].action == "fail" and "unauthorized" in anonymous.items[0].reason.lower()
    with_secret = _settings(private_upstream, credentials={private_upstream.host: secret})
    done = _copy(aws, [ref], with_secret, apply=True, tmp=tmp_path)
    assert done.items[0].outcome == "done", done.items[0].reason
    assert private_upstream.credentials.password not in done.model_dump_json()


def test_every_call_copy_makes_is_in_its_permissions(
    aws: boto3.Session, upstream: LocalRegistry, tmp_path: Path
) -> None:
    """`permissions --copy` covers every call a copy and a prime made (recorded, not listed by hand)."""
    from auditor.permissions import policy_for, uncovered

    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    set_upstream_source("quay.io", registry_source(upstream.host))
    try:
        done = _copy(
            aws, [f"{upstream.host}/team/multi:2", "quay.io/team/tool:1"], _settings(upstream), apply=True, tmp=tmp_path
        )
    finally:
        set_upstream_source("quay.io", None)
    assert [i.action for i in done.items] == ["copy", "prime"] and [i.outcome for i in done.items] == ["done"] * 2
    assert uncovered(policy_for("copy"), done.api_calls) == []
    assert set(done.api_calls) <= set(APPLY_PERMISSIONS)


def test_credentials_never_reach_the_report(private_upstream: LocalRegistry) -> None:
    assert private_upstream.credentials is not None
    creds = Credentials(private_upstream.credentials.username, private_upstream.credentials.password)
    assert creds.password not in repr(creds)
