"""OCSF 1.5.0 Detection Finding events (class 2004, category 2 "Findings"), one per finding.

The output is **one JSON array** of events: a single JSON document, as the ``.ocsf.json`` suffix promises and as
Prowler's OCSF output and Security Lake's custom-source tooling read it; convert to JSON lines with
``jq -c '.[]'`` when a pipeline wants one event per line. The events are plain dicts; their shape is checked in
the tests against py-ocsf-models' ``DetectionFinding`` (the maintained model Prowler uses), so the renderer needs no
extra runtime dependency.

Mapping
-------

* ``activity_id``: Create (1) without a previous document or for a finding new since it; Update (2) for a
  finding the previous document had; Close (3) for a previous FAIL/ERROR whose resource a successful scan of its
  cell no longer reports. ``type_uid`` = 2004 * 100 + activity_id (200401, 200402, 200403).
* ``finding_info``: ``uid`` = the stable finding id, ``title`` = the rule title, ``desc`` = the message,
  ``types`` = ``Software and Configuration Checks/AWS Security Best Practices``, ``analytic`` = the rule
  (type Rule), ``created_time``/``first_seen_time`` = run start, ``last_seen_time``/``modified_time`` = run end
  (the document does not know when a problem was first seen). ``time`` = run end. Times are epoch milliseconds.
* ``resources``: uid, name, type (the Security Hub resource type names), region, cloud_partition.
* ``cloud``: provider ``AWS``, ``account`` (uid, type AWS Account), ``region``; left out when the finding's
  account or region is a wildcard (an expired suppression's ``*``).
* ``metadata``: product (name, vendor_name, version), ``version`` 1.5.0, ``event_code`` = rule id,
  ``uid`` = ``<run id>/<finding id>``, ``profiles`` = ``cloud``.
* ``remediation``: the rule's remediation text and references.
* Detection Finding has no ``compliance`` attribute (that belongs to Compliance Finding, class 2003), so the
  compliance verdict goes to ``unmapped.compliance`` (an OCSF Compliance object: control = rule id,
  status_id), with our status, rule severity, fixable, run id, evidence and any suppression record.

=============== ============== ================== ============================ ==================
status          status_id      severity_id        unmapped.compliance.status   status_code
=============== ============== ================== ============================ ==================
FAIL            1 New          from severity [1]  3 Fail                       FAIL
ERROR           1 New          from severity [1]  2 Warning (no result)        ERROR
MUTED           3 Suppressed   from severity [1]  Fail / Warning (original)    MUTED
PASS            4 Resolved     1 Informational    1 Pass                       PASS
NOT_APPLICABLE  5 Archived     1 Informational    0 Unknown                    NOT_APPLICABLE
gone            4 Resolved     1 Informational    1 Pass                       ABSENT
=============== ============== ================== ============================ ==================

[1] critical 5, high 4, medium 3, low 2, info 1 (Critical, High, Medium, Low, Informational).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from auditor.engine import load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Severity, Status
from auditor.reports import RenderOptions, report_format
from auditor.reports.asff import (
    FINDING_TYPE,
    describe_resource,
    gone_findings,
    is_account,
    is_region,
    partition_for_region,
)

OCSF_VERSION = "1.5.0"
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
PRODUCT = {"name": "omics-ecr-audit", "vendor_name": "omics-ecr-audit"}

_ACTIVITY = {1: "Create", 2: "Update", 3: "Close"}
_SEVERITY_ID = {
    Severity.CRITICAL: (5, "Critical"),
    Severity.HIGH: (4, "High"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.LOW: (2, "Low"),
    Severity.INFO: (1, "Informational"),
}
_INFORMATIONAL = (1, "Informational")
_STATUS_ID = {
    Status.FAIL: (1, "New"),
    Status.ERROR: (1, "New"),
    Status.MUTED: (3, "Suppressed"),
    Status.PASS: (4, "Resolved"),
    Status.NOT_APPLICABLE: (5, "Archived"),
}
_COMPLIANCE = {
    Status.PASS: (1, "Pass"),
    Status.ERROR: (2, "Warning"),  # "did not yield a result due to missing information"
    Status.FAIL: (3, "Fail"),
    Status.NOT_APPLICABLE: (0, "Unknown"),
}


def epoch_ms(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def _compliance(finding: Finding, gone: bool) -> dict[str, Any]:
    status = finding.status
    if gone:
        status = Status.PASS
    elif status == Status.MUTED:
        original = (finding.evidence.get("suppression") or {}).get("original_status", "FAIL")
        status = Status.ERROR if original == Status.ERROR.value else Status.FAIL
    status_id, caption = _COMPLIANCE[status]
    return {"control": finding.rule_id, "standards": ["omics-ecr-audit"], "status_id": status_id, "status": caption}


def _resource(finding: Finding) -> dict[str, Any]:
    ref = describe_resource(finding)
    out: dict[str, Any] = {"uid": ref.id, "name": ref.name, "type": ref.type}
    if is_region(finding.region):
        out["region"] = finding.region
        out["cloud_partition"] = ref.partition or partition_for_region(finding.region)
    elif ref.partition:
        out["cloud_partition"] = ref.partition
    return out


def _cloud(finding: Finding) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": "AWS"}
    if is_account(finding.account):
        cloud["account"] = {"uid": finding.account, "name": finding.account, "type_id": 10, "type": "AWS Account"}
    if is_region(finding.region):
        cloud["region"] = finding.region
    return cloud


def to_event(
    finding: Finding,
    *,
    doc: FindingsDocument,
    activity_id: int,
    references: list[str] | None = None,
    gone: bool = False,
) -> dict[str, Any]:
    """One Detection Finding event as a plain dict (None values left out)."""
    started = epoch_ms(doc.run.started)
    ended = epoch_ms(doc.run.finished or doc.run.started)
    passing = gone or finding.status in (Status.PASS, Status.NOT_APPLICABLE)
    severity_id, severity = _INFORMATIONAL if passing else _SEVERITY_ID[finding.severity]
    status_id, status = (4, "Resolved") if gone else _STATUS_ID[finding.status]
    message = (
        f"{finding.resource} is no longer present in this scan. Last seen: {finding.message}"
        if gone
        else finding.message
    )
    extras: dict[str, Any] = {
        "compliance": _compliance(finding, gone),
        "status": "ABSENT" if gone else finding.status.value,
        "rule_severity": finding.severity.value,
        "fixable": finding.fixable,
        "run_id": doc.run.id,
        "resource": finding.resource,
    }
    if finding.evidence:
        # JSON-mode dump: evidence built during a live scan may hold datetimes and enums.
        extras["evidence"] = finding.model_dump(mode="json", include={"evidence"})["evidence"]
    event: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": _ACTIVITY[activity_id],
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {_ACTIVITY[activity_id]}",
        "time": ended,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": extras["status"],
        "status_detail": message,
        "message": message,
        "metadata": {
            "product": {**PRODUCT, "version": doc.run.tool_version},
            "version": OCSF_VERSION,
            "event_code": finding.rule_id,
            "uid": f"{doc.run.id}/{finding.id}",
            "profiles": ["cloud"],
        },
        "finding_info": {
            "uid": finding.id,
            "title": finding.title or finding.rule_id,
            "desc": message,
            "types": [FINDING_TYPE],
            "analytic": {
                "uid": finding.rule_id,
                "name": finding.title or finding.rule_id,
                "type_id": 1,
                "type": "Rule",
            },
            "created_time": started,
            "first_seen_time": started,
            "last_seen_time": ended,
            "modified_time": ended,
        },
        "resources": [_resource(finding)],
        "cloud": _cloud(finding),
        "unmapped": extras,
    }
    if finding.remediation:
        remediation: dict[str, Any] = {"desc": finding.remediation}
        if references:
            remediation["references"] = list(references)
        event["remediation"] = remediation
    return event


def to_ocsf(doc: FindingsDocument, previous: FindingsDocument | None = None) -> list[dict[str, Any]]:
    refs = {rule_id: r.meta.references for rule_id, r in load_builtin_rules().items()}
    seen_before = {f.id for f in previous.findings} if previous else set()
    events = [
        to_event(f, doc=doc, activity_id=2 if f.id in seen_before else 1, references=refs.get(f.rule_id))
        for f in doc.findings
    ]
    events += [
        to_event(f, doc=doc, activity_id=3, references=refs.get(f.rule_id), gone=True)
        for f in gone_findings(doc, previous)
    ]
    return events


@report_format("ocsf", suffix=".ocsf.json", description="OCSF 1.5.0 Detection Finding events (JSON array)")
def render_ocsf(doc: FindingsDocument, options: RenderOptions) -> str:
    return json.dumps(to_ocsf(doc, options.previous), indent=2)
