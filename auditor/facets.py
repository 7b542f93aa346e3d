"""The inventory facets: every kind of data a scan can collect, declared once.

A facet is one kind of collected data (the pull-through cache rules, the repositories' policies, the
images' platforms...). Its declaration below is the single source of

* what the collector fetches and in which order (``auditor.collect.Collector.collect``): facets with
  no dependency are top-level listings, fetched concurrently; the others run afterwards one after the
  other, each once the facets it ``depends_on`` are in the snapshot (``collection_order``);
* which facets a rule's facets pull in (``expand_facets``);
* the IAM actions a scan needs (``permissions_for_facets``), hence rule metadata, the ``rules``
  command, ``auditor.permissions`` and the policies ``deploy/generate.py`` writes;
* the facet table of the documentation (``docs/facets.md``, written by ``docs/generate.py``).

Adding a facet is its ``Facet`` here, its collector method (``Facet.collect`` names it) and its
``Snapshot`` field(s); ``tests/test_collect.py`` checks the three agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Facet:
    name: str
    what: str  # what it collects, one sentence (the documentation's facet table)
    permissions: tuple[str, ...]  # IAM actions the collector needs to read it
    collect: str  # the Collector method: () -> value for a top-level listing, else (snapshot) -> value
    snapshot_field: str  # the Snapshot field the method's value is stored in (or that it fills in place)
    depends_on: tuple[str, ...] = ()  # facets collected first: they say which resources to ask about
    # Facets collected first only when they are collected at all: they add resources to ask about, but a
    # rule that does not need them must not pay for them (images: the cache listings, definitions, tasks).
    after: tuple[str, ...] = ()
    also_fills: tuple[str, ...] = ()  # further Snapshot fields the method writes
    in_place: bool = False  # the method writes the snapshot itself and returns None
    healthomics: bool = False  # HealthOmics data: empty, with no call, where the region has no endpoint

    @property
    def listing(self) -> bool:
        """A top-level listing: needs nothing collected before it, so it runs concurrently with the others."""
        return not self.depends_on

    def prerequisites(self, wanted: set[str]) -> tuple[str, ...]:
        """What must be in the snapshot before this facet runs, among the ``wanted`` facets."""
        return self.depends_on + tuple(a for a in self.after if a in wanted)

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.snapshot_field, *self.also_fills)


_DECLARED = (
    Facet(
        name="ptc_rules",
        what="The registry's pull-through cache rules.",
        permissions=("ecr:DescribePullThroughCacheRules",),
        collect="_ptc_rules",
        snapshot_field="ptc_rules",
    ),
    Facet(
        name="ptc_validations",
        what="Whether each cache rule that names a credential, or whose upstream needs one, can use its "
        "secret (ValidatePullThroughCacheRule).",
        permissions=("ecr:ValidatePullThroughCacheRule",),
        collect="_ptc_validations",
        snapshot_field="ptc_validations",
        depends_on=("ptc_rules",),
    ),
    Facet(
        name="secrets",
        what="Metadata (never the value) of the Secrets Manager secrets cache rules and registry maps name.",
        permissions=("secretsmanager:DescribeSecret",),
        collect="_secrets",
        snapshot_field="secrets",
        depends_on=("ptc_rules", "workflows"),
    ),
    Facet(
        name="registry_policy",
        what="The registry's permissions policy.",
        permissions=("ecr:GetRegistryPolicy",),
        collect="_registry_policy",
        snapshot_field="registry_policy",
    ),
    Facet(
        name="templates",
        what="The repository creation templates.",
        permissions=("ecr:DescribeRepositoryCreationTemplates",),
        collect="_templates",
        snapshot_field="templates",
    ),
    Facet(
        name="repositories",
        what="The registry's repositories.",
        permissions=("ecr:DescribeRepositories",),
        collect="_repositories",
        snapshot_field="repositories",
    ),
    Facet(
        name="repository_policies",
        what="The policies of the repositories that matter: under a cache prefix, the destination of an "
        "image mapping, or used by a workflow's definition or a recent run.",
        permissions=("ecr:GetRepositoryPolicy",),
        collect="_repository_policies",
        snapshot_field="repository_policies",
        depends_on=("repositories", "ptc_rules", "workflows", "workflow_definitions", "run_tasks"),
    ),
    Facet(
        name="foreign_repository_policies",
        what="The policies of repositories in other accounts that workflows use (read cross-account, or from "
        "the owning account in an organisation scan).",
        permissions=("ecr:GetRepositoryPolicy",),
        collect="_foreign_repository_policies",
        snapshot_field="foreign_repository_policies",
        depends_on=("workflows", "workflow_definitions", "run_tasks"),
    ),
    Facet(
        name="lifecycle_policies",
        what="Every repository's lifecycle policy.",
        permissions=("ecr:GetLifecyclePolicy",),
        collect="_lifecycle_policies",
        snapshot_field="lifecycle_policies",
        depends_on=("repositories",),
    ),
    Facet(
        name="ptc_image_listings",
        what="The newest tags of each cache repository, whose images the architecture rule inspects.",
        permissions=("ecr:DescribeImages",),
        collect="_ptc_image_listings",
        snapshot_field="image_listings",
        depends_on=("repositories", "ptc_rules"),
    ),
    Facet(
        name="images",
        what="The platforms of the images in use: image-mapping destinations and, when collected, the images "
        "workflow definitions and run tasks name and the cache repositories' newest tags (manifests, else "
        "config blobs).",
        permissions=("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
        collect="_images",
        snapshot_field="images",
        depends_on=("repositories", "workflows"),
        after=("ptc_image_listings", "workflow_definitions", "run_tasks"),
        also_fills=("image_refs",),
        in_place=True,
    ),
    Facet(
        name="index_images",
        what="For each multi-platform index in use, the config blob and manifest of its linux/amd64 image (the "
        "one HealthOmics pulls): ENTRYPOINT, environment variable names, layer sizes; nothing when the digest "
        "cache already holds the index inspected.",
        permissions=("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
        collect="_index_images",
        snapshot_field="images",
        depends_on=("images",),
        in_place=True,
    ),
    Facet(
        name="workflows",
        what="The private HealthOmics workflows and their container registry maps.",
        permissions=("omics:ListWorkflows", "omics:GetWorkflow"),
        collect="_workflows",
        snapshot_field="workflows",
        healthomics=True,
    ),
    Facet(
        name="workflow_definitions",
        what="Each private workflow's definition (GetWorkflow --export DEFINITION, the pre-signed zip), read "
        "with the gate's extractors: the containers it names, with file and line (stored on each workflow).",
        permissions=("omics:GetWorkflow",),
        collect="_workflow_definitions",
        snapshot_field="workflows",
        depends_on=("workflows",),
        in_place=True,
        healthomics=True,
    ),
    Facet(
        name="runs",
        what="The HealthOmics runs active or ended within the lookback window.",
        permissions=("omics:ListRuns", "omics:GetRun"),
        collect="_runs",
        snapshot_field="runs",
        healthomics=True,
    ),
    Facet(
        name="run_tasks",
        what="The tasks of those runs and the images they ran (stored on each run).",
        permissions=("omics:ListRunTasks", "omics:GetRunTask"),
        collect="_run_tasks",
        snapshot_field="runs",
        depends_on=("runs",),
        in_place=True,
        healthomics=True,
    ),
    Facet(
        name="service_roles",
        what="The HealthOmics service roles: roles trusting omics.amazonaws.com, roles of runs, configured roles.",
        permissions=("iam:ListRoles",),
        collect="_service_roles",
        snapshot_field="service_roles",
        depends_on=("runs",),
    ),
    Facet(
        name="roles",
        what="The trust, inline, attached and boundary policies of the service roles in the account.",
        permissions=(
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
        ),
        collect="_roles",
        snapshot_field="roles",
        depends_on=("service_roles",),
    ),
    Facet(
        name="ptc_events",
        what="CloudTrail events creating, updating or deleting pull-through cache rules.",
        permissions=("cloudtrail:LookupEvents",),
        collect="_ptc_events",
        snapshot_field="ptc_events",
    ),
    Facet(
        name="registry_scanning",
        what="The registry's scanning configuration: scan type and the scanning rules' frequencies and repository "
        "filters (GetRegistryScanningConfiguration).",
        permissions=("ecr:GetRegistryScanningConfiguration",),
        collect="_registry_scanning",
        snapshot_field="registry_scanning",
    ),
    Facet(
        name="trails",
        what="The CloudTrail trails that apply to the region (shadow and organisation trails included), each "
        "with its logging status and event selectors.",
        permissions=("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"),
        collect="_trails",
        snapshot_field="trails",
    ),
    Facet(
        name="event_data_stores",
        what="The CloudTrail Lake event data stores of the region, each with its status and advanced event selectors.",
        permissions=("cloudtrail:ListEventDataStores", "cloudtrail:GetEventDataStore"),
        collect="_event_data_stores",
        snapshot_field="event_data_stores",
    ),
    Facet(
        name="used_lifecycles",
        what="For each existing repository a workflow uses (cache, image-mapping destination, direct): its "
        "lifecycle policy and, when it has one, every image DescribeImages lists (tags, push and last-pull times).",
        permissions=("ecr:GetLifecyclePolicy", "ecr:DescribeImages"),
        collect="_used_lifecycles",
        snapshot_field="used_lifecycles",
        depends_on=("repositories", "workflows", "workflow_definitions", "run_tasks"),
        # Reuse every repository's lifecycle policy when a (custom) rule collects it anyway: no second call.
        after=("lifecycle_policies",),
    ),
    Facet(
        name="image_vulnerabilities",
        what="Opt-in (config `vulnerabilities`): the ECR scan findings (DescribeImageScanFindings, paginated, basic or "
        "enhanced) of each image digest workflows used: recent runs' task images and the images definitions and "
        "image mappings name; no call when the setting is off.",
        permissions=("ecr:DescribeImageScanFindings",),
        collect="_image_vulnerabilities",
        snapshot_field="image_vulnerabilities",
        depends_on=("repositories", "workflows", "workflow_definitions", "runs", "run_tasks", "images"),
    ),
)

# name -> declaration, in declaration order (the order of error messages and of docs/facets.md)
FACETS: dict[str, Facet] = {f.name: f for f in _DECLARED}

# Snapshot fields that describe the collection rather than hold a facet's data.
SNAPSHOT_METADATA = frozenset(
    {
        "schema_version",
        "account_id",
        "region",
        "partition",
        "collected_at",
        "facets",
        "healthomics_available",
        "api_calls",
        "incremental",
    }
)

# Every scan calls sts:GetCallerIdentity (the account of a cell) whatever its facets.
BASE_PERMISSIONS = ("sts:GetCallerIdentity",)


def expand_facets(facets: Iterable[str]) -> set[str]:
    """The facets and every facet they depend on, transitively; ValueError for an unknown name."""
    out: set[str] = set()
    stack = list(facets)
    while stack:
        name = stack.pop()
        if name not in FACETS:
            raise ValueError(f"unknown inventory facet {name!r}; known: {', '.join(FACETS)}")
        if name not in out:
            out.add(name)
            stack.extend(FACETS[name].depends_on)
    return out


def permissions_for_facets(facets: Iterable[str]) -> list[str]:
    """The IAM actions a scan of these facets (and their dependencies) needs, sorted."""
    return sorted({p for f in expand_facets(facets) for p in FACETS[f].permissions} | set(BASE_PERMISSIONS))


def collection_order(facets: Iterable[str]) -> tuple[list[Facet], list[Facet]]:
    """(top-level listings, the rest in dependency order) for these facets and their dependencies.

    The listings run concurrently; each of the rest runs once every facet it depends on (and, among the
    wanted ones, every facet it comes ``after``) has been collected, ties broken by declaration order.
    """
    wanted = expand_facets(facets)
    listings = [f for f in FACETS.values() if f.name in wanted and not f.prerequisites(wanted)]
    done = {f.name for f in listings}
    pending = [f for f in FACETS.values() if f.name in wanted and f.prerequisites(wanted)]
    ordered: list[Facet] = []
    while pending:
        ready = next((f for f in pending if done.issuperset(f.prerequisites(wanted))), None)
        if ready is None:
            raise ValueError(f"facet dependency cycle among {', '.join(f.name for f in pending)}")
        ordered.append(ready)
        done.add(ready.name)
        pending.remove(ready)
    return listings, ordered
