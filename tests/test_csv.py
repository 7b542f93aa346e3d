"""The CSV report: one row per finding under one header, values exact, formula injection neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, build_document, finding_id
from auditor.reports import RenderOptions, load_formats
from auditor.reports.csv import COLUMNS, neutralise, render_csv
from tests.support.journeys import journey_env, run_cli


def finding(resource: str, status: Status = Status.FAIL, message: str = "broken", **evidence: object) -> Finding:
    return Finding(
        id=finding_id("ptc-rule-coverage", "123456789012", "us-east-1", resource),
        rule_id="ptc-rule-coverage",
        title="A working pull-through cache rule exists",
        status=status,
        severity=Severity.HIGH,
        account="123456789012",
        region="us-east-1",
        resource=resource,
        message=message,
        evidence=dict(evidence),
        remediation="Create the rule.",
        fixable=True,
    )


def document(findings: list[Finding]) -> FindingsDocument:
    run = RunInfo(id="run-1", started=datetime(2026, 12, 1, tzinfo=UTC), rules=["ptc-rule-coverage"])
    return build_document(run, findings, {})


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


HOSTILE = {
    '=HYPERLINK("http://evil","x")': '\'=HYPERLINK("http://evil","x")',
    "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1": "'\t=1",
    "\r=1": "'\r=1",
    "plain/name": "plain/name",
    "a=b": "a=b",  # only the first character makes a formula
}


@pytest.mark.parametrize(("value", "cell"), list(HOSTILE.items()), ids=list(range(len(HOSTILE))))
def test_a_cell_that_would_start_a_formula_is_made_text(value: str, cell: str) -> None:
    assert neutralise(value) == cell
    [row] = rows(render_csv(document([finding(value, message=value)]), RenderOptions()))
    assert row["resource"] == cell and row["message"] == cell


def test_one_row_per_finding_under_one_header() -> None:
    findings = [
        finding("upstream/quay.io"),
        finding('comma, "quote"\nand newline'),  # quoted by the csv module, read back exactly
        finding("ok", status=Status.PASS),
        finding(
            "accepted",
            status=Status.MUTED,
            suppression={"owner": "team-a", "expires": "2027-01-31", "reason": "migrating", "original_status": "FAIL"},
        ),
    ]
    doc = document(findings)
    text = render_csv(doc, RenderOptions())
    assert text.splitlines()[0] == ",".join(COLUMNS)
    parsed = rows(text)
    assert [r["id"] for r in parsed] == [f.id for f in doc.findings]
    by_resource = {r["resource"]: r for r in parsed}
    assert 'comma, "quote"\nand newline' in by_resource
    muted = by_resource["accepted"]
    assert (muted["status"], muted["accepted_by"], muted["accepted_until"], muted["accepted_reason"]) == (
        "MUTED",
        "team-a",
        "2027-01-31",
        "migrating",
    )
    assert by_resource["ok"]["accepted_by"] == "" and by_resource["ok"]["group"] == "access"
    assert {r["new"] for r in parsed} == {""}  # no previous run: unknown


def test_new_against_the_previous_run() -> None:
    old = document([finding("upstream/quay.io")])
    new = document([finding("upstream/quay.io"), finding("upstream/ghcr.io")])
    parsed = {r["resource"]: r["new"] for r in rows(render_csv(new, RenderOptions(previous=old)))}
    assert parsed == {"upstream/quay.io": "no", "upstream/ghcr.io": "yes"}


def test_csv_is_a_registered_format() -> None:
    fmt = load_formats()["csv"]
    assert fmt.suffix == ".csv" and fmt.render is render_csv


def test_report_format_csv_as_a_user_runs_it(tmp_path: Path) -> None:
    (tmp_path / "findings.json").write_text(document([finding("=1+1"), finding("fine")]).model_dump_json())
    env = journey_env(tmp_path, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    to_stdout = run_cli(["report", "findings.json", "--format", "csv", "--out", "-"], cwd=tmp_path, env=env)
    assert to_stdout.returncode == 0, to_stdout.describe()
    assert [r["resource"] for r in rows(to_stdout.stdout)] == ["'=1+1", "fine"]
    beside = run_cli(["report", "findings.json", "--format", "csv"], cwd=tmp_path, env=env)
    assert beside.returncode == 0 and beside.stdout.strip().endswith("report.csv"), beside.describe()
    assert rows((tmp_path / "report.csv").read_text(encoding="utf-8"))[0]["resource"] == "'=1+1"
