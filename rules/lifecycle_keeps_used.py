"""No lifecycle policy (of a used repository, or of the template a cache applies) expires an image in use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from auditor.rules.creation_template import covering_template

from auditor.derive import ImageUse, used_repositories
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.lifecycle import (
    LifecycleImage,
    LifecyclePolicyError,
    LifecycleRule,
    Outcome,
    evaluate,
    parse_lifecycle_policy,
)
from auditor.models import CreationTemplate, Snapshot

RULE_ID = "lifecycle-keeps-used-images"
MAX_USES = 5  # uses named per image in the evidence


def _where(uses: list[ImageUse]) -> list[str]:
    out = list(dict.fromkeys(f"workflow {u.workflow_id} ({u.origin})" for u in uses))
    return out[:MAX_USES] + ([f"… and {len(out) - MAX_USES} more"] if len(out) > MAX_USES else [])


def _ref(repository: str, image: LifecycleImage, uses: list[ImageUse]) -> str:
    tags = sorted({u.tag for u in uses if u.tag and not u.digest} & set(image.tags))
    return f"{repository}:{tags[0]}" if tags else f"{repository}@{image.digest}"


def _rule_evidence(rule: LifecycleRule) -> dict[str, Any]:
    return {"rule_priority": rule.priority, "rule_description": rule.description, "rule": dict(rule.raw)}


def _existing(snap: Snapshot, name: str, uses: list[ImageUse], now: datetime) -> Result | None:
    arn = snap.repository_arn(name)
    got = snap.used_lifecycles.get(name)
    if got is None:
        return Result(status=Status.ERROR, resource=arn, message="The repository's lifecycle policy was not collected.")
    if got.error is not None or got.value is None:
        assert got.error is not None
        return error_result(got.error, arn, "the repository's lifecycle policy or images")
    lc = got.value
    if lc.policy is None:
        return None  # nothing expires: not this rule's business
    evidence: dict[str, Any] = {"repository": name, "lifecycle_policy": lc.policy[:4000]}
    try:
        rules = parse_lifecycle_policy(lc.policy)
    except LifecyclePolicyError as exc:
        return Result(
            status=Status.ERROR,
            resource=arn,
            message=f"Cannot evaluate repository {name}'s lifecycle policy: {exc}.",
            evidence=evidence,
        )
    images = [
        LifecycleImage(digest=i.digest, tags=tuple(i.tags), pushed_at=i.pushed_at, last_pulled_at=i.last_pulled_at)
        for i in lc.images or []
    ]
    outcomes = evaluate(rules, images, now)
    by_digest = {i.digest: i for i in images}
    by_tag = {t: i for i in images for t in i.tags}
    hit: dict[str, list[ImageUse]] = {}
    absent: list[str] = []
    for use in uses:
        image = by_digest.get(use.digest) if use.digest else by_tag.get(use.tag or "latest")
        if image is None:
            absent.append(f"{use.written} (workflow {use.workflow_id}, {use.origin})")
            continue
        if image.digest in outcomes:
            hit.setdefault(image.digest, []).append(use)
    evidence["images_in_repository"] = len(images)
    if absent:
        evidence["not_in_repository"] = absent[:10]
    if not hit:
        return Result(
            status=Status.PASS,
            resource=arn,
            message=f"Repository {name}'s lifecycle policy keeps every image workflows use "
            f"({len(uses)} use(s), {len(images)} image(s) evaluated).",
            evidence=evidence,
        )
    expiring = []
    lines = []
    for digest, image_uses in hit.items():
        outcome: Outcome = outcomes[digest]
        ref = _ref(name, outcome.image, image_uses)
        where = _where(image_uses)
        expiring.append(
            {
                "image": ref,
                "digest": digest,
                "tags": list(outcome.image.tags),
                "action": outcome.kind,
                "when": "now" if outcome.now(now) else outcome.due.isoformat() if outcome.due else None,
                "used_by": where,
                **_rule_evidence(outcome.rule),
            }
        )
        lines.append(f"{outcome.describe(now)}: {ref}, used by {'; '.join(where)}")
    evidence["expiring"] = expiring
    cached = any(u.ptc_prefix for u in uses)
    return Result(
        status=Status.FAIL,
        resource=arn,
        message=f"Repository {name}'s lifecycle policy removes images workflows use — "
        + " | ".join(lines)
        + (
            ". The cache pulls an expired image again only while the upstream still serves that tag, possibly as "
            "a different image."
            if cached
            else "."
        ),
        evidence=evidence,
    )


def _describe_template(outcome: Outcome, named: int) -> str:
    verb = "expires" if outcome.kind == "expire" else "archives"
    rule = outcome.rule
    if rule.count_type == "imageCountMoreThan":
        return (
            f"{rule.label} {verb} it once the repository holds more than {rule.count_number} matching images "
            f"(the workflows name {named})"
        )
    basis = "last pull" if rule.count_type == "sinceImagePulled" else "first pull, which caches it"
    return f"{rule.label} {verb} it {rule.count_number} days after its {basis}"


def _template(template: CreationTemplate, repos: dict[str, list[ImageUse]], now: datetime) -> Result:
    resource = f"creation-template/{template.prefix}"
    assert template.lifecycle_policy is not None
    evidence: dict[str, Any] = {
        "template": template.prefix,
        "repositories": sorted(repos),
        "lifecycle_policy": template.lifecycle_policy[:4000],
    }
    try:
        rules = parse_lifecycle_policy(template.lifecycle_policy)
    except LifecyclePolicyError as exc:
        return Result(
            status=Status.ERROR,
            resource=resource,
            message=f"Cannot evaluate creation template {template.prefix}'s lifecycle policy: {exc}.",
            evidence=evidence,
        )
    expiring = []
    lines = []
    for name, uses in sorted(repos.items()):
        # What the cache will hold: one image per tag or digest the workflows name, pushed when first pulled (now).
        # A digest pulled through the cache is stored untagged (GUESS, docs/judgement-calls.md).
        named: dict[str, tuple[LifecycleImage, list[ImageUse]]] = {}
        for use in uses:
            key = use.digest or f"tag:{use.tag or 'latest'}"
            image = LifecycleImage(digest=key, tags=() if use.digest else (use.tag or "latest",), pushed_at=now)
            named.setdefault(key, (image, []))[1].append(use)
        outcomes = evaluate(rules, [image for image, _ in named.values()], now)
        for key, (image, image_uses) in named.items():
            outcome = outcomes.get(key)
            if outcome is None:
                continue
            ref = f"{name}@{key}" if image_uses[0].digest else f"{name}:{image.tags[0]}"
            where = _where(image_uses)
            expiring.append({"image": ref, "action": outcome.kind, "used_by": where, **_rule_evidence(outcome.rule)})
            lines.append(f"{_describe_template(outcome, len(named))}: {ref}, used by {'; '.join(where)}")
    if not expiring:
        return Result(
            status=Status.PASS,
            resource=resource,
            message=f"Creation template {template.prefix}'s lifecycle policy keeps every image workflows name in "
            f"the {len(repos)} cache repositor{'y' if len(repos) == 1 else 'ies'} it will create.",
            evidence=evidence,
        )
    evidence["expiring"] = expiring
    return Result(
        status=Status.FAIL,
        resource=resource,
        message=f"Creation template {template.prefix}'s lifecycle policy, applied to the cache repositories it "
        "creates, removes images workflows use — " + " | ".join(lines) + ".",
        evidence=evidence,
    )


@rule(
    id=RULE_ID,
    title="No lifecycle policy expires an image a workflow uses (used repositories and the templates caches apply)",
    severity=Severity.MEDIUM,
    rationale=(
        "Users of peer tools report lifecycle policies on cache repositories deleting tags still in use. ECR applies "
        "a lifecycle policy's rules by rulePriority, each image taken by at most one rule and protected from lower "
        "rules once a higher rule's tag selection matches it; imageCountMoreThan keeps the newest images and "
        "sinceImagePushed expires images a number of days after their push. An image a workflow uses that a rule "
        "selects disappears within 24 hours of qualifying, and the next run fails to pull it (a cache re-fetches it "
        "only if the upstream still has it). The policy is evaluated here against the repository's images (ECR "
        "lifecycle evaluation rules), and a PULL_THROUGH_CACHE creation template's lifecycle policy against the "
        "images the workflows name under its prefix."
    ),
    remediation=(
        "Add a higher-priority rule whose tag selection matches the tags workflows use (a tagPatternList such as "
        '["1.*"] with countType imageCountMoreThan and a large countNumber protects them: a lower rule cannot '
        "expire an image a higher rule selects), or narrow the expiring rule's tagPatternList/tagPrefixList; check "
        "with `aws ecr start-lifecycle-policy-preview` before `aws ecr put-lifecycle-policy`. For a creation "
        "template, `aws ecr update-repository-creation-template --lifecycle-policy`. Pinning workflows to digests "
        "does not help against count or age rules: pin and protect."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_examples.html",
    ],
    facets=[
        "repositories",
        "ptc_rules",
        "templates",
        "workflows",
        "workflow_definitions",
        "run_tasks",
        "used_lifecycles",
    ],
    group="hygiene",
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("lifecycle-policies", repositories=snap.repositories, workflows=snap.workflows)
    if errors:
        yield from errors
        return
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose task images are in use")
    existing = {r.name for r in snap.repositories.value or []}
    pending: dict[str, dict[str, list[ImageUse]]] = {}
    for name, uses in sorted(used_repositories(snap).items()):
        if name in existing:
            result = _existing(snap, name, uses, ctx.now)
            if result is not None:
                yield result
            continue
        prefix = next((u.ptc_prefix for u in uses if u.ptc_prefix), None)
        if prefix is not None:  # created by the cache on the first pull, with its template's lifecycle policy
            pending.setdefault(prefix, {})[name] = uses
    if not pending:
        return
    if snap.templates.error is not None:
        yield error_result(snap.templates.error, "repository-creation-templates", "the creation templates")
        return
    by_template: dict[str, tuple[CreationTemplate, dict[str, list[ImageUse]]]] = {}
    for prefix, repos in pending.items():
        template = covering_template(snap.templates.value or [], prefix)
        if template is None or not template.lifecycle_policy:
            continue
        by_template.setdefault(template.prefix, (template, {}))[1].update(repos)
    for template, repos in by_template.values():
        yield _template(template, repos, ctx.now)
