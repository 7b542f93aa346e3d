"""Fixtures shared by the test modules; the helpers behind them are in tests/support/.

Only fixtures live here (tests/test_layout.py checks that no test module imports conftest.py):

* ``aws``     a fresh sandbox account (moto + our extensions) per test, and a session on it
* ``demo``    the demo account, seeded once per module, for read-only tests
* ``estate``  three accounts in two regions (tests/support/org.py), seeded once per module
* ``private_cache_home`` (autouse) a temporary $XDG_CACHE_HOME, so no test writes the user's digest cache
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from auditor.sandbox.seed import DemoAccount, seed_demo_account
from tests.support.org import Estate, build_estate
from tests.support.sandbox import REGION, sandbox_account


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI keeps a digest cache under $XDG_CACHE_HOME: tests (and the processes they start) use their own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A fresh sandbox account (moto + our extensions) and a session pointing at it."""
    with sandbox_account(monkeypatch):
        yield boto3.Session(region_name=REGION)


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoAccount]:
    """The demo account, seeded once per module (seeding waits ~2 s for run windows) for read-only tests."""
    with pytest.MonkeyPatch.context() as mp, sandbox_account(mp):
        yield seed_demo_account(boto3.Session(region_name=REGION))


@pytest.fixture(scope="module")
def estate() -> Iterator[Estate]:
    """Three accounts in two regions (tests/support/org.py), seeded once per module."""
    with pytest.MonkeyPatch.context() as mp, sandbox_account(mp):
        yield build_estate()
