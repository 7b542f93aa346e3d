"""The test suite's own layout: what two test modules share lives in tests/support/, fixtures in conftest.py.

* No file under tests/ imports a test module (``tests.test_*``, ``from tests import test_x``, a relative
  ``.test_x``) or conftest.py: importing a test module runs its module-level code and collects its tests and
  fixtures a second time, and conftest.py is pytest's to load.
* The top level of tests/ holds only ``test_*.py``, ``conftest.py`` and ``__init__.py``: helpers are in
  tests/support/.
* conftest.py defines only fixtures (and pytest hooks): the helpers behind them are in tests/support/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SKIP_DIRS = {"data", "fixtures", "__pycache__"}


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(TESTS).parts[:-1]))


def _names_a_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return dotted.startswith(("tests.", ".")) and (last.startswith("test_") or last == "conftest")


def forbidden_imports(source: str, label: str) -> list[str]:
    """``label:line imports name`` for every import of a test module or of conftest.py in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            # `from tests.test_x import y` names the module; `from tests import test_x` names it as an import
            names = [module, *(f"{module.rstrip('.')}.{alias.name}" for alias in node.names)]
        else:
            continue
        hits = [name for name in names if _names_a_test_module(name)]
        if hits:
            found.append(f"{label}:{node.lineno} imports {hits[0]}")
    return found


def test_no_file_under_tests_imports_a_test_module_or_conftest() -> None:
    found = [
        hit
        for path in python_files()
        for hit in forbidden_imports(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS.parent)))
    ]
    assert not found, "move what is shared into tests/support/:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("from tests.test_faults import Fault", True),
        ("from tests import test_lambda", True),
        ("from tests import support, test_lambda", True),
        ("import tests.test_report_html", True),
        ("import tests.test_report_html as html", True),
        ("from .test_faults import Fault", True),
        ("from . import test_faults", True),
        ("from .. import conftest", True),
        ("from tests.conftest import run_scan", True),
        ("from tests.support.faults import Fault", False),
        ("from tests.support import fix_account", False),
        ("from . import faults", False),
        ("from auditor.scan import scan_live", False),
        ("import pytest", False),
    ],
)
def test_the_import_check_sees_every_spelling(source: str, forbidden: bool) -> None:
    assert bool(forbidden_imports(source, "probe.py")) is forbidden, source


def test_the_top_level_of_tests_holds_only_test_modules_and_conftest() -> None:
    extra = [
        p.name
        for p in TESTS.glob("*.py")
        if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
    ]
    assert not extra, f"helpers belong in tests/support/: {extra}"


def test_conftest_defines_only_fixtures() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            is_fixture = any(d.startswith("pytest.fixture") for d in decorators)
            assert is_fixture or node.name.startswith("pytest_"), (
                f"conftest.py:{node.lineno} {node.name}() is not a fixture: move it to tests/support/"
            )
        else:
            allowed = (ast.Import, ast.ImportFrom, ast.Expr)  # imports and the docstring
            assert isinstance(node, allowed), (
                f"conftest.py:{node.lineno} defines {ast.unparse(node).splitlines()[0]!r}: move it to tests/support/"
            )
