"""``omics-ecr-audit sandbox``: serve the embedded sandbox on 127.0.0.1 until stopped.

The sandbox is moto plus the auditor's extensions (ECR pull-through cache, creation
templates, HealthOmics, CloudTrail LookupEvents), served over HTTP by
:func:`auditor.sandbox.server.start_server`. ``--seed demo`` (the default) fills it with
the demo account of :mod:`auditor.sandbox.seed` (one defect per rule), ready to scan;
``--seed empty`` leaves it empty.

What it prints on stdout is shell-safe: every line is a comment, an ``unset`` or an
``export VAR=value``, so the block can be pasted (or ``eval``'d) in another shell.

Routes the command adds in front of moto's:

* ``GET /_sandbox/seed``: the current seed as JSON (seed, account, region, and the demo's
  workflow and run ids, which are random).
* ``POST /_sandbox/reseed`` (optionally ``?seed=demo|empty``, default ``--seed``): wipe
  every backend (moto's ``/moto-api/reset``) and seed again; answers like the GET.

moto's own ``POST /moto-api/reset`` still empties everything without reseeding.

Exit codes: 0 stopped by Ctrl-C or SIGTERM, 2 usage error, port in use, or the
``sandbox`` extra (moto) not installed. Nothing here imports moto until the command
runs, so ``omics-ecr-audit`` works without the extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from auditor.errors import ExitCode
from auditor.sandbox import INSTALL_HINT, missing_extra

SEEDS = ("demo", "empty")
RESEED_PATH = "/_sandbox/reseed"
SEED_PATH = "/_sandbox/seed"
HOST = "127.0.0.1"
# The credentials clients must use: moto maps any key to its default account; these are not secrets.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


def _error(message: str) -> int:
    print(f"omics-ecr-audit: {message}", file=sys.stderr, flush=True)
    return ExitCode.USAGE


class _ServerSession:
    """The part of a boto3.Session that seeding uses: clients of one sandbox server, in one region."""

    def __init__(self, server: Any, region: str) -> None:
        self._server = server
        self.region_name = region

    def client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        return self._server.client(service_name, region_name or self.region_name, **kwargs)


class _Seeder:
    """Resets and seeds one running server; also serves ``POST /_sandbox/reseed`` in front of moto."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.server: Any = None  # set once the server runs (the WSGI wrapper exists before)
        self.current: dict[str, Any] = {}
        self._lock = threading.Lock()

    def seed(self, kind: str) -> dict[str, Any]:
        import requests

        from auditor.sandbox.seed import ACCOUNT, REGION, seed_demo_account

        assert self.server is not None
        with self._lock:
            requests.post(f"{self.server.url}/moto-api/reset", timeout=30).raise_for_status()
            info: dict[str, Any] = {"seed": kind, "account": ACCOUNT, "region": REGION, "workflows": {}, "runs": {}}
            if kind == "demo":
                demo = seed_demo_account(_ServerSession(self.server, REGION))
                info.update(account=demo.account, region=demo.region, workflows=demo.workflows, runs=demo.runs)
            self.current = info
            return info

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO")
            if path == SEED_PATH and environ.get("REQUEST_METHOD") == "GET":
                with self._lock:
                    return _respond(start_response, "200 OK", self.current)
            if path != RESEED_PATH:
                return app(environ, start_response)
            if environ.get("REQUEST_METHOD") != "POST":
                return _respond(start_response, "405 Method Not Allowed", {"error": f"POST to {RESEED_PATH}"})
            kind = parse_qs(environ.get("QUERY_STRING", "")).get("seed", [self.default])[0]
            if kind not in SEEDS:
                return _respond(start_response, "400 Bad Request", {"error": f"seed must be one of {list(SEEDS)}"})
            try:
                info = self.seed(kind)
            except Exception as exc:  # reported to the caller; the server keeps serving
                return _respond(start_response, "500 Internal Server Error", {"error": f"reseed failed: {exc}"})
            print(f"# reseeded: {kind}", flush=True)
            return _respond(start_response, "200 OK", info)

        return application


def _respond(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def banner(url: str, info: dict[str, Any]) -> str:
    """What to export and run next (every line is shell-safe)."""
    region = info["region"]
    what = f"the demo account {info['account']}" if info["seed"] == "demo" else "an empty account"
    exports = {**DUMMY_ENV, "AWS_DEFAULT_REGION": region, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    lines = [
        f"# omics-ecr-audit sandbox: serving {what} ({region}) at {url}",
        "# Stop with Ctrl-C. Reseed while it runs: curl -X POST "
        f"'{url}{RESEED_PATH}'  (or '{url}{RESEED_PATH}?seed=empty'); ids: curl '{url}{SEED_PATH}'",
        "# In another shell, use dummy credentials (a profile would take precedence over them):",
        "unset AWS_PROFILE AWS_SESSION_TOKEN",
        *(f"export {name}={value}" for name, value in exports.items()),
        "# Then:",
        f"#   omics-ecr-audit scan --endpoint-url {url} --out out",
        f"#   omics-ecr-audit fix --endpoint-url {url} --out out",
        f"#   omics-ecr-audit fix --apply --plan out/plan.json --endpoint-url {url} --out out",
        "#   omics-ecr-audit report out/findings.json --format html,sarif",
    ]
    return "\n".join(lines)


def run_sandbox(args: argparse.Namespace) -> int:
    port: int = args.port
    if not 0 <= port <= 65535:
        return _error(f"--port must be between 0 and 65535, not {port}")
    if args.seed not in SEEDS:
        return _error(f"--seed must be one of {', '.join(SEEDS)}")
    try:
        from auditor.sandbox import seed as _seed  # noqa: F401  (imports moto: fail here, not mid-way)
        from auditor.sandbox import server as sandbox_server
    except ImportError as exc:
        missing = missing_extra(exc)
        if missing is None:
            raise
        return _error(f"the sandbox needs {missing}, which is not installed: {INSTALL_HINT}")

    upstreams: list[str] = getattr(args, "upstream", None) or []
    if upstreams:
        from auditor.sandbox.registry_source import install_upstreams

        try:
            install_upstreams(upstreams)  # the cache rules' imports read these registries (`copy` primes them)
        except ValueError as exc:
            return _error(str(exc))
    if getattr(args, "log_level", "warning") not in ("debug", "info"):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # SIGINT explicitly too: a shell starts background jobs with SIGINT ignored.
    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        seeder = _Seeder(args.seed)
        try:
            server = sandbox_server.start_server(HOST, port, wrap_app=seeder.wrap)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return _error(f"{reason} (choose another --port, or --port 0 for a free one)")
        try:
            seeder.server = server
            info = seeder.seed(args.seed)
            print(banner(server.url, info), flush=True)
            while not stop.wait(timeout=0.5):
                pass
        finally:
            server.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("# sandbox stopped", flush=True)
    return ExitCode.OK
