"""Fault injection for scans on the sandbox: botocore ``before-send`` handlers that win over moto's.

moto's own stubber is a built-in handler of the generic ``before-send`` event, registered when the session is
created, and ``Endpoint._do_get_response`` takes the *first* non-None response of all handlers. A handler on the
same generic event would run after moto's and lose silently, so a ``Fault`` is registered with ``register_first``
on the operation's own event (``before-send.<service-id>.<Operation>``) and counts what it injected, so that every
test can assert that the fault was actually injected (tests/test_faults.py, test_org_scan.py, test_targets.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import boto3
import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

_MODELS: dict[str, Any] = {}


def _model(service: str) -> Any:
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    return _MODELS[service]


class _Body:
    """The ``raw`` of an AWSResponse: botocore reads it through ``stream()``."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(service: str, code: str, status: int = 400, message: str = "injected by test_faults") -> AWSResponse:
    """An error as the service's protocol carries it (JSON ``__type`` or query-protocol XML)."""
    if _model(service).protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers = {"content-type": "text/xml"}
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"content-type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
    return AWSResponse("https://fault.invalid/", status, {**headers, "x-amzn-RequestId": "fault"}, _Body(body))


def ok_response(body: str, content_type: str = "application/x-amz-json-1.1") -> AWSResponse:
    return AWSResponse(
        "https://fault.invalid/", 200, {"content-type": content_type, "x-amzn-RequestId": "fault"}, _Body(body.encode())
    )


def request_param(request: AWSPreparedRequest, name: str) -> str | None:
    """A request parameter of a JSON-protocol or query-protocol request."""
    body = request.body or b""
    text = body.decode() if isinstance(body, bytes) else str(body)
    if text.startswith("{"):
        return json.loads(text).get(name)
    return (parse_qs(text).get(name) or [None])[0]


Respond = Callable[[AWSPreparedRequest], AWSResponse | Exception | None]


class Fault:
    """A before-send handler for one operation that wins over moto's and counts what it did."""

    def __init__(
        self,
        session: boto3.Session,
        operation: str,
        respond: Respond,
        *,
        when: Callable[[AWSPreparedRequest], bool] | None = None,
        times_per_request: int | None = None,
    ) -> None:
        service, name = operation.split(":")
        self.operation = operation
        self.respond, self.when, self.times = respond, when, times_per_request
        self.calls = 0  # HTTP attempts of the operation (retries included)
        self.injected = 0  # attempts answered by the fault
        self._per_target: dict[str, int] = {}
        self._lock = threading.Lock()
        event = f"before-send.{_model(service).service_id.hyphenize()}.{name}"
        session.events.register_first(event, self)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        with self._lock:  # the collector calls from a thread pool
            self.calls += 1
            if self.when is not None and not self.when(request):
                return None
            target = f"{request.url} {request.body!r}"
            if self.times is not None and self._per_target.get(target, 0) >= self.times:
                return None  # moto answers
            self._per_target[target] = self._per_target.get(target, 0) + 1
            self.injected += 1
        answer = self.respond(request)
        if isinstance(answer, Exception):
            raise answer
        return answer


def denied(service: str) -> Respond:
    code, status = {
        "iam": ("AccessDenied", 403),
        "omics": ("AccessDeniedException", 403),
    }.get(service, ("AccessDeniedException", 400))
    return lambda request: error_response(service, code, status)


def denied_code(service: str) -> str:
    return "AccessDenied" if service == "iam" else "AccessDeniedException"
