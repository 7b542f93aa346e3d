"""Grants to HealthOmics are scoped: to the cache prefixes, to this account's workflows, to the repositories used.

Every question is asked of the one policy evaluator (``auditor.policy``) as a probe request that a scoped grant
must refuse: omics.amazonaws.com acting for *another* account's workflow (a grant without aws:SourceAccount or
aws:SourceArn lets it, the confused-deputy case), omics creating a repository *outside* every cache prefix, and a
run role pulling from a repository its workflows do not use. A statement the evaluator says allows the probe is
named, with the exact narrower statement, re-checked by the same evaluator.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.rules.creation_template import PTC
from auditor.rules.service_role import pull_targets, role_workflows

from auditor.derive import foreign_repositories, relevant_repositories, workflow_uses
from auditor.engine import Result, RuleContext, error_result, facet_errors, role_or_result, rule
from auditor.findings import Severity, Status
from auditor.grants import (
    FIX_PULL_ACTIONS,
    OMICS,
    OMICS_PULL_ACTIONS,
    PTC_REGISTRY_ACTIONS,
    identity_grants,
    omics_contexts,
    resource_policy_grants_omics,
)
from auditor.models import Snapshot
from auditor.policy import (
    Decision,
    Evaluation,
    Policy,
    PolicyParseError,
    Request,
    evaluate_identity_policies,
    evaluate_resource_policy,
    parse_policy,
)

RULE_ID = "grants-scoped"
PROBE_REPOSITORY = "omics-ecr-audit-scope-probe/not-used"  # a repository name no prefix or workflow names
ROLE_SID = "OmicsEcrAuditPullUsedRepositories"


def _other_account(snap: Snapshot) -> str:
    return "999999999999" if snap.account_id != "999999999999" else "888888888888"


def _foreign_context(snap: Snapshot) -> dict[str, list[str] | None]:
    """HealthOmics acting for a workflow of another account (what aws:SourceAccount/SourceArn exist to refuse)."""
    other = _other_account(snap)
    return {
        "aws:SourceAccount": [other],
        "aws:SourceArn": [f"arn:{snap.partition}:omics:{snap.region}:{other}:workflow/1234567"],
    }


def _own_context(snap: Snapshot) -> dict[str, list[str] | None]:
    contexts = omics_contexts(snap)
    if len(contexts) == 1 and "aws:SourceArn" not in contexts[0]:
        # No workflow yet: one that this account might register.
        return {
            **contexts[0],
            "aws:SourceArn": [f"arn:{snap.partition}:omics:{snap.region}:{snap.account_id}:workflow/1"],
        }
    return contexts[0]


def _raw_statements(policy: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    doc = json.loads(policy) if isinstance(policy, str) else dict(policy)
    raw = doc["Statement"]
    return [dict(s) for s in (raw if isinstance(raw, list) else [raw])]


def _with_statements(policy: str | Mapping[str, Any], statements: list[dict[str, Any]]) -> dict[str, Any]:
    doc = json.loads(policy) if isinstance(policy, str) else dict(policy)
    return {**doc, "Statement": statements}


def _probe(
    parsed: Policy, actions: Sequence[str], resource: str, context: Mapping[str, list[str] | None]
) -> list[Evaluation]:
    return [
        evaluate_resource_policy(
            parsed, Request(action=a, resource=resource, principal_service=OMICS, context=dict(context))
        )
        for a in actions
    ]


def _matched(evaluations: Iterable[Evaluation]) -> tuple[set[int], list[str]]:
    """(indexes of the statements that allow a probe, reasons of probes the evaluator could not decide)."""
    allowed: set[int] = set()
    undecided: list[str] = []
    for ev in evaluations:
        if ev.decision == Decision.ALLOWED:
            allowed.update(m.index for m in ev.allows)
        elif ev.decision == Decision.UNKNOWN:
            undecided.extend(r for r in ev.reasons if r not in undecided)
    return allowed, undecided


def _principal_others(raw: Mapping[str, Any]) -> list[str]:
    """Who else than omics.amazonaws.com the statement's Principal names ("*" included)."""
    principal = raw.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, Mapping):
        return []
    others: list[str] = []
    for kind, value in principal.items():
        for entry in value if isinstance(value, list) else [value]:
            if not (kind == "Service" and entry == OMICS):
                others.append(f"{kind}:{entry}")
    return others


def narrowed(
    raw: Mapping[str, Any], *, account: str | None = None, resources: Sequence[str] | None = None
) -> dict[str, Any]:
    """The statement for omics only, with aws:SourceAccount = ``account`` and/or Resource = ``resources``."""
    out = copy.deepcopy(dict(raw))
    if _principal_others(raw):
        out["Principal"] = {"Service": OMICS}
    if resources is not None:
        out.pop("NotResource", None)
        out["Resource"] = list(resources) if len(resources) != 1 else resources[0]
    if account is not None:
        condition = out.setdefault("Condition", {})
        condition.setdefault("StringEquals", {})["aws:SourceAccount"] = account
    return out


def _resource_policy_result(
    snap: Snapshot,
    *,
    resource: str,
    subject: str,
    policy: str,
    target: str,
    actions: Sequence[str],
    prefixes: Sequence[str] | None = None,
    how_to_apply: str,
) -> Result | None:
    """Judge one resource-based policy; None when it grants omics nothing (nothing to scope)."""
    evidence: dict[str, Any] = {"policy": subject}
    try:
        parsed = parse_policy(policy, resource_policy=True)
        raw = _raw_statements(policy)
    except (PolicyParseError, ValueError, KeyError, TypeError) as exc:
        # The text was read: it is not a policy, so it grants nothing to scope. The rules that need the grant
        # (repository-policy-grants-omics, registry-policy-allows-omics, creation-template-grants-omics) FAIL it.
        return Result(
            status=Status.NOT_APPLICABLE,
            resource=resource,
            message=f"{subject[:1].upper()}{subject[1:]} is not a valid policy document ({exc}): it grants nothing.",
            evidence=evidence,
        )
    own = _own_context(snap)
    granted, _ = _matched(_probe(parsed, actions, target, own))
    foreign, undecided = _matched(_probe(parsed, actions, target, _foreign_context(snap)))
    outside: set[int] = set()
    if prefixes is not None and "ROOT" not in snap.ptc_prefixes():
        outside_ev = _probe(
            parsed, PTC_REGISTRY_ACTIONS + OMICS_PULL_ACTIONS, snap.repository_arn(PROBE_REPOSITORY), own
        )
        outside, more = _matched(outside_ev)
        undecided += [r for r in more if r not in undecided]
        granted |= outside
    if undecided and not (foreign or outside):
        evidence["undecided"] = undecided
        return Result(
            status=Status.ERROR,
            resource=resource,
            message=f"Cannot decide whether {subject} is scoped: {'; '.join(undecided[:3])}",
            evidence=evidence,
        )
    if not (granted | foreign):
        return None
    flagged = sorted(foreign | outside)
    if not flagged:
        return Result(
            status=Status.PASS,
            resource=resource,
            message=f"{subject} grants omics.amazonaws.com only for this account's workflows"
            + (" and only under the cache prefixes." if prefixes is not None else "."),
            evidence=evidence,
        )
    fixes = []
    statements = list(raw)
    lines = []
    for index in flagged:
        stmt = raw[index]
        label = f"statement {stmt['Sid']!r}" if stmt.get("Sid") else f"statement index {index}"
        new = narrowed(
            stmt,
            account=snap.account_id if index in foreign else None,
            resources=list(prefixes) if prefixes is not None and index in outside else None,
        )
        statements[index] = new
        why = []
        if index in foreign:
            why.append("lets omics.amazonaws.com act for another account's workflows (no aws:SourceAccount/SourceArn)")
        if index in outside:
            why.append("covers repositories outside every cache prefix")
        others = _principal_others(stmt)
        fix: dict[str, Any] = {"statement": label, "problems": why, "narrower_statement": new}
        if others:
            fix["note"] = (
                f"the statement also grants {', '.join(others)}: keep those in a statement of their own without "
                "omics.amazonaws.com"
            )
        fixes.append(fix)
        lines.append(f"{label} {' and '.join(why)}; replace it with {json.dumps(new, sort_keys=True)}")
    after = _with_statements(policy, statements)
    reparsed = parse_policy(after, resource_policy=True)
    still_foreign, _ = _matched(_probe(reparsed, actions, target, _foreign_context(snap)))
    still_outside: set[int] = set()
    if prefixes is not None and "ROOT" not in snap.ptc_prefixes():
        still_outside, _ = _matched(
            _probe(reparsed, PTC_REGISTRY_ACTIONS + OMICS_PULL_ACTIONS, snap.repository_arn(PROBE_REPOSITORY), own)
        )
    keeps = [
        resource_policy_grants_omics(policy, snap, actions, t).status != Status.PASS
        or resource_policy_grants_omics(after, snap, actions, t).status == Status.PASS
        for t in (prefixes or [target])
    ]
    evidence.update(
        {
            "statements": fixes,
            "verified": not still_foreign and not still_outside and all(keeps),
            "how_to_apply": how_to_apply,
        }
    )
    return Result(
        status=Status.FAIL,
        resource=resource,
        message=f"{subject} is broader than HealthOmics needs: " + " | ".join(lines),
        evidence=evidence,
    )


def _registry(snap: Snapshot) -> Iterable[Result]:
    policy = snap.registry_policy.value
    if not policy:
        return
    prefixes = [snap.prefix_pattern(p) for p in snap.ptc_prefixes() if p != "ROOT"]
    target = prefixes[0] if prefixes else snap.repository_arn("*")
    result = _resource_policy_result(
        snap,
        resource="registry-policy",
        subject="The registry policy",
        policy=policy,
        target=target,
        actions=PTC_REGISTRY_ACTIONS,
        prefixes=prefixes,
        how_to_apply="aws ecr get-registry-policy; replace the statement(s); aws ecr put-registry-policy "
        "--policy-text file://policy.json",
    )
    if result is not None:
        yield result


def _repositories(snap: Snapshot) -> Iterable[Result]:
    for name in relevant_repositories(snap):
        arn = snap.repository_arn(name)
        got = snap.repository_policies.get(name)
        if got is None:
            continue
        if got.error is not None:
            yield error_result(got.error, arn, "the repository policy")
            continue
        if not got.value:
            continue
        result = _resource_policy_result(
            snap,
            resource=arn,
            subject=f"Repository {name}'s policy",
            policy=got.value,
            target=arn,
            actions=OMICS_PULL_ACTIONS,
            how_to_apply=f"aws ecr get-repository-policy --repository-name {name}; replace the statement(s); "
            f"aws ecr set-repository-policy --repository-name {name} --policy-text file://policy.json",
        )
        if result is not None:
            yield result


def _templates(snap: Snapshot) -> Iterable[Result]:
    for template in snap.templates.value or []:
        if PTC not in template.applied_for or not template.repository_policy:
            continue
        result = _resource_policy_result(
            snap,
            resource=f"creation-template/{template.prefix}",
            subject=f"Creation template {template.prefix}'s repository policy",
            policy=template.repository_policy,
            target=snap.prefix_pattern(template.prefix),
            actions=OMICS_PULL_ACTIONS,
            how_to_apply=f"aws ecr update-repository-creation-template --prefix {template.prefix} "
            "--repository-policy file://policy.json (repositories it created keep their own policy)",
        )
        if result is not None:
            yield result


def _roles(snap: Snapshot) -> Iterable[Result]:
    uses = workflow_uses(snap)
    foreign = foreign_repositories(snap)
    for source in snap.service_roles.value or []:
        arn = source.arn
        evidence: dict[str, Any] = {"role": arn}
        workflows = role_workflows(snap, arn)
        if not workflows:
            continue  # the service-role rule says it ran nothing; nothing to scope it to
        role = role_or_result(snap, arn, evidence)
        if isinstance(role, Result):
            if role.status == Status.ERROR:
                yield role
            continue
        undetermined = [
            f"workflow {u.workflow_id} ({u.origin})" for u in uses if u.workflow_id in workflows and u.written is None
        ]
        if undetermined:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=arn,
                message=f"Role {arn}'s workflows name images only their run parameters decide ({undetermined[0]}): "
                "the repositories it needs are not a known set.",
                evidence={**evidence, "undetermined": undetermined[:10]},
            )
            continue
        targets = sorted(pull_targets(snap, arn))
        targets += sorted(a for a, us in foreign.items() if any(u.workflow_id in workflows for u in us))
        names = [*role.inline_policies, *role.attached_policies]
        documents = [*role.inline_policies.values(), *role.attached_policies.values()]
        probe = snap.repository_arn(PROBE_REPOSITORY)
        flagged: dict[str, set[int]] = {}
        for action in OMICS_PULL_ACTIONS:
            try:
                ev = evaluate_identity_policies(documents, Request(action=action, resource=probe, principal_arn=arn))
            except PolicyParseError as exc:
                yield Result(status=Status.ERROR, resource=arn, message=f"Cannot read a policy of {arn}: {exc}")
                break
            if ev.decision == Decision.ALLOWED:
                for m in ev.allows:
                    position = int((m.source or "identity[0]").split("[")[1].rstrip("]")) if m.source else 0
                    flagged.setdefault(names[position], set()).add(m.index)
        else:
            statement = {"Sid": ROLE_SID, "Effect": "Allow", "Action": list(FIX_PULL_ACTIONS), "Resource": targets}
            evidence["repositories_used"] = targets
            if not flagged:
                yield Result(
                    status=Status.PASS,
                    resource=arn,
                    message=f"Role {arn}'s ECR pull grants do not reach repositories its workflows do not use.",
                    evidence=evidence,
                )
                continue
            verified = (
                not targets
                or identity_grants(
                    [{"Version": "2012-10-17", "Statement": [statement]}], OMICS_PULL_ACTIONS, targets[0]
                ).status
                == Status.PASS
            )
            where = [
                f"{name} statement(s) {sorted(indexes)}"
                + (" (an AWS managed policy: detach it)" if name.startswith("arn:aws:iam::aws:") else "")
                for name, indexes in sorted(flagged.items())
            ]
            evidence.update(
                {
                    "broad_grants": where,
                    "narrower_statement": statement if targets else None,
                    "verified": verified,
                    "workflows": workflows,
                }
            )
            replacement = (
                f"grant exactly {json.dumps(statement, sort_keys=True)}"
                if targets
                else "remove it: its workflows use no ECR repository in this account"
            )
            yield Result(
                status=Status.FAIL,
                resource=arn,
                message=f"Role {arn} may pull from every repository ({'; '.join(where)}), but its workflows "
                f"{', '.join(workflows)} use {len(targets)}: remove ECR pull actions from those statements and "
                f"{replacement}.",
                evidence=evidence,
            )


@rule(
    id=RULE_ID,
    title="HealthOmics grants are scoped: registry policy to the cache prefixes, every omics grant to this "
    "account (aws:SourceAccount), run roles to the repositories their workflows use",
    severity=Severity.LOW,
    rationale=(
        'Seed 002 asks to "restrict access to specific repository prefixes" and to use least privilege. A registry '
        "policy statement for omics.amazonaws.com on repository/* lets HealthOmics create repositories under any "
        "name, and a service-principal grant without aws:SourceAccount (or aws:SourceArn) lets the service act for "
        "any account's workflows (the confused-deputy protection AWS recommends; the HealthOmics permissions page's "
        "examples carry aws:SourceAccount). A run role allowed ecr pulls on repository/* or * reaches every "
        "repository although its workflows use a known few. Each finding names the statement and the exact "
        "narrower one, checked with the project's policy evaluator."
    ),
    remediation=(
        "Replace each named statement with the narrower statement in the finding's evidence (narrower_statement): "
        "for the registry policy `aws ecr get-registry-policy` / `put-registry-policy`, for a repository "
        "`get-repository-policy` / `set-repository-policy`, for a template `update-repository-creation-template "
        "--repository-policy`, for a role remove the ECR pull actions from the named statements (detach an AWS "
        "managed policy) and `aws iam put-role-policy` the narrower statement. A manual step on purpose: narrowing "
        "can cut off a principal or workflow the scan does not see."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html",
    ],
    facets=[
        "ptc_rules",
        "registry_policy",
        "templates",
        "repositories",
        "repository_policies",
        "workflows",
        "workflow_definitions",
        "runs",
        "run_tasks",
        "service_roles",
        "roles",
    ],
    group="hygiene",
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("omics-grants", ptc_rules=snap.ptc_rules, workflows=snap.workflows)
    if errors:
        yield from errors
        return
    if snap.registry_policy.error is not None:
        yield error_result(snap.registry_policy.error, "registry-policy", "the registry policy")
    else:
        yield from _registry(snap)
    if snap.repositories.error is not None:
        yield error_result(snap.repositories.error, "repositories", "the repositories")
    else:
        yield from _repositories(snap)
    if snap.templates.error is not None:
        yield error_result(snap.templates.error, "repository-creation-templates", "the creation templates")
    else:
        yield from _templates(snap)
    if snap.runs.error is not None:
        yield error_result(snap.runs.error, "iam-roles", "the runs, so which roles run which workflows")
    elif snap.service_roles.error is not None:
        yield error_result(snap.service_roles.error, "iam-roles", "the HealthOmics service roles")
    else:
        yield from _roles(snap)
