"""``copy``'s pure parts: namespaces, the ECR helper's shorthand, which cache rule serves a reference, the part
re-cutting, the registry map, bad manifest files, and where the audit points at `copy` (gate, map plans,
failed runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.copy import (
    CopyError,
    CopyItem,
    CopyReport,
    _parts,
    expand_helper_shorthand,
    namespace_for,
    references_from_manifest,
    registry_map,
    serving_rule,
)
from auditor.gate.regmap import schema_problems
from auditor.models import PtcRule
from auditor.refs import parse_reference
from auditor.run_failures import Kind, copy_command


@pytest.mark.parametrize(
    ("registry", "namespace"),
    [
        ("docker.io", "dockerhub"),
        ("gcr.io", "gcr"),
        ("us.gcr.io", "gcr"),
        ("europe-west1-docker.pkg.dev", "gar"),
        ("ghcr.io", "ghcr"),
        ("mcr.microsoft.com", "mcr"),
        ("quay.io", "quay"),
        ("127.0.0.1:5000", "127.0.0.1-5000"),
        ("Registry.Example.ORG", "registry.example.org"),
    ],
)
def test_namespaces_follow_the_ecr_helper(registry: str, namespace: str) -> None:
    assert namespace_for(registry) == namespace


def test_configured_namespaces_win() -> None:
    assert namespace_for("ghcr.io", {"ghcr.io": "github"}) == "github"
    assert namespace_for("registry.example.org", {"Registry.Example.org": "example"}) == "example"


def test_helper_shorthand_only_for_its_namespaces() -> None:
    assert expand_helper_shorthand("quay/biocontainers/bwa-mem2:2.2.1") == "quay.io/biocontainers/bwa-mem2:2.2.1"
    assert expand_helper_shorthand("ecr-public/aws-genomics/google/deepvariant:1.4.0") == (
        "public.ecr.aws/aws-genomics/google/deepvariant:1.4.0"
    )
    assert expand_helper_shorthand("ubuntu:20.04") == "ubuntu:20.04"
    assert expand_helper_shorthand("biocontainers/samtools:1") == "biocontainers/samtools:1"


def _rule(prefix: str, url: str, *, credential: str | None = None, upstream_prefix: str | None = None) -> PtcRule:
    return PtcRule(
        ecr_repository_prefix=prefix,
        upstream_registry_url=url,
        credential_arn=credential,
        upstream_repository_prefix=upstream_prefix,
    )


def test_serving_rule_picks_the_rule_of_the_registry() -> None:
    rules = [_rule("quay", "quay.io"), _rule("ecr-public", "public.ecr.aws")]
    served = serving_rule(parse_reference("quay.io/biocontainers/samtools:1.17"), rules)
    assert served is not None and served[1] == "quay/biocontainers/samtools"
    assert serving_rule(parse_reference("ghcr.io/org/tool:1"), rules) is None


def test_docker_hub_is_served_only_by_a_rule_with_a_credential() -> None:
    ref = parse_reference("ubuntu:22.04")
    assert serving_rule(ref, [_rule("docker-hub", "registry-1.docker.io")]) is None
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
    served = serving_rule(ref, [_rule("docker-hub", "registry-1.docker.io", credential=arn)])
    assert served is not None and served[1] == "docker-hub/library/ubuntu"


def test_an_upstream_repository_prefix_narrows_the_rule() -> None:
    rules = [_rule("team", "quay.io", upstream_prefix="biocontainers")]
    served = serving_rule(parse_reference("quay.io/biocontainers/samtools:1.17"), rules)
    assert served is not None and served[1] == "team/samtools"
    assert serving_rule(parse_reference("quay.io/other/tool:1"), rules) is None


def test_parts_recut_any_chunking_into_the_part_size() -> None:
    data = bytes(range(256)) * 100
    chunks = [data[i : i + 777] for i in range(0, len(data), 777)]
    parts = list(_parts(iter(chunks), 4096))
    assert b"".join(parts) == data
    assert all(len(p) == 4096 for p in parts[:-1]) and 0 < len(parts[-1]) <= 4096
    assert list(_parts(iter([]), 10)) == [b""]  # an empty blob is one empty part


def test_registry_map_has_the_rules_used_and_an_image_mapping_per_copy() -> None:
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    report = CopyReport(account="123456789012", region="us-east-1", applied=True, started=datetime.now(UTC))
    report.items = [
        CopyItem(
            source="quay.io/biocontainers/samtools:1.17",
            normalized="quay.io/biocontainers/samtools:1.17",
            action="prime",
            outcome="done",
            repository="quay/biocontainers/samtools",
            destination=f"{host}/quay/biocontainers/samtools:1.17",
            ptc_prefix="quay",
            upstream_registry_url="quay.io",
        ),
        CopyItem(
            source="ghcr.io/org/tool:1",
            normalized="ghcr.io/org/tool:1",
            action="copy",
            outcome="done",
            repository="ghcr/org/tool",
            destination=f"{host}/ghcr/org/tool:1",
        ),
        CopyItem(source="ghcr.io/org/broken:1", normalized="ghcr.io/org/broken:1", action="fail", outcome="failed"),
    ]
    crm = registry_map(report)
    assert crm["registryMappings"] == [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]
    assert crm["imageMappings"] == [
        {"sourceImage": "ghcr.io/org/tool:1", "destinationImage": f"{host}/ghcr/org/tool:1"}
    ]
    assert schema_problems(crm) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "image manifest"),
        ('{"manifest": "ubuntu"}', "expected"),
        ('{"manifest": [1, 2]}', "expected"),
        (json.dumps({"manifest": ["x"] * 1001}), "at most 1000"),
    ],
)
def test_a_bad_manifest_file_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(CopyError, match=message):
        references_from_manifest(path)


def test_the_seed_003_manifest_reads_as_the_helper_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "container_image_manifest.json"
    path.write_text(json.dumps({"manifest": ["ubuntu:20.04", "quay/biocontainers/bwa-mem2:2.2.1--he513fc3_0"]}))
    assert references_from_manifest(path) == ["ubuntu:20.04", "quay.io/biocontainers/bwa-mem2:2.2.1--he513fc3_0"]


def test_a_failed_run_with_a_missing_image_carries_the_copy_command() -> None:
    assert copy_command(Kind.IMAGE_NOT_FOUND, "ubuntu:22.04", "us-east-1") == (
        "omics-ecr-audit copy docker.io/library/ubuntu:22.04 --region us-east-1"
    )
    assert copy_command(Kind.REPOSITORY_MISSING, "quay.io/a/b:1", "eu-west-1") is not None
    assert copy_command(Kind.ECR_ACCESS, "ubuntu:22.04", "us-east-1") is None  # access is a policy problem
    assert copy_command(Kind.IMAGE_NOT_FOUND, None, "us-east-1") is None
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tools/x:1"
    assert copy_command(Kind.IMAGE_NOT_FOUND, ecr, "us-east-1") is None  # nothing upstream to copy from
    # a hostile source image is quoted for the shell, never run
    quoted = copy_command(Kind.IMAGE_NOT_FOUND, "quay.io/a/b:1", "us-east-1;rm")
    assert quoted is not None and "'us-east-1;rm'" in quoted


def test_the_gate_points_at_copy_for_an_upstream_reference_only() -> None:
    from auditor.gate.gate import _with_copy

    text = _with_copy("Add a mapping.", "ghcr.io/org/tool:1", "us-east-1")
    assert text.startswith("Add a mapping.") and "`omics-ecr-audit copy ghcr.io/org/tool:1 --region us-east-1`" in text
    assert _with_copy("Add a mapping.", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "us-east-1") == (
        "Add a mapping."
    )
    assert _with_copy("Add a mapping.", "not a reference!", "us-east-1") == "Add a mapping."
