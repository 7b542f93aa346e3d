"""AWS Security Finding Format (ASFF) and the import into AWS Security Hub CSPM.

``to_asff`` maps a findings document to ASFF findings; ``push_to_securityhub`` imports them with
``BatchImportFindings``. The shapes and limits follow botocore's securityhub service model
(``AwsSecurityFinding``), which the tests validate every produced finding against.

What the model and the Security Hub documentation say, and what this module does about it
-----------------------------------------------------------------------------------------

* **Who may import.** With the default product ARN
  (``arn:<partition>:securityhub:<region>:<account>:product/<account>/default``), ``BatchImportFindings``
  must be called by the account named in each finding's ``AwsAccountId`` (only allow-listed partner
  accounts may import for other accounts). The ``ProductArn``'s region and account are therefore those of
  the call: the region whose hub receives the import and the caller's account. ``push_to_securityhub``
  asks STS for the caller's account and does not send findings of other accounts: they are reported as
  failed with ``AccountMismatch``. Security Hub must be enabled in that account and region; otherwise the
  call fails with ``InvalidAccessException`` (or returns every finding in ``FailedFindings`` with
  ``InvalidAccess``), which becomes a :class:`SecurityHubNotEnabled` error.
* **Batches.** At most 100 findings per request (``BatchImportFindingsRequestFindingList`` max 100),
  each finding at most 240 KB.
* **Required members.** ``SchemaVersion`` (``2018-10-08``), ``Id``, ``ProductArn``, ``GeneratorId``,
  ``AwsAccountId``, ``CreatedAt``, ``UpdatedAt``, ``Title``, ``Description``, ``Resources`` (1 to 32, each with
  ``Type`` and ``Id``). Every string must contain a non-blank character (pattern ``.*\\S.*``).
* **Lengths** (characters): ``Id`` and ``GeneratorId`` ≤ 512, ``Title`` ≤ 256, ``Description`` ≤ 1024,
  ``Remediation.Recommendation.Text`` ≤ 512, ``Note.Text`` ≤ 512, ``Severity.Original`` ≤ 64,
  ``Resources[].Type`` ≤ 256, ``Resources[].Region`` ≤ 16, ``AwsAccountId`` exactly 12,
  ``ProductName`` ≤ 128; ``ProductFields``: ≤ 50 pairs, keys ≤ 128, values ≤ 2048; ``Types`` ≤ 50 items.
  Longer text is cut and ends with "…".
* **Updates.** A finding whose ``Id`` already exists is updated, but only if its ``UpdatedAt`` is later than
  the stored one (an equal or older ``UpdatedAt`` is ignored), so ``UpdatedAt`` is the run's finish time:
  re-importing the same document is a no-op, a later scan updates. ``Id`` is derived from the finding's
  stable id (rule, account, region, resource), so a re-import updates instead of duplicating.
* **Fields a provider cannot update.** After creation ``BatchImportFindings`` does not change ``Note``,
  ``UserDefinedFields``, ``VerificationState`` or ``Workflow`` (customers own them, through
  ``BatchUpdateFindings``), and providers should change ``Severity``/``Types`` through
  ``FindingProviderFields``, which is filled as well. ``Workflow`` and ``Note`` below therefore take effect
  when a finding is *created*; on later imports the provider-owned ``Compliance.Status`` and ``RecordState``
  carry the change: a fixed finding becomes ``PASSED`` and ``ARCHIVED`` (archived findings leave the default
  views), and one that fails again becomes ``FAILED``/``ACTIVE``, on which Security Hub itself resets a
  ``RESOLVED`` workflow to ``NEW``.
* **CreatedAt.** The findings document does not record when a problem was first seen, so ``CreatedAt`` and
  ``FirstObservedAt`` are the run's start; the docs say nothing about Security Hub keeping the first
  ``CreatedAt`` on an update, so do not rely on it for ages (``FirstObservedAt`` is the same value).

Status mapping (our status → ASFF)
----------------------------------

=============== ================== ================== ============ =================
status          Compliance.Status  Workflow.Status    RecordState  Severity.Label
=============== ================== ================== ============ =================
FAIL            FAILED             NEW                ACTIVE       from severity
ERROR           NOT_AVAILABLE      NEW                ACTIVE       from severity
MUTED           FAILED / N_A [1]   SUPPRESSED + Note  ACTIVE       from severity
PASS            PASSED             RESOLVED           ARCHIVED     INFORMATIONAL
NOT_APPLICABLE  NOT_AVAILABLE      RESOLVED           ARCHIVED     INFORMATIONAL
gone [2]        PASSED             RESOLVED           ARCHIVED     INFORMATIONAL
=============== ================== ================== ============ =================

[1] from the suppression's original status: FAIL → FAILED, ERROR → NOT_AVAILABLE.
[2] with a previous document: a FAIL/ERROR of the previous run whose resource is absent from a cell this run
scanned without error (``reports.diff``'s "resolved"); archived so it does not stay active forever.

NOT_APPLICABLE is imported (archived) rather than skipped: its resource is ``rule/<id>``, the same finding id
the engine uses for a rule that could not evaluate (ERROR), so importing it closes such an ERROR.
Severity: critical/high/medium/low/info → CRITICAL/HIGH/MEDIUM/LOW/INFORMATIONAL; a passing check is
INFORMATIONAL ("no issue was found"), with the rule's own severity kept in ``Severity.Original``.
``Types`` is ``Software and Configuration Checks/AWS Security Best Practices``.
Resource types: ECR repository ARN → ``AwsEcrRepository``; repository ARN with ``:tag`` or ``@digest`` →
``AwsEcrContainerImage``; IAM role ARN → ``AwsIamRole``; ``account/<id>/region/<r>`` → ``AwsAccount``; anything
else ``Other``, whose ``Id`` is ``<account>/<region>/<resource>`` so it is unique across accounts and regions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions
import structlog
from botocore.config import Config
from pydantic import BaseModel, Field

from auditor import __version__
from auditor.engine import load_builtin_rules
from auditor.errors import UsageError
from auditor.findings import Finding, FindingsDocument, Severity, Status
from auditor.reports import RenderOptions, report_format
from auditor.reports.diff import diff_documents
from auditor.terminal import command_line

# push_to_securityhub checks the hub is enabled, then imports the caller's findings (plus sts:GetCallerIdentity).
SECURITYHUB_PERMISSIONS: tuple[str, ...] = ("securityhub:DescribeHub", "securityhub:BatchImportFindings")

log = structlog.get_logger("auditor.reports.asff")

SCHEMA_VERSION = "2018-10-08"
PRODUCT_NAME = "omics-ecr-audit"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
BATCH_SIZE = 100  # BatchImportFindingsRequestFindingList: max 100
MAX_FINDING_BYTES = 240 * 1024  # "The maximum allowed size for a finding is 240 Kb."

# Character limits from the AwsSecurityFinding shape documentation.
MAX_ID = 512
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_RECOMMENDATION = 512
MAX_NOTE = 512
MAX_SEVERITY_ORIGINAL = 64
MAX_RESOURCE_REGION = 16
MAX_FIELD_KEY = 128
MAX_FIELD_VALUE = 2048
MAX_PRODUCT_FIELDS = 50

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ECR_REPOSITORY = re.compile(
    r"^arn:(?P<partition>[\w-]+):ecr:(?P<region>[\w-]+):(?P<account>\d{12}):repository/"
    r"(?P<name>[a-z0-9._/-]+?)(?:(?P<digest>@sha256:[0-9a-f]{64})|:(?P<tag>[\w][\w.-]{0,127}))?$"
)
_IAM_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[\w+=,.@-]+)$")
_ANY_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):")
_CELL = re.compile(r"^account/(?P<account>[^/]+)/region/(?P<region>[^/]+)$")

_LABEL = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.INFO: "INFORMATIONAL",
}
_COMPLIANCE = {
    Status.PASS: "PASSED",
    Status.FAIL: "FAILED",
    Status.ERROR: "NOT_AVAILABLE",
    Status.NOT_APPLICABLE: "NOT_AVAILABLE",
}
_WORKFLOW = {
    Status.FAIL: "NEW",
    Status.ERROR: "NEW",
    Status.MUTED: "SUPPRESSED",
    Status.PASS: "RESOLVED",
    Status.NOT_APPLICABLE: "RESOLVED",
}
_ARCHIVED = frozenset({Status.PASS, Status.NOT_APPLICABLE})
# Resources[].Partition is an enum in the model; ARN partitions are spelled differently for the ISO ones.
_PARTITIONS = {
    "aws": "aws",
    "aws-cn": "aws-cn",
    "aws-us-gov": "aws-us-gov",
    "aws-iso": "aws-us-iso",
    "aws-iso-b": "aws-us-iso-b",
}


class AsffError(UsageError, ValueError):
    """The document cannot be expressed in ASFF as asked (no account or region to import into).

    A UsageError, so the CLI prints it on one line and exits 2."""


# --- small helpers ------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, marking the cut; ASFF rejects longer strings outright."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _nonblank(text: str | None, fallback: str) -> str:
    # Every ASFF string must match .*\S.*: an empty message would reject the whole finding.
    return text if text and text.strip() else fallback


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and 'Z', the form Security Hub documents for its timestamps."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def partition_for_region(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def product_arn(region: str, account: str) -> str:
    """The default product ARN of a custom integration: the caller's own account, in the importing region."""
    return f"arn:{partition_for_region(region)}:securityhub:{region}:{account}:product/{account}/default"


def asff_id(finding: Finding) -> str:
    """Stable across runs (it is the engine's stable finding id), so a re-import updates the same finding."""
    return f"{PRODUCT_NAME}/{finding.rule_id}/{finding.id}"[:MAX_ID]


def is_account(value: str) -> bool:
    return bool(_ACCOUNT.match(value))


def is_region(value: str) -> bool:
    return bool(_REGION.match(value))


class ResourceRef(BaseModel):
    """What a finding's resource string is, as Security Hub and OCSF name resource types."""

    type: str  # ASFF resource type
    id: str  # ASFF Resources[].Id / OCSF resources[].uid
    name: str  # the short name people recognise
    partition: str | None = None  # ARN spelling (aws, aws-cn, aws-iso...)
    details: dict[str, Any] = Field(default_factory=dict)  # Resources[].Details


def describe_resource(finding: Finding) -> ResourceRef:
    resource = finding.resource
    if m := _ECR_REPOSITORY.match(resource):
        partition, name = m["partition"], m["name"]
        repo_arn = f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{name}"
        if m["digest"] or m["tag"]:
            image: dict[str, Any] = {"RegistryId": m["account"], "RepositoryName": name}
            if m["digest"]:
                image["ImageDigest"] = m["digest"][1:]
            else:
                image["ImageTags"] = [m["tag"]]
            return ResourceRef(
                type="AwsEcrContainerImage",
                id=resource,
                name=resource.split("repository/", 1)[1],
                partition=partition,
                details={"AwsEcrContainerImage": image},
            )
        return ResourceRef(
            type="AwsEcrRepository",
            id=resource,
            name=name,
            partition=partition,
            details={"AwsEcrRepository": {"Arn": repo_arn, "RepositoryName": name}},
        )
    if m := _IAM_ROLE.match(resource):
        return ResourceRef(
            type="AwsIamRole",
            id=resource,
            name=m["name"],
            partition=m["partition"],
            details={"AwsIamRole": {"RoleName": m["name"]}},
        )
    if m := _CELL.match(resource):
        return ResourceRef(type="AwsAccount", id=f"AWS::::Account:{m['account']}", name=m["account"])
    if m := _ANY_ARN.match(resource):
        return ResourceRef(type="Other", id=resource, name=resource.rsplit(":", 1)[-1], partition=m["partition"])
    return ResourceRef(type="Other", id=f"{finding.account}/{finding.region}/{resource}", name=resource)


# --- mapping ----------------------------------------------------------------------------------


def _references() -> dict[str, list[str]]:
    return {rule_id: r.meta.references for rule_id, r in load_builtin_rules().items()}


def _original_status(finding: Finding) -> Status:
    """A MUTED finding's status before it was muted (FAIL unless the suppression record says ERROR)."""
    record = finding.evidence.get("suppression") or {}
    try:
        return Status(record.get("original_status", Status.FAIL.value))
    except ValueError:
        return Status.FAIL


def _compliance_status(finding: Finding) -> str:
    status = _original_status(finding) if finding.status == Status.MUTED else finding.status
    return _COMPLIANCE.get(status, "FAILED")


def _product_fields(finding: Finding, run_id: str) -> dict[str, str]:
    fields = {
        "ProviderName": PRODUCT_NAME,
        "ProviderVersion": __version__,
        f"{PRODUCT_NAME}/Status": finding.status.value,
        f"{PRODUCT_NAME}/FindingId": finding.id,
        f"{PRODUCT_NAME}/RuleId": finding.rule_id,
        f"{PRODUCT_NAME}/RunId": run_id,
        f"{PRODUCT_NAME}/Resource": finding.resource,
        f"{PRODUCT_NAME}/Fixable": str(finding.fixable).lower(),
    }
    error = finding.evidence.get("api_error") or {}
    for key in ("operation", "code", "permission"):
        if error.get(key):
            fields[f"{PRODUCT_NAME}/Error{key.title()}"] = str(error[key])
    record = finding.evidence.get("suppression") if finding.status == Status.MUTED else None
    if record:
        for key in ("owner", "expires", "reason", "original_status"):
            if record.get(key):
                fields[f"{PRODUCT_NAME}/Suppression{key.title().replace('_', '')}"] = str(record[key])
    out = {}
    for key, value in list(fields.items())[:MAX_PRODUCT_FIELDS]:
        if value.strip():
            out[clip(key, MAX_FIELD_KEY)] = clip(value, MAX_FIELD_VALUE)
    return out


def _note(finding: Finding, updated_at: str) -> dict[str, str] | None:
    if finding.status != Status.MUTED:
        return None
    record = finding.evidence.get("suppression") or {}
    until = f"until {record['expires']}" if record.get("expires") else "with no expiry"
    text = (
        f"Accepted risk (suppressed by omics-ecr-audit) by {record.get('owner', 'unknown owner')} {until}: "
        f"{record.get('reason', 'no reason recorded')}"
    )
    return {"Text": clip(text, MAX_NOTE), "UpdatedBy": PRODUCT_NAME, "UpdatedAt": updated_at}


def _resource(finding: Finding, fallback_region: str) -> dict[str, Any]:
    ref = describe_resource(finding)
    region = finding.region if is_region(finding.region) else fallback_region
    partition = _PARTITIONS.get(ref.partition or partition_for_region(region))
    out: dict[str, Any] = {"Type": ref.type, "Id": ref.id, "Region": region[:MAX_RESOURCE_REGION]}
    if partition:
        out["Partition"] = partition
    if ref.details:
        out["Details"] = ref.details
    return out


def finding_to_asff(
    finding: Finding,
    *,
    run_id: str,
    product_region: str,
    audit_account: str,
    created_at: str,
    updated_at: str,
    references: dict[str, list[str]] | None = None,
    gone: bool = False,
) -> dict[str, Any]:
    """One ASFF finding. ``gone``: a previous problem whose resource this run no longer found (archived)."""
    account = finding.account if is_account(finding.account) else audit_account
    passing = gone or finding.status in _ARCHIVED
    label = "INFORMATIONAL" if passing else _LABEL[finding.severity]
    severity = {"Label": label, "Original": clip(finding.severity.value, MAX_SEVERITY_ORIGINAL)}
    description = finding.message
    if gone:
        description = f"Resolved: {finding.resource} is no longer present in this scan. Last seen: {finding.message}"
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": asff_id(finding),
        "ProductArn": product_arn(product_region, audit_account),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": clip(finding.rule_id, MAX_ID),
        "AwsAccountId": account,
        "Types": [FINDING_TYPE],
        "FirstObservedAt": created_at,
        "LastObservedAt": updated_at,
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "Severity": severity,
        "Title": clip(_nonblank(finding.title, finding.rule_id), MAX_TITLE),
        "Description": clip(_nonblank(description, finding.title or finding.rule_id), MAX_DESCRIPTION),
        "ProductFields": _product_fields(finding, run_id),
        "Resources": [_resource(finding, product_region)],
        "Compliance": {"Status": "PASSED" if gone else _compliance_status(finding)},
        "Workflow": {"Status": "RESOLVED" if gone else _WORKFLOW[finding.status]},
        "RecordState": "ARCHIVED" if passing else "ACTIVE",
        # Providers update Severity and Types of an existing finding only through FindingProviderFields.
        "FindingProviderFields": {"Severity": dict(severity), "Types": [FINDING_TYPE]},
    }
    if finding.remediation and finding.remediation.strip():
        recommendation: dict[str, str] = {"Text": clip(finding.remediation, MAX_RECOMMENDATION)}
        refs = (references or {}).get(finding.rule_id) or []
        if refs:
            recommendation["Url"] = refs[0]
        out["Remediation"] = {"Recommendation": recommendation}
    if gone:
        out["ProductFields"][f"{PRODUCT_NAME}/Status"] = "ABSENT"
    note = None if gone else _note(finding, updated_at)
    if note:
        out["Note"] = note
    return out


def gone_findings(doc: FindingsDocument, previous: FindingsDocument | None) -> list[Finding]:
    """Previous FAIL/ERROR findings whose resource a successful scan of their cell no longer reports."""
    if previous is None:
        return []
    present = {f.id for f in doc.findings}
    return [f for f in diff_documents(previous, doc).resolved if f.id not in present]


def to_asff(
    doc: FindingsDocument,
    *,
    product_region: str,
    audit_account: str,
    previous: FindingsDocument | None = None,
) -> list[dict[str, Any]]:
    """Every finding of ``doc`` as ASFF, for import into ``product_region`` by ``audit_account``.

    Findings whose account is not a 12-digit id (an expired suppression's ``*``, a cell that failed before its
    account was known) are attributed to ``audit_account``. With ``previous``, problems that disappeared are
    added as archived (see the module docstring).
    """
    if not is_account(audit_account):
        raise AsffError(f"audit account {audit_account!r} is not a 12-digit AWS account id")
    if not is_region(product_region):
        raise AsffError(f"Security Hub region {product_region!r} is not an AWS region name")
    created_at = timestamp(doc.run.started)
    updated_at = timestamp(doc.run.finished or doc.run.started)
    refs = _references()

    def asff(finding: Finding, created: str, gone: bool = False) -> dict[str, Any]:
        return finding_to_asff(
            finding,
            run_id=doc.run.id,
            product_region=product_region,
            audit_account=audit_account,
            created_at=created,
            updated_at=updated_at,
            references=refs,
            gone=gone,
        )

    out = [asff(f, created_at) for f in doc.findings]
    for f in gone_findings(doc, previous):
        assert previous is not None
        out.append(asff(f, timestamp(previous.run.started), gone=True))
    return out


def default_destination(doc: FindingsDocument) -> tuple[str, str]:
    """(region, account) to write a file for when no one said: the scanned cells' only account, first region."""
    accounts = Counter(t.account for t in doc.run.targets if is_account(t.account))
    accounts.update(f.account for f in doc.findings if is_account(f.account))
    regions = [t.region for t in doc.run.targets if is_region(t.region)]
    regions += [f.region for f in doc.findings if is_region(f.region)]
    if not accounts or not regions:
        raise AsffError("the document names no AWS account and region to attribute ASFF findings to")
    if len(accounts) > 1:
        # The default product ARN only imports a caller's own findings; one file per account is needed.
        raise AsffError(f"the document covers {len(accounts)} accounts; ASFF import is per account")
    return regions[0], next(iter(accounts))


@report_format(
    "asff",
    suffix=".asff.json",
    description="AWS Security Finding Format (JSON list) for Security Hub BatchImportFindings",
)
def render_asff(doc: FindingsDocument, options: RenderOptions) -> str:
    if not doc.findings and not (options.previous and options.previous.findings):
        return "[]\n"
    region, account = default_destination(doc)
    return json.dumps(to_asff(doc, product_region=region, audit_account=account, previous=options.previous), indent=2)


# --- Security Hub import --------------------------------------------------------------------------


class SecurityHubError(UsageError):
    """The import cannot proceed; ``str()`` is one line meant for the terminal, without a traceback.

    A UsageError (a configuration problem of the account or the caller), so the CLI prints it and exits 2."""


class SecurityHubNotEnabled(SecurityHubError):
    pass


class SecurityHubAccessDenied(SecurityHubError):
    pass


class FailedFinding(BaseModel):
    id: str
    error_code: str
    error_message: str = ""


class ImportResult(BaseModel):
    region: str
    account: str
    product_arn: str
    batches: int = 0  # BatchImportFindings calls made
    sent: int = 0
    imported: int = 0
    failed: list[FailedFinding] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        line = f"Security Hub {self.region}: imported {self.imported} finding(s) in {self.batches} batch(es)"
        if self.failed:
            codes = Counter(f.error_code for f in self.failed)
            line += f"; {len(self.failed)} failed (" + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())) + ")"
        return line


_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


def _client_config(region: str) -> Config:
    return Config(
        region_name=region,
        retries={"mode": "adaptive", "total_max_attempts": 8},  # throttling on big imports is expected
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=f"omics-ecr-audit/{__version__}",
    )


def _client(session: boto3.Session, service: str, region: str, endpoint_url: str | None) -> Any:
    kwargs: dict[str, Any] = {"config": _client_config(region), "region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return session.client(service, **kwargs)


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _caller_account(session: boto3.Session, region: str, endpoint_url: str | None) -> str:
    try:
        return str(_client(session, "sts", region, endpoint_url).get_caller_identity()["Account"])
    except botocore.exceptions.NoCredentialsError:
        raise SecurityHubError("no AWS credentials found for the Security Hub import") from None
    except botocore.exceptions.ClientError as exc:
        raise SecurityHubError(f"cannot identify the calling account (sts:GetCallerIdentity: {_code(exc)})") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise SecurityHubError(f"cannot reach AWS STS in {region}: {type(exc).__name__}") from None


def _not_enabled(account: str, region: str) -> SecurityHubNotEnabled:
    return SecurityHubNotEnabled(
        f"Security Hub is not enabled in account {account}, region {region}: enable it "
        f"({command_line(['aws', 'securityhub', 'enable-security-hub', '--region', region])}) "
        "or import into a region where it is"
    )


def _denied(account: str, region: str, operation: str, code: str) -> SecurityHubAccessDenied:
    return SecurityHubAccessDenied(
        f"not allowed to call securityhub:{operation} in account {account}, region {region} ({code}); "
        f"the caller needs securityhub:{operation}"
    )


def _check_hub(client: Any, account: str, region: str) -> None:
    """Fail early and clearly when the hub is off; a caller without DescribeHub permission is let through."""
    try:
        client.describe_hub()
    except botocore.exceptions.ClientError as exc:
        code = _code(exc)
        if code == "InvalidAccessException":
            raise _not_enabled(account, region) from None
        # Lacking securityhub:DescribeHub is no reason to refuse: BatchImportFindings will say what is wrong.
        log.debug("describe_hub_failed", region=region, code=code)
    except botocore.exceptions.BotoCoreError as exc:
        raise SecurityHubError(f"cannot reach Security Hub in {region}: {type(exc).__name__}") from None


def batches(items: Sequence[dict[str, Any]], size: int = BATCH_SIZE) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def push_to_securityhub(
    doc: FindingsDocument,
    session: boto3.Session,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    previous: FindingsDocument | None = None,
) -> ImportResult:
    """Import the document's findings into Security Hub in ``region`` (default: the session's region).

    Raises :class:`SecurityHubError` (one-line message) when nothing can be imported: no credentials, hub not
    enabled, access denied. Findings Security Hub rejects individually are returned in ``failed`` with their
    error codes, as are findings of other accounts (``AccountMismatch``: the default product ARN only imports the
    caller's own findings) and oversized ones (``FindingTooLarge``), which are not sent.
    """
    region = region or session.region_name
    if not region:
        raise SecurityHubError("no region for the Security Hub import: pass --region or configure a default region")
    account = _caller_account(session, region, endpoint_url)
    client = _client(session, "securityhub", region, endpoint_url)
    _check_hub(client, account, region)
    result = ImportResult(region=region, account=account, product_arn=product_arn(region, account))

    try:
        items = to_asff(doc, product_region=region, audit_account=account, previous=previous)
    except AsffError as exc:
        raise SecurityHubError(str(exc)) from None
    sendable: list[dict[str, Any]] = []
    for item in items:
        if item["AwsAccountId"] != account:
            result.failed.append(
                FailedFinding(
                    id=item["Id"],
                    error_code="AccountMismatch",
                    error_message=f"finding of account {item['AwsAccountId']} cannot be imported by {account}",
                )
            )
        elif len(json.dumps(item).encode()) > MAX_FINDING_BYTES:
            result.failed.append(FailedFinding(id=item["Id"], error_code="FindingTooLarge"))
        else:
            sendable.append(item)

    for batch in batches(sendable):
        try:
            response = client.batch_import_findings(Findings=batch)
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code == "InvalidAccessException":
                raise _not_enabled(account, region) from None
            if code in _DENIED:
                raise _denied(account, region, "BatchImportFindings", code) from None
            if code in _BAD_CREDENTIALS:
                raise SecurityHubError(f"AWS rejected the credentials for the Security Hub import ({code})") from None
            # Throttling beyond the retries, a rejected batch: record it and go on with the others.
            result.batches += 1
            result.sent += len(batch)
            message = str(exc.response.get("Error", {}).get("Message", ""))
            result.failed.extend(FailedFinding(id=i["Id"], error_code=code, error_message=message) for i in batch)
            log.warning("securityhub_batch_failed", region=region, code=code, findings=len(batch))
            continue
        except botocore.exceptions.BotoCoreError as exc:
            raise SecurityHubError(
                f"Security Hub import in {region} stopped after {result.imported} imported finding(s): "
                f"{type(exc).__name__}"
            ) from None
        result.batches += 1
        result.sent += len(batch)
        result.imported += int(response.get("SuccessCount", 0))
        failures = [
            FailedFinding(
                id=f.get("Id", "?"), error_code=f.get("ErrorCode", "?"), error_message=f.get("ErrorMessage", "")
            )
            for f in response.get("FailedFindings", [])
        ]
        # Security Hub off (or the integration disabled) can also come back as InvalidAccess per finding.
        if failures and not result.imported and all(f.error_code.startswith("InvalidAccess") for f in failures):
            raise _not_enabled(account, region)
        result.failed.extend(failures)
    log.info(
        "securityhub_import",
        region=region,
        batches=result.batches,
        imported=result.imported,
        failed=len(result.failed),
    )
    return result
