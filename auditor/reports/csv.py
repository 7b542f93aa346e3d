"""CSV for spreadsheets and quick filtering (``report --format csv``, ``scan --output csv``): one row per finding.

Written with the standard library's ``csv`` module (RFC 4180 quoting: a field holding a comma, a quote or
a newline is quoted, quotes doubled), UTF-8, CRLF line ends, one header row. Columns, in order::

    id, rule_id, title, status, severity, group, account, region, resource, message, remediation, fixable,
    new, accepted_by, accepted_until, accepted_reason

``new`` is ``yes``/``no`` against ``--previous`` (empty without one); the ``accepted_*`` columns are
filled for MUTED findings from their suppression. Rows are in the document's order (by rule, then
status, then resource).

**Formula injection.** Resource names, messages and suppression reasons come from AWS and files. A
spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or carriage
return) as a formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``), so every such cell is written with a
leading ``'``, which spreadsheets show as text (OWASP, "CSV Injection"). The value stays readable;
``neutralise`` is the one function that does it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from auditor.engine import load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Status
from auditor.reports import RenderOptions, report_format

COLUMNS = (
    "id",
    "rule_id",
    "title",
    "status",
    "severity",
    "group",
    "account",
    "region",
    "resource",
    "message",
    "remediation",
    "fixable",
    "new",
    "accepted_by",
    "accepted_until",
    "accepted_reason",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A cell a spreadsheet shows as text: ``'`` before a value that would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(finding: Finding, groups: dict[str, str], previous_ids: set[str] | None) -> dict[str, Any]:
    record = finding.evidence.get("suppression") if finding.status == Status.MUTED else None
    record = record if isinstance(record, dict) else {}
    new = "" if previous_ids is None else ("no" if finding.id in previous_ids else "yes")
    return {
        "id": finding.id,
        "rule_id": finding.rule_id,
        "title": finding.title,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "group": groups.get(finding.rule_id, ""),
        "account": finding.account,
        "region": finding.region,
        "resource": finding.resource,
        "message": finding.message,
        "remediation": finding.remediation,
        "fixable": "yes" if finding.fixable else "no",
        "new": new,
        "accepted_by": record.get("owner", ""),
        "accepted_until": record.get("expires", ""),
        "accepted_reason": record.get("reason", ""),
    }


@report_format("csv", suffix=".csv", description="CSV, one row per finding (spreadsheets)")
def render_csv(doc: FindingsDocument, options: RenderOptions) -> str:
    groups = {rule_id: rule.meta.group for rule_id, rule in load_builtin_rules().items()}
    previous_ids = {f.id for f in options.previous.findings} if options.previous is not None else None
    buffer = io.StringIO()
    # CRLF (RFC 4180): the csv module quotes a field holding any character of the line terminator, so a CR in
    # a value is quoted too (with a bare LF terminator a lone CR would end the row in most readers).
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for finding in doc.findings:
        row = _row(finding, groups, previous_ids)
        writer.writerow({key: neutralise(value) for key, value in row.items()})
    return buffer.getvalue()
