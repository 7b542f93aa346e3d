"""lifecycle-keeps-used-images, pinned-by-digest and grants-scoped end to end: boto3 against the sandbox."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.ecr.models import ecr_backends

from auditor.engine import load_builtin_rules
from auditor.findings import Status
from auditor.sandbox import images
from auditor.sandbox.omics import add_run_task, set_run_state
from tests.support.faults import Fault, denied
from tests.support.sandbox import ACCOUNT, OMICS, REGION, by_resource, ecr_uri, omics_statement, policy, run_scan, trust
from tests.support.workflows import nextflow_definition

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
LIFECYCLE, PINNED, SCOPED = "lifecycle-keeps-used-images", "pinned-by-digest", "grants-scoped"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def scan(session: boto3.Session, rule_id: str) -> Any:
    doc = run_scan(session, rules=[rule_id])
    needed = set(load_builtin_rules()[rule_id].meta.permissions)
    assert set(doc.api_calls) <= needed, f"calls outside {rule_id}'s facets: {set(doc.api_calls) - needed}"
    return doc


def pushed(name: str, digest: str, days_ago: float) -> None:
    """Set an image's push time, which no public API sets (moto stamps the push second)."""
    for image in ecr_backends[ACCOUNT][REGION].repositories[name].images:
        if image.image_digest == digest:
            image.image_pushed_at = int((datetime.now(UTC) - timedelta(days=days_ago)).timestamp())


def workflow(session: boto3.Session, *containers: str, mappings: list[tuple[str, str]] | None = None) -> str:
    kwargs: dict[str, Any] = {}
    if mappings:
        kwargs["containerRegistryMap"] = {
            "imageMappings": [{"sourceImage": s, "destinationImage": d} for s, d in mappings]
        }
    return session.client("omics").create_workflow(
        name=f"wf-{time.monotonic_ns()}", engine="NEXTFLOW", definitionZip=nextflow_definition(*containers), **kwargs
    )["id"]


def finished_run(session: boto3.Session, workflow_id: str, role: str, *tasks: tuple[str, str]) -> str:
    run_id = session.client("omics").start_run(
        workflowId=workflow_id, roleArn=role, name=f"r-{time.monotonic_ns()}", outputUri="s3://out/x/"
    )["id"]
    now = datetime.now(UTC)
    set_run_state(
        ACCOUNT,
        REGION,
        run_id,
        status="COMPLETED",
        creation_time=now - timedelta(hours=3),
        start_time=now - timedelta(hours=3),
        stop_time=now - timedelta(hours=2),
    )
    for i, (image, digest) in enumerate(tasks):
        add_run_task(ACCOUNT, REGION, run_id, name=f"T{i}", image=image, image_digest=digest)
    return run_id


def role(session: boto3.Session, name: str, *statements: dict[str, Any]) -> str:
    iam = session.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(OMICS))
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="pull",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def lifecycle(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def count_rule(priority: int, count: int, status: str = "any", **sel: Any) -> dict[str, Any]:
    return {
        "rulePriority": priority,
        "description": f"keep {count}",
        "selection": {"tagStatus": status, "countType": "imageCountMoreThan", "countNumber": count, **sel},
        "action": {"type": "expire"},
    }


# =====================================================================================================
# lifecycle-keeps-used-images
# =====================================================================================================


def _bwa(aws: boto3.Session) -> tuple[Any, str]:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="my-workflow/bwa")
    used = images.push_image(ecr, "my-workflow/bwa", tag="0.7.17")
    newer = images.push_image(ecr, "my-workflow/bwa", tag="dev", architecture="arm64")
    pushed("my-workflow/bwa", used, 30)
    pushed("my-workflow/bwa", newer, 1)
    workflow(aws, ecr_uri("my-workflow/bwa:0.7.17"))
    return ecr, used


def test_lifecycle_count_rule_expiring_a_used_tag_fails(aws: boto3.Session) -> None:
    ecr, used = _bwa(aws)
    ecr.put_lifecycle_policy(repositoryName="my-workflow/bwa", lifecyclePolicyText=lifecycle(count_rule(1, 1)))
    doc = scan(aws, LIFECYCLE)
    finding = by_resource(doc, LIFECYCLE)[repo_arn("my-workflow/bwa")]
    assert finding.status == FAIL
    assert "rule 1 ('keep 1') expires it now" in finding.message
    assert "my-workflow/bwa:0.7.17" in finding.message and "main.nf:4 (process P0)" in finding.message
    [expiring] = finding.evidence["expiring"]
    assert expiring["digest"] == used and expiring["when"] == "now" and expiring["rule_priority"] == 1
    assert doc.api_calls["ecr:DescribeImages"] == 1 and doc.api_calls["ecr:GetLifecyclePolicy"] == 1


def test_lifecycle_protecting_rule_passes(aws: boto3.Session) -> None:
    ecr, _ = _bwa(aws)
    text = lifecycle(count_rule(1, 9999, "tagged", tagPatternList=["0.*"]), count_rule(2, 1))
    ecr.put_lifecycle_policy(repositoryName="my-workflow/bwa", lifecyclePolicyText=text)
    doc = scan(aws, LIFECYCLE)
    assert {r: f.status for r, f in by_resource(doc, LIFECYCLE).items()} == {repo_arn("my-workflow/bwa"): PASS}


def test_lifecycle_age_rule_names_the_date(aws: boto3.Session) -> None:
    ecr, _ = _bwa(aws)
    rule = count_rule(1, 60, "tagged", tagPrefixList=["0."])
    rule["selection"].update(countType="sinceImagePushed", countUnit="days")
    ecr.put_lifecycle_policy(repositoryName="my-workflow/bwa", lifecyclePolicyText=lifecycle(rule))
    finding = by_resource(scan(aws, LIFECYCLE), LIFECYCLE)[repo_arn("my-workflow/bwa")]
    assert finding.status == FAIL
    due = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"expires it on {due}" in finding.message


def test_lifecycle_without_policy_reads_no_images(aws: boto3.Session) -> None:
    _bwa(aws)
    doc = scan(aws, LIFECYCLE)
    assert {f.status for f in doc.findings} == {Status.NOT_APPLICABLE}
    assert "ecr:DescribeImages" not in doc.api_calls


def test_lifecycle_access_denied_is_error(aws: boto3.Session) -> None:
    ecr, _ = _bwa(aws)
    ecr.put_lifecycle_policy(repositoryName="my-workflow/bwa", lifecyclePolicyText=lifecycle(count_rule(1, 1)))
    fault = Fault(aws, "ecr:GetLifecyclePolicy", denied("ecr"))
    finding = by_resource(scan(aws, LIFECYCLE), LIFECYCLE)[repo_arn("my-workflow/bwa")]
    assert fault.injected and finding.status == ERROR
    assert "ecr:GetLifecyclePolicy" in finding.message


@pytest.mark.parametrize(("prefix_pattern", "expected"), [("*", FAIL), ("keep-*", PASS)])
def test_lifecycle_of_the_cache_template_judged_against_named_images(
    aws: boto3.Session, prefix_pattern: str, expected: Status
) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    rule = count_rule(1, 7, "tagged", tagPatternList=[prefix_pattern])
    rule["selection"].update(countType="sinceImagePushed", countUnit="days")
    ecr.create_repository_creation_template(
        prefix="quay", appliedFor=["PULL_THROUGH_CACHE"], lifecyclePolicy=lifecycle(rule)
    )
    workflow(aws, ecr_uri("quay/biocontainers/samtools:1.17"))
    finding = by_resource(scan(aws, LIFECYCLE), LIFECYCLE)["creation-template/quay"]
    assert finding.status == expected
    if expected == FAIL:
        assert "expires it 7 days after its first pull" in finding.message
        assert "quay/biocontainers/samtools:1.17" in finding.message


# =====================================================================================================
# pinned-by-digest
# =====================================================================================================


def test_pinned_latest_and_untagged_fail_digest_passes(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/a")
    digest = images.push_image(ecr, "tools/a", tag="latest")
    loose = workflow(aws, ecr_uri("tools/a"), ecr_uri("tools/a:latest"))
    pinned = workflow(aws, ecr_uri(f"tools/a@{digest}"))
    found = by_resource(scan(aws, PINNED), PINNED)
    wf_arn = {w["id"]: w["arn"] for w in aws.client("omics").list_workflows()["items"]}
    assert found[wf_arn[loose]].status == FAIL and found[wf_arn[pinned]].status == PASS
    assert "main.nf:4 (process P0)" in found[wf_arn[loose]].message
    assert len(found[wf_arn[loose]].evidence["mutable_in_definition"]) == 2


def test_pinned_tag_moved_since_the_last_run(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/b")
    first = images.push_image(ecr, "tools/b", tag="1.0")
    wf = workflow(aws, ecr_uri("tools/b:1.0"))
    arn = role(aws, "runner")
    run_id = finished_run(aws, wf, arn, (ecr_uri("tools/b:1.0"), first))
    second = images.push_image(ecr, "tools/b", tag="1.0", architecture="arm64")  # the tag moves
    found = by_resource(scan(aws, PINNED), PINNED)
    [finding] = found.values()
    assert finding.status == FAIL
    [moved] = finding.evidence["tags_moved"]
    assert moved == {
        "image": "tools/b:1.0",
        "last_run": run_id,
        "task": moved["task"],
        "run_digest": first,
        "current_digest": second,
    }


def test_pinned_version_tag_not_moved_passes(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="tools/c")
    digest = images.push_image(ecr, "tools/c", tag="2.1")
    wf = workflow(aws, ecr_uri("tools/c:2.1"))
    finished_run(aws, wf, role(aws, "runner"), (ecr_uri("tools/c:2.1"), digest))
    [finding] = by_resource(scan(aws, PINNED), PINNED).values()
    assert finding.status == PASS and "1 by version tag" in finding.message


def test_pinned_mapping_destination_latest_fails(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="staged/ubuntu")
    images.push_image(ecr, "staged/ubuntu", tag="latest")
    workflow(aws, "ubuntu:22.04", mappings=[("ubuntu:22.04", ecr_uri("staged/ubuntu"))])
    [finding] = by_resource(scan(aws, PINNED), PINNED).values()
    assert finding.status == FAIL
    assert finding.evidence["mutable_in_image_mappings"] == [
        f"image mapping ubuntu:22.04 -> {ecr_uri('staged/ubuntu')}"
    ]


def test_pinned_access_denied_is_error(aws: boto3.Session) -> None:
    workflow(aws, ecr_uri("tools/a"))
    fault = Fault(aws, "omics:ListWorkflows", denied("omics"))
    found = by_resource(scan(aws, PINNED), PINNED)
    assert fault.injected and {f.status for f in found.values()} == {ERROR}
    assert "omics:ListWorkflows" in next(iter(found.values())).message


# =====================================================================================================
# grants-scoped
# =====================================================================================================


def _cache(aws: boto3.Session, registry_statement: dict[str, Any]) -> Any:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.put_registry_policy(policyText=policy(registry_statement))
    return ecr


def test_scoped_registry_policy_on_every_repository_without_condition_fails(aws: boto3.Session) -> None:
    _cache(
        aws,
        omics_statement(["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"], "PTC", Resource=repo_arn("*")),
    )
    finding = by_resource(scan(aws, SCOPED), SCOPED)["registry-policy"]
    assert finding.status == FAIL
    [fix] = finding.evidence["statements"]
    assert fix["statement"] == "statement 'PTC'"
    assert fix["narrower_statement"]["Resource"] == repo_arn("quay/*")
    assert fix["narrower_statement"]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert finding.evidence["verified"] is True
    assert json.dumps(fix["narrower_statement"], sort_keys=True) in finding.message


def test_scoped_registry_policy_passes(aws: boto3.Session) -> None:
    _cache(
        aws,
        omics_statement(
            ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
            "PTC",
            source_account=ACCOUNT,
            Resource=repo_arn("quay/*"),
        ),
    )
    assert by_resource(scan(aws, SCOPED), SCOPED)["registry-policy"].status == PASS


def test_scoped_repository_policy_without_source_account_fails(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="my-workflow/bwa")
    ecr.set_repository_policy(repositoryName="my-workflow/bwa", policyText=policy(omics_statement(PULL)))
    workflow(aws, ecr_uri("my-workflow/bwa:1"))
    finding = by_resource(scan(aws, SCOPED), SCOPED)[repo_arn("my-workflow/bwa")]
    assert finding.status == FAIL
    assert finding.evidence["statements"][0]["narrower_statement"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT}
    }


def test_scoped_role_on_every_repository_fails_with_the_used_ones(aws: boto3.Session) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="my-workflow/bwa")
    wf = workflow(aws, ecr_uri("my-workflow/bwa:1"))
    broad = role(aws, "broad", {"Effect": "Allow", "Action": PULL, "Resource": "*"})
    narrow = role(aws, "narrow", {"Effect": "Allow", "Action": PULL, "Resource": repo_arn("my-workflow/bwa")})
    finished_run(aws, wf, broad)
    finished_run(aws, wf, narrow)
    found = by_resource(scan(aws, SCOPED), SCOPED)
    assert found[broad].status == FAIL and found[narrow].status == PASS
    assert found[broad].evidence["narrower_statement"]["Resource"] == [repo_arn("my-workflow/bwa")]
    assert found[broad].evidence["broad_grants"] == ["pull statement(s) [0]"]


def test_scoped_access_denied_is_error(aws: boto3.Session) -> None:
    _cache(aws, omics_statement(["ecr:CreateRepository"], "PTC", Resource=repo_arn("*")))
    fault = Fault(aws, "ecr:GetRegistryPolicy", denied("ecr"))
    finding = by_resource(scan(aws, SCOPED), SCOPED)["registry-policy"]
    assert fault.injected and finding.status == ERROR
    assert "ecr:GetRegistryPolicy" in finding.message
