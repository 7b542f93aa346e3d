"""Rule registry and runner.

A rule is a pure function ``(Snapshot, RuleContext) -> Iterable[Result]`` with
its metadata declared beside it through the ``@rule(...)`` decorator. The
runner adds identity (stable id, account, region) and metadata to each result
and guarantees the two promises every rule relies on:

* a rule that raises becomes an ERROR finding, never a missing one;
* a rule never judges a snapshot that lacks a facet it reads (an inventory
  from a narrower scan): the runner reports ERROR instead;
* a facet whose collection failed is ERROR, not PASS: rules yield it through
  ``facet_errors``/``error_result`` (tests inject failures into every facet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from auditor.findings import Finding, Severity, Status, finding_id
from auditor.manifests import MAX_IMAGE_SIZE_CPU_BYTES, MAX_IMAGE_SIZE_GPU_BYTES
from auditor.models import CallError, Collected, ImagePlatforms, RolePolicies, Snapshot

# Every rule belongs to one group (``scan --group``, ``rules``): "access" rules judge whether HealthOmics can pull
# what a workflow uses (a FAIL breaks runs); "hygiene" rules judge practices the seeds and AWS recommend
# (scanning, CloudTrail, lifecycle, scoping, pinning), whose FAIL breaks nothing today.
RULE_GROUPS = {
    "access": "whether HealthOmics can pull what a workflow uses: a FAIL breaks runs",
    "hygiene": "practices the seeds and AWS recommend (scanning, CloudTrail, lifecycle, scoping, pinning)",
}


class RuleMeta(BaseModel):
    """Everything a person or a tool needs to know about a rule, kept next to its code."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    references: list[str] = Field(default_factory=list)
    fixable: bool = False
    facets: list[str]  # inventory facets the rule reads (collection fetches only these)
    custom: bool = False
    group: str = "access"  # RULE_GROUPS: whether a FAIL breaks runs, or departs from a recommended practice

    @property
    def permissions(self) -> list[str]:
        from auditor.facets import permissions_for_facets

        return permissions_for_facets(self.facets)


class RuleContext(BaseModel):
    """Configuration a rule may read; never AWS clients."""

    required_upstreams: list[str] = Field(default_factory=list)
    service_roles: list[str] = Field(default_factory=list)
    run_lookback_days: int = 30
    image_tags_per_repository: int = 3
    # image-runnable's limits on a CPU and a GPU instance (Config.max_image_size_bytes, max_gpu_image_size_bytes)
    max_image_size_bytes: int = MAX_IMAGE_SIZE_CPU_BYTES
    max_gpu_image_size_bytes: int = MAX_IMAGE_SIZE_GPU_BYTES
    now: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Result(BaseModel):
    """What a rule says about one resource."""

    status: Status
    resource: str
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    severity: Severity | None = None  # override the rule's default (e.g. a warning)
    fixable: bool | None = None  # override the rule's default: False when only a person can fix this one


RuleFn = Callable[[Snapshot, RuleContext], Iterable[Result]]


@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    evaluate: RuleFn


REGISTRY: dict[str, Rule] = {}


def rule(
    *,
    id: str,
    title: str,
    severity: Severity,
    rationale: str,
    remediation: str,
    facets: list[str],
    references: list[str] | None = None,
    fixable: bool = False,
    group: str = "access",
) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function with its metadata."""

    def register(fn: RuleFn) -> RuleFn:
        if id in REGISTRY:
            raise ValueError(f"duplicate rule id {id!r}")
        if group not in RULE_GROUPS:
            raise ValueError(f"rule {id!r}: unknown group {group!r}; known: {', '.join(RULE_GROUPS)}")
        meta = RuleMeta(
            id=id,
            title=title,
            severity=severity,
            rationale=rationale,
            remediation=remediation,
            references=references or [],
            fixable=fixable,
            facets=facets,
            group=group,
        )
        REGISTRY[id] = Rule(meta=meta, evaluate=fn)
        return fn

    return register


def load_builtin_rules() -> dict[str, Rule]:
    from auditor import rules  # importing the package registers every rule module

    rank = {rule_id: i for i, rule_id in enumerate(rules.ORDER)}
    return dict(sorted(REGISTRY.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


# --- helpers rules share ----------------------------------------------------


def error_result(error: CallError, resource: str, what: str) -> Result:
    return Result(
        status=Status.ERROR,
        resource=resource,
        message=f"Could not read {what}: {error.describe()}",
        evidence={"api_error": error.model_dump(exclude_none=True)},
    )


def role_or_result(
    snap: Snapshot, arn: str, evidence: dict[str, Any], *, resource: str | None = None, policies: bool = True
) -> RolePolicies | Result:
    """The collected role, or the Result that stands in its place: NOT_APPLICABLE for another account's role
    (judged when that account is scanned), ERROR when it, or (``policies``) one of its policies, was not read."""
    resource = resource or arn
    if arn.split(":")[4:5] != [snap.account_id]:
        return Result(
            status=Status.NOT_APPLICABLE,
            resource=resource,
            evidence=evidence,
            message=f"Role {arn} belongs to another account; it is judged when that account is scanned.",
        )
    collected = snap.roles.get(arn)
    if collected is None:
        return Result(status=Status.ERROR, resource=resource, evidence=evidence, message="The role was not collected.")
    if collected.error is not None or collected.value is None:
        assert collected.error is not None
        return error_result(collected.error, resource, "the role")
    if policies and collected.value.errors:
        return error_result(collected.value.errors[0], resource, "one of the role's policies")
    return collected.value


def facet_errors(resource: str, **facets: Collected[Any]) -> list[Result]:
    """ERROR results for every listed facet whose collection failed."""
    return [
        error_result(collected.error, resource, name.replace("_", " "))
        for name, collected in facets.items()
        if collected.error is not None
    ]


def missing_facets(meta: RuleMeta, snapshot: Snapshot) -> list[str]:
    """Facets the rule reads that this snapshot never collected (e.g. an inventory from a narrower scan)."""
    return sorted(set(meta.facets) - set(snapshot.facets))


# --- runner ---------------------------------------------------------------------


def _to_finding(meta: RuleMeta, snapshot: Snapshot, result: Result) -> Finding:
    return Finding(
        id=finding_id(meta.id, snapshot.account_id, snapshot.region, result.resource),
        rule_id=meta.id,
        title=meta.title,
        status=result.status,
        severity=result.severity or meta.severity,
        account=snapshot.account_id,
        region=snapshot.region,
        resource=result.resource,
        message=result.message,
        evidence=result.evidence,
        remediation=meta.remediation,
        fixable=(meta.fixable if result.fixable is None else result.fixable) and result.status == Status.FAIL,
    )


def run_rule(rule_obj: Rule, snapshot: Snapshot, ctx: RuleContext) -> list[Finding]:
    meta = rule_obj.meta
    missing = missing_facets(meta, snapshot)
    if missing:
        # Judging without the data would mean PASS-by-absence; say what is missing instead.
        result = Result(
            status=Status.ERROR,
            resource=f"rule/{meta.id}",
            message=f"The inventory does not contain {', '.join(missing)}; re-collect with this rule selected.",
            evidence={"missing_facets": missing},
        )
        return [_to_finding(meta, snapshot, result)]
    try:
        results = list(rule_obj.evaluate(snapshot, ctx))
    except Exception as exc:  # a bug in one rule must not hide the others' findings
        results = [
            Result(
                status=Status.ERROR,
                resource=f"rule/{meta.id}",
                message=f"Rule failed to evaluate: {type(exc).__name__}: {exc}",
                evidence={"exception": type(exc).__name__},
            )
        ]
    if not results:
        results = [Result(status=Status.NOT_APPLICABLE, resource=f"rule/{meta.id}", message="Nothing to check here.")]
    # A stable id must be unique within a run: merge accidental duplicates, worst status wins.
    by_id: dict[str, Finding] = {}
    for result in results:
        finding = _to_finding(meta, snapshot, result)
        previous = by_id.get(finding.id)
        if previous is None or _STATUS_WEIGHT[finding.status] > _STATUS_WEIGHT[previous.status]:
            by_id[finding.id] = finding
    return list(by_id.values())


_STATUS_WEIGHT = {Status.NOT_APPLICABLE: 0, Status.PASS: 1, Status.MUTED: 2, Status.FAIL: 3, Status.ERROR: 4}


def run_rules(snapshot: Snapshot, selected: Iterable[Rule], ctx: RuleContext) -> list[Finding]:
    findings: list[Finding] = []
    for rule_obj in selected:
        findings.extend(run_rule(rule_obj, snapshot, ctx))
    return findings


def cell_error_findings(selected: Iterable[Rule], account: str, region: str, error: CallError) -> list[Finding]:
    """A whole (account, region) could not be scanned: one ERROR per selected rule."""
    out = []
    for rule_obj in selected:
        meta = rule_obj.meta
        resource = f"account/{account}/region/{region}"
        out.append(
            Finding(
                id=finding_id(meta.id, account, region, resource),
                rule_id=meta.id,
                title=meta.title,
                status=Status.ERROR,
                severity=meta.severity,
                account=account,
                region=region,
                resource=resource,
                message=f"Could not scan this account and region: {error.describe()}",
                evidence={"api_error": error.model_dump(exclude_none=True)},
                remediation=meta.remediation,
                fixable=False,
            )
        )
    return out


# --- the images workflows use, as the image rules walk them -------------------------------------------


@dataclass(frozen=True)
class InspectedImage:
    """An image in use that the scan read: what the image rules judge."""

    key: str  # ImageRef.key: "repository:tag" or "repository@digest"
    resource: str  # the finding's resource: the repository ARN with ":tag" or "@digest"
    evidence: dict[str, Any]  # image and origins, for the rule to add to
    info: ImagePlatforms


# What images_in_use reads: the images, and every facet that says which images workflows use.
IMAGES_IN_USE_FACETS = [
    "images",
    "ptc_image_listings",
    "ptc_rules",
    "repositories",
    "workflows",
    "workflow_definitions",
    "runs",
    "run_tasks",
]


def images_in_use(snap: Snapshot, what: str) -> Iterable[Result | InspectedImage]:
    """Every image workflows use, once each, or the Result that says why it (or the set) is not known.

    ``what``: what a failed read of one image failed to read, for its ERROR. An image that does not exist is
    NOT_APPLICABLE (the registry-map and workflow-image rules report missing images).
    """
    # Which images get inspected comes from these facets; if one could not be read, the image set is
    # incomplete and saying PASS for "all images in use" would be a guess.
    for key, facet, source in (
        ("ptc-rules", "pull-through cache rules", snap.ptc_rules),
        ("repositories", "repositories", snap.repositories),
        ("workflows", "workflows (their image mappings)", snap.workflows),
        ("runs", "runs", snap.runs),
    ):
        if source.error is not None:
            yield error_result(
                source.error, f"image-selection/{key}", f"{facet}, so some images in use were not inspected"
            )
    for run in snap.runs.value or [] if snap.runs.error is None else []:  # a runs ERROR already says it
        if run.tasks.error is not None:
            yield error_result(
                run.tasks.error, f"{run.arn}/tasks", "the run's tasks, so their images were not inspected"
            )
    for repo, listing in sorted(snap.image_listings.items()):
        if listing.error is not None:
            yield error_result(listing.error, snap.repository_arn(repo), "the repository's newest images")
    origins: dict[str, list[str]] = {}
    for ref in snap.image_refs:
        origins.setdefault(ref.key, []).append(ref.origin)
    seen: set[str] = set()
    for ref in snap.image_refs:
        if ref.key in seen:
            continue
        seen.add(ref.key)
        resource = (
            f"{snap.repository_arn(ref.repository)}{'@' + ref.digest if ref.digest else ':' + (ref.tag or 'latest')}"
        )
        evidence: dict[str, Any] = {"image": ref.key, "origins": origins[ref.key]}
        collected = snap.images.get(ref.key)
        if collected is None:
            yield Result(
                status=Status.ERROR, resource=resource, evidence=evidence, message="The image was not inspected."
            )
        elif collected.error is not None:
            yield error_result(collected.error, resource, what)
        elif collected.value is not None and not collected.value.exists:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref.key} does not exist in ECR (the registry-map rule reports missing destinations).",
            )
        else:
            assert collected.value is not None
            yield InspectedImage(key=ref.key, resource=resource, evidence=evidence, info=collected.value)
