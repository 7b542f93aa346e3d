"""The demo scenario end to end: exactly the seeded defects FAIL, every rule also PASSes somewhere, nothing ERRORs."""

from __future__ import annotations

import json
import re

from auditor.cli import main
from auditor.engine import load_builtin_rules
from auditor.findings import Status
from auditor.sandbox.seed import (
    DEMO_CONFIG,
    EXPECTED_FAILED_RUNS,
    expected_failed_runs,
    expected_failures,
    seed_demo_account,
)
from tests.support.sandbox import run_scan


def test_demo_scan_finds_exactly_the_seeded_defects(aws) -> None:
    demo = seed_demo_account(aws)
    doc = run_scan(aws, config=DEMO_CONFIG)  # as `demo` scans it: the opt-in vulnerability rule on
    expected = expected_failures(demo, opt_in=True)
    rules = load_builtin_rules()
    assert set(expected) == set(rules), "every rule has a deliberate defect in the demo"
    for rule_id in rules:
        found = {f.resource for f in doc.findings if f.rule_id == rule_id and f.status == Status.FAIL}
        assert found == expected[rule_id], rule_id
        assert any(f.status == Status.PASS for f in doc.findings if f.rule_id == rule_id), rule_id
    assert not [f for f in doc.findings if f.status == Status.ERROR]


def test_demo_failed_runs_are_explained_by_exactly_the_seeded_defects(aws) -> None:
    demo = seed_demo_account(aws)
    doc = run_scan(aws)
    expected = expected_failed_runs(demo)
    assert set(EXPECTED_FAILED_RUNS) <= set(demo.runs)
    assert {r.run_id for r in doc.failed_runs} == set(expected)
    findings = {f.id: f for f in doc.findings}
    for failed in doc.failed_runs:
        linked: dict[str, set[str]] = {}
        for link in (link for f in failed.failures for link in f.findings):
            linked.setdefault(link.rule_id, set()).add(link.resource)
            assert findings[link.finding_id].status == Status.FAIL
            assert findings[link.finding_id].remediation == link.remediation
        assert linked == expected[failed.run_id], failed.run_id
        assert failed.container_related == bool(expected[failed.run_id])
        # every explaining finding is one of the seeded defects
        for rule_id, resources in linked.items():
            assert resources <= expected_failures(demo)[rule_id]


def test_demo_command_writes_findings(tmp_path, capsys) -> None:
    rc = main(["demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1  # FAILs at or above the default threshold, no ERROR
    doc = json.loads((tmp_path / "findings.json").read_text())
    assert doc["schema_version"] == "1.1"
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
    # the failed runs of the look-back window, explained, in the document and the summary
    assert len(doc["failed_runs"]) == len(EXPECTED_FAILED_RUNS)
    assert "failed runs: 2 in the look-back window" in out
    # `make demo` writes the HTML report beside findings.json, and says so
    html = (tmp_path / "report.html").read_text()
    assert f"report written to {tmp_path / 'report.html'}" in out
    assert doc["run"]["id"] in html and "pull-through-cache-rule/ghcr" in html
    # the demo's secrets never leak into the findings or the report
    for name in ("findings.json", "report.html"):
        assert "dckr_pat_DEMO" not in (tmp_path / name).read_text(), name


def test_demo_fix_writes_plan_applies_and_rescans(tmp_path, capsys) -> None:
    rc = main(["demo", "--out", str(tmp_path), "--fix"])
    out = capsys.readouterr().out
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["changes"], "the demo has fixable defects"
    for change in plan["changes"]:
        assert set(change) >= {"rule_id", "resource", "api_calls", "before", "after"}
        assert change["api_calls"] and all(c["operation"] for c in change["api_calls"])
    before = json.loads((tmp_path / "findings.json").read_text())["findings"]
    after = {f["id"]: f for f in json.loads((tmp_path / "findings-after.json").read_text())["findings"]}
    report = json.loads((tmp_path / "fix-report.json").read_text()) if (tmp_path / "fix-report.json").exists() else None
    assert report is None  # the demo prints its report; fix-report.json belongs to `fix`
    blocked = {fid for c in plan["changes"] if c["blocked_by"] for fid in c["finding_ids"]}
    assert blocked, "the demo's active run blocks the registry.k8s.io cache rule (the interlock at work)"
    fixable = [f for f in before if f["fixable"] and f["id"] not in blocked]
    assert {f["rule_id"] for f in fixable} >= {
        "registry-policy-allows-omics",
        "creation-template-grants-omics",
        "repository-policy-grants-omics",
        "service-role-can-pull",
        "ecr-scanning-on",
    }
    for f in fixable:
        assert after[f["id"]]["status"] == "PASS", (f["rule_id"], f["resource"], after[f["id"]]["message"])
    # whatever a person must do stays FAIL, and the plan says how
    for f in before:
        if f["status"] == "FAIL" and not f["fixable"]:
            assert after[f["id"]]["status"] == "FAIL"
    assert {m["rule_id"] for m in plan["manual"]} == {
        "workflow-images-resolve",
        "ptc-rule-coverage",
        "service-role-trusts-omics",
        "cross-account-source-grants",
        "image-not-arm-only",
        "ptc-rule-unchanged-during-run",
        "registry-map-consistent",
        "template-role-for-kms-and-tags",
        "cloudtrail-records-changes",
        "lifecycle-keeps-used-images",
        "grants-scoped",
        "pinned-by-digest",
        "image-runnable",
        "image-vulnerabilities",
    }
    assert "undo with: omics-ecr-audit rollback" in out
    assert rc == 1  # FAILs remain that need a person
    # the report after the fix is diffed against the one before: what the fix resolved is listed
    after_html = (tmp_path / "report-after.html").read_text()
    assert "Resolved since last run" in after_html
    resolved = sum(1 for f in before if f["status"] == "FAIL" and after[f["id"]]["status"] == "PASS")
    assert resolved >= len(fixable)
    shown = re.search(r'id="diff-resolved">([\d,]+)<', after_html)
    assert shown and int(shown.group(1).replace(",", "")) == resolved
