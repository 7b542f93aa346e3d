"""What the fix engine reads from the fixers' declarations instead of rule ids and reason prefixes."""

from __future__ import annotations

from auditor.findings import Finding
from auditor.fix import Plan, Refused, Skipped, _collect, load_fixers, refused, skipped


def _finding() -> Finding:
    return Finding.model_validate(
        {
            "id": "f-1",
            "rule_id": "registry-policy-allows-omics",
            "title": "t",
            "severity": "high",
            "status": "FAIL",
            "account": "111122223333",
            "region": "us-east-1",
            "resource": "registry",
            "message": "m",
            "remediation": "r",
            "fixable": True,
        }
    )


def test_only_the_cache_rule_fixer_plans_first_and_has_follow_ons() -> None:
    fixers = load_fixers()
    assert [rid for rid, f in fixers.items() if f.plans_first] == ["ptc-rule-coverage"]
    assert [rid for rid, f in fixers.items() if f.follow_ons] == ["ptc-rule-coverage"]


def test_a_refused_item_is_its_own_type_and_serialises_like_a_skip() -> None:
    f = _finding()
    item = refused(f, "the policy is too large")
    assert isinstance(item, Refused) and item.reason == "refused: the policy is too large"
    assert item.model_dump() == skipped(f, "refused: the policy is too large").model_dump()
    plan = Plan(id="p", created="2026-01-01T00:00:00Z", source="test")
    # a plain skip whose reason happens to start with "refused:" stays a skip: the type decides
    _collect(plan, [item, skipped(f, "refused: by a person")])
    assert [type(i) for i in plan.refused] == [Refused] and [type(i) for i in plan.skipped] == [Skipped]
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
