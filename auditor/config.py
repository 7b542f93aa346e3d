"""The configuration file (YAML or JSON), validated by pydantic.

Every mistake is reported as ``ConfigError`` naming the file, the field path
and what is wrong; the CLI turns it into exit code 2 without a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor.engine import Severity

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class ConfigError(Exception):
    """A configuration problem a person can fix; the message says where and what."""


def compile_jmespath(expression: str, where: str) -> Any:
    """Compile an expression or raise ConfigError with the position of the mistake."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.ParseError as exc:
        pos = getattr(exc, "lex_position", None)
        pointer = ""
        if isinstance(pos, int) and pos >= 0:
            pointer = f"\n    {expression}\n    {' ' * pos}^"
        raise ValueError(
            f"invalid JMESPath in {where} at position {pos}: {getattr(exc, 'msg', exc)}{pointer}"
        ) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"invalid JMESPath in {where}: {exc}") from None


class CustomRule(BaseModel):
    """An organisation-specific check written as JMESPath over the inventory view (see README)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    severity: Severity = Severity.MEDIUM
    facets: list[str] = Field(default_factory=lambda: ["repositories"])
    resources: str  # selects a list of objects from the inventory view
    resource_name: str = "name"  # evaluated on each selected object
    condition: str  # evaluated on each selected object: truthy -> PASS, falsy -> FAIL
    message: str = ""
    rationale: str = ""
    remediation: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError("must be 2-64 characters of lower-case letters, digits, '_', '.' or '-'")
        return value

    @field_validator("facets")
    @classmethod
    def _facets(cls, value: list[str]) -> list[str]:
        from auditor.collect import FACETS

        unknown = [f for f in value if f not in FACETS]
        if unknown:
            raise ValueError(f"unknown facet(s) {unknown}; known: {', '.join(FACETS)}")
        return value

    @field_validator("resources", "resource_name", "condition")
    @classmethod
    def _expression(cls, value: str, info: Any) -> str:
        compile_jmespath(value, info.field_name)
        return value


class RuleSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=list)  # empty = all built-in and custom rules
    exclude: list[str] = Field(default_factory=list)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str | None = None
    regions: list[str] = Field(default_factory=list)  # empty: the session's default region
    rules: RuleSelection = Field(default_factory=RuleSelection)
    severity_threshold: Severity = Severity.LOW
    # PTC upstream URLs that must have a rule even if no workflow uses them yet
    required_upstreams: list[str] = Field(default_factory=list)
    service_roles: list[str] = Field(default_factory=list)
    run_lookback_days: int = Field(default=30, ge=1, le=90)
    image_tags_per_repository: int = Field(default=3, ge=0, le=100)
    max_workers: int = Field(default=8, ge=1, le=64)
    custom_rules: list[CustomRule] = Field(default_factory=list)
    # accepted-risk findings (auditor.suppressions); load_config resolves a relative path against the config's folder
    suppressions: str | None = Field(default=None, min_length=1)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _REGION.match(r)]
        if bad:
            raise ValueError(f"not AWS region names: {bad}")
        return value

    @field_validator("service_roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _ROLE_ARN.match(r)]
        if bad:
            raise ValueError(f"not IAM role ARNs: {bad}")
        return value

    @field_validator("required_upstreams")
    @classmethod
    def _upstreams(cls, value: list[str]) -> list[str]:
        from auditor import upstreams

        bad = [u for u in value if upstreams.upstream_for_ptc_url(u) is None]
        if bad:
            raise ValueError(f"not upstream registry URLs ECR pull through cache supports: {bad}")
        return value


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings, not {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno})"
        raise ConfigError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}{where}") from None
    config = parse_config(data, str(p))
    if config.suppressions is not None and not Path(config.suppressions).expanduser().is_absolute():
        config = config.model_copy(update={"suppressions": str(p.parent / config.suppressions)})
    return config
