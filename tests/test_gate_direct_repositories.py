"""The live gate on repositories a workflow names directly (built and pushed by a team, seed 004).

Their policies are collected for the gate's own images, so a repository set up as the HealthOmics guide says
PASSes, one without a policy FAILs naming it, and neither is an ERROR for want of data.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from auditor.cli import main
from auditor.sandbox import images
from tests.support.sandbox import REGION, ecr_uri, omics_statement, policy
from tests.support.workflows import nextflow_processes

DOCUMENTED_PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def _gate(tmp_path: Path, *images_named: str) -> tuple[int, dict[str, dict]]:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "main.nf").write_text(nextflow_processes(*images_named))
    out = tmp_path / "gate.json"
    rc = main(["gate", str(folder), "--region", REGION, "--format", "json", "--out", str(out)])
    doc = json.loads(out.read_text())
    access = {f["resource"]: f for f in doc["findings"] if f["rule_id"] == "gate-container-access"}
    return rc, access


@pytest.mark.parametrize("with_policy", [True, False])
def test_live_gate_judges_a_directly_used_repository(aws: boto3.Session, tmp_path: Path, with_policy: bool) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="my-workflow/bwa")
    images.push_image(ecr, "my-workflow/bwa", tag="0.7.17", architecture="amd64")
    if with_policy:
        ecr.set_repository_policy(
            repositoryName="my-workflow/bwa", policyText=policy(omics_statement(DOCUMENTED_PULL, "OmicsPull"))
        )
    rc, access = _gate(tmp_path, ecr_uri("my-workflow/bwa:0.7.17"))
    (finding,) = access.values()
    assert finding["status"] == ("PASS" if with_policy else "FAIL"), finding["message"]
    if not with_policy:
        assert "repository my-workflow/bwa's policy does not let omics pull" in finding["message"]
    assert rc == (0 if with_policy else 1)
