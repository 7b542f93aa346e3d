"""Client-side rate limits that keep a scan inside the published API quotas.

AWS API quotas are per account and per Region, so the limiters are keyed by
``(account, region, scope)``: every client of a scan that reaches the same account and
Region (any cell, any thread) draws from the same limiter, and an organisation scan of
200 accounts never spends one account's quota on another's calls. Global services (IAM,
Organizations) have one quota per account, so their limiters ignore the Region. A scan
owns its limiters (``scan.collect_options``): other processes calling the same account
(parallel Lambda invocations, people) are invisible to it, and the adaptive retry mode
absorbs the throttling they cause.

A limiter is attached to each client made by ``aws.make_client`` as a botocore
``before-send`` handler. ``before-send`` fires once per HTTP attempt, so retries
(adaptive retry mode's included) are limited like first attempts, which is what the
service counts.

Published quotas behind the defaults (adjustable ones can be raised per account;
raise the limit in the config then):

* HealthOmics workflow plane: GetRun, GetRunTask, ListRunTasks, ListRuns, GetWorkflow,
  ListWorkflows ... 10 TPS each: "For each API operation listed, the quota is the maximum
  transactions per second (TPS) for that API operation in each Region"
  (https://docs.aws.amazon.com/omics/latest/dev/api-quotas.html). The default shares one
  10 TPS limiter among all HealthOmics operations: never over any operation's quota, and safe
  if the page's rows that lump several operations together mean one shared quota. Big accounts
  scan faster with ``"omics:*": 10`` in the config (one limiter per operation, the per-operation
  reading of the same page).
* CloudTrail LookupEvents: "limited to two per second, per account, per Region. If this
  limit is exceeded, a throttling error occurs."
  (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html)
* ECR: BatchGetImage 2,000/s and GetDownloadUrlForLayer 3,000/s per account per Region
  (https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html); the
  Describe*/Get*Policy operations have no published rate, only "each API operation has a
  rate throttle" (https://docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors.html),
  so each of them gets its own conservative 20 TPS (the rate that page uses as its example).

The limiter is a token bucket whose tokens come back exactly one window after they were
spent (a sliding-window limiter): up to ``burst`` calls may start at once, and never more
than ``burst`` start in any window of ``burst / rate`` seconds. A classic refilling bucket
of the same size would let ``burst + rate`` calls through in the first second, which is
over a "N per second" quota; this one never is.

Limits that adapt (``Adaptive``, on by default): the configured rate is the limiter's
*ceiling*, never exceeded; the limiter starts at ``start`` times it (1.0: the configured
rate, which the defaults above already keep at or under the published quota). ``attach``
also registers a handler on the service's ``needs-retry`` event, which botocore emits after
every HTTP attempt with the parsed response, before it decides on a retry. A throttling
answer (botocore's own list of throttling codes, ``THROTTLING_CODES``, or HTTP 429) for an
operation multiplies the current rate of that operation's limiter by ``decrease`` (0.5), not
below ``floor`` (1/s, or the ceiling if that is lower); answers to calls that were admitted
before that back-off are not counted again, so eight threads throttled at once cut the rate
once, not eight times. After ``quiet`` seconds without throttling, every answer that is not
throttling raises the rate by ``increase`` times the ceiling per second since the last rise
(additive increase: from half the ceiling back to it in 5 s), up to the ceiling (AIMD). The
burst follows the current rate (``floor(rate)``), so the window guarantee holds at the
reduced rate too. botocore's adaptive retry mode keeps its own per-client limiter on top
(it slows the whole client, every operation); ours slows only the throttled scope. Each
back-off and each return to the ceiling is logged (``rate_backed_off``, ``rate_recovered``:
account, Region, scope, rates, error code; never a request parameter).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("auditor.ratelimit")

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# scope -> calls per second. A scope is "service" (all its operations share one limiter),
# "service:Operation" (that operation alone) or "service:*" (each operation its own limiter).
# The service part is the IAM action prefix (the client's signing name): ecr, omics, cloudtrail, iam...
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "omics": 10.0,
    "cloudtrail:LookupEvents": 2.0,
    "ecr:*": 20.0,
    "ecr:BatchGetImage": 2000.0,
    "ecr:GetDownloadUrlForLayer": 3000.0,
}

# scope -> burst: calls that may start at once before the rate applies (default: one second's worth). ECR's
# documentation describes its throttles as token buckets and gives one example, GetAuthorizationToken: 20
# TPS sustained "with up to a 200 TPS burst allowed", a bucket of 200 credits refilled at 20 per second
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors.html). The ECR operations without a
# published rate take that example's shape, as they take its rate: at most 200 calls start in any 10 s
# window, never over the bucket AWS describes, and a 200-repository account is read without waiting on the
# limiter. If AWS throttles anyway, the limiter backs off (``Adaptive``).
DEFAULT_BURSTS: dict[str, int] = {"ecr:*": 200}

# One quota per account, whatever Region the client was made for.
GLOBAL_SERVICES = frozenset({"iam", "organizations"})

# The error codes botocore's retry modes treat as throttling (botocore.retries.standard.
# ThrottledRetryableChecker._THROTTLED_ERROR_CODES, botocore 1.44.5; tests/test_ratelimit_adaptive.py
# keeps the two equal), so that our limiter and botocore's adaptive mode react to the same answers.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def is_throttling(code: str | None, status: int | None = None) -> bool:
    """A throttling answer: one of botocore's throttling codes, or HTTP 429 whatever the code."""
    return (code is not None and code in THROTTLING_CODES) or status == 429


@dataclass(frozen=True)
class Adaptive:
    """How limiters follow throttling: multiplicative decrease, additive increase, within [floor, ceiling]."""

    decrease: float = 0.5  # rate *= decrease on a throttling answer
    floor: float = 1.0  # calls per second never cut below (the ceiling, if that is lower)
    quiet: float = 1.0  # seconds without throttling before the rate climbs back
    increase: float = 0.1  # then + increase * ceiling per second, up to the ceiling
    start: float = 1.0  # the first rate, as a fraction of the ceiling

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if self.floor <= 0 or self.quiet < 0 or self.increase <= 0 or not 0 < self.start <= 1:
            raise ValueError("floor and increase must be positive, quiet not negative, start in (0, 1]")


DEFAULT_ADAPTIVE = Adaptive()


class DeadlineExceeded(Exception):
    """A cell ran past its time budget; raised before a call is sent, never in the middle of one."""

    def __init__(self, budget: float | None = None) -> None:
        self.budget = budget
        super().__init__(
            f"the cell ran out of its {budget:g} s time budget" if budget else "the cell ran out of its time budget"
        )


class RateLimiter:
    """At most ``burst`` calls start in any window of ``burst / rate`` seconds (thread-safe).

    ``rate`` is the current rate: the ceiling (the configured rate) unless ``adaptive`` settings let
    throttling answers (``throttled``) lower it and quiet time (``succeeded``) raise it back.
    ``key`` (account, region, scope) only names the limiter in the logs.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        adaptive: Adaptive | None = None,
        key: tuple[str, str, str] = ("", "", ""),
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = float(rate)
        self._burst_at_ceiling = burst if burst is not None else max(1, math.floor(rate))
        if self._burst_at_ceiling < 1:
            raise ValueError("burst must be at least 1")
        self.adaptive = adaptive
        self.floor = min(adaptive.floor, self.ceiling) if adaptive else self.ceiling
        self._rate = max(self.floor, self.ceiling * adaptive.start) if adaptive else self.ceiling
        self.key = key
        self._clock = clock
        self._sleep = sleep
        # Start times are kept for the longest window any rate in [floor, ceiling] can have.
        self._horizon = max(self._shape(self.ceiling)[1], self._shape(self.floor)[1], 1.0 / self.floor)
        self._starts: deque[float] = deque()  # start times of the calls inside the horizon, oldest first
        self._lock = threading.Lock()
        self._thread = threading.local()  # the ticket of the calling thread's last admitted call
        self.calls = 0
        self.waited = 0.0  # seconds callers spent waiting, for the logs
        self.throttles = 0  # throttling answers seen
        self.backoffs = 0  # times the rate was cut
        self.recoveries = 0  # times it climbed back to the ceiling
        self.min_rate = self._rate
        self._backoff_ticket = 0  # calls admitted up to the last back-off: their answers are not counted again
        self._last_throttle: float | None = None
        self._last_rise = 0.0

    # --- shape at the current rate ------------------------------------------------------------------

    def _shape(self, rate: float) -> tuple[int, float]:
        burst = max(1, math.floor(self._burst_at_ceiling * rate / self.ceiling + 1e-9))
        return burst, burst / rate

    @property
    def rate(self) -> float:
        """The current rate (calls per second)."""
        return self._rate

    @property
    def burst(self) -> int:
        return self._shape(self._rate)[0]

    @property
    def window(self) -> float:
        return self._shape(self._rate)[1]

    # --- admission ------------------------------------------------------------------------------------

    def acquire(self, deadline: float | None = None) -> float:
        """Wait until a call may start; return the seconds waited.

        ``deadline`` is a time of this limiter's clock: a wait that would end after it raises
        DeadlineExceeded at once instead of sleeping first.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                burst, window = self._shape(self._rate)
                starts = self._starts
                while starts and now - starts[0] >= self._horizon:
                    starts.popleft()
                expired = bisect.bisect_right(starts, now - window)  # now - start >= window: out of the window
                if len(starts) - expired < burst:
                    starts.append(now)
                    self.calls += 1
                    self._thread.ticket = self.calls
                    self.waited += waited
                    return waited
                # the call whose leaving the window brings the count in the window under burst
                delay = starts[len(starts) - burst] + window - now
            if deadline is not None and now + delay > deadline:
                raise DeadlineExceeded()
            # Sleep outside the lock: other threads may find a slot freed meanwhile, or queue behind us.
            self._sleep(delay)
            waited += delay

    # --- adaptation -----------------------------------------------------------------------------------

    def throttled(self, code: str = "", *, ticket: int | None = None) -> bool:
        """A throttling answer to the call admitted as ``ticket`` (default: the calling thread's last call).

        Cuts the rate unless that call was admitted before the last cut (its answer says nothing about
        the rate since); returns whether it did.
        """
        if ticket is None:
            ticket = getattr(self._thread, "ticket", None)
        with self._lock:
            self.throttles += 1
            if self.adaptive is None or (ticket is not None and ticket <= self._backoff_ticket):
                return False
            before = self._rate
            self._rate = max(self.floor, before * self.adaptive.decrease)
            self.min_rate = min(self.min_rate, self._rate)
            self._backoff_ticket = self.calls
            self._last_throttle = self._clock()
            self.backoffs += 1
            after = self._rate
        account, region, scope = self.key
        log.info(
            "rate_backed_off",
            account=account,
            region=region,
            scope=scope,
            code=code,
            rate_before=round(before, 3),
            rate_after=round(after, 3),
            ceiling=self.ceiling,
        )
        return True

    def succeeded(self) -> None:
        """An answer that is not throttling: after ``quiet`` seconds without throttling, climb towards the ceiling."""
        adaptive = self.adaptive
        if adaptive is None or self._rate >= self.ceiling:  # racy read, rechecked under the lock
            return
        with self._lock:
            if self._last_throttle is None or self._rate >= self.ceiling:
                return
            now = self._clock()
            since = max(self._last_throttle + adaptive.quiet, self._last_rise)
            if now <= since:
                return
            self._rate = min(self.ceiling, self._rate + (now - since) * adaptive.increase * self.ceiling)
            self._last_rise = now
            recovered = self._rate >= self.ceiling
            if recovered:
                self.recoveries += 1
        if recovered:
            account, region, scope = self.key
            log.info("rate_recovered", account=account, region=region, scope=scope, rate=self.ceiling)


def scope_for(rates: Mapping[str, float], service: str, operation: str) -> tuple[str, float] | None:
    """The limiter scope and rate for one operation, the most specific setting first; None: not limited."""
    exact = f"{service}:{operation}"
    if rates.get(exact):
        return exact, rates[exact]
    if rates.get(f"{service}:*"):
        return exact, rates[f"{service}:*"]  # each operation its own limiter at the service-wide rate
    if rates.get(service):
        return service, rates[service]
    return None


class RateLimits:
    """The limiters of a process (or of a test), created on first use per (account, region, scope).

    ``adaptive``: how they follow throttling (``Adaptive``); None keeps every limiter at its configured rate.
    """

    def __init__(
        self,
        overrides: Mapping[str, float | None] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        adaptive: Adaptive | None = DEFAULT_ADAPTIVE,
    ) -> None:
        merged: dict[str, float | None] = {**DEFAULT_RATE_LIMITS, **(overrides or {})}
        # None (or 0) switches a default off
        self.rates: dict[str, float] = {k: float(v) for k, v in merged.items() if v}
        # an overridden rate keeps the default burst's length in seconds, never more calls than its window allows
        self.bursts: dict[str, int] = {
            k: max(1, math.floor(b * self.rates[k] / DEFAULT_RATE_LIMITS[k]))
            for k, b in DEFAULT_BURSTS.items()
            if k in self.rates and k in DEFAULT_RATE_LIMITS
        }
        self.clock = clock
        self.adaptive = adaptive
        self._sleep = sleep
        self._limiters: dict[tuple[str, str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, account: str, region: str, service: str, operation: str) -> RateLimiter | None:
        found = scope_for(self.rates, service, operation)
        if found is None:
            return None
        scope, rate = found
        # the burst of the setting that gave the rate (the operation's own, else "service:*"); a service-wide
        # limiter ("omics") keeps one second's worth
        exact = f"{service}:{operation}"
        setting = exact if self.rates.get(exact) else f"{service}:*"
        burst = None if scope == service else self.bursts.get(setting)
        key = (account, "global" if service in GLOBAL_SERVICES else region, scope)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = RateLimiter(
                    rate,
                    burst,
                    clock=self.clock,
                    sleep=self._sleep,
                    adaptive=self.adaptive,
                    key=key,
                )
            return limiter

    def limiters(self) -> dict[tuple[str, str, str], RateLimiter]:
        with self._lock:
            return dict(self._limiters)

    def attach(self, client: Any, account: str, region: str, *, deadline: float | None = None) -> Any:
        """Limit every HTTP attempt of ``client`` (and stop sending after ``deadline``, a ``clock`` time),
        and let every answer adjust the limiter of its operation.

        ``before-send`` handler: registered first on the service's event, so it runs before the generic
        ``before-send`` handlers (the one that sends nothing in a moto sandbox included): the wait
        happens before the request is answered, whoever answers it.

        ``needs-retry`` handler: botocore emits it after every attempt (``response`` is
        ``(http_response, parsed)``, or None after a connection error) and takes the first non-None
        answer as the retry delay, so this one always returns None and leaves the retry to botocore.
        """
        service = client.meta.service_model.signing_name
        service_id = client.meta.service_model.service_id.hyphenize()
        # operation -> its limiter: a limiter, once made, is this (account, region, scope)'s for good, so each
        # call of this client finds it with one dict lookup instead of resolving the scope under the lock again
        found: dict[str, RateLimiter | None] = {}

        def limiter_for(operation: str) -> RateLimiter | None:
            try:
                return found[operation]
            except KeyError:
                limiter = found[operation] = self.limiter(account, region, service, operation)
                return limiter

        def before_send(event_name: str = "", **_: Any) -> None:
            if deadline is not None and self.clock() > deadline:
                raise DeadlineExceeded()
            operation = event_name.rsplit(".", 1)[-1]
            limiter = limiter_for(operation)
            if limiter is None:
                return
            waited = limiter.acquire(deadline)
            if waited > 1.0:
                log.debug("rate_limited", account=account, region=region, call=f"{service}:{operation}", waited=waited)

        def after_attempt(response: Any = None, operation: Any = None, **_: Any) -> None:
            if response is None or operation is None:
                return  # no answer (a connection error): says nothing about the rate
            http_response, parsed = response
            limiter = limiter_for(operation.name)
            if limiter is None:
                return
            error = parsed.get("Error") if isinstance(parsed, dict) else None
            code = str(error.get("Code", "")) if isinstance(error, dict) else None
            if is_throttling(code, getattr(http_response, "status_code", None)):
                limiter.throttled(code or "HTTP 429")
            else:
                limiter.succeeded()
            return

        client.meta.events.register_first(f"before-send.{service_id}", before_send)
        client.meta.events.register(f"needs-retry.{service_id}", after_attempt)
        return client
