"""A pull-through cache rule exists, and works, for every upstream registry in use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor import upstreams
from auditor.collect import needs_credentials
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import PtcRule, Snapshot
from auditor.refs import InvalidReference, parse_reference

RULE_ID = "ptc-rule-coverage"
SECRET_PREFIX = "ecr-pullthroughcache/"


def _needed_upstreams(snap: Snapshot, ctx: RuleContext) -> dict[str, list[str]]:
    """PTC upstream URL -> why it is needed (config, workflow registry maps, image mappings)."""
    needed: dict[str, list[str]] = {}
    for url in ctx.required_upstreams:
        up = upstreams.upstream_for_ptc_url(url)
        canonical = up.ptc_url if up and up.ptc_url else url
        needed.setdefault(canonical, []).append("required by configuration")
    existing = {r.name for r in snap.repositories.value or []}
    for wf in snap.workflows.value or []:
        crm = wf.registry_map.value
        if crm is None:
            continue
        for mapping in crm.registry_mappings:
            if mapping.ecr_account_id and mapping.ecr_account_id != snap.account_id:
                # Served by another account's cache rule (the registry-map rule skips it the same
                # way); demanding a rule here was a false FAIL.
                continue
            up = upstreams.upstream_for_ptc_url(mapping.upstream_registry_url)
            if up is None or not up.healthomics_ptc_supported or (mapping.credential_arn and up.omics_copy_supported):
                continue  # not a PTC upstream (the registry-map rule judges those)
            url = up.ptc_url or mapping.upstream_registry_url
            needed.setdefault(url, []).append(f"registry map of workflow {wf.id} ({mapping.ecr_repository_prefix})")
        for image_mapping in crm.image_mappings:
            try:
                source = parse_reference(image_mapping.source_image or "")
                dest = parse_reference(image_mapping.destination_image or "")
            except InvalidReference:
                continue  # malformed mappings are the registry-map rule's finding
            if dest.registry != snap.registry_host():
                # A destination in another account or region is cached (or not) by that registry,
                # never through this one's rules; it used to be counted here as a false FAIL.
                continue
            up = upstreams.upstream_for_registry(source.registry)
            # A destination that already exists was staged by hand; one that does not can
            # only appear through a pull-through cache of the source's upstream.
            if up is None or not up.healthomics_ptc_supported or dest.repository in existing:
                continue
            url = up.ptc_url or source.registry
            needed.setdefault(url, []).append(f"image mapping of workflow {wf.id} ({image_mapping.source_image})")
    return needed


def rules_for_upstream(url: str, rules: list[PtcRule]) -> list[PtcRule]:
    """The cache rules serving upstream ``url`` (any spelling of a fixed upstream; per-customer hosts exactly)."""
    want = upstreams.upstream_for_ptc_url(url)
    out = []
    for r in rules:
        have = upstreams.upstream_for_ptc_url(r.upstream_registry_url)
        if r.upstream_registry_url == url or (
            want is not None and have is not None and want.key == have.key and want.ptc_url is not None
        ):
            out.append(r)
    return out


def _check_rule(snap: Snapshot, r: PtcRule) -> Result:
    resource = f"pull-through-cache-rule/{r.ecr_repository_prefix}"
    evidence: dict[str, Any] = {"rule": r.model_dump(mode="json", exclude_none=True)}
    up = upstreams.upstream_for_ptc_url(r.upstream_registry_url)
    problems: list[str] = []
    if up is not None and up.key == "docker-hub" and not upstreams.is_canonical_ptc_url(r.upstream_registry_url):
        problems.append(f"Docker Hub must be configured as registry-1.docker.io, not {r.upstream_registry_url}")
    if up is not None and not up.healthomics_ptc_supported:
        problems.append(f"HealthOmics does not support pull through cache from {up.key} upstreams")
    if not r.credential_arn:
        if needs_credentials(r.upstream_registry_url):
            problems.append("this upstream needs a Secrets Manager credential but the rule has no credentialArn")
    else:
        # A named credential is checked whatever the upstream: a Quay rule whose secret was deleted is
        # not "usable" just because Quay would also serve it anonymously (docs/judgement-calls.md).
        secret = snap.secrets.get(r.credential_arn)
        if secret is None or secret.error is not None:
            if secret is not None and secret.error is not None:
                return error_result(secret.error, resource, "the rule's credential secret")
            return Result(
                status=Status.ERROR,
                resource=resource,
                evidence=evidence,
                message="The rule's credential secret was not collected.",
            )
        info = secret.value
        if info is None or not info.exists:
            problems.append(f"credential secret {r.credential_arn} does not exist")
        else:
            if not info.name.startswith(SECRET_PREFIX):
                problems.append(f"secret name {info.name!r} does not start with {SECRET_PREFIX!r}")
            if info.deleted_date is not None:
                problems.append(f"secret {info.name!r} is scheduled for deletion on {info.deleted_date:%Y-%m-%d}")
        validation = snap.ptc_validations.get(r.ecr_repository_prefix)
        if validation is None:
            return Result(
                status=Status.ERROR,
                resource=resource,
                evidence=evidence,
                message="ValidatePullThroughCacheRule was not called for this rule.",
            )
        if validation.error is not None:
            return error_result(validation.error, resource, "the rule's validation")
        if validation.value and not validation.value.is_valid:
            problems.append(f"ValidatePullThroughCacheRule says invalid: {validation.value.failure or 'no reason'}")
            evidence["validation"] = validation.value.model_dump(mode="json")
    if problems:
        evidence["problems"] = problems
        return Result(
            status=Status.FAIL,
            resource=resource,
            evidence=evidence,
            fixable=False,  # repairing a rule means new credentials or delete-and-recreate: a person's call
            message=f"Pull through cache rule {r.ecr_repository_prefix!r} is broken: " + "; ".join(problems),
        )
    return Result(
        status=Status.PASS,
        resource=resource,
        evidence=evidence,
        message=f"Pull through cache rule {r.ecr_repository_prefix!r} → {r.upstream_registry_url} is usable.",
    )


@rule(
    id=RULE_ID,
    title="A working pull-through cache rule exists for every upstream registry in use",
    severity=Severity.HIGH,
    rationale=(
        "HealthOmics can only pull public images through an ECR pull-through cache rule in the same region. "
        "A missing rule, Docker Hub configured as docker.io instead of registry-1.docker.io, or a rule whose "
        "Secrets Manager credential is missing, misnamed, scheduled for deletion or rejected upstream makes "
        "every task using that registry fail at run time."
    ),
    remediation=(
        "Create the rule: `aws ecr create-pull-through-cache-rule --ecr-repository-prefix <prefix> "
        "--upstream-registry-url <url> [--credential-arn <arn of secret ecr-pullthroughcache/...>]`. For Docker "
        "Hub use registry-1.docker.io. For authenticated upstreams store `username` and `accessToken` in a secret "
        "named `ecr-pullthroughcache/<name>` in the same account and region, then run "
        "`aws ecr validate-pull-through-cache-rule --ecr-repository-prefix <prefix>`."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-secret.html",
        "https://docs.aws.amazon.com/omics/latest/dev/containers-ptc-registries.html",
    ],
    facets=["ptc_rules", "ptc_validations", "secrets", "workflows", "repositories"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("pull-through-cache-rules", ptc_rules=snap.ptc_rules)
    if errors:
        yield from errors
        return
    rules = snap.ptc_rules.value or []
    if snap.workflows.error is not None:
        yield error_result(snap.workflows.error, "workflows", "the workflows whose registry maps name upstreams")
    for url, reasons in sorted(_needed_upstreams(snap, ctx).items()):
        matching = rules_for_upstream(url, rules)
        if not matching:
            yield Result(
                status=Status.FAIL,
                resource=f"upstream/{url}",
                # `fix` creates rules only for upstreams that need no credential; it never invents a secret.
                fixable=not needs_credentials(url),
                message=f"No pull-through cache rule for upstream {url}, which is needed by: {'; '.join(reasons)}.",
                evidence={
                    "upstream_registry_url": url,
                    "needed_by": reasons,
                    "existing_rules": {r.ecr_repository_prefix: r.upstream_registry_url for r in rules},
                },
            )
        else:
            yield Result(
                status=Status.PASS,
                resource=f"upstream/{url}",
                message=f"Upstream {url} has pull-through cache rule(s) "
                f"{', '.join(r.ecr_repository_prefix for r in matching)}.",
                evidence={
                    "upstream_registry_url": url,
                    "needed_by": reasons,
                    "rules": [r.ecr_repository_prefix for r in matching],
                },
            )
    for r in rules:
        yield _check_rule(snap, r)
