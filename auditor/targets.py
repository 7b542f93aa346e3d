"""Which (account, region) cells a scan covers, and the credentials that enter each account.

* **Accounts** come from ``Config.targets``: an explicit list, or the ACTIVE accounts of the AWS
  Organization, walked from its roots (ListRoots, ListOrganizationalUnitsForParent,
  ListAccountsForParent), so each account knows its OU path and an OU filter takes in every
  OU below it. Tags (ListTagsForResource) are read only when a tag filter needs them. Without
  ``targets`` the only account is the caller's own.
* **Regions** default to those where HealthOmics has an endpoint in botocore's endpoint data,
  in the caller's partition; ``Config.regions`` narrows them, ``targets.exclude_regions`` drops some.
* **Credentials**: :func:`account_session` assumes the configured role once and returns a boto3
  session whose credentials botocore refreshes (re-assuming the role) before they expire, so a
  run longer than the role's session duration keeps working.

Everything here reads only; the Step Functions "plan" step calls :func:`plan_cells`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import boto3
import botocore.exceptions
import botocore.session
import structlog
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    RefreshableCredentials,
)
from botocore.utils import parse_timestamp
from pydantic import BaseModel, ConfigDict, Field

from auditor.aws import ApiCallCounter, CollectOptions, call_error, client_config, make_client
from auditor.config import Config, OrganizationTargets, RoleSettings, Targets
from auditor.errors import ConfigError

log = structlog.get_logger("auditor.targets")

# The Organizations calls discovery makes (tags only when a tag filter needs them); all take "*" as Resource.
# auditor.permissions puts them in the audit account's policy.
DISCOVERY_PERMISSIONS: tuple[str, ...] = (
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
    "organizations:ListTagsForResource",
)

# Parallel listings while walking the organisation: Organizations throttles per account
# (TooManyRequestsException, retried by the adaptive retry mode), so keep it modest.
_ORG_WORKERS = 4


_loader_lock = threading.Lock()


class TargetError(ConfigError):
    """The targets cannot be worked out (no organisation access, an unknown OU, nothing selected): exit code 2."""


class Cell(BaseModel):
    """One unit of scanning: an account in a region."""

    model_config = ConfigDict(frozen=True)

    account: str
    region: str


class AccountTarget(BaseModel):
    account_id: str
    name: str | None = None
    ou_path: list[str] = Field(default_factory=list)  # the root id, then each OU id down to the account's parent
    tags: dict[str, str] = Field(default_factory=dict)  # read only when a tag filter needs them


# --- regions --------------------------------------------------------------------------------


def home_region(session: boto3.Session) -> str:
    return session.region_name or "us-east-1"


def partition_of(session: boto3.Session) -> str:
    return cast(str, session.get_partition_for_region(home_region(session)))  # boto3 is untyped


def default_regions(session: boto3.Session) -> list[str]:
    """Regions where HealthOmics has an endpoint (botocore's endpoint data), in the session's partition."""
    return sorted(session.get_available_regions("omics", partition_of(session)))


def known_regions(session: boto3.Session) -> set[str]:
    """Every region with ECR in any partition (get_available_regions lists one partition at a time)."""
    return {r for p in session.get_available_partitions() for r in session.get_available_regions("ecr", p)}


def plan_regions(config: Config, session: boto3.Session) -> list[str]:
    """The regions of every cell: config.regions, else HealthOmics' regions (targets) or the session's (no targets)."""
    regions = list(dict.fromkeys(config.regions))
    if not regions:
        if config.targets is None:
            regions = [home_region(session)]
        else:
            regions = default_regions(session)
            if not regions:
                raise TargetError(
                    f"HealthOmics has no endpoint in partition {partition_of(session)}; list the regions to scan "
                    "in the config's `regions`"
                )
    excluded = set(config.targets.exclude_regions) if config.targets else set()
    regions = [r for r in regions if r not in excluded]
    if not regions:
        raise TargetError("every region is excluded by targets.exclude_regions")
    unknown = sorted(set(regions) - known_regions(session))
    if unknown:
        raise TargetError(f"not AWS regions with ECR: {', '.join(unknown)}")
    return regions


# --- accounts -------------------------------------------------------------------------------


def caller_account(
    session: boto3.Session, *, endpoint_url: str | None = None, counter: ApiCallCounter | None = None
) -> str:
    """The account of the session's credentials (sts:GetCallerIdentity); botocore errors propagate."""
    sts = make_client(session, "sts", home_region(session), CollectOptions(endpoint_url=endpoint_url), _c(counter))
    return str(sts.get_caller_identity()["Account"])


def discover_accounts(
    session: boto3.Session,
    targets_cfg: Targets,
    *,
    endpoint_url: str | None = None,
    counter: ApiCallCounter | None = None,
) -> list[AccountTarget]:
    """The selected accounts, sorted by id. Organisation mode needs organizations:List* on the management
    account or a delegated administrator; a failure raises TargetError naming the call."""
    if targets_cfg.accounts is not None:
        return [AccountTarget(account_id=a) for a in sorted(set(targets_cfg.accounts))]
    assert targets_cfg.organization is not None
    org_cfg = targets_cfg.organization
    client = make_client(
        session, "organizations", home_region(session), CollectOptions(endpoint_url=endpoint_url), _c(counter)
    )
    try:
        accounts, units = _walk_organization(client)
        if org_cfg.needs_tags:
            _read_tags(client, accounts)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        operation = getattr(exc, "operation_name", None)
        error = call_error(exc, f"organizations:{operation}" if operation else "credentials", "organization")
        raise TargetError(f"cannot list the organization's accounts: {error.describe()}") from None
    unknown = sorted(set(org_cfg.include_ous + org_cfg.exclude_ous) - units)
    if unknown:
        raise TargetError(f"targets.organization names OU(s) not in the organization: {', '.join(unknown)}")
    active = {a.account_id for a in accounts}
    missing = sorted(set(org_cfg.include_accounts) - active)
    if missing:
        # Not an error: an account closed since the config was written must not stop the audit of the others.
        log.warning("targets_not_active", accounts=missing)
    selected = [a for a in accounts if is_selected(a, org_cfg)]
    if not selected:
        raise TargetError("no ACTIVE account of the organization matches targets.organization")
    log.info("targets_discovered", active=len(accounts), selected=len(selected))
    return sorted(selected, key=lambda a: a.account_id)


def is_selected(account: AccountTarget, org_cfg: OrganizationTargets) -> bool:
    """Any include filter matching (or none given) and no exclude filter matching."""
    included = not org_cfg.has_includes or _matches(
        account, org_cfg.include_accounts, org_cfg.include_ous, org_cfg.include_tags
    )
    return included and not _matches(account, org_cfg.exclude_accounts, org_cfg.exclude_ous, org_cfg.exclude_tags)


def _matches(account: AccountTarget, ids: list[str], ous: list[str], tags: dict[str, list[str]]) -> bool:
    return (
        account.account_id in ids
        or any(unit in ous for unit in account.ou_path)
        or any(account.tags.get(key) in values for key, values in tags.items())
    )


def _walk_organization(client: Any) -> tuple[list[AccountTarget], set[str]]:
    """Every ACTIVE account with its OU path, and every root and OU id; one level of the tree at a time."""
    frontier = [(root["Id"], [root["Id"]]) for root in _pages(client, "list_roots", "Roots")]
    accounts: list[AccountTarget] = []
    units: set[str] = set()
    with ThreadPoolExecutor(max_workers=_ORG_WORKERS, thread_name_prefix="org") as pool:
        while frontier:
            children = list(pool.map(lambda item: _children(client, item[0]), frontier))
            next_frontier: list[tuple[str, list[str]]] = []
            for (parent, path), (ous, members) in zip(frontier, children, strict=True):
                units.add(parent)
                next_frontier.extend((ou["Id"], [*path, ou["Id"]]) for ou in ous)
                for member in members:
                    # State (newer) supersedes Status (deprecated); SUSPENDED/PENDING_CLOSURE/CLOSED accounts
                    # cannot be entered, and scanning them would only produce ERRORs.
                    state = member.get("State") or member.get("Status")
                    if state != "ACTIVE":
                        log.info("target_skipped", account=member["Id"], state=state)
                        continue
                    accounts.append(AccountTarget(account_id=member["Id"], name=member.get("Name"), ou_path=path))
            frontier = next_frontier
    return accounts, units


def _children(client: Any, parent: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ous = _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)
    members = _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent)
    return ous, members


def _read_tags(client: Any, accounts: list[AccountTarget]) -> None:
    def read(account: AccountTarget) -> None:
        tags = _pages(client, "list_tags_for_resource", "Tags", ResourceId=account.account_id)
        account.tags = {t["Key"]: t.get("Value", "") for t in tags}

    with ThreadPoolExecutor(max_workers=_ORG_WORKERS, thread_name_prefix="org-tags") as pool:
        list(pool.map(read, accounts))


def _pages(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**params):
        out.extend(page.get(key, []))
    return out


def _c(counter: ApiCallCounter | None) -> ApiCallCounter:
    return counter if counter is not None else ApiCallCounter()


# --- cells ----------------------------------------------------------------------------------


def plan_cells(
    config: Config,
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    counter: ApiCallCounter | None = None,
) -> list[Cell]:
    """Every (account, region) to scan, sorted. Without ``targets``: the caller's account in ``plan_regions``."""
    regions = plan_regions(config, session)
    if config.targets is None:
        try:
            accounts = [caller_account(session, endpoint_url=endpoint_url, counter=counter)]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            error = call_error(exc, "sts:GetCallerIdentity")
            raise TargetError(f"cannot identify the caller's account: {error.describe()}") from None
    else:
        found = discover_accounts(session, config.targets, endpoint_url=endpoint_url, counter=counter)
        accounts = [a.account_id for a in found]
    return [Cell(account=a, region=r) for a in sorted(accounts) for r in sorted(regions)]


def cells_by_account(cells: Iterable[Cell]) -> dict[str, list[Cell]]:
    out: dict[str, list[Cell]] = {}
    for cell in cells:
        out.setdefault(cell.account, []).append(cell)
    return out


# --- credentials ----------------------------------------------------------------------------


def refresh_windows(duration_seconds: int) -> tuple[int, int]:
    """(advisory, mandatory) refresh lead times for credentials lasting ``duration_seconds``.

    botocore's defaults (15 and 10 minutes) assume credentials of an hour or more; with the 15-minute
    minimum duration they would make every call re-assume the role. A quarter and a sixth of the
    duration give the same lead times at one hour and sensible ones below it.
    """
    return min(15 * 60, duration_seconds // 4), min(10 * 60, duration_seconds // 6)


class _NoCache(dict[str, Any]):
    """Disables the fetcher's cache, which exists to share credentials between processes (the CLI's
    file cache). Here the refreshable credentials alone decide when to re-assume the role, so a fetch
    must always call STS; a cached answer judged by another clock could hand back expiring keys."""

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


class _FixedProvider(CredentialProvider):  # type: ignore[misc]  # botocore has no type information
    METHOD = "assume-role"
    CANONICAL_NAME = "custom-omics-ecr-audit"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def account_session(
    base_session: boto3.Session,
    account_id: str,
    role_cfg: RoleSettings,
    *,
    endpoint_url: str | None = None,
    counter: ApiCallCounter | None = None,
    time_fetcher: Callable[[], datetime] | None = None,
) -> boto3.Session:
    """A session in ``account_id`` through the configured role, with credentials that refresh themselves.

    The role is assumed now, once: a failure (AccessDenied, no credentials...) raises the botocore error
    here, so the caller can report every region of the account at once. botocore's own machinery then
    keeps the credentials fresh (``AssumeRoleCredentialFetcher`` + ``RefreshableCredentials``): shortly
    before they expire, the next call re-assumes the role. ``time_fetcher`` is the credentials' clock (tests).

    The new session keeps the base session's profile, region and event handlers (instrumentation,
    the sandbox, the tests' fault injection); only its credentials differ.
    """
    region = home_region(base_session)
    role_arn = role_cfg.arn(account_id, partition_of(base_session))
    options = CollectOptions(endpoint_url=endpoint_url, rate_limits=None)
    calls = _c(counter)

    def sts_client(service: str, **credentials: Any) -> Any:
        # Regional STS (the client's region): its tokens are valid in every region, opt-in ones included.
        kwargs: dict[str, Any] = {"region_name": region, "config": client_config(region, options), **credentials}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return calls.attach(base_session.client(service, **kwargs))

    source = base_session.get_credentials()
    if source is None:
        raise botocore.exceptions.NoCredentialsError()
    extra: dict[str, Any] = {"RoleSessionName": role_cfg.session_name, "DurationSeconds": role_cfg.duration_seconds}
    if role_cfg.external_id:
        extra["ExternalId"] = role_cfg.external_id
    fetcher = AssumeRoleCredentialFetcher(sts_client, source, role_arn, extra_args=extra, cache=_NoCache())
    first = fetcher.fetch_credentials()
    advisory, mandatory = refresh_windows(role_cfg.duration_seconds)
    credentials = RefreshableCredentials(
        access_key=first["access_key"],
        secret_key=first["secret_key"],
        token=first["token"],
        expiry_time=parse_timestamp(first["expiry_time"]),
        refresh_using=fetcher.fetch_credentials,
        method="assume-role",
        time_fetcher=time_fetcher or (lambda: datetime.now(UTC)),
        advisory_timeout=advisory,
        mandatory_timeout=mandatory,
        account_id=first.get("account_id"),
    )
    log.info("role_assumed", account=account_id, role=role_arn)
    return session_with_credentials(base_session, credentials)


class _SessionWithCopiedHandlers(boto3.Session):  # type: ignore[misc]  # boto3 has no type information
    """A boto3 session built on a botocore session whose handlers were copied from another boto3 session.

    boto3 registers its own handlers (S3 transfer methods, resource customisations) on every session it
    wraps; the copy already holds them, and registering them twice makes every S3 client fail with
    "Cannot inject class attribute 'upload_file'".
    """

    def _register_default_handlers(self) -> None:
        pass


def session_with_credentials(base_session: boto3.Session, credentials: Credentials) -> boto3.Session:
    """A boto3 session like ``base_session`` (profile, region, event handlers) using ``credentials``."""
    base = base_session._session  # boto3 exposes its botocore session only under this name
    core = botocore.session.Session(
        # A copy of the base's handlers, builtin ones included: what is registered later on either
        # session stays on that session.
        event_hooks=copy.copy(base.get_component("event_emitter")),
        include_builtin_handlers=False,
        profile=base.profile,
    )
    # Service models are the same for every account: share the base's loader and its cache instead of
    # parsing them again for each of hundreds of accounts.
    core.register_component("data_loader", base.get_component("data_loader"))
    core.register_component("credential_provider", CredentialResolver(providers=[_FixedProvider(credentials)]))
    with _loader_lock:
        session = _SessionWithCopiedHandlers(botocore_session=core, region_name=base_session.region_name)
        # boto3 appends its data folder to the (now shared) loader's search path for every session it wraps
        paths = session._session.get_component("data_loader").search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session
