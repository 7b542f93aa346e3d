"""Findings documents built by hand for the machine-readable reports (SARIF, JUnit, OCSF, ASFF).

Used by tests/test_report_formats.py and tests/test_securityhub.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditor.engine import cell_error_findings, load_builtin_rules
from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, Target, finding_id, summarize
from auditor.models import CallError
from auditor.scan import suppress
from auditor.suppressions import EXPIRED_RULE_ID, Suppression
from tests.support.sandbox import ACCOUNT, REGION

T0 = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
REPO = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/samtools"
RULE = "repository-policy-grants-omics"


def with_suppressions(doc: FindingsDocument) -> FindingsDocument:
    """The scan with the ARM-only image accepted as a risk (and one suppression already expired)."""
    rules = [
        Suppression(
            rule="image-not-arm-only",
            resource="*arm-tool*",
            reason="vendor ships arm64 only",
            owner="genomics@example.org",
            expires=date(2099, 1, 1),
        ),
        Suppression(rule="ptc-rule-coverage", reason="old decision", owner="ops@example.org", expires=date(2020, 1, 1)),
    ]
    muted = suppress(doc, rules, today=date(2026, 1, 1))
    assert any(f.status == Status.MUTED for f in muted.findings)
    assert any(f.rule_id == EXPIRED_RULE_ID for f in muted.findings)
    return muted


def make_finding(
    status: Status,
    resource: str = REPO,
    *,
    rule_id: str = RULE,
    account: str = ACCOUNT,
    region: str = REGION,
    message: str | None = None,
    severity: Severity = Severity.HIGH,
    title: str = "Every cache repository lets omics pull",
    evidence: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        id=finding_id(rule_id, account, region, resource),
        rule_id=rule_id,
        title=title,
        status=status,
        severity=severity,
        account=account,
        region=region,
        resource=resource,
        message=message if message is not None else f"{resource} is {status.value}",
        evidence=evidence or {},
        remediation="Add the omics pull statement to the repository policy.",
        fixable=status == Status.FAIL,
    )


def make_doc(
    findings: list[Finding],
    *,
    targets: list[Target] | None = None,
    rules: list[str] | None = None,
    run_id: str | None = None,
    started: datetime = T0,
) -> FindingsDocument:
    run = RunInfo(
        id=run_id or str(uuid.uuid4()),
        started=started,
        finished=started + timedelta(seconds=42),
        rules=rules if rules is not None else list(dict.fromkeys(f.rule_id for f in findings)),
        targets=targets if targets is not None else [Target(account=ACCOUNT, region=REGION, status="scanned")],
    )
    return FindingsDocument(run=run, findings=findings, summary=summarize(findings, run.rules))


def error_cell_doc() -> FindingsDocument:
    """A scan of two regions where eu-west-1 could not be scanned at all (ERROR for every rule)."""
    rules = [r for rule_id, r in load_builtin_rules().items() if rule_id in (RULE, "ptc-rule-coverage")]
    error = CallError(operation="sts:GetCallerIdentity", code="ExpiredToken", message="The token has expired")
    findings = [make_finding(Status.PASS), *cell_error_findings(rules, ACCOUNT, "eu-west-1", error)]
    targets = [
        Target(account=ACCOUNT, region=REGION, status="scanned"),
        Target(account=ACCOUNT, region="eu-west-1", status="error", error=error),
    ]
    return make_doc(findings, targets=targets, rules=[r.meta.id for r in rules])


def empty_doc() -> FindingsDocument:
    return make_doc([], targets=[], rules=[])


def muted_record(reason: str = "accepted", owner: str = "me@example.org", expires: str | None = "2027-03-31") -> dict:
    return {"suppression": {"reason": reason, "owner": owner, "expires": expires, "original_status": "FAIL"}}
