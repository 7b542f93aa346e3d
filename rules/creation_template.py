"""A repository creation template applied for PULL_THROUGH_CACHE covers every PTC prefix and grants omics pulls."""

from __future__ import annotations

from collections.abc import Iterable

from auditor import upstreams
from auditor.engine import Result, RuleContext, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS_PULL_ACTIONS, resource_policy_grants_omics
from auditor.models import CreationTemplate, Snapshot

RULE_ID = "creation-template-grants-omics"
PTC = "PULL_THROUGH_CACHE"


def covering_template(templates: list[CreationTemplate], ptc_prefix: str) -> CreationTemplate | None:
    """The template ECR applies to a repository created under ``ptc_prefix``.

    Longest matching prefix among templates applied for PULL_THROUGH_CACHE, ROOT as the
    fallback (docs/aws-semantics.md §2; longest-match precedence is documented there as an assumption).
    A probe name under the prefix stands for "any repository the rule will create".
    """
    probe = f"{ptc_prefix.rstrip('/')}/x" if ptc_prefix != "ROOT" else "x"
    usable = {t.prefix: t for t in templates if PTC in t.applied_for}
    best = upstreams.longest_prefix(list(usable), probe)
    return usable.get(best) if best else None


@rule(
    id=RULE_ID,
    title="A PULL_THROUGH_CACHE creation template covers each PTC prefix and lets omics pull",
    severity=Severity.HIGH,
    rationale=(
        "Repositories created by a pull-through cache get their repository policy only from the repository "
        "creation template that matches them (longest prefix, else ROOT) and is applied for PULL_THROUGH_CACHE. "
        "Without a template granting omics.amazonaws.com ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, every "
        "newly cached repository is unreadable to HealthOmics."
    ),
    remediation=(
        "Create a template for the prefix: `aws ecr create-repository-creation-template --prefix <prefix> "
        "--applied-for PULL_THROUGH_CACHE --repository-policy file://omics-pull.json`, or add the omics pull "
        "statement to the existing template's repository policy with `aws ecr update-repository-creation-template`."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html",
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
    ],
    facets=["ptc_rules", "templates", "workflows"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("repository-creation-templates", ptc_rules=snap.ptc_rules, templates=snap.templates)
    if errors:
        yield from errors
        return
    templates = snap.templates.value or []
    for prefix in snap.ptc_prefixes():
        resource = f"creation-template-coverage/{prefix}"
        template = covering_template(templates, prefix)
        ignored = [
            t.prefix
            for t in templates
            if PTC not in t.applied_for and upstreams.prefix_matches(t.prefix, f"{prefix}/x")
        ]
        if template is None:
            yield Result(
                status=Status.FAIL,
                resource=resource,
                message=f"No repository creation template applied for PULL_THROUGH_CACHE covers PTC prefix {prefix!r}"
                + (f" (templates {ignored} match but are not applied for PULL_THROUGH_CACHE)" if ignored else "")
                + "; new cache repositories get no repository policy.",
                evidence={"prefix": prefix, "templates": [t.prefix for t in templates], "not_applied_for_ptc": ignored},
            )
            continue
        verdict = resource_policy_grants_omics(
            template.repository_policy, snap, OMICS_PULL_ACTIONS, snap.prefix_pattern(prefix)
        )
        evidence = {
            "prefix": prefix,
            "template_prefix": template.prefix,
            "applied_for": template.applied_for,
            **verdict.evidence(),
        }
        if template.repository_policy:
            evidence["policy_excerpt"] = template.repository_policy[:2000]
        message = verdict.message(
            subject=f"Template {template.prefix!r} (covering {prefix!r})",
            scope=snap.prefix_pattern(prefix),
            granted=f"Template {template.prefix!r} covers {prefix!r} and grants omics.amazonaws.com pull access.",
        )
        yield Result(status=verdict.status, resource=resource, message=message, evidence=evidence)
