"""Packaging: the rules and fixers install inside the tool's namespace, never as generic top-level names.

The repository keeps ``rules/`` and ``remediations/`` as top-level folders (the product's layout);
the build maps them to ``auditor.rules`` and ``auditor.remediations``. PyPI's ``rules`` distribution
installs a top-level ``rules`` package: the two must share an environment, so the wheel is installed
into a clean virtualenv beside it and the CLI is run there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_in_the_build() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    mapping = setuptools["package-dir"]
    expected = {"auditor.rules", "auditor.remediations", "auditor.reports.templates"}  # + one data-only folder
    for init in (ROOT / "auditor").rglob("__init__.py"):
        expected.add(".".join(init.parent.relative_to(ROOT).parts))
    assert set(setuptools["packages"]) == expected
    assert mapping == {"auditor.rules": "rules", "auditor.remediations": "remediations"}


def test_no_code_imports_the_folders_as_top_level_packages() -> None:
    offenders = []
    for folder in ("auditor", "rules", "remediations", "tests", "benchmarks", "deploy", "docs"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("import rules", "import remediations", "from rules", "from remediations")):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert not offenders, "\n".join(offenders)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("omics_ecr_audit-*.whl")
    return built


def test_the_wheel_holds_the_rules_and_fixers_inside_the_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"auditor"}
    for folder in ("rules", "remediations"):
        modules = sorted(p.name for p in (ROOT / folder).glob("*.py"))
        assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith(f"auditor/{folder}/")) == modules
    assert "auditor/reports/templates/report.html.j2" in names


def test_the_wheel_installs_beside_pypis_rules_and_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), "rules", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = subprocess.run(
        [str(python), "-c", "import rules, auditor.rules as ours; print(rules.__file__); print(ours.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    theirs, ours = probe.stdout.split()
    assert "site-packages/rules/" in theirs and "site-packages/auditor/rules/" in ours
    cli = env_dir / "bin" / "omics-ecr-audit"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cli), *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)

    listed = run("rules", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "ptc-rule-coverage" in listed.stdout and "Traceback" not in listed.stderr
    helped = run("--help")
    assert helped.returncode == 0 and "omics-ecr-audit" in helped.stdout
