"""Suppressions: accepted risks become MUTED, expired ones are re-raised, bad files are clear errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from auditor.config import load_config, parse_config
from auditor.errors import ConfigError
from auditor.findings import (
    Finding,
    FindingsDocument,
    RunInfo,
    Severity,
    Status,
    build_document,
    exit_code,
    finding_id,
    summarize,
)
from auditor.scan import render_summary, suppress
from auditor.suppressions import (
    EXPIRED_RULE_ID,
    Suppression,
    apply_suppressions,
    is_suppressed,
    load_suppressions,
    matches,
)

ACCT = "111122223333"
OTHER = "444455556666"
REGION = "eu-west-1"
RULE = "repository-policy"
LEGACY = f"arn:aws:ecr:{REGION}:{ACCT}:repository/legacy/pipeline"
TODAY = date(2025, 6, 15)


def _f(
    status: Status = Status.FAIL,
    *,
    rule_id: str = RULE,
    account: str = ACCT,
    region: str = REGION,
    resource: str = LEGACY,
    severity: Severity = Severity.HIGH,
    fixable: bool = True,
) -> Finding:
    return Finding(
        id=finding_id(rule_id, account, region, resource),
        rule_id=rule_id,
        title="t",
        status=status,
        severity=severity,
        account=account,
        region=region,
        resource=resource,
        message=f"{resource} is {status.value}",
        evidence={"policy": "x"},
        remediation="fix it",
        fixable=fixable and status == Status.FAIL,
    )


def _s(**kw) -> Suppression:
    kw.setdefault("reason", "legacy pipeline, decommissioned in Q3")
    kw.setdefault("owner", "genomics-platform")
    return Suppression(**kw)


def _doc(findings: list[Finding]) -> FindingsDocument:
    run = RunInfo(id="run-1", started=datetime.now(UTC), rules=[RULE, "service-role"])
    return build_document(run, findings, {"ecr:DescribeRepositories": 1})


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),  # every field defaults to "*"
        ({"rule": RULE}, True),
        ({"rule": "service-role"}, False),
        ({"account": ACCT}, True),
        ({"account": OTHER}, False),
        ({"region": REGION}, True),
        ({"region": "us-east-1"}, False),
        ({"resource": LEGACY}, True),
        ({"resource": "*/legacy/*"}, True),
        ({"resource": f"arn:aws:ecr:*:{ACCT}:repository/legacy/pipelin?"}, True),
        ({"resource": "arn:aws:ecr:*:*:repository/legacy/[ps]ipeline"}, True),
        ({"resource": "*/current/*"}, False),
        ({"resource": "*/LEGACY/*"}, False),  # globs are case-sensitive, like ARNs
        ({"resource": "legacy"}, False),  # a glob matches the whole resource, not a substring
        ({"rule": RULE, "account": ACCT, "region": REGION, "resource": "*legacy*"}, True),
        ({"rule": RULE, "account": ACCT, "region": "us-west-2", "resource": "*legacy*"}, False),
    ],
)
def test_matches_each_field_and_globs(fields, expected) -> None:
    assert matches(_s(**fields), _f()) is expected


# --- applying ---------------------------------------------------------------------------------


def test_unexpired_suppression_mutes_fail_and_error_but_not_pass() -> None:
    findings = [
        _f(Status.FAIL),
        _f(Status.ERROR, resource=LEGACY + "-2"),
        _f(Status.PASS, resource=LEGACY + "-3"),
        _f(Status.NOT_APPLICABLE, resource=LEGACY + "-4"),
    ]
    s = _s(rule=RULE, resource="*/legacy/*", expires=date(2025, 9, 30))
    out = apply_suppressions(findings, [s], TODAY)
    assert [f.status for f in out] == [Status.MUTED, Status.MUTED, Status.PASS, Status.NOT_APPLICABLE]
    assert out[0].evidence == {
        "policy": "x",
        "suppression": {
            "reason": "legacy pipeline, decommissioned in Q3",
            "owner": "genomics-platform",
            "expires": "2025-09-30",
            "original_status": "FAIL",
        },
    }
    assert out[1].evidence["suppression"]["original_status"] == "ERROR"
    assert out[0].fixable is False
    # identity, severity and message are kept; the input is not modified
    assert (out[0].id, out[0].severity, out[0].message) == (findings[0].id, findings[0].severity, findings[0].message)
    assert findings[0].status == Status.FAIL and findings[0].fixable and "suppression" not in findings[0].evidence
    assert out[2] == findings[2] and out[3] == findings[3]


def test_no_expiry_means_never_and_expiry_day_is_still_in_force() -> None:
    (never,) = apply_suppressions([_f()], [_s()], TODAY)
    assert never.status == Status.MUTED and never.evidence["suppression"]["expires"] is None
    (last_day,) = apply_suppressions([_f()], [_s(expires=TODAY)], TODAY)
    assert last_day.status == Status.MUTED


def test_non_matching_suppression_changes_nothing() -> None:
    findings = [_f(), _f(Status.ERROR, account=OTHER)]
    assert apply_suppressions(findings, [_s(account="999999999999")], TODAY) == findings


def test_first_suppression_in_force_is_recorded() -> None:
    expired = _s(reason="old decision", expires=date(2025, 1, 1))
    first = _s(reason="first", owner="alice")
    second = _s(reason="second", owner="bob")
    out = apply_suppressions([_f()], [expired, first, second], TODAY)
    assert out[0].evidence["suppression"]["reason"] == "first"
    assert is_suppressed(_f(), [expired, first, second], TODAY) is first
    assert is_suppressed(_f(), [expired], TODAY) is None
    assert is_suppressed(_f(account=OTHER), [_s(account=ACCT)], TODAY) is None
    # the fixer asks about findings whatever their status: a MUTED one is still suppressed
    assert is_suppressed(out[0], [first], TODAY) is first


def test_expired_suppression_does_not_mute_and_is_reported() -> None:
    findings = [_f(), _f(Status.ERROR, resource=LEGACY + "-2"), _f(Status.PASS, resource=LEGACY + "-3")]
    s = _s(rule=RULE, account=ACCT, resource="*/legacy/*", expires=date(2025, 6, 14))
    out = apply_suppressions(findings, [s], TODAY)
    assert out[:3] == findings  # nothing muted
    (warning,) = out[3:]
    assert warning.rule_id == EXPIRED_RULE_ID
    assert warning.title == "A suppression has expired"
    assert warning.status == Status.FAIL
    assert warning.severity == Severity.INFO
    assert (warning.account, warning.region) == (ACCT, "*")
    assert warning.resource == f"suppression/0:{RULE}:*/legacy/*"
    assert warning.id == finding_id(EXPIRED_RULE_ID, ACCT, "*", warning.resource)
    assert warning.fixable is False
    for needle in ("legacy pipeline, decommissioned in Q3", "genomics-platform", "2025-06-14", "2 findings"):
        assert needle in warning.message
    assert warning.evidence["would_have_matched"] == 2  # the FAIL and the ERROR, not the PASS
    assert warning.evidence["suppression"]["expires"] == "2025-06-14"
    assert warning.evidence["suppression"]["index"] == 0


def test_expired_suppression_matching_nothing_is_still_reported_once_each() -> None:
    suppressions = [
        _s(rule="service-role", expires=date(2024, 1, 1)),
        _s(),  # in force
        _s(region="us-east-1", resource="x*", expires=date(2025, 6, 1)),
    ]
    out = apply_suppressions([_f()], suppressions, TODAY)
    assert out[0].status == Status.MUTED  # the one in force still mutes
    warnings = [f for f in out if f.rule_id == EXPIRED_RULE_ID]
    assert [w.resource for w in warnings] == ["suppression/0:service-role:*", "suppression/2:*:x*"]
    assert [w.evidence["would_have_matched"] for w in warnings] == [0, 0]
    assert "0 findings" in warnings[0].message
    assert (warnings[1].account, warnings[1].region) == ("*", "us-east-1")
    assert len({w.id for w in warnings}) == 2


# --- the document: summary, order, exit code, terminal --------------------------------------------


def test_exit_code_ignores_muted() -> None:
    doc = suppress(_doc([_f(), _f(Status.ERROR, resource="other"), _f(Status.PASS, resource="ok")]), [_s()], TODAY)
    assert {f.status for f in doc.findings} == {Status.MUTED, Status.PASS}
    assert exit_code(doc, Severity.INFO) == 0
    # without the suppression, the same document is incomplete (ERROR) and failing
    assert exit_code(_doc([_f(), _f(Status.ERROR, resource="other")]), Severity.LOW) == 3


def test_expired_warning_does_not_trip_the_default_threshold() -> None:
    doc = suppress(_doc([_f(Status.PASS)]), [_s(expires=date(2020, 1, 1))], TODAY)
    assert [f.rule_id for f in doc.findings if f.status == Status.FAIL] == [EXPIRED_RULE_ID]
    assert exit_code(doc, Severity.LOW) == 0
    assert exit_code(doc, Severity.INFO) == 1


def test_summary_counts_muted_and_order_puts_it_after_fail() -> None:
    findings = [
        _f(Status.PASS, resource="a"),
        _f(Status.FAIL, resource="keep", severity=Severity.LOW),
        _f(Status.FAIL, resource="legacy/1"),
        _f(Status.ERROR, resource="legacy/2"),
        _f(Status.NOT_APPLICABLE, rule_id="service-role", resource="rule/service-role"),
    ]
    before = _doc(findings)
    doc = suppress(before, [_s(resource="legacy/*")], TODAY)
    assert before.summary["by_status"]["MUTED"] == 0  # the input document is not modified
    assert doc.summary["total"] == 5
    assert doc.summary["by_status"] == {"PASS": 1, "FAIL": 1, "ERROR": 0, "NOT_APPLICABLE": 1, "MUTED": 2}
    assert doc.summary["by_rule"][RULE]["MUTED"] == 2
    assert doc.summary == summarize(doc.findings, doc.run.rules)
    assert [f.status for f in doc.findings] == [
        Status.FAIL,
        Status.MUTED,
        Status.MUTED,
        Status.PASS,
        Status.NOT_APPLICABLE,
    ]
    assert (doc.run, doc.api_calls) == (before.run, before.api_calls)
    # MUTED survives the findings.json round trip
    assert FindingsDocument.model_validate_json(doc.model_dump_json()) == doc


def test_build_document_orders_muted_between_fail_and_pass() -> None:
    doc = _doc([_f(Status.PASS, resource="p"), _f(Status.MUTED, resource="m"), _f(Status.FAIL, resource="f")])
    assert [f.status for f in doc.findings] == [Status.FAIL, Status.MUTED, Status.PASS]


def test_suppress_does_not_repeat_expired_warnings() -> None:
    expired = [_s(expires=date(2020, 1, 1))]
    once = suppress(_doc([_f(Status.PASS)]), expired, TODAY)
    twice = suppress(once, expired, TODAY)
    assert [f.rule_id for f in twice.findings].count(EXPIRED_RULE_ID) == 1


def test_render_summary_lists_muted_with_reason_and_owner() -> None:
    doc = suppress(
        _doc([_f(), _f(Status.FAIL, resource="still-bad")]),
        [_s(resource="*/legacy/*", expires=date(2025, 9, 30))],
        TODAY,
    )
    text = render_summary(doc)
    assert "FAIL 1  MUTED 1  ERROR 0" in text
    lines = text.splitlines()
    fail_line = next(i for i, line in enumerate(lines) if line.startswith("[FAIL ]"))
    muted_line = next(i for i, line in enumerate(lines) if line.startswith("[MUTED]"))
    assert fail_line < muted_line
    assert LEGACY in lines[muted_line]
    assert "genomics-platform" in text and "legacy pipeline, decommissioned in Q3" in text and "2025-09-30" in text


# --- loading ------------------------------------------------------------------------------------

YAML_FILE = f"""\
suppressions:
  - rule: {RULE}
    account: "{ACCT}"
    region: {REGION}
    resource: "*/legacy/*"
    reason: legacy pipeline
    owner: alice@example.org
    expires: 2025-09-30
  - reason: everything in the sandbox account
    owner: bob
    account: {OTHER}
"""


def test_yaml_and_json_load_the_same(tmp_path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(YAML_FILE)
    from_yaml = load_suppressions(y)
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"suppressions": [s.model_dump(mode="json") for s in from_yaml]}))
    from_json = load_suppressions(j)
    assert from_yaml == from_json
    first, second = from_yaml
    assert first.expires == date(2025, 9, 30)
    assert second.account == OTHER  # unquoted digits in YAML are accepted
    assert (second.rule, second.region, second.resource, second.expires) == ("*", "*", "*", None)


def test_empty_file_is_no_suppressions(tmp_path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("")
    assert load_suppressions(p) == []
    p.write_text("suppressions: []\n")
    assert load_suppressions(p) == []


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("suppressions:\n  - owner: bob\n", ["suppressions.0.reason", "required"]),
        ("suppressions:\n  - owner: bob\n    reason: '   '\n", ["suppressions.0.reason", "must not be empty"]),
        (
            "suppressions:\n  - {reason: r, owner: o}\n  - {reason: r, owner: o}\n"
            "  - {reason: r, owner: o, expires: 2025-02-30}\n",
            ["suppressions.2.expires", "2025-02-30", "not a valid date"],
        ),
        ("suppressions:\n  - {reason: r, owner: o, expires: next week}\n", ["suppressions.0.expires", "YYYY-MM-DD"]),
        ("suppressions:\n  - {reason: r, owner: o, account: '12345'}\n", ["suppressions.0.account", "12-digit"]),
        ("suppressions:\n  - {reason: r, owner: o, region: Mars-1}\n", ["suppressions.0.region", "region name"]),
        ("suppressions:\n  - {reason: r, owner: o, rule: Bad Rule}\n", ["suppressions.0.rule", "rule id"]),
        ("suppressions:\n  - {reason: r, owner: o, resourse: x}\n", ["suppressions.0.resourse", "unknown field"]),
        ("suppresions: []\n", ["suppresions: unknown field"]),
        ("- {reason: r, owner: o}\n", ["top level must be a mapping", "list"]),
        ("suppressions: {reason: r}\n", ["suppressions", "valid list"]),
    ],
)
def test_invalid_file_messages(tmp_path, text, needles) -> None:
    p = tmp_path / "accepted.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_suppressions(p)
    message = str(exc.value)
    assert message.startswith(str(p))
    for needle in needles:
        assert needle in message, message


def test_every_problem_is_listed(tmp_path) -> None:
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"suppressions": [{"owner": "o"}, {"reason": "r", "owner": "o", "account": "x"}]}))
    with pytest.raises(ConfigError) as exc:
        load_suppressions(p)
    assert "suppressions.0.reason" in str(exc.value) and "suppressions.1.account" in str(exc.value)


def test_bad_yaml_reports_line(tmp_path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("suppressions:\n  - reason: r\n    owner: [o\n")
    with pytest.raises(ConfigError) as exc:
        load_suppressions(p)
    assert "not valid YAML (line" in str(exc.value)


def test_bad_json_reports_line(tmp_path) -> None:
    p = tmp_path / "s.json"
    p.write_text('{"suppressions": [\n  {"reason": "r",}\n]}')
    with pytest.raises(ConfigError) as exc:
        load_suppressions(p)
    assert "not valid JSON (line 2" in str(exc.value)


def test_missing_file(tmp_path) -> None:
    p = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_suppressions(p)
    assert str(exc.value).startswith(f"{p}: cannot read suppressions file")


# --- configuration --------------------------------------------------------------------------


def test_config_suppressions_path_is_relative_to_the_config_file(tmp_path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    (folder / "accepted.yaml").write_text(YAML_FILE)
    cfg_path = folder / "config.yaml"
    cfg_path.write_text("suppressions: accepted.yaml\n")
    cfg = load_config(cfg_path)
    assert cfg.suppressions == str(folder / "accepted.yaml")
    assert len(load_suppressions(cfg.suppressions)) == 2

    absolute = tmp_path / "elsewhere.yaml"
    cfg_path.write_text(json.dumps({"suppressions": str(absolute)}))
    assert load_config(cfg_path).suppressions == str(absolute)
    # parse_config knows no file, so it leaves the path alone
    assert parse_config({"suppressions": "accepted.yaml"}).suppressions == "accepted.yaml"
    assert parse_config({}).suppressions is None


def test_config_rejects_an_empty_suppressions_path() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"suppressions": ""}, "cfg.yaml")
    assert "suppressions" in str(exc.value)
