"""Run ``omics-ecr-audit`` as separate processes: the sandbox server, and CLI journeys against it.

Every command runs in a fresh interpreter (``python -m auditor ...``) with an
environment built from scratch: dummy credentials, a region, AWS config files that do
not exist (a developer's profile can never be used), ``NO_COLOR=1``. Nothing here
imports ``auditor.cli``: each process starts exactly as a user's shell would start it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ENDPOINT = re.compile(r"http://127\.0\.0\.1:(\d+)")
# Variables a child may inherit from the parent environment; everything AWS_* is dropped.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")


def journey_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a CLI process: dummy credentials only, never a real profile."""
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp / "no-such-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-such-aws-credentials"),
            "NO_COLOR": "1",
            # the user's own config dir (~/.config/omics-ecr-audit/config.yaml) must not reach a test's CLI
            "XDG_CONFIG_HOME": str(tmp / "no-such-config-home"),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class Result:
    """One finished CLI process."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ omics-ecr-audit {' '.join(self.args)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


@dataclass
class Timings:
    """Wall time per command, reported at the end of the module."""

    rows: list[tuple[str, float]] = field(default_factory=list)

    def add(self, label: str, seconds: float) -> None:
        self.rows.append((label, seconds))


TIMINGS = Timings()


def run_cli(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120) -> Result:
    """``python -m auditor ARGS`` in a fresh interpreter."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = Result(list(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    TIMINGS.add(" ".join(args[:2]), result.seconds)
    return result


class SandboxProcess:
    """``omics-ecr-audit sandbox --port 0`` as a child process, read through its printed endpoint."""

    def __init__(self, workdir: Path, *extra_args: str, env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.stdout_path = workdir / "sandbox.stdout"
        self.stderr_path = workdir / "sandbox.stderr"
        self.args = ["sandbox", "--port", "0", *extra_args]
        self.url = ""
        self.dirty = False  # set by tests that change the account; clean_demo() reseeds then
        # Files, not pipes: a full pipe (request logs) would block the server.
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "auditor", *self.args],
                cwd=workdir,
                env=env or journey_env(workdir),
                stdout=out,
                stderr=err,
            )

    # --- lifecycle -----------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 90) -> str:
        """Wait for the printed endpoint (printed only once the account is seeded) and return it."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            text = self.stdout()
            match = ENDPOINT.search(text)
            if match and "export AWS_DEFAULT_REGION=" in text:
                self.url = match.group(0)
                TIMINGS.add("sandbox start+seed", time.monotonic() - started)
                return self.url
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited {self.process.returncode}:\n{text}\n{self.stderr()}")
            time.sleep(0.1)
        raise TimeoutError(f"sandbox printed no endpoint in {timeout}s:\n{self.stdout()}\n{self.stderr()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    # --- state ---------------------------------------------------------------------------------

    def seed_info(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/_sandbox/seed", timeout=10)
        response.raise_for_status()
        return json.loads(response.text)

    def reseed(self, seed: str = "demo") -> dict[str, Any]:
        started = time.monotonic()
        response = requests.post(f"{self.url}/_sandbox/reseed", params={"seed": seed}, timeout=120)
        response.raise_for_status()
        self.dirty = seed != "demo"
        TIMINGS.add(f"reseed {seed}", time.monotonic() - started)
        return json.loads(response.text)

    def clean_demo(self) -> dict[str, Any]:
        """The demo account as seeded: reseed only if a test changed it."""
        return self.reseed("demo") if self.dirty else self.seed_info()
