"""The gate's text report says why: every ERROR's reason and file:line, a legend for its markers, what it did not read.

Issue 17 (part 5) found the text mode hiding reasons (a broken WDL showed "ERROR 1" and nothing else), markers
unexplained, info-level "unpinned" results counted as FAILs, ``gate … | head`` ending in a BrokenPipe traceback, and
a sub-folder's ``nextflow.config`` ignored without a word. Each test below drives the real command (``main`` or a
separate process) on real workflow folders.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from auditor.cli import main
from auditor.findings import Severity, Status
from auditor.gate.command import MARKERS, render_gate
from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.gate import evaluate
from tests.support.sandbox import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "gate"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
OFFLINE = ["--offline", "--account", ACCOUNT, "--region", REGION]
QUAY_MAP = json.dumps({"registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]})


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def gate_text(tmp_path: Path, *argv: str) -> tuple[int, str]:
    out = tmp_path / f"gate-{len(list(tmp_path.glob('gate-*.txt')))}.txt"
    code = main(["gate", *argv, "--out", str(out)])
    return code, out.read_text(encoding="utf-8")


def container_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^(ok|!!|\?\?) ", line)]


# --- every ERROR with its reason and where -------------------------------------------------------


def test_a_broken_wdl_shows_each_error_with_its_file_line_and_reason(tmp_path: Path) -> None:
    code, text = gate_text(tmp_path, str(DATA / "wdl" / "broken"), *OFFLINE)
    assert code == 3  # a file that cannot be read: the gate cannot vouch for the workflow
    errors = [line for line in text.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 3, text
    assert errors[0].startswith("ERROR bad_syntax.wdl:10  syntax error: ")
    assert errors[1] == "ERROR bad_types.wdl:10  UnknownIdentifier: Unknown identifier missing_image"
    assert errors[2].startswith("ERROR uses_bad.wdl:3  Failed to import bad_syntax.wdl")
    assert "findings: FAIL 1  ERROR 3  PASS 0" in text  # the count agrees with the lines above it
    assert text.splitlines()[-1] == (
        "result: INCOMPLETE: some finding is ERROR, so the gate cannot vouch for the workflow (exit 3)"
    )


def test_an_error_without_a_line_names_its_file_and_a_folder_error_says_so(tmp_path: Path) -> None:
    wf = write(tmp_path / "wf", {"main.nf": "process A {\n    container 'quay.io/org/a:1'\n    script: 'a'\n}\n"})
    (wf / "evil.nf").symlink_to("/etc/passwd")
    _, text = gate_text(tmp_path, str(wf), *OFFLINE)
    assert "ERROR evil.nf  symlink leaves the workflow folder; not read" in text.splitlines()
    _, many = gate_text(tmp_path, str(DATA / "nextflow" / "discovery_many"), *OFFLINE)
    assert any(line.startswith("ERROR (the workflow folder)  2 Nextflow pipelines") for line in many.splitlines())


# --- markers and their legend ---------------------------------------------------------------------


def test_every_marker_in_the_report_is_explained_by_its_legend(tmp_path: Path) -> None:
    wf = write(
        tmp_path / "wf",
        {
            "main.nf": (
                f"process MAPPED {{\n    container 'quay.io/biocontainers/bwa:0.7.17'\n    script: 'a'\n}}\n"
                f"process UNMAPPED {{\n    container 'ghcr.io/org/plot:2'\n    script: 'b'\n}}\n"
                f"process DIRECT {{\n    container '{ECR}/app@sha256:{'a' * 64}'\n    script: 'c'\n}}\n"
            )
        },
    )
    (tmp_path / "map.json").write_text(QUAY_MAP)
    code, text = gate_text(tmp_path, str(wf), "--map", str(tmp_path / "map.json"), *OFFLINE)
    assert code == 1
    marks = {line.split()[0] for line in container_lines(text)}
    assert marks == {"ok", "!!"}
    (legend,) = [line for line in text.splitlines() if line.startswith("legend: ")]
    for mark in (*marks, "??", "(below threshold)"):
        assert f"{mark} = " in legend, (mark, legend)
    assert set(MARKERS) == {"ok", "!!", "??", "(below threshold)"}
    assert "!! main.nf:6  ghcr.io/org/plot:2  (process UNMAPPED)" in text


def test_a_check_that_could_not_run_is_marked_and_named() -> None:
    """``??``: an ERROR about one container (a policy that could not be read) is shown under it, with its reason."""
    ref = ContainerRef(
        file="main.nf", line=2, language="nextflow", context="process A", expression="'x'", raw=f"{ECR}/app:1"
    )
    doc = evaluate(
        [Extraction(language="nextflow", root=".", containers=[ref])], None, snap=None, account=ACCOUNT, region=REGION
    )
    resolves = next(f for f in doc.findings if f.rule_id == "gate-container-resolves")
    doc.findings.append(
        resolves.model_copy(
            update={
                "id": "oea-error",
                "rule_id": "gate-container-access",
                "status": Status.ERROR,
                "message": "repository policy of app not read",
            }
        )
    )
    doc.findings.append(
        resolves.model_copy(
            update={"id": "oea-na", "rule_id": "gate-image-runnable", "status": Status.NOT_APPLICABLE, "message": "m"}
        )
    )
    text = render_gate(doc, Severity.LOW)
    assert f"?? main.nf:2  {ECR}/app:1  (process A)" in text
    assert "     ERROR  gate-container-access: repository policy of app not read" in text
    assert "     n/a  gate-image-runnable: m" in text
    assert text.splitlines()[-1].endswith("(exit 3)")


# --- info-level results are not failures ----------------------------------------------------------


def test_an_unpinned_tag_is_reported_below_the_threshold_and_never_counted(tmp_path: Path) -> None:
    wf = write(tmp_path / "wf", {"main.nf": f"process A {{\n    container '{ECR}/app:1.0'\n    script: 'a'\n}}\n"})
    code, text = gate_text(tmp_path, str(wf), *OFFLINE)
    assert code == 0, text
    assert container_lines(text) == [f"ok main.nf:2  {ECR}/app:1.0  (process A)"]
    assert "     info (below threshold)  gate-image-pinned: " in text
    assert "findings: FAIL 0  ERROR 0  PASS 1  (below the low threshold, reported but not failures: " in text
    assert "1 info gate-image-pinned" in text
    assert text.splitlines()[-1] == "result: passed (exit 0)"
    # the user's own threshold decides: at `info` the same result fails the gate, and is counted
    code, strict = gate_text(tmp_path, str(wf), *OFFLINE, "--severity-threshold", "info")
    assert code == 1
    assert container_lines(strict) == [f"!! main.nf:2  {ECR}/app:1.0  (process A)"]
    assert "findings: FAIL 1  ERROR 0  PASS 1" in strict and "below the" not in strict


def test_junit_counts_as_failures_what_the_exit_code_counts(tmp_path: Path) -> None:
    wf = write(
        tmp_path / "wf",
        {"main.nf": f"process A {{\n    container '{ECR}/app:1.0'\n    script: 'a'\n}}\n"
         "process B {\n    container 'ghcr.io/org/b:1'\n    script: 'b'\n}\n"},
    )  # fmt: skip
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(wf), *OFFLINE, "--out", str(tmp_path / "t.txt"), "--junit", str(junit)]) == 1
    xml = JUnitXml.fromfile(str(junit))
    results = {
        (suite.name, case.name): type(case.result[0]).__name__ if case.result else "pass"
        for suite in xml
        for case in suite
    }
    assert results[("gate-container-resolves", "container/main.nf:6/ghcr.io/org/b:1")] == "Failure"
    assert results[("gate-image-pinned", f"container/main.nf:2/{ECR}/app:1.0")] == "Skipped"
    assert xml.failures == 1  # the unresolved one; the unpinned tags are skipped (below the threshold)
    skipped = [c.result[0] for s in xml for c in s if c.result and isinstance(c.result[0], Skipped)]
    assert all(r.type == "below-threshold" and "not pinned by digest" in (r.message or "") for r in skipped)
    titles = {s.name: {p.name: p.value for p in s.properties()} for s in xml}
    assert titles["gate-extraction"]["title"] == "Every workflow file can be read"  # no finding, still its title
    strict = tmp_path / "strict.xml"
    main(["gate", str(wf), *OFFLINE, "--severity-threshold", "info", "--format", "junit", "--out", str(strict)])
    assert JUnitXml.fromfile(str(strict)).failures == 3
    assert all(isinstance(c.result[0], Failure) for s in JUnitXml.fromfile(str(strict)) for c in s if c.result)


# --- a reader that leaves early -------------------------------------------------------------------


def _many_processes(root: Path, count: int = 700) -> Path:
    body = "".join(
        f"process P{i} {{\n    container 'quay.io/org/tool{i}:1'\n    script: 'x'\n}}\n" for i in range(count)
    )
    return write(root, {"main.nf": body})


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_gate_piped_into_head_stops_quietly_with_its_own_exit_code(tmp_path: Path, fmt: str) -> None:
    """`gate … | head -n 1` with more output than a pipe holds: the reader leaves mid-write (EPIPE)."""
    wf = _many_processes(tmp_path / "wf")
    script = (
        f'"{sys.executable}" -m auditor gate wf --offline --format {fmt} --sarif gate.sarif | head -n 1; '
        'echo "gate-exit=${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        check=False,
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert "gate-exit=1" in done.stderr, done.stderr  # the unmapped containers FAIL: that code stands
    assert len(done.stdout.splitlines()) == 1
    assert wf.is_dir() and json.loads((tmp_path / "gate.sarif").read_text())["version"] == "2.1.0"


def test_out_dev_stdout_to_a_reader_that_left_is_no_error(tmp_path: Path) -> None:
    wf = _many_processes(tmp_path / "wf", 50)
    read, write_end = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "gate", str(wf), "--offline", "--format", "json", "--out", "/dev/stdout"],
            check=False,
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 1


# --- workflow files in sub-folders: read, or named with the reason ------------------------------------

NAMED_WORKFLOW = "workflow RNASEQ {\n    A()\n}\nprocess A {\n    container 'quay.io/org/a:1'\n    script: 'a'\n}\n"


def test_a_sub_folder_nextflow_config_that_is_not_read_is_named_with_why(tmp_path: Path) -> None:
    """The issue's case: a parent folder whose sub-folder holds the config (no manifest, a named workflow)."""
    repo = write(
        tmp_path / "repo",
        {"wf/main.nf": NAMED_WORKFLOW, "wf/nextflow.config": "process.container = 'quay.io/org/default:1'\n"},
    )
    _, text = gate_text(tmp_path, str(repo), *OFFLINE)
    notes = [line for line in text.splitlines() if line.startswith("not read")]
    assert notes == [
        "not read (1 file(s)): nextflow.config outside every pipeline folder (its folder has no `manifest` and no "
        "entry `workflow { }` in a main.nf, and no pipeline includes it); gate its folder to read it as a config: "
        "wf/nextflow.config"
    ]
    # gated at that folder, the config is read: its process.container is a container of the workflow
    _, direct = gate_text(tmp_path, str(repo / "wf"), *OFFLINE)
    assert "nextflow.config:1  quay.io/org/default:1" in direct and "not read" not in direct


def test_module_configs_the_pipeline_includes_are_read_and_the_others_named(tmp_path: Path) -> None:
    # nf-core/fetchngs includes each module's nextflow.config from its own: nothing is left out
    _, fetchngs = gate_text(tmp_path, str(DATA / "real" / "nf-core-fetchngs"), *OFFLINE)
    assert "not read" not in fetchngs
    # discovery_one: a sub-workflow's config (and the module config only it includes) and a shared module's
    _, text = gate_text(tmp_path, str(DATA / "nextflow" / "discovery_one"), *OFFLINE)
    notes = [line for line in text.splitlines() if line.startswith("not read")]
    assert len(notes) == 2, text
    assert notes[0].startswith("not read (2 file(s)): nextflow.config in a sub-folder of the pipeline that its")
    assert notes[0].endswith(
        ": pipelines/rnaseq/modules/local/align/nextflow.config, pipelines/rnaseq/workflows/rnaseq/nextflow.config"
    )
    assert notes[1].endswith(": modules/shared/qc/nextflow.config")


def test_nested_wdl_is_read_and_files_in_skipped_folders_are_named(tmp_path: Path) -> None:
    task = 'version 1.0\ntask t {\n  command <<< echo >>>\n  runtime { docker: "ubuntu:22.04" }\n}\n'
    repo = write(
        tmp_path / "repo",
        {"a/b/c/nested.wdl": task, ".old/stale.wdl": task, "work/3f/9a1b/main.nf": NAMED_WORKFLOW},
    )
    _, text = gate_text(tmp_path, str(repo), *OFFLINE)
    assert [line.split("  ")[0] for line in container_lines(text)] == ["!! a/b/c/nested.wdl:4"]
    notes = [line for line in text.splitlines() if line.startswith("not read")]
    assert notes == [
        "not read (1 file(s)): workflow files in .old/, a folder the gate skips (a hidden folder): .old/stale.wdl",
        "not read (1 file(s)): workflow files in work/, a folder the gate skips (Nextflow's task folder): "
        "work/3f/9a1b/main.nf",
    ]


def test_not_read_reaches_json_and_stderr_when_stdout_carries_a_machine_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = write(tmp_path / "repo", {"wf/main.nf": NAMED_WORKFLOW, "wf/nextflow.config": "params.x = 1\n"})
    main(["gate", str(repo), *OFFLINE, "--format", "json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert (
        doc["not_read"] == [{"reason": doc["not_read"][0]["reason"], "files": ["wf/nextflow.config"], "more": 0}]
        and "outside every pipeline folder" in doc["not_read"][0]["reason"]
    )
    assert captured.err.startswith("omics-ecr-audit gate: not read (1 file(s)): nextflow.config outside")


def test_many_files_not_read_are_counted_and_the_line_names_a_few(tmp_path: Path) -> None:
    files = {f"work/{i:03d}/main.nf": NAMED_WORKFLOW for i in range(60)}
    repo = write(tmp_path / "repo", {"main.nf": NAMED_WORKFLOW, **files})
    main(["gate", str(repo), *OFFLINE, "--format", "json", "--out", str(tmp_path / "g.json")])
    (note,) = json.loads((tmp_path / "g.json").read_text())["not_read"]
    assert len(note["files"]) == 50 and note["more"] == 10
    _, text = gate_text(tmp_path, str(repo), *OFFLINE)
    (line,) = [line for line in text.splitlines() if line.startswith("not read")]
    assert line.startswith("not read (60 file(s)): ") and line.endswith("work/004/main.nf (+55 more)")


# --- against an account: each failing check with its reason ----------------------------------------


def test_an_account_check_that_fails_is_named_under_its_container(aws, tmp_path: Path) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    inventory = tmp_path / "inv.json"
    assert main(["scan", "--out", str(tmp_path / "scan"), "--quiet", "--save-inventory", str(inventory)]) in (0, 1)
    wf = write(tmp_path / "wf", {"main.nf": "process A {\n    container 'quay.io/org/a:1'\n    script: 'a'\n}\n"})
    (tmp_path / "map.json").write_text(QUAY_MAP)
    code, text = gate_text(tmp_path, str(wf), "--map", str(tmp_path / "map.json"), "--inventory", str(inventory))
    assert code == 1, text
    assert f"account checks: inventory {inventory}; severity threshold: low" in text
    assert container_lines(text) == ["!! main.nf:2  quay.io/org/a:1  (process A)"]
    (access,) = [line for line in text.splitlines() if "gate-container-access" in line]
    assert access.startswith(f"     FAIL  gate-container-access: {ECR}/quay/org/a:1: ")
    assert "the registry policy does not let omics create/import under quay/" in access
    assert "no PULL_THROUGH_CACHE creation template covers 'quay'" in access
