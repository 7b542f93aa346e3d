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
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
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

# One quota per account, whatever Region the client was made for.
GLOBAL_SERVICES = frozenset({"iam", "organizations"})


class DeadlineExceeded(Exception):
    """A cell ran past its time budget; raised before a call is sent, never in the middle of one."""

    def __init__(self, budget: float | None = None) -> None:
        self.budget = budget
        super().__init__(
            f"the cell ran out of its {budget:g} s time budget" if budget else "the cell ran out of its time budget"
        )


class RateLimiter:
    """At most ``burst`` calls start in any window of ``burst / rate`` seconds (thread-safe)."""

    def __init__(
        self, rate: float, burst: int | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, math.floor(rate))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self.window = self.burst / rate
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()  # start times of the calls inside the current window
        self._lock = threading.Lock()
        self.calls = 0
        self.waited = 0.0  # seconds callers spent waiting, for the logs

    def acquire(self, deadline: float | None = None) -> float:
        """Wait until a call may start; return the seconds waited.

        ``deadline`` is a time of this limiter's clock: a wait that would end after it raises
        DeadlineExceeded at once instead of sleeping first.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.burst:
                    self._starts.append(now)
                    self.calls += 1
                    self.waited += waited
                    return waited
                delay = self._starts[0] + self.window - now
            if deadline is not None and now + delay > deadline:
                raise DeadlineExceeded()
            # Sleep outside the lock: other threads may find a slot freed meanwhile, or queue behind us.
            self._sleep(delay)
            waited += delay


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
    """The limiters of a process (or of a test), created on first use per (account, region, scope)."""

    def __init__(
        self,
        overrides: Mapping[str, float | None] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        merged: dict[str, float | None] = {**DEFAULT_RATE_LIMITS, **(overrides or {})}
        # None (or 0) switches a default off
        self.rates: dict[str, float] = {k: float(v) for k, v in merged.items() if v}
        self.clock = clock
        self._sleep = sleep
        self._limiters: dict[tuple[str, str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, account: str, region: str, service: str, operation: str) -> RateLimiter | None:
        found = scope_for(self.rates, service, operation)
        if found is None:
            return None
        scope, rate = found
        key = (account, "global" if service in GLOBAL_SERVICES else region, scope)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = RateLimiter(rate, clock=self.clock, sleep=self._sleep)
            return limiter

    def limiters(self) -> dict[tuple[str, str, str], RateLimiter]:
        with self._lock:
            return dict(self._limiters)

    def attach(self, client: Any, account: str, region: str, *, deadline: float | None = None) -> Any:
        """Limit every HTTP attempt of ``client`` (and stop sending after ``deadline``, a ``clock`` time).

        Registered first on the service's ``before-send`` event, so it runs before the generic
        ``before-send`` handlers (the one that sends nothing in a moto sandbox included): the wait
        happens before the request is answered, whoever answers it.
        """
        service = client.meta.service_model.signing_name
        service_id = client.meta.service_model.service_id.hyphenize()

        def before_send(event_name: str = "", **_: Any) -> None:
            if deadline is not None and self.clock() > deadline:
                raise DeadlineExceeded()
            operation = event_name.rsplit(".", 1)[-1]
            limiter = self.limiter(account, region, service, operation)
            if limiter is None:
                return
            waited = limiter.acquire(deadline)
            if waited > 1.0:
                log.debug("rate_limited", account=account, region=region, call=f"{service}:{operation}", waited=waited)

        client.meta.events.register_first(f"before-send.{service_id}", before_send)
        return client
