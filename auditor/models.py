"""Typed snapshot of one (account, region): everything the rules read.

Collection fills these models; rules only read them. Every piece that comes
from an API call is wrapped in ``Collected`` so that a failed call is kept
beside the resource it concerns instead of silently turning into "empty".
A snapshot round-trips through JSON (``scan --save-inventory`` /
``scan --inventory``), so every field is plain data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class CallError(BaseModel):
    """An API call that did not return data (AccessDenied, throttling, timeout...)."""

    operation: str  # "ecr:GetRepositoryPolicy" — service prefix + API name
    code: str  # botocore error code, or "Timeout" / "EndpointConnectionError"
    message: str = ""
    permission: str | None = None  # IAM action needed to read this data
    resource: str | None = None  # what the call was about

    def describe(self) -> str:
        perm = f" (needs {self.permission})" if self.permission else ""
        where = f" on {self.resource}" if self.resource else ""
        return f"{self.operation} failed with {self.code}{where}{perm}: {self.message}".rstrip(": ")


class Collected(BaseModel, Generic[T]):
    """Either the data an API call returned, or the error that prevented it."""

    value: T | None = None
    error: CallError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --- ECR -------------------------------------------------------------------


class PtcRule(BaseModel):
    """ECR PullThroughCacheRule (botocore ecr/PullThroughCacheRule)."""

    ecr_repository_prefix: str
    upstream_registry_url: str
    upstream_registry: str | None = None
    credential_arn: str | None = None
    custom_role_arn: str | None = None
    upstream_repository_prefix: str | None = None
    registry_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PtcValidation(BaseModel):
    """ValidatePullThroughCacheRule result."""

    is_valid: bool
    failure: str | None = None


class SecretInfo(BaseModel):
    """secretsmanager:DescribeSecret (never the value)."""

    arn: str
    name: str
    deleted_date: datetime | None = None
    exists: bool = True  # False when ResourceNotFoundException


class CreationTemplate(BaseModel):
    """ECR RepositoryCreationTemplate."""

    prefix: str
    applied_for: list[str] = Field(default_factory=list)
    repository_policy: str | None = None  # JSON string as ECR stores it
    lifecycle_policy: str | None = None
    image_tag_mutability: str | None = None
    encryption_type: str | None = None
    kms_key: str | None = None
    resource_tags: list[dict[str, str]] = Field(default_factory=list)
    custom_role_arn: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Repository(BaseModel):
    name: str
    arn: str
    uri: str
    created_at: datetime | None = None


class ImageRef(BaseModel):
    """An image the auditor inspected, and why it was picked."""

    repository: str
    tag: str | None = None
    digest: str | None = None
    origin: str  # "image-mapping:<workflow id>", "run-task:<run id>/<task id>", "ptc-newest"

    @property
    def key(self) -> str:
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


class ListedImage(BaseModel):
    """One image DescribeImages lists (ECR ImageDetail): what lifecycle policy rules select on."""

    digest: str
    tags: list[str] = Field(default_factory=list)
    pushed_at: datetime | None = None  # imagePushedAt
    last_pulled_at: datetime | None = None  # lastRecordedPullTime


class RepositoryLifecycle(BaseModel):
    """A used repository's lifecycle policy and, when it has one, every image it holds (auditor.lifecycle)."""

    policy: str | None = None  # the lifecycle policy text; None: the repository has none
    images: list[ListedImage] | None = None  # None: not listed (no policy, nothing to evaluate)


class ImagePlatforms(BaseModel):
    """Platforms an image manifest (or index/list) offers, cached by manifest digest."""

    digest: str | None = None
    media_type: str | None = None
    platforms: list[str] = Field(default_factory=list)  # "linux/amd64", "linux/arm64/v8"
    source: str = ""  # "index", "config-blob", "schema1"
    exists: bool = True  # False when BatchGetImage reports ImageNotFound
    # What the image config and manifest say about running it (rule image-runnable). Non-secret facts only:
    # environment variable NAMES, never values. ``config_inspected`` False: the config was not read (an
    # index's children, schema 1, an inventory or cache entry from before these fields): the rest is unknown.
    config_inspected: bool = False
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    shell: list[str] | None = None  # Docker's SHELL instruction
    env_names: list[str] = Field(default_factory=list)
    java_memory_flags: list[str] = Field(default_factory=list)  # "JAVA_TOOL_OPTIONS: -Xmx", ...
    base_image: str | None = None  # org.opencontainers.image.base.name label
    size_bytes: int | None = None  # sum of the manifest's (compressed) layer sizes; None: unknown
    # an index: its linux/amd64 image (what HealthOmics pulls); facet index_images reads that image's config
    # and manifest into the facts above and names it in ``inspected_digest``; when it could not, why
    # (``uninspected_reason``, e.g. not in the repository) or the failed call (``config_error``)
    linux_amd64_child: str | None = None
    inspected_digest: str | None = None
    uninspected_reason: str | None = None
    config_error: CallError | None = None


# --- HealthOmics -----------------------------------------------------------


class RegistryMapping(BaseModel):
    upstream_registry_url: str
    ecr_repository_prefix: str
    upstream_repository_prefix: str | None = None
    ecr_account_id: str | None = None
    credential_arn: str | None = None


class ImageMapping(BaseModel):
    source_image: str | None = None
    destination_image: str | None = None


class ContainerRegistryMap(BaseModel):
    registry_mappings: list[RegistryMapping] = Field(default_factory=list)
    image_mappings: list[ImageMapping] = Field(default_factory=list)


class DefinitionContainer(BaseModel):
    """One container a registered workflow's definition names (the gate's extractors, run on the exported zip)."""

    file: str
    line: int
    language: str
    context: str  # "task bwa_mem", "process FASTQC"
    raw: str | None = None  # the reference as written after known substitutions; None when not determinable
    unresolved: str | None = None  # why ``raw`` is None
    default_registry: str | None = None  # Nextflow docker.registry applied to bare names

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


class WorkflowDefinition(BaseModel):
    """What ``GetWorkflow --export DEFINITION`` gave: the containers, and what could not be read."""

    languages: list[str] = Field(default_factory=list)
    containers: list[DefinitionContainer] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # "main.wdl:3: ..." files the extractors could not read


class Workflow(BaseModel):
    id: str
    arn: str
    name: str | None = None
    type: str | None = None  # PRIVATE | READY2RUN
    status: str | None = None
    # GetWorkflow per workflow; may fail on its own
    registry_map: Collected[ContainerRegistryMap | None] = Field(default_factory=Collected)
    # GetWorkflow --export DEFINITION, read with the gate's extractors; not collected = value and error None
    definition: Collected[WorkflowDefinition] = Field(default_factory=Collected)


class RunTask(BaseModel):
    task_id: str
    name: str | None = None
    image: str | None = None
    image_digest: str | None = None
    source_image: str | None = None
    # GetRunTask status, statusMessage and failureReason (auditor.run_failures reads them); None in older inventories
    status: str | None = None
    status_message: str | None = None
    failure_reason: str | None = None
    # ListRunTasks/GetRunTask gpus and instanceType: which size quota applied (image-runnable); None: not recorded
    gpus: int | None = None
    instance_type: str | None = None


class Run(BaseModel):
    id: str
    arn: str
    status: str
    workflow_id: str | None = None
    role_arn: str | None = None
    session_policy: str | None = None
    creation_time: datetime | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    tasks: Collected[list[RunTask]] = Field(default_factory=Collected)
    # GetRun failureReason (a code such as ECR_PERMISSION_ERROR) and statusMessage; None in older inventories
    failure_reason: str | None = None
    status_message: str | None = None
    name: str | None = None


class FailureLink(BaseModel):
    """A finding that explains a failed run or task, with its fix (auditor.run_failures)."""

    finding_id: str
    rule_id: str
    status: str  # FAIL | ERROR
    resource: str
    message: str
    remediation: str
    fixable: bool


class FailureExplanation(BaseModel):
    """What a failure message says and what explains it: one failed task, or a run that failed without one."""

    task_id: str | None = None  # None: the run's own failure (no failed task says more)
    task_name: str | None = None
    image: str | None = None  # the image named by the message, else the task's imageDetails.image
    failure_reason: str | None = None
    status_message: str | None = None
    kind: str  # auditor.run_failures.Kind: ecr-access, image-not-found, ... or "not-container"
    container_related: bool
    summary: str  # one line: what the message means
    rule_ids: list[str] = Field(default_factory=list)  # the rules whose findings can explain this kind
    findings: list[FailureLink] = Field(default_factory=list)  # the FAIL/ERROR findings that do
    # a missing image whose upstream is known: the `omics-ecr-audit copy` command that puts it in ECR
    copy_command: str | None = None


class FailedRun(BaseModel):
    """A FAILED run and the explanation of each of its failures (findings document ``failed_runs``)."""

    run_id: str
    arn: str
    account: str
    region: str
    name: str | None = None
    workflow_id: str | None = None
    role_arn: str | None = None
    stop_time: datetime | None = None
    failure_reason: str | None = None
    status_message: str | None = None
    failures: list[FailureExplanation] = Field(default_factory=list)
    tasks_error: CallError | None = None  # the run's tasks could not be read: the explanation is partial

    @property
    def container_related(self) -> bool:
        return any(f.container_related for f in self.failures)

    @property
    def finding_ids(self) -> list[str]:
        return list(dict.fromkeys(link.finding_id for f in self.failures for link in f.findings))


# --- IAM -------------------------------------------------------------------


class RolePolicies(BaseModel):
    """Everything that decides a role's identity-side permissions."""

    arn: str
    name: str
    trust_policy: dict[str, Any] | None = None
    inline_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)  # name -> document
    attached_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)  # policy ARN -> default version doc
    permissions_boundary_arn: str | None = None
    permissions_boundary: dict[str, Any] | None = None
    # partial failures while reading the role's policies (the role exists)
    errors: list[CallError] = Field(default_factory=list)


class ServiceRoleSource(BaseModel):
    arn: str
    reasons: list[str]  # "trusts omics.amazonaws.com", "run <id>", "configured"


# --- CloudTrail ------------------------------------------------------------


class PtcRuleEvent(BaseModel):
    """A CloudTrail management event that changed (or tried to change) a PTC rule."""

    event_id: str
    event_name: str  # Create/Update/DeletePullThroughCacheRule
    event_time: datetime
    ecr_repository_prefix: str | None = None
    username: str | None = None
    error_code: str | None = None


class ScanningFilter(BaseModel):
    """ECR ScanningRepositoryFilter: a WILDCARD filter on repository names."""

    filter: str
    filter_type: str = "WILDCARD"


class ScanningRule(BaseModel):
    """ECR RegistryScanningRule: a scan frequency and the repository filters it applies to."""

    scan_frequency: str  # SCAN_ON_PUSH | CONTINUOUS_SCAN | MANUAL
    repository_filters: list[ScanningFilter] = Field(default_factory=list)


class RegistryScanning(BaseModel):
    """ECR GetRegistryScanningConfiguration: the registry's scan type and scanning rules."""

    scan_type: str  # BASIC | ENHANCED
    rules: list[ScanningRule] = Field(default_factory=list)


class TrailStatus(BaseModel):
    """CloudTrail GetTrailStatus (the parts the rules read)."""

    is_logging: bool
    latest_delivery_error: str | None = None
    start_logging_time: datetime | None = None
    stop_logging_time: datetime | None = None


class TrailSelectors(BaseModel):
    """CloudTrail GetEventSelectors: basic or advanced event selectors, as returned."""

    event_selectors: list[dict[str, Any]] = Field(default_factory=list)
    advanced_event_selectors: list[dict[str, Any]] = Field(default_factory=list)


class Trail(BaseModel):
    """A CloudTrail trail DescribeTrails lists in this region (shadow and organisation trails included)."""

    name: str
    arn: str
    home_region: str | None = None
    multi_region: bool = False
    organization: bool = False
    status: Collected[TrailStatus] = Field(default_factory=Collected)  # GetTrailStatus, per trail
    selectors: Collected[TrailSelectors] = Field(default_factory=Collected)  # GetEventSelectors, per trail


class EventDataStore(BaseModel):
    """A CloudTrail Lake event data store (ListEventDataStores, then GetEventDataStore)."""

    arn: str
    name: str | None = None
    status: str | None = None  # ENABLED, STOPPED_INGESTION, ...
    multi_region: bool = False
    organization: bool = False
    advanced_event_selectors: list[dict[str, Any]] = Field(default_factory=list)
    error: CallError | None = None  # GetEventDataStore failed for this store


# --- ECR image scan findings (rule image-vulnerabilities) ------------------


class ScanFinding(BaseModel):
    """One vulnerability of an image scan: an ImageScanFinding (basic) or EnhancedImageScanFinding (Inspector)."""

    name: str  # the CVE (basic: name; enhanced: packageVulnerabilityDetails.vulnerabilityId, else title)
    severity: str  # FindingSeverity, or Inspector's severity (UNTRIAGED...)
    package: str | None = None
    package_version: str | None = None
    fixed_in: str | None = None  # enhanced only: vulnerablePackages[].fixedInVersion
    uri: str | None = None


class ImageScan(BaseModel):
    """DescribeImageScanFindings of one image (every page), or why there is no scan."""

    repository: str
    digest: str
    uses: list[str] = Field(default_factory=list)  # where workflows use it: "run 123 task 456", "definition ..."
    scan_found: bool = True  # False: ScanNotFoundException (the image was never scanned)
    status: str | None = None  # imageScanStatus.status: COMPLETE, ACTIVE, IN_PROGRESS, FAILED...
    status_description: str | None = None
    completed_at: datetime | None = None
    enhanced: bool = False  # the findings came as enhancedFindings (Amazon Inspector)
    severity_counts: dict[str, int] = Field(default_factory=dict)  # findingSeverityCounts (else counted)
    total_findings: int = 0
    findings: list[ScanFinding] = Field(default_factory=list)  # the most severe first, at most 50 kept


class ImageVulnerabilities(BaseModel):
    """What the opt-in ``vulnerabilities`` setting asked for and the scans of the images workflows used."""

    enabled: bool = False  # False: the setting is off and nothing was read
    severity_threshold: str = "CRITICAL"
    lookback_days: int = 30
    top_findings: int = 10
    images: dict[str, Collected[ImageScan]] = Field(default_factory=dict)  # by "repository@digest"


# --- the snapshot ----------------------------------------------------------


class Incremental(BaseModel):
    """How an incremental scan built this snapshot (None on a full scan's snapshot)."""

    previous_collected_at: datetime | None = None  # when the previous scan of this cell began (None: none)
    full_scan_at: datetime  # when the last full scan of this cell began: nothing carried is older
    full: bool = False  # True: this cell fell back to a full read (``fallback`` says why)
    fallback: str | None = None
    window_start: datetime | None = None  # the CloudTrail window searched (start includes the margin)
    window_end: datetime | None = None
    events: dict[str, int] = Field(default_factory=dict)  # event name -> events seen in the window
    reread: dict[str, list[str]] = Field(default_factory=dict)  # what -> keys re-read because an event named them
    # resource (as findings name it) -> what was carried -> when it was really read
    carried: dict[str, dict[str, datetime]] = Field(default_factory=dict)

    def carried_count(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for what in self.carried.values():
            for name in what:
                out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))


class Snapshot(BaseModel):
    """Everything collected for one (account, region)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    account_id: str
    region: str
    partition: str = "aws"
    collected_at: datetime
    facets: list[str] = Field(default_factory=list)  # which facets were collected
    healthomics_available: bool = True  # False: no HealthOmics endpoint in this region (no workflows or runs)

    ptc_rules: Collected[list[PtcRule]] = Field(default_factory=Collected)
    ptc_validations: dict[str, Collected[PtcValidation]] = Field(default_factory=dict)  # by prefix
    secrets: dict[str, Collected[SecretInfo]] = Field(default_factory=dict)  # by ARN
    registry_policy: Collected[str | None] = Field(default_factory=Collected)  # None = no policy
    templates: Collected[list[CreationTemplate]] = Field(default_factory=Collected)
    repositories: Collected[list[Repository]] = Field(default_factory=Collected)
    repository_policies: dict[str, Collected[str | None]] = Field(default_factory=dict)  # by repo name
    # Repositories in other accounts that workflows use, by repository ARN: their policies, read cross-account
    # (GetRepositoryPolicy with registryId) or, in an organisation scan, from the owning account's cell.
    foreign_repository_policies: dict[str, Collected[str | None]] = Field(default_factory=dict)
    lifecycle_policies: dict[str, Collected[str | None]] = Field(default_factory=dict)  # by repo name
    # Repositories workflows use (that exist): lifecycle policy + DescribeImages, by repository name
    used_lifecycles: dict[str, Collected[RepositoryLifecycle]] = Field(default_factory=dict)
    images: dict[str, Collected[ImagePlatforms]] = Field(default_factory=dict)  # by ImageRef.key
    image_refs: list[ImageRef] = Field(default_factory=list)
    image_listings: dict[str, Collected[list[str]]] = Field(default_factory=dict)  # newest tags per PTC repo
    workflows: Collected[list[Workflow]] = Field(default_factory=Collected)
    runs: Collected[list[Run]] = Field(default_factory=Collected)
    service_roles: Collected[list[ServiceRoleSource]] = Field(default_factory=Collected)
    roles: dict[str, Collected[RolePolicies]] = Field(default_factory=dict)  # by role ARN
    ptc_events: Collected[list[PtcRuleEvent]] = Field(default_factory=Collected)
    registry_scanning: Collected[RegistryScanning] = Field(default_factory=Collected)
    trails: Collected[list[Trail]] = Field(default_factory=Collected)  # with each trail's status and selectors
    event_data_stores: Collected[list[EventDataStore]] = Field(default_factory=Collected)
    # Opt-in: the scan findings of the images workflows used (rule image-vulnerabilities)
    image_vulnerabilities: Collected[ImageVulnerabilities] = Field(default_factory=Collected)

    incremental: Incremental | None = None  # how an incremental scan built it (auditor.incremental)
    api_calls: dict[str, int] = Field(default_factory=dict)

    # -- helpers rules share -------------------------------------------------

    def repository_arn(self, name: str) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account_id}:repository/{name}"

    def prefix_pattern(self, prefix: str) -> str:
        """ARN pattern of every repository under a PTC/template prefix (implied trailing '/')."""
        if prefix == "ROOT":
            return self.repository_arn("*")
        return self.repository_arn(prefix.rstrip("/") + "/*")

    def ptc_prefixes(self) -> list[str]:
        return [r.ecr_repository_prefix for r in self.ptc_rules.value or []]

    def registry_host(self) -> str:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{self.account_id}.dkr.ecr.{self.region}.{suffix}"
