"""Run the sandbox (moto plus the auditor's extensions) as a local HTTP endpoint.

    with start_server() as server:
        omics = boto3.client("omics", endpoint_url=server.url, region_name="us-east-1")

or from a shell: ``python -m auditor.sandbox.server --port 5000``.

HealthOmics and host prefixes: every HealthOmics operation has an endpoint
``hostPrefix`` (``workflows-`` for the ones the sandbox serves), and botocore applies
it to custom endpoints too: with ``endpoint_url="http://127.0.0.1:5000"`` it sends
``GET http://workflows-127.0.0.1:5000/workflow``, a host that does not resolve. The
server therefore sets botocore's own switch ``AWS_DISABLE_HOST_PREFIX_INJECTION=true``
while it runs, which every client created afterwards in this process (and every child
process) honours; clients created before the server started keep the prefix. The switch
is process-wide, which is harmless here: in the sandbox every call goes to moto, whose
in-process mock serves the bare ``omics.<region>`` host as well. Clients in other
processes need the same variable, or
``botocore.config.Config(inject_host_prefix=False)``; :meth:`SandboxServer.client`
builds such a client. Without the prefix, moto's server recognises the service from
the SigV4 credential scope (``omics``) and routes to the omics backend.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from types import FrameType, TracebackType
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from auditor import sandbox

# The ECR and HealthOmics extensions build their download URLs from this (they must reach this server).
from auditor.sandbox.presign import S3_ENDPOINT_ENV

# botocore's config variable "disable_host_prefix_injection" (see module docstring).
HOST_PREFIX_ENV = "AWS_DISABLE_HOST_PREFIX_INJECTION"
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# A WSGI application, and a function that wraps moto's in another (e.g. to add routes).
WSGIApp = Callable[..., Any]
AppWrapper = Callable[[WSGIApp], WSGIApp]


def _url_for(host: str, port: int) -> str:
    reachable = _WILDCARD_HOSTS.get(host, host)
    if ":" in reachable:  # IPv6 literal
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


class _EnvironmentOverride:
    """Set environment variables and put the previous values back later."""

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)
        self._previous: dict[str, str | None] = {}

    def apply(self) -> None:
        for name, value in self._values.items():
            self._previous[name] = os.environ.get(name)
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in self._previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous.clear()


class _ReportingMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that reports a failed bind instead of waiting for it forever.

    moto creates the socket in the server thread and ``start()`` waits for a "ready"
    event that a bind error (port in use, bad address) never sets.
    """

    error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as exc:
            self.error = exc
            self._server_ready_event.set()

    def start(self) -> None:
        _check_bindable(self._ip_address, self._port)
        super().start()
        if self.error is not None:
            # werkzeug reports a bind failure as SystemExit(1) after printing the OSError.
            raise OSError(f"cannot serve on {self._ip_address}:{self._port}") from self.error


def _check_bindable(host: str, port: int) -> None:
    """Raise OSError (errno EADDRINUSE, ...) if ``host:port`` cannot be bound, before werkzeug tries.

    werkzeug prints a bind failure to stderr over several lines and exits, losing the errno;
    binding once here first (with the same SO_REUSEADDR werkzeug uses) gives callers a
    plain OSError they can report in one line. Port 0 always binds.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError as exc:
            reason = "port in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise OSError(exc.errno, f"cannot serve on {host}:{port}: {reason}") from exc


class SandboxServer:
    """A running ThreadedMotoServer with the sandbox extensions installed."""

    def __init__(self, server: ThreadedMotoServer, url: str):
        self._server = server
        self.url = url
        self._environment = _EnvironmentOverride({S3_ENDPOINT_ENV: url, HOST_PREFIX_ENV: "true"})
        self._running = False

    def _started(self) -> SandboxServer:
        self._environment.apply()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving and restore the environment. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        self._server.stop()
        self._environment.restore()

    def client(self, service_name: str, region_name: str = "us-east-1", **kwargs: Any) -> Any:
        """A boto3 client for this server that works regardless of the environment."""
        kwargs.setdefault("aws_access_key_id", "testing")
        kwargs.setdefault("aws_secret_access_key", "testing")
        config = Config(inject_host_prefix=False)
        if "config" in kwargs:
            config = kwargs.pop("config").merge(config)
        return boto3.client(service_name, region_name=region_name, endpoint_url=self.url, config=config, **kwargs)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_server(host: str = "127.0.0.1", port: int = 0, *, wrap_app: AppWrapper | None = None) -> SandboxServer:
    """Install the sandbox extensions and serve them on ``host:port`` (0 picks a free port).

    ``wrap_app`` wraps moto's WSGI application (e.g. to serve extra routes in front of it).
    Raises OSError when the address cannot be bound (errno EADDRINUSE: port in use).
    """
    sandbox.install()  # looked up at call time: the package may be patched in tests
    server = _ReportingMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    if wrap_app is not None:
        # werkzeug's request handler looks the application up on the server for each request.
        assert server._server is not None
        server._server.app = wrap_app(server._server.app)
    _, bound_port = server.get_host_and_port()
    return SandboxServer(server, _url_for(host, bound_port))._started()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m auditor.sandbox.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind, 0 for any free port (default: 5000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    stop_requested = threading.Event()

    def _request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    # Handle SIGINT explicitly too: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    with start_server(args.host, args.port) as server:
        print(f"Sandbox serving at {server.url}", flush=True)
        print(f"Clients in other processes: export {HOST_PREFIX_ENV}=true  (HealthOmics host prefixes)", flush=True)
        while not stop_requested.wait(timeout=1.0):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
