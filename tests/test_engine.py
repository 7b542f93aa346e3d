"""Engine guarantees: stable ids, a crashing rule becomes ERROR, duplicates merge, unread facets are ERROR."""

from __future__ import annotations

from datetime import UTC, datetime

from auditor.engine import Result, Rule, RuleContext, RuleMeta, load_builtin_rules, run_rule
from auditor.findings import Severity, Status, finding_id
from auditor.models import CallError, Collected, Snapshot


def _snap(**kw) -> Snapshot:
    kw.setdefault("facets", ["ptc_rules"])
    return Snapshot(account_id="111122223333", region="eu-west-1", collected_at=datetime.now(UTC), **kw)


def _rule(fn, facets=("ptc_rules",)) -> Rule:
    meta = RuleMeta(id="t-rule", title="t", severity=Severity.LOW, rationale="r", remediation="m", facets=list(facets))
    return Rule(meta=meta, evaluate=fn)


def test_finding_id_is_stable_and_distinct() -> None:
    a = finding_id("r", "1", "us-east-1", "x")
    assert a == finding_id("r", "1", "us-east-1", "x")
    assert a != finding_id("r", "1", "us-east-2", "x")
    assert a.startswith("oea-")


def test_crashing_rule_becomes_error_finding() -> None:
    def boom(snap, ctx):
        raise KeyError("nope")
        yield  # pragma: no cover

    (finding,) = run_rule(_rule(boom), _snap(), RuleContext())
    assert finding.status == Status.ERROR
    assert "KeyError" in finding.message


def test_no_results_is_not_applicable() -> None:
    (finding,) = run_rule(_rule(lambda s, c: []), _snap(), RuleContext())
    assert finding.status == Status.NOT_APPLICABLE


def test_duplicate_results_merge_worst_status_wins() -> None:
    def twice(snap, ctx):
        yield Result(status=Status.PASS, resource="x", message="ok")
        yield Result(status=Status.FAIL, resource="x", message="bad")

    (finding,) = run_rule(_rule(twice), _snap(), RuleContext())
    assert finding.status == Status.FAIL


def test_fixable_only_on_fail() -> None:
    def two(snap, ctx):
        yield Result(status=Status.PASS, resource="a", message="ok")
        yield Result(status=Status.FAIL, resource="b", message="bad")

    rule = _rule(two)
    rule.meta.fixable = True
    found = {f.resource: f.fixable for f in run_rule(rule, _snap(), RuleContext())}
    assert found == {"a": False, "b": True}


def test_every_builtin_rule_reports_error_not_pass_when_nothing_was_readable() -> None:
    """A snapshot where every facet failed: no rule may say PASS or NOT_APPLICABLE."""
    err = CallError(operation="ecr:Everything", code="AccessDeniedException", permission="ecr:Everything")
    snap = _snap(
        facets=[],
        ptc_rules=Collected(error=err),
        registry_policy=Collected(error=err),
        templates=Collected(error=err),
        repositories=Collected(error=err),
        workflows=Collected(error=err),
        runs=Collected(error=err),
        service_roles=Collected(error=err),
        ptc_events=Collected(error=err),
        registry_scanning=Collected(error=err),
        trails=Collected(error=err),
        event_data_stores=Collected(error=err),
        image_vulnerabilities=Collected(error=err),
    )
    for rule in load_builtin_rules().values():
        findings = run_rule(rule, snap, RuleContext())
        assert {f.status for f in findings} == {Status.ERROR}, rule.meta.id
    # and with every facet "collected" but failed, each rule reports the API error itself
    snap.facets = sorted({f for r in load_builtin_rules().values() for f in r.meta.facets})
    for rule in load_builtin_rules().values():
        if rule.meta.id == "image-not-arm-only":
            continue  # reads only images, none of which were listed
        findings = run_rule(rule, snap, RuleContext())
        assert {f.status for f in findings} == {Status.ERROR}, rule.meta.id
        assert all(f.evidence.get("api_error", {}).get("code") for f in findings), rule.meta.id


def test_rule_missing_facet_in_inventory_is_error() -> None:
    snap = _snap(facets=["workflows"])  # ptc_rules never collected
    rule = load_builtin_rules()["registry-policy-allows-omics"]
    findings = run_rule(rule, snap, RuleContext())
    assert {f.status for f in findings} == {Status.ERROR}
    assert any("does not contain" in f.message for f in findings)


def test_rule_metadata_complete() -> None:
    for rule in load_builtin_rules().values():
        m = rule.meta
        assert m.id and m.title and m.rationale and m.remediation and m.references, m.id
        assert m.permissions and all(":" in p for p in m.permissions), m.id


def _rule_reference() -> str:
    from pathlib import Path

    return (Path(__file__).parent.parent / "docs" / "rules.md").read_text(encoding="utf-8")


def test_rule_reference_documents_every_rule_with_its_permissions() -> None:
    """docs/rules.md is generated from this metadata (test_docs fails while it is stale); it says it all."""
    reference = _rule_reference()
    for rule in load_builtin_rules().values():
        section = reference.split(f"\n## {rule.meta.id}\n", 1)
        assert len(section) == 2, f"docs/rules.md has no section for {rule.meta.id}"
        body = section[1].split("\n## ", 1)[0]
        assert rule.meta.title in body
        assert "Scan needs: " + ", ".join(f"`{p}`" for p in rule.meta.permissions) in body


def test_rule_reference_documents_every_fixer_and_its_permissions() -> None:
    from auditor.fix import fix_permissions, load_fixers

    reference = _rule_reference()
    fixers = load_fixers()
    assert set(fixers) == set(load_builtin_rules()), "every rule has a fixer (automatic or manual steps)"
    for rule_id, fixer in fixers.items():
        body = reference.split(f"\n## {rule_id}\n", 1)[1].split("\n## ", 1)[0]
        if fixer.automatic:
            assert "Fixer: automatic" in body
            assert "Fix needs: " + ", ".join(f"`{p}`" for p in fix_permissions([rule_id])) in body
        else:
            assert "Fixer: manual steps" in body
        # a rule is fixable by metadata exactly when its fixer applies changes itself
        assert load_builtin_rules()[rule_id].meta.fixable == fixer.automatic, rule_id
