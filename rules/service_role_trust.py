"""Every HealthOmics service role trusts omics.amazonaws.com to assume it.

A run's role that HealthOmics cannot assume fails the run before any container is pulled. The trust
policy is judged with the project's one evaluator (``auditor.grants.service_can_assume``): an
explicit Deny wins, conditions are evaluated against the request HealthOmics is taken to make, and a
condition the auditor cannot decide is ERROR naming the condition key, never PASS.

The request context is documented in docs/policy-evaluation.md ("Service role trust"): the keys AWS
documents for every service-principal request are derived by the evaluator; ``aws:SourceAccount`` (the
account) and, for a role known from a run, ``aws:SourceArn`` (that run's ARN) are a **GUESS** — the
HealthOmics documentation shows only an unconditional trust policy and does not say which source keys
it sends when it assumes the role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.engine import Result, RuleContext, error_result, role_or_result, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS, service_can_assume
from auditor.models import Snapshot

RULE_ID = "service-role-trusts-omics"


def _roles_to_check(snap: Snapshot) -> dict[str, dict[str, Any]]:
    """Role ARN -> {"runs": [run ARNs], "configured": bool}, in a stable order."""
    roles: dict[str, dict[str, Any]] = {}
    for run in snap.runs.value or []:
        if run.role_arn:
            roles.setdefault(run.role_arn, {"runs": [], "configured": False})["runs"].append(run.arn)
    for source in snap.service_roles.value or []:
        if "configured" in source.reasons:
            roles.setdefault(source.arn, {"runs": [], "configured": False})["configured"] = True
    return dict(sorted(roles.items()))


def request_contexts(account: str, run_arns: list[str]) -> list[dict[str, list[str] | None]]:
    """The contexts HealthOmics is taken to send when it assumes the role (GUESS, see the module docstring).

    One per run the role served (aws:SourceArn = the run ARN); a role known only from configuration gets
    one context without aws:SourceArn, so a trust conditioned on it is undecidable (ERROR), not assumed.
    """
    base: dict[str, list[str] | None] = {"aws:SourceAccount": [account]}
    if not run_arns:
        return [base]
    return [{**base, "aws:SourceArn": [arn]} for arn in run_arns]


@rule(
    id=RULE_ID,
    title="HealthOmics service roles trust omics.amazonaws.com to assume them",
    severity=Severity.HIGH,
    rationale=(
        "HealthOmics assumes the run's service role (sts:AssumeRole as omics.amazonaws.com) before it does "
        "anything else for the run; a role whose trust policy does not allow that, or denies it, fails every "
        "run that names it. Checked for every role a recent run used and every role configured as a service "
        "role, with the trust policy judged by the same evaluator as every other policy."
    ),
    remediation=(
        "Give the role the trust policy HealthOmics documents: "
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"omics.amazonaws.com"},'
        '"Action":"sts:AssumeRole"}]} — `aws iam update-assume-role-policy --role-name <role> --policy-document '
        "file://trust.json`; if you keep confused-deputy conditions, limit aws:SourceAccount to this account and "
        "remove any Deny that matches omics.amazonaws.com."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-service.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
    ],
    facets=["service_roles", "roles", "runs"],
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    if snap.service_roles.error is not None and snap.service_roles.value is None:
        # A failed iam:ListRoles still leaves the configured roles and the runs' roles known (the collector
        # keeps them beside the error); only when nothing came back are configured roles unknown.
        yield error_result(snap.service_roles.error, "iam-roles", "the list of configured service roles")
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose roles must trust HealthOmics")
    for arn, known in _roles_to_check(snap).items():
        evidence: dict[str, Any] = {"role": arn, "runs": known["runs"], "configured": known["configured"]}
        # The trust policy comes with GetRole itself: a policy of the role that could not be read does not matter.
        role = role_or_result(snap, arn, evidence, policies=False)
        if isinstance(role, Result):
            yield role
            continue
        contexts = request_contexts(snap.account_id, known["runs"])
        verdict = service_can_assume(role.trust_policy, arn, contexts, OMICS)
        evidence.update(verdict.evidence())
        if verdict.status == Status.PASS:
            message = f"Role {role.name} lets {OMICS} assume it."
        elif verdict.status == Status.FAIL:
            what = "denies" if verdict.denied else "does not allow"
            message = f"The trust policy of role {role.name} {what} sts:AssumeRole by {OMICS}: " + "; ".join(
                verdict.reasons
            )
        else:
            message = f"Cannot decide whether role {role.name} lets {OMICS} assume it: " + "; ".join(verdict.reasons)
        yield Result(status=verdict.status, resource=arn, evidence=evidence, message=message)
