"""The demo scenario end to end: exactly the seeded defects FAIL, every rule also PASSes somewhere, nothing ERRORs."""

from __future__ import annotations

import json

from auditor.cli import main
from auditor.engine import Status, load_builtin_rules
from auditor.sandbox.seed import expected_failures, seed_demo_account
from tests.conftest import run_scan


def test_demo_scan_finds_exactly_the_seeded_defects(aws) -> None:
    demo = seed_demo_account(aws)
    doc = run_scan(aws)
    expected = expected_failures(demo)
    rules = load_builtin_rules()
    assert set(expected) == set(rules), "every rule has a deliberate defect in the demo"
    for rule_id in rules:
        found = {f.resource for f in doc.findings if f.rule_id == rule_id and f.status == Status.FAIL}
        assert found == expected[rule_id], rule_id
        assert any(f.status == Status.PASS for f in doc.findings if f.rule_id == rule_id), rule_id
    assert not [f for f in doc.findings if f.status == Status.ERROR]


def test_demo_command_writes_findings(tmp_path, capsys) -> None:
    rc = main(["demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1  # FAILs at or above the default threshold, no ERROR
    doc = json.loads((tmp_path / "findings.json").read_text())
    assert doc["schema_version"] == "1.0"
    assert set(doc) >= {"schema_version", "run", "findings", "api_calls"}
    assert set(doc["run"]) >= {"id", "started", "finished", "tool_version", "targets"}
    for finding in doc["findings"]:
        assert set(finding) >= {
            "id",
            "rule_id",
            "title",
            "status",
            "severity",
            "account",
            "region",
            "resource",
            "message",
            "evidence",
            "remediation",
            "fixable",
        }
    assert "FAIL" in out and "findings written to" in out
    # the demo's secrets never leak into the report
    assert "dckr_pat_DEMO" not in (tmp_path / "findings.json").read_text()
