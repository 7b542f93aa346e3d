"""The real-time guard: one CloudTrail API event re-judges what it changed, within seconds (docs/guard.md).

An EventBridge rule (``deploy/``: :func:`event_pattern`) sends the Lambda every successful call of
:data:`REACTIONS` — ECR repositories, repository and registry policies, cache rules, creation templates and
lifecycle policies, HealthOmics workflows, IAM changes to roles — as an "AWS API Call via CloudTrail" event
(``detail`` is the CloudTrail record). ``auditor.lambda_handler`` routes such an event here (action ``guard``).

The guard re-uses the engine: the event's row of :data:`REACTIONS` names the rules to re-evaluate and what the
call changed (:class:`Touched`); the collector reads only those rules' facets, in the event's account and region
(every audited region for IAM, whose events CloudTrail delivers in us-east-1 only), scoped to the named
repositories, roles or workflow (``CollectOptions.only_*``); and only the findings about what the event touched
are kept (a registry-level rule, such as the registry policy's, is kept whole).

A FAIL is *new* unless the last nightly run (``latest/findings.json``) had it as FAIL or MUTED, or the guard
already sent it since that run (``guard/sent/<account>/<finding id>.json``). New FAILs go to SNS, worded by
``auditor.notify.guard_notification``; every event's result goes to ``guard/<date>/<event id>.json``.

With ``GUARD_FIX_ENABLED`` (off by default) a new FAIL of a rule the row allows to fix (a repository's policy:
a new repository, or a policy change that removed the omics statement) is fixed as ``fix --apply`` fixes it:
planned by the rule's fixer (a merge, never a replacement), applied through the member fix role with
``GUARD_MAX_CHANGES`` writes at most, backed up first under ``backups/<account>/guard-<event id>/``, the
active-run interlock of cache-rule changes as ``apply_plan`` has it; then the repository's policy is read back
and judged again.

Everything in the event is untrusted. :class:`GuardEvent` validates it before any setting is read or any client
made: bounded size (EventBridge's 256 KiB), the envelope and the record agreeing (source, region, account), and
every name the guard uses matched whole against its AWS grammar; a call that failed (``errorCode``) is ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from auditor.lambda_handler import (
    AccountId,
    Arn,
    Context,
    EventError,
    Region,
    Text,
    _Event,
    _full,
    _one_line,
    action,
)

log = structlog.get_logger("auditor.guard")

DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_LIMIT = 256 * 1024  # bytes of JSON: the largest event EventBridge carries
# CloudTrail's eventSource -> EventBridge's source
SOURCES: dict[str, str] = {
    "ecr.amazonaws.com": "aws.ecr",
    "omics.amazonaws.com": "aws.omics",
    "iam.amazonaws.com": "aws.iam",
}
RECORD_PREFIX = "guard"  # guard/<date>/<event id>.json
KNOWN_KEY = "latest/known.json"  # what the guard needs of the last nightly run (known_index), beside findings.json
KNOWN_LIMIT = 64 * 1024 * 1024  # bytes of latest/known.json read back (~40 bytes a known FAIL)
SENT_PREFIX = "guard/sent"  # guard/sent/<account>/<finding id>.json: a FAIL the guard published
# CloudTrail records IAM (a global service) in one region of each partition, and EventBridge receives it there.
IAM_EVENT_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

# --- names, matched whole against their AWS grammars (API references) -----------------------------------

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_REPOSITORY = re.compile(rf"(?:{_COMPONENT}/)*{_COMPONENT}")  # ECR repositoryName, 2-256
_TEMPLATE_PREFIX = re.compile(rf"ROOT|(?:{_COMPONENT}/)*{_COMPONENT}/?")  # creation template prefix, 1-256
_ROLE_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")  # IAM RoleName
_WORKFLOW_ID = re.compile(r"[0-9]{1,18}")  # HealthOmics workflow id
_UPSTREAM = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")  # a registry host
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")  # EventBridge id, CloudTrail eventID (UUIDs)
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")

EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_full(_EVENT_ID, "an event id (a UUID)"))
]
EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(_full(_EVENT_NAME, "an API operation name"))
]


def _name(
    params: Mapping[str, Any] | None,
    key: str,
    pattern: re.Pattern[str],
    what: str,
    limit: int,
    where: str = "requestParameters",
) -> str:
    """``params[key]``, a string matching ``pattern`` whole and at most ``limit`` long, else ValueError."""
    value = (params or {}).get(key)
    if not isinstance(value, str) or not value or len(value) > limit or not pattern.fullmatch(value):
        raise ValueError(f"detail.{where}.{key} must be {what}")
    return value


# --- what an event touched ------------------------------------------------------------------------------

_PREFIX_KINDS = ("pull-through-cache-rule", "registry-policy", "creation-template-coverage", "registry-scanning")


@dataclass(frozen=True)
class Touched:
    """What one call changed: the resources whose findings the guard keeps."""

    repositories: frozenset[str] = frozenset()  # repository names, in the event's account
    roles: frozenset[str] = frozenset()  # IAM role names
    workflows: frozenset[str] = frozenset()  # HealthOmics workflow ids
    prefixes: frozenset[str] = frozenset()  # pull-through cache rule prefixes
    templates: frozenset[str] = frozenset()  # repository creation template prefixes
    upstreams: frozenset[str] = frozenset()  # upstream registry URLs of the cache rules named
    registry: bool = False  # the registry policy (the rules reading it are kept whole)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: sorted(v) for k, v in vars(self).items() if isinstance(v, frozenset) and v}
        if self.registry:
            out["registry"] = True
        return out

    def about(self, finding: Any) -> bool:
        """True when the finding is about something this call touched; an ERROR about no resource of its own
        (a facet that could not be read) is kept too: it says the guard could not judge."""
        from auditor.findings import Status
        from auditor.upstreams import upstream_for_ptc_url

        resource: str = finding.resource
        unjudged = bool(finding.status == Status.ERROR)
        if ":repository/" in resource:  # a repository, an image (":tag", "@digest") or "<repository>|<role>"
            repository, _, role = resource.partition("|")
            account = repository.split(":")[4] if repository.count(":") >= 5 else ""
            name = re.split(r"[:@]", repository.split(":repository/", 1)[1], maxsplit=1)[0]
            return (account == finding.account and name in self.repositories) or (
                bool(role) and role.rsplit("/", 1)[-1] in self.roles
            )
        if ":role/" in resource:
            return resource.rsplit("/", 1)[-1] in self.roles
        if ":workflow/" in resource:
            return resource.rsplit("/", 1)[-1] in self.workflows
        kind, _, key = resource.partition("/")
        if not key:
            return unjudged
        if kind in _PREFIX_KINDS:
            return key in self.prefixes
        if kind == "repository-creation-template":
            return key in self.templates
        if kind == "upstream":
            needed_by = " ".join(str(x) for x in finding.evidence.get("needed_by") or [])
            if any(f"workflow {w} " in needed_by for w in self.workflows):
                return True
            wanted = upstream_for_ptc_url(key)
            for url in self.upstreams:
                have = upstream_for_ptc_url(url)
                if url == key or (wanted is not None and have is not None and wanted.key == have.key):
                    return True
            return False
        return unjudged


# --- the reactions: event name -> rules, and what the call names ------------------------------------------


def _repository(call: CloudTrailDetail, account: str) -> Touched:
    params = call.request_parameters
    registry = (params or {}).get("registryId")
    if registry is not None and registry != account:
        raise ValueError("detail.requestParameters.registryId must be the event's own account")
    return Touched(
        repositories=frozenset({_name(params, "repositoryName", _REPOSITORY, "an ECR repository name", 256)})
    )


def _registry(call: CloudTrailDetail, account: str) -> Touched:
    return Touched(registry=True)


def _cache_rule(call: CloudTrailDetail, account: str) -> Touched:
    prefix = _name(
        call.request_parameters, "ecrRepositoryPrefix", _TEMPLATE_PREFIX, "a pull-through cache rule prefix", 30
    )
    upstreams = set()
    # Create and Update send the upstream; every one of the three returns it (Delete: the rule it deleted).
    for where, params in (("requestParameters", call.request_parameters), ("responseElements", call.response_elements)):
        if params and params.get("upstreamRegistryUrl") is not None:
            upstreams.add(_name(params, "upstreamRegistryUrl", _UPSTREAM, "a registry host name", 256, where))
    return Touched(prefixes=frozenset({prefix.rstrip("/")}), upstreams=frozenset(upstreams))


def _template(call: CloudTrailDetail, account: str) -> Touched:
    prefix = _name(call.request_parameters, "prefix", _TEMPLATE_PREFIX, "a creation template prefix", 256)
    return Touched(templates=frozenset({prefix}))


def _workflow(call: CloudTrailDetail, account: str) -> Touched:
    # CreateWorkflow returns the new id; CreateWorkflowVersion names the workflow in its request (URI member).
    if call.event_name == "CreateWorkflowVersion":
        workflow = _name(call.request_parameters, "workflowId", _WORKFLOW_ID, "a HealthOmics workflow id", 18)
    else:
        workflow = _name(
            call.response_elements, "id", _WORKFLOW_ID, "a HealthOmics workflow id", 18, "responseElements"
        )
    return Touched(workflows=frozenset({workflow}))


def _role(call: CloudTrailDetail, account: str) -> Touched:
    return Touched(roles=frozenset({_name(call.request_parameters, "roleName", _ROLE_NAME, "an IAM role name", 64)}))


@dataclass(frozen=True)
class Reaction:
    """What the guard does for one CloudTrail event name."""

    source: str  # CloudTrail eventSource
    rules: tuple[str, ...]  # the rules re-evaluated
    names: Callable[[CloudTrailDetail, str], Touched]  # (record, account) -> what the call touched; ValueError
    whole: tuple[str, ...] = ()  # rules about the registry as a whole: every finding of theirs is kept
    fix: tuple[str, ...] = ()  # rules whose new FAIL the guard may fix (GUARD_FIX_ENABLED)
    all_regions: bool = False  # a global service's event: judged in every audited region of the account


ECR, OMICS, IAM = "ecr.amazonaws.com", "omics.amazonaws.com", "iam.amazonaws.com"
_REPOSITORY_POLICY = ("repository-policy-grants-omics",)
_CACHE_RULE = Reaction(
    ECR,
    (
        "ptc-rule-coverage",
        "registry-policy-allows-omics",
        "creation-template-grants-omics",
        "ptc-rule-unchanged-during-run",
        "ecr-scanning-on",
    ),
    _cache_rule,
)
_TEMPLATE = Reaction(
    ECR,
    ("creation-template-grants-omics", "template-role-for-kms-and-tags"),
    _template,
    whole=("creation-template-grants-omics",),  # longest prefix, then ROOT: any template may cover any prefix
)
_REGISTRY_POLICY = Reaction(ECR, ("registry-policy-allows-omics",), _registry, whole=("registry-policy-allows-omics",))
_WORKFLOW = Reaction(OMICS, ("workflow-images-resolve", "registry-map-consistent", "ptc-rule-coverage"), _workflow)
_ROLE_TRUST = Reaction(IAM, ("service-role-trusts-omics",), _role, all_regions=True)
_ROLE_POLICY = Reaction(IAM, ("service-role-can-pull", "cross-account-source-grants"), _role, all_regions=True)

REACTIONS: dict[str, Reaction] = {
    # ECR: repositories (also those a pull through the cache creates) and their policies
    "CreateRepository": Reaction(ECR, _REPOSITORY_POLICY, _repository, fix=_REPOSITORY_POLICY),
    "SetRepositoryPolicy": Reaction(ECR, _REPOSITORY_POLICY, _repository, fix=_REPOSITORY_POLICY),
    "DeleteRepositoryPolicy": Reaction(ECR, _REPOSITORY_POLICY, _repository, fix=_REPOSITORY_POLICY),
    "PutLifecyclePolicy": Reaction(ECR, ("lifecycle-keeps-used-images",), _repository),
    # ECR: the registry
    "PutRegistryPolicy": _REGISTRY_POLICY,
    "DeleteRegistryPolicy": _REGISTRY_POLICY,
    "CreatePullThroughCacheRule": _CACHE_RULE,
    "UpdatePullThroughCacheRule": _CACHE_RULE,
    "DeletePullThroughCacheRule": _CACHE_RULE,
    "CreateRepositoryCreationTemplate": _TEMPLATE,
    "UpdateRepositoryCreationTemplate": _TEMPLATE,
    "DeleteRepositoryCreationTemplate": _TEMPLATE,
    # HealthOmics
    "CreateWorkflow": _WORKFLOW,
    "CreateWorkflowVersion": _WORKFLOW,
    # IAM: what a role trusts, and what it may do
    "UpdateAssumeRolePolicy": _ROLE_TRUST,
    "DeleteRole": Reaction(IAM, ("service-role-trusts-omics", "service-role-can-pull"), _role, all_regions=True),
    "PutRolePolicy": _ROLE_POLICY,
    "DeleteRolePolicy": _ROLE_POLICY,
    "AttachRolePolicy": _ROLE_POLICY,
    "DetachRolePolicy": _ROLE_POLICY,
    "PutRolePermissionsBoundary": _ROLE_POLICY,
    "DeleteRolePermissionsBoundary": _ROLE_POLICY,
}


def event_pattern() -> dict[str, Any]:
    """The EventBridge event pattern of exactly :data:`REACTIONS` (deploy/generate.py), successful calls only."""
    by_source: dict[str, list[str]] = {}
    for name, reaction in REACTIONS.items():
        by_source.setdefault(reaction.source, []).append(name)
    return {
        "source": sorted(SOURCES[s] for s in by_source),
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "eventSource": sorted(by_source),
            "eventName": sorted(REACTIONS),
            # a call that failed changed nothing: EventBridge does not even invoke the function for it
            "errorCode": [{"exists": False}],
        },
    }


# --- the event ----------------------------------------------------------------------------------------------


def _shown(value: Any) -> str | None:
    """Who made the call is shown, never used: a value that is not short printable ASCII is dropped, not refused."""
    if isinstance(value, str) and 0 < len(value) <= 256 and re.fullmatch(r"[\x20-\x7e]+", value):
        return value
    return None


Shown = Annotated[str | None, BeforeValidator(_shown)]


class _Identity(BaseModel):
    """``userIdentity``: only shown in the notification and the record (the guard decides nothing on it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    type: Shown = None
    arn: Shown = None
    invoked_by: Shown = Field(default=None, alias="invokedBy")  # a service calling for the principal


class CloudTrailDetail(BaseModel):
    """The CloudTrail record EventBridge carries in ``detail``; fields the guard does not read are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, hide_input_in_errors=True)

    event_source: Literal["ecr.amazonaws.com", "omics.amazonaws.com", "iam.amazonaws.com"] = Field(alias="eventSource")
    event_name: EventName = Field(alias="eventName")
    event_id: EventId = Field(alias="eventID")
    event_time: Text = Field(alias="eventTime")
    aws_region: Region = Field(alias="awsRegion")
    recipient_account_id: AccountId | None = Field(default=None, alias="recipientAccountId")
    error_code: Text | None = Field(default=None, alias="errorCode")
    user_identity: _Identity = Field(default_factory=_Identity, alias="userIdentity")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(default=None, alias="responseElements")


class GuardEvent(_Event):
    """An EventBridge "AWS API Call via CloudTrail" event (or the same with ``"action": "guard"``, a replay)."""

    action: Literal["guard"] | None = None
    version: Text | None = None
    id: EventId
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    source: Literal["aws.ecr", "aws.omics", "aws.iam"]
    account: AccountId
    time: Text
    region: Region
    resources: list[Arn] = Field(default_factory=list, max_length=20)
    replay_name: Text | None = Field(default=None, alias="replay-name")
    detail: CloudTrailDetail

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        try:
            size = len(json.dumps(data))
        except (TypeError, ValueError, RecursionError):
            raise ValueError("the event must be JSON data") from None
        if size > EVENT_LIMIT:
            raise ValueError(f"the event must be at most {EVENT_LIMIT} bytes of JSON, as EventBridge sends")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> GuardEvent:
        d = self.detail
        if SOURCES[d.event_source] != self.source:
            raise ValueError("source and detail.eventSource name different services")
        if d.aws_region != self.region:
            raise ValueError("region and detail.awsRegion differ")
        if d.recipient_account_id is not None and d.recipient_account_id != self.account:
            raise ValueError("account and detail.recipientAccountId differ")
        reaction = REACTIONS.get(d.event_name)
        if d.error_code is None and reaction is not None and reaction.source == d.event_source:
            reaction.names(d, self.account)  # every name the guard will use, matched whole before any call
        return self

    def summary(self) -> dict[str, Any]:
        d = self.detail
        return {
            "id": self.id,
            "name": d.event_name,
            "source": d.event_source,
            "account": self.account,
            "region": self.region,
            "time": d.event_time,
            "cloudtrail_event_id": d.event_id,
            "caller": d.user_identity.arn or d.user_identity.type,
            "invoked_by": d.user_identity.invoked_by,
        }


# --- what the last nightly run knows ------------------------------------------------------------------------


class Known(BaseModel):
    """What the guard needs of the last nightly run, small (one GET, not the whole findings document):
    the cells it scanned, its FAIL and MUTED finding ids and the roles the service-role rules judged, by account.
    ``finish`` writes it to ``latest/known.json`` beside ``latest/findings.json`` (:func:`known_index`)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    run_id: str
    started: datetime
    cells: list[tuple[str, str]]
    known: dict[str, list[str]] = Field(default_factory=dict)  # account -> finding ids (FAIL, MUTED)
    service_roles: dict[str, list[str]] = Field(default_factory=dict)  # account -> role names judged


def known_index(doc: Any) -> Known:
    """The :class:`Known` of a findings document."""
    from auditor.findings import Status

    known: dict[str, set[str]] = {}
    roles: dict[str, set[str]] = {}
    for f in doc.findings:
        if f.status in (Status.FAIL, Status.MUTED):
            known.setdefault(f.account, set()).add(f.id)
        if f.rule_id.startswith("service-role-") and ":role/" in f.resource:
            roles.setdefault(f.account, set()).add(f.resource.rsplit("/", 1)[-1])
    return Known(
        run_id=doc.run.id,
        started=doc.run.started,
        cells=sorted({(t.account, t.region) for t in doc.run.targets}),
        known={a: sorted(ids) for a, ids in sorted(known.items())},
        service_roles={a: sorted(names) for a, names in sorted(roles.items())},
    )


# --- the guard -----------------------------------------------------------------------------------------------


@action("guard", GuardEvent)
def guard(event: GuardEvent, ctx: Context) -> dict[str, Any]:
    """Re-judge what one API call changed: see the module docstring."""
    summary = event.summary()
    if not ctx.settings.guard_enabled:
        return _ignored(summary, "GUARD_ENABLED is false")
    d = event.detail
    if d.error_code is not None:
        return _ignored(summary, f"the call failed ({d.error_code}), so it changed nothing")
    reaction = REACTIONS.get(d.event_name)
    if reaction is None or reaction.source != d.event_source:
        return _ignored(summary, "not an API call the guard reacts to")
    rules = [r for r in ctx.rules if r.meta.id in reaction.rules]  # the configuration's selection still holds
    if not rules:
        return _ignored(summary, "the configuration selects none of the rules this call concerns")
    return _Run(event, ctx, reaction, reaction.names(d, event.account), rules).run()


def _ignored(summary: Mapping[str, Any], why: str) -> dict[str, Any]:
    log.info("guard_ignored", event_name=summary["name"], event_id=summary["id"], why=why)
    return {"event": dict(summary), "ignored": why}


class _Run:
    """One event's evaluation; :meth:`run` returns the action's result."""

    def __init__(self, event: GuardEvent, ctx: Context, reaction: Reaction, touched: Touched, rules: list[Any]):
        from auditor.aws import ApiCallCounter

        self.event = event
        self.ctx = ctx
        self.reaction = reaction
        self.touched = touched
        self.rules = rules
        self.calls = ApiCallCounter()  # the collector's, the fix's and the account sessions' calls
        self.summary = event.summary()
        self.summary["rules"] = [r.meta.id for r in rules]
        self.summary["touched"] = touched.describe()
        self.suppressions: list[Any] = []

    # -- what to judge, and where ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from auditor.findings import FindingsDocument, RunInfo, Status, Target, build_document
        from auditor.scan import suppress

        latest = self._latest()
        self.suppressions = self.ctx.suppressions()
        cells = self._cells(latest)
        if isinstance(cells, str):
            return _ignored(self.summary, cells)
        session = self._session()
        if isinstance(session, str):
            return _ignored(self.summary, session)
        if self.reaction.source == IAM and not self._omics_role(session, latest):
            return _ignored(self.summary, "not a role HealthOmics can assume (no omics trust, run or finding)")
        started = datetime.now(UTC)
        findings: list[Any] = []
        targets: list[Any] = []
        snapshots: dict[tuple[str, str], Any] = {}
        for account, region in cells:
            snap, judged, error = self._judge(session, account, region)
            findings.extend(judged)
            targets.append(Target(account=account, region=region, status="error" if error else "scanned", error=error))
            if snap is not None:
                snapshots[(account, region)] = snap
        run = RunInfo(
            id=f"guard-{self.event.id}",
            started=started,
            mode="guard",
            targets=targets,
            rules=[r.meta.id for r in self.rules],
            severity_threshold=self.ctx.config.severity_threshold,
        )
        doc: FindingsDocument = build_document(run, findings, self.calls.snapshot())
        if self.suppressions:
            doc = suppress(doc, self.suppressions)
        known = {i for ids in latest.known.values() for i in ids} if latest else set()
        since = latest.started if latest else None
        new = [f for f in doc.findings if f.status == Status.FAIL and f.id not in known and not self._sent(f, since)]
        fix = self._fix(new, snapshots) if self.ctx.settings.guard_fix_enabled else None
        record_key = f"{RECORD_PREFIX}/{datetime.now(UTC):%Y-%m-%d}/{self.event.id}.json"
        notified = self._notify(new, fix, self.ctx.uri(record_key))
        result: dict[str, Any] = {
            "event": self.summary,
            "cells": [f"{a}/{r}" for a, r in cells],
            "judged": {k: v for k, v in doc.summary["by_status"].items() if v},
            "new_fail_ids": [f.id for f in new],
            "notified": notified,
            "record": self.ctx.uri(record_key),
            "fix": fix,
            "api_calls": self.calls.snapshot(),
        }
        record = {**result, "previous_run": latest.run_id if latest else None, "findings": doc.findings}
        self.ctx.put(record_key, json.dumps(_jsonable(record), indent=2))
        if notified:
            for f in new:  # after the publish: a failed one is published again by the next event
                body = {"finding_id": f.id, "event_id": self.event.id, "sent_at": datetime.now(UTC).isoformat()}
                self.ctx.put(f"{SENT_PREFIX}/{f.account}/{f.id}.json", json.dumps(body))
        log.info(
            "guard_done",
            event_name=self.summary["name"],
            event_id=self.event.id,
            new=len(new),
            notified=notified,
            api_calls=sum(self.calls.snapshot().values()),
        )
        return result

    def _latest(self) -> Known | None:
        """What the last nightly run knows: latest/known.json, else (a run of an older version) the whole of
        latest/findings.json; None before the first run, or when neither can be read."""
        from auditor.findings import FindingsDocument

        try:
            text = self.ctx.get_bounded(KNOWN_KEY, KNOWN_LIMIT)
        except EventError:
            text = None
        if text is not None:
            try:
                return Known.model_validate_json(text)
            except ValidationError:
                log.warning("previous_run_unreadable", key=KNOWN_KEY)
        text = self.ctx.get("latest/findings.json")
        if text is None:
            return None
        try:
            return known_index(FindingsDocument.model_validate_json(text))
        except ValidationError:
            log.warning("previous_run_unreadable", key="latest/findings.json")
            return None

    def _cells(self, latest: Known | None) -> list[tuple[str, str]] | str:
        """The (account, region) cells to judge, or why the event is not the audit's business.

        The accounts and regions the last nightly run scanned; before the first run, the configuration's
        (accounts by id: OU and tag filters need the organisation's tree, which one event does not pay for).
        """
        from auditor.targets import plan_regions

        account, region = self.event.account, self.event.region
        if latest is not None:
            audited = sorted({(a, r) for a, r in latest.cells if a == account})
            if not audited:
                return f"account {account} was not audited by the last run"
        else:
            targets = self.ctx.config.targets
            if targets is not None and targets.accounts is not None and account not in targets.accounts:
                return f"account {account} is not among the configured targets"
            org = targets.organization if targets is not None else None
            if org is not None and (
                account in org.exclude_accounts
                or (
                    org.include_accounts
                    and not (org.include_ous or org.include_tags)
                    and account not in org.include_accounts
                )
            ):
                return f"account {account} is not among the configured targets"
            audited = [(account, r) for r in plan_regions(self.ctx.config, self.ctx.session)]
        if not self.reaction.all_regions:
            audited = [(a, r) for a, r in audited if r == region]
            if not audited:
                return f"region {region} is not audited"
        return audited

    def _session(self) -> Any:
        """A session in the event's account: the caller's own credentials there, else the member audit role."""
        import botocore.exceptions

        from auditor.aws import call_error
        from auditor.config import RoleSettings
        from auditor.targets import account_session, caller_account

        config, account = self.ctx.config, self.event.account
        endpoint = self.ctx.settings.endpoint_url
        own = caller_account(self.ctx.session, endpoint_url=endpoint, counter=self.calls)
        if config.targets is None:
            return self.ctx.session if account == own else f"account {account} is not the function's own account"
        role = config.targets.role or RoleSettings()
        if role.use_caller_credentials_for_own_account and account == own:
            return self.ctx.session
        try:
            return account_session(self.ctx.session, account, role, endpoint_url=endpoint, counter=self.calls)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return f"cannot enter account {account}: {call_error(exc, 'sts:AssumeRole').describe()}"

    def _omics_role(self, session: Any, latest: Known | None) -> bool:
        """Is the role one HealthOmics can assume: trusted by omics now, configured, or judged by the last run?

        One iam:GetRole: IAM events about every other role of the organisation cost nothing more.
        """
        import botocore.exceptions

        from auditor.collect import OMICS_PRINCIPAL, Collector, _policy_doc
        from auditor.grants import trusts_service
        from auditor.scan import collect_options

        names = self.touched.roles
        if any(arn.rsplit("/", 1)[-1] in names for arn in self.ctx.config.service_roles):
            return True
        if latest is not None and names & set(latest.service_roles.get(self.event.account, [])):
            return True
        options = collect_options(self.ctx.config, self.ctx.settings.endpoint_url)
        # the collector's client: the same credentials, limits and call counting as a scan's
        iam = Collector(session, self.event.region, [], options, self.calls, self.event.account).client("iam")
        for name in sorted(names):
            try:
                role = iam.get_role(RoleName=name)["Role"]
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                continue  # deleted, or unreadable: only the last run could have said it was a service role
            try:
                if trusts_service(_policy_doc(role.get("AssumeRolePolicyDocument")), OMICS_PRINCIPAL):
                    return True
            except ValueError:
                return True  # a trust policy we cannot read: judge the role rather than wave it through
        return False

    # -- judging one cell --------------------------------------------------------------------------------

    def _options(self) -> Any:
        from auditor.scan import collect_options

        t = self.touched
        return replace(
            collect_options(self.ctx.config, self.ctx.settings.endpoint_url),
            only_repositories=tuple(sorted(t.repositories)) if t.repositories else None,
            only_roles=tuple(sorted(t.roles)) if t.roles else None,
            only_workflows=tuple(sorted(t.workflows)) if t.workflows else None,
        )

    def _judge(self, session: Any, account: str, region: str) -> tuple[Any, list[Any], Any]:
        """(snapshot or None, the findings about what the event touched, the cell's error or None)."""
        from auditor.engine import cell_error_findings, run_rules
        from auditor.scan import collect_cell, facets_for, rule_context

        options = self._options()
        snap, error = collect_cell(session, region, facets_for(self.rules), options, self.calls, account_id=account)
        if snap is None:
            assert error is not None
            return None, cell_error_findings(self.rules, account, region, error), error
        self._add_this_event(snap)
        judged = run_rules(snap, self.rules, rule_context(self.ctx.config, options.now))
        whole = set(self.reaction.whole)
        return snap, [f for f in judged if f.rule_id in whole or self.touched.about(f)], None

    def _add_this_event(self, snap: Any) -> None:
        """A cache rule change is evidence for ptc-rule-unchanged-during-run before CloudTrail's event history
        shows it (LookupEvents lags by minutes): the event itself is added to what the collector read."""
        from auditor.collect import PTC_EVENT_NAMES
        from auditor.models import PtcRuleEvent

        d = self.event.detail
        if d.event_name not in PTC_EVENT_NAMES or "ptc_events" not in snap.facets or snap.ptc_events.value is None:
            return
        if any(e.event_id == d.event_id for e in snap.ptc_events.value):
            return
        try:
            when = datetime.fromisoformat(d.event_time.replace("Z", "+00:00"))
        except ValueError:
            return
        for prefix in self.touched.prefixes:
            snap.ptc_events.value.append(
                PtcRuleEvent(
                    event_id=d.event_id,
                    event_name=d.event_name,
                    event_time=when if when.tzinfo else when.replace(tzinfo=UTC),
                    ecr_repository_prefix=prefix,
                    username=d.user_identity.arn,
                )
            )

    # -- new, fixed, published ---------------------------------------------------------------------------

    def _sent(self, finding: Any, since: datetime | None) -> bool:
        """Did the guard publish this FAIL since the last nightly run started (which then did not have it)?"""
        text = self.ctx.get(f"{SENT_PREFIX}/{finding.account}/{finding.id}.json")
        if text is None:
            return False
        try:
            sent = datetime.fromisoformat(json.loads(text)["sent_at"])
        except (ValueError, KeyError, TypeError):
            return False
        return since is None or sent >= since

    def _fix(self, new: Sequence[Any], snapshots: Mapping[tuple[str, str], Any]) -> dict[str, Any] | None:
        """Fix the new FAILs of the rules the reaction allows, as `fix --apply` does (module docstring)."""
        import botocore.exceptions

        from auditor.errors import FixRefused
        from auditor.fix import KINDS, Clients, apply_plan, build_plan
        from auditor.fixrun import undo_command
        from auditor.nightly_fix import _aws_error, _role_session, backup_location
        from auditor.scan import rule_context

        wanted = [f for f in new if f.rule_id in self.reaction.fix and f.fixable]
        if not wanted:
            return None
        s = self.ctx.settings
        out: dict[str, Any] = {"budget": s.guard_max_changes, "findings": [f.id for f in wanted]}
        if not s.fix_role_arn or not s.member_fix_role_name:
            out["outcome"] = "skipped: GUARD_FIX_ENABLED needs FIX_ROLE_ARN and MEMBER_FIX_ROLE_NAME (EnableFix)"
            return out
        account = self.event.account
        try:
            partition = self.ctx.session.get_partition_for_region(self.event.region)
            fix_base = _role_session(self.ctx, self.ctx.session, s.fix_role_arn, None)
            member = f"arn:{partition}:iam::{account}:role/{s.member_fix_role_name}"
            clients = Clients(
                _role_session(self.ctx, fix_base, member, s.external_id or None), s.endpoint_url, self.calls
            )
            cells = sorted({(f.account, f.region) for f in wanted})
            plan = build_plan(
                [snapshots[c] for c in cells if c in snapshots],
                wanted,
                sorted({f.rule_id for f in wanted}),
                rule_context(self.ctx.config),
                clients,
                source=f"guard event {self.event.id} ({self.event.detail.event_name})",
                only_finding_ids={f.id for f in wanted},
                suppressions=self.suppressions,
            )
            out["changes"] = [c.summary for c in plan.changes]
            if plan.refused:
                out["refused"] = [r.reason for r in plan.refused]
            if not plan.changes:
                out["outcome"] = "nothing to apply"
                return out
            applied = apply_plan(
                plan,
                clients,
                backup_to=backup_location(s.bucket, account, f"guard-{self.event.id}"),
                max_changes=s.guard_max_changes,
            )
        except FixRefused as exc:
            out["outcome"] = _one_line(f"refused: {exc}", 500)
            return out
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            out["outcome"] = f"failed: {_aws_error(exc)}"
            log.error("guard_fix_failed", event_id=self.event.id, error=out["outcome"])
            return out
        out["applied"] = sum(1 for o in applied.outcomes if o.outcome == "applied")
        out["backup"] = applied.backup
        out["undo"] = undo_command(applied, plan, endpoint_url=s.endpoint_url) if applied.backup else None
        out["outcome"] = f"stopped: {applied.error}" if applied.error else "applied"
        out["verified"] = self._verify(plan, clients, snapshots, KINDS)
        log.info("guard_fix_applied", event_id=self.event.id, applied=out["applied"], backup=applied.backup)
        return out

    def _verify(self, plan: Any, clients: Any, snapshots: Mapping[tuple[str, str], Any], kinds: Any) -> dict[str, str]:
        """Each fixed finding judged again on its repository's policy as read back now (one read per change)."""
        from auditor.engine import REGISTRY, run_rule
        from auditor.models import Collected
        from auditor.scan import rule_context

        out: dict[str, str] = {}
        for change in plan.changes:
            snap = snapshots.get((change.account, change.region))
            if snap is None or change.target.kind != "repository_policy":
                continue
            now = kinds[change.target.kind].read(clients, change.target)
            policies = {**snap.repository_policies, change.target.key["repositoryName"]: Collected(value=now)}
            after = snap.model_copy(update={"repository_policies": policies})
            for f in run_rule(REGISTRY[change.rule_id], after, rule_context(self.ctx.config)):
                if f.id in change.finding_ids:
                    out[f.id] = f.status.value
        return out

    def _notify(self, new: Sequence[Any], fix: Mapping[str, Any] | None, record: str) -> bool:
        from auditor.notify import guard_notification

        s = self.ctx.settings
        if not new or not s.topic_arn:
            return False
        subject, message = guard_notification(self.summary, new, fix, record, s.new_in_message)
        self.ctx.client("sns").publish(TopicArn=s.topic_arn, Subject=subject, Message=message)
        return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def reaction_table() -> list[dict[str, Any]]:
    """One row per event name, for docs/guard.md: source, rules, what it names, kept whole, fixed."""
    rows = []
    for name, r in REACTIONS.items():
        rows.append(
            {
                "event": name,
                "source": r.source,
                "rules": list(r.rules),
                "names": r.names.__name__.lstrip("_").replace("_", " "),
                "whole": list(r.whole),
                "fix": list(r.fix),
                "all_regions": r.all_regions,
            }
        )
    return rows


__all__ = [
    "DETAIL_TYPE",
    "EVENT_LIMIT",
    "KNOWN_KEY",
    "REACTIONS",
    "CloudTrailDetail",
    "GuardEvent",
    "Known",
    "Reaction",
    "Touched",
    "event_pattern",
    "guard",
    "known_index",
    "reaction_table",
]
