"""The broken account of the fix-safety tests, the write spy on every client the auditor makes, and the CLI drivers.

Used by tests/test_fix_safety.py and tests/test_fix_tamper.py, which bind the ``acct`` and ``spy`` fixtures
(``acct = fix_account.acct``): tests/test_rules_e2e.py has an ``acct`` fixture of its own, so these are not
in conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

import auditor.collect
import auditor.fix
from auditor.cli import main
from auditor.fix import WRITE_VERBS, Plan
from auditor.fixrun import FixReport
from auditor.policy_merge import normalized
from auditor.sandbox.omics import set_run_state
from tests.support.sandbox import ACCOUNT, REGION, trust
from tests.support.workflows import nextflow_definition

WRITE_PREFIXES = WRITE_VERBS

OTHER_ACCOUNT = "111111111111"
ONE, TWO = "ecr-public/a/one", "ecr-public/a/two"
QUAY_MAP = {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}
ECR_PUBLIC_MAP = {"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"}
# A registry policy someone else wrote (odd key order and spacing on purpose): a fix merges into it and a
# rollback must give back exactly this document.
ORIGINAL_REGISTRY_POLICY = (
    '{"Version":"2012-10-17",  "Statement":[{"Sid":"ReplicationFromBackup","Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],'
    f'"Resource":"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"}}]}}'
)


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


# --- write spy / failure injection ------------------------------------------------------------------


@dataclass
class Spy:
    """Wraps every client the auditor makes: records write calls, raises injected failures."""

    writes: list[str] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # "service:Operation" -> error code, raised once

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def before_call(model: Any, **_: Any) -> None:
            op = f"{service}:{model.name}"
            if op in self.fail:
                code = self.fail.pop(op)
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": code, "Message": f"injected failure of {op}"}}, model.name
                )
            if model.name.startswith(WRITE_PREFIXES):
                self.writes.append(op)

        client.meta.events.register("before-call", before_call)
        return client

    def reset(self) -> None:
        self.writes.clear()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    spy = Spy()
    real = auditor.collect.make_client

    def make_client(*args: Any, **kwargs: Any) -> Any:
        return spy.attach(real(*args, **kwargs))

    # Clients (plan, apply, backup, rollback) and the scanner's collectors.
    monkeypatch.setattr(auditor.fix, "make_client", make_client)
    monkeypatch.setattr(auditor.collect, "make_client", make_client)
    return spy


# --- the broken account ---------------------------------------------------------------------------


@dataclass
class Account:
    session: boto3.Session
    ecr: Any
    iam: Any
    omics: Any
    s3: Any
    workflow_id: str = ""

    def start_run(self, status: str = "RUNNING") -> str:
        run_id = self.omics.start_run(
            workflowId=self.workflow_id,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/OmicsRunRole",
            name=f"run-{status.lower()}",
            outputUri="s3://out/x/",
        )["id"]
        set_run_state(ACCOUNT, REGION, run_id, status=status)
        return run_id

    # -- reading state back --

    def registry_policy(self) -> str | None:
        try:
            return self.ecr.get_registry_policy()["policyText"]
        except self.ecr.exceptions.RegistryPolicyNotFoundException:
            return None

    def repository_policy(self, name: str) -> str | None:
        try:
            return self.ecr.get_repository_policy(repositoryName=name)["policyText"]
        except self.ecr.exceptions.RepositoryPolicyNotFoundException:
            return None

    def ptc_prefixes(self) -> list[str]:
        rules = self.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
        return sorted(r["ecrRepositoryPrefix"] for r in rules)

    def templates(self) -> dict[str, Any]:
        pages = self.ecr.get_paginator("describe_repository_creation_templates").paginate()
        return {t["prefix"]: t for page in pages for t in page["repositoryCreationTemplates"]}

    def state(self) -> dict[str, Any]:
        """Every document a fix could touch, normalised, for before/after comparisons."""
        repos = [r["repositoryName"] for r in self.ecr.describe_repositories()["repositories"]]
        roles = [r["RoleName"] for r in self.iam.list_roles()["Roles"]]
        return {
            "registry_policy": normalized(self.registry_policy()),
            "repository_policies": {n: normalized(self.repository_policy(n)) for n in sorted(repos)},
            "templates": {
                p: {k: v for k, v in t.items() if k not in ("createdAt", "updatedAt")}
                for p, t in self.templates().items()
            },
            "ptc_rules": self.ptc_prefixes(),
            "role_policies": {r: sorted(self.iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in sorted(roles)},
        }


@pytest.fixture
def acct(aws: boto3.Session) -> Account:
    """Broken on purpose: no quay rule for a mapped upstream, registry policy and templates without omics
    grants, two cache repositories without policies. A fix plans seven changes, the cache rule last."""
    a = Account(aws, aws.client("ecr"), aws.client("iam"), aws.client("omics"), aws.client("s3"))
    a.iam.create_role(RoleName="OmicsRunRole", AssumeRolePolicyDocument=trust())
    a.ecr.put_registry_policy(policyText=ORIGINAL_REGISTRY_POLICY)
    a.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    a.ecr.create_repository(repositoryName=ONE)
    a.ecr.create_repository(repositoryName=TWO)
    a.workflow_id = a.omics.create_workflow(
        name="wf",
        engine="NEXTFLOW",
        definitionZip=nextflow_definition(
            "quay.io/biocontainers/samtools:1.17", f"public.ecr.aws/{ONE.split('/', 1)[1]}:1"
        ),
        containerRegistryMap={"registryMappings": [QUAY_MAP, ECR_PUBLIC_MAP]},
    )["id"]
    # A finished run: the role is judged against what this workflow uses.
    done = a.omics.start_run(
        workflowId=a.workflow_id,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/OmicsRunRole",
        name="done",
        outputUri="s3://o/x/",
    )["id"]
    set_run_state(ACCOUNT, REGION, done, status="COMPLETED")
    return a


# --- running the CLI --------------------------------------------------------------------------------


@dataclass
class Result:
    rc: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    rc = main(list(argv))
    captured = capsys.readouterr()
    return Result(rc, captured.out, captured.err)


def fix(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> Result:
    # The broken account is broken for the access rules; the hygiene rules' fixers have tests of their own.
    return cli(capsys, "fix", "--out", str(out), "--regions", REGION, "--group", "access", *extra)


def read_plan(path: Path) -> Plan:
    return Plan.model_validate_json(path.read_text(encoding="utf-8"))


def read_report(out: Path) -> FixReport:
    return FixReport.model_validate_json((out / "fix-report.json").read_text(encoding="utf-8"))


def outcomes(report: FixReport) -> dict[str, str]:
    assert report.applied is not None
    return {o.target: o.outcome for o in report.applied.outcomes}


def rollback_lines(stdout: str) -> dict[str, str]:
    """``rollback`` prints "<outcome> <target>  (detail)" per entry."""
    rows = {}
    for line in stdout.splitlines():
        outcome, _, rest = line.partition(" ")
        rows[rest.strip().split("  (")[0]] = outcome
    return rows


def assert_clean_refusal(result: Result, *needles: str) -> None:
    assert result.rc == 2, result
    assert "Traceback" not in result.err
    assert result.err.startswith("omics-ecr-audit: ")
    for needle in needles:
        assert needle in result.err, result.err


def backups_written(out: Path) -> list[Path]:
    return sorted((out / "backups").glob("*/backup.json")) if (out / "backups").exists() else []


PTC = "ptc_rule(ecrRepositoryPrefix=quay)"
REGISTRY = "registry_policy"
TEMPLATE_PUBLIC = "creation_template(prefix=ecr-public)"
TEMPLATE_QUAY = "creation_template(prefix=quay)"
REPO_ONE = f"repository_policy(repositoryName={ONE})"
REPO_TWO = f"repository_policy(repositoryName={TWO})"
ROLE = "role_policy(roleName=OmicsRunRole, policyName=OmicsEcrAuditPull)"
ALL_TARGETS = [REGISTRY, TEMPLATE_PUBLIC, TEMPLATE_QUAY, REPO_ONE, REPO_TWO, ROLE, PTC]
