"""Incremental scans (``scan --since-last INVENTORY``): re-read only what CloudTrail says changed.

A full scan reads every repository's policy and images, every role's policies, every workflow and run.
Most of it does not change from one night to the next. An incremental scan starts from the previous
scan's saved inventory and, per (account, region) cell:

* re-reads every *listing* as a full scan does: cache rules (and their validation and secrets), the
  registry policy, creation templates, the repository list, the workflow and run lists, the role list,
  the cache-rule events and other accounts' repository policies. These are a fixed number of calls per
  region, whatever the number of repositories, and they catch everything created or deleted;
* asks CloudTrail (``LookupEvents``, one event name per query, the only filter it offers) which
  repositories had their policy, images or lifecycle policy changed, and which roles or managed
  policies were edited, since the previous scan began (less a margin for CloudTrail's delivery delay);
* re-reads those, and carries the rest from the previous inventory: a repository's policy, lifecycle
  policy, newest tags and image platforms; a workflow's registry map and definition (immutable once
  created); an ended run and its tasks (an ended run cannot change); a role's policies.

The rules then judge the merged snapshot exactly as after a full scan. The snapshot's ``incremental``
record says what was carried (and when it was really read), what was re-read because of which event,
the event window and when the last full scan was; findings on carried data say so in their evidence.
A cell falls back to a full read, saying why, when the previous inventory has no snapshot for it, lacks
a facet this scan needs, is older than CloudTrail's 90 days or than ``full_after`` since the last full
scan, or when the event lookup fails. docs/usage.md ("Incremental scans") states the limits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from auditor.findings import IncrementalCell
from auditor.models import (
    Collected,
    ImagePlatforms,
    ImageRef,
    Incremental,
    Repository,
    RepositoryLifecycle,
    RolePolicies,
    Run,
    Snapshot,
    Workflow,
)

log = structlog.get_logger()

# Events that change what a carried repository holds (eventSource ecr.amazonaws.com, the cell's region).
# Creating or deleting a repository needs no event: the repository list is re-read, and a repository
# deleted and created again has a new creation time, so nothing is carried across it.
ECR_CHANGE_EVENTS: dict[str, str] = {
    "SetRepositoryPolicy": "policy",
    "DeleteRepositoryPolicy": "policy",
    "PutImage": "images",
    "BatchDeleteImage": "images",
    "PutLifecyclePolicy": "lifecycle",
    "DeleteLifecyclePolicy": "lifecycle",
}
# Events that change a role's effective policies (eventSource iam.amazonaws.com). IAM is global:
# CloudTrail records its events in one region of the partition (IAM_EVENT_REGIONS).
IAM_ROLE_EVENTS = (
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
)
# A new default version of a managed policy changes every role it is attached to (or bounds).
IAM_POLICY_EVENTS = ("CreatePolicyVersion", "SetDefaultPolicyVersion")
IAM_EVENT_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

ENDED_RUN_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "DELETED"})
CLOUDTRAIL_RETENTION = timedelta(days=90)  # LookupEvents searches the last 90 days only
DEFAULT_MARGIN = timedelta(minutes=15)  # CloudTrail delivery delay: see docs/usage.md
DEFAULT_FULL_AFTER = timedelta(days=7)
DEFAULT_SKEW = timedelta(minutes=5)

LookupFn = Callable[[str, str, datetime, datetime], list[dict[str, Any]]]  # (region, event name, start, end)


# --- the changes CloudTrail reports ---------------------------------------------------


@dataclass
class Changes:
    """What the events in a window say changed, and when: (kind, key) -> the newest event's time.

    Kinds: ``policy``, ``images``, ``lifecycle`` (keyed by repository name), ``roles`` (role name),
    ``managed_policies`` (policy ARN).
    """

    latest: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # Kind -> newest event that names no resource (a record we cannot read): nothing of that kind is carried.
    unattributed: dict[str, datetime] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # event name -> events seen

    def add(self, name: str, record: dict[str, Any], when: datetime) -> None:
        self.events[name] = self.events.get(name, 0) + 1
        params = record.get("requestParameters")
        params = params if isinstance(params, dict) else {}
        kind, key = _KIND_AND_KEY[name]
        value = params.get(key)
        if isinstance(value, str) and value:
            _keep_newest(self.latest, (kind, value), when)
        else:
            _keep_newest(self.unattributed, kind, when)

    def changed_since(self, kind: str, key: str, since: datetime) -> bool:
        """Whether an event at or after ``since`` may have changed this resource."""
        times = [t for t in (self.latest.get((kind, key)), self.unattributed.get(kind)) if t is not None]
        return any(t >= since for t in times)

    def merge(self, other: Changes) -> None:
        for k, when in other.latest.items():
            _keep_newest(self.latest, k, when)
        for kind, when in other.unattributed.items():
            _keep_newest(self.unattributed, kind, when)
        for name, count in other.events.items():
            self.events[name] = self.events.get(name, 0) + count


def _keep_newest(times: dict[Any, datetime], key: Any, when: datetime) -> None:
    if key not in times or when > times[key]:
        times[key] = when


_KIND_AND_KEY: dict[str, tuple[str, str]] = {
    **{name: (kind, "repositoryName") for name, kind in ECR_CHANGE_EVENTS.items()},
    **dict.fromkeys(IAM_ROLE_EVENTS, ("roles", "roleName")),
    **dict.fromkeys(IAM_POLICY_EVENTS, ("managed_policies", "policyArn")),
}


def read_changes(lookup: LookupFn, region: str, names: Iterable[str], start: datetime, end: datetime) -> Changes:
    """One LookupEvents query per event name over [start, end]; failed calls count too (a re-read costs little)."""
    changes = Changes()
    for name in names:
        for event in lookup(region, name, start, end):
            try:
                record = json.loads(event.get("CloudTrailEvent") or "{}")
            except ValueError:
                record = {}
            when = event.get("EventTime")
            # An event without a time counts as the newest; an unreadable record names no resource, so nothing
            # of the kind its event name changes is carried.
            when = _utc(when) if isinstance(when, datetime) else end
            changes.add(name, record if isinstance(record, dict) else {}, when)
    return changes


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Settings:
    """How far an incremental scan trusts the previous inventory (docs/usage.md, "Incremental scans")."""

    full_after: timedelta = DEFAULT_FULL_AFTER  # read a cell in full once its last full scan is older
    # CloudTrail delivers an event minutes after the call: the window starts this long before the previous
    # scan, for what that scan had itself carried (an event it could not see yet).
    margin: timedelta = DEFAULT_MARGIN
    # A resource the previous scan read is trusted from that moment less this: the scan's start time is the
    # client's clock, CloudTrail's event time the service's (SigV4 rejects a skew of more than 5 minutes).
    skew: timedelta = DEFAULT_SKEW


# --- the baseline: the previous inventory, per cell -------------------------------------


class Baseline:
    """The previous scan's snapshots, and the settings of the incremental scan built on them."""

    def __init__(
        self,
        snapshots: Sequence[Snapshot],
        *,
        now: datetime,
        settings: Settings | None = None,
    ) -> None:
        self.by_cell = {(s.account_id, s.region): s for s in snapshots}
        self.now = now
        self.settings = settings or Settings()
        self._iam: dict[str, Future[Changes]] = {}  # account -> its IAM changes, shared by its cells
        self._lock = threading.Lock()

    def previous(self, account: str, region: str) -> Snapshot | None:
        return self.by_cell.get((account, region))

    def window_start(self, prev: Snapshot) -> datetime:
        """Where the CloudTrail window starts for a cell whose previous scan is ``prev``.

        Only data the previous scan carried can have missed an event (one CloudTrail had not delivered when
        that scan looked), so only then does the window reach ``margin`` back; after a full read, events
        from the previous scan's start (less the clock skew) are all that can matter.
        """
        carried = prev.incremental is not None and bool(prev.incremental.carried)
        return prev.collected_at - (self.settings.margin if carried else self.settings.skew)

    def full_scan_at(self, prev: Snapshot) -> datetime:
        return prev.incremental.full_scan_at if prev.incremental is not None else prev.collected_at

    def why_full(self, account: str, region: str, facets: Iterable[str]) -> str | None:
        """Why this cell must be read in full, or None when it can be incremental."""
        prev = self.previous(account, region)
        if prev is None:
            return "the previous inventory has no snapshot of this account and region"
        missing = sorted(set(facets) - set(prev.facets))
        if missing:
            return f"the previous inventory did not collect {', '.join(missing)}"
        if self.now - self.window_start(prev) > CLOUDTRAIL_RETENTION:
            return "the previous scan is older than the 90 days CloudTrail event history keeps"
        if self.now - self.full_scan_at(prev) > self.settings.full_after:
            days = self.settings.full_after.total_seconds() / 86400
            return f"the last full scan is more than {days:g} day(s) old (full_after)"
        return None

    def iam_changes(self, account: str, read: Callable[[], Changes]) -> Changes:
        """The account's IAM changes, read once per scan whatever the number of its cells."""
        with self._lock:
            future = self._iam.get(account)
            owner = future is None
            if future is None:
                future = self._iam[account] = Future()
        if owner:
            try:
                future.set_result(read())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def iam_window(self, account: str) -> datetime:
        """The IAM window of an account starts at the earliest of its cells' windows (IAM is account-wide)."""
        starts = [self.window_start(s) for (a, _), s in self.by_cell.items() if a == account]
        return min(starts) if starts else self.now


# --- carrying, for one cell -------------------------------------------------------------


class CellCarry:
    """What one cell may carry from its previous snapshot, and the record of what it did.

    Workflows and ended runs are carried on the previous snapshot alone (they cannot change). Everything
    else waits for the CloudTrail changes (``changes`` blocks until the lookup is done; None when it failed,
    and then nothing that an event could have changed is carried).
    """

    def __init__(
        self, prev: Snapshot, info: Incremental, changes: Callable[[], Changes | None], settings: Settings
    ) -> None:
        self.prev = prev
        self.info = info
        self._changes = changes
        self._settings = settings
        self._lock = threading.Lock()
        self._prev_repos = {r.name: r for r in prev.repositories.value or []}
        self._read_at = {  # resource -> what -> when read, for data the previous scan had carried itself
            resource: dict(what) for resource, what in (prev.incremental.carried if prev.incremental else {}).items()
        }

    # A carried value keeps the time it was really read, through any number of incremental scans.
    def _carry(self, resource: str, what: str) -> None:
        when = self._read_at.get(resource, {}).get(what, self.prev.collected_at)
        with self._lock:
            self.info.carried.setdefault(resource, {})[what] = when

    def _since(self, resource: str, what: str) -> datetime:
        """The events that may have changed this data start here.

        Data the previous scan read reflects every change made before it read them: only events from its
        start on count (less the clock skew). Data the previous scan carried may miss an event CloudTrail
        had not delivered yet when it looked: every event in the window counts.
        """
        if what in self._read_at.get(resource, {}):
            return self.info.window_start or self.prev.collected_at - self._settings.margin
        return self.prev.collected_at - self._settings.skew

    def _reread(self, what: str, key: str) -> None:
        with self._lock:
            keys = self.info.reread.setdefault(what, [])
            if key not in keys:
                keys.append(key)

    def _same_repository(self, repo: Repository | None, name: str) -> bool:
        before = self._prev_repos.get(name)
        return before is not None and repo is not None and before.created_at == repo.created_at

    def _repository_value(
        self, snap: Snapshot, name: str, repo: Repository | None, kind: str, stored: dict[str, Collected[Any]]
    ) -> Collected[Any] | None:
        changes = self._changes()
        got = stored.get(name)
        if changes is None or got is None or not got.ok or not self._same_repository(repo, name):
            return None
        resource = snap.repository_arn(name)
        if changes.changed_since(kind, name, self._since(resource, kind)):
            self._reread(kind, name)
            return None
        self._carry(resource, kind)
        return got

    def repository_policy(self, snap: Snapshot, name: str, repo: Repository | None) -> Collected[str | None] | None:
        return self._repository_value(snap, name, repo, "policy", self.prev.repository_policies)

    def lifecycle_policy(self, snap: Snapshot, name: str, repo: Repository | None) -> Collected[str | None] | None:
        return self._repository_value(snap, name, repo, "lifecycle", self.prev.lifecycle_policies)

    def image_listing(self, snap: Snapshot, name: str, repo: Repository | None) -> Collected[list[str]] | None:
        return self._repository_value(snap, name, repo, "images", self.prev.image_listings)

    def used_lifecycle(
        self, snap: Snapshot, name: str, repo: Repository | None
    ) -> Collected[RepositoryLifecycle] | None:
        """A used repository's lifecycle policy and images, unless an event changed either.

        A policy with a ``sinceImagePulled`` rule is always read again: pulls change ``lastRecordedPullTime``
        and CloudTrail is not searched for them.
        """
        changes = self._changes()
        got = self.prev.used_lifecycles.get(name)
        if changes is None or got is None or not got.ok or not self._same_repository(repo, name):
            return None
        if got.value is not None and "sinceImagePulled" in (got.value.policy or ""):
            return None
        resource = snap.repository_arn(name)
        since = self._since(resource, "lifecycle")
        if changes.changed_since("lifecycle", name, since) or changes.changed_since("images", name, since):
            self._reread("lifecycle", name)
            return None
        self._carry(resource, "lifecycle")
        return got

    def image(self, snap: Snapshot, ref: ImageRef, repo: Repository | None) -> Collected[ImagePlatforms] | None:
        """An image's platforms: by digest they cannot change; by tag only while no image event names the repository."""
        changes = self._changes()
        got = self.prev.images.get(ref.key)
        if changes is None or got is None or not got.ok or not self._same_repository(repo, ref.repository):
            return None
        where = "@" + ref.digest if ref.digest else ":" + (ref.tag or "latest")
        resource = snap.repository_arn(ref.repository) + where
        if not ref.digest and changes.changed_since("images", ref.repository, self._since(resource, "image")):
            self._reread("images", ref.key)
            return None
        self._carry(resource, "image")
        return got

    def workflow(self, workflow_id: str) -> Workflow | None:
        """A workflow's registry map and definition: set at creation, and UpdateWorkflow changes neither."""
        for wf in self.prev.workflows.value or []:
            if wf.id == workflow_id and wf.registry_map.ok and wf.definition.ok:
                self._carry(wf.arn, "workflow")
                return wf.model_copy(deep=True)
        return None

    def run(self, item: dict[str, Any]) -> Run | None:
        """An ended run and its tasks as the previous scan read them: an ended run does not change."""
        for run in self.prev.runs.value or []:
            ended = run.status in ENDED_RUN_STATUSES and run.status == item.get("status")
            if run.id == item.get("id") and ended and run.tasks.ok:
                self._carry(run.arn, "run")
                return run.model_copy(deep=True)
        return None

    def role(self, arn: str) -> Collected[RolePolicies] | None:
        changes = self._changes()
        got = self.prev.roles.get(arn)
        if changes is None or got is None or not got.ok or got.value is None or got.value.errors:
            return None
        boundary = got.value.permissions_boundary_arn
        managed = {*got.value.attached_policies, *([boundary] if boundary else [])}
        since = self._since(arn, "role")
        if changes.changed_since("roles", arn.rsplit("/", 1)[-1], since) or any(
            changes.changed_since("managed_policies", m, since) for m in managed
        ):
            self._reread("role", arn)
            return None
        self._carry(arn, "role")
        return got


def mark_carried(findings: Iterable[Any], snapshots: Iterable[Snapshot]) -> None:
    """Add ``evidence.carried`` to each finding about data an incremental scan carried (in place)."""
    carried: dict[tuple[str, str, str], dict[str, datetime]] = {}
    for snap in snapshots:
        if snap.incremental is not None:
            for resource, what in snap.incremental.carried.items():
                carried[(snap.account_id, snap.region, resource)] = what
    if not carried:
        return
    for finding in findings:
        read = carried.get((finding.account, finding.region, finding.resource))
        if read:
            finding.evidence["carried"] = {name: when.isoformat() for name, when in sorted(read.items())}


def incremental_cell(snap: Snapshot) -> IncrementalCell:
    """The run document's account of how the cell was read."""
    info = snap.incremental
    assert info is not None
    return IncrementalCell(
        account=snap.account_id,
        region=snap.region,
        full=info.full,
        fallback=info.fallback,
        previous_scan=info.previous_collected_at,
        last_full_scan=info.full_scan_at,
        window_start=info.window_start,
        window_end=info.window_end,
        events=info.events,
        reread={what: len(keys) for what, keys in sorted(info.reread.items())},
        carried=info.carried_count(),
    )
