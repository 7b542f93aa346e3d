"""The gate treats a workflow folder (or zip) as hostile: every test drives ``omics-ecr-audit gate`` end to end.

Guards and the test that fails when each is removed (checked by disabling the guard locally):

* Workspace realpath-inside-root check (``Workspace.check``) -> the symlink tests (CWL, Nextflow, WDL,
  ``/dev/zero``) find ``root:`` in the output or lose the "symlink leaves" finding.
* ``fstat`` S_ISREG + O_NONBLOCK (``Workspace.read_bytes`` / ``check``) -> ``test_fifos_do_not_hang_the_gate``.
* per-file / total byte limits -> ``test_files_over_the_size_limits_are_refused_not_read``.
* no directory-symlink descent (``Workspace.walk``) -> ``test_directory_symlinks_are_not_followed``.
* CWL bounded loader (``cwl._Loader``) -> ``test_cwl_alias_bomb_and_deep_nesting_are_findings_not_hangs``.
* Nextflow include memo (``config_walked``) -> ``test_nextflow_configs_including_each_other_finish_fast``.
* Nextflow no-glob ``mention`` and unresolved-include finding ->
  ``test_nextflow_interpolated_include_is_unresolved_not_globbed``.
* Nextflow outside-root include refusal -> ``test_nextflow_include_outside_the_root_is_refused``.
* WDL refusal before any open -> ``test_wdl_import_symlinks_are_refused_before_any_open``.
* zip central-directory checks (entries, total size, ratio) -> ``test_zip_bombs_are_refused_before_extraction``.
* zip symlink entries skipped -> ``test_zip_symlink_entry_is_not_extracted_and_is_reported``.
* zip "never more bytes than declared" (``gate._write_member``): defence in depth. No test fails without
  it: ``zipfile`` itself stops at the declared size and then fails the CRC check, which
  ``test_zip_bombs_are_refused_before_extraction`` (the lying header) sees as the same exit 2.
"""

from __future__ import annotations

import json
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from auditor.cli import main
from tests.support.alarm import deadline

PASSWD = Path("/etc/passwd")
LEAVES = "symlink leaves the workflow folder"
TOOL = "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs: []\noutputs: []\n"
NF_MAIN = "process A {\n    container 'quay.io/org/a:1'\n    script: 'a'\n}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def link(root: Path, name: str, target: str | Path) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def gate(path: Path, out_dir: Path, seconds: int = 30) -> tuple[int, str, dict]:
    """(exit code, the JSON output as text, parsed) of ``gate PATH --offline --format json``."""
    out = out_dir / f"gate-{time.monotonic_ns()}.json"
    with deadline(seconds):
        rc = main(["gate", str(path), "--offline", "--format", "json", "--out", str(out)])
    text = out.read_text() if out.exists() else ""
    return rc, text, json.loads(text) if text else {}


def messages(doc: dict) -> list[str]:
    return [f["message"] for f in doc["findings"] if f["rule_id"] == "gate-extraction"]


def refused(doc: dict, file: str, reason: str) -> bool:
    return any(m.startswith(f"{file}:") and reason in m for m in messages(doc))


def assert_no_passwd(text: str) -> None:
    first = PASSWD.read_text().splitlines()[0]
    assert "root:" not in text and first not in text


# --- symlinks out of the folder -----------------------------------------------------------------------


def test_cwl_import_include_and_run_symlinks_to_etc_passwd_are_refused(tmp_path: Path, capsys) -> None:
    """$import, $include and run: to a symlink -> /etc/passwd: refused by name, content never in the output."""
    wf = write(
        tmp_path / "wf",
        {
            "tool.cwl": TOOL + "requirements:\n  - $import: parts/reqs.yml\n",
            "pull.cwl": TOOL + "requirements:\n  DockerRequirement:\n    dockerPull: {$include: parts/image.txt}\n",
            "main.cwl": "cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\n"
            "steps:\n  s:\n    run: parts/evil.tool\n    in: []\n    out: []\n",
        },
    )
    for name in ("parts/reqs.yml", "parts/image.txt", "parts/evil.tool"):
        link(wf, name, PASSWD)
    rc, text, doc = gate(wf, tmp_path)
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert_no_passwd(text + capsys.readouterr().out)
    assert any("$import 'parts/reqs.yml'" in m and LEAVES in m for m in messages(doc))
    assert any("$include 'parts/image.txt'" in m and LEAVES in m for m in messages(doc))
    assert any("run: 'parts/evil.tool'" in m and LEAVES in m for m in messages(doc))
    assert refused(doc, "parts/reqs.yml", LEAVES)  # the walk reaches the .yml itself too


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("nextflow.config", {"main.nf": NF_MAIN}),
        ("conf/evil.config", {"main.nf": NF_MAIN, "nextflow.config": "process.cpus = 1\n"}),
        ("modules/evil.nf", {"main.nf": NF_MAIN}),
    ],
)
def test_nextflow_symlinks_to_etc_passwd_are_refused(tmp_path: Path, name: str, extra: dict[str, str]) -> None:
    """nextflow.config, conf/*.config and *.nf as symlinks -> /etc/passwd."""
    wf = write(tmp_path / "wf", extra)
    link(wf, name, PASSWD)
    rc, text, doc = gate(wf, tmp_path)
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert_no_passwd(text)
    assert refused(doc, name, LEAVES)
    assert [c["raw"] for c in doc["containers"]] == ["quay.io/org/a:1"]


def test_nextflow_include_outside_the_root_is_refused(tmp_path: Path) -> None:
    """includeConfig '../outside.config' and '/etc/passwd': refused with a finding, never read."""
    write(tmp_path, {"outside.config": "process.container = 'evil/outside:1'\n"})
    wf = write(
        tmp_path / "wf",
        {"main.nf": NF_MAIN, "nextflow.config": "includeConfig '../outside.config'\nincludeConfig '/etc/passwd'\n"},
    )
    _, text, doc = gate(wf, tmp_path)
    assert_no_passwd(text)
    assert "evil/outside" not in text
    assert any("includeConfig '../outside.config' resolves outside the workflow folder" in m for m in messages(doc))
    assert any("includeConfig '/etc/passwd' resolves outside the workflow folder" in m for m in messages(doc))


def test_wdl_import_symlinks_are_refused_before_any_open(tmp_path: Path) -> None:
    """An import of a symlink -> /etc/passwd, and of a symlink -> a FIFO outside the root.

    Opening the FIFO (no writer) would block: finishing within the deadline shows it was never opened.
    """
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "pipe.wdl")
    wf = write(
        tmp_path / "wf",
        {
            "main.wdl": 'version 1.0\nimport "lib.wdl" as lib\nimport "pipe.wdl" as pipe\n'
            "task t {\n  command <<< echo >>>\n  runtime { docker: 'quay.io/org/t:1' }\n}\n"
        },
    )
    link(wf, "lib.wdl", PASSWD)
    link(wf, "pipe.wdl", outside / "pipe.wdl")
    rc, text, doc = gate(wf, tmp_path, seconds=20)
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert_no_passwd(text)
    assert refused(doc, "lib.wdl", LEAVES) and refused(doc, "pipe.wdl", LEAVES)
    assert any(m.startswith("main.wdl:") and "lib.wdl" in m and LEAVES in m for m in messages(doc))


def test_dev_zero_symlinked_inside_is_refused(tmp_path: Path) -> None:
    """/dev/zero as main.nf, tool.cwl and x.wdl: refused (leaves the folder), no MemoryError, no hang."""
    wf = tmp_path / "wf"
    for name in ("main.nf", "tool.cwl", "x.wdl"):
        link(wf, name, "/dev/zero")
    rc, _, doc = gate(wf, tmp_path, seconds=20)
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    for name in ("main.nf", "tool.cwl", "x.wdl"):
        assert refused(doc, name, LEAVES), messages(doc)


def test_directory_symlinks_are_not_followed(tmp_path: Path) -> None:
    """A folder symlink loop and a folder symlink to /etc: not descended, so nothing under them is read."""
    wf = write(tmp_path / "wf", {"main.nf": NF_MAIN})
    link(wf, "loop", wf)
    link(wf, "sub/back", "..")
    link(wf, "etc", "/etc")
    write(tmp_path / "elsewhere", {"hidden.nf": "process H {\n  container 'evil/hidden:1'\n  script: 'h'\n}\n"})
    link(wf, "modules", tmp_path / "elsewhere")
    rc, text, doc = gate(wf, tmp_path, seconds=20)
    assert rc == 1  # only the (offline, unmapped) container fails: a folder link is not a file to report
    assert_no_passwd(text)
    assert [c["raw"] for c in doc["containers"]] == ["quay.io/org/a:1"]
    assert "evil/hidden" not in text


# --- special files and sizes --------------------------------------------------------------------------


def test_fifos_do_not_hang_the_gate(tmp_path: Path) -> None:
    """A FIFO named like a workflow file of each language, and as nextflow.config and a conf/*.config."""
    wf = write(tmp_path / "wf", {"main.nf": NF_MAIN})
    (wf / "conf").mkdir()
    names = ("fifo.nf", "nextflow.config", "conf/fifo.config", "fifo.cwl", "fifo.wdl", "fifo.yml")
    for name in names:
        os.mkfifo(wf / name)
    started = time.monotonic()
    rc, _, doc = gate(wf, tmp_path, seconds=20)
    assert time.monotonic() - started < 20
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    for name in ("fifo.nf", "nextflow.config", "conf/fifo.config", "fifo.cwl", "fifo.wdl"):
        assert refused(doc, name, "not a regular file"), (name, messages(doc))


def test_files_over_the_size_limits_are_refused_not_read(tmp_path: Path, monkeypatch) -> None:
    """A sparse 4 GiB .nf and .cwl (per-file limit), then files over the per-run total."""
    monkeypatch.setenv("OMICS_ECR_AUDIT_GATE_MAX_FILE_MB", "1")
    wf = write(tmp_path / "wf", {"main.nf": NF_MAIN})
    for name in ("huge.nf", "huge.cwl"):
        with open(wf / name, "wb") as handle:
            handle.truncate(4 * 1024**3)  # sparse: no disk used
    rc, _, doc = gate(wf, tmp_path)
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert refused(doc, "huge.nf", "larger than 1 MiB") and refused(doc, "huge.cwl", "larger than 1 MiB")

    monkeypatch.setenv("OMICS_ECR_AUDIT_GATE_MAX_FILE_MB", "10")
    monkeypatch.setenv("OMICS_ECR_AUDIT_GATE_MAX_TOTAL_MB", "1")
    filler = "// " + "x" * 600_000 + "\n"
    wf2 = write(tmp_path / "wf2", {"a.nf": NF_MAIN + filler, "b.nf": NF_MAIN.replace("A", "B") + filler})
    rc, _, doc = gate(wf2, tmp_path)
    assert refused(doc, "b.nf", "exceed 1 MiB in all")
    assert [c["file"] for c in doc["containers"]] == ["a.nf"]


# --- expansion bombs ----------------------------------------------------------------------------------


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return TOOL + "requirements:\n  - class: DockerRequirement\n    dockerPull: x\n" + "\n".join(lines) + "\n"


def test_cwl_alias_bomb_and_deep_nesting_are_findings_not_hangs(tmp_path: Path, capsys) -> None:
    """A ~700-byte alias bomb (9**10 nodes expanded) and 10,000 nested brackets: one finding each, in seconds."""
    bomb = _alias_bomb()
    assert len(bomb) < 900
    wf = write(tmp_path / "wf", {"bomb.cwl": bomb, "deep.cwl": TOOL + "x: " + "[" * 10_000 + "]" * 10_000 + "\n"})
    started = time.monotonic()
    rc, _, doc = gate(wf, tmp_path, seconds=30)
    assert time.monotonic() - started < 10
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert refused(doc, "bomb.cwl", "expands to more than")
    assert refused(doc, "deep.cwl", "nests deeper than")
    assert "Traceback" not in capsys.readouterr().err


def test_nextflow_configs_including_each_other_finish_fast(tmp_path: Path) -> None:
    """Eight configs, each including all the others: each is walked once, every container is still found."""
    files = {"main.nf": NF_MAIN, "nextflow.config": "includeConfig 'conf/c0.config'\n"}
    for i in range(8):
        includes = "".join(f"includeConfig 'c{j}.config'\n" for j in range(8) if j != i)
        files[f"conf/c{i}.config"] = includes + f"process {{ withName: P{i} {{ container = 'org/p{i}:1' }} }}\n"
    wf = write(tmp_path / "wf", files)
    started = time.monotonic()
    _, _, doc = gate(wf, tmp_path, seconds=30)
    assert time.monotonic() - started < 10
    raws = sorted(c["raw"] for c in doc["containers"])
    assert raws == sorted(["quay.io/org/a:1", *(f"org/p{i}:1" for i in range(8))])


def test_nextflow_interpolated_include_is_unresolved_not_globbed(tmp_path: Path, monkeypatch) -> None:
    """``includeConfig "/${a}/${b}/${c}/x.config"``: reported with its expression; no folder outside is listed."""
    wf = write(
        tmp_path / "wf",
        {"main.nf": NF_MAIN, "nextflow.config": 'includeConfig "/${a}/${b}/${c}/x.config"\n'},
    )
    real_root = os.path.realpath(wf)
    listed_outside: list[str] = []
    scandir = os.scandir

    def watched(path=".", *args, **kwargs):
        real = os.path.realpath(os.fspath(path)) if not isinstance(path, int) else real_root
        if not (real == real_root or real.startswith(real_root + os.sep)):
            listed_outside.append(real)
        return scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", watched)
    from auditor.gate.gate import extract

    started = time.monotonic()
    with deadline(30):
        extractions = extract(wf)
    assert time.monotonic() - started < 10
    assert listed_outside == []
    errors = [e for x in extractions for e in x.errors]
    assert any(
        e.file == "nextflow.config"
        and e.line == 1
        and 'includeConfig "/${a}/${b}/${c}/x.config"' in e.message
        and "cannot be resolved" in e.message
        for e in errors
    ), errors
    monkeypatch.undo()
    _, _, doc = gate(wf, tmp_path)  # and it reaches the gate's output
    assert any("cannot be resolved" in m for m in messages(doc))


# --- zips ---------------------------------------------------------------------------------------------


def test_zip_bombs_are_refused_before_extraction(tmp_path: Path, capsys, monkeypatch) -> None:
    """Too many entries, a 1000:1 entry, more bytes than the total limit, a header lying about its size: exit 2."""
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        z.writestr("wf/main.nf", NF_MAIN)
        for i in range(10_001):
            z.writestr(f"wf/e/{i}", "")
    ratio = tmp_path / "ratio.zip"
    with zipfile.ZipFile(ratio, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("wf/main.nf", NF_MAIN)
        z.writestr("wf/zeros.txt", b"\0" * (8 * 1024 * 1024))
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:  # entries under 1 MiB: only the total catches it
        z.writestr("wf/main.nf", NF_MAIN)
        for name in ("a", "b", "c"):
            z.writestr(f"wf/{name}.txt", b"\0" * 900_000)
    lying = tmp_path / "lying.zip"
    with zipfile.ZipFile(lying, "w") as z:
        z.writestr("wf/main.nf", NF_MAIN + "// " + "y" * 5000 + "\n")
    data = bytearray(lying.read_bytes())
    real_size = (len(NF_MAIN) + 5004).to_bytes(4, "little")
    for offset in [i for i in range(len(data) - 4) if data[i : i + 4] == real_size]:
        data[offset : offset + 4] = (10).to_bytes(4, "little")  # local and central uncompressed size
    lying.write_bytes(bytes(data))

    assert main(["gate", str(many), "--offline"]) == 2
    assert "10002 entries (limit 10000)" in capsys.readouterr().err
    assert main(["gate", str(ratio), "--offline"]) == 2
    assert "compressed more than 100:1" in capsys.readouterr().err
    monkeypatch.setenv("OMICS_ECR_AUDIT_GATE_MAX_TOTAL_MB", "1")
    assert main(["gate", str(big), "--offline"]) == 2
    assert "unpacks to" in capsys.readouterr().err
    monkeypatch.delenv("OMICS_ECR_AUDIT_GATE_MAX_TOTAL_MB")
    assert main(["gate", str(lying), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "wf/main.nf" in err and "refusing the archive" in err and "Traceback" not in err


def test_zip_symlink_entry_is_not_extracted_and_is_reported(tmp_path: Path, monkeypatch) -> None:
    """A zip entry with S_IFLNK mode -> /etc/passwd: never a symlink on disk, reported as a finding."""
    archive = tmp_path / "wf.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("wf/main.nf", NF_MAIN)
        info = zipfile.ZipInfo("wf/evil.nf")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    created: list[str] = []
    monkeypatch.setattr(os, "symlink", lambda *a, **k: created.append(str(a)))
    _, text, doc = gate(archive, tmp_path)
    assert created == []
    assert_no_passwd(text)
    assert refused(doc, "evil.nf", "a symlink entry in the zip; not extracted")
    assert [c["raw"] for c in doc["containers"]] == ["quay.io/org/a:1"]


def test_refusals_reach_text_and_sarif_outputs(tmp_path: Path) -> None:
    wf = write(tmp_path / "wf", {"main.nf": NF_MAIN})
    link(wf, "evil.nf", PASSWD)
    sarif = tmp_path / "out.sarif"
    text_out = tmp_path / "out.txt"
    with deadline(30):
        rc = main(["gate", str(wf), "--offline", "--out", str(text_out), "--sarif", str(sarif)])
    assert rc == 3  # an ERROR finding (a file not read): the gate cannot vouch for the workflow
    assert "ERROR 1" in text_out.read_text()
    body = sarif.read_text()
    assert LEAVES in body and "root:" not in body
