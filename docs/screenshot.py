"""Regenerate docs/report.png and docs/report-findings.png, the README's pictures of the demo's HTML report.

    .venv/bin/omics-ecr-audit demo --out demo-out --quiet; .venv/bin/python docs/screenshot.py demo-out/report.html

Uses Debian's chromium through Playwright (auditor.reports.chromium), kept off the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from auditor.reports.chromium import launch


def main(report: str, out_dir: str = str(Path(__file__).parent)) -> None:
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1500}, device_scale_factor=1)
        page.goto(Path(report).resolve().as_uri())
        page.screenshot(path=f"{out_dir}/report.png")
        # The findings table as it opens (FAIL and ERROR), the first one expanded to its evidence and commands.
        page.click("#findings-body tr.row button[data-toggle]")
        page.locator("#findings").scroll_into_view_if_needed()
        page.locator("#findings").screenshot(path=f"{out_dir}/report-findings.png")
        browser.close()
    print(f"wrote {out_dir}/report.png and {out_dir}/report-findings.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
