"""The first hour of a real user, as processes: credentials, regions, missing extras, the terminal, selection.

Every behaviour a person types runs as ``python -m auditor ...`` in a fresh interpreter (tests/support/journeys.py):

* no credentials, a profile that does not exist, an expired SSO session, no region: one line on stderr saying
  what to do (``--profile``, ``aws sso login --profile X``, ``--region``/AWS_DEFAULT_REGION) and exit 2, for
  every command that talks to AWS; AWS rejecting the credentials in every cell is the same one line;
* ``demo`` without the ``sandbox`` extra: one line naming the extra, exit 2 (moto is made unimportable by a
  stub package first on PYTHONPATH, exactly what a missing distribution looks like to ``import moto``);
* the region a scan chose is printed; ``--quiet`` prints only FAIL and ERROR; ``--severity`` selects the rules
  that run; ``report`` and ``scan`` print their status lines on stdout;
* a terminal (a pseudo-terminal here) gets progress and colour, never with NO_COLOR, and text logs; a pipe
  gets neither progress nor colour, and JSON logs, as Lambda does;
* a reader that leaves early (``| head``) is no error for any command; shell completion answers.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.engine import load_builtin_rules
from auditor.findings import Severity
from tests.support.journeys import PROJECT_ROOT, REGION, Result, SandboxProcess, journey_env, run_cli

WORKFLOW = PROJECT_ROOT / "tests/data/gate/real/biowdl-tasks"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour (Select Graphic Rendition) sequence
ANY_ESCAPE = re.compile(r"\x1b")


def env_of(tmp: Path, **extra: str) -> dict[str, str]:
    """journey_env with a private config folder (a developer's own config file never counts)."""
    return journey_env(tmp, XDG_CONFIG_HOME=str(tmp / "xdg-config"), AWS_EC2_METADATA_DISABLED="true", **extra)


def no_credentials(tmp: Path, **extra: str) -> dict[str, str]:
    env = env_of(tmp, **extra)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    return env


def one_line(result: Result, code: int = 2) -> str:
    """Exactly one line on stderr, no traceback, the exit code; the line."""
    assert result.returncode == code, result.describe()
    assert "Traceback" not in result.stderr + result.stdout, result.describe()
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("omics-ecr-audit: "), result.describe()
    return lines[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop(signal.SIGTERM)


# --- credentials, profiles, regions ---------------------------------------------------------------------------

AWS_COMMANDS = {
    "scan": ["scan", "--out", "out"],
    "targets": ["targets"],
    "fix": ["fix", "--out", "out"],
    "explain": ["explain", "1234567"],
    "rollback": ["rollback", "backup.json"],
    "copy": ["copy", "ubuntu:22.04", "--region", REGION],
    "gate live": ["gate", str(WORKFLOW), "--region", REGION],
    "map generate live": ["map", "generate", str(WORKFLOW), "--region", REGION],
    "scan --previous s3": ["scan", "--inventory", "inv.json", "--previous", "s3://bucket/findings.json"],
}


@pytest.mark.parametrize("argv", list(AWS_COMMANDS.values()), ids=list(AWS_COMMANDS))
def test_no_credentials_is_one_line_saying_what_to_do(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "inv.json").write_text(json.dumps({"schema_version": 1, "snapshots": []}))
    line = one_line(run_cli(argv, cwd=tmp_path, env=no_credentials(tmp_path)))
    assert "no AWS credentials" in line and "--profile" in line and "aws sso login" in line, line
    assert not (tmp_path / "out").exists()


def test_a_profile_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    line = one_line(run_cli(["scan", "--profile", "prod"], cwd=tmp_path, env=env_of(tmp_path)))
    assert "AWS profile 'prod' is not in" in line and "aws configure list-profiles" in line, line
    # the same through AWS_PROFILE, for a command that opens its own session (gate)
    env = no_credentials(tmp_path, AWS_PROFILE="prod")
    gate = one_line(run_cli(["gate", str(WORKFLOW), "--region", REGION], cwd=tmp_path, env=env))
    assert "'prod' (from AWS_PROFILE) is not in" in gate, gate


def _sso_profile(tmp: Path, expired_token: bool) -> dict[str, str]:
    config = tmp / "aws-config"
    config.write_text(
        "[profile audit]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Audit\n"
        f"region = {REGION}\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
    )
    home = tmp / "home"
    if expired_token:  # botocore's token cache: sha1 of the session name
        import hashlib

        cache = home / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        token = {"startUrl": "https://example.awsapps.com/start", "region": "us-east-1", "accessToken": "x"}
        token["expiresAt"] = "2020-01-01T00:00:00Z"
        (cache / f"{hashlib.sha1(b'corp').hexdigest()}.json").write_text(json.dumps(token))
    return no_credentials(tmp, AWS_CONFIG_FILE=str(config), HOME=str(home))


@pytest.mark.parametrize("expired_token", [True, False], ids=["expired", "never-logged-in"])
def test_an_sso_session_that_expired_says_aws_sso_login(tmp_path: Path, expired_token: bool) -> None:
    env = _sso_profile(tmp_path, expired_token)
    line = one_line(run_cli(["scan", "--profile", "audit"], cwd=tmp_path, env=env))
    assert "`aws sso login --profile audit`" in line, line
    targets = one_line(run_cli(["targets"], cwd=tmp_path, env={**env, "AWS_PROFILE": "audit"}))
    assert "`aws sso login --profile audit`" in targets, targets


def test_no_region_is_one_line(tmp_path: Path) -> None:
    env = env_of(tmp_path)
    env.pop("AWS_DEFAULT_REGION")
    for argv in (["scan", "--out", "out"], ["fix", "--out", "out"], ["explain", "1234567"], ["targets"]):
        line = one_line(run_cli(argv, cwd=tmp_path, env=env))
        assert "no AWS region" in line and "--region" in line and "AWS_DEFAULT_REGION" in line, line


def test_credentials_aws_rejects_in_every_cell_are_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An expired session token surfaces at the first call of each cell: one line, not an ERROR per rule."""
    from auditor import scan
    from auditor.cli import main
    from auditor.findings import RunInfo, Target, build_document
    from auditor.models import CallError

    def refused(config: Any, rules: Any, **kwargs: Any) -> Any:
        error = CallError(operation="credentials", code="ExpiredToken", message="The security token has expired")
        run = RunInfo(id="r", started="2026-12-01T00:00:00Z", rules=[r.meta.id for r in rules])
        run.targets = [Target(account="unknown", region=r, status="error", error=error) for r in kwargs["regions"]]
        return build_document(run, [], {})

    monkeypatch.setattr(scan, "scan_live", refused)
    for key, value in env_of(tmp_path).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    code = main(["scan", "--out", str(tmp_path / "out"), "--regions", "us-east-1,eu-west-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "the AWS credentials have expired (ExpiredToken)" in err and "aws sso login" in err, err
    assert not (tmp_path / "out").exists()


# --- optional extras ------------------------------------------------------------------------------------------


def test_demo_without_the_sandbox_extra_names_it(tmp_path: Path) -> None:
    """moto missing, as Python sees it: a stub package first on the path raises ModuleNotFoundError for it."""
    stub = tmp_path / "no-moto" / "moto"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'moto'\", name='moto')\n")
    env = env_of(tmp_path, PYTHONPATH=f"{stub.parent}{os.pathsep}{PROJECT_ROOT}")
    for argv in (["demo", "--out", "demo-out"], ["sandbox", "--port", "0"]):
        line = one_line(run_cli(argv, cwd=tmp_path, env=env))
        assert "pip install 'omics-ecr-audit[sandbox]'" in line and "moto" in line, line
    assert not (tmp_path / "demo-out").exists()


# --- what a scan prints ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(server: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    server.clean_demo()
    tmp = tmp_path_factory.mktemp("scanned")
    full = run_cli(["scan", "--endpoint-url", server.url, "--out", "full"], cwd=tmp, env=env_of(tmp))
    quiet = run_cli(["scan", "--endpoint-url", server.url, "--out", "quiet", "-q"], cwd=tmp, env=env_of(tmp))
    return {"tmp": tmp, "full": full, "quiet": quiet}


def test_the_region_a_scan_chose_is_printed(scanned: dict[str, Any]) -> None:
    result = scanned["full"]
    assert result.returncode == 1, result.describe()
    assert f"omics-ecr-audit: region {REGION} (from AWS_DEFAULT_REGION" in result.stderr, result.describe()
    assert f"/{REGION} (scanned)" in result.stdout


def test_quiet_prints_only_fail_and_error(scanned: dict[str, Any]) -> None:
    quiet, full = scanned["quiet"], scanned["full"]
    assert quiet.returncode == full.returncode == 1, quiet.describe()
    doc = json.loads((scanned["tmp"] / "quiet" / "findings.json").read_text())
    problems = [f for f in doc["findings"] if f["status"] in ("FAIL", "ERROR")]
    lines = quiet.stdout.splitlines()
    assert len(lines) == 2 * len(problems) > 0, quiet.describe()
    assert all(line.startswith(("[FAIL ]", "[ERROR]", "        ")) for line in lines), quiet.stdout
    assert "findings written" not in quiet.stdout and "PASS" not in quiet.stdout
    assert "findings written to full/findings.json" in full.stdout


def test_severity_selects_the_rules_that_run(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    result = run_cli(
        ["scan", "--endpoint-url", server.url, "--out", "o", "--severity", "medium", "-q"],
        cwd=tmp_path,
        env=env_of(tmp_path),
    )
    assert result.returncode == 1, result.describe()
    doc = json.loads((tmp_path / "o" / "findings.json").read_text())
    rules = load_builtin_rules()
    expected = [r for r, rule in rules.items() if rule.meta.severity.rank >= Severity.MEDIUM.rank]
    assert doc["run"]["rules"] == expected and "pinned-by-digest" not in expected  # a low rule did not run
    assert {f["rule_id"] for f in doc["findings"]} <= set(expected)
    nothing = run_cli(["scan", "--inventory", "x.json", "--severity", "critical"], cwd=tmp_path, env=env_of(tmp_path))
    assert "no rule is selected by severity critical or higher" in one_line(nothing)


def test_report_writes_its_status_lines_to_stdout(scanned: dict[str, Any], tmp_path: Path) -> None:
    findings = scanned["tmp"] / "full" / "findings.json"
    result = run_cli(
        ["report", str(findings), "--format", "csv,sarif", "--out", "r/"], cwd=tmp_path, env=env_of(tmp_path)
    )
    assert result.returncode == 0 and result.stderr == "", result.describe()
    assert result.stdout.splitlines() == ["report written to r/report.csv", "report written to r/report.sarif"]


def test_an_s3_location_where_a_local_path_is_expected_is_refused(tmp_path: Path) -> None:
    argv = ["gate", str(WORKFLOW), "--offline", "--format", "json", "--out", "s3://bucket/gate.json"]
    line = one_line(run_cli(argv, cwd=tmp_path, env=env_of(tmp_path)))
    assert "gate --out: takes a local path, not an S3 location" in line, line
    assert not (tmp_path / "s3:").exists()


# --- the terminal ---------------------------------------------------------------------------------------------


def run_on_terminal(
    args: list[str], cwd: Path, env: dict[str, str], *, stdout_too: bool = True
) -> tuple[int, str, str]:
    """Run with stderr (and stdout unless ``stdout_too`` is False) on a pseudo-terminal: (code, tty text, stdout)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", *args],
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "200"},
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    piped = process.stdout.read().decode() if process.stdout is not None else ""
    return process.wait(timeout=120), seen.decode(errors="replace"), piped


def _without_no_color(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "NO_COLOR"}


def test_a_terminal_gets_progress_colour_and_text_logs(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    env = _without_no_color(env_of(tmp_path))
    args = ["--log-level", "info", "scan", "--endpoint-url", server.url, "--out", "o"]
    code, tty, _ = run_on_terminal(args, tmp_path, env)
    assert code == 1, tty
    assert " cells " in tty and "API calls" in tty, tty[-3000:]  # the progress display (Rich) was drawn
    assert "\x1b[1;31m[FAIL ]" in tty  # FAIL in colour on the terminal
    assert "collect_start" in tty and '"event": "collect_start"' not in tty  # text logs, not JSON
    assert "Traceback" not in tty


def test_no_color_means_no_colour_on_a_terminal(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    args = ["--log-level", "info", "scan", "--endpoint-url", server.url, "--out", "o"]
    code, tty, _ = run_on_terminal(args, tmp_path, env_of(tmp_path))  # journey_env sets NO_COLOR=1
    assert code == 1 and "[FAIL ]" in tty, tty[-3000:]
    assert not SGR.search(tty), sorted(set(SGR.findall(tty)))


def test_a_pipe_gets_no_progress_no_colour_and_json_logs(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    env = _without_no_color(env_of(tmp_path))
    result = run_cli(["--log-level", "info", "scan", "--endpoint-url", server.url, "--out", "o"], cwd=tmp_path, env=env)
    assert result.returncode == 1, result.describe()
    assert not ANY_ESCAPE.search(result.stdout + result.stderr), result.describe()
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "collect_start" for entry in logs), result.stderr
    assert " cells " not in result.stderr


@pytest.mark.parametrize(
    ("extra_env", "flag", "expect_json"),
    [({"AWS_LAMBDA_FUNCTION_NAME": "nightly"}, [], True), ({}, ["--log-format", "json"], True), ({}, [], False)],
    ids=["lambda", "--log-format json", "terminal"],
)
def test_log_format_on_a_terminal(
    tmp_path: Path, extra_env: dict[str, str], flag: list[str], expect_json: bool
) -> None:
    env = env_of(tmp_path, **extra_env)
    code, tty, _ = run_on_terminal([*flag, "--log-level", "info", "rules"], tmp_path, env, stdout_too=False)
    assert code == 0, tty
    line = next(line for line in tty.splitlines() if "configuration" in line)
    assert line.lstrip().startswith("{") is expect_json, tty


def test_text_logs_escape_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from auditor import logs

    logs.configure("info", "text")
    structlog.get_logger("t").info("hostile", name="evil\x1b[2J\nforged line\u202e")
    err = capsys.readouterr().err
    assert "\x1b[2J" not in err and "\u202e" not in err and err.count("\n") == 1, repr(err)
    assert "evil\\u001b[2J\\nforged line\\u202e" in err
    logs.configure()


# --- readers that leave early, and completion -----------------------------------------------------------------


@pytest.fixture(scope="module")
def findings_file(scanned: dict[str, Any]) -> Path:
    return scanned["tmp"] / "full" / "findings.json"


LEAVING_READERS = {
    "--help": ["--help"],
    "rules": ["rules"],
    "permissions": ["permissions", "--scan"],
    "completion": ["completion", "bash"],
    "report --out -": ["report", "{findings}", "--format", "csv", "--out", "-"],
    "diff": ["diff", "{findings}", "{findings}"],
    "scan (an error)": ["scan", "--group", "nope"],
}


@pytest.mark.parametrize("stderr_too", [False, True], ids=["| head", "2>&1 | head"])
@pytest.mark.parametrize("argv", list(LEAVING_READERS.values()), ids=list(LEAVING_READERS))
def test_a_reader_that_leaves_early_is_no_error(
    tmp_path: Path, findings_file: Path, argv: list[str], stderr_too: bool
) -> None:
    argv = [a.replace("{findings}", str(findings_file)) for a in argv]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    with open(write, "wb") as pipe:
        done = subprocess.run(
            [sys.executable, "-m", "auditor", *argv],
            cwd=tmp_path,
            env=env_of(tmp_path),
            stdout=pipe,
            stderr=pipe if stderr_too else subprocess.PIPE,
            timeout=120,
            check=False,
        )
    expected = 2 if argv[0] == "scan" else 0
    assert done.returncode == expected, done.stderr
    if not stderr_too:
        assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr


def test_completion_registration_and_answers(tmp_path: Path) -> None:
    assert (PROJECT_ROOT / "auditor" / "cli.py").read_text().startswith("# PYTHON_ARGCOMPLETE_OK")
    for shell in ("bash", "zsh", "fish"):
        script = run_cli(["completion", shell], cwd=tmp_path, env=env_of(tmp_path))
        assert script.returncode == 0 and "omics-ecr-audit" in script.stdout and "_ARGCOMPLETE" in script.stdout
    answers = tmp_path / "answers"
    for line, expected in (("omics-ecr-audit sc", "scan"), ("omics-ecr-audit scan --sev", "--severity")):
        env = env_of(
            tmp_path,
            _ARGCOMPLETE="1",
            _ARGCOMPLETE_IFS="\n",
            COMP_LINE=line,
            COMP_POINT=str(len(line)),
            _ARGCOMPLETE_STDOUT_FILENAME=str(answers),
        )
        done = subprocess.run(
            [sys.executable, "-m", "auditor"], cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert expected in [word.strip() for word in answers.read_text().split("\n")], answers.read_text()
