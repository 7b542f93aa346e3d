"""The report commands end to end: `report`, `scan --output`, `--previous` and `--to-securityhub` through the CLI."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import pytest
from junitparser import JUnitXml

from auditor.cli import main
from auditor.reports import load_formats
from auditor.sandbox.seed import seed_demo_account
from tests.support.sandbox import REGION


@pytest.fixture
def scanned(aws, tmp_path):
    """The demo account scanned through the CLI with every report format."""
    seed_demo_account(aws, pause=1.05)
    out = tmp_path / "scan"
    rc = main(["scan", "--out", str(out), "--regions", REGION, "--output", "html,sarif,junit,asff,ocsf,csv", "--quiet"])
    assert rc == 1
    return aws, out


def test_scan_output_writes_every_format_beside_findings(scanned) -> None:
    _, out = scanned
    doc = json.loads((out / "findings.json").read_text())
    problems = [f for f in doc["findings"] if f["status"] in ("FAIL", "ERROR")]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["findings.json", *(f"report{fmt.suffix}" for fmt in load_formats().values())]
    )
    assert doc["run"]["id"] in (out / "report.html").read_text()
    sarif = json.loads((out / "report.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == len(problems)
    junit = JUnitXml.fromstring((out / "report.xml").read_text())
    assert sum(s.tests for s in junit) == len(doc["findings"])
    asff = json.loads((out / "report.asff.json").read_text())
    assert {a["Id"].rsplit("/", 1)[-1] for a in asff} == {f["id"] for f in doc["findings"]}
    ocsf = json.loads((out / "report.ocsf.json").read_text())
    assert len(ocsf) == len(doc["findings"]) and {e["class_uid"] for e in ocsf} == {2004}
    rows = list(csv.DictReader((out / "report.csv").open(encoding="utf-8", newline="")))
    assert [r["id"] for r in rows] == [f["id"] for f in doc["findings"]]


def test_report_renders_a_saved_findings_file(scanned, tmp_path, capsys) -> None:
    _, out = scanned
    findings = out / "findings.json"
    # default: html beside the findings file
    (out / "report.html").unlink()
    assert main(["report", str(findings)]) == 0
    assert (out / "report.html").is_file()
    # several formats into a folder
    folder = tmp_path / "reports"
    assert main(["report", str(findings), "--format", "junit,sarif", "--out", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["report.sarif", "report.xml"]
    # one format to a named file, and to stdout
    assert main(["report", str(findings), "--format", "junit", "--out", str(tmp_path / "tests.xml")]) == 0
    ET.fromstring((tmp_path / "tests.xml").read_text())
    capsys.readouterr()
    assert main(["report", str(findings), "--format", "sarif", "--out", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "2.1.0"


def test_report_with_previous_marks_new_findings(scanned, tmp_path) -> None:
    aws, out = scanned
    aws.client("ecr").create_repository(repositoryName="quay/biocontainers/bwa")
    again = tmp_path / "again"
    rc = main(["scan", "--out", str(again), "--regions", REGION, "--quiet", "--previous", str(out / "findings.json")])
    assert rc == 1
    assert main(["report", str(again / "findings.json"), "--previous", str(out / "findings.json")]) == 0
    html = (again / "report.html").read_text()
    assert 'id="diff-new">1<' in html and "quay/biocontainers/bwa" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "unknown report format(s): pdf"),
        (["--format", "html,sarif", "--out", "-"], "exactly one --format"),
        (["--previous", "missing.json"], "cannot read findings document"),
    ],
)
def test_report_bad_input_is_one_line(scanned, capsys, args, message) -> None:
    _, out = scanned
    assert main(["report", str(out / "findings.json"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_report_of_a_file_that_is_not_findings(tmp_path, capsys) -> None:
    bad = tmp_path / "findings.json"
    bad.write_text("[1, 2]")
    assert main(["report", str(bad)]) == 2
    assert "not a valid findings document" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_scan_to_securityhub_imports_and_reimport_updates(scanned, tmp_path, capsys) -> None:
    aws, out = scanned
    hub = aws.client("securityhub", region_name=REGION)
    hub.enable_security_hub()
    findings = out / "findings.json"
    doc = json.loads(findings.read_text())
    capsys.readouterr()
    assert (
        main(["report", str(findings), "--format", "asff", "--out", str(tmp_path / "a.json"), "--to-securityhub"]) == 0
    )
    assert "imported" in capsys.readouterr().err
    first = hub.get_findings(MaxResults=100)
    total = len(first["Findings"])
    while "NextToken" in first:
        first = hub.get_findings(MaxResults=100, NextToken=first["NextToken"])
        total += len(first["Findings"])
    assert total == len(doc["findings"])
    # a second scan imports the same ids again: updated, not duplicated
    assert main(["scan", "--out", str(tmp_path / "s2"), "--regions", REGION, "--quiet", "--to-securityhub"]) == 1
    ids = []
    page = hub.get_findings(MaxResults=100)
    ids += [f["Id"] for f in page["Findings"]]
    while "NextToken" in page:
        page = hub.get_findings(MaxResults=100, NextToken=page["NextToken"])
        ids += [f["Id"] for f in page["Findings"]]
    assert len(ids) == len(set(ids)) == len(doc["findings"])


def test_securityhub_not_enabled_is_a_clear_error(scanned, capsys) -> None:
    _, out = scanned
    assert main(["report", str(out / "findings.json"), "--to-securityhub", "--out", "-", "--format", "junit"]) == 2
    err = capsys.readouterr().err
    assert "Security Hub" in err and "Traceback" not in err
