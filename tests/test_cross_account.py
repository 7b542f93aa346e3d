"""Cross-account sources (seed 004): an image in another account's ECR, pulled by a workflow's run role.

Two accounts of a moto organisation: ``images`` owns ``shared/bwa``; the management account (the caller)
owns the workflow, its run role and a run. Both sides must allow the pull: the source repository's policy
grants the run role, and the role's own policy allows the actions on that repository's ARN.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from auditor.config import RoleSettings, parse_config
from auditor.findings import Finding, Status
from auditor.sandbox import images
from auditor.scan import scan_org, select_rules
from auditor.targets import Cell, account_session
from tests.support.sandbox import ACCOUNT, REGION, run_scan, trust
from tests.support.workflows import nextflow_definition

RULE = "cross-account-source-grants"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class TwoAccounts:
    def __init__(self) -> None:
        self.base = boto3.Session(region_name=REGION)
        org = self.base.client("organizations")
        org.create_organization(FeatureSet="ALL")
        status = org.create_account(AccountName="images", Email="images@example.com")["CreateAccountStatus"]
        self.owner = status["AccountId"]
        self.owner_session = account_session(boto3.Session(region_name=REGION), self.owner, RoleSettings())
        self.repo_arn = f"arn:aws:ecr:{REGION}:{self.owner}:repository/shared/bwa"
        self.role_arn = f"arn:aws:iam::{ACCOUNT}:role/RunRole"
        ecr = self.owner_session.client("ecr")
        ecr.create_repository(repositoryName="shared/bwa")
        images.push_image(ecr, "shared/bwa", tag="0.7.17", architecture="amd64")

    def source_grants(self, principal: str, actions: list[str]) -> None:
        self.owner_session.client("ecr").set_repository_policy(
            repositoryName="shared/bwa",
            policyText=_policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions}),
        )

    def workflow_with_role(self, role_actions: list[str]) -> str:
        iam, omics = self.base.client("iam"), self.base.client("omics")
        iam.create_role(RoleName="RunRole", AssumeRolePolicyDocument=trust())
        if role_actions:
            iam.put_role_policy(
                RoleName="RunRole",
                PolicyName="pull",
                PolicyDocument=_policy({"Effect": "Allow", "Action": role_actions, "Resource": self.repo_arn}),
            )
        image = f"{self.owner}.dkr.ecr.{REGION}.amazonaws.com/shared/bwa:0.7.17"
        wf = omics.create_workflow(name="wf", engine="NEXTFLOW", definitionZip=nextflow_definition(image))["id"]
        omics.start_run(workflowId=wf, roleArn=self.role_arn, name="r", outputUri="s3://out/x/")
        return str(wf)

    def org_scan(self) -> Finding:
        config = parse_config({"regions": [REGION], "targets": {"organization": {}}})
        cells = [Cell(account=a, region=REGION) for a in sorted([ACCOUNT, self.owner])]
        doc = scan_org(config, select_rules(config, [RULE]), session=self.base, cells=cells)
        found = [f for f in doc.findings if f.rule_id == RULE and f.status != Status.NOT_APPLICABLE]
        assert len(found) == 1, [(f.resource, f.status, f.message) for f in found]
        (finding,) = found
        return finding


@pytest.fixture
def accounts(aws: boto3.Session) -> TwoAccounts:
    return TwoAccounts()


# Each row: what the source repository's policy grants to whom, what the role allows itself, the verdict,
# and the words that name the missing side.
CASES = [
    ("role arn", PULL, PULL, Status.PASS, None),
    ("account root", PULL, PULL, Status.PASS, None),
    ("role arn", ["ecr:BatchGetImage"], PULL, Status.FAIL, "the repository policy in account"),
    ("role arn", PULL, ["ecr:BatchGetImage"], Status.FAIL, "RunRole's own policies do not allow"),
    ("role arn", PULL, [], Status.FAIL, "RunRole's own policies do not allow ecr:BatchGetImage"),
    ("other account", PULL, PULL, Status.FAIL, "the repository policy in account"),
]


@pytest.mark.parametrize(("grantee", "source", "role", "expected", "missing_side"), CASES)
def test_organisation_scan_judges_both_sides(
    accounts: TwoAccounts, grantee: str, source: list[str], role: list[str], expected: Status, missing_side: str | None
) -> None:
    principal = {
        "role arn": accounts.role_arn,
        "account root": f"arn:aws:iam::{ACCOUNT}:root",
        "other account": "arn:aws:iam::999999999999:root",
    }[grantee]
    accounts.source_grants(principal, source)
    accounts.workflow_with_role(role)
    finding = accounts.org_scan()
    assert finding.status == expected, finding.message
    assert finding.resource == f"{accounts.repo_arn}|{accounts.role_arn}"
    if missing_side:
        assert missing_side in finding.message
    # The owner's policy was read with the owner's own credentials, so the verdict is definite even though
    # the source grants the workflow's account no ecr:GetRepositoryPolicy.
    assert finding.status != Status.ERROR


def test_single_account_scan_reports_the_cross_account_access_it_lacks(accounts: TwoAccounts) -> None:
    accounts.source_grants(accounts.role_arn, PULL)
    accounts.workflow_with_role(PULL)
    doc = run_scan(accounts.base, rules=[RULE])
    (finding,) = doc.findings
    assert finding.status == Status.ERROR
    assert finding.evidence["api_error"]["code"] == "AccessDeniedException"
    assert f"scan account {accounts.owner} in the same run" in finding.message


def test_single_account_scan_reads_a_policy_the_owner_shares(accounts: TwoAccounts) -> None:
    accounts.source_grants(f"arn:aws:iam::{ACCOUNT}:root", [*PULL, "ecr:GetRepositoryPolicy"])
    accounts.workflow_with_role(PULL)
    (finding,) = run_scan(accounts.base, rules=[RULE]).findings
    assert finding.status == Status.PASS, finding.message
