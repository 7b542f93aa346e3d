"""Limits that adapt: a throttling answer cuts its limiter's rate, quiet time brings it back to the ceiling.

Unit tests run on an injected clock (no sleeping); the integration test scans a sandbox account whose
first GetRepositoryPolicy answers are ThrottlingException (tests/support/faults.py) and checks that the
scan backs off, completes with the findings of an unthrottled scan, and that the rate recovers.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import pytest
import structlog
import structlog.testing

import auditor.scan
from auditor.findings import FindingsDocument
from auditor.ratelimit import THROTTLING_CODES, Adaptive, RateLimiter, RateLimits, is_throttling
from auditor.sandbox.seed import seed_demo_account
from tests.support.clock import FakeClock, max_in_window
from tests.support.faults import Fault, error_response
from tests.support.sandbox import ACCOUNT, REGION, run_scan


@pytest.fixture(autouse=True)
def info_events_reach_capture_logs() -> None:
    """The CLI's configuration (auditor.logs) filters below WARNING before any processor runs, so an earlier
    test in this worker that ran main() would hide the limiters' info events from capture_logs."""
    structlog.reset_defaults()


def limiter(rate: float, clock: FakeClock, **settings: Any) -> RateLimiter:
    return RateLimiter(
        rate, clock=clock, sleep=clock.sleep, adaptive=Adaptive(**settings), key=(ACCOUNT, REGION, "ecr:X")
    )


def throttle(lim: RateLimiter) -> bool:
    """A throttling answer to a call admitted now (so never one from before the last cut)."""
    lim.acquire()
    return lim.throttled("ThrottlingException")


# --- unit: back-off, floor, climb, ceiling ------------------------------------------------------------


def test_throttling_halves_the_rate_down_to_the_floor() -> None:
    clock = FakeClock()
    lim = limiter(20, clock)
    assert lim.rate == lim.ceiling == 20
    rates = []
    for _ in range(7):
        clock.now += 0.01
        assert throttle(lim)
        rates.append(lim.rate)
    assert rates == [10, 5, 2.5, 1.25, 1, 1, 1]  # x0.5 each time, never below 1/s
    assert lim.backoffs == 7 and lim.min_rate == 1
    # a ceiling under the floor is its own floor
    slow = limiter(0.5, clock)
    throttle(slow)
    assert slow.rate == 0.5


def test_answers_to_calls_sent_before_the_cut_count_once() -> None:
    """Eight threads throttled at once say one thing: the rate was too high. One cut, not eight."""
    clock = FakeClock()
    lim = limiter(20, clock)
    tickets = []
    for _ in range(8):
        lim.acquire()
        tickets.append(lim.calls)
    cuts = [lim.throttled("ThrottlingException", ticket=t) for t in tickets]
    assert cuts == [True] + [False] * 7
    assert lim.rate == 10 and lim.throttles == 8 and lim.backoffs == 1
    lim.acquire()  # admitted after the cut: its throttling answer is news
    assert lim.throttled("ThrottlingException")
    assert lim.rate == 5


def test_the_rate_climbs_back_after_a_quiet_period_and_never_above_the_ceiling() -> None:
    clock = FakeClock()
    lim = limiter(20, clock, quiet=1.0, increase=0.1)
    lim.succeeded()
    assert lim.rate == 20  # nothing to climb: never above the ceiling
    with structlog.testing.capture_logs() as logs:
        throttle(lim)
        assert lim.rate == 10
        clock.now += 0.9
        lim.succeeded()
        assert lim.rate == 10  # still inside the quiet period
        clock.now += 0.1 + 1.0  # quiet period over, then one second of success: + 10% of the ceiling
        lim.succeeded()
        assert lim.rate == pytest.approx(12)
        clock.now += 2.0
        lim.succeeded()
        assert lim.rate == pytest.approx(16)
        clock.now += 60.0
        lim.succeeded()
        assert lim.rate == 20  # capped at the ceiling
        clock.now += 60.0
        lim.succeeded()
        assert lim.rate == 20
    assert lim.recoveries == 1
    events = [e for e in logs if e["event"] in ("rate_backed_off", "rate_recovered")]
    assert [e["event"] for e in events] == ["rate_backed_off", "rate_recovered"]
    assert events[0]["rate_before"] == 20 and events[0]["rate_after"] == 10 and events[0]["scope"] == "ecr:X"
    assert events[0]["code"] == "ThrottlingException" and events[0]["account"] == ACCOUNT
    assert events[1]["rate"] == 20 and events[0]["log_level"] == events[1]["log_level"] == "info"


def test_a_new_throttle_restarts_the_quiet_period() -> None:
    clock = FakeClock()
    lim = limiter(20, clock, quiet=2.0, increase=0.5)
    throttle(lim)
    clock.now += 1.5
    throttle(lim)  # 10 -> 5
    clock.now += 1.5
    lim.succeeded()
    assert lim.rate == 5  # 1.5 s since the last throttle: quiet for 2 s first
    clock.now += 1.0
    lim.succeeded()
    assert lim.rate == pytest.approx(5 + 0.5 * 0.5 * 20)  # half a second past the quiet period


def test_start_below_the_ceiling_and_fixed_limits() -> None:
    clock = FakeClock()
    polite = limiter(20, clock, start=0.5)
    assert polite.rate == 10 and polite.ceiling == 20
    fixed = RateLimiter(20, clock=clock, sleep=clock.sleep)  # adaptive=None: the configured rate, always
    fixed.acquire()
    assert not fixed.throttled("ThrottlingException")
    fixed.succeeded()
    assert fixed.rate == 20 and fixed.throttles == 1 and fixed.backoffs == 0
    with pytest.raises(ValueError, match="decrease"):
        Adaptive(decrease=1.0)


# --- unit: the window guarantee at the reduced rate -----------------------------------------------------


@pytest.mark.parametrize(("throttles", "rate", "burst"), [(1, 10, 10), (3, 2.5, 2), (4, 1.25, 1), (6, 1, 1)])
def test_window_guarantee_holds_at_the_reduced_rate(throttles: int, rate: float, burst: int) -> None:
    clock = FakeClock()
    lim = limiter(20, clock, quiet=1e9)  # no climbing during the test
    for _ in range(throttles):
        throttle(lim)
    assert lim.rate == rate and lim.burst == burst and lim.window == pytest.approx(burst / rate)
    clock.now += 100.0  # the calls of the throttles are long gone
    starts = []
    for _ in range(60):
        lim.acquire()
        starts.append(clock.now)
    assert max_in_window(starts, burst / rate) == burst  # never more than burst in any window
    assert starts[-1] - starts[0] == pytest.approx((60 // burst - 1) * burst / rate, abs=burst / rate)  # the pace
    assert starts[:burst] == [starts[0]] * burst  # a burst still starts at once


def test_calls_made_just_before_a_cut_count_in_the_new_window() -> None:
    """At 20/s a burst of 20 has just started; cut to 10/s, the next call waits for the window to clear
    (the calls already in it count), instead of starting 10 more at once."""
    clock = FakeClock()
    lim = limiter(20, clock, quiet=1e9)
    for _ in range(20):
        lim.acquire()
    assert lim.throttled("ThrottlingException", ticket=lim.calls)
    starts = [clock.now] * 20
    for _ in range(30):
        lim.acquire()
        starts.append(clock.now)
    assert max_in_window(starts[20:], 1.0) == 10
    assert min(starts[20:]) >= 1000.0 + 1.0  # the burst of 20 left the 1 s window first
    assert max_in_window(starts, 1.0) <= 20


def test_threads_share_one_adaptive_limiter() -> None:
    """Real clock and threads: calls from six threads, one throttle in the middle, all admitted, one cut."""
    lim = RateLimiter(200, adaptive=Adaptive(quiet=60.0))
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        for i in range(30):
            lim.acquire()
            if i == 10:
                lim.throttled("ThrottlingException")  # each thread's own last call
            else:
                lim.succeeded()

    workers = [threading.Thread(target=work) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert lim.calls == 180 and lim.throttles == 6
    assert 1 <= lim.backoffs <= 6 and lim.rate == 200 * 0.5**lim.backoffs


# --- unit: scopes ---------------------------------------------------------------------------------------------


def test_throttling_one_operation_does_not_slow_another() -> None:
    clock = FakeClock()
    limits = RateLimits(clock=clock, sleep=clock.sleep)
    policy = limits.limiter(ACCOUNT, REGION, "ecr", "GetRepositoryPolicy")
    describe = limits.limiter(ACCOUNT, REGION, "ecr", "DescribeImages")
    other_region = limits.limiter(ACCOUNT, "eu-west-1", "ecr", "GetRepositoryPolicy")
    assert policy is not None and describe is not None and other_region is not None
    throttle(policy)
    assert policy.rate == 10
    assert describe.rate == describe.ceiling == 20 and other_region.rate == 20
    starts = []
    for _ in range(400):
        describe.acquire()
        starts.append(clock.now)
    assert max_in_window(starts, 10.0) == 200  # DescribeImages keeps its own pace (200 burst, 20/s)
    # operations that share a scope share its back-off: one HealthOmics limiter by default
    get_run = limits.limiter(ACCOUNT, REGION, "omics", "GetRun")
    assert get_run is not None and throttle(get_run)
    assert limits.limiter(ACCOUNT, REGION, "omics", "ListRuns") is get_run and get_run.rate == 5
    # adaptive off: the configured limits, whatever the service says
    fixed = RateLimits(clock=clock, sleep=clock.sleep, adaptive=None).limiter(ACCOUNT, REGION, "ecr", "X")
    assert fixed is not None and not throttle(fixed) and fixed.rate == 20


def test_throttling_codes_are_botocores() -> None:
    """The same answers move both our limiter and botocore's adaptive one."""
    ours = THROTTLING_CODES
    assert set(botocore.retries.standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES) == ours
    assert is_throttling("SlowDown") and is_throttling("TooManyRequestsException")
    assert is_throttling("SomethingNew", 429) and not is_throttling("AccessDeniedException", 400)
    assert not is_throttling(None, 200)


# --- integration: a scan of the sandbox whose first GetRepositoryPolicy calls are throttled ------------------


@pytest.fixture
def no_botocore_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retries, drop its waits (1 s exponential back-off base for throttling, and its
    adaptive token bucket): what slows the scan down here is our limiter alone."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


def shared_limits(monkeypatch: pytest.MonkeyPatch, limits: RateLimits) -> None:
    """Every scan in this test draws from ``limits`` (scan.collect_options makes a fresh set per scan)."""
    monkeypatch.setattr(auditor.scan, "RateLimits", lambda overrides=None, **_: limits)


def findings(doc: FindingsDocument) -> list[tuple[str, str, str]]:
    return sorted((f.rule_id, f.resource, f.status.value) for f in doc.findings)


def test_a_throttled_scan_backs_off_completes_and_recovers(
    aws: boto3.Session, monkeypatch: pytest.MonkeyPatch, no_botocore_waits: None
) -> None:
    seed_demo_account(aws)
    baseline = run_scan(boto3.Session(region_name=REGION))

    # quiet and increase shortened so that the recovery fits in the test: back to the ceiling 1 s after
    limits = RateLimits(adaptive=Adaptive(quiet=0.3, increase=1.0))
    shared_limits(monkeypatch, limits)
    session = boto3.Session(region_name=REGION)
    first = itertools.count(1)
    throttled_first = 3
    fault = Fault(
        session,
        "ecr:GetRepositoryPolicy",
        lambda r: error_response("ecr", "ThrottlingException", message="Rate exceeded"),
        when=lambda r: next(first) <= throttled_first,
    )
    with structlog.testing.capture_logs() as logs:
        doc = run_scan(session)
    assert fault.injected == throttled_first
    assert findings(doc) == findings(baseline)  # retried, and the same findings: no ERROR
    assert doc.api_calls["ecr:GetRepositoryPolicy"] == baseline.api_calls["ecr:GetRepositoryPolicy"]
    assert fault.calls == doc.api_calls["ecr:GetRepositoryPolicy"] + throttled_first  # one retry per throttle

    policy = limits.limiters()[(ACCOUNT, REGION, "ecr:GetRepositoryPolicy")]
    assert policy.throttles == throttled_first
    assert 1 <= policy.backoffs <= throttled_first and policy.min_rate <= 10
    backed_off = [e for e in logs if e["event"] == "rate_backed_off"]
    assert len(backed_off) == policy.backoffs
    assert {e["scope"] for e in backed_off} == {"ecr:GetRepositoryPolicy"}
    assert all(
        set(e) <= {"event", "log_level", "account", "region", "scope", "code", "rate_before", "rate_after", "ceiling"}
        for e in backed_off
    )  # never a request parameter
    # other operations of the same service kept their pace
    describe = limits.limiters()[(ACCOUNT, REGION, "ecr:DescribeImages")]
    assert describe.backoffs == 0 and describe.rate == describe.ceiling

    # Later: a scan with no throttling finds the rate back at the ceiling (and the same findings)
    time.sleep(1.4)
    again = run_scan(session)
    assert findings(again) == findings(baseline)
    assert fault.injected == throttled_first
    assert policy.rate == policy.ceiling == 20 and policy.recoveries >= 1


def test_ecr_operations_take_the_documented_bucket_shape() -> None:
    """20 calls/s with a 200-call burst, as ECR's own example throttle: 200 calls start at once, never more
    than 200 in any 10 s, and an overridden rate keeps the burst's 10 s length."""
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limits = RateLimits(clock=lambda: now[0], sleep=sleep, adaptive=None)
    limiter = limits.limiter("111111111111", REGION, "ecr", "GetRepositoryPolicy")
    assert limiter is not None and (limiter.rate, limiter.burst) == (20, 200)
    starts = []
    for _ in range(600):
        limiter.acquire()
        starts.append(now[0])
    assert starts[:200] == [1000.0] * 200  # a 200-repository account is read without waiting
    for i, start in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < start + 10.0) <= 200
    assert starts[-1] - starts[0] == pytest.approx(20.0)  # then the sustained 20 per second
    slower = RateLimits({"ecr:*": 5}, clock=lambda: now[0], sleep=sleep, adaptive=None)
    limited = slower.limiter("111111111111", REGION, "ecr", "DescribeImages")
    assert limited is not None and (limited.rate, limited.burst) == (5, 50)
    published = limits.limiter("111111111111", REGION, "ecr", "BatchGetImage")
    assert published is not None and published.burst == 2000  # a published quota keeps one second's burst


def test_clients_of_one_account_and_region_draw_from_one_limiter(aws) -> None:
    """Each client finds its operation's limiter once and keeps it: still the one limiter of that scope."""
    limits = RateLimits()
    first = limits.attach(aws.client("ecr"), ACCOUNT, REGION)
    second = limits.attach(aws.client("ecr"), ACCOUNT, REGION)
    other = limits.attach(aws.client("ecr"), "210987654321", REGION)
    for client in (first, second, first):
        client.describe_repositories()
    other.describe_repositories()
    made = limits.limiters()
    assert made[(ACCOUNT, REGION, "ecr:DescribeRepositories")].calls == 3
    assert made[("210987654321", REGION, "ecr:DescribeRepositories")].calls == 1
