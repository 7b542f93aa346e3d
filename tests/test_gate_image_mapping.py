"""Image mappings resolve to the destination as written: its repository and its own tag or digest.

HealthOmics pulls ``destinationImage`` exactly; the source's tag or digest only selects the mapping. So the
image lookup, the linux/amd64 check and the pinning check must all read the destination, never the source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.gate import gate_image_refs
from auditor.gate.resolve import resolve
from auditor.models import ContainerRegistryMap, ImageMapping, RegistryMapping
from auditor.sandbox import images
from auditor.sandbox.documents import omics_statement, policy_document
from tests.support.sandbox import ACCOUNT, PULL, REGION

HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
SOURCE = "broadinstitute/gatk:4.6.0.2"
DIGEST = "sha256:" + "c" * 64


def _map(destination: str) -> ContainerRegistryMap:
    return ContainerRegistryMap(image_mappings=[ImageMapping(source_image=SOURCE, destination_image=destination)])


def test_destination_tag_replaces_the_source_tag() -> None:
    res = resolve(SOURCE, _map(f"{HOST}/gatk:latest"), account=ACCOUNT, region=REGION)
    assert res.via == "image-mapping" and res.resolved
    assert res.ecr_uri == f"{HOST}/gatk:latest"
    assert (res.ecr_repository, res.pull_tag, res.pull_digest) == ("gatk", "latest", None)
    # the input is still described as written
    assert (res.tag, res.normalized) == ("4.6.0.2", "docker.io/broadinstitute/gatk:4.6.0.2")


def test_destination_without_tag_means_latest() -> None:
    res = resolve(SOURCE, _map(f"{HOST}/gatk"), account=ACCOUNT, region=REGION)
    assert res.ecr_uri == f"{HOST}/gatk:latest"
    assert (res.pull_tag, res.pull_digest) == ("latest", None)


def test_destination_digest_replaces_the_source_tag() -> None:
    res = resolve(SOURCE, _map(f"{HOST}/gatk@{DIGEST}"), account=ACCOUNT, region=REGION)
    assert res.ecr_uri == f"{HOST}/gatk@{DIGEST}"
    assert (res.pull_tag, res.pull_digest) == (None, DIGEST)


def test_source_digest_does_not_pin_a_tagged_destination() -> None:
    src = f"broadinstitute/gatk@{DIGEST}"
    crm = ContainerRegistryMap(image_mappings=[ImageMapping(source_image=src, destination_image=f"{HOST}/gatk:4.6")])
    res = resolve(src, crm, account=ACCOUNT, region=REGION)
    assert res.ecr_uri == f"{HOST}/gatk:4.6"
    assert (res.pull_tag, res.pull_digest) == ("4.6", None)
    assert any(w.startswith("unpinned") and "4.6" in w for w in res.warnings)


def test_pinning_warning_judges_the_destination() -> None:
    latest = resolve(SOURCE, _map(f"{HOST}/gatk:latest"), account=ACCOUNT, region=REGION)
    assert [w for w in latest.warnings if w.startswith("unpinned")]
    assert "'latest'" in latest.warnings[0] and "4.6.0.2" not in latest.warnings[0]
    pinned = resolve(SOURCE, _map(f"{HOST}/gatk@{DIGEST}"), account=ACCOUNT, region=REGION)
    assert not [w for w in pinned.warnings if w.startswith("unpinned")]


def test_registry_mapping_keeps_the_source_tag_and_digest() -> None:
    crm = ContainerRegistryMap(
        registry_mappings=[
            RegistryMapping(upstream_registry_url="registry-1.docker.io", ecr_repository_prefix="docker-hub")
        ]
    )
    res = resolve(SOURCE, crm, account=ACCOUNT, region=REGION)
    assert res.ecr_uri == f"{HOST}/docker-hub/broadinstitute/gatk:4.6.0.2"
    assert (res.pull_tag, res.pull_digest) == ("4.6.0.2", None)
    res = resolve(f"broadinstitute/gatk:4.6@{DIGEST}", crm, account=ACCOUNT, region=REGION)
    assert (res.pull_tag, res.pull_digest) == ("4.6", DIGEST)
    assert not res.warnings


def test_resolve_command_prints_the_pulled_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "map.json"
    m.write_text(json.dumps({"imageMappings": [{"sourceImage": SOURCE, "destinationImage": f"{HOST}/gatk:latest"}]}))
    main(["resolve", SOURCE, "--map", str(m), "--account", ACCOUNT, "--region", REGION])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["ecr_uri"] == f"{HOST}/gatk:latest"
    assert (row["pull_tag"], row["pull_digest"]) == ("latest", None)


# --- end to end: the gate live against the sandbox ------------------------------------------------

NEXTFLOW = """\
process GATK {
    container 'broadinstitute/gatk:4.6.0.2'
    script: "gatk"
}
"""


def _setup(aws, tmp_path: Path, destination: str, *, architecture: str, tag: str | None) -> str:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="gatk")
    ecr.set_repository_policy(repositoryName="gatk", policyText=policy_document(omics_statement(PULL)))
    digest = images.push_image(ecr, "gatk", tag=tag, architecture=architecture)
    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "main.nf").write_text(NEXTFLOW)
    destination = destination.replace("<digest>", digest)
    crm = {"imageMappings": [{"sourceImage": SOURCE, "destinationImage": destination}]}
    (tmp_path / "map.json").write_text(json.dumps(crm))
    return digest


def _gate(tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / "gate.json"
    argv = ["gate", str(tmp_path / "wf"), "--map", str(tmp_path / "map.json"), "--region", REGION]
    rc = main([*argv, "--format", "json", "--out", str(out), "--sarif", str(tmp_path / "gate.sarif")])
    return rc, json.loads(out.read_text())


def _findings(doc: dict) -> dict[str, dict]:
    return {f["rule_id"]: f for f in doc["findings"]}


def test_gate_passes_an_amd64_latest_destination_although_the_source_tag_is_absent(aws, tmp_path: Path) -> None:
    _setup(aws, tmp_path, f"{HOST}/gatk:latest", architecture="amd64", tag="latest")
    rc, doc = _gate(tmp_path)
    found = _findings(doc)
    assert found["gate-container-resolves"]["status"] == "PASS"
    # (gate-container-access is not asserted: a live gate does not read the repository policy of an image
    # mapping destination outside every PTC prefix unless an account workflow maps it; a collector matter)
    runnable = found["gate-image-runnable"]
    assert runnable["status"] == "PASS", runnable["message"]
    assert "gatk:latest" in runnable["message"] and "4.6.0.2" not in runnable["message"]
    # the destination's :latest is what is unpinned (an info-level warning)
    pinned = found["gate-image-pinned"]
    assert pinned["status"] == "FAIL" and "'latest'" in pinned["message"]
    (container,) = doc["containers"]
    assert container["ecr_uri"] == f"{HOST}/gatk:latest"
    assert container["checks"]["image"].startswith("PASS")
    sarif = json.loads((tmp_path / "gate.sarif").read_text())
    texts = [r["message"]["text"] for run in sarif["runs"] for r in run["results"]]
    assert not any("gatk:4.6.0.2" in t and "does not exist" in t for t in texts)
    assert not [f for f in doc["findings"] if f["status"] == "FAIL" and f["rule_id"] != "gate-image-pinned"]
    assert rc != 1


def test_gate_fails_an_arm64_only_latest_destination(aws, tmp_path: Path) -> None:
    _setup(aws, tmp_path, f"{HOST}/gatk:latest", architecture="arm64", tag="latest")
    rc, doc = _gate(tmp_path)
    runnable = _findings(doc)["gate-image-runnable"]
    assert runnable["status"] == "FAIL" and "ARM-only" in runnable["message"] and "gatk:latest" in runnable["message"]
    assert rc != 0


def test_gate_reads_a_digest_destination_and_counts_it_as_pinned(aws, tmp_path: Path) -> None:
    digest = _setup(aws, tmp_path, f"{HOST}/gatk@<digest>", architecture="amd64", tag=None)
    _, doc = _gate(tmp_path)
    found = _findings(doc)
    assert found["gate-image-runnable"]["status"] == "PASS" and digest in found["gate-image-runnable"]["message"]
    assert found["gate-image-pinned"]["status"] == "PASS"  # the source was a tag; the destination is pinned


def test_gate_image_refs_lists_the_destination_tag() -> None:
    ref = ContainerRef(file="main.nf", line=2, language="nextflow", context="GATK", expression="x", raw=SOURCE)
    extraction = Extraction(language="nextflow", root=".", containers=[ref])
    assert gate_image_refs([extraction], _map(f"{HOST}/gatk:latest"), ACCOUNT, REGION) == [("gatk", "latest", None)]
    assert gate_image_refs([extraction], _map(f"{HOST}/gatk@{DIGEST}"), ACCOUNT, REGION) == [("gatk", None, DIGEST)]
