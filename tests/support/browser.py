"""Debian's Chromium through Playwright for the HTML report's browser tests (never a downloaded browser)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from auditor.reports.chromium import CHROMIUM, launch


def chromium() -> Iterator[Browser]:
    """One browser for a module's tests; missing Chromium fails under CI (.ci/run installs it) and skips elsewhere."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium); Playwright must not download a browser"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
