"""Targets: organisation discovery and filters, regions, cells, and role sessions that refresh themselves.

Everything runs against moto's Organizations and STS (moto 5.2.5): the accounts are real moto accounts,
and credentials from AssumeRole really reach the role's account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest

from auditor.aws import ApiCallCounter
from auditor.config import OrganizationTargets, RoleSettings, Targets, parse_config
from auditor.errors import ConfigError
from auditor.targets import (
    AccountTarget,
    Cell,
    TargetError,
    account_session,
    default_regions,
    discover_accounts,
    plan_cells,
    plan_regions,
    refresh_windows,
)
from tests.support.faults import Fault, error_response, request_param
from tests.support.sandbox import ACCOUNT, REGION

# --- a moto organisation -------------------------------------------------------------------------------


@dataclass
class Org:
    root: str
    prod: str  # OU
    team: str  # OU inside prod
    sandbox: str  # OU
    accounts: dict[str, str] = field(default_factory=dict)  # name -> id

    def ids(self, *names: str) -> list[str]:
        return sorted(self.accounts[n] for n in names)


def build_org(session: boto3.Session) -> Org:
    """root: management; prod: genomics, (team: pipelines); sandbox: playground, retired (SUSPENDED)."""
    org = session.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]

    def ou(parent: str, name: str) -> str:
        return org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

    prod = ou(root, "prod")
    team = ou(prod, "team")
    sandbox = ou(root, "sandbox")
    out = Org(root=root, prod=prod, team=team, sandbox=sandbox, accounts={"management": ACCOUNT})

    def account(name: str, parent: str, **tags: str) -> str:
        status = org.create_account(
            AccountName=name, Email=f"{name}@example.com", Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )["CreateAccountStatus"]
        account_id = status["AccountId"]
        org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=parent)
        out.accounts[name] = account_id
        return account_id

    account("genomics", prod, env="prod", team="genomics")
    account("pipelines", team, env="prod", team="platform")
    account("playground", sandbox, env="dev")
    retired = account("retired", sandbox, env="prod")
    org.close_account(AccountId=retired)  # moto: SUSPENDED at once
    return out


@pytest.fixture
def org(aws: boto3.Session) -> Org:
    return build_org(aws)


def discover(aws: boto3.Session, counter: ApiCallCounter | None = None, **filters: Any) -> list[AccountTarget]:
    return discover_accounts(aws, Targets(organization=OrganizationTargets(**filters)), counter=counter)


def ids(found: list[AccountTarget]) -> list[str]:
    return [a.account_id for a in found]


# --- discovery -----------------------------------------------------------------------------------------


def test_whole_organization_is_every_active_account(aws, org) -> None:
    found = discover(aws)
    # the suspended account is left out; the management account is an account like any other
    assert ids(found) == org.ids("management", "genomics", "pipelines", "playground")
    paths = {a.account_id: a.ou_path for a in found}
    assert paths[org.accounts["management"]] == [org.root]
    assert paths[org.accounts["genomics"]] == [org.root, org.prod]
    assert paths[org.accounts["pipelines"]] == [org.root, org.prod, org.team]
    names = {a.account_id: a.name for a in found}
    assert names[org.accounts["playground"]] == "playground"


def test_an_ou_takes_in_every_ou_below_it(aws, org) -> None:
    assert ids(discover(aws, include_ous=[org.prod])) == org.ids("genomics", "pipelines")
    assert ids(discover(aws, include_ous=[org.team])) == org.ids("pipelines")
    assert ids(discover(aws, include_ous=[org.root])) == org.ids("management", "genomics", "pipelines", "playground")
    # the suspended account's OU selects only its active sibling
    assert ids(discover(aws, include_ous=[org.sandbox])) == org.ids("playground")


def test_exclude_wins_over_include(aws, org) -> None:
    assert ids(discover(aws, include_ous=[org.prod], exclude_ous=[org.team])) == org.ids("genomics")
    assert ids(discover(aws, exclude_accounts=[ACCOUNT])) == org.ids("genomics", "pipelines", "playground")
    prod_but_not_genomics = discover(aws, include_ous=[org.prod], exclude_accounts=[org.accounts["genomics"]])
    assert ids(prod_but_not_genomics) == org.ids("pipelines")


def test_include_filters_are_alternatives(aws, org) -> None:
    found = discover(aws, include_accounts=[org.accounts["playground"]], include_ous=[org.team])
    assert ids(found) == org.ids("pipelines", "playground")


def test_tag_filters(aws, org) -> None:
    # the suspended account is tagged env=prod too, and stays out
    assert ids(discover(aws, include_tags={"env": "prod"})) == org.ids("genomics", "pipelines")
    assert ids(discover(aws, include_tags={"env": ["dev", "prod"]})) == org.ids("genomics", "pipelines", "playground")
    assert ids(discover(aws, include_tags={"env": "prod"}, exclude_tags={"team": "platform"})) == org.ids("genomics")
    assert ids(discover(aws, exclude_tags={"env": "dev"})) == org.ids("management", "genomics", "pipelines")
    tagged = {a.account_id: a.tags for a in discover(aws, include_tags={"team": ["genomics"]})}
    assert tagged == {org.accounts["genomics"]: {"env": "prod", "team": "genomics"}}


def test_tags_are_read_only_when_a_filter_needs_them(aws, org) -> None:
    plain, tagged = ApiCallCounter(), ApiCallCounter()
    discover(aws, counter=plain, include_ous=[org.prod])
    discover(aws, counter=tagged, exclude_tags={"env": "dev"})
    assert "organizations:ListTagsForResource" not in plain.snapshot()
    assert tagged.snapshot()["organizations:ListTagsForResource"] == 4  # one per ACTIVE account
    # the tree walk: one listing of each kind per root and OU
    for calls in (plain.snapshot(), tagged.snapshot()):
        assert calls["organizations:ListOrganizationalUnitsForParent"] == 4
        assert calls["organizations:ListAccountsForParent"] == 4


def test_an_explicit_list_needs_no_organization(aws) -> None:
    counter = ApiCallCounter()
    found = discover_accounts(aws, Targets(accounts=["210987654321", ACCOUNT, ACCOUNT]), counter=counter)
    assert ids(found) == [ACCOUNT, "210987654321"]  # sorted, deduplicated, the caller's only because listed
    assert counter.snapshot() == {}


def test_unknown_ou_and_empty_selection_are_clear_errors(aws, org) -> None:
    with pytest.raises(TargetError, match="ou-zzzz-zzzzzzzz"):
        discover(aws, include_ous=["ou-zzzz-zzzzzzzz"])
    with pytest.raises(TargetError, match="no ACTIVE account"):
        discover(aws, include_tags={"env": "staging"})
    # an include list naming a suspended account is not an error: the others are still audited
    assert ids(discover(aws, include_accounts=[org.accounts["retired"], org.accounts["genomics"]])) == org.ids(
        "genomics"
    )


def test_organizations_denied_names_the_call(aws, org) -> None:
    fault = Fault(aws, "organizations:ListRoots", lambda r: error_response("organizations", "AccessDeniedException"))
    with pytest.raises(TargetError) as raised:
        discover(aws)
    assert fault.injected == 1
    assert "organizations:ListRoots failed with AccessDeniedException" in str(raised.value)
    assert "needs organizations:ListRoots" in str(raised.value)
    assert isinstance(raised.value, ConfigError)  # the CLI's exit code 2, no traceback


# --- regions and cells ----------------------------------------------------------------------------------


def _omics_regions_in_endpoint_data(partition: str) -> list[str]:
    """Read botocore's endpoints.json directly, as a check independent of get_available_regions."""
    data = botocore.session.get_session().get_component("data_loader").load_data("endpoints")
    [part] = [p for p in data["partitions"] if p["partition"] == partition]
    endpoints = part["services"].get("omics", {}).get("endpoints", {})
    return sorted(r for r, spec in endpoints.items() if "fips" not in r and not spec.get("deprecated"))


def test_default_regions_are_where_healthomics_has_endpoints(aws) -> None:
    expected = _omics_regions_in_endpoint_data("aws")
    assert REGION in expected and "us-west-1" not in expected
    assert default_regions(aws) == expected
    china = boto3.Session(region_name="cn-north-1")
    assert default_regions(china) == _omics_regions_in_endpoint_data("aws-cn") == []
    with pytest.raises(TargetError, match="no endpoint in partition aws-cn"):
        plan_regions(parse_config({"targets": {"accounts": [ACCOUNT]}}), china)


def test_config_regions_narrow_and_exclude(aws) -> None:
    targets = {"accounts": [ACCOUNT]}
    assert plan_regions(parse_config({"targets": targets}), aws) == default_regions(aws)
    narrowed = parse_config({"regions": ["eu-west-1", "us-east-1"], "targets": targets})
    assert plan_regions(narrowed, aws) == ["eu-west-1", "us-east-1"]
    excluded = parse_config({"targets": {**targets, "exclude_regions": ["il-central-1", "us-east-1"]}})
    assert plan_regions(excluded, aws) == [r for r in default_regions(aws) if r not in ("il-central-1", "us-east-1")]
    # without targets: the session's region, as scan_live does
    assert plan_regions(parse_config({}), aws) == [REGION]
    with pytest.raises(TargetError, match="xx-nowhere-1"):
        plan_regions(parse_config({"regions": ["xx-nowhere-1"], "targets": targets}), aws)
    with pytest.raises(TargetError, match="every region is excluded"):
        plan_regions(parse_config({"regions": [REGION], "targets": {**targets, "exclude_regions": [REGION]}}), aws)


def test_plan_cells_is_accounts_times_regions(aws, org) -> None:
    config = parse_config({"regions": ["us-west-2", REGION], "targets": {"organization": {"include_ous": [org.prod]}}})
    cells = plan_cells(config, aws)
    assert cells == [Cell(account=a, region=r) for a in org.ids("genomics", "pipelines") for r in (REGION, "us-west-2")]
    # no targets: the caller's own account
    assert plan_cells(parse_config({}), aws) == [Cell(account=ACCOUNT, region=REGION)]


# --- role sessions ---------------------------------------------------------------------------------------


class AssumeRoleCalls:
    """Records the AssumeRole requests a session sends (moto still answers them)."""

    def __init__(self, session: boto3.Session) -> None:
        self.requests: list[dict[str, str | None]] = []
        session.events.register("before-send.sts.AssumeRole", self)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> None:
        names = ("RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId")
        self.requests.append({n: request_param(request, n) for n in names})


def test_account_session_assumes_the_role_once_and_reaches_the_account(aws, org) -> None:
    member = org.accounts["genomics"]
    calls = AssumeRoleCalls(aws)
    role = RoleSettings(external_id="audit-2026", session_name="nightly-audit", duration_seconds=1800)
    session = account_session(aws, member, role)
    assert calls.requests == [
        {
            "RoleArn": f"arn:aws:iam::{member}:role/OmicsEcrAuditReadOnly",
            "RoleSessionName": "nightly-audit",
            "DurationSeconds": "1800",
            "ExternalId": "audit-2026",
        }
    ]
    for region in (REGION, "eu-west-1"):
        assert session.client("sts", region_name=region).get_caller_identity()["Account"] == member
    assert session.region_name == aws.region_name
    assert len(calls.requests) == 1  # a 30-minute session is not refreshed on every call


def test_account_session_makes_working_s3_clients(aws, org) -> None:
    """Fix backups and the Lambda write to S3 through member sessions: boto3's S3 methods must inject once."""
    member = org.accounts["genomics"]
    session = account_session(aws, member, RoleSettings())
    s3 = session.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="audit-backups")
    s3.put_object(Bucket="audit-backups", Key="k", Body=b"v")
    assert hasattr(s3, "upload_file")
    assert session.resource("s3").Object("audit-backups", "k").get()["Body"].read() == b"v"
    # ...and the base session still works as before
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_role_arn_template(aws, org) -> None:
    member = org.accounts["playground"]
    calls = AssumeRoleCalls(aws)
    role = RoleSettings(arn_template="arn:{partition}:iam::{account}:role/security/Auditor")
    session = account_session(aws, member, role)
    assert calls.requests[0]["RoleArn"] == f"arn:aws:iam::{member}:role/security/Auditor"
    assert calls.requests[0]["ExternalId"] is None
    assert session.client("sts").get_caller_identity()["Account"] == member


def test_credentials_are_refreshed_before_they_expire(aws, org) -> None:
    member = org.accounts["pipelines"]
    calls = AssumeRoleCalls(aws)
    now = [datetime.now(UTC)]
    session = account_session(aws, member, RoleSettings(duration_seconds=3600), time_fetcher=lambda: now[0])
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials()
    now[0] += timedelta(minutes=40)  # 20 minutes left: still good
    assert credentials.get_frozen_credentials().access_key == first.access_key
    assert len(calls.requests) == 1
    now[0] += timedelta(minutes=6)  # 14 minutes left: inside the 15-minute advisory window
    second = credentials.get_frozen_credentials()
    assert len(calls.requests) == 2
    assert second.access_key != first.access_key
    assert session.client("sts").get_caller_identity()["Account"] == member  # the new keys work


def test_short_sessions_refresh_shortly_before_expiry(aws, org) -> None:
    # botocore's 15-minute advisory window would re-assume a 15-minute session on every call
    assert refresh_windows(900) == (225, 150)
    assert refresh_windows(3600) == (900, 600)  # botocore's own defaults at an hour
    assert refresh_windows(43200) == (900, 600)
    calls = AssumeRoleCalls(aws)
    session = account_session(aws, org.accounts["genomics"], RoleSettings(duration_seconds=900))
    for _ in range(3):
        session.client("sts").get_caller_identity()
    assert len(calls.requests) == 1


def test_assume_role_failure_raises_the_sts_error(aws, org) -> None:
    member = org.accounts["genomics"]
    Fault(
        aws,
        "sts:AssumeRole",
        lambda r: error_response("sts", "AccessDenied", 403, "not authorized to perform: sts:AssumeRole"),
        when=lambda r: member in (request_param(r, "RoleArn") or ""),
    )
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        account_session(aws, member, RoleSettings())
    account_session(aws, org.accounts["playground"], RoleSettings())  # another account is unaffected


# --- configuration -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"targets": {}}, "give exactly one of targets.accounts"),
        ({"targets": {"accounts": ["1234"]}}, "not 12-digit AWS account ids"),
        ({"targets": {"accounts": [], "organization": {}}}, "list at least one account id"),
        ({"targets": {"organization": {"include_ous": ["prod"]}}}, "not organizational unit or root ids"),
        ({"targets": {"organization": {"include_tags": ["env=prod"]}}}, "a mapping of tag key"),
        ({"targets": {"organization": {"include_account": []}}}, "include_account: unknown setting"),
        (
            {"targets": {"accounts": [ACCOUNT], "role": {"arn_template": "arn:aws:iam::{acct}:role/A"}}},
            "must contain {account}",
        ),
        (
            {"targets": {"accounts": [ACCOUNT], "role": {"arn_template": "arn:aws:s3:::{account}"}}},
            "does not make an IAM role ARN",
        ),
        ({"targets": {"accounts": [ACCOUNT], "role": {"name": "A", "arn_template": "x"}}}, "targets.role"),
        ({"targets": {"accounts": [ACCOUNT], "role": {"duration_seconds": 60}}}, "greater than or equal to 900"),
        ({"targets": {"accounts": [ACCOUNT], "exclude_regions": ["europe"]}}, "not AWS region names"),
        ({"concurrency": {"rate_limits": {"HealthOmics": 5}}}, "not 'service'"),
        ({"concurrency": {"rate_limits": {"omics": 0}}}, "rates must be positive"),
        ({"concurrency": {"max_cells": 0}}, "greater than or equal to 1"),
    ],
)
def test_config_mistakes_are_named(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    assert message in str(raised.value)


def test_config_accepts_unquoted_account_ids_and_defaults() -> None:
    config = parse_config({"targets": {"accounts": [123456789012], "organization": None}})
    assert config.targets is not None and config.targets.accounts == ["123456789012"]
    assert (
        config.targets.role.arn("210987654321", "aws-cn") == "arn:aws-cn:iam::210987654321:role/OmicsEcrAuditReadOnly"
    )
    assert parse_config({}).targets is None  # no targets: the caller's account only, as before
    assert parse_config({"max_workers": 3}).workers_per_cell == 3
    assert parse_config({"concurrency": {"max_workers_per_cell": 5}, "max_workers": 3}).workers_per_cell == 5
