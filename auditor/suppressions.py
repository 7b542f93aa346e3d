"""Suppressions: findings a person has accepted as a risk, reported as MUTED instead of FAIL or ERROR.

A suppressions file (YAML, or JSON when the name ends in ``.json``) lists accepted risks::

    suppressions:
      - rule: repository-policy              # a rule id, or "*" for every rule (default)
        account: "123456789012"              # 12 digits, or "*" (default)
        region: eu-west-1                    # a region name, or "*" (default)
        resource: "arn:aws:ecr:*:repository/legacy/*"   # fnmatch glob on the finding's resource (default "*")
        reason: Legacy pipeline, decommissioned in Q3   # required
        owner: genomics-platform@example.org            # required
        expires: 2025-09-30                  # a date (YYYY-MM-DD); omit or null for never

Semantics:

* A suppression *matches* a finding when every field matches (``*`` matches anything; ``resource`` is a
  case-sensitive glob). Only FAIL and ERROR findings are muted; PASS and NOT_APPLICABLE are left alone.
* A muted finding keeps its rule, severity, resource and message; its status becomes MUTED, it is no longer
  fixable, and ``evidence["suppression"]`` records the reason, owner, expiry and the original status. MUTED never
  counts towards the exit code, so an accepted risk does not fail a pipeline.
* A suppression is in force through its ``expires`` day (``expires >= today``, dates in UTC by default).
* An expired suppression does **not** mute anything: an acceptance is a decision a person made for a limited time,
  and once that time is over the decision must be taken again by a person, not silently carried forward. Each
  expired suppression instead yields one ``suppression-expired`` finding (status FAIL, severity ``info``, so it is
  visible without tripping the default ``low`` threshold) naming its reason, owner, expiry date and how many
  findings it would have muted; those findings are reported with their own status.
* When several suppressions match a finding, the first one in force (in file order) is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor.errors import ConfigError
from auditor.files import BoundedSafeLoader, load_data
from auditor.findings import Finding, Severity, Status, finding_id

EXPIRED_RULE_ID = "suppression-expired"
EXPIRED_TITLE = "A suppression has expired"
_EXPIRED_REMEDIATION = (
    "Review the accepted risk with its owner: either fix the findings and remove the suppression, "
    "or record a new decision with a new expiry date."
)

_ANY = "*"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MUTABLE = (Status.FAIL, Status.ERROR)


class Suppression(BaseModel):
    """One accepted risk. Fields left out match everything, except ``reason`` and ``owner``, which are required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = _ANY
    account: str = _ANY
    region: str = _ANY
    resource: str = Field(default=_ANY, min_length=1)
    reason: str
    owner: str
    expires: date | None = None

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value != _ANY and not _RULE_ID.match(value):
            raise ValueError(f"{value!r} is not a rule id (lower-case letters, digits, '_', '.', '-') or '*'")
        return value

    @field_validator("account", mode="before")
    @classmethod
    def _account(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an unquoted account id in YAML is a number
        if isinstance(value, str) and value != _ANY and not _ACCOUNT.match(value):
            raise ValueError(f"{value!r} is not a 12-digit AWS account id or '*' (quote account ids in YAML)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value != _ANY and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (e.g. eu-west-1) or '*'")
        return value

    @field_validator("reason", "owner")
    @classmethod
    def _required_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty: say why the risk is accepted and who owns the decision")
        return value

    @field_validator("expires", mode="before")
    @classmethod
    def _expires(cls, value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, str) and _DATE.match(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a valid date: {exc}") from None
        raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD, or leave it out for no expiry")

    def expired(self, today: date) -> bool:
        """True once the expiry day has passed (a suppression is in force on its ``expires`` day)."""
        return self.expires is not None and self.expires < today

    def describe(self) -> str:
        return f"rule {self.rule}, account {self.account}, region {self.region}, resource {self.resource}"


class SuppressionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suppressions: list[Suppression] = Field(default_factory=list)


# --- loading ----------------------------------------------------------------------------------


class _Loader(BoundedSafeLoader):
    """Safe YAML (alias bombs refused) that leaves timestamps as text: a bad date is a field error, not a crash."""


# types-PyYAML types a constructor's first argument as a loader, not the SafeConstructor that defines it.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)  # type: ignore[type-var]


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid suppressions file"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
            if len(err["loc"]) > 1:
                msg += f" (known: {', '.join(Suppression.model_fields)})"
        elif err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_suppressions(data: Any, source: str = "suppressions") -> list[Suppression]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping with a 'suppressions' list, not {type(data).__name__}"
        )
    try:
        return SuppressionFile.model_validate(data).suppressions
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


def load_suppressions(path: str | Path) -> list[Suppression]:
    """Read a suppressions file; every problem is a ConfigError naming the file, the field and what is wrong."""
    p = Path(path).expanduser()
    data = load_data(p, "suppressions file", error=ConfigError, yaml_loader=_Loader)
    return parse_suppressions(data, str(p))


# --- applying ---------------------------------------------------------------------------------


def matches(s: Suppression, finding: Finding) -> bool:
    """Whether the suppression's rule, account, region and resource glob all match the finding (status aside)."""
    return (
        s.rule in (_ANY, finding.rule_id)
        and s.account in (_ANY, finding.account)
        and s.region in (_ANY, finding.region)
        and fnmatchcase(finding.resource, s.resource)
    )


def is_suppressed(finding: Finding, suppressions: Iterable[Suppression], today: date) -> Suppression | None:
    """The first suppression in force (not expired) that matches the finding, else None.

    The status is not considered, so a MUTED finding is still reported as suppressed (the fixer refuses both).
    """
    for s in suppressions:
        if not s.expired(today) and matches(s, finding):
            return s
    return None


def _muted(finding: Finding, s: Suppression) -> Finding:
    record = {
        "reason": s.reason,
        "owner": s.owner,
        "expires": s.expires.isoformat() if s.expires else None,
        "original_status": finding.status.value,
    }
    return finding.model_copy(
        update={"status": Status.MUTED, "fixable": False, "evidence": {**finding.evidence, "suppression": record}}
    )


def _expired_finding(index: int, s: Suppression, would_match: int) -> Finding:
    assert s.expires is not None
    account, region = s.account, s.region  # concrete when the suppression names them, else "*"
    resource = f"suppression/{index}:{s.rule}:{s.resource}"
    noun = "finding" if would_match == 1 else "findings"
    message = (
        f"Suppression {index} ({s.describe()}) expired on {s.expires.isoformat()}; "
        f"reason: {s.reason!r}; owner: {s.owner}. It would have muted {would_match} {noun}, "
        "which are reported with their own status until a person renews or removes it."
    )
    return Finding(
        id=finding_id(EXPIRED_RULE_ID, account, region, resource),
        rule_id=EXPIRED_RULE_ID,
        title=EXPIRED_TITLE,
        status=Status.FAIL,
        severity=Severity.INFO,
        account=account,
        region=region,
        resource=resource,
        message=message,
        evidence={"suppression": {"index": index, **s.model_dump(mode="json")}, "would_have_matched": would_match},
        remediation=_EXPIRED_REMEDIATION,
        fixable=False,
    )


def apply_suppressions(findings: Sequence[Finding], suppressions: Sequence[Suppression], today: date) -> list[Finding]:
    """A new list: FAIL/ERROR findings matched by a suppression in force become MUTED; other findings are unchanged.

    One ``suppression-expired`` finding is appended per expired suppression (in file order), whether or not it
    matches anything; expired suppressions never mute.
    """
    active = [s for s in suppressions if not s.expired(today)]
    expired = [(i, s) for i, s in enumerate(suppressions) if s.expired(today)]
    would_match = [0] * len(expired)
    out: list[Finding] = []
    for finding in findings:
        if finding.status not in _MUTABLE:
            out.append(finding)
            continue
        for k, (_, s) in enumerate(expired):
            if matches(s, finding):
                would_match[k] += 1
        accepted = is_suppressed(finding, active, today)
        out.append(_muted(finding, accepted) if accepted else finding)
    out.extend(_expired_finding(i, s, n) for (i, s), n in zip(expired, would_match, strict=True))
    return out
