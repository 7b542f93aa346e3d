"""Merge one statement into a policy document without touching anyone else's statements.

Remediation never replaces a policy: it reads the document, finds *its own*
statement by Sid (updating it in place, at the same position) or appends it,
and leaves every other statement and top-level key exactly as it was. ECR caps
registry and repository policies at 10,240 characters (docs/aws-semantics.md §3.1); a
merge that cannot fit is refused rather than truncated or split.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from auditor.terminal import printable

ECR_POLICY_LIMIT = 10_240
IAM_INLINE_POLICY_LIMIT = 10_240  # aggregate inline-policy size for a role (non-whitespace characters)
SID_PREFIX = "OmicsEcrAudit"  # every statement this tool writes has a Sid starting with this


class PolicyMergeError(Exception):
    """The document cannot be merged safely (unparseable, wrong shape, too large)."""


def parse_document(text: str | None, what: str) -> dict[str, Any]:
    """The policy as a dict; an absent policy is an empty document."""
    if text is None or not text.strip():
        return {"Version": "2012-10-17", "Statement": []}
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise PolicyMergeError(f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except _DuplicateKey as exc:
        # json.loads would keep only the last copy; writing that back would silently drop the others.
        raise PolicyMergeError(f"{what} repeats the key {exc.args[0]!r} in one object; fix it by hand first") from None
    except (ValueError, RecursionError):
        raise PolicyMergeError(f"{what} is not a JSON document this tool can safely rewrite") from None
    if not isinstance(doc, dict):
        raise PolicyMergeError(f"{what} is not a JSON object")
    statements = doc.get("Statement", [])
    if not isinstance(statements, list | dict):
        raise PolicyMergeError(f"{what} has a Statement that is neither an object nor a list")
    return doc


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def statements_of(doc: dict[str, Any]) -> list[Any]:
    statements = doc.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def find_statement(doc: dict[str, Any], sid: str) -> dict[str, Any] | None:
    for statement in statements_of(doc):
        if isinstance(statement, dict) and statement.get("Sid") == sid:
            return statement
    return None


def merge_statement(doc: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """A new document with ``statement`` replacing the one with the same Sid, else appended.

    Foreign statements keep their order and content; top-level keys (Version, Id...) are
    kept. A missing Version is added only to an empty document: IAM reads a missing Version
    as 2008-10-17, where policy variables in other people's statements mean something else.
    A single-object ``Statement`` becomes a list only when something is appended; further
    copies of our own Sid (IAM wants Sids unique) are dropped.
    """
    sid = statement["Sid"]
    merged = dict(doc)
    current = statements_of(doc)
    if not current:
        merged.setdefault("Version", "2012-10-17")
    ours = [i for i, s in enumerate(current) if isinstance(s, dict) and s.get("Sid") == sid]
    if not ours:
        merged["Statement"] = [*current, statement]
        return merged
    if len(ours) == 1 and current[ours[0]] == statement:
        return merged
    updated = [s for i, s in enumerate(current) if i not in ours[1:]]
    updated[ours[0]] = statement
    merged["Statement"] = updated if isinstance(doc.get("Statement"), list) or len(updated) > 1 else statement
    return merged


def render(doc: dict[str, Any], limit: int = ECR_POLICY_LIMIT, what: str = "policy") -> str:
    """Readable JSON if it fits the service limit, compact JSON if only that fits, else refuse."""
    pretty = json.dumps(doc, indent=2)
    if len(pretty) <= limit:
        return pretty
    compact = json.dumps(doc, separators=(",", ":"))
    if len(compact) <= limit:
        return compact
    raise PolicyMergeError(
        f"the merged {what} would be {len(compact):,} characters, over the {limit:,}-character limit; "
        "nothing was changed — shorten the existing statements or split repositories across prefixes"
    )


def normalized(value: Any) -> str | None:
    """Canonical JSON for comparing documents (key order and whitespace do not matter)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def as_json(value: Any) -> Any:
    """A document string as a JSON value for plans (left as text when it does not parse)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def unified_diff(before: Any, after: Any, name: str) -> str:
    """A readable diff of two JSON values (sorted keys, so only real changes show)."""

    def lines(value: Any) -> list[str]:
        if value is None:
            return []
        return (json.dumps(_expand(as_json(value)), indent=2, sort_keys=True) + "\n").splitlines(keepends=True)

    return "".join(
        difflib.unified_diff(
            lines(before),
            lines(after),
            # The name holds AWS- or file-derived ids: a newline in one must not add a line to the diff.
            fromfile=f"{printable(name)} (before)" if before is not None else "/dev/null",
            tofile=f"{printable(name)} (after)" if after is not None else "/dev/null",
        )
    )


def _expand(value: Any) -> Any:
    """For display: policies nested as JSON strings (a template's repositoryPolicy) shown as JSON."""
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, str) and value.lstrip().startswith("{"):
        parsed = as_json(value)
        return _expand(parsed) if isinstance(parsed, dict) else value
    return value
