"""Run-to-run diff: new, resolved, persisting, muted and unverified findings, by stable finding id."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from auditor.cli import main
from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, Target, build_document, finding_id
from auditor.models import CallError
from auditor.reports.diff import diff_documents, render_diff
from auditor.sandbox.seed import seed_demo_account
from auditor.scan import suppress
from auditor.suppressions import Suppression
from tests.support.sandbox import ACCOUNT, PULL, REGION, omics_statement, policy, run_scan

RULE = "repository-policy-grants-omics"
SAMTOOLS = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/samtools"


def _finding(resource: str, status: Status, *, account: str = ACCOUNT, region: str = REGION) -> Finding:
    return Finding(
        id=finding_id(RULE, account, region, resource),
        rule_id=RULE,
        title="t",
        status=status,
        severity=Severity.HIGH,
        account=account,
        region=region,
        resource=resource,
        message=f"{resource} is {status.value}",
        remediation="r",
        fixable=True,
    )


def _doc(findings: list[Finding], targets: list[Target] | None = None, run_id: str = "run") -> FindingsDocument:
    run = RunInfo(id=run_id, started=datetime(2026, 11, 1, tzinfo=UTC), rules=[RULE])
    run.targets = targets if targets is not None else [Target(account=ACCOUNT, region=REGION, status="scanned")]
    return build_document(run, findings, {})


def _ids(items: list) -> set[str]:
    return {getattr(i, "finding", i).resource for i in items}


def test_each_category_by_stable_id() -> None:
    old = _doc(
        [
            _finding("fixed", Status.FAIL),
            _finding("still-broken", Status.FAIL),
            _finding("now-erroring", Status.FAIL),
            _finding("deleted", Status.FAIL),
            _finding("accepted", Status.FAIL),
            _finding("was-fine", Status.PASS),
        ],
        run_id="old",
    )
    new = _doc(
        [
            _finding("fixed", Status.PASS),
            _finding("still-broken", Status.FAIL),
            _finding("now-erroring", Status.ERROR),
            _finding("accepted", Status.MUTED),
            _finding("was-fine", Status.FAIL),
            _finding("brand-new", Status.ERROR),
        ],
        run_id="new",
    )
    d = diff_documents(old, new)
    assert _ids(d.new) == {"was-fine", "brand-new"}
    assert _ids(d.resolved) == {"fixed", "deleted"}
    assert _ids(d.persisting) == {"still-broken", "now-erroring"}
    assert {c.previous_status for c in d.persisting} == {Status.FAIL}
    assert _ids(d.muted) == {"accepted"}
    assert d.unverified == []
    assert d.counts == {"new": 2, "resolved": 2, "persisting": 2, "muted": 1, "unverified": 0}
    # The same document against itself changes nothing.
    same = diff_documents(new, new)
    assert same.new == [] and same.resolved == [] and len(same.persisting) == 4


def test_a_cell_nobody_looked_at_is_unverified_not_resolved() -> None:
    other = "eu-west-1"
    old = _doc(
        [_finding("a", Status.FAIL), _finding("b", Status.FAIL, region=other)],
        targets=[Target(account=ACCOUNT, region=r, status="scanned") for r in (REGION, other)],
    )
    # This run scanned only REGION: b's absence means nothing.
    new = _doc([], targets=[Target(account=ACCOUNT, region=REGION, status="scanned")])
    d = diff_documents(old, new)
    assert _ids(d.resolved) == {"a"} and _ids(d.unverified) == {"b"}

    # The cell errored this time: its old problems are unverified, and the cell ERROR itself is new.
    from auditor.engine import cell_error_findings, load_builtin_rules

    error = CallError(operation="sts:AssumeRole", code="AccessDenied", message="no")
    cell = cell_error_findings([load_builtin_rules()[RULE]], ACCOUNT, other, error)
    new = _doc(cell, targets=[Target(account=ACCOUNT, region=other, status="error", error=error)])
    d = diff_documents(old, new)
    assert _ids(d.unverified) == {"a", "b"}
    assert [f.resource for f in d.new] == [f"account/{ACCOUNT}/region/{other}"]


def test_an_expired_suppression_makes_a_muted_finding_new_again() -> None:
    old = suppress(
        _doc([_finding("legacy", Status.FAIL)]),
        [Suppression(rule=RULE, reason="legacy", owner="me@example.org", expires=date(2026, 12, 31))],
        today=date(2026, 11, 1),
    )
    assert old.findings[0].status == Status.MUTED
    new = suppress(
        _doc([_finding("legacy", Status.FAIL)]),
        [Suppression(rule=RULE, reason="legacy", owner="me@example.org", expires=date(2026, 12, 31))],
        today=date(2027, 1, 1),
    )
    d = diff_documents(old, new)
    assert "legacy" in _ids(d.new)


def test_live_scans_of_a_changing_account(aws, tmp_path, capsys) -> None:
    """Two real scans of the sandbox: fix one repository, break a new one, and diff them through the CLI."""
    seed_demo_account(aws, pause=1.05)
    before = run_scan(aws, rules=[RULE])
    assert {f.resource: f.status for f in before.findings}[SAMTOOLS] == Status.FAIL

    ecr = aws.client("ecr")
    ecr.set_repository_policy(
        repositoryName="quay/biocontainers/samtools",
        policyText=policy(omics_statement(PULL)),
    )
    ecr.create_repository(repositoryName="quay/biocontainers/bwa")
    after = run_scan(aws, rules=[RULE])

    d = diff_documents(before, after)
    bwa = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/bwa"
    assert _ids(d.resolved) == {SAMTOOLS}
    assert _ids(d.new) == {bwa}
    assert d.resolved[0].id == finding_id(RULE, ACCOUNT, REGION, SAMTOOLS)

    old_file, new_file = tmp_path / "old.json", tmp_path / "new.json"
    old_file.write_text(before.model_dump_json())
    new_file.write_text(after.model_dump_json())
    assert main(["diff", str(old_file), str(new_file)]) == 0
    text = capsys.readouterr().out
    assert "new 1  resolved 1" in text and bwa in text and SAMTOOLS in text
    assert main(["diff", str(old_file), str(new_file), "--fail-on-new"]) == 1
    assert main(["diff", str(old_file), str(old_file), "--fail-on-new"]) == 0
    capsys.readouterr()
    assert main(["diff", str(old_file), str(new_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["new"] == 1 and out["new"][0]["resource"] == bwa
    assert out["resolved"][0]["resource"] == SAMTOOLS


def test_diff_rejects_bad_files_with_one_line(tmp_path, capsys) -> None:
    good = tmp_path / "good.json"
    good.write_text(_doc([]).model_dump_json())
    bad = tmp_path / "bad.json"
    bad.write_text('{"run": 1}')
    assert main(["diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err
    assert main(["diff", str(tmp_path / "missing.json"), str(good)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_render_lists_every_category() -> None:
    old = _doc([_finding("x", Status.FAIL), _finding("y", Status.FAIL)], run_id="r1")
    new = _doc([_finding("y", Status.FAIL), _finding("z", Status.FAIL)], run_id="r2")
    text = render_diff(diff_documents(old, new))
    assert text.splitlines()[0] == "diff r1 → r2"
    assert "New:" in text and "Resolved:" in text and "Persisting:" in text
    assert text.index("+ FAIL") < text.index("- FAIL")
