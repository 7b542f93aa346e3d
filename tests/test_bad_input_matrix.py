"""Every command that reads one of the tool's own files x every kind of hostile file.

Each cell of the matrix must end in exit code 2 with one line on stderr naming the file: no traceback,
no hang (a SIGALRM turns a hang into a test failure), no MemoryError. The workflow-folder readers of
the gate (symlinks out, include cycles, zip bombs) have their own matrix in test_gate_hostile.py.

The last tests take each guard of ``auditor.files`` away in turn and show that a cell of the matrix then
fails: the guards are what keeps the matrix green, not luck.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auditor import files
from auditor.cli import main
from auditor.errors import InputError
from tests.support.alarm import Hung, deadline

HANG_SECONDS = 20

GOOD_FINDINGS = {
    "schema_version": "1.1",
    "run": {"id": "r1", "started": "2026-12-01T00:00:00Z", "rules": [], "targets": []},
    "findings": [],
}
GOOD_INVENTORY = {"schema_version": 1, "snapshots": []}
WDL = 'version 1.0\ntask t {\n  command <<< echo >>>\n  runtime { docker: "ubuntu:22.04" }\n}\n'


# --- the hostile files ---------------------------------------------------------------------------


def _fifo(d: Path) -> Path:
    p = d / "input.json"
    os.mkfifo(p)
    return p


def _dev_zero(d: Path) -> Path:
    p = d / "input.json"
    p.symlink_to("/dev/zero")
    return p


def _oversize(d: Path) -> Path:
    p = d / "input.json"
    with p.open("wb") as handle:  # sparse: 2 MiB past a 1 MiB limit without writing them
        handle.truncate(2 * files.MIB)
    return p


def _write(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(content)
        return p

    return make


ALIAS_BOMB = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
    f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n".encode() for n, p in zip("bcdefghi", "abcdefgh", strict=True)
)

BAD_INPUTS: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo,
    "dev-zero": _dev_zero,
    "directory": lambda d: d,
    "missing": lambda d: d / "nope.json",
    "oversize": _oversize,
    "empty": _write("input.json", b""),
    "deep-json": _write("input.json", b"[" * 50_000 + b"]" * 50_000),
    "deep-json-300": _write("input.json", b'{"a":' * 300 + b"1" + b"}" * 300),
    "huge-int-json": _write("input.json", b'{"a": ' + b"9" * 5000 + b"}"),
    "nan-json": _write("input.json", b'{"a": NaN}'),
    "invalid-utf8": _write("input.json", b'{"a": "\xff\xfe\xc3\x28"}'),
    "binary": _write("input.json", os.urandom(4096)),
    "wrong-type": _write("input.json", b"[1, 2, 3]"),
    "deep-yaml": _write("input.yaml", b"a: " + b"[" * 50_000 + b"]" * 50_000),
    "huge-int-yaml": _write("input.yaml", b"a: " + b"9" * 5000 + b"\n"),
    "alias-bomb-yaml": _write("input.yaml", ALIAS_BOMB),
    "invalid-utf8-yaml": _write("input.yaml", b"a: \xff\xfe\n"),
}


# --- the commands ----------------------------------------------------------------------------------


def _good(d: Path) -> dict[str, str]:
    d.mkdir(exist_ok=True)
    (d / "findings.json").write_text(json.dumps(GOOD_FINDINGS))
    (d / "inventory.json").write_text(json.dumps(GOOD_INVENTORY))
    wf = d / "wf"
    wf.mkdir(exist_ok=True)
    (wf / "main.wdl").write_text(WDL)
    return {"findings": str(d / "findings.json"), "inventory": str(d / "inventory.json"), "wf": str(wf)}


# name -> argv builder (bad file, good files, output folder)
COMMANDS: dict[str, Callable[[str, dict[str, str], str], list[str]]] = {
    "scan --config": lambda f, g, o: ["scan", "--config", f, "--inventory", g["inventory"], "--out", o],
    "scan --inventory": lambda f, g, o: ["scan", "--inventory", f, "--out", o],
    "scan --suppressions": lambda f, g, o: ["scan", "--inventory", g["inventory"], "--suppressions", f, "--out", o],
    "scan --previous": lambda f, g, o: ["scan", "--inventory", g["inventory"], "--previous", f, "--out", o],
    "fix --findings": lambda f, g, o: ["fix", "--findings", f, "--out", o],
    "fix --apply --plan": lambda f, g, o: ["fix", "--apply", "--plan", f, "--out", o],
    "rollback": lambda f, g, o: ["rollback", f],
    "report": lambda f, g, o: ["report", f, "--out", o + "/"],
    "report --previous": lambda f, g, o: ["report", g["findings"], "--previous", f, "--out", o + "/"],
    "report --suppressions": lambda f, g, o: ["report", g["findings"], "--suppressions", f, "--out", o + "/"],
    "diff old": lambda f, g, o: ["diff", f, g["findings"]],
    "diff new": lambda f, g, o: ["diff", g["findings"], f],
    "merge": lambda f, g, o: ["merge", g["findings"], f, "--out", o],
    "gate --params": lambda f, g, o: ["gate", g["wf"], "--offline", "--params", f],
    "gate --map": lambda f, g, o: ["gate", g["wf"], "--offline", "--map", f],
    "gate --inventory": lambda f, g, o: ["gate", g["wf"], "--inventory", f],
    "gate --config": lambda f, g, o: ["gate", g["wf"], "--offline", "--config", f],
    "resolve --map": lambda f, g, o: ["resolve", "ubuntu", "--map", f, "--account", "123456789012"],
    "map validate": lambda f, g, o: ["map", "validate", f, "--inventory", g["inventory"]],
    "map generate --inventory": lambda f, g, o: ["map", "generate", g["wf"], "--inventory", f],
    "map generate --params": lambda f, g, o: ["map", "generate", g["wf"], "--params", f, "--inventory", g["inventory"]],
    "targets --config": lambda f, g, o: ["targets", "--config", f],
    "rules --config": lambda f, g, o: ["rules", "--config", f],
    "permissions --config": lambda f, g, o: ["permissions", "--scan", "--config", f],
    "demo --config": lambda f, g, o: ["demo", "--config", f, "--out", o],
}


# Where a well-formed file of the wrong shape is the command's own verdict rather than bad input.
VERDICTS = {("map validate", "wrong-type"): 1}  # "this map is invalid" is what `map validate` is asked


@pytest.fixture
def alarm() -> Iterator[None]:
    with deadline(HANG_SECONDS):
        yield


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMICS_ECR_AUDIT_MAX_INPUT_MB", "1")
    # No AWS account behind any of these: a command that got past its input would fail loudly, not call out.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing answers


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_input_is_one_line_and_exit_2(
    command: str, bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], alarm: None
) -> None:
    good = _good(tmp_path / "good")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path = BAD_INPUTS[bad](bad_dir)
    code, out, err = _run(COMMANDS[command](str(path), good, str(tmp_path / "out")), capsys)
    assert "Traceback" not in err + out
    if (command, bad) in VERDICTS:
        assert code == VERDICTS[command, bad]
        return
    assert code == 2, f"exit {code}\nstdout: {out[-500:]}\nstderr: {err[-500:]}"
    lines = [line for line in err.splitlines() if line.startswith("omics-ecr-audit:")]
    assert len(lines) == 1, err[-1000:]
    assert len(lines[0]) < 600, "the error names the problem; it does not echo the file"


def test_the_matrix_is_complete() -> None:
    """21+ commands x 16+ inputs, as the hardening issue asks."""
    assert len(COMMANDS) >= 21
    assert len(BAD_INPUTS) >= 16


# --- each guard matters ------------------------------------------------------------------------------


def _case(command: str, bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    good = _good(tmp_path / "good")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir(exist_ok=True)
    path = BAD_INPUTS[bad](bad_dir)
    code, _out, err = _run(COMMANDS[command](str(path), good, str(tmp_path / "out")), capsys)
    return code, err


def test_guard_regular_file_and_nonblocking_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without O_NONBLOCK and the S_ISREG check, opening a FIFO blocks until a writer comes: a hang."""
    monkeypatch.setattr(files.os, "O_NONBLOCK", 0)
    monkeypatch.setattr(files.stat, "S_ISREG", lambda mode: True)

    with pytest.raises(Hung), deadline(3):
        _case("report", "fifo", tmp_path, capsys)


def test_guard_size_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the limit the 2 MiB file is read whole (here harmless zeros; a 4 GiB one is a MemoryError)."""
    monkeypatch.setattr(files, "max_input_bytes", lambda small=False: 1 << 40)
    _, err = _case("report", "oversize", tmp_path, capsys)
    assert "larger than" not in err


def test_guard_depth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the depth check a document 300 deep reaches pydantic and our own walkers (which recurse)."""
    monkeypatch.setattr(files, "check_depth", lambda value, *a, **k: value)
    _, err = _case("report", "deep-json-300", tmp_path, capsys)
    assert "nests deeper" not in err


def test_guard_recursion_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C JSON parser raises RecursionError past ~1,000 levels: unhandled, that is a traceback."""

    def parse(text: str, **_: object) -> object:
        raise RecursionError

    monkeypatch.setattr(files.json, "loads", parse)
    with pytest.raises(InputError, match="nests too deeply"):
        files.parse_json("[]", "x", "plan")


def test_guard_huge_integers_and_constants() -> None:
    with pytest.raises(InputError, match="4300"):
        files.parse_json('{"a": ' + "9" * 5000 + "}", "x", "plan")
    with pytest.raises(InputError, match="NaN"):
        files.parse_json('{"a": NaN}', "x", "plan")


def test_guard_alias_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the expansion bound the 700-byte bomb loads; whatever walks it next visits 387 million nodes."""
    text = ALIAS_BOMB.decode()
    with pytest.raises(InputError, match="expands to more than"):
        files.parse_yaml(text, "x", "config")
    monkeypatch.setattr(files, "_expanded_size", lambda node: 1)
    # The depth walk below would itself be the first victim (minutes); skip it to show the load goes through.
    monkeypatch.setattr(files, "check_depth", lambda value, *a, **k: value)
    loaded = files.parse_yaml(text, "x", "config")  # loads: the bomb is armed, not defused
    assert isinstance(loaded, dict)


def test_recursive_anchor_is_refused() -> None:
    with pytest.raises(InputError, match="expands to more than"):
        files.parse_yaml("a: &a [*a]", "x", "config")


def test_ordinary_aliases_still_load() -> None:
    assert files.parse_yaml("base: &b {x: 1}\none: *b\ntwo: *b\n", "x", "config") == {
        "base": {"x": 1},
        "one": {"x": 1},
        "two": {"x": 1},
    }
