"""The estate: a moto organisation of three accounts in two HealthOmics regions.

The management account runs the audit; two members are entered through the audit role. Two cells hold the
full demo setup (seed.py), two a single half-configured cache rule, two nothing. The ``estate`` fixture
(tests/conftest.py) builds it once per module for tests/test_org_scan.py and tests/test_org_cli.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from auditor.config import RoleSettings
from auditor.sandbox.seed import DemoAccount, seed_demo_account
from auditor.targets import Cell, account_session
from tests.support.sandbox import ACCOUNT, REGION

OTHER = "eu-west-1"
WORKFLOWS_AT_PACE = 14
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
REGIONS = (REGION, OTHER)


@dataclass
class Estate:
    members: dict[str, str]  # name -> account id
    demos: dict[tuple[str, str], DemoAccount]  # (account, region) -> the demo seeded there

    @property
    def accounts(self) -> list[str]:
        return sorted([ACCOUNT, *self.members.values()])

    @property
    def cells(self) -> list[Cell]:
        return [Cell(account=a, region=r) for a in self.accounts for r in sorted(REGIONS)]


def member_session(base: boto3.Session, account: str, region: str) -> boto3.Session:
    regional = boto3.Session(region_name=region)
    if account == ACCOUNT:
        return regional
    return account_session(regional, account, RoleSettings())


def seed_half_configured(session: boto3.Session) -> None:
    """A cache rule for ECR Public, with neither registry policy nor creation template."""
    session.client("ecr").create_pull_through_cache_rule(
        ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws"
    )


def build_estate() -> Estate:
    base = boto3.Session(region_name=REGION)
    org = base.client("organizations")
    org.create_organization(FeatureSet="ALL")
    members = {}
    for name in ("genomics", "research"):
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        members[name] = status["AccountId"]
    demos = {}
    for account, region in ((ACCOUNT, REGION), (members["genomics"], OTHER)):
        demos[(account, region)] = seed_demo_account(member_session(base, account, region))
    seed_half_configured(member_session(base, members["genomics"], REGION))
    research = member_session(base, members["research"], OTHER)
    seed_half_configured(research)
    for i in range(WORKFLOWS_AT_PACE):  # more HealthOmics reads than the quota allows in a second
        research.client("omics").create_workflow(name=f"wf-{i}", engine="WDL", definitionZip=EMPTY_ZIP)
    return Estate(members=members, demos=demos)
