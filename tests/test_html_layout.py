"""The HTML report fits the screen: Debian's Chromium (through Playwright) measures it at 390 px and 1400 px.

Two reports of the demo account (``auditor.demo.run_demo``, the same scan ``omics-ecr-audit demo`` writes):

* ``demo``: the report as the demo writes it;
* ``adversarial``: the same findings diffed against an earlier run, plus values that used to widen the page:
  a FAIL whose resource is a 300-character ARN and whose message is 2,000 characters without a space, an
  image reference with its digest in the evidence, an accepted risk whose reason is one 400-character
  word, and a resolved finding (listed under "Changes") with a long resource of its own.

At both widths, nothing scrolls sideways (``scrollWidth <= clientWidth``) and no element reaches past the
viewport's edges, with the long sections' <details> open and the adversarial row expanded to its evidence.
At 1400 x 900 the summary and the first FAIL are on the first screen, without scrolling.

Screenshots of every report at both widths go to ``$PYTEST_ARTIFACTS/html-layout/`` (default
``test-artifacts/html-layout/``; the test prints the folder). ``UPDATE_DOC_IMAGES=1 pytest
tests/test_html_layout.py`` also writes the README's pictures, docs/img/report-1400.png and
docs/img/report-390.png, from the demo report; without it the test checks that they are there and small.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from auditor.config import parse_config
from auditor.demo import run_demo
from auditor.findings import Finding, FindingsDocument, Severity, Status, finding_id, sort_findings
from auditor.reports import RenderOptions
from auditor.reports.html import render_html
from auditor.scan import select_rules, suppress
from auditor.suppressions import Suppression
from tests.support.browser import chromium
from tests.support.html_documents import make_document, make_finding, scanned

REPO = Path(__file__).resolve().parent.parent
DOC_IMAGES = REPO / "docs" / "img"
DOC_IMAGE_LIMIT = 300_000  # bytes: the README's pictures stay small
WIDTHS = {"phone": (390, 844), "desktop": (1400, 900)}

LONG_ARN_PREFIX = "arn:aws:ecr:{region}:{account}:repository/"
LONG_MESSAGE = ("ecr:BatchGetImage,ecr:GetDownloadUrlForLayer,ecr:BatchCheckLayerAvailability;" * 30)[:2000]
DIGEST = "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LONG_REASON = "accepted-until-the-Q3-pipeline-replaces-it;ticket=SEC-" + "0123456789" * 35

# Every element that reaches past the viewport's left or right edge, described for the assertion message.
OUTSIDE = """() => {
  const limit = document.documentElement.clientWidth;
  return [...document.body.querySelectorAll('*')]
    .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > limit + 1); })
    .slice(0, 10)
    .map((e) => { const r = e.getBoundingClientRect();
      return `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(r.left)}..${Math.round(r.right)}`; });
}"""
WIDTH = "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
# Findings-table cells whose content (a badge, a line of text) sticks out into the next column.
SPILLING = """() => [...document.querySelectorAll('#findings-body tr.row td')]
  .filter((td) => { const edge = td.getBoundingClientRect().right;
    return [...td.querySelectorAll('*')].some((e) => e.getBoundingClientRect().right > edge + 0.5); })
  .slice(0, 10)
  .map((td) => `${td.className} of row ${td.parentElement.dataset.row}`)"""


@dataclass(frozen=True)
class Report:
    name: str
    url: str
    doc: FindingsDocument


def long_arn(account: str, region: str, length: int = 300) -> str:
    prefix = LONG_ARN_PREFIX.format(region=region, account=account)
    return (prefix + "quay/biocontainers/" * 20)[:length]


def adversarial(doc: FindingsDocument) -> tuple[FindingsDocument, FindingsDocument]:
    """The demo's findings with long values added, and an earlier run to diff against."""
    fail = next(f for f in doc.findings if f.status == Status.FAIL)
    account, region = fail.account, fail.region
    arn = long_arn(account, region)
    assert len(arn) == 300 and " " not in LONG_MESSAGE and len(LONG_MESSAGE) == 2000

    def finding(rule: Finding, resource: str, **update: Any) -> Finding:
        return rule.model_copy(
            update={"id": finding_id(rule.rule_id, account, region, resource), "resource": resource, **update}
        )

    wide = finding(
        fail,
        arn,
        message=LONG_MESSAGE,
        severity=Severity.CRITICAL,  # the first FAIL of the table: the tallest row is the one that must fit
        evidence={"image": f"{arn}@{DIGEST}", "policy_excerpt": LONG_MESSAGE, "digest": DIGEST},
    )
    muted_arn = long_arn(account, region, 220)
    muted = finding(fail, muted_arn, message=f"{muted_arn} does not let omics pull")
    gone = finding(fail, f"{long_arn(account, region, 200)}@{DIGEST}", message=LONG_MESSAGE[:600])
    findings = sort_findings([*doc.findings, wide, muted], doc.run.rules)
    accept = Suppression(resource=muted_arn, reason=LONG_REASON, owner="genomics-platform@example.org")
    current = suppress(doc.model_copy(update={"findings": findings}), [accept])
    previous_findings = sort_findings([*doc.findings, gone], doc.run.rules)
    previous = doc.model_copy(
        update={"findings": previous_findings, "run": doc.run.model_copy(update={"id": "earlier"})}
    )
    return current, previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    config = parse_config({})
    doc = run_demo(config, select_rules(config)).findings
    current, previous = adversarial(doc)
    folder = tmp_path_factory.mktemp("layout")
    made = {}
    for name, (document, options) in {
        "demo": (doc, RenderOptions()),
        "adversarial": (current, RenderOptions(previous=previous)),
    }.items():
        path = folder / f"{name}.html"
        path.write_text(render_html(document, options), encoding="utf-8")
        made[name] = Report(name=name, url=path.as_uri(), doc=document)
    return made


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("PYTEST_ARTIFACTS", REPO / "test-artifacts")) / "html-layout"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def open_page(browser: Browser, report: Report, size: tuple[int, int]) -> Iterator[Page]:
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(report.url)
    page.wait_for_selector("#findings-body tr.row")
    yield page
    context.close()
    assert problems == []


@pytest.fixture(params=["demo", "adversarial"])
def report(request: pytest.FixtureRequest, reports: dict[str, Report]) -> Report:
    return reports[request.param]


def overflow(page: Page) -> tuple[dict[str, int], list[str]]:
    return page.evaluate(WIDTH), page.evaluate(OUTSIDE)


def assert_fits(page: Page, where: str) -> None:
    width, outside = overflow(page)
    assert width["scroll"] <= width["client"], f"{where}: the page scrolls sideways ({width})"
    assert outside == [], f"{where}: elements past the viewport's edge"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", list(WIDTHS))
def test_no_horizontal_overflow(browser: Browser, report: Report, device: str, artifacts: Path) -> None:
    with open_page(browser, report, WIDTHS[device]) as page:
        width = WIDTHS[device][0]
        assert page.evaluate("document.documentElement.clientWidth") == width
        assert_fits(page, f"{report.name} at {width} px, as opened")
        page.screenshot(path=str(artifacts / f"{report.name}-{width}.png"))
        # Everything there is to see: every status, the long sections' <details> open, the first row expanded.
        page.click("#show-all")
        page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        page.click("#findings-body tr.row button[data-toggle]")
        assert page.locator("#findings-body tr.detail pre.evidence").is_visible()
        assert_fits(page, f"{report.name} at {width} px, all findings, details open, a row expanded")
        assert page.evaluate(SPILLING) == []
        page.screenshot(path=str(artifacts / f"{report.name}-{width}-full.png"), full_page=True)
    print(f"screenshots in {artifacts}")


def test_summary_and_first_fail_on_the_first_screen(browser: Browser, report: Report) -> None:
    width, height = WIDTHS["desktop"]
    with open_page(browser, report, (width, height)) as page:
        assert page.evaluate("window.scrollY") == 0
        first_fail = page.locator("#findings-body tr.st-row-FAIL").first
        box = first_fail.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, f"first FAIL at {box} in a {width}x{height} window"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        for summary in ("#count-FAIL", "#count-ERROR", "#fail-critical", "#fail-high", "#scope"):
            part = page.locator(summary).bounding_box()
            assert part is not None and part["y"] + part["height"] <= box["y"], summary
        if report.name == "adversarial":  # the long row itself is the first FAIL, clamped to three lines
            assert "quay/biocontainers" in first_fail.locator("td.resource").inner_text()
            assert first_fail.locator("td.message").inner_text() == LONG_MESSAGE


def test_problems_first_and_everything_one_click_away(browser: Browser, reports: dict[str, Report]) -> None:
    report = reports["adversarial"]
    problems = [f for f in report.doc.findings if f.status in (Status.FAIL, Status.ERROR)]
    with open_page(browser, report, WIDTHS["desktop"]) as page:
        statuses = page.eval_on_selector_all("#findings-body tr.row td.status", "cs => cs.map(c => c.innerText)")
        assert len(statuses) == len(problems) and {s.split()[0] for s in statuses} <= {"FAIL", "ERROR"}
        assert page.get_attribute("#show-problems", "aria-pressed") == "true"
        page.click("#show-all")
        assert page.locator("#findings-body tr.row").count() == min(100, len(report.doc.findings))
        shown = {
            s.split()[0]
            for s in page.eval_on_selector_all("#findings-body td.status", "cs => cs.map(c => c.innerText)")
        }
        assert {"PASS", "NOT_APPLICABLE", "MUTED"} <= shown
        assert page.get_attribute("#show-all", "aria-pressed") == "true"
        page.click("#filter-reset")
        assert page.locator("#findings-body tr.row").count() == len(problems)


def test_readme_pictures(browser: Browser, reports: dict[str, Report], artifacts: Path) -> None:
    """docs/img/report-1400.png and report-390.png: the demo's report as the first screen shows it."""
    shots = {"report-1400.png": (1400, 900, 900), "report-390.png": (390, 844, 1500)}
    target = DOC_IMAGES if os.environ.get("UPDATE_DOC_IMAGES") == "1" else artifacts
    target.mkdir(parents=True, exist_ok=True)
    for name, (width, height, clip) in shots.items():
        with open_page(browser, reports["demo"], (width, height)) as page:
            page.screenshot(
                path=str(target / name), clip={"x": 0, "y": 0, "width": width, "height": clip}, full_page=True
            )
    for name, (width, _, clip) in shots.items():
        for folder in {target, DOC_IMAGES}:
            path = folder / name
            assert path.is_file(), f"{path} is missing: UPDATE_DOC_IMAGES=1 pytest tests/test_html_layout.py"
            assert png_size(path) == (width, clip), path
            assert path.stat().st_size < DOC_IMAGE_LIMIT, f"{path} is {path.stat().st_size:,} bytes"


def checked_statuses(html: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="status" value="(\w+)" checked>', html))


def test_the_table_opens_on_fail_and_error_or_on_everything_when_nothing_failed() -> None:
    cell = ("111111111111", "us-east-1")
    passing = make_finding("image-not-arm-only", Status.PASS, "image/ok", account=cell[0], region=cell[1])
    failing = make_finding("image-not-arm-only", Status.FAIL, "image/arm", account=cell[0], region=cell[1])
    assert checked_statuses(render_html(make_document([passing, failing], scanned(cell)), RenderOptions())) == {
        "FAIL",
        "ERROR",
    }
    assert checked_statuses(render_html(make_document([passing], scanned(cell)), RenderOptions())) == {
        s.value for s in Status
    }
