"""The lifecycle policy evaluator (auditor.lifecycle) against the ECR user guide's own examples and rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.lifecycle import (
    LifecycleImage,
    LifecyclePolicyError,
    evaluate,
    parse_lifecycle_policy,
    pattern_matches,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def rule(priority: int, status: str = "tagged", *, count: int = 1, since: bool = False, **sel: Any) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": status, **sel}
    if since:
        selection.update(countType="sinceImagePushed", countUnit="days", countNumber=count)
    else:
        selection.update(countType="imageCountMoreThan", countNumber=count)
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": selection,
        "action": {"type": "expire"},
    }


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


# The repository of the user guide's "Filtering on multiple rules" examples (lifecycle_policy_examples.html).
A = LifecycleImage("sha256:a", ("beta-1", "prod-1"), days_ago(10))
B = LifecycleImage("sha256:b", ("beta-2", "prod-2"), days_ago(9))
C = LifecycleImage("sha256:c", ("beta-3",), days_ago(8))


@pytest.mark.parametrize("key", ["tagPrefixList", "tagPatternList"])
def test_example_a_higher_rule_claims_what_it_selects(key: str) -> None:
    values = (["prod"], ["beta"]) if key == "tagPrefixList" else (["prod*"], ["beta*"])
    rules = parse_lifecycle_policy(policy(rule(1, **{key: values[0]}), rule(2, **{key: values[1]})))
    # Rule 1 marks A; rule 2 would mark A and B, but both match rule 1's tags: only A is expired.
    outcome = evaluate(rules, [A, B, C], NOW)
    assert set(outcome) == {"sha256:a"}
    assert outcome["sha256:a"].rule.priority == 1


def test_example_b_reversed_priorities_expire_a_and_b() -> None:
    rules = parse_lifecycle_policy(policy(rule(1, tagPatternList=["beta*"]), rule(2, tagPatternList=["prod*"])))
    outcome = evaluate(rules, [A, B, C], NOW)
    assert set(outcome) == {"sha256:a", "sha256:b"}
    assert {o.rule.priority for o in outcome.values()} == {1}


def test_multiple_entries_must_all_match_some_tag() -> None:
    rules = parse_lifecycle_policy(policy(rule(1, tagPrefixList=["alpha", "beta"], count=1)))
    both = LifecycleImage("sha256:1", ("alpha-1", "beta-1"), days_ago(3))
    both_newer = LifecycleImage("sha256:2", ("alpha-2", "beta-2"), days_ago(2))
    one = LifecycleImage("sha256:3", ("alpha-3",), days_ago(5))
    assert set(evaluate(rules, [both, both_newer, one], NOW)) == {"sha256:1"}


def test_since_image_pushed_projects_the_date() -> None:
    rules = parse_lifecycle_policy(policy(rule(1, "any", count=14, since=True)))
    old = LifecycleImage("sha256:old", ("1.0",), days_ago(20))
    young = LifecycleImage("sha256:young", ("2.0",), days_ago(4))
    outcome = evaluate(rules, [old, young], NOW)
    assert outcome["sha256:old"].now(NOW)
    assert not outcome["sha256:young"].now(NOW)
    assert outcome["sha256:young"].due == days_ago(4) + timedelta(days=14)
    assert "on 2025-06-11" in outcome["sha256:young"].describe(NOW)


def test_untagged_any_and_count_keep_the_newest() -> None:
    rules = parse_lifecycle_policy(policy(rule(1, "untagged", count=1), rule(2, "any", count=2)))
    u1 = LifecycleImage("sha256:u1", (), days_ago(5))
    u2 = LifecycleImage("sha256:u2", (), days_ago(1))
    t1 = LifecycleImage("sha256:t1", ("x",), days_ago(9))
    t2 = LifecycleImage("sha256:t2", ("y",), days_ago(0.5))
    outcome = evaluate(rules, [u1, u2, t1, t2], NOW)
    # rule 1 claims both untagged images (expiring the older); rule 2 counts all four, keeps t2 and u2, and may
    # only act on t1 (u1 is rule 1's).
    assert {d: o.rule.priority for d, o in outcome.items()} == {"sha256:u1": 1, "sha256:t1": 2}


def test_protecting_rule_keeps_images_from_a_sweeping_rule() -> None:
    rules = parse_lifecycle_policy(policy(rule(1, tagPatternList=["release-*"], count=9999), rule(2, "any", count=1)))
    keep = LifecycleImage("sha256:r", ("release-1",), days_ago(30))
    newer = LifecycleImage("sha256:n", ("dev",), days_ago(1))
    older = LifecycleImage("sha256:o", ("dev-old",), days_ago(2))
    assert set(evaluate(rules, [keep, newer, older], NOW)) == {"sha256:o"}


def test_since_image_pulled_uses_last_pull_else_push_and_transition_is_reported() -> None:
    raw = rule(1, "any", count=30, since=True)
    raw["selection"]["countType"] = "sinceImagePulled"
    raw["action"] = {"type": "transition", "targetStorageClass": "archive"}
    rules = parse_lifecycle_policy(policy(raw))
    pulled = LifecycleImage("sha256:p", ("a",), days_ago(100), last_pulled_at=days_ago(2))
    never = LifecycleImage("sha256:n", ("b",), days_ago(100))
    outcome = evaluate(rules, [pulled, never], NOW)
    assert not outcome["sha256:p"].now(NOW) and outcome["sha256:n"].now(NOW)
    assert outcome["sha256:n"].kind == "transition"
    assert "archives" in outcome["sha256:n"].describe(NOW)


def test_archive_storage_class_rules_neither_act_nor_claim() -> None:
    archived = rule(1, "any", count=1)
    archived["selection"]["storageClass"] = "archive"
    rules = parse_lifecycle_policy(policy(archived, rule(2, "any", count=1)))
    a, b = LifecycleImage("sha256:a", ("a",), days_ago(2)), LifecycleImage("sha256:b", ("b",), days_ago(1))
    assert {d: o.rule.priority for d, o in evaluate(rules, [a, b], NOW).items()} == {"sha256:a": 2}


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("prod*", "prod", True),
        ("prod*", "production-team1", True),
        ("*prod*", "repo-production", True),
        ("prod*", "preprod", False),
        ("prod", "prod1", False),  # no wildcard: the whole tag
        ("v?.1", "v1.1", False),  # '?' is literal
        ("v?.1", "v?.1", True),
        ("Prod*", "prod", False),  # case-sensitive
        ("*test*1*2*3", "xtest01a2b3", True),
    ],
)
def test_pattern_semantics(pattern: str, tag: str, expected: bool) -> None:
    assert pattern_matches(pattern, tag) is expected


@given(st.text(alphabet="ab.-", max_size=8), st.text(alphabet="ab.-", max_size=8))
def test_star_alone_matches_every_tag_and_prefix_star_is_startswith(prefix: str, rest: str) -> None:
    assert pattern_matches("*", prefix + rest)
    assert pattern_matches(prefix + "*", prefix + rest)


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        {"rules": []},
        {"rules": [rule(1, "tagged")]},  # tagged without a list
        {"rules": [rule(1, "untagged", tagPrefixList=["x"])]},
        {"rules": [rule(1, "tagged", tagPrefixList=["x"], tagPatternList=["y*"])]},
        {"rules": [rule(1, "any"), rule(1, "untagged")]},  # duplicate priority
        {"rules": [{**rule(1, "any"), "action": {"type": "delete"}}]},
        {
            "rules": [
                {**rule(1, "any"), "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countNumber": 3}}
            ]
        },
    ],
)
def test_invalid_policies_are_refused(bad: Any) -> None:
    with pytest.raises(LifecyclePolicyError):
        parse_lifecycle_policy(bad if isinstance(bad, str) else json.dumps(bad))
