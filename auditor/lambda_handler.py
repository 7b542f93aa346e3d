"""AWS Lambda entry point of the nightly audit (``deploy/template.yaml``, handler ``auditor.lambda_handler.handler``).

One handler; the event's ``action`` picks a function from :data:`ACTIONS` (an event without one, such
as EventBridge Scheduler's or a scheduled rule's, is a full ``run``):

``run``
    The whole organisation in one invocation: ``scan_org``, optional fixes (``FIX_ENABLED``, at most
    ``MAX_FIX_CHANGES`` writes in all; ``auditor.nightly_fix``), then :func:`finish`. For organisations
    that fit in 15 minutes.
``plan``
    The Step Functions plan step: the cells (``plan_cells``) go to ``runs/<run id>/cells.json``, which
    the distributed Map reads with an ``ItemReader``. The cell list always travels through S3, never
    through the state payload (256 KiB): one code path for 10 cells and for 10,000. The result also
    carries the cells inline while they are small (:data:`INLINE_CELLS_LIMIT`), for direct callers.
``scan_cell``
    One (account, region): ``scan_org(cells=[...])`` with the plan's run id, written to
    ``runs/<run id>/parts/<account>-<region>.json``; returns a small summary (Map results stay small).
``merge``
    Reads every planned cell's part; a cell without one (its Map iteration failed or timed out) becomes
    ERROR findings for that cell (``engine.cell_error_findings``), so a failed cell is never silently
    missing. ``merge_documents``, then :func:`finish`.
``guard``
    An EventBridge "AWS API Call via CloudTrail" event (routed by its ``detail-type``, :data:`DEFAULT_ACTIONS`):
    the real-time guard (``auditor.guard``) re-judges only what the call touched, publishes a new FAIL within
    seconds and, only with ``GUARD_FIX_ENABLED``, merges the omics statement into a repository's policy
    (``GUARD_MAX_CHANGES`` writes at most, backed up first). ``GUARD_ENABLED=false`` ignores such events.

:func:`finish` applies the suppressions, writes ``runs/<run id>/findings.json`` and one report per
``REPORT_FORMATS`` entry (``report.html``...), diffs against the previous run (``latest/findings.json``),
publishes the NEW problems to SNS (worded by ``auditor.notify``), then moves ``latest/`` to this run (with
``latest/known.json``, the small index of it the real-time guard reads).
No new problem: nothing is published (``NOTIFY_ALWAYS=true`` sends a "no new findings" note instead),
so a quiet night is quiet.

Configuration: ``AUDIT_CONFIG`` (inline YAML/JSON) or ``AUDIT_CONFIG_S3`` (``s3://`` URI), validated
like the CLI's; without either, the whole organisation (``targets: {organization: {}}``). The other
variables are set by the template (:class:`Settings`). A configuration or event problem returns
``{"ok": false, "error": "..."}`` and logs one line (structlog JSON), never a traceback; credentials,
external ids and secret values are never logged or returned.

Every event is validated by its action's pydantic model (:class:`RunEvent`, :class:`PlanEvent`,
:class:`ScanCellEvent`, :class:`MergeEvent`) before the settings are read or any AWS client exists:
ids are matched whole (no trailing newline), sizes are bounded, unknown fields are refused. The error
is one line of at most :data:`ERROR_LIMIT` characters that never quotes the offending value whole. A
``cells_key`` object is read with a size bound (:data:`CELLS_OBJECT_LIMIT`) and validated the same way.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import boto3
import botocore.exceptions
import structlog
import yaml
from botocore.config import Config as BotoConfig
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from auditor import logs

log = structlog.get_logger("auditor.lambda")

# What a run does in the audit account besides scanning: findings, reports and parts in the bucket,
# one notification per run (auditor.permissions puts these in the function's policy).
RUN_PERMISSIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",  # without it a missing part reads as AccessDenied instead of NoSuchKey
    "sns:Publish",
    "sts:GetCallerIdentity",
)

# Cells returned inline by "plan" up to this JSON size; beyond, only in S3 (the Map reads S3 anyway).
INLINE_CELLS_LIMIT = 64 * 1024

# Event limits. Every pattern is applied with re.fullmatch and ASCII classes only: Python's "$" also
# matches before a trailing newline and "\d" matches any Unicode digit, both of which let a value through
# that AWS later rejects, after a full scan.
ERROR_LIMIT = 300  # characters of an ok:false error; never the whole of a hostile value
SHOWN_VALUE_LIMIT = 40  # characters of a field name or value quoted in an error
MAX_INLINE_CELLS = 10_000  # "merge" with cells in the event (the state machine always uses cells_key)
MAX_CELLS = 200_000  # a cells.json plan: 5,000 accounts x 40 regions
CELLS_OBJECT_LIMIT = 16 * 1024 * 1024  # bytes of runs/<run id>/cells.json read back (~50 bytes a cell)
EVENT_DETAIL_LIMIT = 4096  # bytes of an EventBridge event's "detail" (a scheduled event's is {})
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+){1,3}-[0-9]{1,2}")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


class HandlerError(Exception):
    """Something the operator must fix (settings, configuration, event): an error result, not a traceback."""


# --- settings ----------------------------------------------------------------------------------


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HandlerError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise HandlerError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@dataclass(frozen=True)
class Settings:
    """What the template passes in environment variables."""

    bucket: str
    topic_arn: str | None = None
    config_inline: str = ""
    config_s3: str = ""
    regions: list[str] = field(default_factory=list)
    member_role_name: str = ""
    external_id: str = ""
    fix_enabled: bool = False
    fix_role_arn: str = ""
    member_fix_role_name: str = ""
    max_fix_changes: int = 20
    report_formats: list[str] = field(default_factory=lambda: ["html"])
    max_concurrency: int = 20
    tolerated_failure_percentage: int = 100
    notify_always: bool = False
    new_in_message: int = 20
    securityhub_import: bool = False
    endpoint_url: str | None = None
    digest_cache: bool = True  # keep image platforms by digest in the bucket between runs (auditor.lambda_state)
    incremental_full_after_days: int = 0  # 0: every run reads everything; N: incremental, in full every N days
    # the real-time guard (auditor.guard): judge CloudTrail API events; fix what they broke only when asked
    guard_enabled: bool = True
    guard_fix_enabled: bool = False
    guard_max_changes: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        bucket = env.get("AUDIT_BUCKET", "").strip()
        if not bucket:
            raise HandlerError("AUDIT_BUCKET is not set: the function needs the bucket it writes runs to")
        regions = _csv(env.get("AUDIT_REGIONS"))
        bad = [r for r in regions if not _REGION.fullmatch(r)]
        if bad:
            raise HandlerError(f"AUDIT_REGIONS has names that are not AWS regions: {', '.join(bad)}")
        return cls(
            bucket=bucket,
            topic_arn=env.get("SNS_TOPIC_ARN", "").strip() or None,
            config_inline=env.get("AUDIT_CONFIG", ""),
            config_s3=env.get("AUDIT_CONFIG_S3", "").strip(),
            regions=regions,
            member_role_name=env.get("MEMBER_ROLE_NAME", "").strip(),
            external_id=env.get("EXTERNAL_ID", "").strip(),
            fix_enabled=_flag(env.get("FIX_ENABLED")),
            fix_role_arn=env.get("FIX_ROLE_ARN", "").strip(),
            member_fix_role_name=env.get("MEMBER_FIX_ROLE_NAME", "").strip(),
            max_fix_changes=_int(env, "MAX_FIX_CHANGES", 20, 0, 100_000),
            report_formats=_csv(env.get("REPORT_FORMATS", "html")),
            max_concurrency=_int(env, "MAX_CONCURRENCY", 20, 1, 10_000),
            tolerated_failure_percentage=_int(env, "TOLERATED_FAILURE_PERCENTAGE", 100, 0, 100),
            notify_always=_flag(env.get("NOTIFY_ALWAYS")),
            new_in_message=_int(env, "NEW_FINDINGS_IN_MESSAGE", 20, 0, 1000),
            securityhub_import=_flag(env.get("SECURITYHUB_IMPORT")),
            endpoint_url=env.get("AUDIT_ENDPOINT_URL", "").strip() or None,
            digest_cache=_flag(env.get("DIGEST_CACHE", "true")),
            incremental_full_after_days=_int(env, "INCREMENTAL_FULL_AFTER_DAYS", 0, 0, 90),
            guard_enabled=_flag(env.get("GUARD_ENABLED", "true")),
            guard_fix_enabled=_flag(env.get("GUARD_FIX_ENABLED")),
            guard_max_changes=_int(env, "GUARD_MAX_CHANGES", 5, 0, 100),
        )


# --- the invocation's context ---------------------------------------------------------------------


class Context:
    """Settings, the function's session, and what is derived from them once per invocation."""

    def __init__(self, settings: Settings, session: boto3.Session) -> None:
        self.settings = settings
        self.session = session
        self._clients: dict[str, Any] = {}
        self._config: Any = None
        self._config_prefix: str | None = None  # s3://bucket/folder/ of AUDIT_CONFIG_S3 (relative paths)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {
                "config": BotoConfig(
                    retries={"mode": "adaptive", "total_max_attempts": 5},
                    connect_timeout=5,
                    read_timeout=30,
                    user_agent_extra="omics-ecr-audit-lambda",
                )
            }
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            self._clients[service] = self.session.client(service, **kwargs)
        return self._clients[service]

    # -- S3 ---------------------------------------------------------------------------------

    def uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"

    def put(self, key: str, body: str, content_type: str = "application/json") -> str:
        self.client("s3").put_object(
            Bucket=self.settings.bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )
        return self.uri(key)

    def get(self, key: str, bucket: str | None = None) -> str | None:
        """The object's text, or None when it does not exist."""
        try:
            resp = self.client("s3").get_object(Bucket=bucket or self.settings.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        text: str = resp["Body"].read().decode("utf-8")
        return text

    def put_bytes(self, key: str, body: bytes, content_type: str) -> str:
        self.client("s3").put_object(
            Bucket=self.settings.bucket, Key=key, Body=body, ContentType=content_type, ServerSideEncryption="AES256"
        )
        return self.uri(key)

    def get_bytes(self, key: str, limit: int) -> bytes | None:
        """The object's bytes if at most ``limit`` of them, None when it does not exist (EventError if larger)."""
        try:
            resp = self.client("s3").get_object(Bucket=self.settings.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        body = resp["Body"]
        try:
            if int(resp.get("ContentLength") or 0) > limit:
                raise EventError(f"{_one_line(self.uri(key), 200)} is larger than {limit} bytes")
            data = body.read(limit + 1)
        finally:
            body.close()
        if len(data) > limit:
            raise EventError(f"{_one_line(self.uri(key), 200)} is larger than {limit} bytes")
        return bytes(data)

    def get_bounded(self, key: str, limit: int) -> str | None:
        """The object's text if it is at most ``limit`` bytes of UTF-8, None when it does not exist.

        Larger objects are refused from their Content-Length, and at most ``limit + 1`` bytes are ever
        read, so a planted 2 GB object cannot exhaust the function's memory.
        """
        data = self.get_bytes(key, limit)
        if data is None:
            return None
        try:
            text: str = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError(f"{_one_line(self.uri(key), 200)} is not UTF-8 text") from None
        return text

    # -- configuration ------------------------------------------------------------------------

    @property
    def config(self) -> Any:
        if self._config is None:
            self._config = self._load_config()
        return self._config

    def _load_config(self) -> Any:
        from auditor.config import Config, OrganizationTargets, Targets, parse_config

        s = self.settings
        if s.config_inline.strip() and s.config_s3:
            raise HandlerError("set AUDIT_CONFIG or AUDIT_CONFIG_S3, not both")
        if s.config_s3:
            bucket, key = _split_s3(s.config_s3, "AUDIT_CONFIG_S3")
            try:
                text = self.get(key, bucket)
            except botocore.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "ClientError")
                raise HandlerError(f"AUDIT_CONFIG_S3 {s.config_s3}: cannot read it ({code})") from None
            if text is None:
                raise HandlerError(f"AUDIT_CONFIG_S3 {s.config_s3}: no such object")
            source = s.config_s3
            self._config_prefix = s.config_s3.rsplit("/", 1)[0] + "/"
        elif s.config_inline.strip():
            text, source = s.config_inline, "AUDIT_CONFIG"
        else:
            text, source = None, "defaults"
        if text is None:
            # No configuration at all: what the nightly deployment is for, the whole organisation.
            config = Config(targets=Targets(organization=OrganizationTargets()))
        else:
            try:
                data = yaml.safe_load(text)  # JSON is YAML too
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                raise HandlerError(f"{source}: not valid YAML or JSON{where}") from None
            config = parse_config(data, source)  # ConfigError names the field
        return self._with_settings(config)

    def _with_settings(self, config: Any) -> Any:
        """The template's settings fill what the configuration leaves open (it always wins)."""
        s = self.settings
        update: dict[str, Any] = {}
        if not config.regions and s.regions:
            update["regions"] = s.regions
        targets = config.targets
        if targets is not None:
            role = targets.role
            role_update: dict[str, Any] = {}
            if role.name is None and role.arn_template is None and s.member_role_name:
                role_update["name"] = s.member_role_name
            if role.external_id is None and s.external_id:
                role_update["external_id"] = s.external_id
            if role_update:
                update["targets"] = targets.model_copy(update={"role": role.model_copy(update=role_update)})
        return config.model_copy(update=update) if update else config

    def validate(self) -> None:
        """Fail fast, before a long scan: the configuration parses and every report format exists."""
        from auditor.reports import load_formats

        known = load_formats()
        unknown = [f for f in self.settings.report_formats if f not in known]
        if unknown:
            raise HandlerError(f"REPORT_FORMATS names unknown format(s) {', '.join(unknown)}; known: {sorted(known)}")
        _ = self.config, self.rules

    @property
    def rules(self) -> list[Any]:
        from auditor.scan import select_rules

        return select_rules(self.config)

    def suppressions(self) -> list[Any]:
        from auditor.suppressions import load_suppressions

        path = self.config.suppressions
        if not path:
            return []
        if not path.startswith("s3://"):
            if self._config_prefix is None:
                raise HandlerError(
                    f"suppressions {path!r}: in Lambda give an s3:// URI (or a path relative to AUDIT_CONFIG_S3)"
                )
            path = self._config_prefix + path.lstrip("./")
        bucket, key = _split_s3(path, "suppressions")
        text = self.get(key, bucket)
        if text is None:
            raise HandlerError(f"suppressions {path}: no such object")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(key).name
            local.write_text(text, encoding="utf-8")
            return load_suppressions(local)


def _split_s3(uri: str, what: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri.endswith("/"):
        raise HandlerError(f"{what} must be an s3://bucket/key URI, not {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


# --- events ---------------------------------------------------------------------------------------
#
# Every event is validated by one of the models below BEFORE the settings are read or any AWS client is
# made: a malformed event costs nothing and says what is wrong in one bounded line (ok:false), instead of
# failing with a ClientError after a full scan. Extra fields are refused (a typo such as "cell_key" would
# otherwise be silently ignored), types are strict (no 123456789012 -> "123456789012" coercion) and every
# string and list has a size limit checked before any pattern runs.


class EventError(Exception):
    """A malformed event: its message is one line of at most :data:`ERROR_LIMIT` characters."""

    def __init__(self, message: str, action: str = "?") -> None:
        super().__init__(_one_line(message))
        self.action = action  # a known action's name, or "?" (an unknown one is never echoed whole)


def _show(value: object, limit: int = SHOWN_VALUE_LIMIT) -> str:
    """A value as it may appear in an error: escaped to one line, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text[: limit + 1].encode("unicode_escape").decode("ascii")  # cut first: the value may be 10 MB
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(message: str, limit: int = ERROR_LIMIT) -> str:
    flat = " ".join(message[: limit * 2].split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _full(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return check


AccountId = Annotated[
    str, StringConstraints(min_length=12, max_length=12), AfterValidator(_full(_ACCOUNT, "a 12-digit account id"))
]
Region = Annotated[str, StringConstraints(max_length=32), AfterValidator(_full(_REGION, "an AWS region name"))]
RunId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(_full(_RUN_ID, "a run_id of letters, digits and _.:- (at most 128)")),
]
# runs/<run id>/<file>: what "plan" returns; checked against the event's run_id by MergeEvent
CellsKey = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(
        _full(
            re.compile(r"runs/[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}/[A-Za-z0-9_.-]{1,200}\.json"),
            "runs/<run id>/<name>.json",
        )
    ),
]
# Step Functions execution names: 1-80 characters, no whitespace, brackets, wildcards or these specials
ExecutionName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=80),
    AfterValidator(
        _full(re.compile(r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}"), "a Step Functions execution name")
    ),
]
# EventBridge envelope fields: printable ASCII, bounded
Text = Annotated[
    str, StringConstraints(max_length=256), AfterValidator(_full(re.compile(r"[\x20-\x7e]*"), "printable ASCII"))
]
Arn = Annotated[
    str, StringConstraints(max_length=2048), AfterValidator(_full(re.compile(r"arn:[\x21-\x7e]{1,2044}"), "an ARN"))
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)


class CellEvent(_Event):
    """One (account, region): an item of ``cells`` or of ``runs/<run id>/cells.json``."""

    account: AccountId
    region: Region

    def cell(self) -> Any:
        from auditor.targets import Cell

        return Cell(account=self.account, region=self.region)


class RunEvent(_Event):
    """``{"action": "run"}`` (EventBridge Scheduler's input) or an EventBridge scheduled-rule event.

    A scheduled rule sends its envelope without an action: those fields are accepted (bounded) so that the
    old way of scheduling keeps working, and only ``source``/``detail-type`` are used (in the log line).
    """

    action: Literal["run"] | None = None
    version: Text | None = None
    id: Text | None = None
    detail_type: Text | None = Field(default=None, alias="detail-type")
    source: Text | None = None
    account: AccountId | None = None
    time: Text | None = None
    region: Region | None = None
    resources: list[Arn] = Field(default_factory=list, max_length=20)
    detail: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _small_detail(self) -> RunEvent:
        try:
            size = len(json.dumps(self.detail))
        except (TypeError, ValueError, RecursionError):
            raise ValueError("detail must be a small JSON object") from None
        if size > EVENT_DETAIL_LIMIT:
            raise ValueError(f"detail must be at most {EVENT_DETAIL_LIMIT} bytes of JSON")
        return self


class PlanEvent(_Event):
    """The state machine's first step: ``{"action": "plan", "execution": <execution name>}``."""

    action: Literal["plan"]
    run_id: RunId | None = None
    execution: ExecutionName | None = None


class ScanCellEvent(_Event):
    """One distributed-Map item: ``{"action": "scan_cell", "run_id", "account", "region"}``."""

    action: Literal["scan_cell"]
    run_id: RunId
    account: AccountId
    region: Region


class MergeEvent(_Event):
    """``{"action": "merge", "run_id", "cells_key"}`` (the state machine) or with the ``cells`` inline."""

    action: Literal["merge"]
    run_id: RunId
    cells_key: CellsKey | None = None
    cells: list[CellEvent] | None = Field(default=None, min_length=1, max_length=MAX_INLINE_CELLS)

    @model_validator(mode="after")
    def _key_of_this_run(self) -> MergeEvent:
        if self.cells is not None and self.cells_key is not None:
            raise ValueError("give cells or cells_key, not both")
        if self.cells_key is not None and not self.cells_key.startswith(f"runs/{self.run_id}/"):
            raise ValueError("cells_key must be under runs/<run_id>/ of the same run_id")
        return self


class PlannedCells(BaseModel):
    """The body of ``runs/<run id>/cells.json`` as "plan" writes it: a non-empty list of cells."""

    model_config = ConfigDict(strict=True, hide_input_in_errors=True)

    cells: list[CellEvent] = Field(min_length=1, max_length=MAX_CELLS)


def _validation_message(prefix: str, exc: ValidationError) -> str:
    """The first problems of ``exc`` in one line; the offending values themselves are never quoted."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts = []
    for err in errors[:3]:
        where = ".".join(_show(p) for p in err["loc"]) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {_show(msg, 120)}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return _one_line(f"{prefix}: {'; '.join(parts)}{more}")


# --- actions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    model: type[_Event]
    run: Callable[[Any, Context], dict[str, Any]]


ACTIONS: dict[str, Registered] = {}
# EventBridge detail-type -> the action of an event without "action" (default: "run")
DEFAULT_ACTIONS: dict[str, str] = {"AWS API Call via CloudTrail": "guard"}


def action(name: str, model: type[_Event]) -> Callable[[Callable[[Any, Context], dict[str, Any]]], Any]:
    def register(fn: Callable[[Any, Context], dict[str, Any]]) -> Callable[[Any, Context], dict[str, Any]]:
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = Registered(model, fn)
        return fn

    return register


def parse_event(event: Any) -> tuple[str, Registered, _Event]:
    """(action name, its registration, the validated event); :class:`EventError` for anything malformed.

    Pure: no settings, no AWS call. An event without ``action`` is the nightly ``run``.
    """
    if not isinstance(event, Mapping):
        raise EventError(f"the event must be a JSON object, not {type(event).__name__}")
    name = event.get("action")
    if name is None:
        # An EventBridge event names no action: its detail-type says what it is (DEFAULT_ACTIONS); anything
        # else, EventBridge Scheduler's input or a scheduled rule's event, is the nightly run.
        detail_type = event.get("detail-type")
        name = DEFAULT_ACTIONS.get(detail_type, "run") if isinstance(detail_type, str) else "run"
    elif not isinstance(name, str):
        raise EventError("action must be a string")
    elif name not in ACTIONS:
        raise EventError(_one_line(f"unknown action '{_show(name)}'; known: {', '.join(sorted(ACTIONS))}"))
    registered = ACTIONS[name]
    try:
        request = registered.model.model_validate(dict(event))
    except ValidationError as exc:
        raise EventError(_validation_message(f"malformed {name} event", exc), name) from None
    return name, registered, request


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time (S3 lists runs in order) and unique: ``20261121T020000Z-1a2b3c4d``."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _part_key(run_id: str, account: str, region: str) -> str:
    return f"runs/{run_id}/parts/{account}-{region}.json"


@action("plan", PlanEvent)
def plan(event: PlanEvent, ctx: Context) -> dict[str, Any]:
    from auditor.targets import plan_cells

    run_id = event.run_id or new_run_id()
    cells = plan_cells(ctx.config, ctx.session, endpoint_url=ctx.settings.endpoint_url)
    items = [c.model_dump() for c in cells]
    body = json.dumps(items)
    key = f"runs/{run_id}/cells.json"
    ctx.put(key, body)
    log.info("run_planned", run_id=run_id, cells=len(items), accounts=len({c.account for c in cells}))
    out: dict[str, Any] = {
        "run_id": run_id,
        "bucket": ctx.settings.bucket,
        "cells_key": key,
        "count": len(items),
        "map_results_prefix": f"runs/{run_id}/map",
        "max_concurrency": ctx.settings.max_concurrency,
        "tolerated_failure_percentage": ctx.settings.tolerated_failure_percentage,
    }
    if len(body) <= INLINE_CELLS_LIMIT:
        out["cells"] = items
    else:
        out["cells_truncated"] = True  # in S3 only: runs/<run id>/cells.json
    return out


@action("scan_cell", ScanCellEvent)
def scan_cell(event: ScanCellEvent, ctx: Context) -> dict[str, Any]:

    run_id = event.run_id
    cell = CellEvent(account=event.account, region=event.region).cell()
    doc = _scan(ctx, [cell], run_id)
    key = _part_key(run_id, cell.account, cell.region)
    ctx.put(key, doc.model_dump_json())
    statuses = {k: v for k, v in doc.summary["by_status"].items() if v}
    log.info("cell_scanned", run_id=run_id, account=cell.account, region=cell.region, **statuses)
    return {"run_id": run_id, "account": cell.account, "region": cell.region, "part": key, "by_status": statuses}


@action("merge", MergeEvent)
def merge(event: MergeEvent, ctx: Context) -> dict[str, Any]:
    from auditor.findings import FindingsDocument, RunInfo, Target, build_document, merge_documents
    from auditor.models import CallError

    run_id = event.run_id
    cells = _planned_cells(event, ctx)
    rules = ctx.rules

    def read(cell: Any) -> tuple[Any, FindingsDocument | None]:
        text = ctx.get(_part_key(run_id, cell.account, cell.region))
        return cell, (FindingsDocument.model_validate_json(text) if text is not None else None)

    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="merge") as pool:
        read_parts = list(pool.map(read, cells))
    parts = [doc for _, doc in read_parts if doc is not None]
    missing = [cell for cell, doc in read_parts if doc is None]
    if missing:
        from auditor.engine import cell_error_findings

        findings, targets = [], []
        for cell in missing:
            error = CallError(
                operation="scan:cell",
                code="CellNotScanned",
                message="this cell's Step Functions map iteration failed or timed out; no result was written",
                resource=f"account/{cell.account}/region/{cell.region}",
            )
            findings.extend(cell_error_findings(rules, cell.account, cell.region, error))
            targets.append(Target(account=cell.account, region=cell.region, status="error", error=error))
        run = RunInfo(
            id=run_id,
            started=min((p.run.started for p in parts), default=datetime.now(UTC)),
            mode=parts[0].run.mode if parts else "live",
            targets=targets,
            rules=list(parts[0].run.rules) if parts else [r.meta.id for r in rules],
            severity_threshold=parts[0].run.severity_threshold if parts else ctx.config.severity_threshold,
        )
        parts.append(build_document(run, findings, {}))
        log.warning("cells_missing", run_id=run_id, cells=[f"{c.account}/{c.region}" for c in missing])
    doc = merge_documents(parts, run_id=run_id)
    result = finish(doc, ctx)
    result["missing_cells"] = [c.model_dump() for c in missing]
    return result


def _planned_cells(event: MergeEvent, ctx: Context) -> list[Any]:
    """The event's cells, or those of its cells_key object (read with a size bound, validated like an event)."""
    if event.cells is not None:
        return list(dict.fromkeys(c.cell() for c in event.cells))
    key = event.cells_key or f"runs/{event.run_id}/cells.json"
    text = ctx.get_bounded(key, CELLS_OBJECT_LIMIT)
    if text is None:
        raise EventError(f"{_one_line(ctx.uri(key), 200)} does not exist: was run {event.run_id} planned?")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise EventError(f"{_one_line(ctx.uri(key), 200)} is not JSON: not a cell list written by plan") from None
    try:
        planned = PlannedCells.model_validate({"cells": raw})
    except ValidationError as exc:
        raise EventError(
            _validation_message(f"{_one_line(ctx.uri(key), 150)} is not a plan's cell list", exc)
        ) from None
    return list(dict.fromkeys(c.cell() for c in planned.cells))


@action("run", RunEvent)
def run(event: RunEvent, ctx: Context) -> dict[str, Any]:
    from auditor.nightly_fix import apply_fixes

    run_id = new_run_id()
    log.info("run_start", run_id=run_id, source=event.source or event.detail_type or "direct")
    doc = _scan(ctx, None, run_id)
    fixes = apply_fixes(doc, ctx) if ctx.settings.fix_enabled else None
    return finish(doc, ctx, fixes=fixes)


def _scan(ctx: Context, cells: list[Any] | None, run_id: str) -> Any:
    """scan_org over ``cells`` (None: every planned cell), with what the bucket keeps between runs.

    The digest cache is restored before and saved after (``DIGEST_CACHE``); with
    ``INCREMENTAL_FULL_AFTER_DAYS`` the scan starts from each cell's last inventory and saves the new one.
    """
    from datetime import timedelta

    from auditor import lambda_state
    from auditor.incremental import Settings as IncrementalSettings
    from auditor.scan import scan_org
    from auditor.targets import plan_cells

    settings = ctx.settings
    digests = lambda_state.restore_digests(ctx) if settings.digest_cache else None
    since = incremental = None
    kept: list[Any] = []
    if settings.incremental_full_after_days:
        if cells is None:
            cells = plan_cells(ctx.config, ctx.session, endpoint_url=settings.endpoint_url)
        since = lambda_state.previous_inventory(ctx, [(c.account, c.region) for c in cells])
        incremental = IncrementalSettings(full_after=timedelta(days=settings.incremental_full_after_days))
    doc = scan_org(
        ctx.config,
        ctx.rules,
        session=ctx.session,
        cells=cells,
        run_id=run_id,
        endpoint_url=settings.endpoint_url,
        digest_cache=digests,
        since=since,
        incremental_settings=incremental,
        keep_snapshots=kept,
    )
    if settings.incremental_full_after_days:
        lambda_state.save_inventory(ctx, kept)
    if digests is not None:
        lambda_state.save_digests(ctx, digests)
    return doc


# --- the end of every run: outputs, diff, notification, latest ----------------------------------------


def finish(doc: Any, ctx: Context, *, fixes: dict[str, Any] | None = None) -> dict[str, Any]:
    from auditor.findings import FindingsDocument, exit_code
    from auditor.reports import RenderOptions, load_formats
    from auditor.reports.diff import PROBLEM, diff_documents
    from auditor.scan import suppress

    suppressions = ctx.suppressions()
    if suppressions:
        doc = suppress(doc, suppressions)
    previous_text = ctx.get("latest/findings.json")
    previous = None
    if previous_text is not None:
        try:
            previous = FindingsDocument.model_validate_json(previous_text)
        except ValidationError:
            log.warning("previous_run_unreadable", key="latest/findings.json")
    if previous is not None and previous.run.id == doc.run.id:
        previous = None  # a retried merge must not diff the run against itself
    if previous is not None:
        diff = diff_documents(previous, doc)
        new = diff.new
        counts = {k: len(getattr(diff, k)) for k in ("new", "resolved", "persisting", "muted", "unverified")}
    else:
        new = [f for f in doc.findings if f.status in PROBLEM]
        counts = {"new": len(new)}

    run_id = doc.run.id
    prefix = f"runs/{run_id}"
    findings_uri = ctx.put(f"{prefix}/findings.json", doc.model_dump_json(indent=2))
    formats = load_formats()
    reports: dict[str, str] = {}
    for name in ctx.settings.report_formats:
        fmt = formats[name]
        text = fmt.render(doc, RenderOptions(previous=previous))
        content_type = "text/html; charset=utf-8" if name == "html" else "application/json"
        if fmt.suffix.endswith(".xml"):
            content_type = "application/xml"
        reports[name] = ctx.put(f"{prefix}/report{fmt.suffix}", text, content_type)
    result: dict[str, Any] = {
        "run_id": run_id,
        "findings": findings_uri,
        "reports": reports,
        "by_status": {k: v for k, v in doc.summary["by_status"].items() if v},
        "cells": len(doc.run.targets),
        "cells_with_errors": sum(1 for t in doc.run.targets if t.status == "error"),
        "diff": counts,
        "previous_run": previous.run.id if previous else None,
        "new_finding_ids": [f.id for f in new],
        "exit_code": exit_code(doc, ctx.config.severity_threshold),
    }
    if fixes is not None:
        result["fixes"] = fixes
    if ctx.settings.securityhub_import:
        result["securityhub"] = _securityhub(doc, previous, ctx)
    ctx.put(f"{prefix}/summary.json", json.dumps(result, indent=2))
    result["notified"] = notify(doc, new, counts, previous, result, ctx)
    # latest/ moves last: a run whose notification failed is diffed again next time, so nothing is lost
    from auditor.guard import KNOWN_KEY, known_index  # what the real-time guard reads of this run

    ctx.put(KNOWN_KEY, known_index(doc).model_dump_json())
    ctx.put("latest/findings.json", doc.model_dump_json(indent=2))
    ctx.put("latest/run.json", json.dumps({"run_id": run_id, "findings": findings_uri, "reports": reports}))
    log.info("run_finished", run_id=run_id, new=len(new), exit_code=result["exit_code"], notified=result["notified"])
    return result


def _securityhub(doc: Any, previous: Any, ctx: Context) -> dict[str, Any]:
    from auditor.reports.asff import SecurityHubError, push_to_securityhub

    try:
        res = push_to_securityhub(doc, ctx.session, previous=previous, endpoint_url=ctx.settings.endpoint_url)
    except SecurityHubError as exc:
        log.error("securityhub_import_failed", error=str(exc))
        return {"error": str(exc)}
    return {"imported": getattr(res, "imported", None), "failed": len(getattr(res, "failed", []))}


def notify(
    doc: Any, new: Sequence[Any], counts: Mapping[str, int], previous: Any, result: Mapping[str, Any], ctx: Context
) -> bool:
    s = ctx.settings
    if not s.topic_arn:
        return False
    if not new and not s.notify_always:
        return False
    from auditor.notify import notification

    subject, message = notification(doc, new, counts, previous, result, s.new_in_message)
    ctx.client("sns").publish(TopicArn=s.topic_arn, Subject=subject, Message=message)
    return True


# --- the entry point ---------------------------------------------------------------------------------


def handler(event: Any, context: Any = None, *, session: boto3.Session | None = None) -> dict[str, Any]:
    """Lambda entry point; see the module docstring for the actions and what each returns."""
    from auditor.errors import ConfigError, FixRefused, UsageError

    logs.configure(os.environ.get("LOG_LEVEL", "info"))
    name = "?"
    try:
        # the event first: a malformed one is refused before the settings are read or any client is made
        name, registered, request = parse_event(event)
        ctx = Context(Settings.from_env(os.environ), session or boto3.Session())
        ctx.validate()
        result = registered.run(request, ctx)
    except EventError as exc:
        name = exc.action if name == "?" else name
        message = _one_line(str(exc))
        log.error("event_rejected", action=name, error=message)
        return {"ok": False, "action": name, "error": message}
    except (HandlerError, ConfigError, UsageError, FixRefused) as exc:
        # ConfigError covers targets.TargetError (no organisation access, nothing selected)
        message = str(exc)
        log.error("action_failed", action=name, error=message.splitlines()[0][:500])
        return {"ok": False, "action": name, "error": message}
    except ValidationError as exc:
        message = _validation_message("malformed data", exc)
        log.error("action_failed", action=name, error=message)
        return {"ok": False, "action": name, "error": message}
    return {"ok": True, "action": name, **result}


# The real-time guard registers its action ("guard", for DEFAULT_ACTIONS) when its module is imported.
from auditor import guard as _guard  # noqa: E402, F401

__all__ = [
    "ACTIONS",
    "DEFAULT_ACTIONS",
    "INLINE_CELLS_LIMIT",
    "Context",
    "EventError",
    "HandlerError",
    "Settings",
    "action",
    "handler",
    "parse_event",
]
