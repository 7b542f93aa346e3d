"""image-runnable through boto3 against the sandbox: ENTRYPOINT, AWS_WORKFLOW_ variables, shell, size, Java notes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.config import parse_config
from auditor.digest_cache import SCHEMA, DigestCache
from auditor.engine import RuleContext, load_builtin_rules, run_rule
from auditor.errors import ConfigError
from auditor.findings import Severity, Status
from auditor.manifests import config_facts, entrypoint_is_shell, known_shell
from auditor.models import Snapshot
from auditor.sandbox import images
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.omics import add_run_task, set_run_state
from tests.support.faults import Fault, denied
from tests.support.sandbox import ACCOUNT, REGION, by_resource, ecr_uri, run_scan, trust
from tests.support.workflows import nextflow_definition

RULE = "image-runnable"


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def workflow(session: boto3.Session, *containers: str) -> str:
    return session.client("omics").create_workflow(
        name=f"wf-{time.monotonic_ns()}", engine="NEXTFLOW", definitionZip=nextflow_definition(*containers)
    )["id"]


def used_image(aws: boto3.Session, repo: str, tag: str, **kwargs: Any) -> str:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName=repo)
    images.push_image_with_config(ecr, repo, tag=tag, **kwargs)
    workflow(aws, ecr_uri(f"{repo}:{tag}"))
    return f"{repo_arn(repo)}:{tag}"


def scan(aws: boto3.Session, **kw: Any) -> Any:
    doc = run_scan(aws, rules=[RULE], **kw)
    needed = set(load_builtin_rules()[RULE].meta.permissions)
    assert set(doc.api_calls) <= needed, f"calls outside {RULE}'s facets: {set(doc.api_calls) - needed}"
    return doc


def test_plain_image_passes_with_bash_from_cmd(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/ok", "1", config={"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/bin"]})
    finding = by_resource(scan(aws), RULE)[resource]
    assert finding.status == Status.PASS, finding.message
    assert finding.evidence["shell"]["name"] == "bash" and finding.evidence["shell"]["seen_in"] == "Cmd"
    assert finding.evidence["entrypoint"] is None and finding.evidence["protected_variables"] == []
    assert isinstance(finding.evidence["size_bytes"], int) and finding.evidence["size_bytes"] > 0


def test_tool_entrypoint_fails_and_names_it_and_the_origin(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/ep", "1", config={"Entrypoint": ["/usr/local/bin/samtools"], "Cmd": ["--help"]})
    finding = by_resource(scan(aws), RULE)[resource]
    assert finding.status == Status.FAIL
    assert "/usr/local/bin/samtools" in finding.message
    assert finding.evidence["entrypoint"] == ["/usr/local/bin/samtools"]
    assert finding.evidence["origins"]


def test_shell_entrypoint_passes_with_a_note(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/sh", "1", config={"Entrypoint": ["/bin/sh", "-c"]})
    finding = by_resource(scan(aws), RULE)[resource]
    assert finding.status == Status.PASS
    assert any("plain shell" in n for n in finding.evidence["notes"])


def test_protected_variable_fails_by_name_never_value(aws: boto3.Session, tmp_path: Path) -> None:
    secret = "s3cr3t-value-never-printed"
    resource = used_image(
        aws, "tools/env", "1", config={"Env": [f"AWS_WORKFLOW_TOKEN={secret}", "PATH=/bin"], "Cmd": ["bash"]}
    )
    doc = scan(aws, digest_cache=tmp_path / "cache")
    finding = by_resource(doc, RULE)[resource]
    assert finding.status == Status.FAIL
    assert "AWS_WORKFLOW_TOKEN" in finding.message
    assert secret not in doc.model_dump_json()
    # the digest cache keeps the variable's name only
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "AWS_WORKFLOW_TOKEN" in stored and secret not in stored


def test_unknown_shell_and_java_flags_are_info_notes(aws: boto3.Session) -> None:
    resource = used_image(
        aws,
        "tools/java",
        "1",
        config={
            "Env": ["JAVA_TOOL_OPTIONS=-Xmx8g -XX:+UseG1GC"],
            "Labels": {"org.opencontainers.image.base.name": "gcr.io/distroless/java17"},
        },
    )
    finding = by_resource(scan(aws), RULE)[resource]
    assert finding.status == Status.PASS
    assert finding.evidence["shell"]["name"] == "unknown"
    assert finding.evidence["java_memory_flags"] == ["JAVA_TOOL_OPTIONS: -Xmx"]
    assert "8g" not in str(finding.evidence)
    notes = " ".join(finding.evidence["notes"])
    assert "distroless" in notes and "Java heap" in notes


class _SmallLimit(RuleContext):
    max_image_size_bytes: int = 10_000
    max_gpu_image_size_bytes: int = 20_000


def test_size_over_the_configured_maximum_fails(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/big", "1", config={"Cmd": ["bash"]}, layer_sizes=[6_000, 6_000])
    snaps: list[Snapshot] = []
    scan(aws, keep_snapshots=snaps)
    rule_obj = load_builtin_rules()[RULE]
    small = {f.resource: f for f in run_rule(rule_obj, snaps[0], _SmallLimit())}[resource]
    assert small.status == Status.FAIL and "12000 bytes" in small.message
    assert small.evidence["size_bytes"] == 12_000 and small.evidence["max_image_size_bytes"] == 10_000
    default = {f.resource: f for f in run_rule(rule_obj, snaps[0], RuleContext())}[resource]
    assert default.status == Status.PASS


def test_default_limits_are_the_fixed_quotas() -> None:
    """45 GiB on a CPU instance, 95 GiB on a GPU instance (HealthOmics workflow fixed size quotas)."""
    cfg = parse_config({})
    assert (cfg.max_image_size_bytes, cfg.max_gpu_image_size_bytes) == (45 * 1024**3, 95 * 1024**3)
    assert (RuleContext().max_image_size_bytes, RuleContext().max_gpu_image_size_bytes) == (45 * 1024**3, 95 * 1024**3)
    with pytest.raises(ConfigError, match="max_gpu_image_size_bytes must be at least max_image_size_bytes"):
        parse_config({"max_image_size_bytes": 2_000, "max_gpu_image_size_bytes": 1_000})


_LIMITS = {"max_image_size_bytes": 10_000, "max_gpu_image_size_bytes": 20_000}


def _run_with_task(aws: boto3.Session, repo: str, digest: str, *, gpus: int) -> str:
    """A finished run of a workflow that does not name the image, whose one task ran it with ``gpus`` GPUs."""
    iam = aws.client("iam")
    role_name = f"omics-{time.monotonic_ns()}"
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust())
    run_id = aws.client("omics").start_run(
        workflowId=workflow(aws, ecr_uri("tools/other:1")),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
        name=f"r-{time.monotonic_ns()}",
        outputUri="s3://out/x/",
    )["id"]
    now = datetime.now(UTC)
    set_run_state(ACCOUNT, REGION, run_id, status="COMPLETED", start_time=now - timedelta(hours=2), stop_time=now)
    add_run_task(ACCOUNT, REGION, run_id, name="CALL", image=ecr_uri(f"{repo}:1"), image_digest=digest, gpus=gpus)
    return run_id


def _between_limits(aws: boto3.Session, repo: str) -> str:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName=repo)
    return images.push_image_with_config(ecr, repo, tag="1", config={"Cmd": ["bash"]}, layer_sizes=[6_000, 6_000])


def test_between_the_limits_passes_when_every_recorded_task_had_gpus(aws: boto3.Session) -> None:
    digest = _between_limits(aws, "tools/gpu")
    _run_with_task(aws, "tools/gpu", digest, gpus=1)
    doc = scan(aws, config=_LIMITS)
    finding = next(f for f in doc.findings if f.rule_id == RULE and "tools/gpu" in f.resource)
    assert finding.status == Status.PASS, finding.message
    assert any("GPU-instance maximum" in n for n in finding.evidence["notes"])
    assert finding.evidence["size_quota"]["gpu_tasks"] and not finding.evidence["size_quota"]["cpu_tasks"]


def test_between_the_limits_fails_where_a_task_ran_it_without_gpus(aws: boto3.Session) -> None:
    digest = _between_limits(aws, "tools/cpu")
    run_id = _run_with_task(aws, "tools/cpu", digest, gpus=0)
    doc = scan(aws, config=_LIMITS)
    finding = next(f for f in doc.findings if f.rule_id == RULE and "tools/cpu" in f.resource)
    assert finding.status == Status.FAIL and finding.severity == Severity.HIGH
    assert f"run task {run_id}/" in finding.message and "without GPUs" in finding.message


def test_between_the_limits_in_a_definition_only_is_a_medium_fail(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/maybe", "1", config={"Cmd": ["bash"]}, layer_sizes=[6_000, 6_000])
    finding = by_resource(scan(aws, config=_LIMITS), RULE)[resource]
    assert finding.status == Status.FAIL and finding.severity == Severity.MEDIUM
    assert "nothing read shows that its uses do" in finding.message


def test_over_the_gpu_limit_fails_whatever_the_tasks(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/huge")
    digest = images.push_image_with_config(
        ecr, "tools/huge", tag="1", config={"Cmd": ["bash"]}, layer_sizes=[12_000, 12_000]
    )
    _run_with_task(aws, "tools/huge", digest, gpus=4)
    doc = scan(aws, config=_LIMITS)
    finding = next(f for f in doc.findings if f.rule_id == RULE and "tools/huge" in f.resource)
    assert finding.status == Status.FAIL and finding.severity == Severity.HIGH
    assert "even on a GPU instance" in finding.message


def test_index_is_judged_by_its_linux_amd64_image(aws: boto3.Session, tmp_path: Path) -> None:
    """What HealthOmics pulls from an index is its linux/amd64 image: that config is the one judged."""
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/multi")
    images.push_index(
        ecr,
        "tools/multi",
        tag="1",
        platforms=["linux/arm64", "linux/amd64"],
        configs={"linux/amd64": {"Entrypoint": ["/usr/bin/tini", "--"]}, "linux/arm64": {"Cmd": ["bash"]}},
        include_attestation=True,
    )
    workflow(aws, ecr_uri("tools/multi:1"))
    resource = f"{repo_arn('tools/multi')}:1"
    cold = scan(aws, digest_cache=tmp_path / "cache")
    finding = by_resource(cold, RULE)[resource]
    assert finding.status == Status.FAIL and "/usr/bin/tini" in finding.message
    child = finding.evidence["inspected_digest"]
    listed = json.loads(
        ecr.batch_get_image(repositoryName="tools/multi", imageIds=[{"imageTag": "1"}])["images"][0]["imageManifest"]
    )
    assert child == next(m["digest"] for m in listed["manifests"] if m["platform"]["architecture"] == "amd64")
    # cold: the index, its linux/amd64 manifest and that config; warm: the config comes from the digest cache.
    # Both manifests are read again because this repository is not listed (only a listed digest is trusted).
    assert cold.api_calls["ecr:BatchGetImage"] == 2 and cold.api_calls["ecr:GetDownloadUrlForLayer"] == 1
    warm = scan(aws, digest_cache=tmp_path / "cache")
    assert by_resource(warm, RULE)[resource].message == finding.message
    assert warm.api_calls["ecr:BatchGetImage"] == 2 and "ecr:GetDownloadUrlForLayer" not in warm.api_calls


def test_index_without_linux_amd64_is_left_to_the_architecture_rule(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/armonly")
    images.push_index(ecr, "tools/armonly", tag="1", platforms=["linux/arm64", "linux/arm/v7"])
    workflow(aws, ecr_uri("tools/armonly:1"))
    finding = by_resource(scan(aws), RULE)[f"{repo_arn('tools/armonly')}:1"]
    assert finding.status == Status.NOT_APPLICABLE and "without a linux/amd64 image" in finding.message


def test_index_whose_amd64_image_is_missing_says_so_and_is_not_cached(aws: boto3.Session, tmp_path: Path) -> None:
    """A pull-through cache may hold an index without every child: not inspected, with the child named."""
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/partial")
    images.push_index(ecr, "tools/partial", tag="1", platforms=["linux/amd64", "linux/arm64"])
    index = json.loads(
        ecr.batch_get_image(repositoryName="tools/partial", imageIds=[{"imageTag": "1"}])["images"][0]["imageManifest"]
    )
    amd64 = next(m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    ecr.batch_delete_image(repositoryName="tools/partial", imageIds=[{"imageDigest": amd64}])
    workflow(aws, ecr_uri("tools/partial:1"))
    finding = by_resource(scan(aws, digest_cache=tmp_path / "cache"), RULE)[f"{repo_arn('tools/partial')}:1"]
    assert finding.status == Status.NOT_APPLICABLE and f"{amd64} is not in the repository" in finding.message
    again = scan(aws, digest_cache=tmp_path / "cache")
    assert again.api_calls["ecr:BatchGetImage"] == 2  # the index was not stored: its verdict depends on the repo


def test_index_child_read_denied_is_error_only_for_this_rule(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/denychild")
    images.push_index(ecr, "tools/denychild", tag="1", platforms=["linux/amd64", "linux/arm64"])
    workflow(aws, ecr_uri("tools/denychild:1"))
    fault = Fault(aws, "ecr:GetDownloadUrlForLayer", denied("ecr"))
    doc = run_scan(aws, rules=[RULE, "image-not-arm-only"])
    resource = f"{repo_arn('tools/denychild')}:1"
    assert fault.injected
    assert by_resource(doc, RULE)[resource].status == Status.ERROR
    assert by_resource(doc, "image-not-arm-only")[resource].status == Status.PASS


def test_config_download_denied_is_error(aws: boto3.Session) -> None:
    resource = used_image(aws, "tools/denied", "1", config={"Cmd": ["bash"]})
    fault = Fault(aws, "ecr:GetDownloadUrlForLayer", denied("ecr"))
    finding = by_resource(scan(aws), RULE)[resource]
    assert fault.injected and finding.status == Status.ERROR
    assert "ecr:GetDownloadUrlForLayer" in finding.message


def test_old_cache_entries_are_misses(aws: boto3.Session, tmp_path: Path) -> None:
    resource = used_image(aws, "tools/cached", "1", config={"Entrypoint": ["/opt/tool"]})
    cache = tmp_path / "cache"
    assert by_resource(scan(aws, digest_cache=cache), RULE)[resource].status == Status.FAIL
    for path in cache.rglob("*.json"):  # entries from before the entrypoint was stored (schema 1)
        path.write_text(path.read_text().replace(f'"schema":{SCHEMA}', '"schema":1'))
    again = DigestCache(cache)
    assert all(again.image(f"sha256:{p.stem}") is None for p in (cache / "m").rglob("*.json"))
    assert by_resource(scan(aws, digest_cache=cache), RULE)[resource].status == Status.FAIL


@pytest.mark.parametrize(
    ("entrypoint", "shell"),
    [
        (None, True),
        ([], True),
        (["/bin/bash"], True),
        (["sh", "-c"], True),
        (["/usr/bin/bash", "-c"], True),
        (["/bin/bash", "-l"], False),
        (["/usr/bin/tini", "--"], False),
        (["/docker-entrypoint.sh"], False),
        (["/opt/bin/bash"], False),
    ],
)
def test_which_entrypoints_count_as_a_shell(entrypoint: list[str] | None, shell: bool) -> None:
    assert entrypoint_is_shell(entrypoint) is shell


def test_config_facts_keep_names_not_values() -> None:
    facts = config_facts(
        '{"os":"linux","architecture":"amd64","config":{"Env":["A=1","AWS_WORKFLOW_X=secret",'
        '"_JAVA_OPTIONS=-XX:MaxRAMPercentage=100"],"Shell":["/bin/sh","-c"]}}'
    )
    assert facts.env_names == ["A", "AWS_WORKFLOW_X", "_JAVA_OPTIONS"]
    assert facts.java_memory_flags == ["_JAVA_OPTIONS: -XX:MaxRAMPercentage=100"]
    assert "secret" not in facts.model_dump_json()
    assert known_shell(None, None, facts.shell) == ("sh", "Shell")
    assert known_shell(None, ["samtools"], None) == ("unknown", "")


def test_an_index_cached_by_the_architecture_rule_is_inspected_once_then_served(
    aws: boto3.Session, tmp_path: Path
) -> None:
    """An architecture-only scan stores the index without its amd64 image's facts (it did not need them); the
    first image-runnable scan reads that image and replaces the entry; the next reads no manifest at all."""
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    simulate_ptc_pull(ACCOUNT, REGION, "quay/team/multi")
    images.push_index(
        ecr,
        "quay/team/multi",
        tag="1",
        platforms=["linux/amd64", "linux/arm64"],
        configs={"linux/amd64": {"Env": ["AWS_WORKFLOW_MODE=x"]}},
    )
    cache = tmp_path / "cache"
    arch_only = run_scan(aws, rules=["image-not-arm-only"], digest_cache=cache)
    assert arch_only.api_calls["ecr:BatchGetImage"] == 1  # the index alone
    first = scan(aws, digest_cache=cache)
    assert first.api_calls["ecr:BatchGetImage"] == 1  # the index from the cache, its amd64 image read
    (finding,) = [f for f in first.findings if f.rule_id == RULE]
    assert finding.status == Status.FAIL and "AWS_WORKFLOW_MODE" in finding.message
    second = scan(aws, digest_cache=cache)
    assert "ecr:BatchGetImage" not in second.api_calls and "ecr:GetDownloadUrlForLayer" not in second.api_calls
    assert [f.message for f in second.findings if f.rule_id == RULE] == [finding.message]
