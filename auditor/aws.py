"""AWS client plumbing every part of the auditor shares: the scanner, the fixer, the gate, org discovery.

* ``make_client``: one recipe for a client: botocore adaptive retries, connect/read timeouts, the
  user agent, the rate limiter of its (account, region, service) (``auditor.ratelimit``: a
  ``before-send`` hook that paces every attempt and a ``needs-retry`` hook through which throttling
  answers lower the limiter's rate and quiet time raises it back) or a bare deadline, and a
  per-operation call counter (``ApiCallCounter``, a botocore ``before-call`` hook).
* ``attempt``: runs one call and records a failure as a ``CallError`` (``call_error``) on the resource
  it concerns instead of raising, except the failures that make the whole (account, region) unreadable
  (``CellError``, missing credentials, the scan's deadline), which are re-raised.
* ``CollectOptions``: the knobs of a scan that clients and collectors read.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.exceptions
import requests
import structlog
from botocore.config import Config

from auditor.models import CallError, Collected
from auditor.ratelimit import DeadlineExceeded, RateLimits

log = structlog.get_logger("auditor.aws")
T = TypeVar("T")


# --- options ----------------------------------------------------------------------


@dataclass(kw_only=True)
class CollectOptions:
    run_lookback_days: int = 30
    image_tags_per_repository: int = 3
    service_roles: list[str] = field(default_factory=list)
    max_workers: int = 8
    max_attempts: int = 5  # total attempts per call (botocore adaptive retry mode)
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    endpoint_url: str | None = None
    # Limiters shared by every client made with these options (scan.collect_options makes one set per scan,
    # see auditor.ratelimit); None: no client-side limit.
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    # A time of ``rate_limits.clock`` (time.monotonic) after which no call is sent: DeadlineExceeded instead.
    deadline: float | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # (repository, tag, digest) to inspect besides those the account itself names (the gate's containers)
    extra_images: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    # Folder of the on-disk cache of platforms by digest, reused across scans (auditor.digest_cache);
    # None: no cache (the library default; the CLI's scan turns it on).
    digest_cache: Path | None = None
    # The opt-in image-vulnerabilities settings (auditor.config.VulnerabilitySettings); None: no scan finding is read.
    vulnerabilities: Any = None
    # Collect only these resources (the real-time guard, auditor.guard, judges what one event names): repository
    # names (DescribeRepositories by name), IAM role names (service roles among them only), HealthOmics workflow
    # ids (GetWorkflow by id, no listing). None: every one, as a scan does. A snapshot collected so is judged only
    # about these resources: facets that derive from the scoped ones (policies, lifecycles) follow them.
    only_repositories: tuple[str, ...] | None = None
    only_roles: tuple[str, ...] | None = None
    only_workflows: tuple[str, ...] | None = None


# --- API accounting ---------------------------------------------------------------


class ApiCallCounter:
    """Counts API calls per "service:Operation" across all clients of a scan (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        prefix = client.meta.service_model.signing_name  # the IAM action prefix: ecr, omics, iam, ...

        def _count(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls[f"{prefix}:{model.name}"] += 1

        client.meta.events.register("before-call", _count)
        return client

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.calls.items()))


# --- error capture ---------------------------------------------------------------

_NETWORK_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


# Error codes that mean "the caller lacks a permission": only these name the IAM action as missing.
# Throttling, timeouts and service faults are not permission problems and must not read like one.
_PERMISSION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "NotAuthorized",
    }
)


def call_error(exc: Exception, operation: str, resource: str | None = None) -> CallError:
    """Turn an exception from a call into a CallError (never carries secret values)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "ClientError"))
        return CallError(
            operation=operation,
            code=code,
            message=str(err.get("Message", ""))[:500],
            permission=operation if code in _PERMISSION_CODES and ":" in operation else None,
            resource=resource,
        )
    if isinstance(exc, _NETWORK_ERRORS):
        return CallError(operation=operation, code=type(exc).__name__, message=str(exc)[:500], resource=resource)
    if isinstance(exc, requests.RequestException):
        return CallError(operation=operation, code=type(exc).__name__, message=str(exc)[:300], resource=resource)
    return CallError(operation=operation, code=type(exc).__name__, message=str(exc)[:500], resource=resource)


# Codes meaning "these credentials are not valid here": a Region that is not enabled for the account
# (opt-in Regions answer UnrecognizedClientException on JSON services, InvalidClientTokenId on query
# services, AuthFailure on EC2), or credentials that expired or were revoked. No call of the cell can
# succeed then, so the cell is reported as one ERROR per rule instead of an ERROR per resource.
CELL_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "AuthFailure",
        "OptInRequired",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


class CellError(botocore.exceptions.ClientError):  # type: ignore[misc]  # botocore ships no types
    """A failure that makes the whole (account, region) unreadable; ``error`` names the call that showed it.

    A ClientError, so code that runs a Collector by hand (the gate) handles it as it handles any other.
    """

    def __init__(self, exc: botocore.exceptions.ClientError, error: CallError) -> None:
        super().__init__(exc.response, exc.operation_name)
        self.error = error


# Without credentials nothing in the cell can be read. Recording this per resource (as attempt() did)
# left rules with no data to judge, e.g. image-not-arm-only reported NOT_APPLICABLE for an account it
# never read when the account id was given (no sts call to fail first); re-raised, it fails the whole
# cell and scan.collect_cell turns it into one ERROR per selected rule.
_CELL_ERRORS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    CellError,
    DeadlineExceeded,
)


def attempt(operation: str, resource: str | None, fn: Callable[[], T]) -> Collected[T]:
    try:
        return Collected(value=fn())
    except _CELL_ERRORS:
        raise
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, requests.RequestException) as exc:
        error = call_error(exc, operation, resource)
        if error.code in CELL_ERROR_CODES and isinstance(exc, botocore.exceptions.ClientError):
            raise CellError(exc, error) from exc
        log.warning("api_call_failed", operation=operation, code=error.code, resource=resource)
        return Collected(error=error)
    except Exception as exc:
        # Malformed service data (a missing required member -> KeyError, a policy document that is not
        # JSON -> JSONDecodeError...) used to escape attempt() and abort the whole scan with a traceback.
        # It is this resource's failure: record it so the rules report ERROR, and keep scanning.
        error = CallError(
            operation=operation,
            code="MalformedResponse",
            message=f"unexpected response data ({type(exc).__name__}: {exc})"[:500],
            resource=resource,
        )
        log.warning("api_call_failed", operation=operation, code=error.code, resource=resource)
        return Collected(error=error)


# --- clients -------------------------------------------------------------------


def client_config(region: str, opt: CollectOptions, *, pool: int = 10) -> Config:
    """Adaptive retries, timeouts and the user agent every client of the auditor uses."""
    return Config(
        region_name=region,
        retries={"mode": "adaptive", "total_max_attempts": opt.max_attempts},
        connect_timeout=opt.connect_timeout,
        read_timeout=opt.read_timeout,
        max_pool_connections=pool,
        user_agent_extra="omics-ecr-audit",
        # HealthOmics operations carry a "workflows-" host prefix; against a custom endpoint
        # (the sandbox server, a VPC endpoint URL) botocore would prepend it to that host too.
        inject_host_prefix=not custom_endpoint(opt.endpoint_url),
    )


def custom_endpoint(endpoint_url: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """True when calls go to an endpoint of the user's: ``--endpoint-url``, or botocore's own ``AWS_ENDPOINT_URL``
    (and its HealthOmics form), or host prefixes turned off as the sandbox's banner says to."""
    env = os.environ if environ is None else environ
    return bool(
        endpoint_url
        or env.get("AWS_ENDPOINT_URL")
        or env.get("AWS_ENDPOINT_URL_OMICS")
        or env.get("AWS_DISABLE_HOST_PREFIX_INJECTION", "").strip().lower() == "true"
    )


def make_client(
    session: boto3.Session,
    service: str,
    region: str,
    opt: CollectOptions,
    counter: ApiCallCounter,
    *,
    pool: int = 10,
    account_id: str | None = None,
) -> Any:
    """A counted, rate-limited client with adaptive retries and timeouts; the one recipe for scanning and fixing.

    ``account_id`` keys the rate limiters (quotas are per account); unknown, the calls share the caller's.
    The limiters adapt to throttling (``RateLimits(adaptive=...)``; None keeps the configured rates).
    """
    kwargs: dict[str, Any] = {"config": client_config(region, opt, pool=pool)}
    if opt.endpoint_url:
        kwargs["endpoint_url"] = opt.endpoint_url
    client = counter.attach(session.client(service, **kwargs))
    if opt.rate_limits is not None:
        opt.rate_limits.attach(client, account_id or "caller", region, deadline=opt.deadline)
    elif opt.deadline is not None:
        _attach_deadline(client, opt.deadline)
    return client


def _attach_deadline(client: Any, deadline: float) -> None:
    def before_send(**_: Any) -> None:
        if time.monotonic() > deadline:
            raise DeadlineExceeded()

    client.meta.events.register_first(f"before-send.{client.meta.service_model.service_id.hyphenize()}", before_send)
