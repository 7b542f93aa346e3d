"""SARIF 2.1.0 for code-scanning UIs: rules with help text, results with levels, file/line where known.

Gate findings carry the workflow file and line of the container, so GitHub code
scanning annotates the definition itself; account findings have no file and are
given a logical location (the AWS resource). Suppressed (MUTED) findings are
emitted with an external suppression so the UI shows them as dismissed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor import __version__
from auditor.engine import Finding, RuleMeta, Severity, Status

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
