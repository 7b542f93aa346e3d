"""What server-side throttling does to a scan: fixed client-side limits against limits that adapt.

    .venv/bin/python benchmarks/throttle_benchmark.py                      # 200 repositories, server allows 8/s
    .venv/bin/python benchmarks/throttle_benchmark.py --repositories 500 --server-rate 5 --json throttle.json
    .venv/bin/python benchmarks/throttle_benchmark.py --fraction 0.2       # also throttle 20% of them at random

The sandbox server (``auditor.sandbox.server.start_server``) runs in this process with a WSGI
middleware in front of moto that plays the service's throttling: the ``--operations`` (default
ECR ``GetRepositoryPolicy``) draw from a server-side token bucket of ``--server-rate`` calls per
second (burst as large), as if other tools of the account used the rest of a 20 TPS quota; a call
finding the bucket empty (or, with ``--fraction``, chosen at random) gets HTTP 400
``ThrottlingException`` "Rate exceeded", as ECR answers. Every request can also be delayed
server-side (``--latency-ms``, default 20 ms, the round trip). Seeding is neither throttled nor
delayed.

One account is seeded with ``scan_benchmark.seed_account`` (N repositories, three PTC rules, images,
workflows, runs, roles; read-only scans do not change it), then ``auditor.scan.scan_live`` runs every
rule in these modes:

* ``unthrottled``: adaptive limits, the server throttles nothing (the reference: time and findings);
* ``fixed``: the configured limits (20 TPS per ECR operation) whatever the service answers; botocore's
  adaptive retry mode is left to cope alone (its per-client rate limiter and exponential back-off);
* ``adaptive``: the same plus ``auditor.ratelimit``'s AIMD limiters (the default).

Each reports wall time, API calls (the scan's own count, one per call), HTTP requests the server saw
for the throttled operations, throttled answers, retries (requests - calls), ERROR findings (a call
throttled on all its ``max_attempts`` attempts) and whether the findings equal the unthrottled scan's,
plus the throttled scope's limiter: cuts, lowest and final rate. The ``RateLimits`` of each scan are
captured by wrapping ``auditor.scan.RateLimits`` for its duration (nothing in auditor/ is changed).

This is a script, not a test: it asserts nothing beyond what it prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Run as a script, benchmarks/ is sys.path[0]: the seeding helpers live there.
from scan_benchmark import REGION, CallCounter, machine_info, seed_account, use_fake_credentials

ACCOUNT = "123456789012"
MODES = ("unthrottled", "fixed", "adaptive")

# --- server-side throttling ------------------------------------------------------------------------------


class ServerThrottle:
    """WSGI middleware: a token bucket per throttled operation, shared by every client of the server."""

    def __init__(
        self, app: Callable[..., Any], operations: set[str], rate: float, fraction: float, latency_s: float
    ) -> None:
        self.app, self.operations, self.rate, self.fraction, self.latency_s = app, operations, rate, fraction, latency_s
        self.scanning = False  # delay and count (seeding is neither)
        self.active = False  # throttle
        self._lock = threading.Lock()
        self._tokens = dict.fromkeys(operations, rate)
        self._refilled = dict.fromkeys(operations, time.monotonic())
        self._random = random.Random(14)
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def reset(self, active: bool) -> None:
        with self._lock:
            self.scanning = True
            self.active = active
            self.requests.clear()
            self.throttled.clear()
            now = time.monotonic()
            self._tokens = dict.fromkeys(self.operations, self.rate)
            self._refilled = dict.fromkeys(self.operations, now)

    def _admit(self, operation: str) -> bool:
        with self._lock:
            self.requests[operation] += 1
            now = time.monotonic()
            tokens = min(self.rate, self._tokens[operation] + (now - self._refilled[operation]) * self.rate)
            self._refilled[operation] = now
            allowed = not self.active or (tokens >= 1 and not (self.fraction and self._random.random() < self.fraction))
            self._tokens[operation] = tokens - 1 if allowed else tokens
            if not allowed:
                self.throttled[operation] += 1
            return allowed

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.scanning or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if self.latency_s:
            time.sleep(self.latency_s)
        operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1]
        if operation in self.operations and not self._admit(operation):
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-ErrorType", "ThrottlingException"),
                    ("x-amzn-RequestId", "throttle-benchmark"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        return self.app(environ, start_response)  # type: ignore[no-any-return]


# --- one scan ---------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    mode: str
    wall_seconds: float
    api_calls: int
    calls_by_operation: dict[str, int]
    server_requests: dict[str, int]  # the throttled operations: HTTP requests the server saw
    throttled: dict[str, int]
    retries: int  # server requests - API calls, for the throttled operations
    findings_by_status: dict[str, int]
    errors: list[str]  # "rule resource: code" of the ERROR findings
    same_findings_as_unthrottled: bool | None
    limiter: dict[str, Any] = field(default_factory=dict)  # the throttled scope's limiter
    rate_trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the scan, rate)


@contextmanager
def captured_limits(adaptive: bool) -> Iterator[list[Any]]:
    """Make the scan's RateLimits adaptive or fixed, and hand them out."""
    import auditor.scan as scan_module
    from auditor.ratelimit import DEFAULT_ADAPTIVE, RateLimits

    made: list[Any] = []
    original = scan_module.RateLimits

    def factory(overrides: Any = None, **kw: Any) -> RateLimits:
        limits = RateLimits(overrides, adaptive=DEFAULT_ADAPTIVE if adaptive else None, **kw)
        made.append(limits)
        return limits

    scan_module.RateLimits = factory  # type: ignore[assignment,misc]
    try:
        yield made
    finally:
        scan_module.RateLimits = original  # type: ignore[misc]


def run_mode(
    mode: str, throttle: ServerThrottle, url: str, workers: int, reference: list[tuple[str, str, str]] | None
) -> tuple[ScanResult, list[tuple[str, str, str]]]:
    import boto3

    from auditor.config import parse_config
    from auditor.scan import scan_live, select_rules

    cfg = parse_config({"max_workers": workers})
    rules = select_rules(cfg, [])
    session = boto3.Session(region_name=REGION)
    throttle.reset(active=mode != "unthrottled")
    trace: list[tuple[float, float]] = []
    done = threading.Event()
    with captured_limits(adaptive=mode != "fixed") as made:
        start = time.perf_counter()

        def sample() -> None:  # the throttled scope's rate, twice a second
            while not done.wait(0.5):
                limiter = _scope_limiter(made, throttle.operations)
                if limiter is not None:
                    trace.append((round(time.perf_counter() - start, 1), round(limiter.rate, 2)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        doc = scan_live(cfg, rules, session=session, regions=[REGION], endpoint_url=url)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    throttle.scanning = throttle.active = False
    found = sorted((f.rule_id, f.resource, f.status.value) for f in doc.findings)
    calls = dict(doc.api_calls)
    requests = {op: throttle.requests[op] for op in sorted(throttle.operations)}
    retries = sum(requests[op] - calls.get(f"ecr:{op}", 0) for op in requests)
    limiter = _scope_limiter(made, throttle.operations)
    return (
        ScanResult(
            mode=mode,
            wall_seconds=wall,
            api_calls=sum(calls.values()),
            calls_by_operation=calls,
            server_requests=requests,
            throttled={op: throttle.throttled[op] for op in sorted(throttle.operations)},
            retries=retries,
            findings_by_status=dict(doc.summary["by_status"]),
            errors=sorted(
                f"{f.rule_id} {f.resource}: {f.evidence.get('api_error', {}).get('code')}"
                for f in doc.findings
                if f.status.value == "ERROR"
            ),
            same_findings_as_unthrottled=None if reference is None else found == reference,
            limiter={}
            if limiter is None
            else {
                "ceiling": limiter.ceiling,
                "throttles_seen": limiter.throttles,
                "cuts": limiter.backoffs,
                "lowest_rate": round(limiter.min_rate, 2),
                "final_rate": round(limiter.rate, 2),
                "recoveries": limiter.recoveries,
            },
            rate_trace=trace,
        ),
        found,
    )


def _scope_limiter(made: list[Any], operations: set[str]) -> Any:
    if not made:
        return None
    limiters = made[0].limiters()
    for op in sorted(operations):
        found = limiters.get((ACCOUNT, REGION, f"ecr:{op}"))
        if found is not None:
            return found
    return None


# --- output ----------------------------------------------------------------------------------------------


def render(results: list[ScanResult], args: argparse.Namespace, seed_seconds: float) -> str:
    ops = ", ".join(sorted(args.operations))
    lines = [
        f"omics-ecr-audit throttle benchmark · {args.repositories} repositories · server allows {args.server_rate:g}/s "
        f"of {ops}"
        + (f" and throttles {args.fraction:.0%} at random" if args.fraction else "")
        + f" · {args.latency_ms:g} ms per request · {args.workers} workers · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()}",
        f"seeded in {seed_seconds:.1f} s",
        "",
        f"{'mode':<12} {'wall s':>7} {'calls':>6} {'requests':>8} {'throttled':>9} {'retries':>7} "
        f"{'ERROR':>5} {'same':>5} {'cuts':>4} {'lowest':>6} {'final':>6}",
    ]
    for r in results:
        same = "-" if r.same_findings_as_unthrottled is None else ("yes" if r.same_findings_as_unthrottled else "NO")
        lim = r.limiter
        lines.append(
            f"{r.mode:<12} {r.wall_seconds:>7.1f} {r.api_calls:>6} {sum(r.server_requests.values()):>8} "
            f"{sum(r.throttled.values()):>9} {r.retries:>7} {r.findings_by_status.get('ERROR', 0):>5} {same:>5} "
            f"{lim.get('cuts', '-'):>4} {lim.get('lowest_rate', '-'):>6} {lim.get('final_rate', '-'):>6}"
        )
    lines += [
        "",
        "calls: the scan's API calls (all operations); requests / throttled / retries: HTTP requests of the throttled",
        "operations, their ThrottlingException answers, and requests beyond one per call; ERROR: findings of calls",
        "throttled on every attempt; same: findings equal to the unthrottled scan's; cuts / lowest / final: the",
        "throttled scope's limiter (rate cuts, lowest and final calls per second; ceiling 20).",
    ]
    for r in results:
        if r.errors:
            lines.append(f"{r.mode}: {len(r.errors)} ERROR findings, e.g. {r.errors[0]}")
        if r.mode == "adaptive" and r.rate_trace:
            lines.append("adaptive rate (s: calls/s): " + " ".join(f"{t:g}:{v:g}" for t, v in r.rate_trace[::2]))
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="throttle_benchmark.py",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--repositories", type=int, default=200, help="repositories to seed (default 200, >= 10)")
    parser.add_argument(
        "--server-rate", type=float, default=8.0, help="calls per second the server allows per operation (default 8)"
    )
    parser.add_argument(
        "--operations",
        type=lambda s: {x.strip() for x in s.split(",") if x.strip()},
        default={"GetRepositoryPolicy"},
        help="ECR operations the server throttles (default GetRepositoryPolicy)",
    )
    parser.add_argument("--fraction", type=float, default=0.0, help="also throttle this fraction at random")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server-side delay per request (default 20)")
    parser.add_argument("--workers", type=int, default=8, help="max_workers of the scan (default 8)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"modes to run, in order (default {','.join(MODES)})")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.repositories < 10 or args.server_rate <= 0 or not 0 <= args.fraction < 1 or args.latency_ms < 0:
        parser.error("--repositories >= 10, --server-rate > 0, 0 <= --fraction < 1, --latency-ms >= 0")
    if not set(args.modes) <= set(MODES) or not args.modes:
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_fake_credentials()

    import boto3
    from botocore.config import Config as BotoConfig

    from auditor import logs
    from auditor.sandbox.server import start_server

    logs.configure("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    holder: dict[str, ServerThrottle] = {}

    def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
        holder["throttle"] = ServerThrottle(
            app, args.operations, args.server_rate, args.fraction, args.latency_ms / 1e3
        )
        return holder["throttle"]

    total_start = time.perf_counter()
    server = start_server(wrap_app=wrap)
    throttle = holder["throttle"]
    try:
        seed_session = boto3.Session(region_name=REGION)
        counter = CallCounter()
        cfg = BotoConfig(inject_host_prefix=False)
        clients = {
            svc: counter.attach(seed_session.client(svc, endpoint_url=server.url, config=cfg))
            for svc in ("ecr", "secretsmanager", "iam", "omics")
        }
        print(f"seeding {args.repositories} repositories ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        seed_account(clients, args.repositories)
        seed_seconds = time.perf_counter() - start
        results: list[ScanResult] = []
        reference = None
        for mode in args.modes:
            result, found = run_mode(mode, throttle, server.url, args.workers, reference)
            if mode == "unthrottled":
                reference = found
            results.append(result)
            print(
                f"{mode}: {result.wall_seconds:.1f} s, {sum(result.throttled.values())} throttled",
                file=sys.stderr,
                flush=True,
            )
    finally:
        server.stop()
    print(render(results, args, seed_seconds))
    print(f"\ntotal benchmark time {time.perf_counter() - total_start:.0f} s")
    if args.json:
        doc = {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "arguments": {**vars(args), "operations": sorted(args.operations)},
            "seed_seconds": seed_seconds,
            "results": [asdict(r) for r in results],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
