"""Findings documents built by hand for the HTML report: three accounts, two regions, every rule and status.

Used by tests/test_report_html.py and tests/test_report_browser.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from auditor.engine import cell_error_findings, load_builtin_rules
from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, Target, build_document, finding_id
from auditor.models import CallError
from auditor.scan import suppress
from auditor.suppressions import Suppression

RULES = load_builtin_rules()
RULE_IDS = list(RULES)
ACCOUNT_A, ACCOUNT_B, ACCOUNT_C = "111111111111", "222222222222", "333333333333"
STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TODAY = date(2026, 3, 2)
CELL_DOWN = CallError(
    operation="sts:GetCallerIdentity",
    code="AccessDenied",
    message="User is not authorized to perform sts:GetCallerIdentity",
    permission="sts:GetCallerIdentity",
    resource="region/eu-west-1",
)


def make_finding(
    rule_id: str,
    status: Status,
    resource: str,
    *,
    account: str = ACCOUNT_A,
    region: str = "us-east-1",
    message: str | None = None,
    evidence: dict[str, Any] | None = None,
    fixable: bool = False,
    severity: Severity | None = None,
) -> Finding:
    meta = RULES[rule_id].meta
    return Finding(
        id=finding_id(rule_id, account, region, resource),
        rule_id=rule_id,
        title=meta.title,
        status=status,
        severity=severity or meta.severity,
        account=account,
        region=region,
        resource=resource,
        message=message or f"{meta.title}: {status.value.lower()} for {resource}.",
        evidence=evidence or {},
        remediation=meta.remediation,
        fixable=fixable and status == Status.FAIL,
    )


def make_document(
    findings: Iterable[Finding],
    targets: Sequence[Target],
    *,
    run_id: str = "run-current",
    suppressions: Sequence[Suppression] = (),
    api_calls: dict[str, int] | None = None,
) -> FindingsDocument:
    run = RunInfo(id=run_id, started=STARTED, mode="live", targets=list(targets), rules=RULE_IDS)
    doc = build_document(run, list(findings), api_calls or {"ecr:DescribeRepositories": 3, "iam:GetRole": 2})
    return suppress(doc, list(suppressions), today=TODAY) if suppressions else doc


def scanned(*cells: tuple[str, str]) -> list[Target]:
    return [Target(account=a, region=r, status="scanned") for a, r in cells]


def repository_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


def evidence_for(rule_id: str, status: Status, resource: str) -> dict[str, Any]:
    """Evidence shaped like the real rules' (policy excerpts, decisions, API errors)."""
    if status == Status.ERROR:
        return {
            "api_error": {
                "operation": "ecr:GetRepositoryPolicy",
                "code": "AccessDeniedException",
                "message": "not authorized",
                "permission": "ecr:GetRepositoryPolicy",
                "resource": resource,
            }
        }
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "OmicsPull", "Effect": "Allow", "Action": ["ecr:*"]}]}
    return {
        "decision": status.value,
        "why_checked": [f"rule {rule_id}"],
        "missing": ["ecr:BatchGetImage"] if status == Status.FAIL else [],
        "policy_excerpt": json.dumps(policy),
    }


def varied_document(
    count: int, *, seed: int = 7, extra: Sequence[Finding] = (), run_id: str = "run-current"
) -> FindingsDocument:
    """``count`` findings over three accounts and two regions (ACCOUNT_C/eu-west-1 not scanned), every rule and
    status, a cell that could not be scanned (ACCOUNT_B/eu-west-1), an ERROR inside a scanned cell, and MUTED
    findings from a suppression of one repository family."""
    rng = random.Random(seed)
    cells = [(ACCOUNT_A, "us-east-1"), (ACCOUNT_A, "eu-west-1"), (ACCOUNT_B, "us-east-1"), (ACCOUNT_C, "us-east-1")]
    weights = {Status.PASS: 50, Status.FAIL: 30, Status.NOT_APPLICABLE: 8, Status.ERROR: 2}
    findings: list[Finding] = []
    for n in range(count):
        account, region = cells[n % len(cells)]
        rule_id = RULE_IDS[n // len(cells) % len(RULE_IDS)]  # every rule in every cell
        status = rng.choices(list(weights), weights=list(weights.values()))[0]
        family = "legacy" if n % 9 == 0 else rng.choice(["biocontainers", "library", "nf-core"])
        resource = repository_arn(account, region, f"quay/{family}/tool-{n:04d}")
        findings.append(
            make_finding(
                rule_id,
                status,
                resource,
                account=account,
                region=region,
                evidence=evidence_for(rule_id, status, resource),
                fixable=RULES[rule_id].meta.fixable and n % 3 != 0,
                severity=Severity.MEDIUM if n % 5 == 0 else None,
            )
        )
    findings.extend(cell_error_findings(RULES.values(), ACCOUNT_B, "eu-west-1", CELL_DOWN))
    findings.extend(extra)
    targets = [*scanned(*cells), Target(account=ACCOUNT_B, region="eu-west-1", status="error", error=CELL_DOWN)]
    legacy = Suppression(
        resource="arn:aws:ecr:*:repository/quay/legacy/*",
        reason="legacy images, retired with the Q3 pipeline",
        owner="genomics-platform@example.org",
        expires=date(2026, 9, 30),
    )
    return make_document(findings, targets, run_id=run_id, suppressions=[legacy])
