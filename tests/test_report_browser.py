"""The HTML report in a real browser: Debian's Chromium driven by Playwright, the page opened from a file.

Every test loads the report fresh, records every request the page makes (only the file itself is allowed,
anything else is aborted) and every console message or page error; the fixture fails the test on either.
The screenshot of the last test is the artifact: test-artifacts/report.png.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from auditor.findings import Finding, FindingsDocument, Severity, Status
from auditor.reports import RenderOptions
from auditor.reports.diff import diff_documents
from auditor.reports.html import cli_commands, render_html
from tests.support.browser import chromium
from tests.support.html_documents import (
    ACCOUNT_A,
    ACCOUNT_B,
    make_finding,
    repository_arn,
    varied_document,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
XSS_RESOURCE = "<script>window.__xss=1</script>"
SHOWING = re.compile(r"Showing ([\d,]+)\u2013([\d,]+) of ([\d,]+) findings")  # an en dash between x and y


@dataclass
class Report:
    doc: FindingsDocument
    previous: FindingsDocument
    url: str


@dataclass
class Watched:
    """A loaded report page and everything it asked for or complained about."""

    page: Page
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    xss = make_finding(
        "repository-policy-grants-omics",
        Status.FAIL,
        XSS_RESOURCE,
        message=f"Repository {XSS_RESOURCE} does not let omics pull",
        evidence={"policy_excerpt": XSS_RESOURCE},
    )
    doc = varied_document(360, extra=[xss])
    gone = [
        make_finding("image-not-arm-only", Status.FAIL, repository_arn(ACCOUNT_A, "us-east-1", f"old/tool-{n}:1.0"))
        for n in range(4)
    ]
    previous = varied_document(300, extra=gone, run_id="run-previous")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(doc, RenderOptions(previous=previous)), encoding="utf-8")
    return Report(doc=doc, previous=previous, url=path.as_uri())


@contextmanager
def opened(browser: Browser, url: str, *, javascript: bool = True) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, java_script_enabled=javascript)
    page = context.new_page()
    watched = Watched(page=page)

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            watched.problems.append(f"aborted request {route.request.url}")
            route.abort()

    context.route("**/*", only_files)
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("console", lambda msg: watched.problems.append(f"console {msg.type}: {msg.text}"))
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    page.goto(url)
    yield watched
    context.close()
    assert watched.requests == [url], "the report must request nothing but itself"
    assert watched.problems == []


@pytest.fixture
def view(browser: Browser, report: Report) -> Iterator[Page]:
    """The report showing every finding: it opens on FAIL and ERROR, "All findings" is one click away."""
    with opened(browser, report.url) as watched:
        watched.page.wait_for_selector("#findings-body tr.row")
        watched.page.click("#show-all")
        yield watched.page


# --- reading the page -------------------------------------------------------------------


def showing(page: Page) -> tuple[int, int, int]:
    """(first, last, total) of the "Showing x-y of N findings" line."""
    match = SHOWING.search(page.inner_text("#showing"))
    assert match, page.inner_text("#showing")
    first, last, total = (int(g.replace(",", "")) for g in match.groups())
    return first, last, total


def column(page: Page, name: str) -> list[str]:
    return page.eval_on_selector_all(f"#findings-body tr.row td.{name}", "cells => cells.map(c => c.innerText.trim())")


def only_statuses(page: Page, *keep: Status) -> None:
    for status in Status:
        box = f'#filters input[name="status"][value="{status.value}"]'
        page.set_checked(box, status in keep)


def problems(doc: FindingsDocument) -> list[Finding]:
    return [f for f in doc.findings if f.status in (Status.FAIL, Status.ERROR)]


def haystack(f: Finding) -> str:
    return "\n".join([f.rule_id, f.resource, f.message, f.account, f.region]).lower()


# --- tests --------------------------------------------------------------------------------


def test_opens_on_the_problems_with_every_finding_one_click_away(browser: Browser, report: Report) -> None:
    with opened(browser, report.url) as watched:
        page = watched.page
        page.wait_for_selector("#findings-body tr.row")
        assert showing(page) == (1, 100, len(problems(report.doc)))
        assert {s.split()[0] for s in column(page, "status")} == {"ERROR", "FAIL"}  # ERROR first, then FAIL
        assert page.get_attribute("#show-problems", "aria-pressed") == "true"
        assert page.inner_text("#count-total") == f"{len(report.doc.findings):,}"
        page.click("#show-all")
        assert showing(page) == (1, 100, len(report.doc.findings))
        assert len(column(page, "status")) == 100
        assert page.get_attribute("#show-all", "aria-pressed") == "true"
        page.uncheck('#filters input[name="status"][value="PASS"]')  # a choice of one's own: neither view
        assert [page.get_attribute(f"#show-{v}", "aria-pressed") for v in ("all", "problems")] == ["false", "false"]
        page.click("#show-problems")
        assert showing(page)[2] == len(problems(report.doc))


def test_filter_by_status(view: Page, report: Report) -> None:
    only_statuses(view, Status.FAIL)
    expected = sum(f.status == Status.FAIL for f in report.doc.findings)
    assert showing(view)[2] == expected
    assert {s.split()[0] for s in column(view, "status")} == {"FAIL"}
    only_statuses(view, Status.ERROR, Status.MUTED)
    expected = sum(f.status in (Status.ERROR, Status.MUTED) for f in report.doc.findings)
    assert showing(view)[2] == expected


def test_filter_by_severity(view: Page, report: Report) -> None:
    view.uncheck('#filters input[name="severity"][value="high"]')
    assert showing(view)[2] == sum(f.severity != Severity.HIGH for f in report.doc.findings)


def test_filter_by_rule_account_and_region(view: Page, report: Report) -> None:
    rule_id, account, region = "registry-policy-allows-omics", ACCOUNT_B, "us-east-1"
    view.select_option("#filter-rule", rule_id)
    assert showing(view)[2] == sum(f.rule_id == rule_id for f in report.doc.findings)
    view.select_option("#filter-account", account)
    view.select_option("#filter-region", region)
    expected = [f for f in report.doc.findings if (f.rule_id, f.account, f.region) == (rule_id, account, region)]
    assert expected and showing(view)[2] == len(expected)
    assert set(column(view, "rule")) == {rule_id}
    assert set(column(view, "account")) == {account}
    view.click("#filter-reset")  # back to how the report opens: FAIL and ERROR, of every rule, account and region
    assert showing(view)[2] == len(problems(report.doc))


def test_search_matches_resources_only_where_they_match(view: Page, report: Report) -> None:
    needle = "TOOL-012"  # case-insensitive; matches tool-0120 … tool-0129
    view.fill("#filter-search", needle)
    expected = [f for f in report.doc.findings if needle.lower() in haystack(f)]
    assert 0 < len(expected) < 100
    assert showing(view)[2] == len(expected)
    assert sorted(column(view, "resource")) == sorted(f.resource for f in expected)


def test_sort_by_severity_both_ways(view: Page, report: Report) -> None:
    rank = {s.value: s.rank for s in Severity}
    view.click('th button[data-sort="severity"]')
    ranks = [rank[s] for s in column(view, "severity")]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] == max(f.severity.rank for f in report.doc.findings)
    assert view.get_attribute('th:has(button[data-sort="severity"])', "aria-sort") == "ascending"
    view.click('th button[data-sort="severity"]')
    ranks = [rank[s] for s in column(view, "severity")]
    assert ranks == sorted(ranks)
    assert ranks[0] == min(f.severity.rank for f in report.doc.findings)


def test_sort_by_resource_then_filter_keeps_the_order(view: Page) -> None:
    view.click('th button[data-sort="resource"]')
    only_statuses(view, Status.PASS)
    resources = column(view, "resource")
    assert resources == sorted(resources)


def test_expanded_row_shows_evidence_remediation_and_commands(view: Page, report: Report) -> None:
    view.fill("#filter-search", "tool-0007")
    (finding,) = [f for f in report.doc.findings if "tool-0007" in f.resource]
    view.click("#findings-body tr.row button[data-toggle]")
    detail = view.locator("#findings-body tr.detail")
    assert detail.is_visible()
    assert json.loads(detail.locator("pre.evidence").inner_text()) == finding.evidence
    commands = detail.locator("code.command").all_inner_texts()
    assert commands == [c["command"] for c in cli_commands(finding, report.doc.run.rules)]
    assert finding.remediation in detail.locator("p.remediation").inner_text()
    assert view.get_attribute("#findings-body tr.row button[data-toggle]", "aria-expanded") == "true"
    view.click("#findings-body tr.row button[data-toggle]")
    assert view.locator("#findings-body tr.detail").count() == 0


def test_fixable_fail_offers_plan_and_apply(view: Page, report: Report) -> None:
    finding = next(f for f in report.doc.findings if f.fixable and "tool-" in f.resource)
    view.fill("#filter-search", finding.resource.rsplit("/", 1)[1])
    view.click("#findings-body tr.row button[data-toggle]")
    commands = view.locator("#findings-body tr.detail code.command").all_inner_texts()
    scope = f"--regions {finding.region} --rules {finding.rule_id}"
    assert commands == [f"omics-ecr-audit fix {scope}", f"omics-ecr-audit fix {scope} --apply"]


def test_muted_row_shows_its_suppression(view: Page) -> None:
    only_statuses(view, Status.MUTED)
    view.click("#findings-body tr.row button[data-toggle]")
    detail = view.inner_text("#findings-body tr.detail")
    assert "Accepted risk" in detail and "legacy images, retired with the Q3 pipeline" in detail


def test_pagination(view: Page, report: Report) -> None:
    total = len(report.doc.findings)
    assert view.is_disabled("#page-prev")
    first_page = column(view, "resource")
    view.click("#page-next")
    assert showing(view) == (101, 200, total)
    assert column(view, "resource") != first_page
    assert "Page 2 of" in view.inner_text("#page-label")
    while not view.is_disabled("#page-next"):
        view.click("#page-next")
    last_page_start = (total - 1) // 100 * 100 + 1
    assert showing(view) == (last_page_start, total, total)
    view.click("#page-prev")
    assert showing(view) == (last_page_start - 100, last_page_start - 1, total)


def test_only_new_since_last_run(view: Page, report: Report) -> None:
    diff = diff_documents(report.previous, report.doc)
    assert diff.new and diff.resolved
    view.check("#filter-new")
    assert showing(view)[2] == len(diff.new)
    assert view.locator("#findings-body .badge.new").count() == min(100, len(diff.new))
    assert view.inner_text("#diff-new") == f"{len(diff.new):,}"
    assert view.inner_text("#diff-resolved") == f"{len(diff.resolved):,}"


def test_markup_in_data_is_shown_as_text_and_never_runs(view: Page) -> None:
    view.fill("#filter-search", "window.__xss")
    assert showing(view)[2] == 1
    assert column(view, "resource") == [XSS_RESOURCE]
    view.click("#findings-body tr.row button[data-toggle]")
    assert XSS_RESOURCE in view.inner_text("#findings-body tr.detail pre.evidence")
    assert view.evaluate("typeof window.__xss") == "undefined"
    assert view.locator("#findings-body script").count() == 0


def test_summary_works_without_javascript(browser: Browser, report: Report) -> None:
    with opened(browser, report.url, javascript=False) as watched:
        page = watched.page
        counts = Counter(f.status.value for f in report.doc.findings)
        for status in Status:
            assert page.inner_text(f"#count-{status.value}") == f"{counts[status.value]:,}"
        assert page.locator("td.cell-error").first.is_visible()
        assert page.is_hidden("#findings-table") and page.is_hidden("#filters") and page.is_hidden("#quick")
        assert "needs JavaScript" in page.inner_text("#findings")


def test_screenshot_artifact(view: Page) -> None:
    view.click("#findings-body tr.row button[data-toggle]")
    ARTIFACTS.mkdir(exist_ok=True)
    view.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
