"""Packaging: the sdist and the wheel a release would publish, built as ``make dist`` builds them and installed.

* **Namespace.** The repository keeps ``rules/`` and ``remediations/`` as top-level folders (the product's
  layout); the build maps them to ``auditor.rules`` and ``auditor.remediations``. PyPI's ``rules``
  distribution installs a top-level ``rules`` package: the two must share an environment, so both
  installations below put it beside ours.
* **Metadata.** The licence is the SPDX expression ``Apache-2.0`` with the verbatim LICENSE file (PEP 639, no
  deprecated licence table or classifier, no build warning); the version is written once, in
  ``auditor.__version__``; the build backend is pinned by constraints.txt.
* **Both artefacts work.** ``python -m build`` runs on a copy of the working tree (what a clean clone holds, so a
  file the build needs but git does not track fails here), builds the sdist and, from it, the wheel. Each is
  installed into its own new virtualenv from the package index with constraints.txt (the sdist with the build
  backend pinned too: pip's ``--build-constraint``), and the installed command runs ``--help``, ``--version``,
  ``rules`` and the demo (the ``sandbox`` extra: a scan of the embedded sandbox).

Cost: the build takes ~5 s and each installation ~15 s with a warm pip cache (the dependencies come from the
index: ~75 wheels, 55 MB on a first run), the two demos ~6 s each: about a minute for the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import pytest

from auditor import __version__

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, byte for byte (also Debian's
# /usr/share/common-licenses/Apache-2.0): the full text, appendix included.
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
# The conftest's autouse fixture points XDG_CACHE_HOME at an empty folder for every test, which would send pip
# to the index for every wheel on every run: pip gets the cache the user had when this module was imported.
_USER_XDG_CACHE_HOME = os.environ.get("XDG_CACHE_HOME")
# The only build output allowed to say "warning": the environment's PYTHONDONTWRITEBYTECODE, not the metadata.
_HARMLESS_BUILD_WARNING = re.compile(r"^warning: (build_py|install_lib): byte-compiling is disabled, skipping\.$")


# Nothing of the project's own environment reaches the installed command (and it may write its bytecode).
_NOT_INHERITED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "AWS_")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pinned(name: str) -> str:
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement.lower().startswith(f"{name.lower()}=="):
            return requirement.split("==", 1)[1]
    raise AssertionError(f"constraints.txt pins no {name}")


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would leak the project into a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    env.update(NO_COLOR="1", **extra)
    return env


def _pip_env() -> dict[str, str]:
    env = _clean_env()
    if _USER_XDG_CACHE_HOME is None:
        env.pop("XDG_CACHE_HOME", None)
    else:
        env["XDG_CACHE_HOME"] = _USER_XDG_CACHE_HOME
    return env


# --- the source tree ------------------------------------------------------------------------------


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


def test_the_licence_is_apache_2_0_declared_the_current_way() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0_SHA256, "LICENSE is not the verbatim Apache 2.0 text"
    project = _pyproject()["project"]
    # PEP 639: an SPDX expression and the files; a `{text = ...}` table and licence classifiers are deprecated
    # (setuptools warns on every build and install) and must not come back.
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_version_is_written_in_one_place() -> None:
    pyproject = _pyproject()
    assert "version" not in pyproject["project"], "the version belongs in auditor/__init__.py only"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "auditor.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?", __version__), __version__


def test_the_build_backend_is_pinned() -> None:
    requires = _pyproject()["build-system"]["requires"]
    assert requires == ["setuptools>=77"], "setuptools 77 is the first to read PEP 639 licence metadata"
    assert int(_pinned("setuptools").split(".")[0]) >= 77
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--build-constraint constraints.txt" in makefile  # pip ignores -c for build dependencies
    assert "-m build --dependency-constraints-txt constraints.txt" in makefile


# --- building -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    log: str


def _working_tree_copy(dest: Path) -> Path:
    """The files a clean clone of the working tree holds: tracked and untracked-but-not-ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    for rel in sorted(set(listed.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    src = _working_tree_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    # exactly `make dist` (its recipe runs in the repository root), on the copy
    built = subprocess.run(
        [sys.executable, "-m", "build", "--dependency-constraints-txt", str(CONSTRAINTS), "--outdir", str(out), "."],
        cwd=src,
        capture_output=True,
        text=True,
        env=_pip_env(),
        timeout=300,
        check=False,
    )
    log = built.stdout + built.stderr
    assert built.returncode == 0, log[-4000:]
    (sdist,) = out.glob("omics_ecr_audit-*.tar.gz")
    (wheel,) = out.glob("omics_ecr_audit-*.whl")
    return Dists(sdist, wheel, log)


def test_the_build_is_clean_and_uses_the_pinned_backend(dists: Dists) -> None:
    warnings = [
        line
        for line in dists.log.splitlines()
        if re.search(r"warn|deprecat", line, re.IGNORECASE) and not _HARMLESS_BUILD_WARNING.match(line.strip())
    ]
    assert not warnings, "the build warns:\n" + "\n".join(warnings)
    installed = re.findall(r"^\s*- setuptools==(\S+)$", dists.log, re.MULTILINE)
    assert installed and set(installed) == {_pinned("setuptools")}, installed


def test_the_wheel_holds_the_rules_and_fixers_inside_the_namespace(dists: Dists) -> None:
    names = zipfile.ZipFile(dists.wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"auditor"}
    for folder in ("rules", "remediations"):
        modules = sorted(p.name for p in (ROOT / folder).glob("*.py"))
        assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith(f"auditor/{folder}/")) == modules
    assert "auditor/reports/templates/report.html.j2" in names


def _wheel_metadata(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        dist_info = f"omics_ecr_audit-{__version__}.dist-info"
        names = archive.namelist()
        return archive.read(f"{dist_info}/METADATA").decode("utf-8"), names


def _sdist_members(sdist: Path) -> tuple[str, list[str]]:
    with tarfile.open(sdist) as archive:
        prefix = f"omics_ecr_audit-{__version__}/"
        names = [m.name for m in archive.getmembers()]
        member = archive.extractfile(f"{prefix}PKG-INFO")
        assert member is not None
        return member.read().decode("utf-8"), [n.removeprefix(prefix) for n in names]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_the_metadata_carries_the_version_and_the_licence(dists: Dists, kind: str) -> None:
    text, names = _wheel_metadata(dists.wheel) if kind == "wheel" else _sdist_members(dists.sdist)
    headers = HeaderParser().parsestr(text)
    assert headers["Name"] == "omics-ecr-audit"
    assert headers["Version"] == __version__, "the built version must be auditor.__version__"
    assert headers["License-Expression"] == "Apache-2.0"
    assert headers.get_all("License-File") == ["LICENSE"]
    assert headers["License"] is None, "the deprecated License field (a TOML licence table) is back"
    assert not [c for c in headers.get_all("Classifier") or [] if c.startswith("License ::")]
    assert set(headers.get_all("Provides-Extra") or []) >= {"sandbox", "dev"}
    licence = f"omics_ecr_audit-{__version__}.dist-info/licenses/LICENSE" if kind == "wheel" else "LICENSE"
    assert licence in names


def test_the_sdist_holds_the_package_and_not_a_partial_test_suite(dists: Dists) -> None:
    _, names = _sdist_members(dists.sdist)
    for required in ("pyproject.toml", "README.md", "LICENSE", "auditor/cli.py", "auditor/__init__.py"):
        assert required in names, required
    for folder in ("rules", "remediations"):
        assert {p.name for p in (ROOT / folder).glob("*.py")} <= {
            n.rsplit("/", 1)[-1] for n in names if n.startswith(f"{folder}/")
        }
    assert "auditor/reports/templates/report.html.j2" in names
    assert not [n for n in names if n.startswith("tests/")], "tests need the whole repository: MANIFEST.in prunes them"


# --- installing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    kind: str
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.root / "bin" / "omics-ecr-audit"

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.cli), *args],
            capture_output=True,
            text=True,
            env=env or _clean_env(),
            cwd=cwd,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module", params=["wheel", "sdist"])
def installed(request: pytest.FixtureRequest, dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A new virtualenv holding PyPI's ``rules`` and our wheel or sdist with the sandbox extra, from the index."""
    kind: str = request.param
    root = tmp_path_factory.mktemp(f"venv-{kind}") / "venv"
    venv.EnvBuilder(with_pip=False).create(root)  # the test's own pip installs into it (`pip --python`)
    artefact = dists.wheel if kind == "wheel" else dists.sdist
    pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "--quiet", "--no-compile"]
    pins = ["-c", str(CONSTRAINTS), "--build-constraint", str(CONSTRAINTS)]
    done = subprocess.run(
        [*pip, *pins, "rules", f"{artefact}[sandbox]"],
        capture_output=True,
        text=True,
        env=_pip_env(),
        cwd=root.parent,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return Installed(kind, root)


def test_it_installs_beside_pypis_rules(installed: Installed) -> None:
    code = (
        "import importlib.metadata as m, rules, auditor, auditor.rules as ours;"
        "print(rules.__file__); print(ours.__file__); print(auditor.__version__); print(m.version('omics-ecr-audit'))"
    )
    probe = subprocess.run(
        [str(installed.python), "-c", code],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=installed.root.parent,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    theirs, ours, version, distribution_version = probe.stdout.split()
    assert "site-packages/rules/" in theirs and "site-packages/auditor/rules/" in ours
    assert Path(ours).is_relative_to(installed.root), "the installed package, not the repository's, must run"
    assert version == distribution_version == __version__


def test_the_installed_command_runs(installed: Installed, tmp_path: Path) -> None:
    helped = installed.run("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "omics-ecr-audit" in helped.stdout, helped.stderr
    version = installed.run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"omics-ecr-audit {__version__}", version
    listed = installed.run("rules", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "ptc-rule-coverage" in listed.stdout and "Traceback" not in listed.stderr


def test_the_installed_demo_scans_the_sandbox(installed: Installed, tmp_path: Path) -> None:
    env = _clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    demo = installed.run("demo", "--out", "demo-out", cwd=tmp_path, env=env)
    assert demo.returncode == 1, (
        f"exit {demo.returncode} (the demo account has FAILs)\n{demo.stdout[-2000:]}\n{demo.stderr[-2000:]}"
    )
    assert "Traceback" not in demo.stderr
    findings = json.loads((tmp_path / "demo-out" / "findings.json").read_text(encoding="utf-8"))
    statuses = {f["status"] for f in findings["findings"]}
    assert "FAIL" in statuses and "ERROR" not in statuses, statuses
    assert (tmp_path / "demo-out" / "report.html").stat().st_size > 0  # the templates are in the package
