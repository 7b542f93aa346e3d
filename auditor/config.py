"""The configuration file (YAML or JSON), validated by pydantic.

Every mistake is reported as ``ConfigError`` naming the file, the field path
and what is wrong; the CLI turns it into exit code 2 without a traceback.

Without ``targets`` a scan covers the caller's own account with the caller's
credentials, in ``regions`` (default: the session's Region). With ``targets`` it
covers many accounts (``auditor.targets``, ``scan.scan_org``)::

    regions: [us-east-1, eu-west-1]     # optional; default: every Region where HealthOmics has an endpoint
    targets:
      # either an explicit list ...
      # accounts: ["111111111111", "222222222222"]
      # ... or the accounts of the AWS Organization (ACTIVE ones only), filtered:
      organization:
        include_ous: [ou-ab12-prod0001]   # an OU includes every OU below it; r-xxxx is the whole organisation
        exclude_ous: [ou-ab12-sandbox1]
        include_accounts: ["333333333333"]
        exclude_accounts: ["444444444444"]
        include_tags: {omics: enabled}     # key: value, or key: [value, value]
        exclude_tags: {lifecycle: [retiring, closed]}
      exclude_regions: [il-central-1]      # e.g. an opt-in Region the organisation does not use
      role:                                # assumed in every target account
        name: OmicsEcrAuditReadOnly        # or arn_template: "arn:{partition}:iam::{account}:role/path/Name"
        external_id: my-external-id        # optional
        session_name: omics-ecr-audit
        duration_seconds: 3600             # credentials refresh automatically before they expire
        use_caller_credentials_for_own_account: true
    concurrency:
      max_cells: 8                  # account x region cells scanned at once
      max_workers_per_cell: 8       # threads per cell (default: max_workers)
      cell_timeout_seconds: 600     # a cell still running after this is ERROR (default: no limit)
      rate_limits:                  # calls per second per account and Region (auditor.ratelimit)
        omics: 10                   # a service: all its operations share one limiter
        "cloudtrail:LookupEvents": 2  # one operation
        "ecr:*": 20                 # each operation of the service its own limiter
        "ecr:BatchGetImage": null   # null switches a default off

Include filters select an account when any of them matches (an id, an OU on its
path, a tag); no include filter selects every ACTIVE account. Exclude filters
win over include filters. The account running the audit is scanned only when it
is selected, like any other.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import jmespath
import jmespath.exceptions
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditor.errors import ConfigError
from auditor.files import load_data
from auditor.findings import Severity
from auditor.manifests import MAX_IMAGE_SIZE_CPU_BYTES, MAX_IMAGE_SIZE_GPU_BYTES

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# an ECR repository path prefix: components of [a-z0-9] separated by . _ - and joined by / (CreateRepository)
_NAMESPACE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# Organizations ids (botocore organizations model: RootId, OrganizationalUnitId)
_OU_ID = re.compile(r"^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")
_ROLE_PATH_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")  # sts AssumeRole RoleSessionName
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # sts AssumeRole ExternalId
_RATE_SCOPE = re.compile(r"^[a-z0-9-]+(:([A-Z][A-Za-z0-9]*|\*))?$")
DEFAULT_ROLE_NAME = "OmicsEcrAuditReadOnly"


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
        from auditor.facets import FACETS

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


def _unquoted_ids(value: Any) -> Any:
    """YAML reads an unquoted 123456789012 as an int: accept it when it is still 12 digits (a leading zero is lost)."""
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) and len(str(v)) == 12 else v for v in value]
    return value


def _account_ids(value: list[str]) -> list[str]:
    bad = [a for a in value if not _ACCOUNT_ID.match(a)]
    if bad:
        raise ValueError(f"not 12-digit AWS account ids: {bad} (quote them in YAML so leading zeros survive)")
    return value


def _tag_filter(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError("a mapping of tag key to a value or a list of values")
    out: dict[str, list[str]] = {}
    for key, values in value.items():
        listed = values if isinstance(values, list) else [values]
        if not str(key) or not listed or not all(isinstance(v, str | int | float | bool) for v in listed):
            raise ValueError(f"tag {key!r}: give a value or a list of values")
        out[str(key)] = [str(v) for v in listed]
    return out


class OrganizationTargets(BaseModel):
    """Accounts of the AWS Organization the caller can read (management or delegated administrator account)."""

    model_config = ConfigDict(extra="forbid")

    include_accounts: list[str] = Field(default_factory=list)
    exclude_accounts: list[str] = Field(default_factory=list)
    include_ous: list[str] = Field(default_factory=list)  # an OU (or root) id: the OU and everything below it
    exclude_ous: list[str] = Field(default_factory=list)
    include_tags: dict[str, list[str]] = Field(default_factory=dict)  # key -> accepted values
    exclude_tags: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("include_accounts", "exclude_accounts", mode="before")
    @classmethod
    def _unquoted(cls, value: Any) -> Any:
        return _unquoted_ids(value)

    @field_validator("include_accounts", "exclude_accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return _account_ids(value)

    @field_validator("include_ous", "exclude_ous")
    @classmethod
    def _ous(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if not _OU_ID.match(o)]
        if bad:
            raise ValueError(f"not organizational unit or root ids (ou-xxxx-xxxxxxxx, r-xxxx): {bad}")
        return value

    @field_validator("include_tags", "exclude_tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> dict[str, list[str]]:
        return _tag_filter(value)

    @property
    def has_includes(self) -> bool:
        return bool(self.include_accounts or self.include_ous or self.include_tags)

    @property
    def needs_tags(self) -> bool:
        return bool(self.include_tags or self.exclude_tags)


class RoleSettings(BaseModel):
    """The role assumed in each target account (sts:AssumeRole)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None  # default DEFAULT_ROLE_NAME, unless arn_template is given
    # e.g. "arn:{partition}:iam::{account}:role/audit/OmicsEcrAuditReadOnly"; placeholders {partition}, {account}
    arn_template: str | None = None
    external_id: str | None = None
    session_name: str = "omics-ecr-audit"
    # 900..43200 is what STS accepts; a role reached by role chaining is capped at 3600 by STS.
    duration_seconds: int = Field(default=3600, ge=900, le=43200)
    # A target equal to the caller's own account is read with the caller's credentials (no role needed there).
    use_caller_credentials_for_own_account: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_PATH_NAME.match(value):
            raise ValueError("not an IAM role name (letters, digits and +=,.@_- , up to 64 characters)")
        return value

    @field_validator("arn_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import string

        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        if "account" not in fields or fields - {"account", "partition"}:
            raise ValueError("must contain {account} and may contain {partition}, no other placeholder")
        if not _ROLE_ARN.match(value.format(account="123456789012", partition="aws")):
            raise ValueError("does not make an IAM role ARN (arn:{partition}:iam::{account}:role/NAME)")
        return value

    @field_validator("session_name")
    @classmethod
    def _session(cls, value: str) -> str:
        if not _SESSION_NAME.match(value):
            raise ValueError("2-64 characters of letters, digits and +=,.@_-")
        return value

    @field_validator("external_id")
    @classmethod
    def _external(cls, value: str | None) -> str | None:
        if value is not None and not _EXTERNAL_ID.match(value):
            raise ValueError("2-1224 characters of letters, digits and +=,.@:/_-")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> RoleSettings:
        if self.name is not None and self.arn_template is not None:
            raise ValueError("give role.name or role.arn_template, not both")
        return self

    def arn(self, account: str, partition: str = "aws") -> str:
        if self.arn_template is not None:
            return self.arn_template.format(account=account, partition=partition)
        return f"arn:{partition}:iam::{account}:role/{self.name or DEFAULT_ROLE_NAME}"


class Targets(BaseModel):
    """Which accounts a multi-account scan covers, and how it enters them."""

    model_config = ConfigDict(extra="forbid")

    accounts: list[str] | None = None
    organization: OrganizationTargets | None = None
    exclude_regions: list[str] = Field(default_factory=list)
    role: RoleSettings = Field(default_factory=RoleSettings)

    @field_validator("accounts", mode="before")
    @classmethod
    def _unquoted(cls, value: Any) -> Any:
        return _unquoted_ids(value)

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("list at least one account id, or use organization")
            _account_ids(value)
        return value

    @field_validator("exclude_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not _REGION.match(r)]
        if bad:
            raise ValueError(f"not AWS region names: {bad}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Targets:
        if (self.accounts is None) == (self.organization is None):
            raise ValueError("give exactly one of targets.accounts (a list of ids) or targets.organization")
        return self


class Concurrency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Account x region cells collected at once. Each cell's calls draw on its own account's and Region's
    # limiters (quotas are per account and Region), so cells overlap without crowding each other.
    max_cells: int = Field(default=8, ge=1, le=64)
    max_workers_per_cell: int | None = Field(default=None, ge=1, le=64)  # default: Config.max_workers
    cell_timeout_seconds: float | None = Field(default=None, gt=0)
    # scope ("service", "service:Operation", "service:*") -> calls per second, over ratelimit.DEFAULT_RATE_LIMITS
    rate_limits: dict[str, float | None] = Field(default_factory=dict)

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        bad = [k for k in value if not _RATE_SCOPE.match(k)]
        if bad:
            raise ValueError(f"not 'service', 'service:Operation' or 'service:*' (service as in IAM actions): {bad}")
        negative = [k for k, v in value.items() if v is not None and v <= 0]
        if negative:
            raise ValueError(f"rates must be positive (null switches a limit off): {negative}")
        return value


# Severities of ECR scan findings (the model's FindingSeverity), lowest first; UNDEFINED and Amazon Inspector's
# UNTRIAGED are unrated and never reach a threshold.
VULNERABILITY_SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class VulnerabilitySettings(BaseModel):
    """Opt-in rule ``image-vulnerabilities``: judge the ECR scan findings of the images workflows used.

    Absent (the default): the rule is NOT_APPLICABLE and no DescribeImageScanFindings call is made.
    ``vulnerabilities: {}`` turns it on with the defaults below.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # findings at or above this severity FAIL an image: INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL
    severity_threshold: str = "CRITICAL"
    # run tasks' images from runs created within this many days (at most run_lookback_days are collected)
    lookback_days: int = Field(default=30, ge=1, le=90)
    top_findings: int = Field(default=10, ge=1, le=100)  # CVEs listed in each FAIL's evidence

    @field_validator("severity_threshold", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> str:
        text = str(value).upper()
        if text not in VULNERABILITY_SEVERITIES:
            raise ValueError(f"one of {', '.join(VULNERABILITY_SEVERITIES)}")
        return text


class CopySettings(BaseModel):
    """The ``copy:`` section (``omics-ecr-audit copy``, docs/copy.md)."""

    model_config = ConfigDict(extra="forbid")

    # registry host -> ECR namespace the copies land under (over auditor.copy.DEFAULT_NAMESPACES)
    namespaces: dict[str, str] = Field(default_factory=dict)
    # registry host -> Secrets Manager secret (name or ARN) holding {"username", "accessToken"|"password"}
    credentials: dict[str, str] = Field(default_factory=dict)
    docker_config: bool = True  # else: no credentials from ~/.docker/config.json

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [v for v in value.values() if not _NAMESPACE.fullmatch(v)]
        if bad:
            raise ValueError(f"not ECR repository name components (lower-case letters, digits, . _ - /): {bad}")
        return value


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    profile: str | None = None
    regions: list[str] = Field(default_factory=list)  # empty: the session's default region
    rules: RuleSelection = Field(default_factory=RuleSelection)
    severity_threshold: Severity = Severity.LOW
    # PTC upstream URLs that must have a rule even if no workflow uses them yet
    required_upstreams: list[str] = Field(default_factory=list)
    service_roles: list[str] = Field(default_factory=list)
    run_lookback_days: int = Field(default=30, ge=1, le=90)
    image_tags_per_repository: int = Field(default=3, ge=0, le=100)
    # image-runnable: HealthOmics' maximum container image size on a CPU and on a GPU instance, in bytes (sum of
    # the manifest's layer sizes); the defaults are the fixed quotas (docs/configuration.md)
    max_image_size_bytes: int = Field(default=MAX_IMAGE_SIZE_CPU_BYTES, ge=1)
    max_gpu_image_size_bytes: int = Field(default=MAX_IMAGE_SIZE_GPU_BYTES, ge=1)
    max_workers: int = Field(default=8, ge=1, le=64)
    custom_rules: list[CustomRule] = Field(default_factory=list)
    # accepted-risk findings (auditor.suppressions); load_config resolves a relative path against the config's folder
    suppressions: str | None = Field(default=None, min_length=1)
    targets: Targets | None = None  # None: the caller's own account only
    concurrency: Concurrency = Field(default_factory=Concurrency)
    # opt-in: image-vulnerabilities judges scan findings only when this is set (e.g. {severity_threshold: CRITICAL})
    vulnerabilities: VulnerabilitySettings | None = None
    copy_settings: CopySettings = Field(default_factory=CopySettings, alias="copy")

    @property
    def workers_per_cell(self) -> int:
        return self.concurrency.max_workers_per_cell or self.max_workers

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

    @model_validator(mode="after")
    def _gpu_limit_not_below_cpu(self) -> Config:
        # HealthOmics allows the larger image on a GPU instance; a smaller GPU limit is a typo, not a policy
        if self.max_gpu_image_size_bytes < self.max_image_size_bytes:
            raise ValueError("max_gpu_image_size_bytes must be at least max_image_size_bytes")
        return self


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
    p = Path(path).expanduser()
    data = load_data(p, "config file", error=ConfigError)
    config = parse_config(data, str(p))
    if config.suppressions is not None and not Path(config.suppressions).expanduser().is_absolute():
        config = config.model_copy(update={"suppressions": str(p.parent / config.suppressions)})
    return config


# --- the command line's configuration: discovery and environment overrides -------------------------

APP_NAME = "omics-ecr-audit"
CONFIG_VARIABLE = "OMICS_ECR_AUDIT_CONFIG"
ENV_PREFIX = "OMICS_ECR_AUDIT_"
LOCAL_CONFIG = "omics-ecr-audit.yaml"
# Variables of the prefix that are not settings of the file (auditor.files, auditor.gate.workspace, this module).
_OTHER_VARIABLES = frozenset({"CONFIG", "MAX_INPUT_MB", "GATE_MAX_FILE_MB", "GATE_MAX_TOTAL_MB"})


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/omics-ecr-audit/config.yaml``, else the platform's user config folder (platformdirs:
    ``~/.config/omics-ecr-audit`` on Linux, ``~/Library/Application Support/omics-ecr-audit`` on macOS)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / APP_NAME / "config.yaml"
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.yaml"


def discover_config(
    explicit: str | Path | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path | None, str]:
    """The configuration file the command line uses and how it was chosen, first match wins:
    ``--config``, then ``$OMICS_ECR_AUDIT_CONFIG``, then ``./omics-ecr-audit.yaml``, then
    :func:`user_config_path`. (None, "defaults") when there is none."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser(), "--config"
    named = env.get(CONFIG_VARIABLE, "").strip()
    if named:
        return Path(named).expanduser(), CONFIG_VARIABLE
    local = (cwd or Path.cwd()) / LOCAL_CONFIG
    if local.is_file():
        return local, f"./{LOCAL_CONFIG}"
    user = user_config_path(env)
    if user.is_file():
        return user, "the user configuration"
    return None, "defaults"


def _is_model(annotation: Any) -> bool:
    candidates = [annotation, *get_args(annotation)]
    return any(isinstance(c, type) and issubclass(c, BaseModel) for c in candidates)


def env_settings() -> dict[str, bool]:
    """The settings an ``OMICS_ECR_AUDIT_<NAME>`` variable may set: the top-level scalars and lists of
    strings (nested sections stay in the file). Name -> whether the value is a comma-separated list."""
    out = {}
    for name, field in Config.model_fields.items():
        annotation = field.annotation
        if _is_model(annotation) or any(_is_model(a) for a in get_args(annotation)):
            continue
        out[name] = get_origin(annotation) is list
    return out


def env_overrides(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """Setting -> (variable, value) for each ``OMICS_ECR_AUDIT_<SETTING>`` set to a non-empty value.

    A variable of the prefix that is no setting is ignored, unless its name is close to one (a typo such as
    OMICS_ECR_AUDIT_REGION): then ConfigError names the setting it probably meant.
    """
    env = os.environ if env is None else env
    settings = env_settings()
    out: dict[str, tuple[str, Any]] = {}
    for variable, raw in sorted(env.items()):
        if not variable.startswith(ENV_PREFIX) or not raw.strip():
            continue
        suffix = variable.removeprefix(ENV_PREFIX)
        name = suffix.lower()
        if name not in settings:
            if suffix in _OTHER_VARIABLES:
                continue
            close = difflib.get_close_matches(name, list(settings), n=1, cutoff=0.8)
            if close:
                raise ConfigError(
                    f"{variable}: not a setting; did you mean {ENV_PREFIX}{close[0].upper()}? "
                    f"(settings: {', '.join(ENV_PREFIX + s.upper() for s in settings)})"
                )
            continue
        value: Any = [v.strip() for v in raw.split(",") if v.strip()] if settings[name] else raw.strip()
        annotation = Config.model_fields[name].annotation
        if isinstance(annotation, type) and issubclass(annotation, Enum):  # severities: HIGH or high
            value = value.lower()
        out[name] = (variable, value)
    return out


def load_cli_config(
    explicit: str | Path | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Config, str]:
    """The command line's configuration: the file :func:`discover_config` finds, with the
    ``OMICS_ECR_AUDIT_<SETTING>`` variables laid over it (the command line's own options go over both).

    Returns the configuration and where it came from (for the log). Every mistake is one ConfigError naming
    its source: the file (or the variable that named it) or the variable whose value is wrong.
    """
    env = os.environ if env is None else env
    path, how = discover_config(explicit, env, cwd)
    try:
        config = load_config(path)
    except ConfigError as exc:
        if how == CONFIG_VARIABLE:
            raise ConfigError(f"{CONFIG_VARIABLE}: {exc}") from None
        raise
    overrides = env_overrides(env)
    source = f"{path} ({how})" if path is not None else "defaults"
    if not overrides:
        return config, source
    merged = {**config.model_dump(by_alias=True), **{name: value for name, (_, value) in overrides.items()}}
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            msg = err["msg"].removeprefix("Value error, ")
            if field in overrides:
                variable, value = overrides[field]
                shown = ",".join(value) if isinstance(value, list) else value
                problems.append(f"{variable}={shown!r}: {msg}")
            else:
                where = ".".join(str(p) for p in err["loc"]) or "(top level)"
                problems.append(f"{where}: {msg} (with {', '.join(v for v, _ in overrides.values())} set)")
        raise ConfigError("invalid setting from the environment: " + "; ".join(problems)) from None
    names = ", ".join(variable for variable, _ in overrides.values())
    return config, f"{source} + {names}"
