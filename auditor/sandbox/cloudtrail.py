"""CloudTrail ``LookupEvents`` (event history) for moto 5.2.5, which implements trails only.

Management events are kept on moto's CloudTrail backend, so they are per account and
region and are wiped by moto's reset like everything else. Nothing in moto emits them:
sandbox extensions (and tests) call :func:`record_event` for the API calls they serve, most
through :func:`recorded`, which wraps a moto request handler so that every call it serves,
successful or failed, is recorded as real CloudTrail records it (aws-semantics.md §6.1).

``install()`` adds ``lookup_events`` to ``moto.cloudtrail.responses.CloudTrailResponse``,
which serves it in-process (``mock_aws``) and in ``ThreadedMotoServer`` alike.

Semantics follow the API reference for LookupEvents: at most one lookup attribute;
``StartTime``/``EndTime`` inclusive (``EndTime`` defaults to now); newest first;
``MaxResults`` 1-50, default 50; a ``NextToken`` is only valid with the parameters it
was issued for; only the last 90 days are searchable; ``EventCategory=insight`` returns
Insights events, of which the sandbox has none.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import uuid4

import botocore.parsers
from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto.cloudtrail.models import cloudtrail_backends
from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import ActionResult, BaseResponse
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model
from moto.utilities.utils import get_partition

# Where the events live on the backend. BaseBackend.reset() rebuilds the instance
# __dict__ from __init__, so the list is created lazily instead of in __init__.
_EVENTS_ATTRIBUTE = "lookup_events_history"
RETENTION = timedelta(days=90)
MAX_RESULTS = 50
LOOKUP_ATTRIBUTE_KEYS = frozenset(
    {"EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"}
)
_RESOURCE_KEYS = frozenset({"ResourceType", "ResourceName"})
EVENT_VERSION = "1.10"
SOURCE_IP_ADDRESS = "198.51.100.10"  # TEST-NET-2: clearly not a real caller
USER_AGENT = "omics-ecr-audit-sandbox"

# The ECR extension records events from server threads while lookups run.
_lock = threading.Lock()
_sequence = itertools.count()


# --------------------------------------------------------------------------------------
# Exceptions (shape names from the CloudTrail model; all are HTTP 400)
# --------------------------------------------------------------------------------------


class InvalidLookupAttributesException(ServiceException):
    code = "InvalidLookupAttributesException"


class InvalidTimeRangeException(ServiceException):
    code = "InvalidTimeRangeException"


class InvalidMaxResultsException(ServiceException):
    code = "InvalidMaxResultsException"


class InvalidNextTokenException(ServiceException):
    code = "InvalidNextTokenException"


class InvalidEventCategoryException(ServiceException):
    code = "InvalidEventCategoryException"


# --------------------------------------------------------------------------------------
# Stored events
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagementEvent:
    sequence: int  # insertion order: breaks ties between events with the same EventTime
    event_time: datetime
    attributes: Mapping[str, str]  # lookup attribute key -> value, for the non-resource keys
    resources: tuple[tuple[str, str], ...]
    cloudtrail_event: str

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return self.event_time, self.sequence

    def matches(self, key: str, value: str) -> bool:
        if key in _RESOURCE_KEYS:
            position = 0 if key == "ResourceType" else 1
            return any(resource[position] == value for resource in self.resources)
        return self.attributes.get(key) == value

    def to_output(self) -> dict[str, Any]:
        return {
            **self.attributes,
            "EventTime": self.event_time,
            "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in self.resources],
            "CloudTrailEvent": self.cloudtrail_event,
        }


def _history(account_id: str, region: str) -> list[ManagementEvent]:
    backend = cloudtrail_backends[account_id][region]
    history: list[ManagementEvent] = backend.__dict__.setdefault(_EVENTS_ATTRIBUTE, [])
    return history


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _access_key_id(account_id: str, username: str) -> str:
    # A stable, well-formed long-term key ID per user, so AccessKeyId lookups are meaningful.
    digest = hashlib.sha256(f"{account_id}:{username}".encode()).hexdigest().upper()
    return "AKIA" + digest[:16]


def _principal_id(account_id: str, username: str) -> str:
    return "AIDA" + hashlib.sha256(f"principal:{account_id}:{username}".encode()).hexdigest().upper()[:17]


def _cloudtrail_record(
    account_id: str,
    region: str,
    *,
    event_id: str,
    event_time: datetime,
    event_source: str,
    event_name: str,
    username: str,
    access_key_id: str,
    read_only: bool,
    request_parameters: dict[str, Any] | None,
    response_elements: dict[str, Any] | None,
    error_code: str | None,
    error_message: str | None,
    invoked_by: str | None = None,
    record_resources: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A management event record as CloudTrail delivers it (the CloudTrailEvent string)."""
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": _principal_id(account_id, username),
        "arn": f"arn:{get_partition(region)}:iam::{account_id}:user/{username}",
        "accountId": account_id,
        "accessKeyId": access_key_id,
        "userName": username,
    }
    if invoked_by is not None:
        # A service acting for the principal: CloudTrail names the service in invokedBy and, as
        # the caller's address and agent, the service's DNS name (record-contents reference).
        identity["invokedBy"] = invoked_by
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": invoked_by or SOURCE_IP_ADDRESS,
        "userAgent": invoked_by or USER_AGENT,
    }
    if error_code is not None:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or ""
    record.update(
        {
            "requestParameters": request_parameters,
            "responseElements": response_elements,
            "requestID": str(uuid4()),
            "eventID": event_id,
            "readOnly": read_only,
        }
    )
    if record_resources:
        record["resources"] = [dict(resource) for resource in record_resources]
    record.update(
        {
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
        }
    )
    return record


def record_event(
    account_id: str,
    region: str,
    *,
    event_source: str,
    event_name: str,
    request_parameters: dict[str, Any] | None,
    response_elements: dict[str, Any] | None = None,
    resources: list[tuple[str, str]] | None = None,  # (ResourceType, ResourceName)
    error_code: str | None = None,
    error_message: str | None = None,
    username: str = "sandbox-user",
    event_time: datetime | None = None,
    read_only: bool = False,
    invoked_by: str | None = None,
    record_resources: Sequence[Mapping[str, str]] = (),  # the record's own "resources" (ARN, accountId, type)
) -> str:
    """Record a management event so LookupEvents can return it; returns the EventId.

    Thread-safe: the server records from its request threads while lookups run.
    """
    event_id = str(uuid4())
    when = _utc(event_time) if event_time is not None else datetime.now(UTC)
    access_key_id = _access_key_id(account_id, username)
    record = _cloudtrail_record(
        account_id,
        region,
        event_id=event_id,
        event_time=when,
        event_source=event_source,
        event_name=event_name,
        username=username,
        access_key_id=access_key_id,
        read_only=read_only,
        request_parameters=request_parameters,
        response_elements=response_elements,
        error_code=error_code,
        error_message=error_message,
        invoked_by=invoked_by,
        record_resources=record_resources,
    )
    attributes = {
        "EventId": event_id,
        "EventName": event_name,
        "ReadOnly": "true" if read_only else "false",
        "AccessKeyId": access_key_id,
        "EventSource": event_source,
        "Username": username,
    }
    with _lock:
        event = ManagementEvent(next(_sequence), when, attributes, tuple(resources or ()), json.dumps(record))
        _history(account_id, region).append(event)
    return event_id


# --------------------------------------------------------------------------------------
# Recording the calls moto serves
# --------------------------------------------------------------------------------------

# Where CloudTrail records the events of a global service (IAM) per partition: its home
# region, whatever region the client named (IAM user guide, "Logging IAM and AWS STS API
# calls with AWS CloudTrail").
_GLOBAL_SERVICE_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def global_service_region(region: str) -> str:
    """The region whose event history holds a global service's events (us-east-1 in ``aws``)."""
    return _GLOBAL_SERVICE_REGIONS.get(get_partition(region), "us-east-1")


def cloudtrail_time(value: datetime) -> str:
    """A timestamp inside requestParameters/responseElements, as CloudTrail writes it.

    CloudTrail's own eventTime is ISO 8601, but the timestamps of the API's request and
    response come out as "Jul 11, 2018 10:17:44 PM" (UTC) in the ECR and IAM examples.
    """
    when = _utc(value)
    # Spelled out rather than %b/%p, which follow the process locale.
    month = _MONTHS[when.month - 1]
    meridiem = "AM" if when.hour < 12 else "PM"
    return f"{month} {when.day}, {when.year} {when.hour % 12 or 12}:{when:%M:%S} {meridiem}"


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def cloudtrail_form(shape: Shape | None, value: Any) -> Any:
    """``value`` (parsed against ``shape``) as CloudTrail writes it: member names in camelCase.

    Structure members are renamed (IAM's ``RoleName`` -> ``roleName``; ECR's are camelCase
    already), map keys are data and stay as they are, timestamps become :func:`cloudtrail_time`.
    """
    if isinstance(value, datetime):
        return cloudtrail_time(value)
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            _lower_first(name): cloudtrail_form(shape.members.get(name), item)
            for name, item in value.items()
            if name != "ResponseMetadata"
        }
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {key: cloudtrail_form(shape.value, item) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [cloudtrail_form(shape.member, item) for item in value]
    return value


def served_request_parameters(response: BaseResponse) -> dict[str, Any] | None:
    """The request moto is serving, parsed against the operation's input shape, in CloudTrail form.

    Parsed here rather than read from ``response.params`` so that it works whether or not the
    service turns on moto's automatic parameter parsing.
    """
    service_model = get_service_model(response.boto3_service_name)
    operation_model = service_model.operation_model(response._get_action())
    request = response.normalized_request
    protocol = determine_request_protocol(service_model, request.content_type)
    parser = PROTOCOL_PARSERS[protocol](operation_model, map_type=dict)
    parsed = parser.parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": request.data,
            "url_path": request.path,
            "url_params": response.uri_match,
        }
    )
    form = cloudtrail_form(operation_model.input_shape, parsed)
    return form if isinstance(form, dict) and form else None


def response_elements(service_name: str, operation_name: str, result: object, transformers: Any = None) -> Any:
    """What the client receives for ``result`` (a moto result object), in CloudTrail form.

    Serialized by moto exactly as it answers the client, then parsed back with botocore, so
    responseElements cannot differ from the real response. None for operations without output.
    """
    service_model = get_service_model(service_name)
    operation_model = service_model.operation_model(operation_name)
    if operation_model.output_shape is None or result is None:
        return None
    serializer = get_serializer_class(service_name, service_model.protocol)(
        operation_model=operation_model,
        pretty_print=False,
        value_picker=XFormedAttributePicker(response_transformers=transformers),
    )
    serialized = serializer.serialize(result)
    body = serialized["body"]
    parsed = botocore.parsers.create_parser(service_model.protocol).parse(
        {
            "body": body.encode() if isinstance(body, str) else body,
            "headers": dict(serialized["headers"]),
            "status_code": serialized["status_code"],
        },
        operation_model.output_shape,
    )
    form = cloudtrail_form(operation_model.output_shape, parsed)
    return form or None


def served_response_elements(response: BaseResponse, result: ActionResult) -> Any:
    """responseElements for what a moto handler returned (see :func:`response_elements`)."""
    transformers = getattr(response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
    return response_elements(response.boto3_service_name, response._get_action(), result.result, transformers)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiCall:
    """One call of a mutating API as CloudTrail records it, before its outcome is known."""

    account_id: str
    region: str  # the event history that receives it (awsRegion)
    event_source: str
    event_name: str
    request_parameters: dict[str, Any] | None
    resources: list[tuple[str, str]] = field(default_factory=list)  # LookupEvents Resources
    record_resources: list[dict[str, str]] = field(default_factory=list)  # the record's "resources"
    invoked_by: str | None = None
    event_time: datetime = field(default_factory=_now)  # when the call was made, not when it ended

    def record(self, response: Any = None, error_code: str | None = None, error_message: str | None = None) -> str:
        # Looked up on the module at call time, so tests can capture record_event.
        return record_event(
            self.account_id,
            self.region,
            event_source=self.event_source,
            event_name=self.event_name,
            request_parameters=self.request_parameters,
            response_elements=response if error_code is None else None,
            resources=self.resources or None,
            error_code=error_code,
            error_message=error_message,
            event_time=self.event_time,
            invoked_by=self.invoked_by,
            record_resources=self.record_resources,
        )


_Handler = TypeVar("_Handler", bound=Callable[..., ActionResult])
_RECORDED_MARKER = "__omics_audit_cloudtrail_recorded__"


def recorded(
    describe: Callable[[BaseResponse], ApiCall],
    response: Callable[[BaseResponse, ActionResult], Any] = served_response_elements,
) -> Callable[[_Handler], _Handler]:
    """Wrap a moto request handler so that every call it serves is recorded in CloudTrail.

    ``describe`` says where and how (from the request, before the handler runs); a failure is
    recorded with the error code the client receives and null responseElements, then re-raised
    for moto to answer; a success with ``response(handler_self, result)`` as responseElements.
    Wrapping an already wrapped handler returns it unchanged, so installs are idempotent.
    """

    def decorate(handler: _Handler) -> _Handler:
        if getattr(handler, _RECORDED_MARKER, False):
            return handler

        @functools.wraps(handler)
        def handle(self: BaseResponse) -> ActionResult:
            call = describe(self)
            try:
                result = handler(self)
            except ServiceException as exc:
                call.record(error_code=exc.code, error_message=exc.message)
                raise
            call.record(response(self, result))
            return result

        setattr(handle, _RECORDED_MARKER, True)
        return cast(_Handler, handle)

    return decorate


# --------------------------------------------------------------------------------------
# LookupEvents
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupQuery:
    attribute: tuple[str, str] | None
    start_time: datetime | None
    end_time: datetime | None
    insight: bool
    fingerprint: str


def _lookup_attribute(attributes: Sequence[Mapping[str, Any]] | None) -> tuple[str, str] | None:
    if not attributes:
        return None
    if len(attributes) > 1:
        raise InvalidLookupAttributesException("LookupAttributes can contain only one item.")
    key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
    if key not in LOOKUP_ATTRIBUTE_KEYS or not value:
        raise InvalidLookupAttributesException(f"Lookup attribute is not valid: {key}={value}")
    return key, value


def _fingerprint(params: Mapping[str, Any]) -> str:
    # MaxResults may change between pages (botocore's paginator keeps it, callers may not).
    relevant = {k: params.get(k) for k in ("LookupAttributes", "StartTime", "EndTime", "EventCategory")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_query(params: Mapping[str, Any]) -> LookupQuery:
    attribute = _lookup_attribute(params.get("LookupAttributes"))
    start, end = params.get("StartTime"), params.get("EndTime")
    start, end = (_utc(start) if start else None), (_utc(end) if end else None)
    if start and end and start > end:
        raise InvalidTimeRangeException("Start time must be before end time.")
    category = params.get("EventCategory")
    if category not in (None, "insight"):
        raise InvalidEventCategoryException(f"Event category is not valid: {category}")
    return LookupQuery(attribute, start, end, category == "insight", _fingerprint(params))


def _page_size(max_results: Any) -> int:
    if max_results is None:
        return MAX_RESULTS
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise InvalidMaxResultsException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    return max_results


def _encode_token(query: LookupQuery, last: ManagementEvent) -> str:
    payload = {"f": query.fingerprint, "t": last.event_time.isoformat(), "s": last.sequence}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_token(token: str, query: LookupQuery) -> tuple[datetime, int]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        position = datetime.fromisoformat(payload["t"]), int(payload["s"])
        fingerprint = payload["f"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidNextTokenException("Invalid NextToken.") from None
    if fingerprint != query.fingerprint:
        raise InvalidNextTokenException("NextToken was issued for a request with different parameters.")
    return position


def _in_window(event: ManagementEvent, query: LookupQuery, now: datetime) -> bool:
    end = query.end_time or now
    return (
        event.event_time >= now - RETENTION
        and (query.start_time is None or event.event_time >= query.start_time)
        and event.event_time <= end
    )


def lookup(
    account_id: str, region: str, params: Mapping[str, Any], now: datetime | None = None
) -> tuple[list[ManagementEvent], str | None]:
    """One LookupEvents page: (events newest first, NextToken or None)."""
    query = build_query(params)
    size = _page_size(params.get("MaxResults"))
    after = _decode_token(params["NextToken"], query) if params.get("NextToken") else None
    if query.insight:
        return [], None  # the sandbox records management events only
    now = now or datetime.now(UTC)
    with _lock:
        events = list(_history(account_id, region))
    selected = sorted(
        (e for e in events if _in_window(e, query, now) and (query.attribute is None or e.matches(*query.attribute))),
        key=lambda e: e.sort_key,
        reverse=True,
    )
    if after is not None:
        selected = [e for e in selected if e.sort_key < after]
    page = selected[:size]
    return page, _encode_token(query, page[-1]) if len(selected) > size else None


def _lookup_events(self: BaseResponse) -> ActionResult:
    # CloudTrailResponse parses its inputs by hand; use moto's model-driven parser for
    # this operation so timestamps arrive as datetimes and integers as ints.
    self.parse_parameters(self.normalized_request)
    page, token = lookup(self.current_account, self.region, self.params)
    result: dict[str, Any] = {"Events": [event.to_output() for event in page]}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def install() -> None:
    """Add LookupEvents to moto's CloudTrail. Idempotent."""
    CloudTrailResponse.lookup_events = _lookup_events  # type: ignore[attr-defined]
