"""The registry policy lets HealthOmics create and import cache repositories under every PTC prefix."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.engine import Result, RuleContext, facet_errors, rule
from auditor.findings import Severity
from auditor.grants import PTC_REGISTRY_ACTIONS, resource_policy_grants_omics
from auditor.models import Snapshot

RULE_ID = "registry-policy-allows-omics"


@rule(
    id=RULE_ID,
    title="Registry policy lets omics.amazonaws.com create and import repositories under each PTC prefix",
    severity=Severity.HIGH,
    rationale=(
        "On a first pull through a cache prefix HealthOmics itself creates the cache repository and imports the "
        "upstream image. The private registry policy must allow the service principal omics.amazonaws.com "
        "ecr:CreateRepository and ecr:BatchImportUpstreamImage on arn:aws:ecr:<region>:<account>:repository/"
        "<prefix>/*; otherwise runs fail when a task's image is not cached yet."
    ),
    remediation=(
        'Add (merge, do not replace) a statement to the registry policy: Principal {"Service": '
        '"omics.amazonaws.com"}, Action [ecr:CreateRepository, ecr:BatchImportUpstreamImage], Resource '
        "arn:aws:ecr:<region>:<account>:repository/<prefix>/* for each prefix, Condition StringEquals "
        "aws:SourceAccount <account>. Read it with `aws ecr get-registry-policy` and write the merged document with "
        "`aws ecr put-registry-policy --policy-text file://policy.json`; `omics-ecr-audit fix` does this safely."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html",
    ],
    facets=["ptc_rules", "registry_policy", "workflows"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("registry-policy", ptc_rules=snap.ptc_rules, registry_policy=snap.registry_policy)
    if errors:
        yield from errors
        return
    policy = snap.registry_policy.value
    for prefix in snap.ptc_prefixes():
        target = snap.prefix_pattern(prefix)
        verdict = resource_policy_grants_omics(policy, snap, PTC_REGISTRY_ACTIONS, target)
        evidence = {"prefix": prefix, "resource": target, **verdict.evidence()}
        if policy is not None:
            evidence["policy_excerpt"] = policy[:2000]
        message = verdict.message(
            subject="The registry policy",
            scope=target,
            granted=f"Registry policy grants omics.amazonaws.com ecr:CreateRepository and "
            f"ecr:BatchImportUpstreamImage on {target}.",
        )
        yield Result(status=verdict.status, resource=f"registry-policy/{prefix}", message=message, evidence=evidence)
