"""Remediation engine: plan, apply, back up, roll back and verify.

The fixers in ``remediations/`` turn FAIL findings into a :class:`Plan`: for each
document they would change, the exact API calls and the document before and
after. Nothing here writes unless ``apply_plan`` is called, and ``apply_plan``

* refuses a change whose calls its target kind never makes (``StateKind.writes``), or whose account or
  region disagrees with its target's;
* given the plan the fixers make now (``reference``; ``fix --apply --plan`` re-plans live), refuses
  a saved plan with any change still to write that is not in it, identical in rule, target, calls and
  "after" document: a plan file is data, never a program;
* re-reads every target and refuses the whole plan if any no longer matches the
  plan's "before" (a stale plan), skipping targets that already match "after"
  (so a second apply makes no write call at all);
* refuses to create, update or delete a pull-through cache rule while any
  HealthOmics run in that region is active (checked live, just before writing);
* refuses when more than ``max_changes`` writes would happen;
* writes a backup of every target it will touch *before* the first write;
* stops at the first failed write and says what was and was not applied.

``rollback`` restores a backup exactly (documents compared after JSON
normalisation) and leaves alone anything changed again since the fix. It
restores only registered kinds, only the targets the backup lists, only in the
credentials' account, with calls the kind's ``restore`` builds; and only a
backup whose SHA-256 matches the digest recorded when it was written (the
``--sha256`` of the printed undo line, ``backup_sha256`` in ``fix-report.json``,
or an S3 backup's ``x-amz-meta-sha256``; see ``load_backup``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.exceptions
import structlog
from botocore import xform_name
from pydantic import BaseModel, Field

from auditor import __version__
from auditor.aws import ApiCallCounter, CollectOptions, call_error, make_client
from auditor.collect import ACTIVE_RUN_STATUSES
from auditor.engine import REGISTRY, RuleContext, load_builtin_rules, run_rule
from auditor.errors import FixRefused
from auditor.files import load_model, max_input_bytes, model_from_text, parse_json, read_bytes, read_text
from auditor.findings import Finding, Severity, Status
from auditor.models import Snapshot
from auditor.policy_merge import as_json, normalized, unified_diff
from auditor.suppressions import Suppression, is_suppressed
from auditor.terminal import command_line, terminal_text

log = structlog.get_logger("auditor.fix")
PLAN_SCHEMA_VERSION = "1.0"
BACKUP_SCHEMA_VERSION = "1.0"
WRITE_VERBS = ("Put", "Set", "Create", "Update", "Delete", "Attach", "Detach", "Tag", "Untag")


# --- plan model ------------------------------------------------------------------------


class ApiCall(BaseModel):
    """One AWS API call, exactly as apply will make it."""

    service: str  # boto3 client name: ecr, iam
    operation: str  # API name: PutRegistryPolicy
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.operation.startswith(WRITE_VERBS)

    def cli(self) -> str:
        """The same call as an AWS CLI command, every value one quoted shell word (see auditor.terminal)."""
        args = ["aws", self.service, xform_name(self.operation, "-")]
        for name, value in self.params.items():
            args.append("--" + xform_name(name, "-"))
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                args.extend(value)  # the CLI's list syntax: one word per item
            elif isinstance(value, str):
                args.append(value)
            else:
                # Structures travel as one JSON word, which the AWS CLI parses itself.
                args.append(json.dumps(value, separators=(",", ":")))
        return command_line(args)


class Target(BaseModel):
    """The one document a change writes, and how to find it again."""

    kind: str  # registry_policy | repository_policy | creation_template | role_policy | ptc_rule
    account: str
    region: str
    key: dict[str, str] = Field(default_factory=dict)

    def label(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        return f"{self.kind}({key})" if key else self.kind


class Change(BaseModel):
    """A write the plan proposes, with the document before and after."""

    id: str
    rule_id: str
    finding_ids: list[str]
    account: str
    region: str
    resource: str  # the finding's resource (the first, when one change fixes several)
    resources: list[str] = Field(default_factory=list)  # every finding's resource (suppressions are matched on them)
    summary: str
    target: Target
    api_calls: list[ApiCall]
    before: Any = None  # JSON value of the current state; null = does not exist
    after: Any = None
    diff: str = ""
    permissions: list[str] = Field(default_factory=list)
    blocked_by: list[str] = Field(default_factory=list)  # active runs that forbid this change now


class ManualStep(BaseModel):
    """What a person must do where no safe automatic fix exists."""

    rule_id: str
    finding_ids: list[str]
    account: str
    region: str
    resource: str
    title: str
    why: str
    commands: list[str] = Field(default_factory=list)
    artifact: str | None = None  # a file the plan wrote (e.g. a corrected registry map)
    before: Any = None
    after: Any = None
    diff: str = ""

    @classmethod
    def for_finding(cls, finding: Finding, *, title: str, why: str, commands: list[str]) -> ManualStep:
        """The step for one finding: its rule, id, account, region and resource."""
        return cls(
            rule_id=finding.rule_id,
            finding_ids=[finding.id],
            account=finding.account,
            region=finding.region,
            resource=finding.resource,
            title=title,
            why=why,
            commands=commands,
        )


class Skipped(BaseModel):
    """A FAIL finding the plan leaves alone, and why."""

    finding_id: str
    rule_id: str
    account: str
    region: str
    resource: str
    reason: str


class Refused(Skipped):
    """A FAIL finding no change can be planned for safely (a policy too large to merge, a Deny an Allow
    would not beat, state that could not be read). Made by :func:`refused`; its reason reads "refused: ..."."""


class Plan(BaseModel):
    schema_version: str = PLAN_SCHEMA_VERSION
    kind: Literal["omics-ecr-audit/plan"] = "omics-ecr-audit/plan"
    id: str
    created: datetime
    tool_version: str = __version__
    source: str
    changes: list[Change] = Field(default_factory=list)
    manual: list[ManualStep] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    refused: list[Refused] = Field(default_factory=list)  # could not be planned safely (size limit, bad policy)

    @property
    def permissions(self) -> list[str]:
        return sorted({p for c in self.changes for p in c.permissions})


# --- fixer and state-kind registries ---------------------------------------------------------


class Clients:
    """Counted clients per (service, region) for one session; read-your-writes within a fix."""

    def __init__(
        self, session: boto3.Session, endpoint_url: str | None = None, counter: ApiCallCounter | None = None
    ) -> None:
        self.session = session
        self.options = CollectOptions(endpoint_url=endpoint_url, max_attempts=5)
        self.counter = counter or ApiCallCounter()
        self._cache: dict[tuple[str, str], Any] = {}

    def get(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._cache:
            self._cache[key] = make_client(self.session, service, region, self.options, self.counter)
        return self._cache[key]

    def call(self, region: str, call: ApiCall) -> dict[str, Any]:
        client = self.get(call.service, region)
        response: dict[str, Any] = getattr(client, xform_name(call.operation))(**call.params)
        return response

    def account_id(self, region: str) -> str:
        account: str = self.get("sts", region).get_caller_identity()["Account"]
        return account

    def write_calls(self) -> int:
        """Writes to the audited resources (the backup's own S3 object is not one)."""
        return sum(
            n
            for op, n in self.counter.snapshot().items()
            if not op.startswith("s3:") and op.split(":", 1)[1].startswith(WRITE_VERBS)
        )


@dataclass(frozen=True)
class StateKind:
    """How to read a target's current state and which calls put a saved state back.

    ``writes`` is every (service, operation) a change or a restore of this kind may call: a plan or
    backup whose calls fall outside it is refused before anything is read or written.
    """

    name: str
    read: Callable[[Clients, Target], Any]  # None when the document/resource does not exist
    restore: Callable[[Target, Any, Any], list[ApiCall]]  # (target, saved state, current state)
    permissions: tuple[str, ...]
    touches_ptc_rules: bool = False
    writes: tuple[tuple[str, str], ...] = ()  # (boto3 service, API operation) pairs

    def may_call(self, call: ApiCall) -> bool:
        return (call.service, call.operation) in self.writes


KINDS: dict[str, StateKind] = {}


def register_kind(kind: StateKind) -> StateKind:
    KINDS[kind.name] = kind
    return kind


def load_kinds() -> dict[str, StateKind]:
    """Every registered target kind; importing ``remediations`` registers them (as it does the fixers).

    Whatever reads ``KINDS`` to judge a plan or a backup calls this first: in a fresh process (``rollback``,
    ``fix --apply --plan``) nothing else may have imported the fixer modules yet.
    """
    import auditor.remediations  # noqa: F401

    return dict(KINDS)


PlanItem = Change | ManualStep | Skipped


@dataclass
class FixContext:
    """What a fixer may read: the (projected) snapshot, live read-only clients, where to put artefacts."""

    snap: Snapshot
    rule_ctx: RuleContext
    clients: Clients
    out_dir: Path | None = None
    planned_rules: dict[str, str] = field(default_factory=dict)  # prefix -> upstream URL created by this plan

    def read(self, target: Target) -> Any:
        return KINDS[target.kind].read(self.clients, target)

    def active_runs(self) -> list[str]:
        return sorted(r.id for r in self.snap.runs.value or [] if r.status in ACTIVE_RUN_STATUSES)


FixerFn = Callable[[FixContext, list[Finding]], Iterable[PlanItem]]


@dataclass(frozen=True)
class Fixer:
    rule_id: str
    plan: FixerFn
    permissions: tuple[str, ...]
    automatic: bool  # False: the fixer only ever proposes manual steps
    # Planned before every other fixer of a cell: its changes (new cache rules) change what the others
    # must do, so they plan against the snapshot as it will be once these changes are applied.
    plans_first: bool = False
    # Its changes need follow-on fixes by the other fixers, for FAILs that exist only once they are
    # applied: when its rule is selected, every fixable rule is scanned so these can be planned.
    follow_ons: bool = False


FIXERS: dict[str, Fixer] = {}


def fixer(
    *,
    rule_id: str,
    permissions: Sequence[str] = (),
    automatic: bool = True,
    plans_first: bool = False,
    follow_ons: bool = False,
) -> Callable[[FixerFn], FixerFn]:
    """Register the fixer of a rule with the IAM actions it needs to plan and apply (see ``Fixer``)."""

    def register(fn: FixerFn) -> FixerFn:
        if rule_id in FIXERS:
            raise ValueError(f"duplicate fixer for {rule_id!r}")
        FIXERS[rule_id] = Fixer(
            rule_id=rule_id,
            plan=fn,
            permissions=tuple(permissions),
            automatic=automatic,
            plans_first=plans_first,
            follow_ons=follow_ons,
        )
        return fn

    return register


def load_fixers() -> dict[str, Fixer]:
    import auditor.remediations  # noqa: F401  (importing the package registers every fixer module)

    return dict(FIXERS)


# What every apply needs besides the fixers' own actions: who am I, is a run active, optional S3 backups.
APPLY_PERMISSIONS = ("sts:GetCallerIdentity", "omics:ListRuns")
S3_BACKUP_PERMISSIONS = ("s3:PutObject", "s3:GetObject")


def fix_permissions(rule_ids: Iterable[str] | None = None) -> list[str]:
    """IAM actions `fix --apply` (and `rollback`) needs for these rules' fixers (all when None)."""
    fixers = load_fixers()
    chosen = [f for rid, f in fixers.items() if rule_ids is None or rid in set(rule_ids)]
    actions = {p for f in chosen for p in f.permissions}
    return sorted(actions | set(APPLY_PERMISSIONS)) if actions else []


def make_change(
    *,
    rule_id: str,
    findings: Sequence[Finding],
    target: Target,
    summary: str,
    api_calls: list[ApiCall],
    before: Any,
    after: Any,
    permissions: Sequence[str],
    blocked_by: Sequence[str] = (),
) -> Change:
    ident = hashlib.sha256(
        json.dumps([target.kind, target.account, target.region, target.key], sort_keys=True).encode()
    ).hexdigest()
    return Change(
        id=f"fix-{ident[:16]}",
        rule_id=rule_id,
        finding_ids=[f.id for f in findings],
        account=target.account,
        region=target.region,
        resource=findings[0].resource if findings else target.label(),
        resources=[f.resource for f in findings],
        summary=summary,
        target=target,
        api_calls=api_calls,
        before=as_json(before),
        after=as_json(after),
        diff=unified_diff(before, after, target.label()),
        permissions=sorted(set(permissions)),
        blocked_by=list(blocked_by),
    )


def skipped(finding: Finding, reason: str) -> Skipped:
    return Skipped(
        finding_id=finding.id,
        rule_id=finding.rule_id,
        account=finding.account,
        region=finding.region,
        resource=finding.resource,
        reason=reason,
    )


def refused(finding: Finding, why: str) -> Refused:
    """The finding is left alone because no change can be planned for it safely, and why."""
    return Refused(**skipped(finding, f"refused: {why}").model_dump())


# --- planning ------------------------------------------------------------------------------

# Applied in this order: grants and templates exist before a new cache rule can create repositories.
_APPLY_ORDER = {"registry_policy": 0, "creation_template": 1, "repository_policy": 2, "role_policy": 3, "ptc_rule": 4}


def _project(snap: Snapshot, planned: dict[str, str]) -> Snapshot:
    """The snapshot as it will be once the planned cache rules exist."""
    if not planned:
        return snap
    from auditor.models import Collected, PtcRule

    rules = list(snap.ptc_rules.value or [])
    rules += [PtcRule(ecr_repository_prefix=p, upstream_registry_url=u) for p, u in planned.items()]
    return snap.model_copy(update={"ptc_rules": Collected[list[PtcRule]](value=rules)})


def build_plan(
    snapshots: Sequence[Snapshot],
    findings: Sequence[Finding],
    rule_ids: Sequence[str],
    rule_ctx: RuleContext,
    clients: Clients,
    *,
    source: str,
    only_finding_ids: set[str] | None = None,
    muted: dict[str, dict[str, Any]] | None = None,
    suppressions: Sequence[Suppression] = (),
    today: date | None = None,
    out_dir: Path | None = None,
) -> Plan:
    """A plan for every FAIL finding of ``rule_ids`` that has a fixer (read-only: reads, never writes)."""
    fixers = load_fixers()
    builtin = load_builtin_rules()
    today = today or datetime.now(UTC).date()
    plan = Plan(id=str(uuid.uuid4()), created=datetime.now(UTC), source=source)
    for snap in snapshots:
        cell = [f for f in findings if f.account == snap.account_id and f.region == snap.region]
        original_ids = {f.id for f in cell}

        def wanted(f: Finding, original_ids: set[str] = original_ids) -> bool:
            if f.status not in (Status.FAIL, Status.MUTED):
                return False
            # Findings outside the input (file or scan) exist only because this plan creates a cache
            # rule: their fixes are follow-ons that rule cannot work without.
            return only_finding_ids is None or f.id in only_finding_ids or f.id not in original_ids

        def eligible(candidates: Iterable[Finding], into: Plan = plan) -> list[Finding]:
            out = []
            for f in candidates:
                if not wanted(f):
                    continue
                sup = f.evidence.get("suppression") if f.status == Status.MUTED else None
                # MUTED in the findings file given: a live re-scan without the suppressions file would
                # see a plain FAIL, but the acceptance still stands.
                sup = sup or (muted or {}).get(f.id)
                match = is_suppressed(f, suppressions, today) if sup is None else None
                if sup is not None:
                    into.skipped.append(skipped(f, f"suppressed by {sup.get('owner')}: {sup.get('reason')}"))
                    continue
                if match is not None:
                    into.skipped.append(skipped(f, f"suppressed by {match.owner}: {match.reason}"))
                    continue
                out.append(f)
            return out

        ctx = FixContext(snap=snap, rule_ctx=rule_ctx, clients=clients, out_dir=out_dir)
        # Fixers whose changes (new cache rules) change what the others must do plan first, and only
        # when their rule is selected; the others then plan against the snapshot projected from them.
        first = [fix for rule_id, fix in fixers.items() if fix.plans_first and rule_id in rule_ids]
        for fix in first:
            own = eligible(f for f in cell if f.rule_id == fix.rule_id)
            _collect(plan, fix.plan(ctx, own), own)
        if first:
            ctx.planned_rules = {
                c.target.key["ecrRepositoryPrefix"]: c.api_calls[0].params["upstreamRegistryUrl"]
                for c in plan.changes
                if c.target.kind == "ptc_rule"
                and c.account == snap.account_id
                and c.region == snap.region
                # Projected even when an active run blocks the rule for now: its grants are harmless
                # without it, and once the run ends applying the rule alone completes the fix.
                and c.before is None
            }
        projected = _project(snap, ctx.planned_rules)
        ctx.snap = projected
        for rule_id, fix in fixers.items():
            if fix.plans_first:
                continue
            follow_on_only = rule_id not in rule_ids
            if follow_on_only and not ctx.planned_rules:
                continue
            if projected is snap:
                candidates = [f for f in cell if f.rule_id == rule_id]
            else:
                candidates = run_rule(builtin.get(rule_id) or REGISTRY[rule_id], projected, rule_ctx)
            if follow_on_only:
                candidates = [f for f in candidates if f.id not in original_ids]
            chosen = eligible(candidates)
            _collect(plan, fix.plan(ctx, chosen), chosen)
    plan.changes.sort(key=lambda c: (c.account, c.region, _APPLY_ORDER.get(c.target.kind, 9)))
    return plan


def _collect(plan: Plan, items: Iterable[PlanItem], findings: Sequence[Finding] = ()) -> None:
    try:
        materialised = list(items)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # A fixer reads each target's current state; without it there is nothing safe to propose.
        error = call_error(exc, getattr(exc, "operation_name", None) or "read", "current state").describe()
        materialised = [refused(f, f"could not read the current state: {error}") for f in findings]
    for item in materialised:
        if isinstance(item, Change):
            plan.changes.append(item)
        elif isinstance(item, ManualStep):
            plan.manual.append(item)
        elif isinstance(item, Refused):
            plan.refused.append(item)
        else:
            plan.skipped.append(item)


def load_plan(path: str | Path) -> Plan:
    return load_model(path, Plan, "plan", FixRefused, small=True)


def write_plan(plan: Plan, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(plan.model_dump_json(indent=2), encoding="utf-8")
    return p


def render_plan(plan: Plan) -> str:
    """The plan for a terminal: every change with its calls and diff, then manual steps and skips."""
    lines = [
        f"plan {plan.id}: {len(plan.changes)} change(s), {len(plan.manual)} manual step(s), "
        f"{len(plan.skipped)} skipped, {len(plan.refused)} refused"
    ]
    for c in plan.changes:
        lines.append("")
        blocked = f"  [BLOCKED by active run(s) {', '.join(c.blocked_by)}]" if c.blocked_by else ""
        lines.append(f"~ {c.rule_id}  {c.account}/{c.region}  {c.target.label()}{blocked}")
        lines.append(f"  {c.summary}")
        for call in c.api_calls:
            lines.append(f"  call: {call.service}:{call.operation}")
        # split("\n"), not splitlines(): only the diff's own line ends start a line (a \r or \x1c in a
        # value is escaped on its line instead of making one).
        diff = c.diff.rstrip("\n")
        lines.extend("  " + line for line in diff.split("\n") if diff)
    for m in plan.manual:
        lines.append("")
        lines.append(f"! manual  {m.rule_id}  {m.account}/{m.region}  {m.resource}")
        lines.append(f"  {m.title}: {m.why}")
        if m.artifact:
            lines.append(f"  wrote {m.artifact}")
        lines.extend(f"  $ {cmd}" for cmd in m.commands)
    for s in [*plan.refused, *plan.skipped]:
        lines.append(f"- {s.rule_id}  {s.resource}: {s.reason}")
    # Resources, summaries, diffs and commands carry AWS- and file-derived text: one line each, escaped.
    return terminal_text(lines)


# --- apply ---------------------------------------------------------------------------------

Outcome = Literal["applied", "already-applied", "blocked", "failed", "not-applied"]


class ChangeOutcome(BaseModel):
    change_id: str
    rule_id: str
    target: str
    outcome: Outcome
    detail: str = ""


class ApplyReport(BaseModel):
    plan_id: str
    started: datetime
    finished: datetime | None = None
    backup: str | None = None
    backup_sha256: str | None = None  # SHA-256 of the backup's bytes as written: `rollback --sha256` checks it
    outcomes: list[ChangeOutcome] = Field(default_factory=list)
    write_calls: int = 0
    error: str | None = None  # the failure that stopped the apply half-way, if any

    @property
    def complete(self) -> bool:
        return self.error is None


def active_runs(clients: Clients, region: str) -> list[str]:
    """Ids of HealthOmics runs in the region that are active now (read live, never from a snapshot).

    When the runs cannot be listed (AccessDenied on omics:ListRuns, an outage) the answer is a
    placeholder "run" naming the error: not knowing counts as blocked, never as clear.
    """
    client = clients.get("omics", region)
    ids: list[str] = []
    try:
        for status in sorted(ACTIVE_RUN_STATUSES):
            for page in client.get_paginator("list_runs").paginate(status=status):
                ids.extend(item["id"] for item in page.get("items", []))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        return [f"<unknown: {_describe(exc, 'omics:ListRuns', region)}>"]
    return sorted(set(ids))


def _describe(exc: Exception, operation: str, resource: str) -> str:
    return call_error(exc, operation, resource).describe()


def apply_plan(
    plan: Plan,
    clients: Clients,
    *,
    backup_to: str,
    max_changes: int | None = None,
    reference: Plan | None = None,
) -> ApplyReport:
    """Apply ``plan`` exactly; see the module docstring for every refusal.

    ``reference`` is the plan the fixers make now (a fresh scan): given for a plan read from a file, every
    change still to be written must be in it (see :func:`rederive`).
    """
    report = ApplyReport(plan_id=plan.id, started=datetime.now(UTC))
    check_calls(plan)
    check_account(clients, [c.target for c in plan.changes], "plan")
    current: dict[str, Any] = {}
    stale: list[str] = []
    for change in plan.changes:
        try:
            current[change.id] = KINDS[change.target.kind].read(clients, change.target)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            label = change.target.label()
            raise FixRefused(f"cannot read {label}: {_describe(exc, 'read', label)}") from None
        now = normalized(current[change.id])
        if now not in (normalized(change.before), normalized(change.after)):
            stale.append(
                f"{change.target.label()} changed since the plan was made:\n"
                + unified_diff(change.before, current[change.id], change.target.label())
            )
    if stale:
        raise FixRefused("the plan is stale, nothing was changed; re-run `fix` to plan again.\n" + "\n".join(stale))
    pending = [c for c in plan.changes if normalized(current[c.id]) != normalized(c.after)]
    if reference is not None:
        problems = rederive(plan, reference, pending)
        if problems:
            raise FixRefused(
                "the plan asks for writes the fixers would not make now, so nothing was changed; "
                "re-run `fix` to plan again:\n  " + "\n  ".join(problems)
            )
    for c in plan.changes:
        if c not in pending:
            report.outcomes.append(_outcome(c, "already-applied", "the live state already matches the plan"))
    blocked: dict[str, list[str]] = {}
    for region in sorted({c.region for c in pending if KINDS[c.target.kind].touches_ptc_rules}):
        runs = active_runs(clients, region)
        if runs:
            blocked[region] = runs
    to_write = []
    for c in pending:
        blockers = blocked.get(c.region) if KINDS[c.target.kind].touches_ptc_rules else None
        if blockers:
            report.outcomes.append(
                _outcome(
                    c,
                    "blocked",
                    f"HealthOmics run(s) {', '.join(blockers)} are active in {c.region}; "
                    "pull-through cache rules are not changed while a run is active",
                )
            )
        else:
            to_write.append(c)
    if max_changes is not None and len(to_write) > max_changes:
        raise FixRefused(
            f"{len(to_write)} change(s) would be written, more than --max-changes {max_changes}; nothing was changed"
        )
    if to_write:
        try:
            report.backup, report.backup_sha256 = write_backup(
                plan, [(c, current[c.id]) for c in to_write], backup_to, clients
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as exc:
            raise FixRefused(f"cannot write the backup to {backup_to}, so nothing was changed: {exc}") from None
    for index, change in enumerate(to_write):
        if KINDS[change.target.kind].touches_ptc_rules:
            # Checked again right before the write: earlier changes take time, and a run may have started.
            runs = active_runs(clients, change.region)
            if runs:
                report.outcomes.append(
                    _outcome(
                        change,
                        "blocked",
                        f"HealthOmics run(s) {', '.join(runs)} became active in "
                        f"{change.region}; pull-through cache rules are not changed while a run is active",
                    )
                )
                continue
        try:
            for call in change.api_calls:
                clients.call(change.region, call)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            op = getattr(exc, "operation_name", None) or "call"
            detail = _describe(exc, f"{change.api_calls[0].service}:{op}", change.target.label())
            report.outcomes.append(_outcome(change, "failed", detail))
            report.outcomes.extend(
                _outcome(c, "not-applied", "not attempted: an earlier change failed") for c in to_write[index + 1 :]
            )
            report.error = f"{change.target.label()}: {detail}"
            log.error("fix_failed", target=change.target.label(), error=detail)
            break
        report.outcomes.append(_outcome(change, "applied"))
    report.write_calls = clients.write_calls()
    report.finished = datetime.now(UTC)
    order = {c.id: i for i, c in enumerate(plan.changes)}
    report.outcomes.sort(key=lambda o: order.get(o.change_id, 0))
    return report


def suppressed_changes(plan: Plan, suppressions: Sequence[Suppression], today: date | None = None) -> list[str]:
    """Changes of a saved plan that would fix a finding suppressed now (the plan may predate the suppression)."""
    today = today or datetime.now(UTC).date()
    hits = []
    for c in plan.changes:
        for resource in c.resources or [c.resource]:
            probe = Finding(
                id="",
                rule_id=c.rule_id,
                title="",
                status=Status.FAIL,
                severity=Severity.INFO,
                account=c.account,
                region=c.region,
                resource=resource,
                message="",
                remediation="",
                fixable=True,
            )
            match = is_suppressed(probe, suppressions, today)
            if match is not None:
                hits.append(f"{c.target.label()} would fix {resource}, suppressed by {match.owner}: {match.reason}")
    return hits


def check_kinds(targets: Iterable[Target]) -> None:
    unknown = sorted({t.kind for t in targets} - set(load_kinds()))
    if unknown:
        raise FixRefused(f"unknown target kind(s) {', '.join(unknown)}; was this written by another version?")


def check_calls(plan: Plan) -> None:
    """Refuse a plan any of whose changes calls what its target kind never writes, or contradicts itself.

    A saved plan is data: each change may only make the calls its kind declares (``StateKind.writes``),
    in the account and region its target names. Every offending change is named; nothing is read or written.
    """
    kinds = load_kinds()
    check_kinds(c.target for c in plan.changes)
    problems = []
    seen: dict[tuple[str, ...], str] = {}
    ids = Counter(c.id for c in plan.changes)
    for c in plan.changes:
        label = f"change {c.id} ({c.rule_id}, {c.target.label()} in {c.target.account}/{c.target.region})"
        kind = kinds[c.target.kind]
        if (c.account, c.region) != (c.target.account, c.target.region):
            problems.append(f"{label}: says {c.account}/{c.region} but its target is in another account or region")
        if not c.api_calls:
            problems.append(f"{label}: makes no call")
        for call in c.api_calls:
            if not kind.may_call(call):
                problems.append(f"{label}: calls {call.service}:{call.operation}, which no {kind.name} change makes")
        key = _target_key(c.target)
        if key in seen:
            problems.append(f"{label}: the same target as change {seen[key]}")
        seen.setdefault(key, c.id)
        if ids[c.id] > 1:
            problems.append(f"{label}: its id is not unique")
    if problems:
        raise FixRefused("the plan is not one the fixers make, so nothing was changed:\n  " + "\n  ".join(problems))


def _target_key(target: Target) -> tuple[str, ...]:
    return (target.kind, target.account, target.region, json.dumps(target.key, sort_keys=True))


def _canonical(value: Any) -> Any:
    """A JSON value with every JSON document held in a string parsed, for comparing what calls would write."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        parsed = as_json(value)
        return _canonical(parsed) if not isinstance(parsed, str) else value
    return value


def _same(a: Any, b: Any) -> bool:
    return json.dumps(_canonical(a), sort_keys=True) == json.dumps(_canonical(b), sort_keys=True)


def rederive(plan: Plan, fresh: Plan, pending: Sequence[Change]) -> list[str]:
    """Why each pending change of a saved ``plan`` is not what the fixers plan now (``fresh``); [] when all are.

    A change is accepted only if ``fresh`` has one for the same rule and target with the same calls
    (operations and parameters) and the same "after" document, both compared after JSON normalisation.
    """
    by_target = {_target_key(c.target): c for c in fresh.changes}
    problems = []
    for c in pending:
        label = f"change {c.id} ({c.rule_id}, {c.target.label()} in {c.target.account}/{c.target.region})"
        now = by_target.get(_target_key(c.target))
        if now is None or now.rule_id != c.rule_id:
            problems.append(f"{label}: the fixers plan no such change for this account now")
            continue
        differs = []
        calls = [[a.service, a.operation, a.params] for a in c.api_calls]
        if not _same(calls, [[a.service, a.operation, a.params] for a in now.api_calls]):
            ops = ", ".join(f"{a.service}:{a.operation}" for a in c.api_calls)
            differs.append(f"its calls ({ops}) differ from what {c.rule_id} plans now")
        if not _same(c.after, now.after):
            differs.append(f"its document differs from what {c.rule_id} plans now")
        if differs:
            problems.append(f"{label}: " + "; ".join(differs))
    return problems


def check_account(clients: Clients, targets: Sequence[Target], what: str) -> None:
    """Refuse a plan or backup made for another account than the credentials'."""
    for account, region in sorted({(t.account, t.region) for t in targets}):
        actual = clients.account_id(region)
        if actual != account:
            named = sorted({t.label() for t in targets if (t.account, t.region) == (account, region)})
            more = f" and {len(named) - 10} more" if len(named) > 10 else ""
            raise FixRefused(
                f"the {what} is for account {account} but the credentials are for account {actual} "
                f"({region}: {', '.join(named[:10])}{more}); nothing was changed"
            )


def _outcome(change: Change, outcome: Outcome, detail: str = "") -> ChangeOutcome:
    return ChangeOutcome(
        change_id=change.id, rule_id=change.rule_id, target=change.target.label(), outcome=outcome, detail=detail
    )


# --- backups and rollback -----------------------------------------------------------------


class BackupEntry(BaseModel):
    change_id: str
    target: Target
    before: Any = None  # the state exactly as read (policy text as ECR returned it); null = absent
    after: Any = None  # what the fix writes (to tell "changed again since" from "as we left it")


class Backup(BaseModel):
    schema_version: str = BACKUP_SCHEMA_VERSION
    kind: Literal["omics-ecr-audit/backup"] = "omics-ecr-audit/backup"
    id: str
    plan_id: str
    created: datetime
    entries: list[BackupEntry]


# S3 user metadata (``x-amz-meta-sha256``) holding the SHA-256 of a backup object's body.
BACKUP_DIGEST_METADATA = "sha256"


def write_backup(plan: Plan, items: Sequence[tuple[Change, Any]], dest: str, clients: Clients) -> tuple[str, str]:
    """Write the backup; return where, and the SHA-256 of its bytes (the record ``rollback`` checks)."""
    backup = Backup(
        id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{plan.id[:8]}",
        plan_id=plan.id,
        created=datetime.now(UTC),
        entries=[BackupEntry(change_id=c.id, target=c.target, before=state, after=c.after) for c, state in items],
    )
    body = backup.model_dump_json(indent=2).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    if dest.startswith("s3://"):
        bucket, _, prefix = dest[5:].partition("/")
        key = "/".join(p for p in (prefix.strip("/"), backup.id, "backup.json") if p)
        region = plan.changes[0].region if plan.changes else "us-east-1"
        clients.get("s3", region).put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ServerSideEncryption="AES256",
            Metadata={BACKUP_DIGEST_METADATA: digest},
        )
        return f"s3://{bucket}/{key}", digest
    folder = Path(dest) / backup.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "backup.json"
    path.write_bytes(body)
    return str(path), digest


def _digest_in_fix_report(path: Path) -> tuple[str | None, Path]:
    """The digest ``fix`` recorded for the local backup ``path`` (``<out>/backups/<id>/backup.json``) in
    ``<out>/fix-report.json``, if that report is about this backup; else None."""
    path = path.resolve()
    report = path.parent.parent.parent / "fix-report.json"
    try:
        data = parse_json(read_text(report, "fix report", error=FixRefused), str(report), "fix report", FixRefused)
    except FixRefused:
        return None, report
    applied = data.get("applied") if isinstance(data, dict) else None
    if not isinstance(applied, dict) or not isinstance(applied.get("backup"), str):
        return None, report
    recorded = Path(applied["backup"])
    if applied["backup"].startswith("s3://") or (recorded.parent.name, recorded.name) != (path.parent.name, path.name):
        return None, report
    digest = applied.get("backup_sha256")
    return (digest if isinstance(digest, str) else None), report


def load_backup(
    location: str, clients: Clients, region: str, *, sha256: str | None = None, unverified: bool = False
) -> Backup:
    """Read a backup and check it is, byte for byte, the one ``fix`` wrote.

    The digest it must match: ``sha256`` when given (the ``--sha256`` of the printed "undo with:" line);
    else, for an s3:// backup, the object's ``x-amz-meta-sha256``; else, for a local one, the
    ``applied.backup_sha256`` of ``fix-report.json`` in the output folder the backup was written under
    (``<out>/backups/<id>/backup.json`` -> ``<out>/fix-report.json``) when that report is about this backup.
    No digest to compare with is a refusal, unless ``unverified`` (then no recorded digest is checked).
    """
    if sha256 is not None and not (len(sha256) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in sha256)):
        raise FixRefused(f"--sha256 {sha256!r} is not a SHA-256 digest (64 hexadecimal digits)")
    recorded: str | None
    try:
        if location.startswith("s3://"):
            bucket, _, key = location[5:].partition("/")
            if not key.endswith(".json"):
                key = key.rstrip("/") + "/backup.json"
            resp = clients.get("s3", region).get_object(Bucket=bucket, Key=key)
            limit = max_input_bytes()
            data = resp["Body"].read(limit + 1)
            if len(data) > limit:
                raise FixRefused(f"{location}: backup is larger than {limit} bytes; not read")
            recorded = (resp.get("Metadata") or {}).get(BACKUP_DIGEST_METADATA)
            record = f"the object's x-amz-meta-{BACKUP_DIGEST_METADATA}"
        else:
            p = Path(location)
            path = p / "backup.json" if p.is_dir() else p
            data = read_bytes(path, "backup", error=FixRefused)
            recorded, report = _digest_in_fix_report(path)
            record = str(report)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise FixRefused(f"{location}: cannot read backup: {_describe(exc, 's3:GetObject', location)}") from None
    try:
        body = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FixRefused(f"{location}: not a backup (not UTF-8 text)") from None
    backup = model_from_text(body, Backup, location, "backup", FixRefused)
    actual = hashlib.sha256(data).hexdigest()
    if sha256 is not None:
        if actual != sha256.lower():
            raise FixRefused(
                f"{location}: the backup's SHA-256 is {actual}, not the {sha256.lower()} given with --sha256: "
                "it is not the backup fix wrote (changed since?); nothing was restored"
            )
    elif not unverified:
        if recorded is None:
            raise FixRefused(
                f"{location}: no digest recorded for this backup ({record} has none for it); give the --sha256 "
                "of the `undo with:` line fix printed, or --unverified once you have read the backup; "
                "nothing was restored"
            )
        if actual != recorded.lower():
            raise FixRefused(
                f"{location}: the backup's SHA-256 is {actual}, but {record} records {recorded} for it: "
                "it was changed after fix wrote it; nothing was restored"
            )
    return backup


class RestoreOutcome(BaseModel):
    target: str
    outcome: Literal["restored", "already-restored", "changed-since", "blocked", "failed"]
    detail: str = ""


def rollback(backup: Backup, clients: Clients, *, force: bool = False) -> list[RestoreOutcome]:
    """Put every backed-up target back as it was, newest change first.

    Only registered kinds, only the targets the backup lists, only in the credentials' account; every call
    is built by the kind's ``restore`` from the saved state (``load_backup`` checked that state's digest).
    """
    check_kinds(e.target for e in backup.entries)
    check_account(clients, [e.target for e in backup.entries], "backup")
    outcomes: list[RestoreOutcome] = []
    for entry in reversed(backup.entries):
        kind = KINDS[entry.target.kind]
        label = entry.target.label()
        region = entry.target.region
        try:
            now = kind.read(clients, entry.target)
            if normalized(now) == normalized(entry.before):
                outcomes.append(RestoreOutcome(target=label, outcome="already-restored"))
                continue
            if normalized(now) != normalized(entry.after) and not force:
                outcomes.append(
                    RestoreOutcome(
                        target=label,
                        outcome="changed-since",
                        detail="changed again after the fix; not overwritten (use --force to restore anyway)",
                    )
                )
                continue
            if kind.touches_ptc_rules:
                runs = active_runs(clients, region)
                if runs:
                    outcomes.append(
                        RestoreOutcome(target=label, outcome="blocked", detail=f"active run(s): {', '.join(runs)}")
                    )
                    continue
            calls = kind.restore(entry.target, entry.before, now)
            foreign = [f"{c.service}:{c.operation}" for c in calls if not kind.may_call(c)]
            if foreign:  # never expected: a kind's restore builds only calls its kind declares
                outcomes.append(
                    RestoreOutcome(target=label, outcome="failed", detail=f"refused: would call {', '.join(foreign)}")
                )
                continue
            for call in calls:
                clients.call(region, call)
            after = kind.read(clients, entry.target)
            if normalized(after) != normalized(entry.before):
                outcomes.append(RestoreOutcome(target=label, outcome="failed", detail="state differs after restore"))
                continue
            outcomes.append(RestoreOutcome(target=label, outcome="restored"))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            outcomes.append(RestoreOutcome(target=label, outcome="failed", detail=_describe(exc, "restore", label)))
    return outcomes


# --- verification ----------------------------------------------------------------------------


NOT_JUDGED = "NOT_JUDGED"


class Verification(BaseModel):
    finding_id: str
    rule_id: str
    resource: str
    before: str
    after: str  # status in the re-scan; NOT_JUDGED when the resource no longer produces a finding
    message: str = ""


def verify(plan: Plan, rescanned: Sequence[Finding]) -> list[Verification]:
    """Each finding a change was meant to fix, judged again by its rule on a fresh scan."""
    now = {f.id: f for f in rescanned}
    out = []
    for change in plan.changes:
        for fid in change.finding_ids:
            f = now.get(fid)
            out.append(
                Verification(
                    finding_id=fid,
                    rule_id=change.rule_id,
                    resource=f.resource if f else change.resource,
                    before="FAIL",
                    after=f.status.value if f else NOT_JUDGED,
                    message=f.message
                    if f
                    else "the re-scan does not judge this resource (it depends on a cache rule that does not exist "
                    "yet, e.g. one an active run blocked)",
                )
            )
    return out
