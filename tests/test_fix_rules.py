"""Every fixer end to end: a broken sandbox account, ``fix --apply``, a re-scan, a second apply, a rollback.

For each fixable rule the same four promises are checked through the CLI and real boto3 calls:
the re-scan shows the rule PASS; other people's statements and settings are untouched; a second
``fix --apply`` makes zero write calls (counted on every client the process creates); and
``rollback`` puts every document back exactly (compared after JSON normalisation).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.cli import main
from auditor.findings import Status
from auditor.policy_merge import normalized
from auditor.sandbox.ecr import simulate_ptc_pull
from tests.support.sandbox import (
    ACCOUNT,
    OMICS,
    PULL,
    REGION,
    by_resource,
    ecr_uri,
    omics_statement,
    policy,
    run_scan,
    trust,
)
from tests.support.workflows import nextflow_definition
from tests.support.writes import count_writes

PASS, FAIL = Status.PASS, Status.FAIL
COVERAGE = "ptc-rule-coverage"
DEFINITION = b"PK\x05\x06" + b"\x00" * 18
PTC_ACTIONS = ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]
FOREIGN_REGISTRY = {
    "Sid": "ReplicationFromProd",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
    "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*",
}


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def prefix_arn(prefix: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{prefix}/*"


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every write call any client of this process makes (scan, plan, apply, verify)."""
    return count_writes(monkeypatch)


def fix(out: Path, *args: str) -> int:
    # The access rules' fixers; the hygiene fixers (e.g. registry scanning) have tests of their own.
    return main(["fix", "--out", str(out), "--quiet", "--group", "access", *args])


def report(out: Path) -> dict[str, Any]:
    return json.loads((out / "fix-report.json").read_text())


def plan_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "plan.json").read_text())


def registry_policy(ecr: Any) -> str | None:
    try:
        return ecr.get_registry_policy()["policyText"]
    except ecr.exceptions.RegistryPolicyNotFoundException:
        return None


def repository_policy(ecr: Any, name: str) -> str | None:
    try:
        return ecr.get_repository_policy(repositoryName=name)["policyText"]
    except ecr.exceptions.RepositoryPolicyNotFoundException:
        return None


def templates(ecr: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]:
        out[t["prefix"]] = {k: v for k, v in t.items() if k not in ("createdAt", "updatedAt")}
    return out


def role_policies(iam: Any, role: str) -> dict[str, Any]:
    return {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }


def norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalized(v) if k == "repositoryPolicy" else norm(v) for k, v in value.items()}
    return normalized(value) if isinstance(value, str | dict | list) else value


def statements(text: str | None) -> list[dict[str, Any]]:
    return json.loads(text)["Statement"] if text else []


def full_cycle(
    tmp_path: Path,
    writes: Counter[str],
    state: Callable[[], Any],
    *,
    rule_id: str,
    fixed: set[str],
    session: boto3.Session,
) -> Any:
    """apply → rule PASS for ``fixed`` → second apply writes nothing → rollback restores ``state()`` exactly."""
    before = state()
    first = tmp_path / "first"
    assert fix(first, "--apply") in (0, 1)
    applied = report(first)["applied"]
    assert applied["error"] is None
    assert {o["outcome"] for o in applied["outcomes"] if o["rule_id"] == rule_id} == {"applied"}
    doc = run_scan(session, rules=[rule_id])
    found = by_resource(doc, rule_id)
    for resource in fixed:
        assert found[resource].status == PASS, found[resource].message
    for v in report(first)["verification"]:
        if v["rule_id"] == rule_id:
            assert v["after"] == "PASS", v
    after_fix = state()

    writes.clear()
    second = tmp_path / "second"
    assert fix(second, "--apply") in (0, 1)
    assert sum(writes.values()) == 0, f"second apply wrote: {dict(writes)}"
    assert not [c for c in plan_of(second)["changes"] if c["rule_id"] == rule_id]
    assert state() == after_fix

    backup = applied_backup(first)
    assert main(["rollback", backup]) == 0
    assert norm(state()) == norm(before)
    writes.clear()
    assert main(["rollback", backup]) == 0  # twice: nothing left to restore, no writes
    assert sum(writes.values()) == 0
    return after_fix


def applied_backup(out: Path) -> str:
    backup = report(out)["applied"]["backup"]
    assert backup and Path(backup).is_file()
    return backup


# --- registry policy ----------------------------------------------------------------------------


def test_registry_policy_extended_for_missing_prefix_keeping_foreign_statements(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    docs_grant = omics_statement(PTC_ACTIONS, "AllowPTCinRegPermissions", Resource=[prefix_arn("quay")])
    original = policy(FOREIGN_REGISTRY, docs_grant)
    ecr.put_registry_policy(policyText=original)

    after = full_cycle(
        tmp_path,
        writes,
        lambda: registry_policy(ecr),
        rule_id="registry-policy-allows-omics",
        fixed={"registry-policy/quay", "registry-policy/ecr-public"},
        session=aws,
    )
    merged = statements(after)
    assert merged[:2] == [FOREIGN_REGISTRY, docs_grant]  # theirs: same order, same content
    ours = merged[2]
    assert ours["Sid"] == "OmicsEcrAuditPtcImport"
    assert ours["Principal"] == {"Service": OMICS}
    assert sorted(ours["Action"]) == sorted(PTC_ACTIONS)
    assert ours["Resource"] == [prefix_arn("ecr-public")]  # exactly the missing prefix, never "*"
    assert ours["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert registry_policy(ecr) == original  # rolled back byte for byte


def test_registry_policy_created_when_absent_and_rollback_deletes_it(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    full_cycle(
        tmp_path,
        writes,
        lambda: registry_policy(ecr),
        rule_id="registry-policy-allows-omics",
        fixed={"registry-policy/quay"},
        session=aws,
    )
    assert registry_policy(ecr) is None


def test_registry_policy_explicit_deny_is_refused_not_papered_over(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    deny = {"Sid": "NoOmics", "Effect": "Deny", "Principal": {"Service": OMICS}, "Action": "ecr:*", "Resource": "*"}
    ecr.put_registry_policy(policyText=policy(deny))
    assert fix(tmp_path, "--apply", "--rules", "registry-policy-allows-omics") == 1
    plan = plan_of(tmp_path)
    assert not plan["changes"]
    assert "would not be enough" in plan["refused"][0]["reason"]
    assert sum(writes.values()) == 0
    assert statements(registry_policy(ecr)) == [deny]


def test_registry_policy_over_the_size_limit_is_refused(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    filler: list[dict[str, Any]] = []
    text = ""
    while len(text) < 10_240 - 150:  # room for nobody's statement but theirs: ours needs ~330 characters
        i = len(filler)
        filler.append(
            {
                "Sid": f"Team{i}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{100000000000 + i}:root"},
                "Action": "ecr:ReplicateImage",
                "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/t{i}/*",
            }
        )
        text = json.dumps({"Version": "2012-10-17", "Statement": filler}, separators=(",", ":"))
    assert len(text) <= 10_240
    ecr.put_registry_policy(policyText=text)
    assert fix(tmp_path, "--apply", "--rules", "registry-policy-allows-omics") == 1
    refused = plan_of(tmp_path)["refused"]
    assert refused and "10,240-character limit" in refused[0]["reason"]
    assert sum(writes.values()) == 0
    assert registry_policy(ecr) == text


# --- creation templates --------------------------------------------------------------------------


def test_template_created_for_uncovered_prefix(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    # a ROOT template that applies only to replication does not count for pull through cache
    ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["REPLICATION"], description="replication")
    full_cycle(
        tmp_path,
        writes,
        lambda: templates(ecr),
        rule_id="creation-template-grants-omics",
        fixed={"creation-template-coverage/quay"},
        session=aws,
    )
    assert set(templates(ecr)) == {"ROOT"}  # rollback deleted the template it created


def test_template_merge_keeps_every_other_setting(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    theirs = {"Sid": "CiPush", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}}
    theirs["Action"] = ["ecr:PutImage"]
    lifecycle = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days"}
                    | {"countNumber": 14},
                    "action": {"type": "expire"},
                }
            ]
        }
    )
    ecr.create_repository_creation_template(
        prefix="ROOT",
        appliedFor=["PULL_THROUGH_CACHE", "REPLICATION"],
        description="platform defaults",
        imageTagMutability="MUTABLE",
        resourceTags=[{"Key": "team", "Value": "platform"}],
        lifecyclePolicy=lifecycle,
        repositoryPolicy=policy(theirs, omics_statement(["ecr:BatchGetImage"], "PTCRepoCreationTemplate")),
    )
    before = templates(ecr)["ROOT"]
    after = full_cycle(
        tmp_path,
        writes,
        lambda: templates(ecr),
        rule_id="creation-template-grants-omics",
        fixed={"creation-template-coverage/quay", "creation-template-coverage/ecr-public"},
        session=aws,
    )["ROOT"]
    # one change for the one covering template, however many prefixes it covers
    changes = plan_of(tmp_path / "first")["changes"]
    assert [c["target"]["key"] for c in changes if c["target"]["kind"] == "creation_template"] == [{"prefix": "ROOT"}]
    for key in ("description", "imageTagMutability", "resourceTags", "lifecyclePolicy", "appliedFor"):
        assert after[key] == before[key], key
    merged = statements(after["repositoryPolicy"])
    assert merged[:2] == statements(before["repositoryPolicy"])
    assert merged[2]["Sid"] == "OmicsEcrAuditPull" and sorted(merged[2]["Action"]) == sorted(PULL)


def test_template_for_replication_only_is_a_manual_step(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository_creation_template(prefix="quay", appliedFor=["REPLICATION"])
    assert fix(tmp_path, "--apply", "--rules", "creation-template-grants-omics") == 1
    plan = plan_of(tmp_path)
    assert not plan["changes"]
    assert "PULL_THROUGH_CACHE" in plan["manual"][0]["commands"][0]
    assert sum(writes.values()) == 0


def test_repository_created_after_the_template_fix_is_readable(aws, tmp_path, writes) -> None:
    """The template the fixer writes grants all three pull actions, so new cache repositories pass too."""
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    fix(tmp_path, "--apply", "--rules", "creation-template-grants-omics")
    simulate_ptc_pull(ACCOUNT, REGION, "quay/biocontainers/bwa")
    wf = aws.client("omics").create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={
            "registryMappings": [],
            "imageMappings": [
                {"sourceImage": "quay.io/biocontainers/bwa:1", "destinationImage": ecr_uri("quay/biocontainers/bwa:1")}
            ],
        },
    )
    assert wf["id"]
    doc = run_scan(aws, rules=["repository-policy-grants-omics"])
    arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/bwa"
    assert by_resource(doc, "repository-policy-grants-omics")[arn].status == PASS


# --- repository policies -------------------------------------------------------------------------


def test_repository_policies_merged_or_created(aws, tmp_path, writes) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    for name in ("quay/biocontainers/samtools", "quay/biocontainers/bwa"):
        ecr.create_repository(repositoryName=name)
    theirs = {"Sid": "CiPull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}}
    theirs["Action"] = "ecr:BatchGetImage"
    ecr.set_repository_policy(repositoryName="quay/biocontainers/bwa", policyText=policy(theirs))

    def state() -> dict[str, str | None]:
        return {n: repository_policy(ecr, n) for n in ("quay/biocontainers/samtools", "quay/biocontainers/bwa")}

    arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/"
    after = full_cycle(
        tmp_path,
        writes,
        state,
        rule_id="repository-policy-grants-omics",
        fixed={arn + "quay/biocontainers/samtools", arn + "quay/biocontainers/bwa"},
        session=aws,
    )
    assert statements(after["quay/biocontainers/bwa"])[0] == theirs
    assert [s["Sid"] for s in statements(after["quay/biocontainers/samtools"])] == ["OmicsEcrAuditPull"]
    assert state()["quay/biocontainers/samtools"] is None  # rollback removed the policy it had created


# --- service role ----------------------------------------------------------------------------------


def _role(iam: Any, name: str, *statements_: dict[str, Any], inline: str = "pull") -> str:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust())
    if statements_:
        iam.put_role_policy(RoleName=name, PolicyName=inline, PolicyDocument=policy(*statements_))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


SAMTOOLS, PYTHON = "quay.io/biocontainers/samtools:1.17", "public.ecr.aws/docker/library/python:3.12"
QUAY_MAP = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}
ECR_PUBLIC_MAP = {"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"}


def _workflow_run(aws: boto3.Session, role: str, maps: list[dict[str, str]], *images: str) -> str:
    """A private workflow pulling ``images`` through ``maps``, and a run of it with ``role``; returns its id."""
    omics = aws.client("omics")
    wf = omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=nextflow_definition(*images),
        containerRegistryMap={"registryMappings": maps},
    )["id"]
    omics.start_run(workflowId=wf, roleArn=role, name="r", outputUri="s3://out/x/")
    return str(wf)


def test_service_role_gets_least_privilege_inline_policy(aws, tmp_path, writes) -> None:
    ecr, iam = aws.client("ecr"), aws.client("iam")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="k8s", upstreamRegistryUrl="registry.k8s.io")
    arn = _role(iam, "OmicsRole", {"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"})
    _workflow_run(aws, arn, [QUAY_MAP, ECR_PUBLIC_MAP], SAMTOOLS, PYTHON)
    after = full_cycle(
        tmp_path,
        writes,
        lambda: role_policies(iam, "OmicsRole"),
        rule_id="service-role-can-pull",
        fixed={arn},
        session=aws,
    )
    ours = after["OmicsEcrAuditPull"]["Statement"]
    # Exactly the two repositories the workflow uses: no prefix, and nothing under the unused k8s rule.
    assert ours == [
        {
            "Sid": "OmicsEcrAuditPull",
            "Effect": "Allow",
            "Action": PULL,
            "Resource": sorted([repo_arn("quay/biocontainers/samtools"), repo_arn("ecr-public/docker/library/python")]),
        }
    ]
    assert set(role_policies(iam, "OmicsRole")) == {"pull"}  # rollback deleted the inline policy


def test_service_role_fix_grants_only_what_is_missing_and_never_widens(aws, tmp_path, writes) -> None:
    ecr, iam = aws.client("ecr"), aws.client("iam")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    scoped = _role(iam, "ScopedRole", {"Effect": "Allow", "Action": PULL, "Resource": repo_arn("quay/*")})
    _workflow_run(aws, scoped, [QUAY_MAP, ECR_PUBLIC_MAP], SAMTOOLS, PYTHON)
    fine = _role(iam, "FineRole", {"Effect": "Allow", "Action": PULL, "Resource": repo_arn("quay/*")})
    _workflow_run(aws, fine, [QUAY_MAP], SAMTOOLS)
    assert fix(tmp_path, "--rules", "service-role-can-pull") == 1
    changes = plan_of(tmp_path)["changes"]
    assert [c["target"]["key"]["roleName"] for c in changes] == ["ScopedRole"]
    (statement,) = changes[0]["after"]["Statement"]
    assert statement["Resource"] == [repo_arn("ecr-public/docker/library/python")]  # samtools already allowed
    assert sum(writes.values()) == 0  # a plan writes nothing


def test_service_role_blocked_by_boundary_is_refused(aws, tmp_path, writes) -> None:
    ecr, iam = aws.client("ecr"), aws.client("iam")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    arn = _role(iam, "OmicsRole")
    _workflow_run(aws, arn, [QUAY_MAP], SAMTOOLS)
    boundary = iam.create_policy(
        PolicyName="boundary",
        PolicyDocument=policy({"Effect": "Allow", "Action": ["s3:*", "ecr:BatchGetImage"], "Resource": "*"}),
    )["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="OmicsRole", PermissionsBoundary=boundary)
    assert fix(tmp_path, "--apply", "--rules", "service-role-can-pull") == 1
    plan = plan_of(tmp_path)
    assert not plan["changes"]
    assert "boundary" in plan["refused"][0]["reason"]
    assert sum(writes.values()) == 0


# --- pull-through cache rules ------------------------------------------------------------------------


def test_missing_unauthenticated_rules_are_created_with_their_follow_on_grants(aws, tmp_path, writes) -> None:
    ecr, omics, iam = aws.client("ecr"), aws.client("omics"), aws.client("iam")
    _role(iam, "OmicsRole", {"Effect": "Allow", "Action": PULL, "Resource": "*"})
    omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={
            "registryMappings": [
                {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay-io"},
                {"upstreamRegistryUrl": "registry.k8s.io", "ecrRepositoryPrefix": "k8s"},
            ]
        },
    )

    def state() -> Any:
        rules = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
        return (
            sorted((r["ecrRepositoryPrefix"], r["upstreamRegistryUrl"]) for r in rules),
            registry_policy(ecr),
            templates(ecr),
        )

    full_cycle(
        tmp_path,
        writes,
        state,
        rule_id="ptc-rule-coverage",
        fixed={"upstream/quay.io", "upstream/registry.k8s.io"},
        session=aws,
    )
    plan = plan_of(tmp_path / "first")
    kinds = [c["target"]["kind"] for c in plan["changes"]]
    # grants first, cache rules last: a rule must never create repositories nobody may pull from
    assert kinds == ["registry_policy", "creation_template", "creation_template", "ptc_rule", "ptc_rule"]
    created = {
        c["target"]["key"]["ecrRepositoryPrefix"] for c in plan["changes"] if c["rule_id"] == "ptc-rule-coverage"
    }
    assert created == {"quay-io", "k8s"}  # the prefixes the registry map already uses


def test_after_the_cycle_every_piece_for_the_new_prefixes_passes(aws, tmp_path) -> None:
    ecr, omics = aws.client("ecr"), aws.client("omics")
    omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={"registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]},
    )
    assert fix(tmp_path, "--apply", "--rules", "ptc-rule-coverage") in (0, 1)
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["ecrRepositoryPrefix"] == "quay"
    doc = run_scan(aws, rules=["ptc-rule-coverage", "registry-policy-allows-omics", "creation-template-grants-omics"])
    assert {f.status for f in doc.findings} == {PASS}, [f.message for f in doc.findings if f.status != PASS]
    assert {f.rule_id for f in doc.findings} == {
        "ptc-rule-coverage",
        "registry-policy-allows-omics",
        "creation-template-grants-omics",
    }


def test_authenticated_upstream_gets_commands_and_no_invented_secret(aws, tmp_path, writes) -> None:
    omics, sm = aws.client("omics"), aws.client("secretsmanager")
    omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={
            "registryMappings": [{"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"}]
        },
    )
    assert fix(tmp_path, "--apply", "--rules", "ptc-rule-coverage") == 1
    plan = plan_of(tmp_path)
    assert not plan["changes"]
    commands = "\n".join(plan["manual"][0]["commands"])
    assert "aws secretsmanager create-secret --name ecr-pullthroughcache/docker-hub" in commands
    assert "--upstream-registry-url registry-1.docker.io" in commands
    assert "<ACCESS_TOKEN>" in commands
    assert sm.list_secrets()["SecretList"] == []
    assert sum(writes.values()) == 0
    doc = run_scan(aws, rules=["ptc-rule-coverage"])
    assert not by_resource(doc, "ptc-rule-coverage")["upstream/registry-1.docker.io"].fixable


# --- registry map --------------------------------------------------------------------------------


def test_corrected_registry_map_passes_once_published(aws, tmp_path, writes) -> None:
    ecr, omics = aws.client("ecr"), aws.client("omics")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    broken = omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={
            "registryMappings": [
                {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay-io"},
                {"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"},
            ]
        },
    )
    assert fix(tmp_path, "--apply", "--rules", "registry-map-consistent") == 1
    step = plan_of(tmp_path)["manual"][0]
    assert "create-workflow-version" in step["commands"][-1]
    assert sum(writes.values()) == 0  # a map cannot be edited in place: nothing is written to AWS
    corrected = json.loads(Path(step["artifact"]).read_text())
    assert corrected["registryMappings"] == [
        {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"},
        {"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"},
    ]
    republished = omics.create_workflow(
        name="wf-v2", engine="NEXTFLOW", definitionZip=DEFINITION, containerRegistryMap=corrected
    )
    found = by_resource(run_scan(aws, rules=["registry-map-consistent"]), "registry-map-consistent")
    assert found[republished["arn"]].status == PASS
    assert found[broken["arn"]].status == FAIL
    assert not found[broken["arn"]].fixable  # only a person can publish it


# --- the plan document -----------------------------------------------------------------------------


def test_plan_only_changes_nothing_and_says_so(aws, tmp_path, writes, capsys) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    assert main(["fix", "--out", str(tmp_path), "--plan-out", str(tmp_path / "p.json")]) == 1
    out = capsys.readouterr().out
    assert "nothing was changed; re-run with --apply" in out
    assert "PutRegistryPolicy" in out and "+++ registry_policy (after)" in out
    assert sum(writes.values()) == 0
    plan = json.loads((tmp_path / "p.json").read_text())
    for change in plan["changes"]:
        assert set(change) >= {"rule_id", "resource", "api_calls", "before", "after", "diff", "permissions"}
        for call in change["api_calls"]:
            assert set(call) == {"service", "operation", "params"}


def test_nothing_to_fix_exits_zero(aws, tmp_path, writes) -> None:
    assert fix(tmp_path, "--apply") == 0
    assert plan_of(tmp_path)["changes"] == []
    assert sum(writes.values()) == 0
