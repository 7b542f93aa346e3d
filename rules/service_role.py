"""Every HealthOmics service role may pull from the repositories its workflows use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.derive import used_repositories
from auditor.engine import Result, RuleContext, error_result, facet_errors, role_or_result, rule
from auditor.findings import Severity, Status
from auditor.grants import OMICS_PULL_ACTIONS, OPTIONAL_PULL_ACTIONS, Verdict, access_grants, pull_notes
from auditor.models import RolePolicies, Snapshot

RULE_ID = "service-role-can-pull"


def role_workflows(snap: Snapshot, role_arn: str) -> list[str]:
    """Ids of the workflows whose recent runs used this role, in first-seen order."""
    out: list[str] = []
    for run in snap.runs.value or []:
        if run.role_arn == role_arn and run.workflow_id and run.workflow_id not in out:
            out.append(run.workflow_id)
    return out


def pull_targets(snap: Snapshot, role_arn: str) -> dict[str, list[str]]:
    """Repository ARN -> where it is used, for what the role's workflows use in this account and region.

    A role is held to exactly what the workflows it runs use (their definitions, resolved through their maps,
    and their recent runs' task images): a least-privilege role scoped to its own workflows passes, whatever
    other teams cache or map. Other accounts' repositories are the cross-account rule's question.
    """
    workflows = set(role_workflows(snap, role_arn))
    targets: dict[str, list[str]] = {}
    for name, uses in used_repositories(snap).items():
        for use in uses:
            if use.workflow_id in workflows:
                where = f"workflow {use.workflow_id} ({use.origin})"
                targets.setdefault(snap.repository_arn(name), [])
                if where not in targets[snap.repository_arn(name)]:
                    targets[snap.repository_arn(name)].append(where)
    return targets


def can_pull(
    snap: Snapshot,
    role: RolePolicies,
    target: str,
    session_policy: str | None,
    *,
    documents: list[dict[str, Any]] | None = None,
    actions: tuple[str, ...] = OMICS_PULL_ACTIONS,
) -> Verdict:
    """May ``role`` (its policies, or ``documents`` in their place) pull from repository ARN ``target``?

    All policies count, as AWS evaluates them: the role's identity policies, boundary and the run's session
    policy, and the repository's own policy where the scan read it (within one account a repository policy
    naming the role grants on its own, limited by the boundary and session policy).
    """
    name = target.split(":repository/", 1)[-1]
    collected = snap.repository_policies.get(name)
    repository_policy = collected.value if collected is not None and collected.ok else None
    if documents is None:
        documents = list(role.inline_policies.values()) + list(role.attached_policies.values())
    return access_grants(
        actions,
        target,
        principal_arn=role.arn,
        identity_documents=documents,
        boundary=role.permissions_boundary,
        session_policy=session_policy,
        resource_policy=repository_policy,
    )


def _judge(
    snap: Snapshot,
    role: RolePolicies,
    targets: list[str],
    session_policy: str | None,
    actions: tuple[str, ...] = OMICS_PULL_ACTIONS,
) -> dict[str, Verdict]:
    return {target: can_pull(snap, role, target, session_policy, actions=actions) for target in targets}


@rule(
    id=RULE_ID,
    title="Each HealthOmics run role may pull from every repository its workflows use",
    severity=Severity.HIGH,
    rationale=(
        "A run's service role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repositories its "
        "workflows use: the images their definitions name (resolved through their registry maps) and their recent "
        "runs' task images; nothing more is demanded, so a least-privilege role passes "
        "(ecr:BatchCheckLayerAvailability missing is only an info note). The check judges the role's "
        "inline and attached policies together with its permissions boundary and, for recent runs, the run's "
        "session policy; an explicit Deny anywhere or a boundary that omits the actions blocks the pull."
    ),
    remediation=(
        "Attach an inline policy to the role granting the pull actions (ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer, and ecr:BatchCheckLayerAvailability for good measure) on "
        "each repository ARN the role's workflows use (the finding lists them): "
        "`aws iam put-role-policy --role-name <role> --policy-name omics-ecr-pull "
        "--policy-document file://pull.json`; make sure any permissions boundary allows them too."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-service.html",
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
    ],
    facets=["service_roles", "roles", "workflows", "workflow_definitions", "runs", "run_tasks", "repository_policies"],
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("iam-roles", workflows=snap.workflows)
    if errors:
        yield from errors
        return
    if snap.service_roles.error is not None:
        # Roles known from runs and configuration are still judged below.
        yield error_result(snap.service_roles.error, "iam-roles", "the list of roles trusting omics.amazonaws.com")
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "omics-runs", "the runs whose roles must be checked")
    sessions: dict[str, dict[str, str]] = {}
    for run in snap.runs.value or []:
        if run.role_arn and run.session_policy:
            sessions.setdefault(run.role_arn, {})[run.id] = run.session_policy
    for source in snap.service_roles.value or []:
        arn = source.arn
        evidence: dict[str, Any] = {"role": arn, "why_checked": source.reasons}
        role = role_or_result(snap, arn, evidence)
        if isinstance(role, Result):
            yield role
            continue
        workflows = role_workflows(snap, arn)
        if not workflows:
            if snap.runs.error is not None:
                yield error_result(snap.runs.error, arn, "the runs, so what this role must pull is not known")
                continue
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=arn,
                evidence=evidence,
                message=f"Role {role.name} ran no HealthOmics run in the lookback window, so there is nothing it "
                "must pull: a role is judged against what the workflows it runs use.",
            )
            continue
        uses = pull_targets(snap, arn)
        targets = list(uses)
        # What may be missing from the targets: definitions that could not be read, runs whose tasks could not.
        unread = [
            f"the definition of workflow {w.id}"
            for w in snap.workflows.value or []
            if w.id in workflows and w.definition.error is not None
        ]
        unread += [
            f"the tasks of run {r.id}" for r in snap.runs.value or [] if r.role_arn == arn and r.tasks.error is not None
        ]
        evidence["workflows"] = workflows
        if not targets:
            yield Result(
                status=Status.ERROR if unread else Status.NOT_APPLICABLE,
                resource=arn,
                evidence=evidence,
                message=f"Role {role.name}'s workflows ({', '.join(workflows)}) use no repository of this account "
                "in this region"
                + (f"; {', '.join(unread)} could not be read, so this is not proven." if unread else "."),
            )
            continue
        problems: list[str] = []
        undecided: list[str] = []
        details: dict[str, dict[str, Any]] = {}
        scenarios: list[tuple[str, str | None]] = [("role policies", None)]
        scenarios += [(f"session policy of run {run_id}", pol) for run_id, pol in sessions.get(arn, {}).items()]
        for label, session_policy in scenarios:
            for target, verdict in _judge(snap, role, targets, session_policy).items():
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
                "targets": uses,
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
                optional = _judge(snap, role, targets, session_policy, OPTIONAL_PULL_ACTIONS)
                for verdict in optional.values():
                    notes += [n for n in pull_notes(verdict) if n not in notes]
            if unread:
                notes.append(f"{', '.join(unread)} could not be read; judged from what could")
            if notes:
                evidence["notes"] = notes
            yield Result(
                status=Status.PASS,
                resource=arn,
                evidence=evidence,
                message=f"Role {role.name} may pull from all {len(targets)} repositories its workflows use"
                + (f" (note: {'; '.join(notes)})." if notes else "."),
            )
