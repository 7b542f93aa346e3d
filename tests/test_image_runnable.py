"""image-runnable through boto3 against the sandbox: ENTRYPOINT, AWS_WORKFLOW_ variables, shell, size, Java notes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.digest_cache import DigestCache
from auditor.engine import RuleContext, load_builtin_rules, run_rule
from auditor.findings import Status
from auditor.manifests import config_facts, entrypoint_is_shell, known_shell
from auditor.models import Snapshot
from auditor.sandbox import images
from tests.support.faults import Fault, denied
from tests.support.sandbox import ACCOUNT, REGION, by_resource, ecr_uri, run_scan
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


def test_index_is_not_inspected(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/multi")
    images.push_index(ecr, "tools/multi", tag="1", platforms=["linux/amd64", "linux/arm64"])
    workflow(aws, ecr_uri("tools/multi:1"))
    finding = by_resource(scan(aws), RULE)[f"{repo_arn('tools/multi')}:1"]
    assert finding.status == Status.NOT_APPLICABLE and "not inspected" in finding.message


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
        path.write_text(path.read_text().replace('"schema":2', '"schema":1'))
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
