"""JUnit XML for CI dashboards (GitLab, Jenkins, Azure DevOps test tabs), built with junitparser.

One ``<testsuite>`` per rule (``name`` = rule id; the title, default severity, run id and tool version as
``<properties>``), in the run's rule order; one ``<testcase>`` per finding, i.e. per rule and resource, with
``classname`` = ``<account>/<region>`` and ``name`` = the resource.

Status mapping (our status → JUnit)
-----------------------------------

=============== =========== =========================================================================
status          element     attributes / text
=============== =========== =========================================================================
FAIL            <failure>   message = finding message, type = severity; text: message, remediation, id
ERROR           <error>     message = finding message, type = the API error code (else the exception
                            name, ``MissingFacets`` or ``Error``); text: operation and permission
MUTED           <skipped>   type = ``muted``, message = reason, owner, expiry and original status
NOT_APPLICABLE  <skipped>   type = ``not-applicable``, message = finding message
PASS            (none)      a passing testcase
=============== =========== =========================================================================

Counts (``tests``/``failures``/``errors``/``skipped``) are computed by junitparser from the testcases, per suite
and for the root, so they always add up. Findings are not timed one by one, so every ``time`` is 0 and the
root's (a sum) too; each suite's ``timestamp`` is the run's start in UTC, written without a zone as the Ant
JUnit schema wants it. Text that XML 1.0 cannot carry (control characters, lone surrogates) is written as
``\\xNN``/``\\uNNNN`` escapes, so a message from an API can never make the file unparseable; ``]]>`` and markup
are escaped by the serializer (no CDATA is used).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.etree import ElementTree

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from auditor.engine import load_builtin_rules
from auditor.findings import Finding, FindingsDocument, Status
from auditor.reports import RenderOptions, report_format

# Characters outside XML 1.0's Char production (lone surrogates included): they cannot appear even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """Any text made safe for XML 1.0, keeping the offending characters visible as escapes."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(escape, str(value))


def junit_timestamp(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _error_type(finding: Finding) -> str:
    error = finding.evidence.get("api_error") or {}
    if error.get("code"):
        return str(error["code"])
    if finding.evidence.get("exception"):
        return str(finding.evidence["exception"])
    if finding.evidence.get("missing_facets"):
        return "MissingFacets"
    return "Error"


def _error_details(finding: Finding) -> str:
    error = finding.evidence.get("api_error") or {}
    lines = [finding.message, ""]
    for key in ("operation", "code", "permission", "resource"):
        if error.get(key):
            lines.append(f"{key}: {error[key]}")
    lines.append(f"finding: {finding.id}")
    return "\n".join(lines)


def _muted_message(finding: Finding) -> str:
    record = finding.evidence.get("suppression") or {}
    until = f"until {record['expires']}" if record.get("expires") else "with no expiry"
    return (
        f"suppressed by {record.get('owner', 'unknown owner')} {until} "
        f"(was {record.get('original_status', 'FAIL')}): {record.get('reason', 'no reason recorded')}"
    )


def testcase(finding: Finding) -> TestCase:
    case = TestCase(name=xml_text(finding.resource), classname=xml_text(f"{finding.account}/{finding.region}"), time=0)
    if finding.status == Status.FAIL:
        result = Failure(xml_text(finding.message), xml_text(finding.severity.value))
        result.text = xml_text(f"{finding.message}\n\nRemediation: {finding.remediation}\nfinding: {finding.id}")
        case.result = [result]
    elif finding.status == Status.ERROR:
        error = Error(xml_text(finding.message), xml_text(_error_type(finding)))
        error.text = xml_text(_error_details(finding))
        case.result = [error]
    elif finding.status == Status.MUTED:
        skipped = Skipped(xml_text(_muted_message(finding)), "muted")
        skipped.text = xml_text(finding.message)
        case.result = [skipped]
    elif finding.status == Status.NOT_APPLICABLE:
        case.result = [Skipped(xml_text(finding.message), "not-applicable")]
    return case


def _rule_order(doc: FindingsDocument) -> list[str]:
    return list(dict.fromkeys([*doc.run.rules, *(f.rule_id for f in doc.findings)]))


def to_junit(doc: FindingsDocument) -> JUnitXml:
    by_rule: dict[str, list[Finding]] = {rule_id: [] for rule_id in _rule_order(doc)}
    for f in doc.findings:
        by_rule[f.rule_id].append(f)
    xml = JUnitXml(name=xml_text(f"omics-ecr-audit {doc.run.id}"))
    started = junit_timestamp(doc.run.started)
    builtin = {rule_id: r.meta for rule_id, r in load_builtin_rules().items()}
    for rule_id, findings in by_rule.items():
        suite = TestSuite(xml_text(rule_id))
        suite.timestamp = started
        meta = builtin.get(rule_id)
        title = meta.title if meta else (findings[0].title if findings else rule_id)
        suite.add_property("title", xml_text(title))
        severity = meta.severity if meta else (findings[0].severity if findings else None)
        if severity:
            suite.add_property("severity", severity.value)
        suite.add_property("run_id", xml_text(doc.run.id))
        suite.add_property("tool_version", xml_text(doc.run.tool_version))
        suite.add_testcases([testcase(f) for f in findings])
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]  # junitparser leaves it unannotated
    return xml


@report_format("junit", suffix=".xml", description="JUnit XML: one test suite per rule, one test case per resource")
def render_junit(doc: FindingsDocument, options: RenderOptions) -> str:
    xml = to_junit(doc)
    ElementTree.indent(xml._elem)  # junitparser pretty-prints only when writing a file
    body: bytes = xml.tostring()  # type: ignore[no-untyped-call]  # junitparser leaves it unannotated
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body.decode("utf-8") + "\n"
