"""Standalone IAM policy evaluator: may this principal perform this action on this resource, and why?

Every rule of the auditor asks this question of some policy document: the ECR registry policy,
repository policies, repository-creation-template policies, and the run role's identity policies
with its permissions boundary and the run's session policy.  Public tools get it wrong by ignoring
``Deny``, conditions, action wildcards (``ecr:Batch*``), ``NotAction`` and ``Resource`` scoping
(docs/healthomics-pitfalls.md §1.1), so this module implements the documented
IAM evaluation logic and returns a three-valued answer with an explanation.

Pure functions, no AWS calls.  Sources (AWS IAM User Guide, cited by page name):

* evaluation order — reference_policies_evaluation-logic_policy-eval-denyallow.html: an applicable
  explicit ``Deny`` in any policy ends evaluation; otherwise an ``Allow`` is needed, and identity
  permissions are intersected with a permissions boundary and a session policy when present.
* actions — reference_policies_elements_action.html: prefix and name are case-insensitive, ``*`` and
  ``?`` may appear anywhere.  ``NotAction`` — reference_policies_elements_notaction.html.
* conditions — reference_policies_elements_condition_operators.html ("If the key that you specify in
  a policy condition is not present in the request context, the values do not match and the
  condition is false. If the policy condition requires that the key is *not* matched, such as
  StringNotLike or ArnNotLike, and the right key is not present, the condition is true. This logic
  applies to all condition operators except ...IfExists and Null check");
  reference_policies_multi-value-conditions.html (operators AND, keys AND, values OR, values of a
  negated operator NOR); reference_policies_condition-single-vs-multi-valued-context-keys.html and
  reference_policies_condition_examples-multi-valued-context-keys.html ("The ForAllValues set
  operator also returns true if there are no context keys in the request").
* policy variables — reference_policies_variables.html ("If AWS cannot resolve a variable this might
  cause the entire statement to be invalid"; ``${key, 'default'}``; ``${*}``, ``${?}``, ``${$}``).
* principals — reference_policies_elements_principal.html (``"*"`` ≡ ``{"AWS": "*"}``; an account
  id or ``arn:aws:iam::<acct>:root`` means every principal of that account; no partial wildcards).

Three-valued logic: whenever the inputs do not determine the answer (a condition key the caller did
not supply, an unsupported operator, an unresolvable policy variable) the statement is *undecided*,
never silently granted or ignored.  The decision becomes ``UNKNOWN`` only when an undecided statement
could change it: an undecided Allow matters only when nothing else allows; an undecided Deny matters
only when the result would otherwise be ALLOWED.

Resource patterns in requests: a request resource containing ``*`` or ``?`` stands for *every*
resource it matches (e.g. ``repository/docker-hub/*`` = every repository a pull-through-cache prefix
can create).  See :func:`statement_applies` for the asymmetric Allow/Deny rule that follows.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Decision",
    "Evaluation",
    "Policy",
    "PolicyParseError",
    "PrincipalSpec",
    "Request",
    "Statement",
    "StatementMatch",
    "StatementResult",
    "Tri",
    "actions_allowed",
    "combine",
    "derived_context",
    "evaluate_access",
    "evaluate_identity_policies",
    "evaluate_resource_policy",
    "glob_covers",
    "glob_intersects",
    "glob_match",
    "intersect",
    "parse_policy",
    "statement_applies",
]


# --- three-valued logic ----------------------------------------------------------------------


class Tri(StrEnum):
    """Kleene truth value: MAYBE means "depends on something we were not told"."""

    YES = "yes"
    NO = "no"
    MAYBE = "maybe"


def tri_of(value: bool) -> Tri:
    return Tri.YES if value else Tri.NO


def tri_not(value: Tri) -> Tri:
    if value is Tri.MAYBE:
        return Tri.MAYBE
    return Tri.NO if value is Tri.YES else Tri.YES


def tri_and(values: Iterable[Tri]) -> Tri:
    result = Tri.YES
    for value in values:
        if value is Tri.NO:
            return Tri.NO
        if value is Tri.MAYBE:
            result = Tri.MAYBE
    return result


def tri_or(values: Iterable[Tri]) -> Tri:
    result = Tri.NO
    for value in values:
        if value is Tri.YES:
            return Tri.YES
        if value is Tri.MAYBE:
            result = Tri.MAYBE
    return result


# --- public models ---------------------------------------------------------------------------


class Decision(StrEnum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"
    UNKNOWN = "unknown"


ContextValues = list[str] | None


class Request(BaseModel):
    """One authorization question.

    ``resource`` is a concrete ARN, or a pattern (containing ``*`` or ``?``) that stands for every
    resource it matches, e.g. ``arn:aws:ecr:us-east-1:111122223333:repository/docker-hub/*``.
    ``context`` maps condition keys (case-insensitive; stored lower-cased) to their values.  A value
    of ``None`` (or ``[]``) means the key is known to be ABSENT from the real request; a key missing
    from the dict is UNKNOWN, and any statement whose outcome depends on it becomes undecided.
    Global keys that AWS documents for this kind of request are derived from the principal and
    resource fields when the caller did not set them (see :func:`derived_context` and
    docs/policy-evaluation.md): e.g. ``aws:PrincipalIsAWSService``, ``aws:PrincipalServiceName``,
    ``aws:PrincipalArn``/``aws:PrincipalAccount`` for IAM principals, ``aws:PrincipalOrgID`` known
    absent for a service principal, ``aws:RequestedRegion``/``aws:ResourceAccount`` from a regional
    resource ARN.

    ``principal_session`` says how the IAM principal's credentials came to be: ``"service-assumed"``
    for a role session that an AWS service (HealthOmics) created by assuming the role — a session
    with temporary credentials and no MFA, used by the service for its own calls.
    ``principal_boundary`` says the principal has a permissions boundary attached; it changes how a
    Deny with ``NotPrincipal`` applies (:func:`evaluate_access` sets it when a boundary is passed).
    """

    model_config = ConfigDict(frozen=True)

    action: str
    resource: str
    principal_service: str | None = None
    principal_arn: str | None = None
    principal_account: str | None = None
    principal_session: Literal["service-assumed"] | None = None
    principal_boundary: bool = False
    context: dict[str, ContextValues] = Field(default_factory=dict)

    @field_validator("context", mode="before")
    @classmethod
    def _normalise_context(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        normalised: dict[str, ContextValues] = {}
        for key, raw in value.items():
            lowered = str(key).lower()
            if lowered in normalised:
                raise ValueError(f"context key {key!r} given twice (keys are case-insensitive)")
            normalised[lowered] = _context_values(raw)
        return normalised

    @property
    def account(self) -> str | None:
        """The principal's account: explicit, or taken from the principal ARN."""
        if self.principal_account:
            return self.principal_account
        return _arn_account(self.principal_arn) if self.principal_arn else None

    @property
    def resource_is_pattern(self) -> bool:
        return _has_wildcard(self.resource)


def _context_values(raw: Any) -> ContextValues:
    # Accept scalars for convenience; policy documents write booleans and numbers unquoted too.
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        return [_scalar_text(item) for item in raw]
    return [_scalar_text(raw)]


class StatementMatch(BaseModel):
    """A statement that applies (or might apply) to the request."""

    sid: str | None
    index: int
    effect: str
    conditional: bool  # the statement has a Condition block
    reason: str
    source: str | None = None  # which document: "identity[0]", "boundary", "session", None for a single policy
    # Allow via an account principal (``123456789012`` / ``arn:aws:iam::123456789012:root``) only: AWS hands
    # the decision to that account's identity policies, so on its own this grants nothing.
    delegated: bool = False


class Evaluation(BaseModel):
    """Outcome of evaluating one or more policies for one request.

    ``granted``/``denied`` keep the three-valued facts behind ``decision`` so that :func:`combine`
    and :func:`intersect` can merge evaluations exactly (an IMPLICIT_DENY that carries an undecided
    Deny can still turn another policy's ALLOWED into UNKNOWN).  When omitted they are derived from
    ``decision``.

    For a resource-based policy ``granted`` counts every Allow, including one that reaches the
    principal only through an account principal.  :func:`evaluate_access` needs finer facts:
    ``granted_direct`` — granted by a statement that names the principal itself (its role, session or
    user ARN, a service principal, ``"*"``), not merely its account; ``granted_unlimited`` — granted
    in a way that an implicit deny of a permissions boundary or session policy does not limit (a
    session ARN, user ARN, service principal or ``"*"``; not a role ARN).  Both default to ``granted``.
    """

    decision: Decision
    allows: list[StatementMatch] = Field(default_factory=list)
    denies: list[StatementMatch] = Field(default_factory=list)
    undecided: list[StatementMatch] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    granted: Tri | None = None
    denied: Tri | None = None
    granted_direct: Tri | None = None
    granted_unlimited: Tri | None = None

    @model_validator(mode="after")
    def _derive_facts(self) -> Evaluation:
        if self.granted is None:
            self.granted = {
                Decision.ALLOWED: Tri.YES,
                Decision.UNKNOWN: Tri.MAYBE,
            }.get(self.decision, Tri.NO)
        if self.denied is None:
            self.denied = Tri.YES if self.decision is Decision.EXPLICIT_DENY else Tri.NO
        if self.granted_direct is None:
            self.granted_direct = self.granted
        if self.granted_unlimited is None:
            self.granted_unlimited = self.granted_direct
        return self

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


class PolicyParseError(ValueError):
    """The document is not a valid IAM policy (for the kind of policy it is used as)."""


class PrincipalSpec(BaseModel):
    """Normalised ``Principal``/``NotPrincipal`` element."""

    model_config = ConfigDict(frozen=True)

    wildcard: bool = False  # "*" (equivalent to {"AWS": "*"})
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


class ConditionClause(BaseModel):
    """One ``operator: {key: values}`` entry of a Condition block (values as strings)."""

    model_config = ConfigDict(frozen=True)

    operator: str
    key: str
    values: tuple[str, ...]


class Statement(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    sid: str | None = None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None  # both None: resource policy's implicit "this resource"
    not_resources: tuple[str, ...] | None = None
    principal: PrincipalSpec | None = None
    not_principal: PrincipalSpec | None = None
    conditions: tuple[ConditionClause, ...] = ()
    variables: bool = False  # policy variables are only substituted under Version 2012-10-17

    @property
    def label(self) -> str:
        return f"statement {self.sid!r} (index {self.index})" if self.sid else f"statement index {self.index}"


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str | None = None
    id: str | None = None
    statements: tuple[Statement, ...] = ()


class StatementResult(BaseModel):
    """Per-component verdict for one statement against one request (see :func:`statement_applies`)."""

    statement: Statement
    action: bool
    resource: Tri
    principal: Tri
    condition: Tri
    applies: Tri
    reason: str
    # Allow statements only: the request is a pattern that this statement covers only in part;
    # several such statements may still cover it together (see _joint_cover).
    resource_partial: bool = False
    resource_patterns: tuple[str, ...] = ()
    # Resource-based Allow statements: how the principal is matched (see Evaluation.granted_direct /
    # granted_unlimited).  YES for identity policies, where the principal is implicit.
    principal_direct: Tri = Tri.YES
    principal_unlimited: Tri = Tri.YES


# --- glob matching ---------------------------------------------------------------------------
#
# IAM wildcards: "*" = any run of characters (including none, including "/" and ":"), "?" = exactly
# one character.  There is no escaping and no "[...]" class, so fnmatch is not a correct matcher.

_WILDCARDS = frozenset("*?")


def _has_wildcard(text: str) -> bool:
    return any(ch in _WILDCARDS for ch in text)


def glob_match(pattern: str, text: str) -> bool:
    """Does concrete ``text`` match IAM glob ``pattern``?  Case-sensitive; ``text`` has no wildcards."""
    # Greedy two-pointer matcher with single backtrack point: linear in practice, O(n*m) worst case.
    p = t = 0
    star_p = -1
    star_t = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star_p, star_t = p, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star_p >= 0:
            star_t += 1
            p, t = star_p + 1, star_t
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])


def _closure(pattern: str, states: Iterable[int]) -> frozenset[int]:
    """Epsilon closure of glob-NFA states: state k can skip a "*" at position k."""
    result: set[int] = set()
    for start in states:
        state = start
        while state not in result:
            result.add(state)
            if state >= len(pattern) or pattern[state] != "*":
                break
            state += 1
    return frozenset(result)


def _step(pattern: str, state: int, char: str) -> int | None:
    """NFA move on a concrete character (the closure is applied by the caller)."""
    if state >= len(pattern):
        return None
    token = pattern[state]
    if token == "*":
        return state
    if token in ("?", char):
        return state + 1
    return None


@lru_cache(maxsize=8192)
def glob_intersects(a: str, b: str) -> bool:
    """Is there a concrete string matching both glob patterns?"""
    # Product-NFA reachability.  A joint move needs one character acceptable to both sides: any
    # wildcard accepts every character, two literals must be equal.
    start = [(i, j) for i in _closure(a, [0]) for j in _closure(b, [0])]
    seen = set(start)
    todo = list(start)
    while todo:
        i, j = todo.pop()
        if i == len(a) and j == len(b):
            return True
        if i == len(a) or j == len(b):
            continue
        ta, tb = a[i], b[j]
        if ta not in _WILDCARDS and tb not in _WILDCARDS and ta != tb:
            continue
        ni = i if ta == "*" else i + 1
        nj = j if tb == "*" else j + 1
        for pair in ((x, y) for x in _closure(a, [ni]) for y in _closure(b, [nj])):
            if pair not in seen:
                seen.add(pair)
                todo.append(pair)
    return False


def glob_covers(patterns: str | Sequence[str], target: str) -> bool:
    """Does every concrete string matching glob ``target`` match at least one of ``patterns``?

    Exact language inclusion: L(target) is a subset of the union of L(p) over ``patterns``.  The
    tempting DP in which a ``*`` of the target may only be consumed by a ``*`` of the pattern is
    sound but incomplete: ``?*`` is a subset of ``*?`` (both mean "at least one character") yet no
    token alignment shows it.  So we search the product of the target's NFA with the *determinised*
    union of the pattern NFAs for a string the target accepts and no pattern accepts.  Only the
    characters occurring in the patterns plus one fresh character need to be tried: every other
    character behaves like the fresh one in all automata.
    """
    if isinstance(patterns, str):
        patterns = (patterns,)
    return _covers(tuple(sorted(set(patterns))), target)


@lru_cache(maxsize=8192)
def _covers(patterns: tuple[str, ...], target: str) -> bool:
    if not patterns:
        return False
    if any(set(p) == {"*"} for p in patterns):
        return True
    if not _has_wildcard(target):
        return any(glob_match(p, target) for p in patterns)
    alphabet = _alphabet((*patterns, target))

    def close(states: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        return frozenset((k, s) for k, state in states for s in _closure(patterns[k], [state]))

    def accepted(union: frozenset[tuple[int, int]]) -> bool:
        return any(state == len(patterns[k]) for k, state in union)

    start_union = close((k, 0) for k in range(len(patterns)))
    start = [(t, start_union) for t in _closure(target, [0])]
    seen = set(start)
    todo = list(start)
    while todo:
        t, union = todo.pop()
        # An empty union can never accept again, and from any target state some completion is
        # accepted by the target, so a counterexample exists.
        if not union or (t == len(target) and not accepted(union)):
            return False
        for char in alphabet:
            nt = _step(target, t, char)
            if nt is None:
                continue
            moved = close((k, ns) for k, s in union if (ns := _step(patterns[k], s, char)) is not None)
            for t2 in _closure(target, [nt]):
                if (t2, moved) not in seen:
                    seen.add((t2, moved))
                    todo.append((t2, moved))
    return True


def _alphabet(patterns: Iterable[str]) -> tuple[str, ...]:
    literals = {ch for p in patterns for ch in p if ch not in _WILDCARDS}
    fresh = next(chr(code) for code in range(0xE100, 0xF8FF) if chr(code) not in literals)
    return (*sorted(literals), fresh)


# --- parsing ---------------------------------------------------------------------------------

_VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_LEVEL_KEYS = frozenset({"Version", "Id", "Statement"})
# Unknown statement elements are rejected rather than ignored: a misspelt "Conditions" would
# otherwise turn a conditional grant into an unconditional one.
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_PRINCIPAL_TYPES = {"AWS": "aws", "Service": "service", "Federated": "federated", "CanonicalUser": "canonical_user"}


def parse_policy(doc: str | Mapping[str, Any] | Policy | None, *, resource_policy: bool | None = None) -> Policy:
    """Parse and validate a policy document.

    ``None`` and blank text mean "no policy" and give an empty :class:`Policy` (which allows
    nothing).  ``resource_policy=True`` additionally requires ``Principal``/``NotPrincipal`` in every
    statement; ``False`` (identity, boundary, session policies) requires ``Resource``/``NotResource``.
    Raises :class:`PolicyParseError` with the offending statement named.
    """
    policy = doc if isinstance(doc, Policy) else _parse_document(doc)
    _check_kind(policy, resource_policy)
    return policy


def _parse_document(doc: str | Mapping[str, Any] | None) -> Policy:
    if doc is None or (isinstance(doc, str) and not doc.strip()):
        return Policy()
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise PolicyParseError(f"policy is not valid JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise PolicyParseError(f"policy must be a JSON object, got {type(doc).__name__}")
    unknown = set(doc) - _TOP_LEVEL_KEYS
    if unknown:
        raise PolicyParseError(f"policy has unknown top-level element(s): {sorted(unknown)}")
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise PolicyParseError(f"policy Version must be one of {list(_VERSIONS)}, got {version!r}")
    if "Statement" not in doc:
        raise PolicyParseError("policy has no Statement element")
    raw_statements = doc["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise PolicyParseError("policy Statement must be an object or a list of objects")
    variables = version == "2012-10-17"  # without a Version, IAM applies 2008-10-17 (no variables)
    statements = tuple(_parse_statement(raw, index, variables) for index, raw in enumerate(raw_statements))
    policy_id = doc.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyParseError("policy Id must be a string")
    return Policy(version=version, id=policy_id, statements=statements)


def _parse_statement(raw: Any, index: int, variables: bool) -> Statement:
    where = f"statement index {index}"
    if not isinstance(raw, Mapping):
        raise PolicyParseError(f"{where}: must be a JSON object")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyParseError(f"{where}: Sid must be a string")
    if sid:
        where = f"statement {sid!r} (index {index})"
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyParseError(f"{where}: unknown element(s) {sorted(unknown)}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyParseError(f"{where}: Effect must be 'Allow' or 'Deny', got {effect!r}")
    actions, not_actions = _exactly_one(raw, "Action", "NotAction", where, required=True)
    resources, not_resources = _exactly_one(raw, "Resource", "NotResource", where, required=False)
    for action in (*(actions or ()), *(not_actions or ())):
        if action != "*" and ":" not in action:
            raise PolicyParseError(f"{where}: action {action!r} must be '*' or 'service:Action'")
    if "Principal" in raw and "NotPrincipal" in raw:
        raise PolicyParseError(f"{where}: has both Principal and NotPrincipal")
    principal = _parse_principal(raw["Principal"], where) if "Principal" in raw else None
    not_principal = _parse_principal(raw["NotPrincipal"], where) if "NotPrincipal" in raw else None
    conditions = _parse_conditions(raw.get("Condition"), where)
    return Statement(
        index=index,
        sid=sid or None,
        effect=effect,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        principal=principal,
        not_principal=not_principal,
        conditions=conditions,
        variables=variables,
    )


def _exactly_one(
    raw: Mapping[str, Any], name: str, negated: str, where: str, *, required: bool
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if name in raw and negated in raw:
        raise PolicyParseError(f"{where}: has both {name} and {negated}")
    if required and name not in raw and negated not in raw:
        raise PolicyParseError(f"{where}: needs {name} or {negated}")
    plain = _string_list(raw[name], name, where) if name in raw else None
    inverted = _string_list(raw[negated], negated, where) if negated in raw else None
    return plain, inverted


def _string_list(value: Any, element: str, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise PolicyParseError(f"{where}: {element} must be a non-empty string or list of non-empty strings")
    return tuple(items)


def _parse_principal(value: Any, where: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(wildcard=True)
    if not isinstance(value, Mapping) or not value:
        raise PolicyParseError(f"{where}: Principal must be '*' or an object such as {{'Service': ...}}")
    fields: dict[str, tuple[str, ...]] = {}
    for kind, entries in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise PolicyParseError(f"{where}: unknown principal type {kind!r} (expected {sorted(_PRINCIPAL_TYPES)})")
        fields[_PRINCIPAL_TYPES[kind]] = _string_list(entries, f"Principal.{kind}", where)
    return PrincipalSpec.model_validate(fields)


def _parse_conditions(value: Any, where: str) -> tuple[ConditionClause, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyParseError(f"{where}: Condition must be an object")
    clauses: list[ConditionClause] = []
    for operator, block in value.items():
        if not isinstance(block, Mapping) or not block:
            raise PolicyParseError(f"{where}: Condition operator {operator!r} must map keys to values")
        for key, raw_values in block.items():
            items = raw_values if isinstance(raw_values, list) else [raw_values]
            if not items or not all(isinstance(i, str | bool | int | float) for i in items):
                raise PolicyParseError(
                    f"{where}: Condition {operator}/{key} values must be strings, numbers or booleans"
                )
            clauses.append(ConditionClause(operator=operator, key=key, values=tuple(_scalar_text(i) for i in items)))
    return tuple(clauses)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    return str(value)


def _check_kind(policy: Policy, resource_policy: bool | None) -> None:
    for stmt in policy.statements:
        if resource_policy is True and stmt.principal is None and stmt.not_principal is None:
            raise PolicyParseError(f"{stmt.label}: a resource-based policy statement needs Principal or NotPrincipal")
        if resource_policy is False and stmt.resources is None and stmt.not_resources is None:
            raise PolicyParseError(f"{stmt.label}: an identity-based policy statement needs Resource or NotResource")


# --- request context and policy variables ----------------------------------------------------


class _Unknown:
    """Marker: the condition key is not in the request context at all."""


_UNKNOWN = _Unknown()
_Lookup = list[str] | None | _Unknown

# ${*} and ${?} must produce a literal "*" / "?" that glob matching does not treat as wildcards;
# private-use code points stand in for them (and for real "*"/"?" in text matched against them).
_LITERAL = {"*": "\ue000", "?": "\ue001"}
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")


# Keys derived for the request being judged (docs/policy-evaluation.md explains each one, with its
# source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
# A value of None means "known to be absent from the request"; a key left out stays unknown.
_TAG_ABSENT = "aws:principaltag/*"  # marker: every aws:PrincipalTag/<key> is absent
# Present only when a service principal calls directly ("This key is not present in any other situation").
_SERVICE_ONLY_KEYS = ("aws:principalservicename", "aws:principalservicenameslist")
# Present only when the principal belongs to an organization; a service principal is not a member of one.
_ORG_KEYS = ("aws:principalorgid", "aws:principalorgpaths")
# Present only when a service uses the credentials of an IAM principal, "not present if the service uses
# a service role"; a session HealthOmics assumed is such a service role.
_CALLED_VIA_KEYS = ("aws:calledvia", "aws:calledviafirst", "aws:calledvialast")


def derived_context(request: Request) -> dict[str, ContextValues]:
    """The global condition keys AWS documents for this request, beyond what the caller passed.

    Only keys whose presence (and value) AWS documents for this kind of principal and resource; the
    caller's ``context`` always wins.  Keys that depend on the moment of the request (``aws:SourceIp``,
    ``aws:CurrentTime``, ``aws:SecureTransport``, ``aws:UserAgent``, ...) and facts the auditor does not
    collect (a role's ``aws:PrincipalOrgID``, ``aws:PrincipalTag/*``) are never derived, so a statement
    that depends on them stays undecided and its reason names the key.
    """
    derived: dict[str, ContextValues] = {}
    if request.principal_service:
        derived["aws:principalisawsservice"] = ["true"]
        derived["aws:principalservicename"] = [request.principal_service]
        for key in _ORG_KEYS:
            derived[key] = None
        derived[_TAG_ABSENT] = None
    elif request.principal_arn or request.principal_account:
        derived["aws:principalisawsservice"] = ["false"]
        for key in _SERVICE_ONLY_KEYS:
            derived[key] = None
        if request.principal_arn and ":iam::" in request.principal_arn:
            # For an STS session ARN aws:PrincipalArn is the *role* ARN (with path), which cannot be
            # rebuilt from the session ARN, so it is only derived for IAM user/role ARNs.
            derived["aws:principalarn"] = [request.principal_arn]
        if request.account:
            derived["aws:principalaccount"] = [request.account]
        if request.principal_session == "service-assumed":
            # Temporary credentials carry aws:MultiFactorAuthPresent; a session a service created by
            # AssumeRole was not validated with MFA.  (The "false" value is an inference, see the doc.)
            derived["aws:multifactorauthpresent"] = ["false"]
            derived["aws:multifactorauthage"] = None  # present only when MFA was used
            for key in _CALLED_VIA_KEYS:
                derived[key] = None
    region, account = _arn_region_account(request.resource)
    if region:
        derived["aws:requestedregion"] = [region]
    if account:
        derived["aws:resourceaccount"] = [account]
    return derived


def _arn_region_account(resource: str) -> tuple[str | None, str | None]:
    """Region and account fields of an ARN (or ARN pattern), each only when concrete (no wildcard)."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None, None
    region, account = parts[3], parts[4]
    return (
        region if region and not _has_wildcard(region) else None,
        account if _ACCOUNT_ID.match(account) else None,
    )


def _effective_context(request: Request) -> dict[str, ContextValues]:
    ctx = derived_context(request)
    ctx.update(request.context)  # the caller's context wins over derivation
    return ctx


def _lookup(ctx: Mapping[str, ContextValues], key: str) -> _Lookup:
    lowered = key.lower()
    if lowered in ctx:
        return ctx[lowered]
    if lowered.startswith("aws:principaltag/") and _TAG_ABSENT in ctx:
        return ctx[_TAG_ABSENT]
    return _UNKNOWN


def _substitute(text: str, ctx: Mapping[str, ContextValues], enabled: bool, *, glob: bool) -> str | None:
    """Resolve ``${...}`` policy variables; ``None`` when the value cannot be determined."""
    if not enabled or "${" not in text:
        return text
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        body = match.group(1).strip()
        if body in ("*", "?"):
            return _LITERAL[body] if glob else body
        if body == "$":
            return "$"
        parsed = _VARIABLE_BODY.match(match.group(1))
        if not parsed:
            unresolved = True
            return ""
        key, default = parsed.group(1), parsed.group(2)
        found = _lookup(ctx, key)
        if isinstance(found, list) and len(found) == 1:
            return found[0]
        if default is not None and (found is None or found == []):
            return default.replace("''", "'")
        # Unknown key, multi-valued key (not usable as a variable), or absent without default:
        # AWS says such a statement "might" be invalid, so we do not guess.
        unresolved = True
        return ""

    result = _VARIABLE.sub(replace, text)
    return None if unresolved else result


def _literalize(text: str) -> str:
    """Map real "*"/"?" in concrete text to the placeholders that ${*}/${?} produce."""
    return text.replace("*", _LITERAL["*"]).replace("?", _LITERAL["?"])


# --- condition operators ---------------------------------------------------------------------

Comparator = Callable[[str, str], Tri]


def _cmp_string(ctx_value: str, policy_value: str) -> Tri:
    return tri_of(ctx_value == policy_value)


def _cmp_string_ignore_case(ctx_value: str, policy_value: str) -> Tri:
    return tri_of(ctx_value.casefold() == policy_value.casefold())


def _cmp_string_like(ctx_value: str, policy_value: str) -> Tri:
    return tri_of(glob_match(policy_value, _literalize(ctx_value)))


def _cmp_arn_like(ctx_value: str, policy_value: str) -> Tri:
    # ArnEquals/ArnLike: each of the six colon-separated parts is matched separately, with wildcards
    # (reference_policies_elements_condition_operators.html#Conditions_ARN).
    ctx_parts = ctx_value.split(":", 5)
    policy_parts = policy_value.split(":", 5)
    if len(ctx_parts) != 6 or len(policy_parts) != 6:
        return Tri.NO
    return tri_of(all(glob_match(p, _literalize(c)) for p, c in zip(policy_parts, ctx_parts, strict=True)))


def _cmp_bool(ctx_value: str, policy_value: str) -> Tri:
    return tri_of(ctx_value.lower() == policy_value.lower())


def _cmp_binary(ctx_value: str, policy_value: str) -> Tri:
    return tri_of(ctx_value == policy_value)  # both base64 text


def _numeric(test: Callable[[float, float], bool]) -> Comparator:
    def compare(ctx_value: str, policy_value: str) -> Tri:
        try:
            return tri_of(test(float(ctx_value), float(policy_value)))
        except ValueError:
            return Tri.MAYBE  # not a number: AWS behaviour undocumented, do not guess

    return compare


def _parse_date(text: str) -> datetime | None:
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), tz=UTC)  # epoch seconds are accepted by IAM
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(test: Callable[[datetime, datetime], bool]) -> Comparator:
    def compare(ctx_value: str, policy_value: str) -> Tri:
        left, right = _parse_date(ctx_value), _parse_date(policy_value)
        if left is None or right is None:
            return Tri.MAYBE
        return tri_of(test(left, right))

    return compare


def _cmp_ip(ctx_value: str, policy_value: str) -> Tri:
    try:
        address = ipaddress.ip_address(ctx_value)
        network = ipaddress.ip_network(policy_value, strict=False)
    except ValueError:
        return Tri.MAYBE
    return tri_of(address.version == network.version and address in network)


_COMPARATORS: dict[str, Comparator] = {
    "stringequals": _cmp_string,
    "stringequalsignorecase": _cmp_string_ignore_case,
    "stringlike": _cmp_string_like,
    "arnequals": _cmp_arn_like,
    "arnlike": _cmp_arn_like,
    "numericequals": _numeric(lambda a, b: a == b),
    "numericlessthan": _numeric(lambda a, b: a < b),
    "numericlessthanequals": _numeric(lambda a, b: a <= b),
    "numericgreaterthan": _numeric(lambda a, b: a > b),
    "numericgreaterthanequals": _numeric(lambda a, b: a >= b),
    "dateequals": _date(lambda a, b: a == b),
    "datelessthan": _date(lambda a, b: a < b),
    "datelessthanequals": _date(lambda a, b: a <= b),
    "dategreaterthan": _date(lambda a, b: a > b),
    "dategreaterthanequals": _date(lambda a, b: a >= b),
    "bool": _cmp_bool,
    "binaryequals": _cmp_binary,
    "ipaddress": _cmp_ip,
}
# Negated operators: the documented "not matched" family; their value lists are NOR'ed.
_NEGATED: dict[str, str] = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
}
# Policy variables are documented as supported for these operator families only.
_VARIABLE_FAMILIES = ("string", "arn", "bool")
_QUALIFIERS = ("forallvalues", "foranyvalue")


def _split_operator(operator: str) -> tuple[str | None, str, bool] | None:
    """``ForAnyValue:StringLikeIfExists`` -> ("foranyvalue", "stringlike", True); None if malformed."""
    qualifier: str | None = None
    name = operator
    if ":" in operator:
        prefix, name = operator.split(":", 1)
        qualifier = prefix.lower()
        if qualifier not in _QUALIFIERS:
            return None
    base = name.lower()
    if_exists = base.endswith("ifexists") and base != "ifexists"
    if if_exists:
        base = base[: -len("ifexists")]
    return qualifier, base, if_exists


def _evaluate_clause(clause: ConditionClause, ctx: Mapping[str, ContextValues], variables: bool) -> tuple[Tri, str]:
    label = f"{clause.operator} {clause.key}"
    split = _split_operator(clause.operator)
    base = split[1] if split else ""
    if split is None or (base not in _COMPARATORS and base not in _NEGATED and base != "null"):
        return Tri.MAYBE, f"{label}: unsupported condition operator, cannot decide"
    qualifier, base, if_exists = split
    found = _lookup(ctx, clause.key)
    if isinstance(found, _Unknown):
        return Tri.MAYBE, f"{label}: condition key {clause.key} is not in the request context"
    values = found or []  # None and [] both mean absent
    if base == "null":
        return _evaluate_null(clause, qualifier, if_exists, values, label)
    if not values:
        return _absent_key(base, qualifier, if_exists, label)
    return _evaluate_present(
        clause, qualifier=qualifier, base=base, values=values, ctx=ctx, variables=variables, label=label
    )


def _evaluate_null(
    clause: ConditionClause, qualifier: str | None, if_exists: bool, values: list[str], label: str
) -> tuple[Tri, str]:
    if qualifier or if_exists or len(clause.values) != 1 or clause.values[0].lower() not in ("true", "false"):
        return Tri.MAYBE, f"{label}: malformed Null condition, cannot decide"
    wants_absent = clause.values[0].lower() == "true"
    result = tri_of(wants_absent == (not values))
    state = "absent" if not values else "present"
    return result, f"{label}: key is {state}, condition {'holds' if result is Tri.YES else 'fails'}"


def _absent_key(base: str, qualifier: str | None, if_exists: bool, label: str) -> tuple[Tri, str]:
    negated = base in _NEGATED
    if if_exists:
        return Tri.YES, f"{label}: key absent, ...IfExists holds"
    if qualifier == "forallvalues":
        # Documented: "The ForAllValues set operator also returns true if there are no context keys".
        return Tri.YES, f"{label}: key absent, ForAllValues is vacuously true"
    if qualifier == "foranyvalue":
        if negated:
            # The docs' "negated operator with absent key is true" rule and the set semantics of
            # ForAnyValue (empty set -> false) disagree here; refuse to guess.
            return Tri.MAYBE, f"{label}: key absent with a negated ForAnyValue operator, IAM behaviour undocumented"
        return Tri.NO, f"{label}: key absent, ForAnyValue has no value to match"
    if negated:
        # reference_policies_elements_condition_operators.html: "If the policy condition requires
        # that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not
        # present, the condition is true."  This is why StringNotEquals aws:SourceAccount denies
        # requests that carry no SourceAccount at all.
        return Tri.YES, f"{label}: key absent, a negated operator holds"
    return Tri.NO, f"{label}: key absent from the request, condition fails"


def _evaluate_present(
    clause: ConditionClause,
    *,
    qualifier: str | None,
    base: str,
    values: list[str],
    ctx: Mapping[str, ContextValues],
    variables: bool,
    label: str,
) -> tuple[Tri, str]:
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    compare = _COMPARATORS[positive]
    use_variables = variables and positive.startswith(_VARIABLE_FAMILIES)
    glob = positive in ("stringlike", "arnlike", "arnequals")
    policy_values = [_substitute(v, ctx, use_variables, glob=glob) for v in clause.values]

    def one(value: str) -> Tri:
        # Policy values are OR'ed; for a negated operator the result is their NOR
        # (reference_policies_multi-value-conditions.html).
        matched = tri_or(Tri.MAYBE if pv is None else compare(value, pv) for pv in policy_values)
        return tri_not(matched) if negated else matched

    per_value = [one(v) for v in values]
    if qualifier == "forallvalues":
        result = tri_and(per_value)
    elif qualifier == "foranyvalue":
        result = tri_or(per_value)
    elif len(set(per_value)) == 1:
        result = per_value[0]
    else:
        # A multi-valued key under a single-valued operator: AWS does not document which value
        # wins, and here the values disagree, so the answer is unknown.
        result = Tri.MAYBE
    verdict = {Tri.YES: "holds", Tri.NO: "fails", Tri.MAYBE: "cannot be decided"}[result]
    return result, f"{label}: request has {values}, policy has {list(clause.values)}, condition {verdict}"


def _evaluate_conditions(stmt: Statement, ctx: Mapping[str, ContextValues]) -> tuple[Tri, str]:
    results = [_evaluate_clause(clause, ctx, stmt.variables) for clause in stmt.conditions]
    overall = tri_and(r for r, _ in results)
    if overall is Tri.YES:
        return overall, "; ".join(reason for _, reason in results)
    wanted = Tri.NO if overall is Tri.NO else Tri.MAYBE
    return overall, "; ".join(reason for r, reason in results if r is wanted)


# --- statement components --------------------------------------------------------------------


def _action_matches(stmt: Statement, action: str) -> bool:
    wanted = action.lower()
    if stmt.actions is not None:
        return any(glob_match(a.lower(), wanted) for a in stmt.actions)
    return not any(glob_match(a.lower(), wanted) for a in stmt.not_actions or ())


def _resolve_patterns(
    patterns: Sequence[str], ctx: Mapping[str, ContextValues], variables: bool
) -> tuple[list[str], int]:
    resolved = [_substitute(p, ctx, variables, glob=True) for p in patterns]
    return [p for p in resolved if p is not None], sum(p is None for p in resolved)


def _resource_component(
    stmt: Statement, resource: str, ctx: Mapping[str, ContextValues]
) -> tuple[Tri, str, bool, tuple[str, ...]]:
    """(applies, reason, partial, resolved patterns) for the Resource/NotResource element.

    Allow needs the statement to cover the WHOLE request pattern (every resource the pattern
    stands for must be granted); Deny applies as soon as the patterns INTERSECT (a deny on part of a
    prefix already breaks pulls of that part).  NotResource swaps the roles: Allow+NotResource
    applies when the request is disjoint from every listed pattern, Deny+NotResource when some
    requested resource escapes the listed patterns.
    """
    if stmt.resources is None and stmt.not_resources is None:
        return Tri.YES, "no Resource element: the policy's own resource", False, ()
    negated = stmt.resources is None
    listed = stmt.not_resources if negated else stmt.resources
    patterns, unresolved = _resolve_patterns(listed or (), ctx, stmt.variables)
    shown = list(listed or ())
    covered = glob_covers(patterns, resource) if patterns else False
    touched = any(glob_intersects(p, resource) for p in patterns)
    # Allow: Resource must cover, NotResource must avoid.  Deny: Resource must touch, NotResource
    # must leave something uncovered.
    hit = {
        ("Allow", False): covered,
        ("Allow", True): not touched,
        ("Deny", False): touched,
        ("Deny", True): not covered,
    }[(stmt.effect, negated)]
    if unresolved and hit == negated:
        # An unresolved pattern could only add resources to the list: that can turn a Resource
        # miss into a hit and a NotResource hit into a miss, never the other way round.
        return Tri.MAYBE, f"policy variable in {shown} cannot be resolved from the request context", False, ()
    partial = not hit and stmt.effect == "Allow" and not negated and touched
    reason = _resource_reason(
        effect=stmt.effect, negated=negated, hit=hit, partial=partial, shown=shown, resource=resource
    )
    return tri_of(hit), reason, partial, tuple(patterns)


def _resource_reason(*, effect: str, negated: bool, hit: bool, partial: bool, shown: list[str], resource: str) -> str:
    if negated:
        verb = {
            ("Allow", True): "does not exclude",
            ("Allow", False): "excludes (part of)",
            ("Deny", True): "does not exclude (all of)",
            ("Deny", False): "excludes all of",
        }[(effect, hit)]
        return f"NotResource {shown} {verb} {resource}"
    if partial:
        verb = "covers only part of"
    elif not hit:
        verb = "does not match"
    elif effect == "Allow":
        verb = "covers"
    else:
        verb = "overlaps" if _has_wildcard(resource) else "matches"
    return f"Resource {shown} {verb} {resource}"


_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")
_SESSION_ARN = re.compile(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+$")
_ROLE_ARN = re.compile(r"^arn:([^:]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4] else None


def _aws_principal_matches(entry: str, request: Request) -> Tri:
    if entry == "*":
        return Tri.YES
    if request.principal_service:
        return Tri.NO  # an AWS-type principal never names a service principal
    account = request.account
    root = _ROOT_ARN.match(entry)
    if _ACCOUNT_ID.match(entry) or root:
        # An account id / root ARN means every principal of that account.
        named = root.group(1) if root else entry
        return Tri.MAYBE if account is None else tri_of(named == account)
    if not entry.startswith("arn:"):
        return Tri.MAYBE  # unique id (AROA...) of a deleted or renamed principal: cannot map to an ARN
    if request.principal_arn:
        return tri_of(_same_principal(entry, request.principal_arn))
    if account is not None and _arn_account(entry) != account:
        return Tri.NO
    return Tri.MAYBE


def _same_principal(entry: str, arn: str) -> bool:
    if entry == arn:
        return True
    # A role ARN in a policy also matches the role's sessions; session ARNs drop the role path.
    session, role = _SESSION_ARN.match(arn), _ROLE_ARN.match(entry)
    if session and role:
        return session.group(1, 2, 3) == role.group(1, 2, 3)
    return False


def _entry_levels(entry: str, request: Request) -> tuple[Tri, Tri, Tri]:
    """(matches, matches directly, grant not limited by a boundary/session policy) for one AWS principal entry."""
    if entry == "*":
        return Tri.YES, Tri.YES, Tri.YES
    matched = _aws_principal_matches(entry, request)
    if matched is Tri.NO:
        return Tri.NO, Tri.NO, Tri.NO
    if _ACCOUNT_ID.match(entry) or _ROOT_ARN.match(entry):
        return matched, Tri.NO, Tri.NO  # an account principal delegates to the account's identity policies
    if matched is Tri.MAYBE:
        return Tri.MAYBE, Tri.MAYBE, Tri.MAYBE
    # A grant to a role ARN is limited by an implicit deny in the role's permissions boundary or session
    # policy; a grant to a session ARN or an IAM user ARN is not (reference_policies_evaluation-logic.html).
    unlimited = Tri.NO if _ROLE_ARN.match(entry) else Tri.YES
    return Tri.YES, Tri.YES, unlimited


def _principal_levels(spec: PrincipalSpec, request: Request) -> tuple[Tri, Tri, Tri]:
    if spec.wildcard or "*" in spec.aws:
        return Tri.YES, Tri.YES, Tri.YES
    if not (request.principal_service or request.principal_arn or request.principal_account):
        return Tri.MAYBE, Tri.MAYBE, Tri.MAYBE  # we do not know who is asking
    service = (request.principal_service or "").lower()
    services = tri_of(bool(service) and service in {s.lower() for s in spec.service})
    # Federated/CanonicalUser principals are web-identity/SAML providers and S3 canonical ids:
    # neither is a service principal nor an IAM role/user ARN, so they never match our requests.
    levels = [(services, services, services), *(_entry_levels(e, request) for e in spec.aws)]
    return (
        tri_or(level[0] for level in levels),
        tri_or(level[1] for level in levels),
        tri_or(level[2] for level in levels),
    )


def _principal_matches(spec: PrincipalSpec, request: Request) -> Tri:
    return _principal_levels(spec, request)[0]


def _principal_component(stmt: Statement, request: Request, resource_policy: bool) -> tuple[Tri, str, Tri, Tri]:
    """(matches, reason, matches directly, not limited by boundary/session policy); see StatementResult."""
    if not resource_policy:
        return Tri.YES, "", Tri.YES, Tri.YES  # identity policies apply to the principal they are attached to
    who = request.principal_service or request.principal_arn or request.principal_account or "unknown principal"
    if stmt.principal is not None:
        if stmt.principal.wildcard or "*" in stmt.principal.aws:
            return Tri.YES, "Principal '*' matches every principal", Tri.YES, Tri.YES
        result, direct, unlimited = _principal_levels(stmt.principal, request)
        text = {Tri.YES: "names", Tri.NO: "does not name", Tri.MAYBE: "may or may not name"}[result]
        reason = f"Principal {text} {who}"
        if result is Tri.YES and direct is Tri.NO:
            reason += " through its account (an account principal delegates to the account's identity policies)"
        return result, reason, direct, unlimited
    assert stmt.not_principal is not None  # guaranteed by parse_policy(resource_policy=True)
    if stmt.effect == "Deny" and request.principal_boundary and request.principal_arn:
        # reference_policies_elements_notprincipal.html: a Deny with NotPrincipal "will always deny any IAM
        # principal that has a permissions boundary policy attached, regardless of the values specified".
        reason = f"NotPrincipal Deny always applies to {who}, which has a permissions boundary"
        return Tri.YES, reason, Tri.YES, Tri.YES
    result = tri_not(_principal_matches(stmt.not_principal, request))
    text = {Tri.YES: "does not list", Tri.NO: "lists", Tri.MAYBE: "may list"}[result]
    return result, f"NotPrincipal {text} {who}", result, result


# --- statement and policy evaluation ---------------------------------------------------------


def statement_applies(stmt: Statement, request: Request, *, resource_policy: bool) -> StatementResult:
    """Does ``stmt`` apply to ``request``?  YES / NO / MAYBE, component by component.

    Resource scoping when ``request.resource`` is a pattern (contains ``*`` or ``?``): an ALLOW
    statement applies only if its Resource set COVERS the whole request pattern (every string the
    request pattern matches is matched by some Resource entry, see :func:`glob_covers`), because
    the question is "are all of these resources allowed?".  A DENY statement applies as soon as
    the two INTERSECT (some resource matches both), because a deny on part of a prefix already
    breaks pulls of that part.  ``Resource: "*"`` covers everything.
    """
    ctx = _effective_context(request)
    action = _action_matches(stmt, request.action)
    if not action:
        element = "Action" if stmt.actions is not None else "NotAction"
        listed = list(stmt.actions or stmt.not_actions or ())
        return StatementResult(
            statement=stmt,
            action=False,
            resource=Tri.NO,
            principal=Tri.NO,
            condition=Tri.NO,
            applies=Tri.NO,
            reason=f"{element} {listed} does not cover {request.action}",
        )
    resource, resource_reason, partial, patterns = _resource_component(stmt, request.resource, ctx)
    principal, principal_reason, principal_direct, principal_unlimited = _principal_component(
        stmt, request, resource_policy
    )
    if stmt.conditions:
        condition, condition_reason = _evaluate_conditions(stmt, ctx)
    else:
        condition, condition_reason = Tri.YES, "no conditions"
    parts = [(resource, resource_reason), (principal, principal_reason), (condition, condition_reason)]
    applies = tri_and(p for p, _ in parts)
    if applies is Tri.YES:
        reason = "; ".join(r for _, r in parts if r)
    else:
        wanted = Tri.NO if applies is Tri.NO else Tri.MAYBE
        reason = "; ".join(r for p, r in parts if p is wanted)
    return StatementResult(
        statement=stmt,
        action=True,
        resource=resource,
        principal=principal,
        condition=condition,
        applies=applies,
        reason=reason,
        resource_partial=partial,
        resource_patterns=patterns,
        principal_direct=principal_direct,
        principal_unlimited=principal_unlimited,
    )


class _Pool(BaseModel):
    """Verdict of one set of policies that is evaluated as a unit (e.g. all identity policies)."""

    granted: Tri
    denied: Tri
    allows: list[StatementMatch]
    denies: list[StatementMatch]
    undecided: list[StatementMatch]
    reasons: list[str]
    granted_direct: Tri = Tri.NO
    granted_unlimited: Tri = Tri.NO


def _match(result: StatementResult, source: str | None, reason: str) -> StatementMatch:
    stmt = result.statement
    return StatementMatch(
        sid=stmt.sid,
        index=stmt.index,
        effect=stmt.effect,
        conditional=bool(stmt.conditions),
        reason=reason,
        source=source,
        delegated=stmt.effect == "Allow" and result.principal is not Tri.NO and result.principal_direct is Tri.NO,
    )


def _prefix(source: str | None, stmt: Statement) -> str:
    return f"{source} {stmt.label}" if source else stmt.label


def _evaluate_pool(policies: Sequence[tuple[str | None, Policy]], request: Request, *, resource_policy: bool) -> _Pool:
    pool = _Pool(granted=Tri.NO, denied=Tri.NO, allows=[], denies=[], undecided=[], reasons=[])
    results: list[tuple[str | None, StatementResult]] = []
    for source, policy in policies:
        for stmt in policy.statements:
            result = statement_applies(stmt, request, resource_policy=resource_policy)
            results.append((source, result))
            _record(pool, source, result, request)
    if request.resource_is_pattern:
        _joint_cover(pool, results, request)
    return pool


def _record(pool: _Pool, source: str | None, result: StatementResult, request: Request) -> None:
    stmt = result.statement
    head = _prefix(source, stmt)
    what = f"{request.action} on {request.resource}"
    if not result.action:
        return  # statements about other actions only add noise to the explanation
    if stmt.effect == "Allow":
        for level, principal in (
            ("granted_direct", result.principal_direct),
            ("granted_unlimited", result.principal_unlimited),
        ):
            applies = tri_and([result.resource, principal, result.condition])
            setattr(pool, level, tri_or([getattr(pool, level), applies]))
    if result.applies is Tri.NO:
        pool.reasons.append(f"{head} ({stmt.effect}) does not apply: {result.reason}")
        return
    if result.applies is Tri.MAYBE:
        verb = "might allow" if stmt.effect == "Allow" else "might deny"
        text = f"{head} {verb} {what}: {result.reason}"
        pool.undecided.append(_match(result, source, text))
        pool.reasons.append(text)
        if stmt.effect == "Allow":
            pool.granted = tri_or([pool.granted, Tri.MAYBE])
        else:
            pool.denied = tri_or([pool.denied, Tri.MAYBE])
        return
    if stmt.effect == "Allow":
        text = f"{head} allows {what}: {result.reason}"
        if result.principal_direct is Tri.NO:
            text = f"{head} allows {what} only by delegation to the principal's account: {result.reason}"
        pool.allows.append(_match(result, source, text))
        pool.granted = Tri.YES
    else:
        text = f"{head} explicitly denies {what}: {result.reason}"
        pool.denies.append(_match(result, source, text))
        pool.denied = Tri.YES
    pool.reasons.append(text)


def _joint_cover(pool: _Pool, results: Sequence[tuple[str | None, StatementResult]], request: Request) -> None:
    """Several Allow statements may each cover part of a request pattern and all of it together."""
    if pool.granted is not Tri.YES:
        _joint_cover_level(pool, results, request, "granted", lambda r: r.principal, record=True)
    for level, principal_of in (
        ("granted_direct", lambda r: r.principal_direct),
        ("granted_unlimited", lambda r: r.principal_unlimited),
    ):
        if getattr(pool, level) is not Tri.YES:
            _joint_cover_level(pool, results, request, level, principal_of, record=False)


def _joint_cover_level(
    pool: _Pool,
    results: Sequence[tuple[str | None, StatementResult]],
    request: Request,
    level: str,
    principal_of: Callable[[StatementResult], Tri],
    *,
    record: bool,
) -> None:
    partial = [
        (source, r)
        for source, r in results
        if r.resource_partial and tri_and([principal_of(r), r.condition]) is not Tri.NO
    ]
    sure = [(s, r) for s, r in partial if tri_and([principal_of(r), r.condition]) is Tri.YES]
    for candidates, verdict in ((sure, Tri.YES), (partial, Tri.MAYBE)):
        patterns = [p for _, r in candidates for p in r.resource_patterns]
        if len(candidates) > 1 and glob_covers(patterns, request.resource):
            setattr(pool, level, tri_or([getattr(pool, level), verdict]))
            if record:
                names = ", ".join(_prefix(s, r.statement) for s, r in candidates)
                verb = "allow" if verdict is Tri.YES else "might allow"
                text = f"{names} together {verb} {request.action} on {request.resource}"
                target = pool.allows if verdict is Tri.YES else pool.undecided
                target.extend(_match(r, s, text) for s, r in candidates)
                pool.reasons.append(text)
            return


def _decide(granted: Tri, denied: Tri) -> Decision:
    if denied is Tri.YES:
        return Decision.EXPLICIT_DENY
    if granted is Tri.NO:
        return Decision.IMPLICIT_DENY
    if granted is Tri.YES and denied is Tri.NO:
        return Decision.ALLOWED
    return Decision.UNKNOWN


def _summary(decision: Decision, request: Request | None) -> str:
    what = f"{request.action} on {request.resource}" if request else "the request"
    return {
        Decision.EXPLICIT_DENY: f"decision: explicit_deny — an applicable Deny overrides any Allow for {what}",
        Decision.ALLOWED: f"decision: allowed — {what} is allowed and nothing denies it",
        Decision.IMPLICIT_DENY: f"decision: implicit_deny — nothing allows {what}",
        Decision.UNKNOWN: f"decision: unknown — undecided statements could change the outcome for {what}; "
        "supply the missing request context",
    }[decision]


def _evaluation(
    granted: Tri,
    denied: Tri,
    pools: Sequence[_Pool],
    extra: Sequence[str],
    request: Request | None,
    *,
    granted_direct: Tri | None = None,
    granted_unlimited: Tri | None = None,
) -> Evaluation:
    decision = _decide(granted, denied)
    return Evaluation(
        decision=decision,
        allows=[m for p in pools for m in p.allows],
        denies=[m for p in pools for m in p.denies],
        undecided=[m for p in pools for m in p.undecided],
        reasons=[*(r for p in pools for r in p.reasons), *extra, _summary(decision, request)],
        granted=granted,
        denied=denied,
        granted_direct=granted_direct,
        granted_unlimited=granted_unlimited,
    )


PolicyInput = str | Mapping[str, Any] | Policy | None


def evaluate_resource_policy(doc: PolicyInput, request: Request) -> Evaluation:
    """Evaluate a resource-based policy (registry, repository or creation-template policy).

    Statements must name the requesting principal (Principal/NotPrincipal).  A missing policy
    (``None``) allows nothing.  Raises :class:`PolicyParseError` for an invalid document.
    """
    policy = parse_policy(doc, resource_policy=True)
    pool = _evaluate_pool([(None, policy)], request, resource_policy=True)
    extra = [] if policy.statements else ["no resource policy: it allows nothing"]
    return _evaluation(
        pool.granted,
        pool.denied,
        [pool],
        extra,
        request,
        granted_direct=pool.granted_direct,
        granted_unlimited=pool.granted_unlimited,
    )


def evaluate_identity_policies(
    docs: Sequence[PolicyInput],
    request: Request,
    *,
    boundary: PolicyInput = None,
    session_policy: PolicyInput = None,
) -> Evaluation:
    """Evaluate the identity side of a principal.

    An explicit Deny in any identity policy, the boundary or the session policy wins.  Otherwise
    the request is allowed only if some identity policy allows it AND the boundary (when given)
    allows it AND the session policy (when given) allows it.  ``None`` means "not present"; an
    empty document passed as boundary/session allows nothing, exactly like an empty policy in IAM.
    """
    evaluation, _limits = _identity_side(docs, request, boundary=boundary, session_policy=session_policy)
    return evaluation


def _identity_side(
    docs: Sequence[PolicyInput], request: Request, *, boundary: PolicyInput, session_policy: PolicyInput
) -> tuple[Evaluation, Tri]:
    """The identity-side evaluation, and whether the boundary and session policy (when present) allow."""
    if isinstance(docs, str | Mapping | Policy):
        docs = [docs]  # a single document passed where a list was expected
    identity = [(f"identity[{i}]", parse_policy(doc, resource_policy=False)) for i, doc in enumerate(docs)]
    pools = [_evaluate_pool(identity, request, resource_policy=False)]
    extra: list[str] = []
    if not any(p.statements for _, p in identity):
        extra.append("no identity policy statements: nothing is allowed")
    limits = [("boundary", "permissions boundary", boundary), ("session", "session policy", session_policy)]
    for source, name, doc in limits:
        if doc is None:
            continue
        pool = _evaluate_pool([(source, parse_policy(doc, resource_policy=False))], request, resource_policy=False)
        pools.append(pool)
        if pool.granted is Tri.NO:
            extra.append(f"the {name} does not allow {request.action} on {request.resource}")
        elif pool.granted is Tri.MAYBE:
            extra.append(f"the {name} might not allow {request.action} on {request.resource}")
    granted = tri_and(p.granted for p in pools)
    denied = tri_or(p.denied for p in pools)
    limits_allow = tri_and(p.granted for p in pools[1:])
    return _evaluation(granted, denied, pools, extra, request), limits_allow


def _merge(
    evaluations: Sequence[Evaluation],
    granted: Tri,
    note: str,
    *,
    granted_direct: Tri | None = None,
    granted_unlimited: Tri | None = None,
) -> Evaluation:
    denied = tri_or(e.denied or Tri.NO for e in evaluations)
    decision = _decide(granted, denied)
    reasons = [r for e in evaluations for r in e.reasons if not r.startswith("decision: ")]
    return Evaluation(
        decision=decision,
        allows=[m for e in evaluations for m in e.allows],
        denies=[m for e in evaluations for m in e.denies],
        undecided=[m for e in evaluations for m in e.undecided],
        reasons=[*reasons, f"{note}: decision {decision.value}"],
        granted=granted,
        denied=denied,
        granted_direct=granted_direct,
        granted_unlimited=granted_unlimited,
    )


def combine(*evaluations: Evaluation) -> Evaluation:
    """Union of policy types that each may grant (e.g. same-account resource policy + identity).

    Explicit deny anywhere wins; then UNKNOWN if an undecided statement could change the answer;
    then ALLOWED if any evaluation allows; else IMPLICIT_DENY.
    """
    granted = tri_or(e.granted or Tri.NO for e in evaluations)
    return _merge(
        evaluations,
        granted,
        "combined (any policy may grant, any Deny wins)",
        granted_direct=tri_or(e.granted_direct or Tri.NO for e in evaluations),
        granted_unlimited=tri_or(e.granted_unlimited or Tri.NO for e in evaluations),
    )


def intersect(*evaluations: Evaluation) -> Evaluation:
    """Policy types that must ALL allow (e.g. cross-account: the repository policy and the
    caller's identity policies).  Explicit deny anywhere still wins.  No evaluations: nothing allowed."""

    def all_of(values: Iterable[Tri]) -> Tri:
        return tri_and(values) if evaluations else Tri.NO

    return _merge(
        evaluations,
        all_of(e.granted or Tri.NO for e in evaluations),
        "intersected (every policy must allow, any Deny wins)",
        granted_direct=all_of(e.granted_direct or Tri.NO for e in evaluations),
        granted_unlimited=all_of(e.granted_unlimited or Tri.NO for e in evaluations),
    )


def evaluate_access(
    *,
    request: Request,
    identity_policies: Sequence[PolicyInput] = (),
    boundary: PolicyInput = None,
    session_policy: PolicyInput = None,
    resource_policy: PolicyInput = None,
    resource_account: str | None = None,
) -> Evaluation:
    """The whole decision for one request, same-account and cross-account alike (AWS evaluation logic).

    * A service principal (``request.principal_service``) has no identity side: only
      ``resource_policy`` is evaluated (``None``: nothing allows it).
    * An explicit Deny in any policy wins.  A Deny with ``NotPrincipal`` always applies to an IAM
      principal that has a permissions boundary (``boundary`` given, or ``request.principal_boundary``).
    * Same account (``resource_account`` equals the principal's account): allowed when the identity
      side allows (identity policies ∩ boundary ∩ session policy), or the resource policy grants to the
      principal's session or user ARN or to ``"*"``, or grants to its role ARN and the boundary and
      session policy (when present) allow too.  A grant to the account (``123456789012`` /
      ``arn:aws:iam::123456789012:root``) only delegates: the identity side must allow.
    * Cross account: the resource policy (directly or through the account principal) AND the identity
      side must both allow.
    * ``resource_account`` defaults to the account field of ``request.resource``; when it or the
      principal's account is unknown and the two readings differ, the answer is UNKNOWN.

    ``None`` for ``boundary``/``session_policy``/``resource_policy`` means "not present".  Raises
    :class:`PolicyParseError` for an invalid document.  SCPs and RCPs are not evaluated.
    """
    if request.principal_service:
        evaluation = evaluate_resource_policy(resource_policy, request)
        note = f"{request.principal_service} is a service principal: only the resource-based policy applies"
        return evaluation.model_copy(update={"reasons": [note, *evaluation.reasons]})
    if boundary is not None and not request.principal_boundary:
        request = request.model_copy(update={"principal_boundary": True})
    identity, limits = _identity_side(identity_policies, request, boundary=boundary, session_policy=session_policy)
    resource = evaluate_resource_policy(resource_policy, request) if resource_policy is not None else None
    owner = resource_account or _arn_region_account(request.resource)[1]
    principal_account = request.account
    same = Tri.MAYBE if owner is None or principal_account is None else tri_of(owner == principal_account)

    res_any = resource.granted if resource else Tri.NO
    res_direct = resource.granted_direct if resource else Tri.NO
    res_unlimited = resource.granted_unlimited if resource else Tri.NO
    assert identity.granted is not None and res_any is not None
    assert res_direct is not None and res_unlimited is not None
    same_granted = tri_or([identity.granted, res_unlimited, tri_and([res_direct, limits])])
    cross_granted = tri_and([res_any, identity.granted])
    notes: list[str] = []
    if same is Tri.YES:
        granted = same_granted
        notes.append(
            f"same account ({owner}): the identity side or a resource-policy grant to the principal itself "
            "suffices; a grant to a role ARN is limited by its permissions boundary and session policy, a grant "
            "to the account needs the identity side"
        )
        if res_direct is not Tri.NO and res_unlimited is not Tri.YES and limits is not Tri.YES:
            notes.append(
                "the resource policy's grant to the role ARN is limited by the permissions boundary or "
                "session policy, which " + ("does not allow it" if limits is Tri.NO else "might not allow it")
            )
    elif same is Tri.NO:
        granted = cross_granted
        notes.append(
            f"cross account (resource in {owner}, principal in {principal_account}): the resource policy and the "
            "identity side must both allow"
        )
        if resource is None:
            notes.append("there is no resource-based policy, so another account's principal is not allowed")
    else:
        granted = same_granted if same_granted is cross_granted else Tri.MAYBE
        notes.append("cannot tell whether the principal and the resource are in the same account")
    if res_any is not Tri.NO and res_direct is not Tri.YES:
        notes.append("the resource policy grants only to the principal's account: its identity policies must allow")
    evaluations = [identity] if resource is None else [identity, resource]
    assert identity.denied is not None
    denied = tri_or([identity.denied, resource.denied if resource and resource.denied else Tri.NO])
    decision = _decide(granted, denied)
    reasons = [r for e in evaluations for r in e.reasons if not r.startswith("decision: ")]
    return Evaluation(
        decision=decision,
        allows=[m for e in evaluations for m in e.allows],
        denies=[m for e in evaluations for m in e.denies],
        undecided=[m for e in evaluations for m in e.undecided],
        reasons=[*reasons, *notes, _summary(decision, request)],
        granted=granted,
        denied=denied,
    )


def actions_allowed(
    doc: PolicyInput, actions: Sequence[str], request_template: Request, *, resource_policy: bool
) -> dict[str, Evaluation]:
    """Evaluate one policy for several actions that share principal, resource and context."""
    policy = parse_policy(doc, resource_policy=resource_policy)
    results: dict[str, Evaluation] = {}
    for action in actions:
        request = request_template.model_copy(update={"action": action})
        if resource_policy:
            results[action] = evaluate_resource_policy(policy, request)
        else:
            results[action] = evaluate_identity_policies([policy], request)
    return results
