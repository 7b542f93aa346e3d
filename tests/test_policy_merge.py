"""Tests for auditor.policy_merge: our statement goes in, everyone else's stays exactly as it was."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from auditor.policy_merge import (
    ECR_POLICY_LIMIT,
    SID_PREFIX,
    PolicyMergeError,
    as_json,
    find_statement,
    merge_statement,
    normalized,
    parse_document,
    render,
    statements_of,
    unified_diff,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
OMICS = "omics.amazonaws.com"
REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

# One "our" statement per kind of document the tool writes into.
OURS: dict[str, dict[str, Any]] = {
    "registry": {
        "Sid": "OmicsEcrAuditRegistryImport",
        "Effect": "Allow",
        "Principal": {"Service": OMICS},
        "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
        "Resource": [f"{REPO_ARN}/docker-hub/*", f"{REPO_ARN}/quay/*"],
        "Condition": SOURCE_ACCOUNT,
    },
    "repository": {
        "Sid": "OmicsEcrAuditOmicsPull",
        "Effect": "Allow",
        "Principal": {"Service": OMICS},
        "Action": PULL,
        "Condition": SOURCE_ACCOUNT,
    },
    "template": {
        "Sid": "OmicsEcrAuditTemplatePull",
        "Effect": "Allow",
        "Principal": {"Service": OMICS},
        "Action": PULL,
        "Condition": SOURCE_ACCOUNT,
    },
}
OUR_SIDS = frozenset(statement["Sid"] for statement in OURS.values())
REGISTRY = OURS["registry"]
SID = REGISTRY["Sid"]


def foreign(sid: str | None = "AllowCiPush", **elements: Any) -> dict[str, Any]:
    """Somebody else's statement (None removes an element)."""
    base: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"],
    }
    base.update(elements)
    return {k: v for k, v in base.items() if v is not None}


def doc(*statements: Any, **top: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", **top, "Statement": list(statements)}


def assert_readable(exc: PolicyMergeError, *fragments: str) -> None:
    message = str(exc)
    assert message
    assert "Traceback" not in message
    assert "\n" not in message
    assert exc.__cause__ is None  # ``from None``: no chained JSONDecodeError for the CLI to print
    for fragment in fragments:
        assert fragment in message


# --- examples: parse_document ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_absent_policy_gives_a_document_with_only_our_statement(text: str | None) -> None:
    parsed = parse_document(text, "registry policy")
    assert parsed == {"Version": "2012-10-17", "Statement": []}
    assert merge_statement(parsed, REGISTRY) == {"Version": "2012-10-17", "Statement": [REGISTRY]}


def test_parse_document_returns_the_document_as_is() -> None:
    original = {"Id": "x", "Version": "2008-10-17", "Statement": {"Sid": "A", "Effect": "Deny"}, "Extra": [1]}
    assert parse_document(json.dumps(original), "policy") == original
    assert parse_document('{"Version": "2012-10-17"}', "policy") == {"Version": "2012-10-17"}


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("{", ("registry policy", "not valid JSON", "line 1", "column 2")),
        ("{'Version': '2012-10-17'}", ("registry policy", "not valid JSON")),
        ('{"Statement": []} trailing', ("registry policy", "not valid JSON")),
        ('{\n  "Statement": [,]\n}', ("registry policy", "not valid JSON", "line 2")),
        ("[]", ("registry policy", "not a JSON object")),
        ('"a string"', ("registry policy", "not a JSON object")),
        ("null", ("registry policy", "not a JSON object")),
        ("42", ("registry policy", "not a JSON object")),
        ('{"Statement": "Allow everything"}', ("registry policy", "Statement", "neither an object nor a list")),
        ('{"Statement": 7}', ("registry policy", "neither an object nor a list")),
        ('{"Statement": null}', ("registry policy", "neither an object nor a list")),
        ('{"Statement": true}', ("registry policy", "neither an object nor a list")),
    ],
)
def test_malformed_documents_are_refused_with_a_readable_message(text: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(PolicyMergeError) as info:
        parse_document(text, "registry policy")
    assert_readable(info.value, *fragments)


# --- examples: statements_of / find_statement -----------------------------------------------------------------------


def test_statements_of_handles_every_shape() -> None:
    single = foreign()
    assert statements_of({"Statement": single}) == [single]
    assert statements_of({"Statement": [single, REGISTRY]}) == [single, REGISTRY]
    assert statements_of({"Version": "2012-10-17"}) == []
    listed = {"Statement": [single]}
    statements_of(listed).append(REGISTRY)  # a copy: the document is not touched
    assert listed == {"Statement": [single]}


def test_find_statement_matches_the_exact_sid_only() -> None:
    lookalikes = [
        foreign(SID.lower()),
        foreign(SID + "X"),
        foreign(" " + SID),
        foreign(SID_PREFIX),
        foreign(None),
        "not a statement",
    ]
    document = doc(*lookalikes, REGISTRY)
    assert find_statement(document, SID) is REGISTRY
    assert find_statement(doc(*lookalikes), SID) is None
    assert find_statement({"Statement": REGISTRY}, SID) is REGISTRY
    assert find_statement({}, SID) is None


# --- examples: merge_statement --------------------------------------------------------------------------------------


def test_single_object_statement_stays_an_object_when_it_is_ours() -> None:
    older = {**REGISTRY, "Action": "ecr:CreateRepository"}
    merged = merge_statement({"Version": "2012-10-17", "Statement": older}, REGISTRY)
    assert merged == {"Version": "2012-10-17", "Statement": REGISTRY}
    unchanged = merge_statement({"Version": "2012-10-17", "Statement": REGISTRY}, REGISTRY)
    assert unchanged == {"Version": "2012-10-17", "Statement": REGISTRY}


def test_single_object_statement_becomes_a_list_when_appending() -> None:
    theirs = foreign()
    merged = merge_statement({"Version": "2012-10-17", "Statement": theirs}, REGISTRY)
    assert merged == {"Version": "2012-10-17", "Statement": [theirs, REGISTRY]}


def test_list_with_only_our_statement_stays_a_list() -> None:
    older = {k: v for k, v in REGISTRY.items() if k != "Condition"}
    assert merge_statement(doc(older), REGISTRY) == doc(REGISTRY)


def test_updating_our_statement_keeps_its_index() -> None:
    first, last = foreign("First"), foreign("Last", Effect="Deny")
    older = {**REGISTRY, "Resource": f"{REPO_ARN}/*"}
    merged = merge_statement(doc(first, older, last), REGISTRY)
    assert merged["Statement"] == [first, REGISTRY, last]


def test_new_statement_is_appended_after_everyone_elses() -> None:
    statements = [foreign("A"), foreign(None), foreign(SID + "2")]
    merged = merge_statement(doc(*statements), REGISTRY)
    assert merged["Statement"] == [*statements, REGISTRY]


def test_version_id_and_unknown_top_level_keys_are_preserved() -> None:
    original = {
        "Id": "registry-policy-7",
        "Version": "2008-10-17",
        "x-owner": {"team": "platform", "tickets": [1, 2]},
        "Statement": [foreign()],
    }
    before = copy.deepcopy(original)
    merged = merge_statement(original, REGISTRY)
    assert merged == {**before, "Statement": [foreign(), REGISTRY]}
    assert list(merged) == list(before)  # key order too, so rendered diffs stay small
    assert original == before


def test_missing_statement_key_gets_a_list() -> None:
    assert merge_statement({"Version": "2012-10-17", "Id": "x"}, REGISTRY) == doc(REGISTRY, Id="x")


@pytest.mark.parametrize(
    "original",
    [
        doc(foreign("A"), REGISTRY, foreign(None)),
        doc(REGISTRY),
        {"Version": "2012-10-17", "Statement": REGISTRY},
        {"Id": "x", "Version": "2008-10-17", "Statement": [REGISTRY], "Other": None},
    ],
)
def test_identical_statement_leaves_the_document_equal_to_the_input(original: dict[str, Any]) -> None:
    before = copy.deepcopy(original)
    merged = merge_statement(original, copy.deepcopy(REGISTRY))
    assert merged == before
    assert normalized(merged) == normalized(before)
    assert unified_diff(before, merged, "registry policy") == ""
    assert merge_statement(merged, REGISTRY) == merged
    assert original == before


def test_merge_does_not_mutate_its_inputs() -> None:
    original = doc(foreign("A"), {**REGISTRY, "Action": "ecr:*"}, foreign("B"))
    ours = copy.deepcopy(REGISTRY)
    before, ours_before = copy.deepcopy(original), copy.deepcopy(ours)
    merge_statement(original, ours)
    merge_statement({"Statement": original["Statement"][0]}, ours)
    assert original == before
    assert ours == ours_before


# --- examples: render -----------------------------------------------------------------------------------------------


def test_render_is_indented_when_it_fits() -> None:
    document = doc(foreign(), REGISTRY)
    text = render(document)
    assert text == json.dumps(document, indent=2)
    assert '\n  "Statement": [' in text
    assert json.loads(text) == document


def test_render_falls_back_to_compact_when_only_compact_fits() -> None:
    document = doc(foreign(), REGISTRY)
    pretty, compact = json.dumps(document, indent=2), json.dumps(document, separators=(",", ":"))
    assert len(compact) < len(pretty)
    for limit in (len(compact), len(pretty) - 1):
        text = render(document, limit=limit)
        assert text == compact
        assert "\n" not in text
        assert json.loads(text) == document
    assert render(document, limit=len(pretty)) == pretty


def test_render_refuses_when_nothing_fits() -> None:
    document = doc(foreign(), REGISTRY)
    compact = json.dumps(document, separators=(",", ":"))
    with pytest.raises(PolicyMergeError) as info:
        render(document, limit=len(compact) - 1, what="repository policy")
    assert_readable(info.value, "repository policy", f"{len(compact) - 1:,}-character limit", f"{len(compact):,}")


def test_render_refuses_a_document_over_the_ecr_limit() -> None:
    many = [f"{REPO_ARN}/team-{i:04d}/*" for i in range(300)]
    document = doc(foreign("Big", Resource=many), REGISTRY)
    assert len(json.dumps(document, separators=(",", ":"))) > ECR_POLICY_LIMIT
    with pytest.raises(PolicyMergeError) as info:
        render(document, what="registry policy")
    assert_readable(info.value, "registry policy", "10,240-character limit", "nothing was changed")


# --- examples: normalized / as_json / unified_diff ------------------------------------------------------------------


def test_normalized_ignores_key_order_and_whitespace() -> None:
    a = '{"Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "ecr:*"}]}'
    b = {"Statement": [{"Action": "ecr:*", "Effect": "Allow"}], "Version": "2012-10-17"}
    assert normalized(a) == normalized(b) == normalized(json.dumps(b, indent=4))
    assert normalized({"Statement": [1, 2]}) != normalized({"Statement": [2, 1]})  # list order is meaningful
    assert normalized(None) is None
    assert normalized("not json {") == "not json {"


def test_as_json() -> None:
    assert as_json('{"a": [1]}') == {"a": [1]}
    assert as_json("not json") == "not json"
    assert as_json({"a": 1}) == {"a": 1}
    assert as_json(None) is None


def test_unified_diff_shows_only_changed_lines() -> None:
    before = doc(foreign("A"), {**REGISTRY, "Action": "ecr:CreateRepository"}, Id="x")
    after = merge_statement(before, REGISTRY)
    reordered = json.dumps({k: before[k] for k in reversed(list(before))}, indent=4)
    assert unified_diff(before, reordered, "registry policy") == ""
    diff = unified_diff(json.dumps(before), after, "registry policy")
    lines = diff.splitlines()
    assert lines[0] == "--- registry policy (before)"
    assert lines[1] == "+++ registry policy (after)"
    removed = [line for line in lines[2:] if line.startswith("-")]
    added = [line for line in lines[2:] if line.startswith("+")]
    assert [line[1:].strip() for line in removed] == ['"Action": "ecr:CreateRepository",']
    assert [line[1:].strip() for line in added] == [
        '"Action": [',
        '"ecr:CreateRepository",',
        '"ecr:BatchImportUpstreamImage"',
        "],",
    ]
    assert "AllowCiPush" not in "".join(removed + added)


def test_unified_diff_uses_dev_null_for_absent_sides() -> None:
    after = doc(REGISTRY)
    created = unified_diff(None, after, "registry policy").splitlines()
    assert created[:2] == ["--- /dev/null", "+++ registry policy (after)"]
    assert all(line.startswith(("+", "@@")) for line in created[2:])
    deleted = unified_diff(after, None, "registry policy").splitlines()
    assert deleted[:2] == ["--- registry policy (before)", "+++ /dev/null"]
    assert all(line.startswith(("-", "@@")) for line in deleted[2:])
    assert unified_diff(None, None, "registry policy") == ""


# --- properties -----------------------------------------------------------------------------------------------------

ECR_ACTIONS = [
    "ecr:*",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "ecr:CreateRepository",
    "ecr:BatchImportUpstreamImage",
    "ecr:ReplicateImage",
    "ecr:PutImage",
    "ecr:DeleteRepository",
    "ecr:SetRepositoryPolicy",
    "ecr:Describe*",
]
CONDITION_OPERATORS = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringEqualsIfExists",
    "ArnLike",
    "ArnNotEquals",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "Bool",
    "NumericLessThan",
    "IpAddress",
    "Null",
]
CONDITION_KEYS = [
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:SecureTransport",
    "aws:SourceIp",
    "ecr:ResourceTag/team",
    "aws:PrincipalTag/${aws:username}",
]

# Sids built to confuse a sloppy matcher: other case, the bare prefix, a suffix, whitespace.
_lookalike_bases = sorted({*OUR_SIDS, SID_PREFIX, "OmicsEcrAuditX"})
lookalike_sids = st.one_of(
    st.sampled_from([v for s in _lookalike_bases for v in (s.lower(), s.upper(), f" {s}", f"{s} ", s)]),
    st.builds(str.__add__, st.sampled_from(_lookalike_bases), st.text(min_size=1, max_size=3)),
    st.builds(str.__add__, st.text(min_size=1, max_size=3), st.sampled_from(_lookalike_bases)),
)
foreign_sids = st.one_of(
    st.sampled_from(["", "AllowPull", "DenyInsecureTransport", "CrossAccountReplication"]),
    st.text(max_size=12),  # unicode
    lookalike_sids,
).filter(lambda sid: sid not in OUR_SIDS)

arns = st.one_of(
    st.sampled_from([f"arn:aws:iam::{OTHER_ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:role/OmicsRunRole", ACCOUNT]),
    st.builds("arn:aws:iam::{}:role/{}".format, st.from_regex(r"[0-9]{12}", fullmatch=True), st.text(max_size=8)),
)
services = st.sampled_from([OMICS, "ecr.amazonaws.com", "codebuild.amazonaws.com", "replication.ecr.amazonaws.com"])


def one_or_many(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.lists(values, min_size=1, max_size=3)


principals = st.one_of(
    st.just("*"),
    st.builds(lambda v: {"AWS": v}, one_or_many(arns | st.just("*"))),
    st.builds(lambda v: {"Service": v}, one_or_many(services)),
    st.builds(lambda a, s: {"AWS": a, "Service": s}, one_or_many(arns), one_or_many(services)),
)
resources = one_or_many(
    st.sampled_from(["*", f"{REPO_ARN}/*", f"{REPO_ARN}/docker-hub/*"])
    | st.builds(f"{REPO_ARN}/{{}}".format, st.text(max_size=15))
)
condition_values = st.one_of(
    one_or_many(st.text(max_size=10)),
    st.sampled_from(["true", "false", ACCOUNT, "o-abc123/*"]),
    st.booleans(),
    st.integers(0, 10**6),
)
conditions = st.dictionaries(
    st.sampled_from(CONDITION_OPERATORS),
    st.dictionaries(st.sampled_from(CONDITION_KEYS) | st.text(max_size=8), condition_values, min_size=1, max_size=3),
    min_size=1,
    max_size=3,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@st.composite
def foreign_statements(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    statement: dict[str, Any] = {}
    if draw(st.booleans()):
        statement["Sid"] = draw(foreign_sids)
    statement["Effect"] = draw(st.sampled_from(["Allow", "Deny"]))
    if draw(st.integers(0, 9)):  # rarely absent (identity-style statements do exist in the wild)
        statement["Principal" if draw(st.integers(0, 5)) else "NotPrincipal"] = draw(principals)
    statement[draw(st.sampled_from(["Action", "NotAction"]))] = draw(one_or_many(st.sampled_from(ECR_ACTIONS)))
    # Registry policies name repositories; repository and template policies usually leave Resource out.
    resource_odds = 5 if kind == "registry" else 1
    if draw(st.integers(0, 5)) < resource_odds:
        statement[draw(st.sampled_from(["Resource", "Resource", "NotResource"]))] = draw(resources)
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions)
    keys = draw(st.permutations(list(statement)))  # key order is irrelevant, but must survive anyway
    return {key: statement[key] for key in keys}


@st.composite
def older_versions(draw: st.DrawFn, ours: dict[str, Any]) -> dict[str, Any]:
    """A previous release of our statement: same Sid, some elements changed (possibly none)."""
    older = copy.deepcopy(ours)
    if draw(st.booleans()):
        older["Action"] = draw(one_or_many(st.sampled_from(ECR_ACTIONS)))
    if draw(st.booleans()):
        older.pop("Condition", None)
    if draw(st.booleans()):
        older["Condition"] = {"StringEquals": {"aws:SourceAccount": draw(st.sampled_from([ACCOUNT, OTHER_ACCOUNT]))}}
    if draw(st.booleans()):
        older["Resource"] = draw(resources)
    if draw(st.booleans()):
        older["Principal"] = draw(principals)
    return older


@dataclass
class Case:
    kind: str
    doc: dict[str, Any]
    ours: dict[str, Any]
    old_index: int | None  # where an older version of our statement sits, if any


@st.composite
def cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(sorted(OURS)))
    ours = OURS[kind]
    statements: list[Any] = draw(st.lists(foreign_statements(kind), max_size=5))
    old_index = None
    if draw(st.booleans()):
        old_index = draw(st.integers(0, len(statements)))
        statements.insert(old_index, draw(older_versions(ours)))
    document: dict[str, Any] = {}
    top = ["Statement"]
    version = draw(st.sampled_from(["2012-10-17", "2008-10-17", None]))
    if version is not None:
        document["Version"] = version
        top.append("Version")
    if draw(st.booleans()):
        document["Id"] = draw(st.sampled_from(["registry-policy", "b8a5c2f1-0d7e-4c2a-9a51-0d2f1c9b7e11"]))
        top.append("Id")
    extras = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    document.update({k: v for k, v in extras.items() if k not in {"Statement", "Version", "Id"}})
    top.extend(k for k in extras if k not in {"Statement", "Version", "Id"})
    shapes = {0: ["list", "absent"], 1: ["list", "object"]}.get(len(statements), ["list"])
    shape = draw(st.sampled_from(shapes))
    if shape != "absent":
        document["Statement"] = statements[0] if shape == "object" else statements
    order = draw(st.permutations([k for k in top if k in document]))
    return Case(kind, {k: document[k] for k in order}, copy.deepcopy(ours), old_index)


def is_ours(statement: Any, sid: str) -> bool:
    return isinstance(statement, dict) and statement.get("Sid") == sid


def others(document: dict[str, Any], sid: str) -> list[Any]:
    return [s for s in statements_of(document) if not is_ours(s, sid)]


def top_level(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in {"Statement", "Version"}}


@settings(max_examples=250, deadline=None)
@given(case=cases())
def test_merge_keeps_foreign_statements_and_places_ours(case: Case) -> None:
    sid = case.ours["Sid"]
    before = copy.deepcopy(case.doc)
    ours_before = copy.deepcopy(case.ours)
    merged = merge_statement(case.doc, case.ours)
    note(f"merged: {merged!r}")

    # (f) neither input is mutated
    assert case.doc == before
    assert case.ours == ours_before

    # (a) every foreign statement survives, unchanged and in the same relative order
    assert others(merged, sid) == others(before, sid)

    # (b) exactly one statement of ours, the new one, where the older one was (else last)
    merged_statements = statements_of(merged)
    positions = [i for i, s in enumerate(merged_statements) if is_ours(s, sid)]
    assert len(positions) == 1
    assert merged_statements[positions[0]] == case.ours
    if case.old_index is not None:
        assert positions == [case.old_index]
        assert len(merged_statements) == len(statements_of(before))
    else:
        assert positions == [len(merged_statements) - 1]
        assert len(merged_statements) == len(statements_of(before)) + 1

    # Statement shape: an object stays an object only when it was our statement
    if isinstance(before.get("Statement"), dict) and case.old_index is not None:
        assert merged["Statement"] == case.ours
    else:
        assert isinstance(merged["Statement"], list)

    # (c) top-level keys other than Statement/Version are unchanged; an existing Version is kept
    assert top_level(merged) == top_level(before)
    if "Version" in before:
        assert merged["Version"] == before["Version"]
    elif statements_of(before):
        # IAM reads a missing Version as 2008-10-17; adding one would change others' policy variables
        assert "Version" not in merged
    else:
        assert merged["Version"] == "2012-10-17"

    # (d) idempotent
    assert merge_statement(merged, case.ours) == merged
    assert merge_statement(merge_statement(merged, case.ours), case.ours) == merged

    # the text path (what remediation actually reads) agrees with the object path
    assert merge_statement(parse_document(json.dumps(before), "policy"), case.ours) == merged
    assert find_statement(merged, sid) == case.ours
    assert case.doc == before


@settings(max_examples=200, deadline=None)
@given(case=cases(), limit=st.one_of(st.just(ECR_POLICY_LIMIT), st.integers(0, 2500)))
def test_render_round_trips_or_refuses(case: Case, limit: int) -> None:
    merged = merge_statement(case.doc, case.ours)
    snapshot = copy.deepcopy(merged)
    compact_length = len(json.dumps(merged, separators=(",", ":")))
    try:
        text = render(merged, limit=limit, what="registry policy")
    except PolicyMergeError as exc:
        assert compact_length > limit  # only refused when even the compact form is too long
        assert_readable(exc, f"{limit:,}-character limit", "registry policy")
    else:
        assert len(text) <= limit
        assert json.loads(text) == merged
        assert parse_document(text, "registry policy") == merged
    assert merged == snapshot


def _reorder_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder_keys(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(case=cases(), indent=st.sampled_from([None, 0, 2, 4]))
def test_normalized_and_diff_ignore_layout(case: Case, indent: int | None) -> None:
    merged = merge_statement(case.doc, case.ours)
    relaid = json.dumps(_reorder_keys(merged), indent=indent)
    assert normalized(relaid) == normalized(merged)
    assert unified_diff(merged, relaid, "policy") == ""
    changed = normalized(case.doc) != normalized(merged)
    assert bool(unified_diff(json.dumps(case.doc), merged, "policy")) == changed


# --- edge cases found while writing the properties -------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"a": ' + "1" * 5000 + "}"],
    ids=["deep-nesting", "huge-number"],
)
def test_pathological_json_is_a_merge_error_not_a_crash(text: str) -> None:
    with pytest.raises(PolicyMergeError, match=r"safely rewrite|not valid JSON"):
        parse_document(text, "the registry policy")


def test_duplicate_keys_are_refused_rather_than_dropped() -> None:
    text = '{"Version": "2012-10-17", "Statement": [{"Sid": "A"}], "Statement": [{"Sid": "B"}]}'
    with pytest.raises(PolicyMergeError, match="repeats the key 'Statement'"):
        parse_document(text, "the registry policy")


def test_missing_version_is_not_added_to_a_foreign_policy() -> None:
    theirs = {"Sid": "U", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*"}
    merged = merge_statement({"Statement": [theirs]}, REGISTRY)
    assert "Version" not in merged
    assert merged["Statement"] == [theirs, REGISTRY]


def test_duplicate_copies_of_our_sid_collapse_into_one_at_the_first_place() -> None:
    old = {**REGISTRY, "Resource": ["arn:aws:ecr:us-east-1:123456789012:repository/old/*"]}
    foreign = {"Sid": "F", "Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"}
    merged = merge_statement({"Version": "2012-10-17", "Statement": [old, foreign, old]}, REGISTRY)
    assert merged["Statement"] == [REGISTRY, foreign]
