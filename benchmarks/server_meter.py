"""Server-side latency and call counting for benchmarks that share one sandbox server between several tools.

``ServerMeter`` is WSGI middleware. ``install_meter(server)`` wraps the app of a running
``auditor.sandbox.server.SandboxServer`` (``start_server()``) in it. From then on every AWS request
the server receives is:

* **delayed** by ``meter.latency_s`` seconds (``time.sleep`` in the request's own server thread,
  before moto handles it), so every client, whatever its language, process or retry policy, sees the
  same round trip. Concurrent requests overlap their sleeps, as real round trips do;
* **counted** under the current ``meter.phase`` label, per ``service:Operation`` and per
  (account, region). The operation comes from the request itself: the ``X-Amz-Target`` header (JSON
  protocols), the ``Action`` parameter (query protocols, read from the form body, which is then
  handed on unchanged), or the HTTP method and path matched against botocore's service model
  (REST protocols: HealthOmics, S3). Service, region and access key come from the SigV4 credential
  scope (``Authorization`` header, or ``X-Amz-Credential`` of a pre-signed URL). The account is the
  one moto itself would pick for that access key (``moto.iam.models.get_account_id_from``);
* **timed**: the time spent inside moto (sleep excluded) is summed per phase, with the highest number
  of requests inside moto at once.

**Dispatch** (``cached_dispatch``, on unless ``install_meter(..., cached_dispatch=False)``): moto's
``DomainDispatcherApplication`` picks the Flask app of a request's backend anew for every request, under
one process-wide lock, by listing the moto package's folder (``backends.list_of_moto_modules``, a
``stat`` per entry) and matching the host against every backend's URL patterns: about a fifth of the
server's CPU per request here, all of it serialised. For services whose backend follows from the SigV4
scope's service and Region alone (``_CACHEABLE``), the meter asks moto's own ``get_application`` once per
(service, Region) and reuses its answer, the same app moto would pick again. Every other request
(pre-signed S3 downloads, unsigned calls, any other service) still goes through moto's dispatcher. It makes
the sandbox answer faster, for every tool alike; it changes no answer.

The sandbox's own control calls (``/moto-api/...``) are neither delayed nor counted. Nothing in
``auditor/`` or moto is modified; the wrapped app is put back by ``meter.uninstall()``.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"^([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request$")
_UNKNOWN = "unknown"
# Signing names whose backend app moto chooses from the service and Region alone (werkzeug_app's
# infer_service_region_host special-cases s3, dynamodb, sagemaker, ses, execute-api ... by path or header).
_CACHEABLE = frozenset({"ecr", "sts", "iam", "omics", "cloudtrail", "secretsmanager", "organizations", "ec2"})


@dataclass
class PhaseCounts:
    """Everything counted while one phase label was current."""

    calls: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> requests
    cells: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (account, region, "svc:Op") -> requests
    busy_seconds: float = 0.0  # summed time inside moto (injected sleep excluded)
    max_in_flight: int = 0  # most requests inside moto at the same time
    first: float | None = None  # perf_counter: first request's arrival (before its injected sleep)
    last: float | None = None  # and last answer's end
    windows: dict[str, list[float]] = field(default_factory=dict)  # "service:Operation" -> [first arrival, last end]
    # client ports: one per TCP connection; a port reused by a later connection counts once (a lower bound)
    connections: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def per_cell(self, operation: str | None = None) -> dict[tuple[str, str], int]:
        out: Counter[tuple[str, str]] = Counter()
        for (account, region, op), n in self.cells.items():
            if operation is None or op == operation:
                out[(account, region)] += n
        return dict(out)


class _RestMatcher:
    """Maps (method, path) to an operation name with botocore's model of a REST service (cached)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, list[tuple[str, re.Pattern[str], str]]] = {}

    def _load(self, service: str) -> list[tuple[str, re.Pattern[str], str]]:
        import botocore.session

        try:
            model = botocore.session.get_session().get_service_model(service)
        except Exception:  # an unknown service name: no routes, the caller falls back to METHOD path
            return []
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http.get("requestUri", "/").split("?", 1)[0]
            literal = len(re.sub(r"\{[^}]+\}", "", uri))
            pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", re.escape(uri))  # {Key+}: greedy
            pattern = re.sub(r"\\\{[^}]+?\\\}", "[^/]+", pattern)
            routes.append((literal, http.get("method", "GET"), re.compile(f"^{pattern}/?$"), name))
        routes.sort(key=lambda r: -r[0])  # the most literal template wins (/run/{id}/task before /run/{id})
        return [(method, rx, name) for _, method, rx, name in routes]

    def match(self, service: str, method: str, path: str) -> str | None:
        with self._lock:
            routes = self._routes.get(service)
            if routes is None:
                routes = self._routes[service] = self._load(service)
        for route_method, rx, name in routes:
            if route_method == method and rx.match(path):
                return name
        return None


class ServerMeter:
    """WSGI middleware: injected latency and per-phase call counting (see the module docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, cached_dispatch: bool = True) -> None:
        self.app = app
        # moto's dispatcher, when the wrapped app is one (see the module docstring's **Dispatch**)
        self._dispatcher = app if cached_dispatch and hasattr(app, "get_application") else None
        self._apps: dict[tuple[str, str], Callable[..., Iterable[bytes]]] = {}
        self.latency_s = 0.0
        self._phase = "setup"
        self._lock = threading.Lock()
        self._phases: dict[str, PhaseCounts] = defaultdict(PhaseCounts)
        self._accounts: dict[str, str] = {}
        self._in_flight = 0
        self._rest = _RestMatcher()
        self._uninstall: Callable[[], None] | None = None

    # -- control ------------------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, label: str) -> None:
        with self._lock:
            self._phase = label

    def counts(self, phase: str) -> PhaseCounts:
        with self._lock:
            return self._phases[phase]

    def uninstall(self) -> None:
        if self._uninstall is not None:
            self._uninstall()
            self._uninstall = None

    # -- request identification ---------------------------------------------------------------------

    def _account_for(self, access_key: str | None) -> str:
        if not access_key:
            return _UNKNOWN
        account = self._accounts.get(access_key)
        if account is None:
            from moto.iam.models import get_account_id_from

            # Keys come from AssumeRole answers, so by the time one signs a request moto knows it.
            account = self._accounts[access_key] = get_account_id_from(access_key)
        return account

    def _identify(self, environ: dict[str, Any]) -> tuple[str, str, str, str | None]:
        """(service, operation, region, access key) of a request; reads and restores a form body."""
        service = region = _UNKNOWN
        access_key = None
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if match:
            access_key, region, service = match.groups()
        elif "X-Amz-Credential" in query:  # a pre-signed URL (the ECR layer downloads)
            scope = _QUERY_SCOPE.match(query["X-Amz-Credential"][0])
            if scope:
                access_key, region, service = scope.groups()
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return service, target.rsplit(".", 1)[-1], region, access_key
        action = query.get("Action", [None])[0]
        if action is None and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
        if action:
            return service, action, region, access_key
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        operation = self._rest.match(service, method, path) if service != _UNKNOWN else None
        return service, operation or f"{method} {path}", region, access_key

    def _app_for(self, service: str, region: str, environ: dict[str, Any]) -> Callable[..., Iterable[bytes]]:
        if self._dispatcher is None or service not in _CACHEABLE or not environ.get("HTTP_AUTHORIZATION"):
            return self.app
        key = (service, region)
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = self._dispatcher.get_application(environ)  # moto's own choice, once
        return app

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        service, operation, region, access_key = self._identify(environ)
        account = self._account_for(access_key)
        arrived = time.perf_counter()
        latency = self.latency_s
        if latency:
            time.sleep(latency)
        with self._lock:
            counts = self._phases[self._phase]
            counts.first = arrived if counts.first is None else min(counts.first, arrived)
            self._in_flight += 1
            counts.max_in_flight = max(counts.max_in_flight, self._in_flight)
        start = time.perf_counter()
        try:
            return self._app_for(service, region, environ)(environ, start_response)
        finally:
            end = time.perf_counter()
            key = f"{service}:{operation}"
            with self._lock:
                self._in_flight -= 1
                counts.calls[key] += 1
                counts.cells[(account, region, key)] += 1
                counts.busy_seconds += end - start
                counts.connections.add(str(environ.get("REMOTE_PORT")))
                counts.last = end if counts.last is None else max(counts.last, end)
                window = counts.windows.get(key)
                if window is None:
                    counts.windows[key] = [arrived, end]
                else:
                    window[0], window[1] = min(window[0], arrived), max(window[1], end)


def install_meter(sandbox_server: Any, *, cached_dispatch: bool = True) -> ServerMeter:
    """Wrap the WSGI app of a running ``SandboxServer`` (``start_server()``) in a ``ServerMeter``.

    werkzeug's request handler reads ``server.app`` for every request, so replacing it takes effect
    at once. This reaches into ``ThreadedMotoServer`` internals (``_server``: the werkzeug server),
    which moto 5.2.5 has; anything else is reported instead of silently measuring nothing.
    """
    threaded = getattr(sandbox_server, "_server", None)
    wsgi_server = getattr(threaded, "_server", None)
    if wsgi_server is None or not hasattr(wsgi_server, "app"):
        raise RuntimeError(
            "cannot install the server meter: expected SandboxServer._server._server.app (a werkzeug server); "
            "moto's ThreadedMotoServer layout changed"
        )
    original = wsgi_server.app
    meter = ServerMeter(original, cached_dispatch=cached_dispatch)
    wsgi_server.app = meter

    def restore() -> None:
        wsgi_server.app = original

    meter._uninstall = restore
    return meter
