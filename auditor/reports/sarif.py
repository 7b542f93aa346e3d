"""SARIF 2.1.0 for a scan: the gate's SARIF writer (``auditor.sarif.to_sarif``) fed with a findings document.

What a scan's log adds to the gate's:

* **Rules** with help text from the built-in rule metadata, for every rule the run selected. A rule the
  built-ins do not know (a custom JMESPath rule, ``suppression-expired``) is described from its findings: title,
  severity and remediation, so it still has a name and help in the UI.
* **Locations**: account findings have no file; each result gets a logical location
  ``<account>/<region>/<resource>`` (kind ``resource``).
* **automationDetails.id** ``omics-ecr-audit/scan/<accounts>/<regions>/<run id>``. Code-scanning tools read the
  part before the last ``/`` as the analysis *category* and the rest as this run's instance, so successive
  scans of the same accounts and regions replace one another (alerts close when fixed), while scans of
  different scopes do not; ``guid`` is the run id.
* **invocations**: start and end time, the exit code the CLI would return, ``executionSuccessful`` false when
  any finding is ERROR (the audit is incomplete: exit code 3), and one ``toolExecutionNotification`` per
  (account, region) that could not be scanned at all.
* **baselineState** (``new``/``unchanged``/``updated``) when a previous document is given.

Status mapping (our status → SARIF result)
------------------------------------------

=============== ========= ====================== ===========================================
status          kind      level                  notes
=============== ========= ====================== ===========================================
FAIL            fail      from severity [1]
ERROR           review    from severity [1]      message names the call and the permission
MUTED           fail      from severity [1]      ``suppressions``: external, accepted, reason
PASS            (omitted)                        not emitted: code scanning has no use for them
NOT_APPLICABLE  (omitted)
=============== ========= ====================== ===========================================

[1] critical/high → ``error``, medium/low → ``warning``, info → ``note``; ``security-severity`` 9.5/8.0/5.5/3.0/1.0.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auditor.engine import Finding, RuleMeta, Severity, Status, load_builtin_rules
from auditor.reports import RenderOptions, report_format
from auditor.sarif import to_sarif

if TYPE_CHECKING:
    from auditor.scan import FindingsDocument

_REPORTED = frozenset({Status.FAIL, Status.ERROR, Status.MUTED})
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


def rule_metadata(doc: FindingsDocument) -> dict[str, RuleMeta]:
    """Metadata for every rule of the run and every rule a finding names, in the run's order."""
    builtin = {rule_id: r.meta for rule_id, r in load_builtin_rules().items()}
    first: dict[str, Finding] = {}
    for f in doc.findings:
        first.setdefault(f.rule_id, f)
    out: dict[str, RuleMeta] = {}
    for rule_id in [*doc.run.rules, *first]:
        if rule_id in out:
            continue
        if rule_id in builtin:
            out[rule_id] = builtin[rule_id]
        elif rule_id in first:
            f = first[rule_id]
            out[rule_id] = RuleMeta(
                id=rule_id,
                title=f.title or rule_id,
                severity=f.severity,
                rationale=f.title or rule_id,
                remediation=f.remediation or "See the finding's message.",
                facets=[],
                custom=True,
            )
        else:  # a selected custom rule with no finding in this document: all we know is its id
            out[rule_id] = RuleMeta(
                id=rule_id,
                title=rule_id,
                severity=Severity.MEDIUM,  # unknown: shown as a warning, neither alarming nor hidden
                rationale=rule_id,
                remediation="See the rule's definition in the configuration.",
                facets=[],
                custom=True,
            )
    return out


def _scope(doc: FindingsDocument) -> str:
    accounts = sorted({t.account for t in doc.run.targets} or {f.account for f in doc.findings}) or ["none"]
    regions = sorted({t.region for t in doc.run.targets} or {f.region for f in doc.findings}) or ["none"]
    return "/".join(_SAFE.sub("_", "+".join(part)) for part in (accounts, regions))


def automation_id(doc: FindingsDocument) -> str:
    """``category/instance``: the category stays the same for the same scope, the instance is the run id."""
    return f"omics-ecr-audit/scan/{_scope(doc)}/{doc.run.id}"


def _sarif_time(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _invocation(doc: FindingsDocument) -> dict[str, Any]:
    from auditor.scan import exit_code

    invocation: dict[str, Any] = {
        "executionSuccessful": not any(f.status == Status.ERROR for f in doc.findings),
        "exitCode": exit_code(doc, doc.run.severity_threshold),
        "startTimeUtc": _sarif_time(doc.run.started),
    }
    if doc.run.finished:
        invocation["endTimeUtc"] = _sarif_time(doc.run.finished)
    notes = [
        {
            "level": "error",
            "message": {
                "text": f"{t.account}/{t.region} could not be scanned: "
                + (t.error.describe() if t.error else "unknown error")
            },
            "properties": {"account": t.account, "region": t.region, **({"code": t.error.code} if t.error else {})},
        }
        for t in doc.run.targets
        if t.status == "error"
    ]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def _baseline(finding: Finding, previous: Mapping[str, Finding]) -> str:
    was = previous.get(finding.id)
    if was is None or was.status not in _REPORTED:
        return "new"
    return "unchanged" if (was.status, was.message) == (finding.status, finding.message) else "updated"


def scan_sarif(doc: FindingsDocument, previous: FindingsDocument | None = None) -> dict[str, Any]:
    """The SARIF log (a dict) of one scan: FAIL, ERROR and MUTED findings as results."""
    log = to_sarif(doc.findings, rule_metadata(doc))
    run = log["runs"][0]
    # The gate's base ids describe a workflow folder; a scan has no files, so there is nothing to resolve.
    run.pop("originalUriBaseIds", None)
    details: dict[str, Any] = {
        "id": automation_id(doc),
        "description": {"text": f"omics-ecr-audit {doc.run.mode} scan of {_scope(doc).replace('/', ' in ')}"},
    }
    if _is_uuid(doc.run.id):
        details["guid"] = doc.run.id
    run["automationDetails"] = details
    run["invocations"] = [_invocation(doc)]
    run["properties"] = {
        "runId": doc.run.id,
        "mode": doc.run.mode,
        "toolVersion": doc.run.tool_version,
        "countsByStatus": {s.value: sum(1 for f in doc.findings if f.status == s) for s in Status},
    }
    if previous is not None:
        before = {f.id: f for f in previous.findings}
        # to_sarif emits one result per reported finding, in the document's order.
        reported = [f for f in doc.findings if f.status in _REPORTED]
        for result, finding in zip(run["results"], reported, strict=True):
            result["baselineState"] = _baseline(finding, before)
    return log


@report_format("sarif", suffix=".sarif", description="SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps)")
def render_sarif(doc: FindingsDocument, options: RenderOptions) -> str:
    return json.dumps(scan_sarif(doc, options.previous), indent=2)
