"""Every HealthOmics service role may pull from the repositories its workflows use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.derive import image_mapping_destinations
from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS_PULL_ACTIONS, OPTIONAL_PULL_ACTIONS, Verdict, identity_grants, pull_notes
from auditor.models import RolePolicies, Snapshot

RULE_ID = "service-role-can-pull"


def pull_targets(snap: Snapshot) -> list[str]:
    """ARN patterns of the repositories HealthOmics runs pull from in this account and region."""
    targets = [snap.prefix_pattern(p) for p in snap.ptc_prefixes()]
    host = snap.registry_host()
    for _wf, ref in image_mapping_destinations(snap):
        if ref is not None and ref.registry == host:
            arn = snap.repository_arn(ref.repository)
            if arn not in targets:
                targets.append(arn)
    return targets


def _judge(
    role: RolePolicies,
    targets: list[str],
    session_policy: str | None,
    account: str,
    actions: tuple[str, ...] = OMICS_PULL_ACTIONS,
) -> dict[str, Verdict]:
    docs = list(role.inline_policies.values()) + list(role.attached_policies.values())
    per_target: dict[str, Verdict] = {}
    for target in targets:
        per_target[target] = identity_grants(
            docs,
            actions,
            target,
            boundary=role.permissions_boundary,
            session_policy=session_policy,
            principal_arn=role.arn,
            account=account,
        )
    return per_target


@rule(
    id=RULE_ID,
    title="HealthOmics service roles are allowed to pull from the cache and mapped repositories",
    severity=Severity.HIGH,
    rationale=(
        "A run's service role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repositories its "
        "tasks use (ecr:BatchCheckLayerAvailability missing is only an info note). The check judges the role's "
        "inline and attached policies together with its permissions boundary and, for recent runs, the run's "
        "session policy; an explicit Deny anywhere or a boundary that omits the actions blocks the pull."
    ),
    remediation=(
        "Attach an inline policy to the role granting the pull actions (ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer, and ecr:BatchCheckLayerAvailability for good measure) on "
        "arn:aws:ecr:<region>:<account>:repository/<prefix>/* for each PTC prefix (and on each image-mapping "
        "destination repository): `aws iam put-role-policy --role-name <role> --policy-name omics-ecr-pull "
        "--policy-document file://pull.json`; make sure any permissions boundary allows them too."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-service.html",
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
    ],
    facets=["service_roles", "roles", "ptc_rules", "workflows", "runs"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("iam-roles", ptc_rules=snap.ptc_rules)
    if errors:
        yield from errors
        return
    if snap.service_roles.error is not None:
        # Roles known from runs and configuration are still judged below.
        yield error_result(snap.service_roles.error, "iam-roles", "the list of roles trusting omics.amazonaws.com")
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose roles must be checked")
    targets = pull_targets(snap)
    sessions: dict[str, dict[str, str]] = {}
    for run in snap.runs.value or []:
        if run.role_arn and run.session_policy:
            sessions.setdefault(run.role_arn, {})[run.id] = run.session_policy
    for source in snap.service_roles.value or []:
        arn = source.arn
        evidence: dict[str, Any] = {"role": arn, "why_checked": source.reasons}
        if arn.split(":")[4:5] != [snap.account_id]:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=arn,
                evidence=evidence,
                message=f"Role {arn} belongs to another account; it is judged when that account is scanned.",
            )
            continue
        collected = snap.roles.get(arn)
        if collected is None:
            yield Result(status=Status.ERROR, resource=arn, evidence=evidence, message="The role was not collected.")
            continue
        if collected.error is not None:
            yield error_result(collected.error, arn, "the role")
            continue
        role = collected.value
        assert role is not None
        if role.errors:
            yield error_result(role.errors[0], arn, "one of the role's policies")
            continue
        if not targets:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=arn,
                evidence=evidence,
                message="No pull-through cache prefix or image mapping in this region to pull from.",
            )
            continue
        problems: list[str] = []
        undecided: list[str] = []
        details: dict[str, dict[str, Any]] = {}
        scenarios: list[tuple[str, str | None]] = [("role policies", None)]
        scenarios += [(f"session policy of run {run_id}", pol) for run_id, pol in sessions.get(arn, {}).items()]
        for label, session_policy in scenarios:
            for target, verdict in _judge(role, targets, session_policy, snap.account_id).items():
                if verdict.status == Status.PASS:
                    continue
                details[f"{label} → {target}"] = verdict.evidence()
                lacking = verdict.denied + verdict.missing
                if verdict.status == Status.FAIL:
                    problems.append(f"{label}: {', '.join(lacking)} not allowed on {target}")
                else:
                    undecided.append(f"{label}: undecidable on {target} ({'; '.join(verdict.reasons)})")
        evidence.update(
            {
                "targets": targets,
                "inline_policies": sorted(role.inline_policies),
                "attached_policies": sorted(role.attached_policies),
                "permissions_boundary": role.permissions_boundary_arn,
                "details": details,
            }
        )
        if problems:
            yield Result(
                status=Status.FAIL,
                resource=arn,
                evidence=evidence,
                message=f"Role {role.name} cannot pull what HealthOmics needs: " + "; ".join(problems),
            )
        elif undecided:
            yield Result(
                status=Status.ERROR,
                resource=arn,
                evidence=evidence,
                message=f"Cannot decide whether role {role.name} may pull: " + "; ".join(undecided),
            )
        else:
            notes: list[str] = []
            for _, session_policy in scenarios:
                optional = _judge(role, targets, session_policy, snap.account_id, OPTIONAL_PULL_ACTIONS)
                for verdict in optional.values():
                    notes += [n for n in pull_notes(verdict) if n not in notes]
            if notes:
                evidence["notes"] = notes
            yield Result(
                status=Status.PASS,
                resource=arn,
                evidence=evidence,
                message=f"Role {role.name} may pull from all {len(targets)} cache/mapped repository scopes"
                + (f" (note: {'; '.join(notes)})." if notes else "."),
            )
