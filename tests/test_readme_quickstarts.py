"""The README's quick starts, run as written against the sandbox server, and its troubleshooting, provoked.

**Which blocks.** Every fenced block that follows a ``<!-- quickstart: NAME -->`` line of README.md is a quick
start. Each line is one command, split as a shell would (``shlex``: quotes, ``# comments``, ``> FILE``). A
command whose program no driver below knows fails the test: a new kind of command needs a driver, never a skip.

**Substituted, and why** (nothing else differs from what a reader types):

* *The endpoint.* A command naming ``--profile``, ``--region`` or ``--regions`` reads AWS: it gets the sandbox
  server's ``--endpoint-url`` appended. (The CLI sends HealthOmics calls to a ``workflows-`` host prefix unless
  ``--endpoint-url`` is given, so ``AWS_ENDPOINT_URL`` in the environment cannot stand in for it.) A command that
  already names ``http://127.0.0.1:5000`` gets the server's own URL in its place.
* *``sandbox --port 5000``* runs as ``--port 0`` (port 5000 may be taken on a test machine): it is this module's
  server, started from the README's own line, and later lines use the URL it prints.
* *The reader's shell.* Commands run in a scratch folder with an environment holding no credentials and AWS
  config files that do not exist; "paste the export lines" applies exactly the ``unset``/``export`` lines the
  sandbox printed; ``--profile prod`` finds a profile ``prod`` in a temporary AWS config (dummy keys, the
  sandbox's region), so the line runs exactly as written; a CI job's credentials are the sandbox's dummy keys.
* *The reader's workflow.* ``workflows/rnaseq`` is a one-task WDL workflow on ``ubuntu:22.04``, which the demo
  account's Docker Hub cache rule serves.
* *``pip install .``* runs with ``--dry-run`` from the repository root: it resolves and builds the project's
  metadata as a reader's install would, without replacing the environment the suite runs in
  (tests/test_packaging.py installs the built wheel and sdist into new virtualenvs).
* *``make demo FIX=1``* runs the repository's Makefile in the scratch folder with ``VENV`` set to the
  environment running the suite and its install step skipped (``-o``): the recipe's own command, as written.
* *Deployment* (``make -C deploy ...``) needs an AWS account and the SAM CLI: it is checked, not run, with
  ``make -n`` (the targets exist and expand; tests/test_deploy.py lints the templates themselves).

**Troubleshooting.** Each ``<!-- troubleshooting: ID -->`` entry quotes, in its bold lead, what the reader
sees; the scenario of the same ID provokes it (no credentials, an SSO profile without a session, a profile that
does not exist, no region, moto missing, a closed endpoint, and AccessDenied and throttling injected by a proxy
in front of the sandbox server) and the quoted text (``…`` between fragments) must be in the CLI's output, with
the exit code the entry names.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from auditor import __version__
from tests.support.journeys import PROJECT_ROOT, REGION, SandboxProcess, journey_env

README = PROJECT_ROOT / "README.md"
SANDBOX_URL_IN_README = "http://127.0.0.1:5000"
QUICKSTARTS = ["try-it", "try-it-against-the-sandbox", "scan-your-account", "gate-in-ci", "nightly-on-aws"]
# A command naming one of these reads AWS, and is pointed at the sandbox server.
READS_AWS = {"--profile", "--region", "--regions"}
# What each subcommand of a quick start must exit with against the demo account (its FAILs are on purpose).
EXPECTED_EXIT = {"scan": 1, "fix": 1, "gate": 0, "map": 0, "permissions": 0}
WDL = """version 1.0

workflow rnaseq {
  call align
}

task align {
  command <<<
    echo aligned
  >>>
  runtime {
    docker: "ubuntu:22.04"
  }
}
"""
# The conftest's autouse fixture empties XDG_CACHE_HOME for every test; pip keeps the user's cache.
_USER_XDG_CACHE_HOME = os.environ.get("XDG_CACHE_HOME")


# --- reading the README ----------------------------------------------------------------------------


@dataclass
class Command:
    text: str  # the line as written (continuations joined)
    argv: list[str]
    stdout_to: str | None = None  # `> FILE`


def _fenced_after(text: str, marker: str) -> str:
    """The body of the fenced block that starts on the line after ``marker`` (blank lines allowed)."""
    match = re.search(re.escape(marker) + r"\n\s*```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert match, f"README.md: no fenced block after {marker}"
    return match.group(1)


def _commands(block: str) -> list[Command]:
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        stdout_to = None
        if ">" in argv:
            at = argv.index(">")
            assert at == len(argv) - 2, f"only `> FILE` at the end is understood: {line}"
            stdout_to = argv[at + 1]
            argv = argv[:at]
        out.append(Command(line.strip(), argv, stdout_to))
    return out


def readme() -> str:
    return README.read_text(encoding="utf-8")


def quickstart(name: str) -> list[Command]:
    return _commands(_fenced_after(readme(), f"<!-- quickstart: {name} -->"))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


# --- running a command as the reader would -----------------------------------------------------------


@dataclass
class Reader:
    """A reader's shell: a scratch folder and an environment, pointed at one sandbox server."""

    cwd: Path
    env: dict[str, str]
    sandbox_url: str
    ran: list[tuple[Command, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def run_block(self, name: str) -> None:
        for command in quickstart(name):
            self.run(command)

    def run(self, command: Command) -> subprocess.CompletedProcess[str]:
        program = command.argv[0]
        if program.endswith("omics-ecr-audit"):
            done = self._cli(command)
        elif program == "make":
            done = self._make(command)
        elif program == "pip":
            done = self._pip(command)
        else:
            raise AssertionError(
                f"README quick start runs {program!r}, which this test has no driver for: {command.text}"
            )
        if command.stdout_to:
            (self.cwd / command.stdout_to).write_text(done.stdout, encoding="utf-8")
        self.ran.append((command, done))
        return done

    def _cli(self, command: Command) -> subprocess.CompletedProcess[str]:
        program, *args = command.argv
        assert program in {"omics-ecr-audit", ".venv/bin/omics-ecr-audit"}, command.text
        assert args and args[0] != "sandbox", "the sandbox line is started by the module's fixture"
        args = [a.replace(SANDBOX_URL_IN_README, self.sandbox_url) for a in args]
        if READS_AWS.intersection(args) and "--endpoint-url" not in args:
            args += ["--endpoint-url", self.sandbox_url]
        done = subprocess.run(
            [*_cli_program(), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        shown = f"$ {command.text}\nexit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, shown
        assert done.returncode == EXPECTED_EXIT.get(args[0], 0), shown
        return done

    def _make(self, command: Command) -> subprocess.CompletedProcess[str]:
        args = command.argv[1:]
        if args[:2] == ["-C", "deploy"]:  # needs AWS: expanded, not run
            argv, cwd = ["make", "-n", *args], PROJECT_ROOT
        else:  # the repository's Makefile, in the scratch folder, with this environment as its .venv
            venv = Path(sys.prefix)
            argv = ["make", "-f", str(PROJECT_ROOT / "Makefile"), "-o", str(venv / ".installed-stamp"), f"VENV={venv}"]
            argv, cwd = [*argv, *args], self.cwd
        done = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"$ {command.text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def _pip(self, command: Command) -> subprocess.CompletedProcess[str]:
        assert command.argv[1] == "install", command.text
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHONPATH"))}
        if _USER_XDG_CACHE_HOME is None:
            env.pop("XDG_CACHE_HOME", None)
        else:
            env["XDG_CACHE_HOME"] = _USER_XDG_CACHE_HOME
        argv = [sys.executable, "-m", "pip", "install", "--dry-run", *command.argv[2:]]
        done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"$ {command.text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done


def _cli_program() -> list[str]:
    """The installed console script of the environment running the suite (what `.venv/bin/` holds)."""
    script = Path(sys.executable).parent / "omics-ecr-audit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditor"]


def _reader_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A new shell: no credentials, no region, AWS config files that do not exist, no instance metadata."""
    env = {k: v for k, v in journey_env(tmp).items() if k not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}
    env.pop("AWS_DEFAULT_REGION", None)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=str(tmp / "cache"),
        HOME=str(tmp / "home"),  # ~/.aws of the machine stays out of it (SSO token cache included)
        **extra,
    )
    return env


def _pasted(env: dict[str, str], printed: str) -> dict[str, str]:
    """The environment after pasting the `unset` and `export` lines the sandbox printed."""
    env = dict(env)
    for line in printed.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["unset"]:
            for name in words[1:]:
                env.pop(name, None)
        elif words[:1] == ["export"]:
            for assignment in words[1:]:
                name, value = assignment.split("=", 1)
                env[name] = value
    return env


# --- the sandbox server, started from the README's own line --------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    (line,) = [c for c in quickstart("try-it") if "sandbox" in c.argv[1:2]]
    args = line.argv[2:]
    assert args[:2] == ["--port", "5000"], f"the README serves the sandbox on port 5000: {line.text}"
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"), *args[2:])  # --port 0 and the rest as written
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop(signal.SIGTERM)


# --- the README's shape ----------------------------------------------------------------------------


def test_the_readme_starts_with_the_two_set_up_commands() -> None:
    text = readme()
    first = re.match(r"# omics-ecr-audit\n\n```sh\n(.*?)\n```\n", text, re.DOTALL)
    assert first, "README.md must start with its title and the set-up block"
    assert [c.argv for c in _commands(first.group(1))] == [["make", "demo"], ["make", "test"]]
    for target in ("demo", "test"):  # both exist and expand on a fresh clone (make creates .venv first)
        done = subprocess.run(["make", "-n", target], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


def test_every_quick_start_is_marked_and_has_a_test() -> None:
    marked = re.findall(r"<!-- quickstart: ([\w-]+) -->", readme())
    assert marked == QUICKSTARTS, "a quick start was added, renamed or removed: drive it here"


def test_the_table_of_contents_and_every_anchor_lead_to_a_heading() -> None:
    text = readme()
    headings = {_slug(h) for h in re.findall(r"^#{2,4} (.+)$", re.sub(r"```.*?```", "", text, flags=re.DOTALL), re.M)}
    anchors = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert anchors, "no table of contents"
    assert anchors <= headings, f"anchors without a heading: {sorted(anchors - headings)}"
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    assert {"quick-starts", "troubleshooting"} <= set(re.findall(r"\]\(#([^)]+)\)", contents))


def test_the_block_the_reader_runs_uses_the_venv_the_makefile_creates() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^VENV \?= \.venv$", makefile, re.M)
    for name in ("try-it", "try-it-against-the-sandbox"):
        for command in quickstart(name):
            assert command.argv[0] in {"make", ".venv/bin/omics-ecr-audit"}, command.text


# --- the quick starts ------------------------------------------------------------------------------


def test_try_it(server: SandboxProcess, tmp_path: Path) -> None:
    reader = Reader(tmp_path, _reader_env(tmp_path), server.url)
    for command in quickstart("try-it"):
        if command.argv[1:2] == ["sandbox"]:
            continue  # the module's server, started from this very line
        reader.run(command)
    after = json.loads((tmp_path / "demo-out" / "findings-after.json").read_text(encoding="utf-8"))
    before = json.loads((tmp_path / "demo-out" / "findings.json").read_text(encoding="utf-8"))
    fails = [f for f in before["findings"] if f["status"] == "FAIL"]
    assert fails and len([f for f in after["findings"] if f["status"] == "FAIL"]) < len(fails)
    assert (tmp_path / "demo-out" / "report.html").exists() and (tmp_path / "demo-out" / "report-after.html").exists()


def test_try_it_against_the_sandbox(server: SandboxProcess, tmp_path: Path) -> None:
    env = _pasted(_reader_env(tmp_path), server.stdout())
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_DEFAULT_REGION"] == REGION, "the sandbox printed no export lines"
    reader = Reader(tmp_path, env, server.url)
    reader.run_block("try-it-against-the-sandbox")
    assert "<html" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8").lower()
    findings = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert {f["status"] for f in findings["findings"]} >= {"PASS", "FAIL"}
    assert not [f for f in findings["findings"] if f["status"] == "ERROR"]
    assert json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))["changes"]


def _profile(tmp: Path, name: str, body: str, credentials: str = "") -> dict[str, str]:
    (tmp / "aws").mkdir(exist_ok=True)
    (tmp / "aws" / "config").write_text(f"[profile {name}]\n{body}", encoding="utf-8")
    (tmp / "aws" / "credentials").write_text(credentials, encoding="utf-8")
    return {
        "AWS_CONFIG_FILE": str(tmp / "aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws" / "credentials"),
    }


def test_scan_your_account(server: SandboxProcess, tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "prod",
        f"region = {REGION}\n",
        "[prod]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    reader = Reader(tmp_path, _reader_env(tmp_path, **profile), server.url)
    reader.run_block("scan-your-account")
    installs = [done.stdout for command, done in reader.ran if command.argv[0] == "pip"]
    assert installs and f"Would install omics-ecr-audit-{__version__}" in installs[0], installs
    policy = json.loads((tmp_path / "scan-policy.json").read_text(encoding="utf-8"))
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "ecr:DescribeRepositories" in actions and not [a for a in actions if "Put" in a or "Create" in a]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert not [f for f in findings["findings"] if f["status"] == "ERROR"], "the profile did not reach the sandbox"
    assert {(t["region"], t["status"]) for t in findings["run"]["targets"]} == {
        ("us-east-1", "scanned"),
        ("eu-west-1", "scanned"),
    }
    for report in ("report.html", "report.sarif", "plan.json"):
        assert (tmp_path / "out" / report).exists(), report
    fix = next(done for command, done in reader.ran if command.argv[1:2] == ["fix"])
    assert "nothing was changed" in fix.stdout


def test_gate_in_ci(server: SandboxProcess, tmp_path: Path) -> None:
    workflow = tmp_path / "workflows" / "rnaseq"
    workflow.mkdir(parents=True)
    (workflow / "main.wdl").write_text(WDL, encoding="utf-8")
    env = _reader_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # the CI job's keys
    Reader(tmp_path, env, server.url).run_block("gate-in-ci")
    mapping = json.loads((tmp_path / "registry-map.json").read_text(encoding="utf-8"))
    assert [m["ecrRepositoryPrefix"] for m in mapping["registryMappings"]] == ["docker-hub"]
    assert json.loads((tmp_path / "gate.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"


def test_nightly_on_aws_is_checked_not_run(tmp_path: Path) -> None:
    """The deployment needs an AWS account and the SAM CLI: its lines are expanded with ``make -n`` only."""
    reader = Reader(tmp_path, _reader_env(tmp_path), "http://127.0.0.1:1")
    reader.run_block("nightly-on-aws")
    expanded = {tuple(command.argv[1:]): done.stdout for command, done in reader.ran}
    assert "ssm put-parameter" in expanded[("-C", "deploy", "external-id")]
    assert "sam deploy" in expanded[("-C", "deploy", "deploy")]


# --- troubleshooting -------------------------------------------------------------------------------


class _FaultProxy:
    """An HTTP proxy in front of the sandbox server that answers one API operation with an AWS error."""

    def __init__(self, upstream: str, operation: str, code: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if (self.headers.get("X-Amz-Target") or "").endswith(f".{operation}"):
                    proxy.injected += 1
                    payload = json.dumps({"__type": code, "message": "injected by the README's troubleshooting test"})
                    self._reply(400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
                answer = requests.request(
                    self.command, upstream + self.path, headers=headers, data=body, timeout=60, allow_redirects=False
                )
                skip = {"content-length", "content-encoding", "transfer-encoding", "connection"}
                self._reply(
                    answer.status_code,
                    {k: v for k, v in answer.headers.items() if k.lower() not in skip},
                    answer.content,
                )

            def _reply(self, status: int, headers: dict[str, str], body: str | bytes) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, *_: object) -> None:
                pass

        self.injected = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Provoked:
    result: subprocess.CompletedProcess[str]
    check: Callable[[], None] = lambda: None


def _cli(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli_program(), *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _sso_profile(tmp: Path) -> dict[str, str]:
    body = (
        "sso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadOnly\nregion = us-east-1\n"
        "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
    )
    return _profile(tmp, "prod", body)


def _with_fault(server: SandboxProcess, tmp: Path, operation: str, code: str) -> Provoked:
    proxy = _FaultProxy(server.url, operation, code)
    try:
        env = _reader_env(tmp, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        result = _cli(tmp, env, "scan", "--endpoint-url", proxy.url, "--regions", REGION, "--out", "out")
    finally:
        proxy.close()

    def check() -> None:
        assert proxy.injected, f"{operation} was never called: nothing was provoked"
        doc = json.loads((tmp / "out" / "findings.json").read_text(encoding="utf-8"))
        statuses = {f["status"] for f in doc["findings"]}
        assert {"PASS", "FAIL", "ERROR"} <= statuses, "the other findings must stand beside the ERROR"

    return Provoked(result, check)


def _provoke(scenario: str, server: SandboxProcess, tmp: Path) -> Provoked:
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    if scenario == "no-credentials":
        return Provoked(_cli(tmp, _reader_env(tmp, AWS_DEFAULT_REGION=REGION), "scan", "--out", "out"))
    if scenario == "sso-not-logged-in":
        return Provoked(_cli(tmp, _reader_env(tmp, **_sso_profile(tmp)), "scan", "--profile", "prod", "--out", "out"))
    if scenario == "wrong-profile":
        env = _reader_env(tmp, **_profile(tmp, "staging", "region = us-east-1\n"))
        return Provoked(_cli(tmp, env, "scan", "--profile", "prod", "--out", "out"))
    if scenario == "no-region":
        return Provoked(_cli(tmp, _reader_env(tmp, **creds), "scan", "--endpoint-url", server.url, "--out", "out"))
    if scenario == "sandbox-extra-missing":
        code = "import sys; sys.modules['moto'] = None; from auditor.cli import main; sys.exit(main(sys.argv[1:]))"
        env = _reader_env(tmp)
        done = subprocess.run(
            [sys.executable, "-c", code, "demo", "--out", "demo-out"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Provoked(done)
    if scenario == "sandbox-not-running":
        url = f"http://127.0.0.1:{_closed_port()}"
        return Provoked(_cli(tmp, _reader_env(tmp, AWS_DEFAULT_REGION=REGION, **creds), "scan", "--endpoint-url", url))
    if scenario == "access-denied":
        return _with_fault(server, tmp, "GetRepositoryPolicy", "AccessDeniedException")
    if scenario == "throttling":
        return _with_fault(server, tmp, "GetRegistryScanningConfiguration", "ThrottlingException")
    raise AssertionError(f"README troubleshooting entry {scenario!r} has no scenario here: add one")


def _troubleshooting() -> dict[str, str]:
    """Entry id -> the entry's text (up to the next entry or the end of the section)."""
    section = readme().split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"<!-- troubleshooting: ([\w-]+) -->\n", section)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


TROUBLESHOOTING = list(_troubleshooting())


def test_the_troubleshooting_entries_cover_the_first_errors() -> None:
    assert set(TROUBLESHOOTING) >= {
        "no-credentials",
        "sso-not-logged-in",
        "wrong-profile",
        "no-region",
        "sandbox-extra-missing",
        "access-denied",
        "throttling",
    }


@pytest.mark.parametrize("entry", TROUBLESHOOTING)
def test_troubleshooting_entry_shows_what_the_cli_says(entry: str, server: SandboxProcess, tmp_path: Path) -> None:
    text = _troubleshooting()[entry]
    lead = re.match(r"\* \*\*(.+?)\*\*", text)
    assert lead, f"entry {entry}: starts with the bold text the reader sees"
    quoted = re.findall(r"`([^`]+)`", lead.group(1))
    assert quoted, f"entry {entry}: its bold lead quotes the CLI"
    provoked = _provoke(entry, server, tmp_path)
    result = provoked.result
    output = result.stdout + result.stderr
    shown = (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr, shown
    for fragment in quoted:
        pieces = [p for p in fragment.split("…") if p]
        position = 0
        for piece in pieces:  # in order, anything between them
            found = output.find(piece, position)
            assert found >= 0, f"entry {entry}: the README quotes {fragment!r}; the CLI says:\n{shown}"
            position = found + len(piece)
    code = re.search(r"\bexit (\d)\b", text)
    if code:
        assert result.returncode == int(code.group(1)), f"entry {entry}: the README says exit {code.group(1)}\n{shown}"
    provoked.check()
