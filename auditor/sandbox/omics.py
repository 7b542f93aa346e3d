"""AWS HealthOmics (workflows plane) backend for moto 5.2.5, which has no ``omics`` service.

Covers the operations the auditor needs: workflows and their versions (with the
``containerRegistryMap`` HealthOmics uses to rewrite container URIs), runs and run
tasks (with ``imageDetails``). Everything else in the service answers like any
other operation moto has not implemented.

The module is laid out like a moto service package (exceptions, models, responses,
urls) so it can be split into ``moto/omics/*.py`` upstream. ``install()`` registers
it without forking moto:

* ``sys.modules["moto.omics"]`` is this module, so ``moto.backends.get_backend("omics")``
  finds ``omics_backends``;
* a URL pattern for ``omics`` is appended to ``moto.backend_index.backend_url_patterns``.

Every operation this backend serves carries the ``workflows-`` host prefix in
botocore 1.44.5: ``https://workflows-omics.<region>.amazonaws.com``. The pattern
also accepts the bare ``omics.<region>`` host, which is what botocore sends when
host prefix injection is disabled (see ``auditor.sandbox.server``), and the other
prefixes of the service so that unimplemented operations fail as "not implemented"
rather than leaking to the network.

State the public API cannot set (run status and timestamps, run tasks) is seeded
with :func:`set_run_state` and :func:`add_run_task`.

Failed runs and tasks
---------------------
botocore 1.44.5's model gives GetRun two members for a failure: ``failureReason``
(``RunFailureReason``, 1-64 characters: a code) and ``statusMessage`` (``RunStatusMessage``, free
text); GetRunTask has the same pair (``TaskFailureReason``, ``TaskStatusMessage``). ListRuns and
ListRunTasks items (``RunListItem``, ``TaskListItem``) carry neither, so the sandbox answers them only
from GetRun and GetRunTask. The seeding helpers take both and check them against those shapes; a
failure reason is accepted only on a FAILED run or task. Which values a real run carries is in
``docs/run-failures.md``: the run's ``failureReason`` codes and their descriptions come from the
HealthOmics "Run failure reasons" page
(https://docs.aws.amazon.com/omics/latest/dev/workflows-run-errors.html); what a task's
``statusMessage`` says when its image cannot be pulled is not documented by HealthOmics, and the
demo uses the container runtime's wording as Amazon ECS documents it for ``CannotPullContainerError``
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html) — a
**GUESS** at HealthOmics' exact text.

Exported definitions (GetWorkflow / GetWorkflowVersion with ``export=["DEFINITION"]``)
-------------------------------------------------------------------------------------
The model (and the API reference generated from it) documents ``definition`` only as "The
workflow's definition"; that with ``export`` including ``DEFINITION`` the service answers a
pre-signed URL from which the definition zip can be downloaded (its own copy, taken when the
workflow was created) is the service's behaviour as this project relies on it, not something the
model states. The sandbox does what its ECR extension does for layer blobs
(``auditor.sandbox.ecr``): it copies the zip into moto's S3, in the bucket
``sandbox-omics-definitions-<account>-<region>`` (content addressed), and answers a SigV4
pre-signed GET URL fetchable with a plain HTTP GET (``urllib``, ``requests``). The endpoint is
chosen per request as for ECR blobs:

1. ``$OMICS_AUDIT_SANDBOX_S3_ENDPOINT`` when set (path-style URL on that endpoint);
2. otherwise, when the request reached moto on a host that is not an AWS host (the sandbox
   server at ``http://127.0.0.1:<port>``), that same scheme and host, path-style;
3. otherwise the real virtual-hosted S3 endpoint, which ``mock_aws`` intercepts for ``requests``.

What is exported, per the definition source of CreateWorkflow / CreateWorkflowVersion:

* ``definitionZip``: those bytes;
* ``definitionUri`` (``s3://bucket/key``): the object as moto's S3 held it when the workflow
  was created (HealthOmics imports the definition at creation; later changes to the object do
  not change the workflow). If the sandbox had no such object, ``definition`` is omitted;
* ``definitionRepository``: omitted. The model says nothing of exporting a repository-based
  definition (only ``definitionRepositoryDetails`` describes the source), and the sandbox holds
  no files for one.

Without ``export`` (or with only ``README``) ``definition`` is omitted, as before: the model
documents no other value for it. The model caps ``WorkflowDefinition`` at 256 characters, as it
does ``ReadmeS3PresignedUrl``; a SigV4 pre-signed URL is longer, and botocore does not check
maximum lengths of output, so the URL is returned whole (a truncated URL would be useless).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from types import ModuleType
from typing import Any
from uuid import uuid4

import moto
from botocore.model import Shape
from moto import backend_index
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.core.utils import get_service_model
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from auditor.sandbox.presign import presigned_get_url, s3_endpoint_for, store_object

SERVICE_NAME = "omics"
# Where exported definition URLs point (the same variable the ECR extension reads; see module doc).

# --------------------------------------------------------------------------------------
# Exceptions (shape names and HTTP status codes come from the service model)
# --------------------------------------------------------------------------------------


class ValidationException(ServiceException):
    code = "ValidationException"


class ResourceNotFoundException(ServiceException):
    code = "ResourceNotFoundException"


class ConflictException(ServiceException):
    code = "ConflictException"


# --------------------------------------------------------------------------------------
# Request validation against the model
# --------------------------------------------------------------------------------------
# botocore validates required members, types and minimums on the client, but not
# maximums, enums or patterns, and server-mode callers need not use botocore at all.
# The real service rejects those with ValidationException, so the backend checks the
# whole parsed input against the operation's input shape.

# Smithy patterns here are Java regexes; Python's ``re`` has no ``\p{..}`` classes.
# Every such pattern in the omics model is an optional literal prefix (``sha``) and one
# character class of Unicode general categories (perhaps with ``\t\n\r``), repeated with ``+``.
_UNICODE_CLASS_PATTERN = re.compile(r"([A-Za-z0-9]*)\[((?:\\p\{[A-Z]\}|\|\||\\[tnr])+)\]\+")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}


@cache
def _pattern_matcher(pattern: str) -> Callable[[str], bool]:
    unicode_class = _UNICODE_CLASS_PATTERN.fullmatch(pattern)
    if unicode_class:
        prefix, body = unicode_class.groups()
        categories = frozenset(re.findall(r"\\p\{([A-Z])\}", body))
        extra = frozenset(_ESCAPES[c] for c in re.findall(r"\\([tnr])", body))

        def matches(value: str) -> bool:
            rest = value[len(prefix) :]
            return (
                value.startswith(prefix)
                and bool(rest)
                and all(c in extra or unicodedata.category(c)[0] in categories for c in rest)
            )

        return matches
    try:
        compiled = re.compile(pattern)
    except re.error:  # a Java-only construct: do not reject what we cannot check
        return lambda _value: True
    # AWS services anchor their patterns in practice, so a full match is required.
    return lambda value: compiled.fullmatch(value) is not None


def _length_errors(value: Any, shape: Shape, path: str) -> list[str]:
    errors = []
    size = len(value)
    if "min" in shape.metadata and size < shape.metadata["min"]:
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must have length greater than or equal to "
            f"{shape.metadata['min']}"
        )
    if "max" in shape.metadata and size > shape.metadata["max"]:
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must have length less than or equal to "
            f"{shape.metadata['max']}"
        )
    return errors


def _string_errors(value: str, shape: Shape, path: str) -> list[str]:
    errors = _length_errors(value, shape, path)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    if pattern and not _pattern_matcher(pattern)(value):
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        )
    return errors


def _integer_errors(value: int, shape: Shape, path: str) -> list[str]:
    errors = []
    if "min" in shape.metadata and value < shape.metadata["min"]:
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must have value greater than or equal to "
            f"{shape.metadata['min']}"
        )
    if "max" in shape.metadata and value > shape.metadata["max"]:
        errors.append(
            f"at '{path}' failed to satisfy constraint: Member must have value less than or equal to "
            f"{shape.metadata['max']}"
        )
    return errors


def _wrong_type(value: Any, expected: str, path: str) -> list[str]:
    return [f"at '{path}' failed to satisfy constraint: Member must be of type {expected} (got {type(value).__name__})"]


def _structure_errors(value: Any, shape: Any, path: str) -> list[str]:
    if shape.is_document_type:
        return []
    if not isinstance(value, Mapping):
        return _wrong_type(value, "structure", path)
    prefix = f"{path}." if path else ""
    errors = [
        f"at '{prefix}{name}' failed to satisfy constraint: Member must not be null"
        for name in shape.required_members
        if value.get(name) is None
    ]
    for name, member in shape.members.items():
        if value.get(name) is not None:
            errors.extend(_shape_errors(value[name], member, f"{prefix}{name}"))
    return errors


def _shape_errors(value: Any, shape: Any, path: str) -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        return _structure_errors(value, shape, path)
    if kind == "list":
        if not isinstance(value, list):
            return _wrong_type(value, "list", path)
        errors = _length_errors(value, shape, path)
        for index, item in enumerate(value, start=1):
            errors.extend(_shape_errors(item, shape.member, f"{path}.{index}.member"))
        return errors
    if kind == "map":
        if not isinstance(value, Mapping):
            return _wrong_type(value, "map", path)
        errors = _length_errors(value, shape, path)
        for key, item in value.items():
            errors.extend(_shape_errors(key, shape.key, f"{path}.key"))
            errors.extend(_shape_errors(item, shape.value, f"{path}.{key}.value"))
        return errors
    if kind == "string":
        return _string_errors(value, shape, path) if isinstance(value, str) else _wrong_type(value, "string", path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return _wrong_type(value, kind, path)
        return _integer_errors(value, shape, path)
    return []  # blobs, booleans, timestamps and documents carry no constraints we check


def _raise_validation(errors: Sequence[str], values: Mapping[str, Any] | None = None) -> None:
    if not errors:
        return
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    details = "; ".join(f"Value {_describe_value(e, values)} {e}" for e in errors)
    raise ValidationException(f"{count} validation {noun} detected: {details}")


def _describe_value(error: str, values: Mapping[str, Any] | None) -> str:
    # Coral-style messages quote the offending value; for nulls it says ``null``.
    if error.endswith("Member must not be null"):
        return "null"
    path = error.split("'", 2)[1]
    value = _lookup_path(values, path) if values is not None else None
    return "null" if value is None else f"'{value}'"


def _lookup_path(values: Any, path: str) -> Any:
    current = values
    for part in path.split("."):
        if part in ("member", "value", "key"):
            continue
        if isinstance(current, list) and part.isdigit():
            index = int(part) - 1
            current = current[index] if 0 <= index < len(current) else None
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
    return current if isinstance(current, (str, int)) else None


def validate_request(operation_name: str, params: Mapping[str, Any]) -> None:
    """Raise ValidationException if ``params`` break the operation's input constraints."""
    shape = get_service_model(SERVICE_NAME).operation_model(operation_name).input_shape
    _raise_validation(_structure_errors(params, shape, ""), params)


def validate_container_registry_map(registry_map: Any, path: str = "containerRegistryMap") -> None:
    shape = get_service_model(SERVICE_NAME).shape_for("ContainerRegistryMap")
    _raise_validation(_shape_errors(registry_map, shape, path), {path: registry_map})


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

RUN_STATUSES = ("PENDING", "STARTING", "RUNNING", "STOPPING", "COMPLETED", "DELETED", "CANCELLED", "FAILED")
TASK_STATUSES = tuple(s for s in RUN_STATUSES if s != "DELETED")
# Runs in these states have finished; CancelRun on them is a conflict.
TERMINAL_RUN_STATUSES = frozenset({"COMPLETED", "DELETED", "CANCELLED", "FAILED"})
DEFAULT_STATIC_STORAGE_GIB = 1200  # StartRun docs: "The default run storage capacity is 1200 GiB."
DEFAULT_PAGE_SIZE = 100  # maxResults is 1-100 on every list operation here


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset members: the service omits them rather than sending nulls."""
    return {k: v for k, v in values.items() if v is not None}


def _digest(*parts: bytes | str | None) -> str:
    # WorkflowDigest is at most 64 characters, so it is a bare sha256 hex digest.
    sha = hashlib.sha256()
    for part in parts:
        if part is not None:
            sha.update(part.encode() if isinstance(part, str) else part)
    return sha.hexdigest()


@dataclass
class WorkflowDefinition:
    """The configuration shared by a workflow and each of its versions."""

    description: str | None = None
    engine: str | None = None
    main: str | None = None
    parameter_template: dict[str, Any] | None = None
    storage_capacity: int | None = None
    storage_type: str | None = None
    accelerators: str | None = None
    container_registry_map: dict[str, Any] | None = None
    readme: str | None = None
    readme_path: str | None = None
    definition_uri: str | None = None
    definition_zip: bytes | None = None
    definition_repository: dict[str, Any] | None = None
    # What GetWorkflow --export DEFINITION serves: the zip as the workflow was created (module doc).
    exported_zip: bytes | None = None
    digest: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: str(uuid4()))
    creation_time: datetime = field(default_factory=_now)
    status: str = "ACTIVE"
    type: str = "PRIVATE"

    def common_fields(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "engine": self.engine,
            "main": self.main,
            "digest": self.digest,
            "parameterTemplate": self.parameter_template,
            "storageCapacity": self.storage_capacity,
            "storageType": self.storage_type,
            "accelerators": self.accelerators,
            "containerRegistryMap": self.container_registry_map,
            "readme": self.readme,
            "readmePath": self.readme_path,
            "creationTime": self.creation_time,
            "status": self.status,
            "type": self.type,
            "tags": self.tags,
            "uuid": self.uuid,
        }


@dataclass
class WorkflowVersion:
    workflow_id: str
    version_name: str
    arn: str
    definition: WorkflowDefinition

    def describe(self) -> dict[str, Any]:
        return _compact(
            {
                "arn": self.arn,
                "workflowId": self.workflow_id,
                "versionName": self.version_name,
                **self.definition.common_fields(),
            }
        )

    def list_item(self) -> dict[str, Any]:
        d = self.definition
        return _compact(
            {
                "arn": self.arn,
                "workflowId": self.workflow_id,
                "versionName": self.version_name,
                "description": d.description,
                "status": d.status,
                "type": d.type,
                "digest": d.digest,
                "creationTime": d.creation_time,
            }
        )


@dataclass
class Workflow:
    id: str
    arn: str
    name: str | None
    definition: WorkflowDefinition
    versions: dict[str, WorkflowVersion] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return _compact({"arn": self.arn, "id": self.id, "name": self.name, **self.definition.common_fields()})

    def list_item(self) -> dict[str, Any]:
        d = self.definition
        return _compact(
            {
                "arn": self.arn,
                "id": self.id,
                "name": self.name,
                "status": d.status,
                "type": d.type,
                "digest": d.digest,
                "creationTime": d.creation_time,
            }
        )


@dataclass
class RunTask:
    task_id: str
    name: str
    status: str
    creation_time: datetime
    start_time: datetime | None = None
    stop_time: datetime | None = None
    cpus: int = 1
    memory: int = 4
    gpus: int = 0
    instance_type: str = "omics.c.large"
    image_details: dict[str, str] | None = None
    log_stream: str | None = None
    uuid: str = field(default_factory=lambda: str(uuid4()))
    # GetRunTask only (TaskListItem has neither): see "Failed runs and tasks" in the module doc.
    status_message: str | None = None
    failure_reason: str | None = None

    def list_item(self) -> dict[str, Any]:
        return _compact(
            {
                "taskId": self.task_id,
                "status": self.status,
                "name": self.name,
                "cpus": self.cpus,
                "memory": self.memory,
                "gpus": self.gpus,
                "instanceType": self.instance_type,
                "creationTime": self.creation_time,
                "startTime": self.start_time,
                "stopTime": self.stop_time,
                "uuid": self.uuid,
            }
        )

    def describe(self) -> dict[str, Any]:
        return _compact(
            {
                **self.list_item(),
                "logStream": self.log_stream,
                "imageDetails": self.image_details,
                "statusMessage": self.status_message,
                "failureReason": self.failure_reason,
            }
        )


@dataclass
class Run:
    id: str
    arn: str
    role_arn: str
    output_uri: str
    run_output_uri: str
    workflow: Workflow
    version: WorkflowVersion | None
    settings: dict[str, Any]
    status: str = "PENDING"
    creation_time: datetime = field(default_factory=_now)
    start_time: datetime | None = None
    stop_time: datetime | None = None
    uuid: str = field(default_factory=lambda: str(uuid4()))
    tasks: dict[str, RunTask] = field(default_factory=dict)
    # GetRun only (RunListItem has neither): see "Failed runs and tasks" in the module doc.
    status_message: str | None = None
    failure_reason: str | None = None

    @property
    def definition(self) -> WorkflowDefinition:
        return self.version.definition if self.version else self.workflow.definition

    def list_item(self) -> dict[str, Any]:
        s = self.settings
        return _compact(
            {
                "arn": self.arn,
                "id": self.id,
                "status": self.status,
                "workflowId": self.workflow.id,
                "name": s.get("name"),
                "priority": s.get("priority"),
                "storageCapacity": s.get("storageCapacity"),
                "storageType": s.get("storageType"),
                "creationTime": self.creation_time,
                "startTime": self.start_time,
                "stopTime": self.stop_time,
                "workflowName": self.workflow.name,
                "workflowVersionName": self.version.version_name if self.version else None,
            }
        )

    def describe(self) -> dict[str, Any]:
        # GetRun has no workflowName (only list items do).
        summary = {k: v for k, v in self.list_item().items() if k != "workflowName"}
        return _compact(
            {
                **summary,
                **self.settings,
                "roleArn": self.role_arn,
                "outputUri": self.output_uri,
                "runOutputUri": self.run_output_uri,
                "workflowType": self.workflow.definition.type,
                "workflowUuid": self.workflow.definition.uuid,
                "digest": self.definition.digest,
                "uuid": self.uuid,
                "logLocation": {"runLogStream": f"run/{self.id}"},
                "statusMessage": self.status_message,
                "failureReason": self.failure_reason,
            }
        )


def _run_settings(params: Mapping[str, Any], definition: WorkflowDefinition) -> dict[str, Any]:
    """The StartRun inputs GetRun echoes back, with the service's documented defaults."""
    storage_type = params.get("storageType") or "STATIC"
    capacity = params.get("storageCapacity") or definition.storage_capacity or DEFAULT_STATIC_STORAGE_GIB
    return _compact(
        {
            "name": params.get("name"),
            "priority": params.get("priority"),
            "parameters": params.get("parameters"),
            "storageType": storage_type,
            "storageCapacity": capacity if storage_type == "STATIC" else None,  # ignored for DYNAMIC
            "runGroupId": params.get("runGroupId"),
            "cacheId": params.get("cacheId"),
            "cacheBehavior": params.get("cacheBehavior"),
            "logLevel": params.get("logLevel"),
            "tags": params.get("tags") or {},
            "retentionMode": params.get("retentionMode") or "RETAIN",
            "networkingMode": params.get("networkingMode") or "RESTRICTED",
            "outputUriPrefixMode": params.get("outputUriPrefixMode") or "SERVICE_DEFINED",
            "sessionPolicy": params.get("sessionPolicy"),
            "engineSettings": params.get("engineSettings"),
            "accelerators": definition.accelerators,
        }
    )


def _check_session_policy(policy: str | None) -> None:
    if policy is None:
        return
    try:
        parsed = json.loads(policy)
    except ValueError:
        raise ValidationException("sessionPolicy is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ValidationException("sessionPolicy must be a JSON policy document")


def _check_run_parameters(parameters: Any, template: Mapping[str, Any] | None) -> None:
    """HealthOmics rejects runs whose parameters do not fit the workflow's parameter template."""
    if template is None:
        return
    given = parameters or {}
    if not isinstance(given, Mapping):
        raise ValidationException("parameters must be a JSON object")
    unknown = sorted(set(given) - set(template))
    if unknown:
        raise ValidationException(f"Unsupported parameters: {unknown}")
    missing = sorted(name for name, spec in template.items() if not (spec or {}).get("optional") and name not in given)
    if missing:
        raise ValidationException(f"Missing required parameters: {missing}")


# The model's shapes of the failure fields, per owner (GetRun's and GetRunTask's output members).
_FAILURE_SHAPES = {
    "run": ("RunFailureReason", "RunStatusMessage"),
    "task": ("TaskFailureReason", "TaskStatusMessage"),
}


def _check_failure(owner: str, status: str, failure_reason: str | None, status_message: str | None) -> None:
    """Seeded failure fields must be ones the service could return: the model's length and pattern, and a
    failure reason only on a FAILED run or task (the model documents it as "The reason a run has failed")."""
    if failure_reason is not None and status != "FAILED":
        raise ValueError(f"a {owner} with status {status} has no failure reason (only FAILED ones do)")
    model = get_service_model(SERVICE_NAME)
    reason_shape, message_shape = _FAILURE_SHAPES[owner]
    problems: list[str] = []
    if failure_reason is not None:
        problems += _shape_errors(failure_reason, model.shape_for(reason_shape), "failureReason")
    if status_message is not None:
        problems += _shape_errors(status_message, model.shape_for(message_shape), "statusMessage")
    if problems:
        raise ValueError(f"invalid {owner} failure fields: {'; '.join(problems)}")


# --------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------
# Tokens remember the last key returned (so items added at the front between pages do
# not repeat) and a fingerprint of the filters (so a token cannot be replayed against a
# different query).


def _fingerprint(filters: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _encode_token(offset: int, fingerprint: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}:{key}".encode()).decode()


def _decode_token(token: str, fingerprint: str) -> tuple[int, str]:
    try:
        offset, token_fingerprint, key = base64.urlsafe_b64decode(token.encode()).decode().split(":", 2)
        position = int(offset)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationException(f"Invalid startingToken: {token}") from None
    if token_fingerprint != fingerprint:
        raise ValidationException("The startingToken does not match the request's filters")
    return position, key


def paginate(
    items: Sequence[Any],
    key: Callable[[Any], str],
    starting_token: str | None,
    max_results: int | None,
    filters: Mapping[str, Any],
) -> tuple[list[Any], str | None]:
    fingerprint = _fingerprint(filters)
    start = 0
    if starting_token:
        offset, last_key = _decode_token(starting_token, fingerprint)
        keys = [key(item) for item in items]
        start = keys.index(last_key) + 1 if last_key in keys else offset
    size = max_results or DEFAULT_PAGE_SIZE
    page = list(items[start : start + size])
    end = start + len(page)
    next_token = _encode_token(end, fingerprint, key(page[-1])) if page and end < len(items) else None
    return page, next_token


# --------------------------------------------------------------------------------------
# Exported definitions (see the module docstring)
# --------------------------------------------------------------------------------------


def definition_bucket_name(account_id: str, region: str) -> str:
    """The moto S3 bucket that holds the sandbox's downloadable workflow definitions."""
    return f"sandbox-omics-definitions-{account_id}-{region}"


def _store_definition(account_id: str, region: str, data: bytes) -> tuple[str, str]:
    """Copy a definition zip into the sandbox bucket (created on demand); returns (bucket, key)."""
    bucket = definition_bucket_name(account_id, region)
    key = f"definitions/{hashlib.sha256(data).hexdigest()}.zip"
    store_object(account_id, region, bucket, key, data)
    return bucket, key


# --------------------------------------------------------------------------------------
# Backend
# --------------------------------------------------------------------------------------


class OmicsBackend(BaseBackend):
    """HealthOmics workflows, workflow versions, runs and run tasks, per account and region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.workflows: dict[str, Workflow] = {}
        self.runs: dict[str, Run] = {}
        self._ids: set[str] = set()
        # requestId (the idempotency token) -> id of what it created
        self._requests: dict[str, str] = {}

    @property
    def _url_module(self) -> ModuleType:
        # BaseBackend derives "<package>.urls" from the class's module; ours lives here.
        return sys.modules[__name__]

    # ---- helpers -----------------------------------------------------------------------

    def _new_id(self) -> str:
        # Workflow, run and task IDs are 7-digit numeric strings in the real service.
        while True:
            candidate = str(random.randint(1_000_000, 9_999_999))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _arn(self, resource: str) -> str:
        return f"arn:{get_partition(self.region_name)}:omics:{self.region_name}:{self.account_id}:{resource}"

    def _workflow(self, workflow_id: str, workflow_type: str | None = None, owner_id: str | None = None) -> Workflow:
        workflow = self.workflows.get(workflow_id)
        # Workflows shared by other accounts are not modelled, so another owner means "not found".
        foreign = owner_id is not None and owner_id != self.account_id
        if workflow is None or foreign or (workflow_type and workflow.definition.type != workflow_type):
            raise ResourceNotFoundException(f"Workflow {workflow_id} not found")
        return workflow

    def _version(self, workflow: Workflow, version_name: str) -> WorkflowVersion:
        version = workflow.versions.get(version_name)
        if version is None:
            raise ResourceNotFoundException(f"Workflow version {version_name} of workflow {workflow.id} not found")
        return version

    def run(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise ResourceNotFoundException(f"Run {run_id} not found")
        return run

    def _definition(self, params: Mapping[str, Any]) -> WorkflowDefinition:
        definition_sources = [k for k in ("definitionZip", "definitionUri", "definitionRepository") if params.get(k)]
        if len(definition_sources) != 1:
            raise ValidationException("Specify exactly one of definitionZip, definitionUri or definitionRepository")
        registry_map = self._registry_map(params.get("containerRegistryMap"), params.get("containerRegistryMapUri"))
        definition_zip = params.get("definitionZip")
        exported_zip = definition_zip
        if params.get("definitionUri"):
            exported_zip = self._read_definition_uri(params["definitionUri"])
        return WorkflowDefinition(
            description=params.get("description"),
            engine=params.get("engine"),
            main=params.get("main"),
            parameter_template=params.get("parameterTemplate"),
            storage_capacity=params.get("storageCapacity"),
            storage_type=params.get("storageType"),
            accelerators=params.get("accelerators"),
            container_registry_map=registry_map,
            readme=params.get("readmeMarkdown"),
            readme_path=params.get("readmePath"),
            definition_uri=params.get("definitionUri"),
            definition_zip=definition_zip,
            definition_repository=params.get("definitionRepository"),
            exported_zip=exported_zip,
            digest=_digest(
                definition_zip,
                params.get("definitionUri"),
                json.dumps(params.get("definitionRepository"), sort_keys=True),
            ),
            tags=dict(params.get("tags") or {}),
        )

    def _registry_map(self, inline: dict[str, Any] | None, uri: str | None) -> dict[str, Any] | None:
        if inline is not None and uri is not None:
            raise ValidationException("Specify either containerRegistryMap or containerRegistryMapUri, not both")
        if uri is not None:
            inline = self._read_registry_map(uri)
            validate_container_registry_map(inline, "containerRegistryMapUri")
        return inline

    def _read_registry_map(self, uri: str) -> Any:
        """containerRegistryMapUri names a JSON file in S3; read it from moto's S3 backend."""
        match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
        if not match:
            raise ValidationException(f"containerRegistryMapUri must be an S3 URI: {uri}")
        try:
            bucket, key = match.groups()
            s3_object = s3_backends[self.account_id][get_partition(self.region_name)].get_object(bucket, key)
            return json.loads(s3_object.value)  # type: ignore[union-attr]
        except Exception:  # any missing bucket/key or malformed JSON is the caller's error
            raise ValidationException(f"Unable to read a container registry map from {uri}") from None

    def _read_definition_uri(self, uri: str) -> bytes | None:
        """The definition zip at ``s3://bucket/key`` in moto's S3, or None if the sandbox has no such object."""
        match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
        if not match:
            return None
        try:
            bucket, key = match.groups()
            s3_object = s3_backends[self.account_id][get_partition(self.region_name)].get_object(bucket, key)
            return bytes(s3_object.value)  # type: ignore[union-attr]
        except Exception:  # no such bucket or key: nothing to export
            return None

    def definition_url(self, definition: WorkflowDefinition, s3_endpoint: str | None) -> str | None:
        """A pre-signed GET URL of the definition zip, or None when there is none to export (module doc)."""
        data = definition.exported_zip
        if data is None:
            return None
        bucket, key = _store_definition(self.account_id, self.region_name, data)
        return presigned_get_url(bucket, key, self.region_name, s3_endpoint, signer="AKIASANDBOXOMICSDEFS")

    def _idempotent(self, request_id: str | None) -> str | None:
        return self._requests.get(request_id) if request_id else None

    # ---- workflows ---------------------------------------------------------------------

    def create_workflow(self, params: Mapping[str, Any]) -> Workflow:
        existing = self._idempotent(params.get("requestId"))
        if existing in self.workflows:
            return self.workflows[existing]
        definition = self._definition(params)
        # Validation of the definition is instantaneous here; the create response still
        # reports CREATING like the real service does.
        workflow_id = self._new_id()
        workflow = Workflow(
            id=workflow_id, arn=self._arn(f"workflow/{workflow_id}"), name=params.get("name"), definition=definition
        )
        self.workflows[workflow_id] = workflow
        if params.get("requestId"):
            self._requests[params["requestId"]] = workflow_id
        return workflow

    def get_workflow(self, workflow_id: str, workflow_type: str | None = None, owner_id: str | None = None) -> Workflow:
        return self._workflow(workflow_id, workflow_type, owner_id)

    def list_workflows(self, workflow_type: str | None = None, name: str | None = None) -> list[Workflow]:
        return [
            w
            for w in self.workflows.values()
            if (workflow_type is None or w.definition.type == workflow_type) and (name is None or w.name == name)
        ]

    def delete_workflow(self, workflow_id: str) -> None:
        self._workflow(workflow_id)
        del self.workflows[workflow_id]

    # ---- workflow versions -------------------------------------------------------------

    def create_workflow_version(self, params: Mapping[str, Any]) -> WorkflowVersion:
        workflow = self._workflow(params["workflowId"])
        name = params["versionName"]
        existing = self._idempotent(params.get("requestId"))
        if existing == f"{workflow.id}/{name}" and name in workflow.versions:
            return workflow.versions[name]
        if name in workflow.versions:
            raise ConflictException(f"Workflow version {name} already exists for workflow {workflow.id}")
        version = WorkflowVersion(
            workflow_id=workflow.id,
            version_name=name,
            arn=f"{workflow.arn}/version/{name}",
            definition=self._definition(params),
        )
        workflow.versions[name] = version
        if params.get("requestId"):
            self._requests[params["requestId"]] = f"{workflow.id}/{name}"
        return version

    def get_workflow_version(
        self, workflow_id: str, version_name: str, workflow_type: str | None = None, owner_id: str | None = None
    ) -> WorkflowVersion:
        return self._version(self._workflow(workflow_id, workflow_type, owner_id), version_name)

    def list_workflow_versions(
        self, workflow_id: str, workflow_type: str | None = None, owner_id: str | None = None
    ) -> list[WorkflowVersion]:
        return list(self._workflow(workflow_id, workflow_type, owner_id).versions.values())

    # ---- runs --------------------------------------------------------------------------

    def start_run(self, params: Mapping[str, Any]) -> Run:
        existing = self._idempotent(params.get("requestId"))
        if existing in self.runs:
            return self.runs[existing]
        source = self.run(params["runId"]) if params.get("runId") else None
        merged = {**(source.settings if source else {}), **_compact(dict(params))}
        workflow_id = params.get("workflowId") or (source.workflow.id if source else None)
        if workflow_id is None:
            raise ValidationException("workflowId is required unless runId names a run to duplicate")
        workflow = self._workflow(workflow_id, params.get("workflowType"), params.get("workflowOwnerId"))
        version_name = params.get("workflowVersionName") or (
            source.version.version_name if source and source.version and not params.get("workflowId") else None
        )
        version = self._version(workflow, version_name) if version_name else None
        definition = version.definition if version else workflow.definition
        _check_run_parameters(merged.get("parameters"), definition.parameter_template)
        _check_session_policy(merged.get("sessionPolicy"))
        return self._add_run(params, merged, workflow, version, source)

    def _add_run(
        self,
        params: Mapping[str, Any],
        merged: Mapping[str, Any],
        workflow: Workflow,
        version: WorkflowVersion | None,
        source: Run | None,
    ) -> Run:
        run_id = self._new_id()
        settings = _run_settings(merged, version.definition if version else workflow.definition)
        if source:
            settings["runId"] = source.id
        output_uri = params["outputUri"]
        service_defined = settings["outputUriPrefixMode"] == "SERVICE_DEFINED"
        run = Run(
            id=run_id,
            arn=self._arn(f"run/{run_id}"),
            role_arn=params["roleArn"],
            output_uri=output_uri,
            run_output_uri=f"{output_uri.rstrip('/')}/{run_id}" if service_defined else output_uri,
            workflow=workflow,
            version=version,
            settings=settings,
        )
        self.runs[run_id] = run
        if params.get("requestId"):
            self._requests[params["requestId"]] = run_id
        return run

    def get_run(self, run_id: str) -> Run:
        return self.run(run_id)

    def list_runs(
        self,
        name: str | None = None,
        status: str | None = None,
        run_group_id: str | None = None,
        batch_id: str | None = None,
    ) -> list[Run]:
        # Newest first, like the console; the API reference does not state an order.
        runs = sorted(self.runs.values(), key=lambda r: (r.creation_time, r.id), reverse=True)
        return [
            r
            for r in runs
            if (name is None or r.settings.get("name") == name)
            and (status is None or r.status == status)
            and (run_group_id is None or r.settings.get("runGroupId") == run_group_id)
            and (batch_id is None or r.settings.get("batchId") == batch_id)
        ]

    def cancel_run(self, run_id: str) -> None:
        run = self.run(run_id)
        if run.status in TERMINAL_RUN_STATUSES:
            raise ConflictException(f"Run {run_id} is {run.status} and cannot be cancelled")
        run.status = "CANCELLED"
        run.stop_time = _now()

    def set_run_state(
        self,
        run_id: str,
        status: str,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
        creation_time: datetime | None = None,
        *,
        failure_reason: str | None = None,
        status_message: str | None = None,
    ) -> Run:
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, not {status!r}")
        _check_failure("run", status, failure_reason, status_message)
        run = self.run(run_id)
        run.status = status
        # A run that is not FAILED has no failure reason; a status message is kept until replaced.
        run.failure_reason = failure_reason if status == "FAILED" else None
        run.status_message = status_message if status_message is not None else run.status_message
        run.start_time = _as_utc(start_time) or run.start_time
        run.stop_time = _as_utc(stop_time) or run.stop_time
        run.creation_time = _as_utc(creation_time) or run.creation_time
        return run

    # ---- run tasks ---------------------------------------------------------------------

    def add_run_task(
        self,
        run_id: str,
        *,
        name: str,
        status: str,
        image_details: dict[str, str] | None,
        start_time: datetime | None,
        stop_time: datetime | None,
        failure_reason: str | None = None,
        status_message: str | None = None,
        gpus: int = 0,
        instance_type: str | None = None,
    ) -> RunTask:
        if status not in TASK_STATUSES:
            raise ValueError(f"status must be one of {TASK_STATUSES}, not {status!r}")
        if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
            raise ValueError(f"gpus must be an integer of at least 0 (TaskListItem gpus), not {gpus!r}")
        _check_failure("task", status, failure_reason, status_message)
        # Seeded values must be ones the service could return (e.g. imageDigest "sha...").
        details_shape = get_service_model(SERVICE_NAME).shape_for("ImageDetails")
        problems = _shape_errors(image_details or {}, details_shape, "imageDetails")
        if problems:
            raise ValueError(f"invalid image details: {'; '.join(problems)}")
        run = self.run(run_id)
        task_id = self._new_id()
        start = _as_utc(start_time)
        task = RunTask(
            task_id=task_id,
            name=name,
            status=status,
            creation_time=start or _now(),
            start_time=start,
            stop_time=_as_utc(stop_time),
            image_details=image_details or None,
            log_stream=f"run/{run_id}/task/{task_id}",
            status_message=status_message,
            failure_reason=failure_reason,
            gpus=gpus,
            # GUESS: the instance names HealthOmics reports for CPU and GPU tasks (omics.c.* / omics.g5.*)
            instance_type=instance_type or ("omics.g5.xlarge" if gpus else "omics.c.large"),
        )
        run.tasks[task_id] = task
        return task

    def list_run_tasks(self, run_id: str, status: str | None = None) -> list[RunTask]:
        tasks = sorted(self.run(run_id).tasks.values(), key=lambda t: t.creation_time)
        return [t for t in tasks if status is None or t.status == status]

    def get_run_task(self, run_id: str, task_id: str) -> RunTask:
        task = self.run(run_id).tasks.get(task_id)
        if task is None:
            raise ResourceNotFoundException(f"Task {task_id} of run {run_id} not found")
        return task


omics_backends = BackendDict(OmicsBackend, SERVICE_NAME)


# --------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------


class OmicsResponse(BaseResponse):
    """rest-json handler: moto routes by method and URI using botocore's model."""

    def __init__(self) -> None:
        super().__init__(service_name=SERVICE_NAME)
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> OmicsBackend:
        return omics_backends[self.current_account][self.region]

    def _params(self) -> dict[str, Any]:
        """All parsed inputs (body, query string, URI labels), validated against the model."""
        params = {**dict(self.uri_match), **dict(self.params)}
        validate_request(self._get_action(), params)
        return params

    def _page(
        self, items: Sequence[Any], key: Callable[[Any], str], params: Mapping[str, Any], filters: Mapping[str, Any]
    ) -> ActionResult:
        page, token = paginate(items, key, params.get("startingToken"), params.get("maxResults"), filters)
        return ActionResult(_compact({"items": [item.list_item() for item in page], "nextToken": token}))

    def create_workflow(self) -> ActionResult:
        workflow = self.backend.create_workflow(self._params())
        return ActionResult(
            {
                "arn": workflow.arn,
                "id": workflow.id,
                "status": "CREATING",
                "tags": workflow.definition.tags,
                "uuid": workflow.definition.uuid,
            }
        )

    def _exported(
        self, described: dict[str, Any], definition: WorkflowDefinition, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``described`` plus the ``definition`` download URL when ``export`` asks for it and there is one."""
        if "DEFINITION" in (params.get("export") or []):
            url = self.backend.definition_url(definition, s3_endpoint_for(self))
            if url is not None:
                described["definition"] = url
        return described

    def get_workflow(self) -> ActionResult:
        params = self._params()
        workflow = self.backend.get_workflow(params["id"], params.get("type"), params.get("workflowOwnerId"))
        return ActionResult(self._exported(workflow.describe(), workflow.definition, params))

    def list_workflows(self) -> ActionResult:
        params = self._params()
        filters = _compact({"type": params.get("type"), "name": params.get("name")})
        items = self.backend.list_workflows(params.get("type"), params.get("name"))
        return self._page(items, lambda w: w.id, params, filters)

    def delete_workflow(self) -> ActionResult:
        self.backend.delete_workflow(self._params()["id"])
        return EmptyResult()

    def create_workflow_version(self) -> ActionResult:
        version = self.backend.create_workflow_version(self._params())
        return ActionResult(
            {
                "arn": version.arn,
                "workflowId": version.workflow_id,
                "versionName": version.version_name,
                "status": "CREATING",
                "tags": version.definition.tags,
                "uuid": version.definition.uuid,
            }
        )

    def get_workflow_version(self) -> ActionResult:
        params = self._params()
        version = self.backend.get_workflow_version(
            params["workflowId"], params["versionName"], params.get("type"), params.get("workflowOwnerId")
        )
        return ActionResult(self._exported(version.describe(), version.definition, params))

    def list_workflow_versions(self) -> ActionResult:
        params = self._params()
        items = self.backend.list_workflow_versions(
            params["workflowId"], params.get("type"), params.get("workflowOwnerId")
        )
        filters = _compact({"workflowId": params["workflowId"], "type": params.get("type")})
        return self._page(items, lambda v: v.version_name, params, filters)

    def start_run(self) -> ActionResult:
        run = self.backend.start_run(self._params())
        return ActionResult(
            _compact(
                {
                    "arn": run.arn,
                    "id": run.id,
                    "status": run.status,
                    "tags": run.settings.get("tags"),
                    "uuid": run.uuid,
                    "runOutputUri": run.run_output_uri,
                    "networkingMode": run.settings.get("networkingMode"),
                }
            )
        )

    def get_run(self) -> ActionResult:
        return ActionResult(self.backend.get_run(self._params()["id"]).describe())

    def list_runs(self) -> ActionResult:
        params = self._params()
        filters = _compact({k: params.get(k) for k in ("name", "status", "runGroupId", "batchId")})
        items = self.backend.list_runs(
            params.get("name"), params.get("status"), params.get("runGroupId"), params.get("batchId")
        )
        return self._page(items, lambda r: r.id, params, filters)

    def cancel_run(self) -> ActionResult:
        self.backend.cancel_run(self._params()["id"])
        return EmptyResult()

    def list_run_tasks(self) -> ActionResult:
        params = self._params()
        items = self.backend.list_run_tasks(params["id"], params.get("status"))
        filters = _compact({"id": params["id"], "status": params.get("status")})
        return self._page(items, lambda t: t.task_id, params, filters)

    def get_run_task(self) -> ActionResult:
        params = self._params()
        return ActionResult(self.backend.get_run_task(params["id"], params["taskId"]).describe())


# --------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------

_HOST_PREFIXES = ("workflows-", "control-storage-", "storage-", "analytics-", "tags-")
url_bases = [rf"https?://(?:{'|'.join(re.escape(p) for p in _HOST_PREFIXES)})?omics\.(.+)\.amazonaws\.com"]

_SEGMENT = "[^/]+"
url_paths = {
    "{0}/workflow$": OmicsResponse.dispatch,
    f"{{0}}/workflow/(?P<id>{_SEGMENT})$": OmicsResponse.dispatch,
    f"{{0}}/workflow/(?P<workflowId>{_SEGMENT})/version$": OmicsResponse.dispatch,
    f"{{0}}/workflow/(?P<workflowId>{_SEGMENT})/version/(?P<versionName>{_SEGMENT})$": OmicsResponse.dispatch,
    "{0}/run$": OmicsResponse.dispatch,
    f"{{0}}/run/(?P<id>{_SEGMENT})$": OmicsResponse.dispatch,
    f"{{0}}/run/(?P<id>{_SEGMENT})/cancel$": OmicsResponse.dispatch,
    f"{{0}}/run/(?P<id>{_SEGMENT})/task$": OmicsResponse.dispatch,
    f"{{0}}/run/(?P<id>{_SEGMENT})/task/(?P<taskId>{_SEGMENT})$": OmicsResponse.dispatch,
}


# --------------------------------------------------------------------------------------
# Seeding helpers (state the public API cannot set)
# --------------------------------------------------------------------------------------


def set_run_state(
    account_id: str,
    region: str,
    run_id: str,
    *,
    status: str,
    start_time: datetime | None = None,
    stop_time: datetime | None = None,
    creation_time: datetime | None = None,
    failure_reason: str | None = None,
    status_message: str | None = None,
) -> None:
    """Move a run to ``status``; timestamps given are set (naive ones are UTC), others are kept.

    ``failure_reason`` (GetRun ``failureReason``, 1-64 characters, only with ``status="FAILED"``; moving the
    run to another status clears it) and ``status_message`` (GetRun ``statusMessage``, kept until replaced)
    are checked against the model's shapes. See "Failed runs and tasks" in the module doc for their values.
    """
    omics_backends[account_id][region].set_run_state(
        run_id,
        status,
        start_time,
        stop_time,
        creation_time,
        failure_reason=failure_reason,
        status_message=status_message,
    )


def add_run_task(
    account_id: str,
    region: str,
    run_id: str,
    *,
    name: str,
    status: str = "COMPLETED",
    image: str | None = None,
    image_digest: str | None = None,
    source_image: str | None = None,
    start_time: datetime | None = None,
    stop_time: datetime | None = None,
    failure_reason: str | None = None,
    status_message: str | None = None,
    gpus: int = 0,
    instance_type: str | None = None,
) -> str:
    """Add a task to a run, as the service would while executing it; returns the task ID.

    ``failure_reason`` (GetRunTask ``failureReason``, 1-64 characters, only with ``status="FAILED"``) and
    ``status_message`` (GetRunTask ``statusMessage``) are what GetRunTask answers; ListRunTasks carries neither.
    ``gpus`` and ``instance_type`` are what both answer (a GPU task defaults to an ``omics.g5`` instance).
    """
    image_details = _compact({"image": image, "imageDigest": image_digest, "sourceImage": source_image})
    backend = omics_backends[account_id][region]
    task = backend.add_run_task(
        run_id,
        name=name,
        status=status,
        image_details=image_details,
        start_time=start_time,
        stop_time=stop_time,
        failure_reason=failure_reason,
        status_message=status_message,
        gpus=gpus,
        instance_type=instance_type,
    )
    return task.task_id


# --------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------


def _url_patterns() -> Iterable[tuple[str, re.Pattern[str]]]:
    return ((SERVICE_NAME, re.compile(base)) for base in url_bases)


def install() -> None:
    """Make moto serve HealthOmics, in-process and in server mode. Idempotent."""
    module = sys.modules[__name__]
    sys.modules[f"moto.{SERVICE_NAME}"] = module
    moto.omics = module  # type: ignore[attr-defined]
    patterns = backend_index.backend_url_patterns
    registered = {(name, p.pattern) for name, p in patterns}
    # Mutate the list in place: moto's server and stubber hold references to it.
    patterns.extend(p for p in _url_patterns() if (p[0], p[1].pattern) not in registered)
