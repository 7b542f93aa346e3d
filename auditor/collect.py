"""Inventory collection for one (account, region).

Collection is separated from evaluation: this module makes every AWS call, the
rules make none. Design points, each because a rule or a user depends on it:

* Only the facets the selected rules need are fetched (plus their
  dependencies), so a single-rule scan is cheap. What a facet is, what it
  depends on and which method collects it is declared in ``auditor.facets``;
  ``Collector.collect`` only follows those declarations.
* One client per service (``auditor.aws.make_client``: adaptive retries,
  timeouts, the rate limiter of its (account, region, service), a per-operation
  call counter); per-repository and per-image calls go through one bounded
  thread pool.
* A call that fails is recorded as a ``CallError`` on the resource it concerns
  (``auditor.aws.attempt``) and never aborts the scan: the rules turn it into
  ERROR findings.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import boto3
import botocore.exceptions
import requests
import structlog

from auditor import digest_cache, incremental, manifests, upstreams
from auditor.aws import ApiCallCounter, CellError, CollectOptions, attempt, make_client
from auditor.derive import (
    foreign_repositories,
    image_mapping_destinations,
    ptc_repositories,
    relevant_repositories,
    used_repositories,
)
from auditor.facets import Facet, collection_order, expand_facets
from auditor.grants import trusts_service
from auditor.models import (
    CallError,
    Collected,
    ContainerRegistryMap,
    CreationTemplate,
    EventDataStore,
    ImageMapping,
    ImagePlatforms,
    ImageRef,
    ImageScan,
    ImageVulnerabilities,
    Incremental,
    ListedImage,
    PtcRule,
    PtcRuleEvent,
    PtcValidation,
    RegistryMapping,
    RegistryScanning,
    Repository,
    RepositoryLifecycle,
    RolePolicies,
    Run,
    RunTask,
    ScanFinding,
    ScanningFilter,
    ScanningRule,
    SecretInfo,
    ServiceRoleSource,
    Snapshot,
    Trail,
    TrailSelectors,
    TrailStatus,
    Workflow,
    WorkflowDefinition,
)
from auditor.refs import InvalidReference, parse_reference

log = structlog.get_logger("auditor.collect")
T = TypeVar("T")

OMICS_PRINCIPAL = "omics.amazonaws.com"
ACTIVE_RUN_STATUSES = frozenset({"PENDING", "STARTING", "RUNNING", "STOPPING"})
PTC_EVENT_NAMES = ("CreatePullThroughCacheRule", "UpdatePullThroughCacheRule", "DeletePullThroughCacheRule")

# The largest page each listing accepts (botocore models); default pages are often 100 or less, so a
# 1,000-repository registry would cost 10 DescribeRepositories calls instead of 1.
_MAX_PAGE_SIZE = {
    "describe_repositories": 1000,
    "describe_images": 1000,
    "describe_pull_through_cache_rules": 1000,
    "describe_repository_creation_templates": 1000,
    "list_workflows": 100,
    "list_runs": 100,
    "list_run_tasks": 100,
    "list_roles": 1000,
    "list_role_policies": 1000,
    "list_attached_role_policies": 1000,
    "lookup_events": 50,
}


def needs_credentials(upstream_url: str) -> bool:
    """True for upstreams that need a Secrets Manager credential; unknown upstreams count as needing one
    so that a rule for a registry we do not recognise is validated rather than waved through."""
    try:
        return upstreams.requires_credentials(upstream_url)
    except upstreams.UnknownUpstreamError:
        return True


def _error_code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def _count(value: Any) -> int | None:
    """A non-negative integer the API documents (e.g. a task's gpus), or None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# what image-runnable reads from an image's config and manifest (copied from an index's linux/amd64 image)
_RUN_FACTS = ("entrypoint", "cmd", "shell", "env_names", "java_memory_flags", "base_image", "size_bytes")


# --- the collector ---------------------------------------------------------------


class Collector:
    def __init__(
        self,
        session: boto3.Session,
        region: str,
        facets: Iterable[str],
        options: CollectOptions | None = None,
        counter: ApiCallCounter | None = None,
        account_id: str | None = None,
        baseline: incremental.Baseline | None = None,
    ) -> None:
        self.session = session
        self.region = region
        self.facets = expand_facets(facets)
        self.opt = options or CollectOptions()
        self.counter = counter or ApiCallCounter()
        self._account_id = account_id
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._blob_cache: dict[str, Future[Collected[manifests.ConfigFacts]]] = {}
        self._blob_lock = threading.Lock()
        self._http = requests.Session()
        # Platforms by digest across scans (auditor.digest_cache); None: off, the library default.
        self._digests = digest_cache.open_cache(self.opt.digest_cache) if self.opt.digest_cache else None
        # repository -> {tag: digest} from this scan's DescribeImages: which digests a repository holds now
        self._listed_digests: dict[str, dict[str, str]] = {}
        # An incremental scan: the previous inventory (auditor.incremental), and this cell's carry once known.
        self._baseline = baseline
        self._carry: incremental.CellCarry | None = None
        self._carried_workflows: set[str] = set()
        self._carried_runs: set[str] = set()

    # one client per service, shared by the pool's threads (botocore clients are thread-safe)
    def client(self, service: str) -> Any:
        # The account keys the client's rate limiters; it is known (or fetched with STS) before the lock,
        # because fetching it makes the STS client.
        account = None if service == "sts" else self.account_id
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = make_client(
                    self.session,
                    service,
                    self.region,
                    self.opt,
                    self.counter,
                    pool=max(10, self.opt.max_workers * 2),
                    account_id=account,
                )
            return self._clients[service]

    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.opt.max_workers, thread_name_prefix="collect")

    def _parallel(self, fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with self._pool() as pool:
            return list(pool.map(fn, items))

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self.client("sts").get_caller_identity()["Account"]
        return self._account_id

    # -- orchestration ---------------------------------------------------------

    def collect(self) -> Snapshot:
        snap = Snapshot(
            account_id=self.account_id,
            region=self.region,
            partition=self.session.get_partition_for_region(self.region) if self.region else "aws",
            collected_at=self.opt.now,
            facets=sorted(self.facets),
        )
        # HealthOmics exists in a handful of regions (botocore's endpoint data). Elsewhere there are no
        # workflows or runs to read, and calling would only burn retries on an endpoint that does not exist;
        # the ECR side of the region is still audited.
        snap.healthomics_available = self.region in self.session.get_available_regions("omics", snap.partition)
        log.info("collect_start", account=snap.account_id, region=self.region, facets=snap.facets)
        if self._baseline is not None:
            self._start_incremental(snap, self._baseline)
        self._collect_facets(snap)
        snap.api_calls = self.counter.snapshot()
        log.info("collect_done", account=snap.account_id, region=self.region, api_calls=sum(snap.api_calls.values()))
        return snap

    def _collect_facets(self, snap: Snapshot) -> None:
        """Every facet, each as soon as the facets it depends on are in the snapshot.

        Independent facets overlap (the repositories' policies with the images, HealthOmics with CloudTrail),
        so a cell takes about as long as its slowest chain of calls, each operation paced by its own limiter,
        rather than the sum of every phase. Each facet fans out over its resources in a pool of its own.
        """
        listings, dependent = collection_order(self.facets)
        pending = listings + dependent
        wanted = {f.name for f in pending}
        done: set[str] = set()
        running: dict[Future[Any], Facet] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(pending)), thread_name_prefix="facet") as pool:

            def launch() -> None:
                for facet in [f for f in pending if done.issuperset(f.prerequisites(wanted))]:
                    pending.remove(facet)
                    method = self._facet_method(facet, snap)
                    running[pool.submit(method) if facet.listing else pool.submit(method, snap)] = facet

            launch()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    facet = running.pop(future)
                    value = future.result()  # a CellError ends the cell: nothing further is launched
                    if not facet.in_place:
                        setattr(snap, facet.snapshot_field, value)
                    done.add(facet.name)
                launch()

    # -- incremental scans (auditor.incremental) ----------------------------------------

    def _start_incremental(self, snap: Snapshot, baseline: incremental.Baseline) -> None:
        """Decide whether this cell can carry from the previous inventory; start the CloudTrail lookups.

        The lookups run beside the listings (which need nothing from them); a facet that carries waits for
        them only when it first asks.
        """
        prev = baseline.previous(snap.account_id, self.region)
        why = baseline.why_full(snap.account_id, self.region, self.facets)
        if prev is None or why is not None:
            snap.incremental = Incremental(
                previous_collected_at=prev.collected_at if prev else None,
                full_scan_at=snap.collected_at,
                full=True,
                fallback=why,
            )
            log.info("incremental_full", account=snap.account_id, region=self.region, reason=why)
            return
        start, end = baseline.window_start(prev), datetime.now(UTC)
        info = Incremental(
            previous_collected_at=prev.collected_at,
            full_scan_at=baseline.full_scan_at(prev),
            window_start=start,
            window_end=end,
        )
        snap.incremental = info
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="changes")
        future = pool.submit(self._read_changes, baseline, snap, start, end)
        pool.shutdown(wait=False)

        def changes() -> incremental.Changes | None:
            got = future.result()
            if got.error is not None:
                return None
            return got.value

        self._carry = incremental.CellCarry(prev, info, changes, baseline.settings)

    def _read_changes(
        self, baseline: incremental.Baseline, snap: Snapshot, start: datetime, end: datetime
    ) -> Collected[incremental.Changes]:
        """The cell's ECR changes and its account's IAM changes (read once per account) in the window."""
        iam_region = incremental.IAM_EVENT_REGIONS.get(snap.partition, "us-east-1")

        def read() -> incremental.Changes:
            changes = incremental.read_changes(self._events, self.region, incremental.ECR_CHANGE_EVENTS, start, end)
            iam = baseline.iam_changes(
                snap.account_id,
                lambda: incremental.read_changes(
                    self._events,
                    iam_region,
                    incremental.IAM_ROLE_EVENTS + incremental.IAM_POLICY_EVENTS,
                    baseline.iam_window(snap.account_id),
                    end,
                ),
            )
            changes.merge(iam)
            return changes

        got = attempt("cloudtrail:LookupEvents", "cloudtrail", read)
        assert snap.incremental is not None
        if got.error is not None:
            snap.incremental.fallback = (
                f"the CloudTrail lookup failed ({got.error.code}): every repository and role was read in full"
            )
        else:
            assert got.value is not None
            snap.incremental.events = dict(sorted(got.value.events.items()))
        return got

    def _events(self, region: str, name: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """LookupEvents for one event name in ``region`` (IAM's events live in one region of the partition)."""
        client = self.client("cloudtrail") if region == self.region else self._client_in("cloudtrail", region)
        pages = client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
            StartTime=start,
            EndTime=end,
            PaginationConfig={"PageSize": 50},
        )
        return [event for page in pages for event in page.get("Events", [])]

    def _client_in(self, service: str, region: str) -> Any:
        """A client for another region than the cell's (made once, like ``client``)."""
        key = f"{service}@{region}"
        account = self.account_id
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = make_client(
                    self.session, service, region, self.opt, self.counter, account_id=account
                )
            return self._clients[key]

    def _facet_method(self, facet: Facet, snap: Snapshot) -> Callable[..., Any]:
        """The facet's collector method, or an empty stand-in where HealthOmics has no endpoint."""
        if facet.healthomics and not snap.healthomics_available:
            return _nothing
        method: Callable[..., Any] = getattr(self, facet.collect)
        return method

    # -- ECR --------------------------------------------------------------------

    def _paginate(self, service: str, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        paginator = self.client(service).get_paginator(operation)
        out: list[dict[str, Any]] = []
        page_size = _MAX_PAGE_SIZE.get(operation)
        config = {"PageSize": page_size} if page_size else {}
        for page in paginator.paginate(**params, PaginationConfig=config):
            out.extend(page.get(key, []))
        return out

    def _ptc_rules(self) -> Collected[list[PtcRule]]:
        def fetch() -> list[PtcRule]:
            items = self._paginate("ecr", "describe_pull_through_cache_rules", "pullThroughCacheRules")
            return [
                PtcRule(
                    ecr_repository_prefix=i["ecrRepositoryPrefix"],
                    upstream_registry_url=i["upstreamRegistryUrl"],
                    upstream_registry=i.get("upstreamRegistry"),
                    credential_arn=i.get("credentialArn"),
                    custom_role_arn=i.get("customRoleArn"),
                    upstream_repository_prefix=i.get("upstreamRepositoryPrefix"),
                    registry_id=i.get("registryId"),
                    created_at=_dt(i.get("createdAt")),
                    updated_at=_dt(i.get("updatedAt")),
                )
                for i in items
            ]

        return attempt("ecr:DescribePullThroughCacheRules", "pull-through-cache-rules", fetch)

    def _ptc_validations(self, snap: Snapshot) -> dict[str, Collected[PtcValidation]]:
        # Every rule that names a credential is validated whatever its upstream (a deleted secret on a
        # Quay rule is as broken as one on Docker Hub), and so is every rule of an upstream that needs one.
        rules = [
            r for r in snap.ptc_rules.value or [] if r.credential_arn or needs_credentials(r.upstream_registry_url)
        ]

        def validate(rule: PtcRule) -> tuple[str, Collected[PtcValidation]]:
            def fetch() -> PtcValidation:
                resp = self.client("ecr").validate_pull_through_cache_rule(
                    ecrRepositoryPrefix=rule.ecr_repository_prefix
                )
                return PtcValidation(is_valid=bool(resp.get("isValid")), failure=resp.get("failure"))

            return rule.ecr_repository_prefix, attempt(
                "ecr:ValidatePullThroughCacheRule", f"pull-through-cache-rule/{rule.ecr_repository_prefix}", fetch
            )

        return dict(self._parallel(validate, rules))

    def _secrets(self, snap: Snapshot) -> dict[str, Collected[SecretInfo]]:
        arns: set[str] = {r.credential_arn for r in snap.ptc_rules.value or [] if r.credential_arn}
        for wf in snap.workflows.value or []:
            crm = wf.registry_map.value
            for mapping in crm.registry_mappings if crm else []:
                if mapping.credential_arn:
                    arns.add(mapping.credential_arn)

        def describe(arn: str) -> tuple[str, Collected[SecretInfo]]:
            def fetch() -> SecretInfo:
                try:
                    resp = self.client("secretsmanager").describe_secret(SecretId=arn)
                except botocore.exceptions.ClientError as exc:
                    if _error_code(exc) == "ResourceNotFoundException":
                        return SecretInfo(arn=arn, name=arn.rsplit(":secret:", 1)[-1], exists=False)
                    raise
                # Only metadata: DescribeSecret never returns the secret value.
                return SecretInfo(arn=resp["ARN"], name=resp["Name"], deleted_date=_dt(resp.get("DeletedDate")))

            return arn, attempt("secretsmanager:DescribeSecret", arn, fetch)

        return dict(self._parallel(describe, sorted(arns)))

    def _registry_policy(self) -> Collected[str | None]:
        def fetch() -> str | None:
            try:
                return cast(str, self.client("ecr").get_registry_policy()["policyText"])
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) == "RegistryPolicyNotFoundException":
                    return None
                raise

        return attempt("ecr:GetRegistryPolicy", "registry-policy", fetch)

    def _templates(self) -> Collected[list[CreationTemplate]]:
        def fetch() -> list[CreationTemplate]:
            items = self._paginate("ecr", "describe_repository_creation_templates", "repositoryCreationTemplates")
            out = []
            for i in items:
                enc = i.get("encryptionConfiguration") or {}
                out.append(
                    CreationTemplate(
                        prefix=i["prefix"],
                        applied_for=list(i.get("appliedFor", [])),
                        repository_policy=i.get("repositoryPolicy"),
                        lifecycle_policy=i.get("lifecyclePolicy"),
                        image_tag_mutability=i.get("imageTagMutability"),
                        encryption_type=enc.get("encryptionType"),
                        kms_key=enc.get("kmsKey"),
                        resource_tags=list(i.get("resourceTags", [])),
                        custom_role_arn=i.get("customRoleArn"),
                        description=i.get("description"),
                        created_at=_dt(i.get("createdAt")),
                        updated_at=_dt(i.get("updatedAt")),
                    )
                )
            return out

        return attempt("ecr:DescribeRepositoryCreationTemplates", "repository-creation-templates", fetch)

    def _repositories(self) -> Collected[list[Repository]]:
        def fetch() -> list[Repository]:
            if self.opt.only_repositories is not None:
                items = [i for name in self.opt.only_repositories for i in self._repository_named(name)]
            else:
                items = self._paginate("ecr", "describe_repositories", "repositories")
            return [
                Repository(
                    name=i["repositoryName"],
                    arn=i["repositoryArn"],
                    uri=i["repositoryUri"],
                    created_at=_dt(i.get("createdAt")),
                )
                for i in items
            ]

        return attempt("ecr:DescribeRepositories", "repositories", fetch)

    def _repository_named(self, name: str) -> list[dict[str, Any]]:
        """DescribeRepositories for one name (CollectOptions.only_repositories): [] when it does not exist."""
        try:
            found = self.client("ecr").describe_repositories(repositoryNames=[name])
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) == "RepositoryNotFoundException":
                return []
            raise
        return list(found.get("repositories", []))

    def _repository_policies(self, snap: Snapshot) -> dict[str, Collected[str | None]]:
        def get(name: str) -> tuple[str, Collected[str | None]]:
            def fetch() -> str | None:
                try:
                    return cast(str, self.client("ecr").get_repository_policy(repositoryName=name)["policyText"])
                except botocore.exceptions.ClientError as exc:
                    if _error_code(exc) == "RepositoryPolicyNotFoundException":
                        return None
                    raise

            carried = self._carry.repository_policy(snap, name, repos.get(name)) if self._carry else None
            return name, carried or attempt("ecr:GetRepositoryPolicy", snap.repository_arn(name), fetch)

        repos = {r.name: r for r in snap.repositories.value or []}
        # The gate's own images (opt.extra_images) may name repositories no registered workflow uses yet.
        gated = {repository for repository, _, _ in self.opt.extra_images if repository in repos}
        return dict(self._parallel(get, sorted(set(relevant_repositories(snap)) | gated)))

    def _foreign_repository_policies(self, snap: Snapshot) -> dict[str, Collected[str | None]]:
        """Policies of other accounts' repositories that workflows use, asked of their registries directly.

        This succeeds only where the owner lets this account read the policy (ecr:GetRepositoryPolicy in the
        repository policy); otherwise the error is kept and the cross-account rule names what it could not
        read. An organisation scan replaces these with what the owning account's own cell collected.
        """

        def get(arn: str) -> tuple[str, Collected[str | None]]:
            account, name = arn.split(":")[4], arn.split(":repository/", 1)[1]
            client = self.client("ecr")
            return arn, attempt(
                "ecr:GetRepositoryPolicy", arn, lambda: repository_policy(client, name, registry_id=account)
            )

        return dict(self._parallel(get, sorted(foreign_repositories(snap))))

    def _lifecycle_policies(self, snap: Snapshot) -> dict[str, Collected[str | None]]:
        def get(name: str) -> tuple[str, Collected[str | None]]:
            def fetch() -> str | None:
                try:
                    policy = self.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
                    return cast(str, policy)
                except botocore.exceptions.ClientError as exc:
                    if _error_code(exc) == "LifecyclePolicyNotFoundException":
                        return None
                    raise

            carried = self._carry.lifecycle_policy(snap, name, repos.get(name)) if self._carry else None
            return name, carried or attempt("ecr:GetLifecyclePolicy", snap.repository_arn(name), fetch)

        repos = {r.name: r for r in snap.repositories.value or []}
        return dict(self._parallel(get, sorted(repos)))

    # -- images -------------------------------------------------------------------

    def _image_refs(self, snap: Snapshot) -> list[ImageRef]:
        host = snap.registry_host()
        refs: dict[str, ImageRef] = {}

        def add(ref: ImageRef) -> None:
            refs.setdefault(ref.key, ref)

        existing = {r.name for r in snap.repositories.value or []}
        for wf, parsed in image_mapping_destinations(snap):
            # A destination not created yet has nothing to inspect: a cache repository appears on the first
            # pull, and a missing direct one is the workflow-images rule's FAIL.
            if parsed is not None and parsed.registry == host and parsed.repository in existing:
                add(
                    ImageRef(
                        repository=parsed.repository,
                        tag=parsed.tag,
                        digest=parsed.digest,
                        origin=f"image-mapping:{wf.id}",
                    )
                )
        for run in snap.runs.value or []:
            for task in run.tasks.value or []:
                if not task.image:
                    continue
                try:
                    parsed = parse_reference(task.image)
                except InvalidReference:
                    continue
                if parsed.registry != host:
                    continue
                digest = task.image_digest if task.image_digest and task.image_digest.startswith("sha256:") else None
                add(
                    ImageRef(
                        repository=parsed.repository,
                        tag=None if digest else parsed.tag,
                        digest=digest or parsed.digest,
                        origin=f"run-task:{run.id}/{task.task_id}",
                    )
                )
        for repository, uses in used_repositories(snap).items():
            if repository not in existing:
                continue  # nothing to inspect yet (a cache repository is created on the first pull)
            for use in uses:
                if use.source == "definition":
                    add(
                        ImageRef(
                            repository=repository,
                            tag=None if use.digest else use.tag,
                            digest=use.digest,
                            origin=f"definition:{use.workflow_id}:{use.origin}",
                        )
                    )
        for repository, tag, digest in self.opt.extra_images:
            if repository in existing:  # a cache repository not created yet is fetched on first pull
                add(ImageRef(repository=repository, tag=None if digest else tag, digest=digest, origin="gate"))
        for repo, listing in snap.image_listings.items():  # collected only when a rule reads them
            for tag in listing.value or []:
                add(ImageRef(repository=repo, tag=tag, origin="ptc-newest"))
        return list(refs.values())

    def _ptc_image_listings(self, snap: Snapshot) -> dict[str, Collected[list[str]]]:
        """The newest tags of each cache repository (``image_tags_per_repository`` of them)."""
        if self.opt.image_tags_per_repository <= 0:
            return {}
        repos = {r.name: r for r in snap.repositories.value or []}
        out: dict[str, Collected[list[str]]] = {}
        ptc_repos = []
        for repo in ptc_repositories(snap):
            carried = self._carry.image_listing(snap, repo, repos.get(repo)) if self._carry else None
            if carried is not None:
                out[repo] = carried
            else:
                ptc_repos.append(repo)
        for repo, listed in zip(ptc_repos, self._parallel(self._newest_tags, ptc_repos), strict=True):
            out[repo] = (
                Collected[list[str]](error=listed.error)
                if not listed.ok
                else Collected[list[str]](value=[r.tag or "" for r in listed.value or []])
            )
        return out

    def _newest_tags(self, repository: str) -> Collected[list[ImageRef]]:
        """The newest N tagged images of a PTC repository (DescribeImages, paginated)."""
        n = self.opt.image_tags_per_repository

        def fetch() -> list[ImageRef]:
            details = self._paginate(
                "ecr", "describe_images", "imageDetails", repositoryName=repository, filter={"tagStatus": "TAGGED"}
            )
            # The filter is server-side, but an index's untagged children must never be picked even
            # where a registry ignores it; newest first by push time.
            tagged = [d for d in details if d.get("imageTags")]
            self._listed_digests[repository] = {t: d["imageDigest"] for d in tagged for t in d["imageTags"]}
            tagged.sort(key=lambda d: d.get("imagePushedAt") or datetime.min.replace(tzinfo=UTC), reverse=True)
            return [
                ImageRef(repository=repository, tag=sorted(d["imageTags"])[0], origin="ptc-newest") for d in tagged[:n]
            ]

        return attempt("ecr:DescribeImages", repository, fetch)

    def _images(self, snap: Snapshot) -> None:
        refs = self._image_refs(snap)
        snap.image_refs = refs
        if self._carry is not None:  # an incremental scan: what no event touched is carried
            repos = {r.name: r for r in snap.repositories.value or []}
            for ref in refs:
                carried = self._carry.image(snap, ref, repos.get(ref.repository))
                if carried is not None:
                    snap.images[ref.key] = carried
        by_repo: dict[str, list[ImageRef]] = {}
        for ref in refs:
            if ref.key not in snap.images:
                by_repo.setdefault(ref.repository, []).append(ref)
        items = list(by_repo.items())
        if self._digests is not None and len(items) > 1:
            # The cells of an organisation scan share the digest cache and often the same images (one upstream
            # image cached in every account and Region). In the same order they would all reach a digest at
            # once, and all but one would wait for it; each cell starts at its own place instead, so they fetch
            # different digests side by side and find the others' already stored. Results do not depend on it.
            start = zlib.crc32(f"{snap.account_id}/{self.region}".encode()) % len(items)
            items = items[start:] + items[:start]
        # A ref whose digest another cell is fetching right now is put aside, not waited for, so this cell's
        # threads go on with digests nobody has claimed; the ones put aside are done at the end, by then mostly
        # answered by the cache.
        deferred: list[ImageRef] = []
        results = self._parallel(lambda item: self._inspect_repository_images(snap, item[0], item[1], deferred), items)
        for chunk in results:
            snap.images.update(chunk)
        later: dict[str, list[ImageRef]] = {}
        for ref in deferred:
            later.setdefault(ref.repository, []).append(ref)
        for chunk in self._parallel(lambda item: self._inspect_repository_images(snap, *item), later.items()):
            snap.images.update(chunk)

    def _inspect_repository_images(
        self, snap: Snapshot, repository: str, refs: list[ImageRef], deferred: list[ImageRef] | None = None
    ) -> dict[str, Collected[ImagePlatforms]]:
        """``deferred``: where to put the refs whose digest another caller is fetching (their keys are then
        missing from the result); None: wait for those."""
        out: dict[str, Collected[ImagePlatforms]] = {}
        resource = snap.repository_arn(repository)
        cache = self._digests
        owned: dict[str, ImagePlatforms | None] = {}  # digests this call claimed -> what it found to store
        waiting: list[tuple[ImageRef, Future[ImagePlatforms | None]]] = []

        def fetch(chunk_refs: list[ImageRef], listed: dict[str, str]) -> None:
            # BatchGetImage takes up to 100 image ids per call: one call per repository chunk.
            for start in range(0, len(chunk_refs), 100):
                chunk = chunk_refs[start : start + 100]
                ids = [{"imageDigest": r.digest} if r.digest else {"imageTag": r.tag or "latest"} for r in chunk]

                def batch_get(ids: list[dict[str, str]] = ids) -> dict[str, Any]:
                    return cast(
                        dict[str, Any],
                        self.client("ecr").batch_get_image(
                            repositoryName=repository,
                            imageIds=ids,
                            acceptedMediaTypes=list(manifests.ACCEPTED_MEDIA_TYPES),
                        ),
                    )

                got = attempt("ecr:BatchGetImage", resource, batch_get)
                for ref in chunk:
                    if not got.ok:
                        out[ref.key] = Collected(error=got.error)
                        continue
                    out[ref.key] = self._platforms_from_response(snap, repository, ref, got.value or {})
                    found = out[ref.key].value
                    if cache is None or not found or not digest_cache.manifest_is_cacheable(got.value or {}, found):
                        continue
                    claimed = ref.digest or listed.get(ref.tag or "latest")
                    if claimed in owned and found.digest == claimed:
                        owned[claimed] = found  # stored, and handed to the waiters, by settle_image below
                    else:
                        cache.put_image(found)

        if cache is None:
            fetch(refs, {})
            return out
        # The digest cache says what a digest offers, never whether this repository holds it: only a digest
        # this scan's DescribeImages listed here (or a listed tag's) is answered without a call. A digest
        # another cell or thread is fetching right now is waited for, not fetched again (single-flight).
        listed = self._listed_digests.get(repository, {})
        held = set(listed.values())
        to_fetch: list[ImageRef] = []
        try:
            for ref in refs:
                digest = ref.digest or listed.get(ref.tag or "latest")
                if digest is None or digest not in held:
                    to_fetch.append(ref)
                    continue
                claim = cache.claim_image(digest)
                if isinstance(claim, ImagePlatforms):
                    out[ref.key] = Collected(value=claim)
                elif claim is not None and deferred is not None:
                    deferred.append(ref)
                elif claim is not None:
                    waiting.append((ref, claim))
                else:
                    owned[digest] = None
                    to_fetch.append(ref)
            fetch(to_fetch, listed)
        finally:
            for digest, found in owned.items():  # before any wait below: no two callers wait on each other
                cache.settle_image(digest, found)
        retry = []
        for ref, pending in waiting:
            shared = pending.result()
            if shared is None:  # the owner found nothing it could store: this repository asks itself
                retry.append(ref)
            else:
                out[ref.key] = Collected(value=shared.model_copy(deep=True))
        fetch(retry, {})
        return out

    def _platforms_from_response(
        self, snap: Snapshot, repository: str, ref: ImageRef, resp: dict[str, Any]
    ) -> Collected[ImagePlatforms]:
        resource = snap.repository_arn(repository)
        for image in resp.get("images", []):
            image_id = image.get("imageId", {})
            if (ref.digest and image_id.get("imageDigest") == ref.digest) or (
                not ref.digest and image_id.get("imageTag") == (ref.tag or "latest")
            ):
                return self._describe_manifest(
                    snap,
                    repository,
                    image.get("imageManifest", ""),
                    image.get("imageManifestMediaType"),
                    image_id.get("imageDigest"),
                )
        for failure in resp.get("failures", []):
            image_id = failure.get("imageId", {})
            if image_id.get("imageDigest") == ref.digest or image_id.get("imageTag") == ref.tag:
                code = failure.get("failureCode", "")
                if code in ("ImageNotFound", "ImageTagDoesNotMatchDigest"):
                    return Collected(value=ImagePlatforms(digest=ref.digest, exists=False))
                return Collected(
                    error=CallError(
                        operation="ecr:BatchGetImage",
                        code=code,
                        message=failure.get("failureReason", ""),
                        permission="ecr:BatchGetImage",
                        resource=resource,
                    )
                )
        return Collected(value=ImagePlatforms(digest=ref.digest, exists=False))

    def _describe_manifest(
        self, snap: Snapshot, repository: str, text: str, media_type: str | None, digest: str | None, depth: int = 0
    ) -> Collected[ImagePlatforms]:
        resource = snap.repository_arn(repository)
        try:
            info = manifests.parse_manifest(text, media_type)
        except manifests.ManifestError as exc:
            return Collected(
                error=CallError(
                    operation="ecr:BatchGetImage", code="MalformedManifest", message=str(exc), resource=resource
                )
            )
        digest = digest or manifests.manifest_digest(text)
        if info.kind == "schema1":  # its config is not read: image-runnable says "not inspected"
            arch = info.architecture or ""
            return Collected(
                value=ImagePlatforms(
                    digest=digest,
                    media_type=info.media_type,
                    platforms=[f"linux/{arch}"] if arch else [],
                    source="schema1",
                )
            )
        if info.kind == "index":
            platforms = list(info.platforms)
            for child in info.children_without_platform:
                if depth >= 2:
                    break
                sub = self._fetch_child(snap, repository, child, depth + 1)
                if not sub.ok:
                    return sub
                platforms.extend(sub.value.platforms if sub.value else [])
            return Collected(
                value=ImagePlatforms(
                    digest=digest,
                    media_type=info.media_type,
                    platforms=sorted(set(platforms)),
                    source="index",
                    linux_amd64_child=info.linux_amd64_child,
                )
            )
        if info.config_digest:
            blob = self._config_platform(snap, repository, info.config_digest)
            if not blob.ok:
                return Collected(error=blob.error)
            facts = blob.value
            return Collected(
                value=ImagePlatforms(
                    digest=digest,
                    media_type=info.media_type,
                    platforms=[facts.platform] if facts else [],
                    source="config-blob",
                    config_inspected=facts is not None,
                    entrypoint=facts.entrypoint if facts else None,
                    cmd=facts.cmd if facts else None,
                    shell=facts.shell if facts else None,
                    env_names=list(facts.env_names) if facts else [],
                    java_memory_flags=list(facts.java_memory_flags) if facts else [],
                    base_image=facts.base_image if facts else None,
                    size_bytes=info.layers_size,
                )
            )
        return Collected(value=ImagePlatforms(digest=digest, media_type=info.media_type, platforms=[], source=""))

    def _index_images(self, snap: Snapshot) -> None:
        """Facet index_images: each index in use gets the run-time facts of its linux/amd64 image.

        HealthOmics pulls that image, so its config (ENTRYPOINT, environment) and manifest (layer sizes) are
        what image-runnable judges. One BatchGetImage and one config download per index not yet inspected; an
        index the digest cache already holds inspected costs nothing, and a successful inspection replaces the
        cache's entry (the result depends only on content-addressed bytes). A failure is recorded on the index
        for image-runnable alone: its platforms are known, so the architecture rule still judges it.
        """
        repository_of = {ref.key: ref.repository for ref in snap.image_refs}
        todo: dict[tuple[str, str], list[ImagePlatforms]] = {}
        for key, collected in snap.images.items():
            index = collected.value
            child = index.linux_amd64_child if index is not None and index.source == "index" else None
            if index is None or child is None or index.config_inspected or key not in repository_of:
                continue
            # a copy: the digest cache may hand one object to several repositories, whose children can differ
            index = index.model_copy(deep=True, update={"uninspected_reason": None, "config_error": None})
            snap.images[key] = Collected(value=index)
            todo.setdefault((repository_of[key], child), []).append(index)

        def inspect(item: tuple[tuple[str, str], list[ImagePlatforms]]) -> None:
            (repository, child), indexes = item
            got = self._fetch_child(snap, repository, child, depth=1)
            for index in indexes:
                if got.error is not None:
                    index.config_error = got.error
                elif got.value is None or not got.value.exists:
                    index.uninspected_reason = f"its linux/amd64 image {child} is not in the repository"
                elif not got.value.config_inspected:
                    index.uninspected_reason = f"its linux/amd64 image {child} has no readable image config"
                else:
                    index.inspected_digest = child
                    index.config_inspected = True
                    for name in _RUN_FACTS:
                        setattr(index, name, getattr(got.value, name))
            first = indexes[0]
            cache = self._digests
            # only over an entry already judged cacheable (its bytes hash to its digest, every child has a platform)
            if first.config_inspected and cache is not None and first.digest and cache.image(first.digest) is not None:
                cache.put_image(first)

        self._parallel(inspect, list(todo.items()))

    def _fetch_child(self, snap: Snapshot, repository: str, digest: str, depth: int) -> Collected[ImagePlatforms]:
        got = attempt(
            "ecr:BatchGetImage",
            snap.repository_arn(repository),
            lambda: self.client("ecr").batch_get_image(
                repositoryName=repository,
                imageIds=[{"imageDigest": digest}],
                acceptedMediaTypes=list(manifests.ACCEPTED_MEDIA_TYPES),
            ),
        )
        if not got.ok:
            return Collected(error=got.error)
        images = (got.value or {}).get("images", [])
        if not images:
            return Collected(value=ImagePlatforms(digest=digest, exists=False))
        img = images[0]
        return self._describe_manifest(
            snap, repository, img.get("imageManifest", ""), img.get("imageManifestMediaType"), digest, depth
        )

    def _config_platform(self, snap: Snapshot, repository: str, config_digest: str) -> Collected[manifests.ConfigFacts]:
        """A config blob's platform and run-time facts, read once per digest (content-addressed) for all images.

        Only a success is shared: a failure (denied, throttled, timed out) belongs to the repository
        that saw it, so another repository with the same config digest fetches it itself.
        """
        with self._blob_lock:
            found = self._blob_cache.get(config_digest)
            owner = found is None
            pending: Future[Collected[manifests.ConfigFacts]] = Future() if found is None else found
            if owner:
                self._blob_cache[config_digest] = pending
        if not owner:
            shared: Collected[manifests.ConfigFacts] = pending.result()
            if shared.ok:
                return shared
            return self._fetch_config_platform(snap, repository, config_digest)
        result = self._fetch_config_platform(snap, repository, config_digest)
        if not result.ok:
            with self._blob_lock:
                del self._blob_cache[config_digest]  # a later repository tries on its own
        pending.set_result(result)
        return result

    def _fetch_config_platform(
        self, snap: Snapshot, repository: str, config_digest: str
    ) -> Collected[manifests.ConfigFacts]:
        known = self._digests.config_facts(config_digest) if self._digests is not None else None
        if known is not None:
            return Collected(value=known)  # content-addressed: any repository's download gave these bytes

        def fetch() -> manifests.ConfigFacts:
            url = self.client("ecr").get_download_url_for_layer(repositoryName=repository, layerDigest=config_digest)[
                "downloadUrl"
            ]
            # The URL is pre-signed S3: plain HTTPS, no SigV4. It is never logged (it is a bearer credential).
            resp = self._http.get(url, timeout=(self.opt.connect_timeout, self.opt.read_timeout))
            resp.raise_for_status()
            try:
                facts = manifests.config_facts(resp.content)
            except manifests.ManifestError as exc:
                raise requests.RequestException(f"malformed image config blob: {exc}") from None
            if self._digests is not None and digest_cache.config_is_cacheable(resp.content, config_digest):
                self._digests.put_config_facts(config_digest, facts)  # non-secret facts only (env names)
            return facts

        result = attempt("ecr:GetDownloadUrlForLayer", snap.repository_arn(repository), fetch)
        if result.error and result.error.code == "HTTPError":
            result.error.message = "downloading the config blob failed"  # never echo the pre-signed URL
        return result

    # -- HealthOmics ------------------------------------------------------------

    def _workflows(self) -> Collected[list[Workflow]]:
        if self.opt.only_workflows is not None:
            return self._workflows_named(self.opt.only_workflows)
        listed = attempt(
            "omics:ListWorkflows",
            "workflows",
            lambda: self._paginate("omics", "list_workflows", "items", type="PRIVATE"),
        )
        if not listed.ok:
            return Collected(error=listed.error)

        def get(item: dict[str, Any]) -> Workflow:
            carried = self._carry.workflow(item["id"]) if self._carry else None
            if carried is not None:
                self._carried_workflows.add(carried.id)
                return carried
            wf = Workflow(
                id=item["id"], arn=item["arn"], name=item.get("name"), type=item.get("type"), status=item.get("status")
            )
            wf.registry_map = attempt(
                "omics:GetWorkflow",
                item["arn"],
                lambda: _registry_map(self.client("omics").get_workflow(id=item["id"])),
            )
            return wf

        return Collected(value=self._parallel(get, listed.value or []))

    def _workflows_named(self, ids: Iterable[str]) -> Collected[list[Workflow]]:
        """GetWorkflow for each id (CollectOptions.only_workflows), no listing: the private ones that exist."""

        def get(workflow_id: str) -> dict[str, Any] | None:
            try:
                return cast(dict[str, Any], self.client("omics").get_workflow(id=workflow_id))
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) == "ResourceNotFoundException":
                    return None
                raise

        got = attempt("omics:GetWorkflow", "workflows", lambda: self._parallel(get, sorted(set(ids))))
        if not got.ok:
            return Collected(error=got.error)
        return Collected(
            value=[
                Workflow(
                    id=r["id"],
                    arn=r["arn"],
                    name=r.get("name"),
                    type=r.get("type"),
                    status=r.get("status"),
                    registry_map=Collected(value=_registry_map(r)),
                )
                for r in got.value or []
                if r is not None and (r.get("type") or "PRIVATE") == "PRIVATE"
            ]
        )

    def _workflow_definitions(self, snap: Snapshot) -> None:
        """Read each private workflow's definition with the gate's extractors (stored on the workflow)."""
        from auditor import definitions  # the gate's extractors (miniwdl, parsers) load only when needed

        workflows = [
            w
            for w in snap.workflows.value or []
            if (w.type or "PRIVATE") == "PRIVATE" and w.id not in self._carried_workflows
        ]

        def read(wf: Workflow) -> Collected[WorkflowDefinition]:
            return attempt(
                "omics:GetWorkflow",
                wf.arn,
                lambda: definitions.read_definition(
                    self.client("omics"), wf.id, timeout=self.opt.read_timeout, http=self._http
                ),
            )

        for wf, got in zip(workflows, self._parallel(read, workflows), strict=True):
            wf.definition = got

    def _runs(self) -> Collected[list[Run]]:
        listed = attempt("omics:ListRuns", "runs", lambda: self._paginate("omics", "list_runs", "items"))
        if not listed.ok:
            return Collected(error=listed.error)
        horizon = self.opt.now - timedelta(days=self.opt.run_lookback_days)
        recent = [
            i
            for i in listed.value or []
            if i.get("status") in ACTIVE_RUN_STATUSES
            or (_dt(i.get("stopTime")) or _dt(i.get("creationTime")) or self.opt.now) >= horizon
        ]

        def get(item: dict[str, Any]) -> Run:
            carried = self._carry.run(item) if self._carry else None
            if carried is not None:
                self._carried_runs.add(carried.id)
                return carried
            got = attempt("omics:GetRun", item["arn"], lambda: self.client("omics").get_run(id=item["id"]))
            detail = got.value or {}
            run = Run(
                id=item["id"],
                arn=item["arn"],
                status=detail.get("status", item.get("status", "UNKNOWN")),
                workflow_id=detail.get("workflowId", item.get("workflowId")),
                role_arn=detail.get("roleArn"),
                session_policy=detail.get("sessionPolicy"),
                creation_time=_dt(detail.get("creationTime", item.get("creationTime"))),
                start_time=_dt(detail.get("startTime", item.get("startTime"))),
                stop_time=_dt(detail.get("stopTime", item.get("stopTime"))),
                name=detail.get("name", item.get("name")),
                failure_reason=detail.get("failureReason"),
                status_message=detail.get("statusMessage"),
            )
            if not got.ok:
                run.tasks = Collected(error=got.error)
            return run

        runs = self._parallel(get, recent)
        # A failed GetRun was kept only on run.tasks, which no rule reads: the run's role, session policy
        # and workflow were silently missing and the scan reported no ERROR at all. Report it on the runs
        # facet too (the runs still listed are kept, as _service_roles does for ListRoles).
        failed = next((r.tasks.error for r in runs if r.tasks.error is not None), None)
        return Collected(value=runs, error=failed)

    def _run_tasks(self, snap: Snapshot) -> None:
        runs = [run for run in snap.runs.value or [] if run.tasks.error is None and run.id not in self._carried_runs]

        def list_tasks(run: Run) -> Collected[list[dict[str, Any]]]:
            return attempt(
                "omics:ListRunTasks", run.arn, lambda: self._paginate("omics", "list_run_tasks", "items", id=run.id)
            )

        listed = self._parallel(list_tasks, runs)
        # ListRunTasks items carry no imageDetails, so every task needs GetRunTask. They go through one
        # flat pool across all runs: fetched run by run, a 200-task run serialised the whole scan.
        work = [(run, item) for run, got in zip(runs, listed, strict=True) for item in got.value or []]

        def get_task(pair: tuple[Run, dict[str, Any]]) -> Collected[RunTask]:
            run, item = pair

            def fetch() -> RunTask:
                task = self.client("omics").get_run_task(id=run.id, taskId=item["taskId"])
                details = task.get("imageDetails") or {}
                return RunTask(
                    task_id=item["taskId"],
                    name=item.get("name"),
                    image=details.get("image"),
                    image_digest=details.get("imageDigest"),
                    source_image=details.get("sourceImage"),
                    status=task.get("status", item.get("status")),
                    status_message=task.get("statusMessage"),
                    failure_reason=task.get("failureReason"),
                    gpus=_count(task.get("gpus", item.get("gpus"))),
                    instance_type=_text(task.get("instanceType", item.get("instanceType"))),
                )

            return attempt("omics:GetRunTask", f"{run.arn}/task/{item['taskId']}", fetch)

        fetched = iter(self._parallel(get_task, work))
        for run, got in zip(runs, listed, strict=True):
            if not got.ok:
                run.tasks = Collected(error=got.error)
                continue
            tasks = [next(fetched) for _ in got.value or []]
            failed = next((t.error for t in tasks if t.error is not None), None)
            run.tasks = Collected(error=failed) if failed else Collected(value=[t.value for t in tasks if t.value])

    # -- lifecycle of the used repositories (rule lifecycle-keeps-used-images) -----------------

    def _used_lifecycles(self, snap: Snapshot) -> dict[str, Collected[RepositoryLifecycle]]:
        """Each existing repository a workflow uses: its lifecycle policy and, when it has one, its images.

        One GetLifecyclePolicy per repository (none when the ``lifecycle_policies`` facet already read it) and
        DescribeImages, paginated, only for a repository that has a policy: never a call per image.
        """
        existing = {r.name for r in snap.repositories.value or []}
        names = sorted(name for name in used_repositories(snap) if name in existing)

        repos = {r.name: r for r in snap.repositories.value or []}

        def read(name: str) -> tuple[str, Collected[RepositoryLifecycle]]:
            carried = self._carry.used_lifecycle(snap, name, repos.get(name)) if self._carry else None
            if carried is not None:
                return name, carried
            arn = snap.repository_arn(name)
            known = snap.lifecycle_policies.get(name)
            policy = known if known is not None and known.ok else None
            if policy is None:

                def get_policy() -> str | None:
                    try:
                        text = self.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
                        return cast(str, text)
                    except botocore.exceptions.ClientError as exc:
                        if _error_code(exc) == "LifecyclePolicyNotFoundException":
                            return None
                        raise

                policy = attempt("ecr:GetLifecyclePolicy", arn, get_policy)
            if policy.error is not None:
                return name, Collected(error=policy.error)
            if policy.value is None:
                return name, Collected(value=RepositoryLifecycle())

            def list_images() -> list[ListedImage]:
                details = self._paginate("ecr", "describe_images", "imageDetails", repositoryName=name)
                return [
                    ListedImage(
                        digest=d["imageDigest"],
                        tags=list(d.get("imageTags") or []),
                        pushed_at=_dt(d.get("imagePushedAt")),
                        last_pulled_at=_dt(d.get("lastRecordedPullTime")),
                    )
                    for d in details
                ]

            listed = attempt("ecr:DescribeImages", arn, list_images)
            if listed.error is not None:
                return name, Collected(error=listed.error)
            return name, Collected(value=RepositoryLifecycle(policy=policy.value, images=listed.value))

        return dict(self._parallel(read, names))

    # -- scan findings of the images workflows used (opt-in rule image-vulnerabilities) ---------------

    def _image_vulnerabilities(self, snap: Snapshot) -> Collected[ImageVulnerabilities]:
        """DescribeImageScanFindings (every page) once per image digest workflows used; nothing when off.

        The images: the task images of runs created within ``vulnerabilities.lookback_days`` (by the digest
        GetRunTask reported, else the one the images facet resolved), and the images definitions and image
        mappings name, as the images facet resolved them to digests. The setting comes from the config through
        ``CollectOptions.vulnerabilities`` (absent or None: off, no call).
        """
        from auditor.config import VULNERABILITY_SEVERITIES, VulnerabilitySettings

        settings = getattr(self.opt, "vulnerabilities", None)
        if not isinstance(settings, VulnerabilitySettings) or not settings.enabled:
            return Collected(value=ImageVulnerabilities(enabled=False))
        out = ImageVulnerabilities(
            enabled=True,
            severity_threshold=settings.severity_threshold,
            lookback_days=settings.lookback_days,
            top_findings=settings.top_findings,
        )
        existing = {r.name for r in snap.repositories.value or []}
        host = snap.registry_host()
        uses: dict[tuple[str, str], list[str]] = {}

        def add(repository: str, digest: str | None, origin: str) -> None:
            if repository in existing and digest and digest.startswith("sha256:"):
                listed = uses.setdefault((repository, digest), [])
                if origin not in listed and len(listed) < 6:
                    listed.append(origin)

        def resolved(repository: str, tag: str | None, digest: str | None) -> str | None:
            if digest:
                return digest
            known = snap.images.get(ImageRef(repository=repository, tag=tag, origin="").key)
            return known.value.digest if known is not None and known.value is not None else None

        horizon = self.opt.now - timedelta(days=settings.lookback_days)
        for run in snap.runs.value or []:
            when = run.creation_time or run.start_time
            if when is not None and when < horizon:
                continue
            for task in run.tasks.value or []:
                try:
                    parsed = parse_reference(task.image or "")
                except InvalidReference:
                    continue
                if parsed.registry != host:
                    continue
                digest = task.image_digest if (task.image_digest or "").startswith("sha256:") else parsed.digest
                origin = f"run {run.id} task {task.task_id}"
                add(parsed.repository, resolved(parsed.repository, parsed.tag, digest), origin)
        for ref in snap.image_refs:
            kind, _, where = ref.origin.partition(":")
            if kind in ("definition", "image-mapping"):
                origin = f"{kind} of workflow {where}" if kind == "image-mapping" else f"definition {where}"
                add(ref.repository, resolved(ref.repository, ref.tag, ref.digest), origin)

        rank = {s: i for i, s in enumerate(VULNERABILITY_SEVERITIES)}

        def finding(raw: dict[str, Any], enhanced: bool) -> ScanFinding:
            if not enhanced:
                attrs = {a.get("key"): a.get("value") for a in raw.get("attributes") or []}
                return ScanFinding(
                    name=str(raw.get("name") or "unnamed"),
                    severity=str(raw.get("severity") or "UNDEFINED"),
                    package=attrs.get("package_name"),
                    package_version=attrs.get("package_version"),
                    uri=raw.get("uri"),
                )
            details = raw.get("packageVulnerabilityDetails") or {}
            packages = details.get("vulnerablePackages") or [{}]
            urls = details.get("referenceUrls") or []
            return ScanFinding(
                name=str(details.get("vulnerabilityId") or raw.get("title") or "unnamed"),
                severity=str(raw.get("severity") or "UNTRIAGED"),
                package=packages[0].get("name"),
                package_version=packages[0].get("version"),
                fixed_in=packages[0].get("fixedInVersion"),
                uri=details.get("sourceUrl") or (urls[0] if urls else None),
            )

        def read(key: tuple[str, str]) -> tuple[str, Collected[ImageScan]]:
            repository, digest = key
            scan = ImageScan(repository=repository, digest=digest, uses=uses[key])

            def fetch() -> ImageScan:
                ecr = self.client("ecr")
                params: dict[str, Any] = {
                    "repositoryName": repository,
                    "imageId": {"imageDigest": digest},
                    "maxResults": 1000,
                }
                found: list[ScanFinding] = []
                counted: dict[str, int] = {}
                first: dict[str, Any] | None = None
                enhanced = False
                while True:
                    try:
                        page = ecr.describe_image_scan_findings(**params)
                    except botocore.exceptions.ClientError as exc:
                        if _error_code(exc) == "ScanNotFoundException":
                            return scan.model_copy(update={"scan_found": False})
                        raise
                    first = first or page
                    body = page.get("imageScanFindings") or {}
                    enhanced = enhanced or "enhancedFindings" in body
                    for raw in body.get("findings") or []:
                        found.append(finding(raw, False))
                    for raw in body.get("enhancedFindings") or []:
                        found.append(finding(raw, True))
                    if not page.get("nextToken"):
                        break
                    params["nextToken"] = page["nextToken"]
                for f in found:
                    counted[f.severity] = counted.get(f.severity, 0) + 1
                body = first.get("imageScanFindings") or {}
                status = first.get("imageScanStatus") or {}
                found.sort(key=lambda f: (-rank.get(f.severity, -1), f.name))
                return scan.model_copy(
                    update={
                        "status": status.get("status"),
                        "status_description": status.get("description"),
                        "completed_at": _dt(body.get("imageScanCompletedAt")),
                        "enhanced": enhanced,
                        "severity_counts": dict(body.get("findingSeverityCounts") or counted),
                        "total_findings": len(found),
                        "findings": found[:50],
                    }
                )

            return f"{repository}@{digest}", attempt(
                "ecr:DescribeImageScanFindings", f"{snap.repository_arn(repository)}@{digest}", fetch
            )

        out.images = dict(self._parallel(read, sorted(uses)))
        return Collected(value=out)

    # -- IAM ------------------------------------------------------------------------

    def _service_roles(self, snap: Snapshot) -> Collected[list[ServiceRoleSource]]:

        listed = attempt("iam:ListRoles", "roles", lambda: self._paginate("iam", "list_roles", "Roles"))
        sources: dict[str, list[str]] = {}
        for role in listed.value or []:
            if trusts_service(role.get("AssumeRolePolicyDocument"), OMICS_PRINCIPAL):
                sources.setdefault(role["Arn"], []).append(f"trusts {OMICS_PRINCIPAL}")
        for run in snap.runs.value or []:
            if run.role_arn:
                sources.setdefault(run.role_arn, []).append(f"run {run.id}")
        for arn in self.opt.service_roles:
            sources.setdefault(arn, []).append("configured")
        if self.opt.only_roles is not None:
            named = set(self.opt.only_roles)
            sources = {arn: why for arn, why in sources.items() if arn.rsplit("/", 1)[-1] in named}
        roles = [ServiceRoleSource(arn=arn, reasons=reasons) for arn, reasons in sorted(sources.items())]
        if not listed.ok:
            # Roles from runs and config are still known; the listing gap is reported by the rule.
            return Collected(value=roles, error=listed.error)
        return Collected(value=roles)

    def _roles(self, snap: Snapshot) -> dict[str, Collected[RolePolicies]]:
        managed_cache: dict[str, Collected[dict[str, Any]]] = {}
        cache_lock = threading.Lock()

        def managed(policy_arn: str) -> Collected[dict[str, Any]]:
            with cache_lock:
                if policy_arn in managed_cache:
                    return managed_cache[policy_arn]

            def fetch() -> dict[str, Any]:
                iam = self.client("iam")
                version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
                doc = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
                return _policy_doc(doc)

            result = attempt("iam:GetPolicyVersion", policy_arn, fetch)
            with cache_lock:
                managed_cache[policy_arn] = result
            return result

        def read(arn: str) -> tuple[str, Collected[RolePolicies]]:
            carried = self._carry.role(arn) if self._carry else None
            if carried is not None:
                return arn, carried
            name = arn.rsplit("/", 1)[-1]
            iam = self.client("iam")

            def get_role() -> dict[str, Any]:
                role = iam.get_role(RoleName=name)["Role"]
                # Parsed inside attempt(): a malformed trust policy used to raise out of the pool and
                # abort the scan; now it is this role's ERROR.
                return {**role, "AssumeRolePolicyDocument": _policy_doc(role.get("AssumeRolePolicyDocument"))}

            got = attempt("iam:GetRole", arn, get_role)
            if not got.ok:
                return arn, Collected(error=got.error)
            role = got.value or {}
            info = RolePolicies(arn=arn, name=name, trust_policy=role.get("AssumeRolePolicyDocument"))
            inline = attempt(
                "iam:ListRolePolicies",
                arn,
                lambda: self._paginate("iam", "list_role_policies", "PolicyNames", RoleName=name),
            )
            if inline.error:
                info.errors.append(inline.error)
            names: list[str] = [str(n) for n in inline.value or []]  # ListRolePolicies: plain names
            for policy_name in names:

                def inline_doc(p: str = policy_name) -> dict[str, Any]:
                    return _policy_doc(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])

                doc = attempt("iam:GetRolePolicy", f"{arn}/{policy_name}", inline_doc)
                if doc.error:
                    info.errors.append(doc.error)
                else:
                    info.inline_policies[policy_name] = doc.value or {}
            attached = attempt(
                "iam:ListAttachedRolePolicies",
                arn,
                lambda: self._paginate("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name),
            )
            if attached.error:
                info.errors.append(attached.error)
            for pol in attached.value or []:
                doc = managed(pol["PolicyArn"])
                if doc.error:
                    info.errors.append(doc.error)
                else:
                    info.attached_policies[pol["PolicyArn"]] = doc.value or {}
            boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            if boundary:
                info.permissions_boundary_arn = boundary
                doc = managed(boundary)
                if doc.error:
                    info.errors.append(doc.error)
                else:
                    info.permissions_boundary = doc.value
            return arn, Collected(value=info)

        arns = [s.arn for s in snap.service_roles.value or [] if _in_account(s.arn, snap.account_id)]
        return dict(self._parallel(read, arns))

    # -- ECR scanning and CloudTrail recording (hygiene rules) ---------------------------

    def _registry_scanning(self) -> Collected[RegistryScanning]:
        def fetch() -> RegistryScanning:
            config = self.client("ecr").get_registry_scanning_configuration().get("scanningConfiguration") or {}
            return RegistryScanning(
                # A registry never configured answers BASIC with no rules (the API's documented default).
                scan_type=config.get("scanType") or "BASIC",
                rules=[
                    ScanningRule(
                        scan_frequency=r["scanFrequency"],
                        repository_filters=[
                            ScanningFilter(filter=f["filter"], filter_type=f.get("filterType", "WILDCARD"))
                            for f in r.get("repositoryFilters", [])
                        ],
                    )
                    for r in config.get("rules", [])
                ],
            )

        return attempt("ecr:GetRegistryScanningConfiguration", "registry-scanning-configuration", fetch)

    def _trails(self) -> Collected[list[Trail]]:
        """DescribeTrails with shadow trails (other regions' multi-region trails, organisation trails), then each
        trail's status and selectors, asked by ARN as the API requires for shadow and organisation trails."""
        client = self.client("cloudtrail")
        listed = attempt(
            "cloudtrail:DescribeTrails",
            "trails",
            lambda: list(client.describe_trails(includeShadowTrails=True).get("trailList", [])),
        )
        if listed.error is not None:
            return Collected(error=listed.error)

        def read(item: dict[str, Any]) -> Trail:
            arn = item.get("TrailARN") or item["Name"]

            def status() -> TrailStatus:
                resp = client.get_trail_status(Name=arn)
                return TrailStatus(
                    is_logging=bool(resp.get("IsLogging")),
                    latest_delivery_error=resp.get("LatestDeliveryError") or None,
                    start_logging_time=_dt(resp.get("StartLoggingTime")),
                    stop_logging_time=_dt(resp.get("StopLoggingTime")),
                )

            def selectors() -> TrailSelectors:
                resp = client.get_event_selectors(TrailName=arn)
                return TrailSelectors(
                    event_selectors=list(resp.get("EventSelectors") or []),
                    advanced_event_selectors=list(resp.get("AdvancedEventSelectors") or []),
                )

            return Trail(
                name=item["Name"],
                arn=arn,
                home_region=item.get("HomeRegion"),
                multi_region=bool(item.get("IsMultiRegionTrail")),
                organization=bool(item.get("IsOrganizationTrail")),
                status=attempt("cloudtrail:GetTrailStatus", arn, status),
                selectors=attempt("cloudtrail:GetEventSelectors", arn, selectors),
            )

        return attempt("cloudtrail:DescribeTrails", "trails", lambda: self._parallel(read, listed.value or []))

    def _event_data_stores(self) -> Collected[list[EventDataStore]]:
        """ListEventDataStores, then GetEventDataStore per store: the list's selector and region fields are
        deprecated there, so each store is read on its own."""
        client = self.client("cloudtrail")

        def listing() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                resp = client.list_event_data_stores(**({"NextToken": token} if token else {}))
                out.extend(resp.get("EventDataStores", []))
                token = resp.get("NextToken")
                if not token:
                    return out

        listed = attempt("cloudtrail:ListEventDataStores", "event-data-stores", listing)
        if listed.error is not None:
            return Collected(error=listed.error)

        def read(item: dict[str, Any]) -> EventDataStore:
            arn = item["EventDataStoreArn"]
            got = attempt(
                "cloudtrail:GetEventDataStore", arn, lambda: dict(client.get_event_data_store(EventDataStore=arn))
            )
            resp = got.value or item
            return EventDataStore(
                arn=arn,
                name=resp.get("Name"),
                status=resp.get("Status"),
                multi_region=bool(resp.get("MultiRegionEnabled")),
                organization=bool(resp.get("OrganizationEnabled")),
                advanced_event_selectors=list(resp.get("AdvancedEventSelectors") or []),
                error=got.error,
            )

        return attempt(
            "cloudtrail:GetEventDataStore", "event-data-stores", lambda: self._parallel(read, listed.value or [])
        )

    # -- CloudTrail ------------------------------------------------------------------

    def _ptc_events(self) -> Collected[list[PtcRuleEvent]]:
        start = self.opt.now - timedelta(days=min(self.opt.run_lookback_days, 90))

        def fetch() -> list[PtcRuleEvent]:
            events: list[PtcRuleEvent] = []
            # LookupEvents takes one attribute only: one query per event name, source filtered client-side.
            for name in PTC_EVENT_NAMES:
                for ev in self._paginate(
                    "cloudtrail",
                    "lookup_events",
                    "Events",
                    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                    StartTime=start,
                    EndTime=self.opt.now + timedelta(minutes=5),
                ):
                    parsed = _ptc_event(ev)
                    if parsed is not None:
                        events.append(parsed)
            return events

        return attempt("cloudtrail:LookupEvents", "cloudtrail", fetch)


def repository_policy(ecr: Any, name: str, *, registry_id: str | None = None) -> str | None:
    """A repository's policy text, or None when it has none."""
    kwargs = {"registryId": registry_id} if registry_id else {}
    try:
        return cast(str, ecr.get_repository_policy(repositoryName=name, **kwargs)["policyText"])
    except botocore.exceptions.ClientError as exc:
        if _error_code(exc) == "RepositoryPolicyNotFoundException":
            return None
        raise


def read_from_owners(
    snapshots: list[Snapshot],
    session_for: Callable[[str, str], boto3.Session | None],
    opt: CollectOptions,
    counter: ApiCallCounter,
) -> None:
    """Organisation scans: read each other-account repository a workflow uses with its owner's own credentials.

    When the owning account is part of the same scan, its answer is definite, whether or not the owner lets
    the workflow's account read the policy; owners outside the scan keep the cross-account attempt.
    """
    for snap in snapshots:
        for arn in list(snap.foreign_repository_policies):
            _, _, _, region, owner, rest = arn.split(":", 5)
            session = session_for(owner, region)
            if session is None:
                continue
            client = make_client(session, "ecr", region, opt, counter, account_id=owner)
            name = rest.removeprefix("repository/")
            try:
                got = attempt("ecr:GetRepositoryPolicy", arn, partial(repository_policy, client, name))
            except CellError as exc:
                got = Collected[str | None](error=exc.error)
            snap.foreign_repository_policies[arn] = got


def _nothing(snap: Snapshot | None = None) -> Collected[list[Any]] | None:
    """A HealthOmics facet where there is no endpoint: an empty listing, and nothing filled in place."""
    return Collected(value=[]) if snap is None else None


# --- pure helpers ----------------------------------------------------------------------


def _registry_map(resp: dict[str, Any]) -> ContainerRegistryMap | None:
    crm = resp.get("containerRegistryMap")
    if not crm:
        return None
    return ContainerRegistryMap(
        registry_mappings=[
            RegistryMapping(
                upstream_registry_url=m.get("upstreamRegistryUrl", ""),
                ecr_repository_prefix=m.get("ecrRepositoryPrefix", ""),
                upstream_repository_prefix=m.get("upstreamRepositoryPrefix"),
                ecr_account_id=m.get("ecrAccountId"),
                credential_arn=m.get("credentialArn"),
            )
            for m in crm.get("registryMappings", [])
        ],
        image_mappings=[
            ImageMapping(source_image=m.get("sourceImage"), destination_image=m.get("destinationImage"))
            for m in crm.get("imageMappings", [])
        ],
    )


def _policy_doc(doc: Any) -> dict[str, Any]:
    if doc is None:
        return {}
    if isinstance(doc, dict):
        return doc
    from urllib.parse import unquote

    text = str(doc)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = json.loads(unquote(text))
    if not isinstance(parsed, dict):
        raise ValueError(f"a policy document is a JSON object, not {type(parsed).__name__}")
    return parsed


def _in_account(arn: str, account: str) -> bool:
    parts = arn.split(":")
    return len(parts) > 4 and parts[4] == account


def _ptc_event(ev: dict[str, Any]) -> PtcRuleEvent | None:
    try:
        record = json.loads(ev.get("CloudTrailEvent") or "{}")
    except json.JSONDecodeError:
        record = {}
    if record.get("eventSource", ev.get("EventSource")) != "ecr.amazonaws.com":
        return None
    params = record.get("requestParameters") or {}
    return PtcRuleEvent(
        event_id=ev.get("EventId", record.get("eventID", "")),
        event_name=ev.get("EventName", record.get("eventName", "")),
        event_time=_dt(ev.get("EventTime")) or datetime.now(UTC),
        ecr_repository_prefix=params.get("ecrRepositoryPrefix"),
        username=ev.get("Username"),
        error_code=record.get("errorCode"),
    )
