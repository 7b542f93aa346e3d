"""SARIF 2.1.0, the one writer for the gate (``gate --format sarif``, ``gate --sarif``) and the reports.

:func:`to_sarif` makes the log of any findings for code-scanning UIs: rules with help text, results with
levels, file/line where known. Gate findings carry the workflow file and line of the container, so GitHub
code scanning annotates the definition itself; account findings have no file and are given a logical
location (the AWS resource). Suppressed (MUTED) findings are emitted with an external suppression so the
UI shows them as dismissed.

:func:`scan_sarif` (the ``sarif`` report format) feeds it a findings document. What a scan's log adds to
the gate's:

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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from auditor import __version__
from auditor.engine import RuleMeta, load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Severity, Status, exit_code
from auditor.reports import RenderOptions, report_format

_REPORTED = frozenset({Status.FAIL, Status.ERROR, Status.MUTED})
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "warning",
    Severity.INFO: "note",
}
# GitHub sorts code-scanning alerts by this number (0-10).
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}


def _rule(meta: RuleMeta) -> dict[str, Any]:
    help_md = f"{meta.rationale}\n\n**Fix:** {meta.remediation}"
    if meta.references:
        help_md += "\n\n" + "\n".join(f"- <{r}>" for r in meta.references)
    rule: dict[str, Any] = {
        "id": meta.id,
        "name": "".join(part.title() for part in meta.id.split("-")),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.rationale},
        "help": {"text": f"{meta.rationale}\n\nFix: {meta.remediation}", "markdown": help_md},
        "defaultConfiguration": {"level": _LEVEL[meta.severity]},
        "properties": {"tags": ["healthomics", "ecr"], "security-severity": _SECURITY_SEVERITY[meta.severity]},
    }
    if meta.references:
        rule["helpUri"] = meta.references[0]
    return rule


def to_sarif(
    findings: Sequence[Finding],
    rules: Mapping[str, RuleMeta],
    *,
    locations: Mapping[str, tuple[str, int]] | None = None,
    include_passing: bool = False,
) -> dict[str, Any]:
    """A SARIF log with one run; ``locations`` maps finding id → (file relative to the repo root, line)."""
    locations = locations or {}
    wanted = {Status.FAIL, Status.ERROR, Status.MUTED} | ({Status.PASS} if include_passing else set())
    used = [f for f in findings if f.status in wanted]
    rule_ids = list(dict.fromkeys([*rules, *(f.rule_id for f in used)]))
    index = {rid: i for i, rid in enumerate(rule_ids)}
    driver_rules = [
        _rule(rules[rid]) if rid in rules else {"id": rid, "shortDescription": {"text": rid}} for rid in rule_ids
    ]
    results = []
    for f in used:
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": "none" if f.status == Status.PASS else _LEVEL[f.severity],
            "kind": {Status.PASS: "pass", Status.ERROR: "review"}.get(f.status, "fail"),
            "message": {"text": f.message},
            "partialFingerprints": {"omicsEcrAuditFinding/v1": f.id},
            "properties": {
                "status": f.status.value,
                "severity": f.severity.value,
                "account": f.account,
                "region": f.region,
                "resource": f.resource,
                "fixable": f.fixable,
            },
        }
        if f.id in locations:
            file, line = locations[f.id]
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": max(1, line)},
                    }
                }
            ]
        else:
            result["locations"] = [
                {
                    "logicalLocations": [
                        {"fullyQualifiedName": f"{f.account}/{f.region}/{f.resource}", "kind": "resource"}
                    ]
                }
            ]
        if f.status == Status.MUTED:
            # Always dismissed, record or not: a MUTED result without a suppression would show as an open alert.
            suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
            record = f.evidence.get("suppression")
            if record:
                suppression["justification"] = f"{record.get('reason')} ({record.get('owner')})"
            result["suppressions"] = [suppression]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "omics-ecr-audit",
                        "version": __version__,
                        "informationUri": "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
                        "rules": driver_rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the workflow's root folder"}}},
                "results": results,
            }
        ],
    }


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
    invocation: dict[str, Any] = {
        "executionSuccessful": not any(f.status == Status.ERROR for f in doc.findings),
        "exitCode": int(exit_code(doc, doc.run.severity_threshold)),
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
