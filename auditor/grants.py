"""Questions the rules ask of policies, answered through the one policy evaluator.

Every rule that judges a policy goes through here, so "does omics get these
actions on this prefix" means the same thing everywhere: explicit Deny wins,
wildcards and NotAction/NotResource count, and a grant whose condition the
auditor cannot decide is reported as undecidable (ERROR), never as PASS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.findings import Status
from auditor.models import Snapshot
from auditor.policy import (
    Decision,
    Evaluation,
    PolicyParseError,
    Request,
    evaluate_access,
    evaluate_identity_policies,
    evaluate_resource_policy,
    parse_policy,
)

OMICS = "omics.amazonaws.com"
# What "HealthOmics can pull" means, the one definition that creation templates, repository policies
# and service roles are judged against. Source: docs/aws-semantics.md §2 and §3.3 — the HealthOmics
# permissions page's creation-template statement (Sid PTCRepoCreationTemplate) grants exactly these two
# actions, and repositories created from it are the documented, working setup.
OMICS_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
# Listed by the same page for repository policies but not needed for a pull: when it alone is missing
# the finding still PASSes and carries an info note (``pull_notes``), never a FAIL.
OPTIONAL_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability",)
# What the fixers write (the two plus the optional one), so fixer output satisfies every reading.
FIX_PULL_ACTIONS = OMICS_PULL_ACTIONS + OPTIONAL_PULL_ACTIONS
PTC_REGISTRY_ACTIONS = ("ecr:CreateRepository", "ecr:BatchImportUpstreamImage")


@dataclass
class Verdict:
    """Aggregate answer for several actions (and possibly several request contexts)."""

    status: Status
    missing: list[str] = field(default_factory=list)  # actions not granted
    denied: list[str] = field(default_factory=list)  # actions explicitly denied
    undecided: list[str] = field(default_factory=list)  # actions whose grant hangs on an undecidable condition
    reasons: list[str] = field(default_factory=list)

    def message(self, *, subject: str, scope: str, granted: str) -> str:
        """One wording for every policy finding: ``subject`` is the policy, ``scope`` where the actions apply."""
        reasons = f": {'; '.join(self.reasons)}" if self.reasons else "."
        if self.status == Status.PASS:
            return granted
        if self.status == Status.ERROR:
            return f"Cannot decide whether {subject} lets omics.amazonaws.com act on {scope}{reasons}"
        lacking = ", ".join(self.denied + self.missing)
        return f"{subject} does not let omics.amazonaws.com do {lacking} on {scope}{reasons}"

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.status.value}
        for key in ("missing", "denied", "undecided", "reasons"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


def pull_notes(optional: Verdict) -> list[str]:
    """Info notes for a PASS: the optional pull actions (``OPTIONAL_PULL_ACTIONS``) ``optional`` judged not granted."""
    return [
        f"{action} is not granted; HealthOmics documents only BatchGetImage and GetDownloadUrlForLayer for pulls"
        for action in optional.denied + optional.missing
    ]


def omics_contexts(snap: Snapshot) -> list[dict[str, list[str] | None]]:
    """Request contexts for the HealthOmics service principal acting for this account.

    HealthOmics sends aws:SourceAccount (the workflow owner) and aws:SourceArn
    (the workflow ARN, per the HealthOmics docs; docs/aws-semantics.md §3.4). The grant
    must hold for every private workflow of the account; with no workflow
    known, aws:SourceArn is left unknown so a statement conditioned on it is
    reported as undecidable rather than assumed to match.

    Only what HealthOmics passes is set here: the keys AWS documents for every service-principal
    request (aws:PrincipalIsAWSService, aws:PrincipalServiceName, aws:PrincipalOrgID absent, ...) and
    aws:RequestedRegion/aws:ResourceAccount of the repository ARN are derived by the evaluator
    (``auditor.policy.derived_context``; docs/policy-evaluation.md), not duplicated here.
    """
    base: dict[str, list[str] | None] = {"aws:SourceAccount": [snap.account_id]}
    workflows = [w for w in snap.workflows.value or [] if (w.type or "PRIVATE") == "PRIVATE"]
    if not workflows:
        return [base]
    return [{**base, "aws:SourceArn": [w.arn]} for w in workflows]


def _fold(evaluations: Iterable[tuple[str, Evaluation]]) -> Verdict:
    verdict = Verdict(status=Status.PASS)
    for action, ev in evaluations:
        if ev.decision == Decision.EXPLICIT_DENY:
            if action not in verdict.denied:
                verdict.denied.append(action)
        elif ev.decision == Decision.IMPLICIT_DENY:
            if action not in verdict.missing:
                verdict.missing.append(action)
        elif ev.decision == Decision.UNKNOWN and action not in verdict.undecided:
            verdict.undecided.append(action)
        if ev.decision != Decision.ALLOWED:
            for reason in ev.reasons:
                if reason not in verdict.reasons:
                    verdict.reasons.append(reason)
    if verdict.denied or verdict.missing:
        verdict.status = Status.FAIL
    elif verdict.undecided:
        verdict.status = Status.ERROR
    return verdict


def _parse_failure(exc: PolicyParseError, actions: Iterable[str]) -> Verdict:
    return Verdict(status=Status.FAIL, missing=list(actions), reasons=[f"policy is not a valid policy document: {exc}"])


def resource_policy_grants_omics(
    policy: str | Mapping[str, Any] | None, snap: Snapshot, actions: Iterable[str], resource: str
) -> Verdict:
    """Does a resource-based policy (registry, repository, template) let omics do ``actions`` on ``resource``?"""
    actions = list(actions)
    if policy is None:
        return Verdict(status=Status.FAIL, missing=actions, reasons=["there is no policy"])
    try:
        parsed = parse_policy(policy, resource_policy=True)  # once, not once per action and workflow
    except PolicyParseError as exc:
        return _parse_failure(exc, actions)
    contexts = omics_contexts(snap)
    if not _mentions_source_arn(policy):
        # Every context differs only in aws:SourceArn; a policy that never reads it answers alike for all.
        contexts = contexts[:1]
    evaluations = [
        (
            action,
            evaluate_resource_policy(
                parsed, Request(action=action, resource=resource, principal_service=OMICS, context=ctx)
            ),
        )
        for ctx in contexts
        for action in actions
    ]
    return _fold(evaluations)


def _mentions_source_arn(policy: str | Mapping[str, Any]) -> bool:
    """Whether a policy could read aws:SourceArn (a condition key or a ${...} variable); keys are case-insensitive."""
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return "aws:sourcearn" in text.lower()


def identity_grants(
    documents: Sequence[Mapping[str, Any]],
    actions: Iterable[str],
    resource: str,
    *,
    boundary: Mapping[str, Any] | None = None,
    session_policy: str | Mapping[str, Any] | None = None,
    principal_arn: str | None = None,
    account: str | None = None,
) -> Verdict:
    actions = list(actions)
    try:
        # parsed once for all actions
        docs = [parse_policy(d, resource_policy=False) for d in documents]
        bound = parse_policy(boundary, resource_policy=False) if boundary is not None else None
        session = parse_policy(session_policy, resource_policy=False) if session_policy is not None else None
    except PolicyParseError as exc:
        return _parse_failure(exc, actions)
    evaluations = [
        (
            action,
            evaluate_identity_policies(
                docs,
                Request(action=action, resource=resource, principal_arn=principal_arn, principal_account=account),
                boundary=bound,
                session_policy=session,
            ),
        )
        for action in actions
    ]
    return _fold(evaluations)


def access_grants(
    actions: Iterable[str],
    resource: str,
    *,
    principal_arn: str,
    identity_documents: Sequence[str | Mapping[str, Any]] = (),
    boundary: str | Mapping[str, Any] | None = None,
    session_policy: str | Mapping[str, Any] | None = None,
    resource_policy: str | Mapping[str, Any] | None = None,
    resource_account: str | None = None,
    principal_account: str | None = None,
    context: Mapping[str, list[str] | None] | None = None,
    service_assumed: bool = True,
) -> Verdict:
    """Can IAM principal ``principal_arn`` do ``actions`` on ``resource``, all policies considered?

    One call for "may run role X (its identity documents, boundary, the run's session policy) pull
    these actions from repository ARN Y, given Y's repository policy (``None``: none) and Y's account
    (``None``: the account in Y's ARN)". Same-account and cross-account are decided by
    :func:`auditor.policy.evaluate_access`: a repository policy that names the role itself counts in
    its favour (limited by the boundary and session policy), one that names only the role's account
    needs the role's own identity policies, and across accounts both sides must allow.
    ``service_assumed`` (default): the principal is a role session HealthOmics created by assuming
    the role, which fixes aws:MultiFactorAuthPresent and aws:CalledVia (docs/policy-evaluation.md).
    ``context`` adds request keys the caller knows (the caller's values win over derived ones).
    """
    actions = list(actions)
    try:
        docs = [parse_policy(d, resource_policy=False) for d in identity_documents]
        bound = parse_policy(boundary, resource_policy=False) if boundary is not None else None
        session = parse_policy(session_policy, resource_policy=False) if session_policy is not None else None
        repo = parse_policy(resource_policy, resource_policy=True) if resource_policy is not None else None
    except PolicyParseError as exc:
        return _parse_failure(exc, actions)
    evaluations = [
        (
            action,
            evaluate_access(
                request=Request(
                    action=action,
                    resource=resource,
                    principal_arn=principal_arn,
                    principal_account=principal_account,
                    principal_session="service-assumed" if service_assumed else None,
                    context=dict(context or {}),
                ),
                identity_policies=docs,
                boundary=bound,
                session_policy=session,
                resource_policy=repo,
                resource_account=resource_account,
            ),
        )
        for action in actions
    ]
    return _fold(evaluations)


def service_can_assume(
    trust_policy: str | Mapping[str, Any] | None,
    role_arn: str,
    contexts: Sequence[Mapping[str, list[str] | None]],
    service: str = OMICS,
) -> Verdict:
    """Does the trust policy let ``service`` do sts:AssumeRole on ``role_arn`` in every one of ``contexts``?

    Judged like every other policy (explicit Deny wins, undecidable conditions give ERROR naming the
    key); unlike :func:`trusts_service`, an undecided trust is not counted as trust.
    """
    action = "sts:AssumeRole"
    if not trust_policy:
        return Verdict(status=Status.FAIL, missing=[action], reasons=["the role has no trust policy"])
    try:
        parsed = parse_policy(trust_policy, resource_policy=True)
    except PolicyParseError as exc:
        return _parse_failure(exc, [action])
    evaluations = [
        (
            action,
            evaluate_access(
                request=Request(action=action, resource=role_arn, principal_service=service, context=dict(ctx)),
                resource_policy=parsed,
            ),
        )
        for ctx in contexts or [{}]
    ]
    return _fold(evaluations)


def trusts_service(trust_policy: str | Mapping[str, Any] | None, service: str = OMICS) -> bool:
    """Whether a role's trust policy lets ``service`` assume it.

    Used to *discover* HealthOmics service roles, so a trust that hangs on a
    condition we cannot decide (e.g. aws:SourceArn of some workflow) counts:
    auditing one role too many is safe, missing one is not.
    """
    if not trust_policy:
        return False
    try:
        evaluation = evaluate_resource_policy(
            trust_policy, Request(action="sts:AssumeRole", resource="*", principal_service=service)
        )
    except PolicyParseError:
        return False
    return evaluation.decision in (Decision.ALLOWED, Decision.UNKNOWN)
