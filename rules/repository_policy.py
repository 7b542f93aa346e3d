"""Cache repositories, image-mapping destinations and directly used repositories carry the omics pull policy."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.derive import relevant_repositories
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS_PULL_ACTIONS, OPTIONAL_PULL_ACTIONS, pull_notes, resource_policy_grants_omics
from auditor.models import Snapshot

RULE_ID = "repository-policy-grants-omics"


@rule(
    id=RULE_ID,
    title="Every repository workflows use (cache, image-mapping destination, or direct) lets omics.amazonaws.com pull",
    severity=Severity.HIGH,
    rationale=(
        "Creation templates act only when a repository is created; repositories that existed before the template "
        "(or were created by hand for an image mapping, or built and pushed by a team and named in a workflow "
        "definition) keep whatever policy they had. HealthOmics pulls as "
        "omics.amazonaws.com and needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer in each repository's "
        "policy, as the documented creation template grants; a policy without ecr:BatchCheckLayerAvailability "
        "passes with an info note."
    ),
    remediation=(
        "Merge an omics pull statement into the repository policy (`aws ecr get-repository-policy`, add the "
        'statement, `aws ecr set-repository-policy`): Principal {"Service": "omics.amazonaws.com"}, Action '
        "[ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, ecr:BatchCheckLayerAvailability], Condition StringEquals "
        "aws:SourceAccount <account>. `omics-ecr-audit fix` merges it without touching other statements."
    ),
    references=["https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html"],
    facets=["repositories", "repository_policies", "ptc_rules", "workflows", "workflow_definitions", "run_tasks"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("repositories", repositories=snap.repositories, ptc_rules=snap.ptc_rules)
    if errors:
        yield from errors
        return
    if snap.workflows.error is not None:
        yield error_result(snap.workflows.error, "workflows", "the workflows whose image mappings name repositories")
    for name, reasons in relevant_repositories(snap).items():
        arn = snap.repository_arn(name)
        policy = snap.repository_policies.get(name)
        if policy is None:
            yield Result(status=Status.ERROR, resource=arn, message="The repository policy was not collected.")
            continue
        if policy.error is not None:
            yield error_result(policy.error, arn, "the repository policy")
            continue
        verdict = resource_policy_grants_omics(policy.value, snap, OMICS_PULL_ACTIONS, arn)
        evidence = {"repository": name, "why_checked": reasons, **verdict.evidence()}
        notes: list[str] = []
        if verdict.status == Status.PASS:
            notes = pull_notes(resource_policy_grants_omics(policy.value, snap, OPTIONAL_PULL_ACTIONS, arn))
        if notes:
            evidence["notes"] = notes
        if policy.value:
            evidence["policy_excerpt"] = policy.value[:2000]
        if policy.value is None:
            message = f"Repository {name} has no repository policy, so HealthOmics cannot pull from it."
        else:
            message = verdict.message(
                subject=f"Repository {name}'s policy",
                scope=arn,
                granted=f"Repository {name} lets omics.amazonaws.com pull"
                + (f" (note: {'; '.join(notes)})." if notes else "."),
            )
        yield Result(status=verdict.status, resource=arn, message=message, evidence=evidence)
