"""The HTML report without a browser: counts, coverage matrix, escaping, no network, diff, suppressions, commands.

The page is parsed with the standard library's HTMLParser, so assertions look at elements and attributes the way a
browser would see them, not at the template's spelling. The browser behaviour is in test_report_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from collections import Counter
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import boto3
import jinja2
import markupsafe
import pytest

from auditor.findings import Finding, FindingsDocument, Severity, Status
from auditor.reports import FORMATS, RenderOptions
from auditor.reports import html as html_report
from auditor.reports.diff import diff_documents
from auditor.reports.html import render_html
from auditor.sandbox.seed import DemoAccount
from auditor.suppressions import Suppression
from tests.support.html_documents import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    CELL_DOWN,
    RULE_IDS,
    evidence_for,
    make_document,
    make_finding,
    repository_arn,
    scanned,
    varied_document,
)
from tests.support.sandbox import run_scan

XSS_PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
_VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "col", "source", "wbr", "area", "base", "embed"})


# --- reading the page ---------------------------------------------------------------------


class Page(HTMLParser):
    """Elements with their attributes, and the text inside every element that has an id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self._texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag not in _VOID:
            self._open.append((tag, attributes.get("id")))
            if "id" in attributes:
                self._texts.setdefault(attributes["id"], [])

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self._texts[element_id].append(data)

    def text(self, element_id: str) -> str:
        return " ".join(" ".join(self._texts[element_id]).split())

    def has(self, element_id: str) -> bool:
        return element_id in self._texts

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def island(self) -> dict[str, Any]:
        """The table's JSON island, with each row's evidence from the evidence island added as "evidence"."""
        table = json.loads("".join(self._texts["findings-data"]))
        evidence = json.loads("".join(self._texts["evidence-data"]))
        assert len(evidence) == len(table["findings"])
        table["fields"] = [*table["fields"], "evidence"]
        table["findings"] = [[*row, e] for row, e in zip(table["findings"], evidence, strict=True)]
        return table


def render(doc: FindingsDocument, previous: FindingsDocument | None = None) -> str:
    return render_html(doc, RenderOptions(previous=previous))


def island_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The embedded rows with lookups resolved, as a reader of the page would see them."""
    fields = data["fields"]
    lookups = {
        "status": data["statuses"],
        "severity": data["severities"],
        "rule": data["rules"],
        "account": data["accounts"],
        "region": data["regions"],
        "title": data["titles"],
        "remediation": data["remediations"],
        "commands": data["commands"],
    }
    rows = []
    for raw in data["findings"]:
        row = dict(zip(fields, raw, strict=True))
        rows.append({k: lookups[k][v] if k in lookups else v for k, v in row.items()})
    return rows


def unescaped_payloads(page_text: str) -> list[str]:
    """Markup an attacker controls that reached the page as markup: the report must never have any."""
    found = [p for p in XSS_PAYLOADS if p in page_text]
    parsed = Page(page_text)
    found += [f"<{tag}>" for tag, _ in parsed.elements if tag == "img"]
    found += [f"{tag} {name}=" for tag, attrs in parsed.elements for name in attrs if name.startswith("on")]
    if len(parsed.find("script")) != 3:  # the two JSON islands and the report's own script
        found.append(f"{len(parsed.find('script'))} <script> elements")
    return found


# --- tests ----------------------------------------------------------------------------------


def test_registered_as_the_html_format() -> None:
    fmt = FORMATS["html"]
    assert (fmt.suffix, fmt.render) == (".html", render_html)


def test_summary_counts_are_the_documents() -> None:
    doc = varied_document(2400)  # enough PASS findings for a thousands separator
    page = Page(render(doc))
    by_status = Counter(f.status.value for f in doc.findings)
    assert page.text("count-total") == f"{len(doc.findings):,}"
    for status in Status:
        assert page.text(f"count-{status.value}") == f"{by_status[status.value]:,}", status
    assert by_status["ERROR"] and by_status["MUTED"] and by_status["FAIL"]  # the document exercises every count
    assert "," in page.text("count-PASS")
    failed = Counter(f.severity.value for f in doc.findings if f.status == Status.FAIL)
    for severity in Severity:
        assert page.text(f"fail-{severity.value}") == f"{failed[severity.value]:,}", severity
    assert page.text("api-calls") == "5"
    assert doc.run.id in page.text("run-id")


def test_rule_table_counts_each_status_per_rule() -> None:
    doc = varied_document(120)
    text = render(doc)
    for rule_id in RULE_IDS:
        row = re.search(rf'<tr data-rule="{re.escape(rule_id)}">(.*?)</tr>', text, re.S)
        assert row is not None, rule_id
        cells = dict(re.findall(r'<td class="num" data-status="(\w+)">([\d,]+)</td>', row.group(1)))
        expected = Counter(f.status.value for f in doc.findings if f.rule_id == rule_id)
        assert cells == {s.value: f"{expected[s.value]:,}" for s in html_report.SUMMARY_STATUSES}


def test_demo_document_round_trips_through_the_json_island(demo: DemoAccount) -> None:
    doc = run_scan(boto3.Session(region_name=demo.region))
    page = Page(render(doc))
    rows = island_rows(page.island())
    assert [r["id"] for r in rows] == [f.id for f in doc.findings]
    for row, f in zip(rows, doc.findings, strict=True):
        assert (row["status"], row["severity"], row["rule"], row["account"], row["region"]) == (
            f.status.value,
            f.severity.value,
            f.rule_id,
            f.account,
            f.region,
        )
        assert (row["resource"], row["message"], row["evidence"]) == (f.resource, f.message, f.evidence)
        assert (row["title"], row["remediation"]) == (f.title, f.remediation)
    for status, count in doc.summary["by_status"].items():
        assert page.text(f"count-{status}") == f"{count:,}"


def test_coverage_matrix_marks_error_cells_and_cells_not_scanned() -> None:
    inner_error = make_finding(
        "repository-policy-grants-omics",
        Status.ERROR,
        repository_arn(ACCOUNT_C, "us-east-1", "quay/x"),
        account=ACCOUNT_C,
        evidence=evidence_for("repository-policy-grants-omics", Status.ERROR, "quay/x"),
    )
    doc = varied_document(60, extra=[inner_error])
    page = Page(render(doc))
    cells = {(c["data-account"], c["data-region"]): c["data-state"] for c in page.find("td") if "data-state" in c}
    assert cells[(ACCOUNT_B, "eu-west-1")] == "error"  # the target itself could not be scanned
    assert cells[(ACCOUNT_C, "us-east-1")] == "error"  # scanned, but one check could not read its data
    assert cells[(ACCOUNT_C, "eu-west-1")] == "not-scanned"  # no target and no finding
    assert cells[(ACCOUNT_A, "us-east-1")] in ("fail", "ok")
    assert len(cells) == 3 * 2
    text = render(doc)
    error_cell = re.search(rf'data-account="{ACCOUNT_B}" data-region="eu-west-1".*?</td>', text, re.S)
    assert error_cell is not None
    # Not colour only: a text marker, and the reason the cell could not be scanned.
    assert "⚠ ERROR" in error_cell.group(0)
    assert "AccessDenied" in error_cell.group(0)
    unscanned = re.search(rf'data-account="{ACCOUNT_C}" data-region="eu-west-1".*?</td>', text, re.S)
    assert unscanned is not None and "not scanned" in unscanned.group(0)


def test_findings_for_every_cell_stay_out_of_the_matrix() -> None:
    expired = Suppression(reason="old decision", owner="sec@example.org", expires=date(2025, 1, 1))
    doc = make_document(
        [make_finding("image-not-arm-only", Status.FAIL, "image/x")],
        scanned((ACCOUNT_A, "us-east-1")),
        suppressions=[expired],
    )
    assert {f.account for f in doc.findings} == {ACCOUNT_A, "*"}
    page = Page(render(doc))
    assert [(c["data-account"], c["data-region"]) for c in page.find("td") if "data-state" in c] == [
        (ACCOUNT_A, "us-east-1")
    ]
    assert "1 finding(s) belong to no single account and region" in render(doc)


def xss_document() -> tuple[FindingsDocument, FindingsDocument]:
    """Attacker-controlled text in every field a repository or policy name can reach, now and in the last run."""
    bad = [
        make_finding(
            "repository-policy-grants-omics",
            Status.FAIL,
            f"arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/{payload}",
            message=f"Repository {payload} does not let omics pull",
            evidence={"policy_excerpt": payload, "api_error": {"message": payload, "code": "</script>"}},
        )
        for payload in XSS_PAYLOADS
    ]
    gone = make_finding("image-not-arm-only", Status.FAIL, f"image/{XSS_PAYLOADS[0]}", message=XSS_PAYLOADS[1])
    muted = make_finding("service-role-can-pull", Status.FAIL, "arn:aws:iam::111111111111:role/Legacy")
    accept = Suppression(rule="service-role-can-pull", reason=XSS_PAYLOADS[1], owner=XSS_PAYLOADS[0])
    targets = scanned((ACCOUNT_A, "us-east-1"))
    previous = make_document([gone], targets, run_id="run-previous")
    return make_document([*bad, muted], targets, suppressions=[accept]), previous


def test_user_data_is_escaped_everywhere() -> None:
    doc, previous = xss_document()
    text = render(doc, previous)
    assert unescaped_payloads(text) == []
    page = Page(text)
    # Escaped, not dropped: the server-rendered parts show the text, the island decodes back to it.
    assert XSS_PAYLOADS[1] in page.text("accepted")  # suppression reason
    assert f"image/{XSS_PAYLOADS[0]}" in page.text("resolved")  # resolved finding from the last run
    resources = {r["resource"] for r in island_rows(page.island())}
    assert {f"arn:aws:ecr:us-east-1:{ACCOUNT_A}:repository/{p}" for p in XSS_PAYLOADS} <= resources


@pytest.mark.parametrize("island_id", ["findings-data", "evidence-data"])
def test_json_islands_cannot_close_their_script_element(island_id: str) -> None:
    doc, _ = xss_document()
    text = render(doc)
    opening = f'<script type="application/json" id="{island_id}">'
    start = text.index(opening) + len(opening)
    island = text[start : text.index("</script>", start)]
    assert "<" not in island and ">" not in island and "&" not in island and "'" not in island
    assert json.loads(island)  # the whole island, up to its real end, is valid JSON


def fresh_environment(*, autoescape: bool, tojson: Any = None) -> jinja2.Environment:
    """A new environment like the report's (compiled templates are cached per environment), with one change."""
    safe = html_report.environment()
    env = jinja2.Environment(loader=safe.loader, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)
    env.policies.update(safe.policies)
    env.filters.update(safe.filters)
    if tojson is not None:
        env.filters["tojson"] = tojson
    return env


def test_the_escaping_check_catches_autoescape_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    unsafe = fresh_environment(autoescape=False)
    monkeypatch.setattr(html_report, "environment", lambda: unsafe)
    doc, previous = xss_document()
    assert unescaped_payloads(render(doc, previous))


def test_the_escaping_check_catches_a_naive_json_island(monkeypatch: pytest.MonkeyPatch) -> None:
    naive = fresh_environment(autoescape=True, tojson=lambda value: markupsafe.Markup(json.dumps(value)))
    monkeypatch.setattr(html_report, "environment", lambda: naive)
    doc, _ = xss_document()
    assert unescaped_payloads(render(doc))


def test_nothing_is_fetched_from_the_network() -> None:
    links = {"upstream": "https://registry-1.docker.io/v2/", "docs": "http://example.com/a.png"}
    doc = varied_document(
        40,
        extra=[
            make_finding(
                "ptc-rule-coverage",
                Status.FAIL,
                "upstream/https://ghcr.io",
                message="see https://docs.aws.amazon.com/omics/ and url(https://evil.example/x.css)",
                evidence=links,
            )
        ],
    )
    text = render(doc, varied_document(10, run_id="run-previous"))
    page = Page(text)
    fetching = ("src", "href", "action", "formaction", "poster", "srcset", "data", "xlink:href", "background")
    for tag, attrs in page.elements:
        for name in fetching:
            if name in attrs:
                assert attrs[name].startswith(("#", "data:")), (tag, name, attrs[name])
    for tag in ("img", "iframe", "object", "embed", "audio", "video", "base"):
        assert not page.find(tag), tag
    assert page.find("form") == page.find("form", id="filters", **{"class": "controls", "hidden": ""})
    assert [a.get("rel") for a in page.find("link")] == ["icon"]
    styles_and_scripts = "".join(html_report.asset(name).text for name in ("report.css", "report.js"))
    assert not re.search(r"url\(|@import|https?://|fetch\(|XMLHttpRequest|innerHTML|import\(", styles_and_scripts)
    # The template adds no URL of its own (rule references, docs links): URLs here are only the findings' data,
    # which stays inside the JSON island as text.
    outside = re.sub(r'<script type="application/json".*?</script>', "", text, flags=re.S)
    assert not re.search(r"https?://", outside)


def test_csp_allows_only_the_inlined_style_and_script() -> None:
    text = render(varied_document(10))
    page = Page(text)
    (meta,) = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    policy = dict(part.strip().split(" ", 1) for part in meta["content"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"
    style = re.search(r"<style>(.*?)</style>", text, re.S)
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert style and script

    def digest(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    assert policy["style-src"] == digest(style.group(1))
    assert policy["script-src"] == digest(script.group(1))
    assert "unsafe-inline" not in meta["content"]


def diff_documents_pair() -> tuple[FindingsDocument, FindingsDocument, dict[str, Finding]]:
    """The last run and this one, with a finding of each kind of change."""
    a, b = (ACCOUNT_A, "us-east-1"), (ACCOUNT_B, "eu-west-1")

    def f(key: str, status: Status, cell: tuple[str, str] = a) -> Finding:
        rule_id = {"resolved": "registry-policy-allows-omics", "error-gone": "image-not-arm-only"}.get(
            key, "repository-policy-grants-omics"
        )
        return make_finding(rule_id, status, f"repository/{key}", account=cell[0], region=cell[1], fixable=True)

    before = [
        f("resolved", Status.FAIL),
        f("persisting", Status.FAIL),
        f("error-gone", Status.ERROR),
        f("unverified", Status.FAIL, b),
        f("was-pass", Status.PASS),
    ]
    now = [f("resolved", Status.PASS), f("persisting", Status.FAIL), f("new", Status.FAIL), f("was-pass", Status.ERROR)]
    previous = make_document(before, scanned(a, b), run_id="run-previous")
    current = make_document(now, scanned(a))
    return previous, current, {x.resource.split("/")[1]: x for x in before + now}


def test_previous_run_new_and_resolved() -> None:
    previous, current, by_key = diff_documents_pair()
    page = Page(render(current, previous))
    expected = {"new": 2, "resolved": 2, "persisting": 1, "muted": 0, "unverified": 1}
    assert diff_documents(previous, current).counts == expected
    for key, count in expected.items():
        assert page.text(f"diff-{key}") == f"{count:,}", key
    flagged = {r["id"] for r in island_rows(page.island()) if r["new"]}
    assert flagged == {by_key["new"].id, by_key["was-pass"].id}
    assert page.find("input", id="filter-new")
    resolved = page.text("resolved")
    assert "repository/resolved" in resolved and "repository/error-gone" in resolved
    assert "repository/persisting" not in resolved
    assert "repository/unverified" in page.text("unverified")


def test_without_a_previous_run_the_diff_parts_are_hidden() -> None:
    _, current, _ = diff_documents_pair()
    text = render(current)
    page = Page(text)
    for element_id in ("diff-counts", "changes", "resolved", "filter-new"):
        assert not page.has(element_id) and not page.find("input", id=element_id), element_id
    assert "since last run" not in text.lower()
    assert not any(r["new"] for r in island_rows(page.island()))


def test_muted_findings_show_their_suppression_reason() -> None:
    doc = varied_document(90)
    muted = [f for f in doc.findings if f.status == Status.MUTED]
    assert muted
    page = Page(render(doc))
    accepted = page.text("accepted")
    assert "legacy images, retired with the Q3 pipeline" in accepted
    assert "genomics-platform@example.org" in accepted and "2026-09-30" in accepted
    assert accepted.split()[-1] == f"{len(muted):,}"  # every muted finding counted in its group
    for row in island_rows(page.island()):
        if row["status"] == "MUTED":
            assert row["evidence"]["suppression"]["reason"] == "legacy images, retired with the Q3 pipeline"


@pytest.mark.parametrize(
    ("status", "fixable", "region", "rule_id", "expected"),
    [
        (
            Status.FAIL,
            True,
            "eu-west-1",
            "registry-policy-allows-omics",
            [
                ["omics-ecr-audit", "fix", "--regions", "eu-west-1", "--rules", "registry-policy-allows-omics"],
                [
                    *["omics-ecr-audit", "fix", "--regions", "eu-west-1", "--rules", "registry-policy-allows-omics"],
                    "--apply",
                ],
            ],
        ),
        (
            Status.FAIL,
            False,
            "us-east-1",
            "image-not-arm-only",
            # Only a person can fix it, but the plan prints the exact manual steps.
            [
                ["omics-ecr-audit", "fix", "--regions", "us-east-1", "--rules", "image-not-arm-only"],
                ["omics-ecr-audit", "scan", "--regions", "us-east-1", "--rules", "image-not-arm-only"],
            ],
        ),
        (
            Status.ERROR,
            False,
            "ap-south-1",
            "service-role-can-pull",
            [["omics-ecr-audit", "scan", "--regions", "ap-south-1", "--rules", "service-role-can-pull"]],
        ),
        # Not something a shell may expand or split: quoted, and still one argument.
        (
            Status.ERROR,
            False,
            "us-east-1; rm -rf ~",
            "ptc-rule-coverage",
            [["omics-ecr-audit", "scan", "--regions", "us-east-1; rm -rf ~", "--rules", "ptc-rule-coverage"]],
        ),
    ],
)
def test_cli_commands(status: Status, fixable: bool, region: str, rule_id: str, expected: list[list[str]]) -> None:
    f = make_finding(rule_id, status, "repository/x", region=region, fixable=fixable)
    commands = html_report.cli_commands(f, RULE_IDS)
    assert [shlex.split(c["command"]) for c in commands] == expected


def test_expired_suppression_command_names_no_rule_or_region() -> None:
    expired = Suppression(reason="old", owner="sec@example.org", expires=date(2025, 1, 1))
    doc = make_document([], scanned((ACCOUNT_A, "us-east-1")), suppressions=[expired])
    (finding,) = doc.findings
    assert [c["command"] for c in html_report.cli_commands(finding, doc.run.rules)] == ["omics-ecr-audit scan"]


def test_repeated_texts_are_embedded_once() -> None:
    doc = varied_document(400)
    data = Page(render(doc)).island()
    assert len(data["remediations"]) == len({f.remediation for f in doc.findings})
    assert len(data["commands"]) == len({json.dumps(html_report.cli_commands(f, RULE_IDS)) for f in doc.findings})
    # one per (rule, region, kind of fix), not one per finding
    assert len(data["commands"]) < len(doc.findings) / 4


def test_stacked_bar_spans_the_width_in_order() -> None:
    segments = html_report.stacked_bar({"PASS": 3, "FAIL": 1, "ERROR": 0}, ["PASS", "FAIL", "ERROR"])
    assert [(s.key, s.count, s.x, s.width) for s in segments] == [("PASS", 3, 0.0, 750.0), ("FAIL", 1, 750.0, 250.0)]


def test_evidence_that_is_not_plain_json_is_embedded_as_json() -> None:
    when = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    finding = make_finding(
        "ptc-rule-unchanged-during-run",
        Status.ERROR,
        "pull-through-cache-rule/quay",
        evidence={"at": when, "api_error": CELL_DOWN, "prefixes": ("quay",)},
    )
    doc = make_document([finding], scanned((ACCOUNT_A, "us-east-1")))
    (row,) = island_rows(Page(render(doc)).island())
    assert row["evidence"] == {
        "at": "2026-03-01T08:00:00Z",
        "api_error": CELL_DOWN.model_dump(mode="json"),
        "prefixes": ["quay"],
    }
