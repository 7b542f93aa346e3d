"""What "HealthOmics can pull" means, end to end through boto3 against the sandbox.

One definition (``auditor.grants.OMICS_PULL_ACTIONS``: ecr:BatchGetImage + ecr:GetDownloadUrlForLayer, what
the HealthOmics permissions page's creation template grants; docs/aws-semantics.md §2, §3.3) for templates,
repository policies and service roles. A setup built from the documented template passes every rule, carries
an info note where ecr:BatchCheckLayerAvailability is absent, and ``fix`` plans nothing for it; the fixers
still write all three actions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor import grants
from auditor.cli import main
from auditor.findings import Status
from auditor.sandbox.ecr import simulate_ptc_pull
from tests.support.sandbox import ACCOUNT, PULL, REGION, by_resource, ecr_uri, omics_statement, policy, run_scan, trust
from tests.support.workflows import nextflow_definition
from tests.support.writes import count_writes

PASS, FAIL = Status.PASS, Status.FAIL
TWO = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
REPO = "repository-policy-grants-omics"
TEMPLATE = "creation-template-grants-omics"
ROLE = "service-role-can-pull"
NOTE = (
    "ecr:BatchCheckLayerAvailability is not granted; HealthOmics documents only BatchGetImage and "
    "GetDownloadUrlForLayer for pulls"
)
QUAY_MAP = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}
# The creation template statement of https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html
DOCUMENTED_TEMPLATE = policy(omics_statement(TWO, "PTCRepoCreationTemplate", Resource="*"))


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every write call any client of this process makes (scan, plan)."""
    return count_writes(monkeypatch)


def plan(out: Path, *rules: str) -> dict[str, Any]:
    """A plan-only ``fix`` run for ``rules``; returns plan.json."""
    main(["fix", "--out", str(out), "--quiet", "--rules", ",".join(rules)])
    return json.loads((out / "plan.json").read_text())


def omics_role(session: boto3.Session, name: str, actions: list[str], resource: str) -> str:
    iam = session.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust())
    statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
    iam.put_role_policy(RoleName=name, PolicyName="pull", PolicyDocument=policy(statement))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def workflow_run(session: boto3.Session, role: str, crm: dict[str, Any], *images: str) -> None:
    """A workflow whose definition names ``images`` (resolved through ``crm``), and a run of it as ``role``."""
    omics = session.client("omics")
    wf = omics.create_workflow(
        name="wf", engine="NEXTFLOW", definitionZip=nextflow_definition(*images), containerRegistryMap=crm
    )["id"]
    omics.start_run(workflowId=wf, roleArn=role, name="r", outputUri="s3://out/x/")


def test_one_definition_judges_and_fixers_write_all_three() -> None:
    assert grants.OMICS_PULL_ACTIONS == ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    assert not hasattr(grants, "PULL_ACTIONS") and not hasattr(grants, "TEMPLATE_PULL_ACTIONS")  # one name only
    assert list(grants.FIX_PULL_ACTIONS) == PULL


def test_documented_template_setup_passes_everywhere_and_fix_plans_nothing(
    aws: boto3.Session, tmp_path: Path, writes: Counter[str]
) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository_creation_template(
        prefix="quay", appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=DOCUMENTED_TEMPLATE
    )
    simulate_ptc_pull(ACCOUNT, REGION, "quay/biocontainers/bwa")  # created through the documented template
    role = omics_role(aws, "OmicsRole", TWO, repo_arn("quay/*"))
    workflow_run(aws, role, {"registryMappings": [QUAY_MAP]}, "quay.io/biocontainers/bwa:0.7.17")
    bwa = repo_arn("quay/biocontainers/bwa")
    cached_policy = ecr.get_repository_policy(repositoryName="quay/biocontainers/bwa")["policyText"]
    assert json.loads(cached_policy)["Statement"][0]["Sid"] == "PTCRepoCreationTemplate"

    doc = run_scan(aws, rules=[REPO, TEMPLATE, ROLE])
    repo = by_resource(doc, REPO)[bwa]
    assert repo.status == PASS
    assert repo.evidence["notes"] == [NOTE]
    assert repo.message == f"Repository quay/biocontainers/bwa lets omics.amazonaws.com pull (note: {NOTE})."
    assert "missing" not in repo.evidence
    assert by_resource(doc, TEMPLATE)["creation-template-coverage/quay"].status == PASS
    assert by_resource(doc, ROLE)[role].status == PASS
    assert by_resource(doc, ROLE)[role].evidence["notes"] == [NOTE]
    assert not [f for f in doc.findings if f.status == FAIL]

    writes.clear()
    planned = plan(tmp_path / "plan", REPO, TEMPLATE, ROLE)
    assert planned["changes"] == []
    assert not planned["refused"]
    assert sum(writes.values()) == 0
    assert ecr.get_repository_policy(repositoryName="quay/biocontainers/bwa")["policyText"] == cached_policy


def test_all_three_actions_pass_without_a_note(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository(repositoryName="quay/tool")
    ecr.set_repository_policy(repositoryName="quay/tool", policyText=policy(omics_statement(PULL, Resource="*")))
    finding = by_resource(run_scan(aws, rules=[REPO]), REPO)[repo_arn("quay/tool")]
    assert finding.status == PASS
    assert "notes" not in finding.evidence
    assert finding.message == "Repository quay/tool lets omics.amazonaws.com pull."


def test_policy_granting_only_batch_get_image_fails_and_fix_writes_three(
    aws: boto3.Session, tmp_path: Path, writes: Counter[str]
) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository(repositoryName="quay/tool")
    only = policy(omics_statement(["ecr:BatchGetImage"], Resource="*"))
    ecr.set_repository_policy(repositoryName="quay/tool", policyText=only)
    finding = by_resource(run_scan(aws, rules=[REPO]), REPO)[repo_arn("quay/tool")]
    assert finding.status == FAIL
    assert finding.evidence["missing"] == ["ecr:GetDownloadUrlForLayer"]
    assert "notes" not in finding.evidence

    planned = plan(tmp_path / "plan", REPO)
    [change] = planned["changes"]
    [call] = change["api_calls"]
    assert call["operation"] == "SetRepositoryPolicy"
    ours = [s for s in json.loads(call["params"]["policyText"])["Statement"] if s.get("Sid") == "OmicsEcrAuditPull"]
    assert ours[0]["Action"] == PULL  # the fixer still writes all three
    assert sum(writes.values()) == 0


def test_template_granting_only_batch_get_image_fails(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository_creation_template(
        prefix="quay",
        appliedFor=["PULL_THROUGH_CACHE"],
        repositoryPolicy=policy(omics_statement(["ecr:BatchGetImage"], "PTCRepoCreationTemplate", Resource="*")),
    )
    finding = by_resource(run_scan(aws, rules=[TEMPLATE]), TEMPLATE)["creation-template-coverage/quay"]
    assert finding.status == FAIL
    assert finding.evidence["missing"] == ["ecr:GetDownloadUrlForLayer"]


def test_role_granting_the_two_on_the_repository_arn_passes(
    aws: boto3.Session, tmp_path: Path, writes: Counter[str]
) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="custom/ubuntu")
    role = omics_role(aws, "OmicsRole", TWO, repo_arn("custom/ubuntu"))
    mapping = {"sourceImage": "ubuntu:22.04", "destinationImage": ecr_uri("custom/ubuntu:22.04")}
    workflow_run(aws, role, {"imageMappings": [mapping]}, "ubuntu:22.04")
    finding = by_resource(run_scan(aws, rules=[ROLE]), ROLE)[role]
    assert finding.status == PASS, finding.message
    assert list(finding.evidence["targets"]) == [repo_arn("custom/ubuntu")]
    assert finding.evidence["notes"] == [NOTE]
    assert NOTE in finding.message

    writes.clear()
    assert plan(tmp_path / "plan", ROLE)["changes"] == []
    assert sum(writes.values()) == 0


def test_role_granting_only_batch_get_image_fails(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    role = omics_role(aws, "OmicsRole", ["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"], repo_arn("quay/*"))
    workflow_run(aws, role, {"registryMappings": [QUAY_MAP]}, "quay.io/biocontainers/bwa:0.7.17")
    finding = by_resource(run_scan(aws, rules=[ROLE]), ROLE)[role]
    assert finding.status == FAIL
    assert "ecr:GetDownloadUrlForLayer not allowed" in finding.message
