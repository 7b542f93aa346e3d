"""Least-privilege IAM policies, generated from what the code declares.

Nothing here lists an action by hand that the code already declares elsewhere:

* **scan** — the union of every selected rule's ``meta.permissions`` (which come from
  ``auditor.facets.FACETS`` and include ``sts:GetCallerIdentity``). This is the policy of the
  read-only audit role in every member account; multi-account scanning needs nothing more there.
* **fix** — ``fix.fix_permissions()`` (every fixer's ``@fixer(permissions=...)``, which also covers
  the reads and restores of its documents) plus ``fix.APPLY_PERMISSIONS`` (who am I, the active-run
  interlock) and ``fix.S3_BACKUP_PERMISSIONS`` (backups written to the audit bucket).
* **hub** — what the audit (hub) account's function adds on top: assuming the member role,
  Organizations discovery, the run bucket, the SNS topic and, optionally, Security Hub imports.
  These are declared here (:data:`HUB_DISCOVERY_PERMISSIONS`, :data:`HUB_RUN_PERMISSIONS`,
  :data:`HUB_SECURITYHUB_PERMISSIONS`), because no other module owns them.
* the real-time **guard** (``auditor.guard``) declares nothing of its own: it reads what its rules' facets
  read (scan, by name instead of by listing: the same actions), fixes with the fix role (fix) and keeps its
  records in the run bucket and publishes to the topic (hub); ``tests/test_guard.py`` checks each of its calls
  against these three documents.

``tests/test_permissions.py`` records every API operation the code really calls (scan, fix,
rollback, the Lambda handler) and fails when one is not covered by the matching policy, so a new
call without a declaration cannot ship. The deploy templates embed these documents
(``deploy/generate.py``), and ``tests/test_deploy.py`` fails when they drift.

``Resource`` is narrowed where the action supports resource-level permissions (Service
Authorization Reference: a resource type in the action's row); actions without a resource type
(ECR registry-level calls, every List* without a parent, ``cloudtrail:LookupEvents``,
``sts:GetCallerIdentity``, Organizations listings) must use ``"*"`` and do.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

import yaml

from auditor.config import DEFAULT_ROLE_NAME
from auditor.lambda_handler import RUN_PERMISSIONS
from auditor.reports.asff import SECURITYHUB_PERMISSIONS
from auditor.targets import DISCOVERY_PERMISSIONS

Kind = Literal["scan", "fix", "hub", "copy"]
KINDS: tuple[Kind, ...] = ("scan", "fix", "hub", "copy")
POLICY_VERSION = "2012-10-17"

# --- what the hub (audit account) declares ----------------------------------------------------

# Each list is declared beside the code that makes the calls; the coverage test holds them to it.
HUB_DISCOVERY_PERMISSIONS = DISCOVERY_PERMISSIONS
HUB_ASSUME_PERMISSIONS: tuple[str, ...] = ("sts:AssumeRole",)
HUB_RUN_PERMISSIONS = RUN_PERMISSIONS
HUB_SECURITYHUB_PERMISSIONS = SECURITYHUB_PERMISSIONS

DEFAULT_MEMBER_ROLE = DEFAULT_ROLE_NAME  # the role a multi-account scan assumes (config targets.role.name)
DEFAULT_MEMBER_FIX_ROLE = "OmicsEcrAuditFix"

# --- what the fix role may change in IAM ------------------------------------------------------------

# The fixers only ever write one inline policy on HealthOmics service roles (remediations/service_role.py).
# With ``service_roles`` the fix role may do that only on roles whose path and name match these patterns
# (the part of the role ARN after ``:role``); deploy/member-roles.yaml makes them StackSet parameters.
# Default: a name starting with "OmicsWorkflow" at the root path or under /service-role/ (where the IAM
# console puts the service roles it creates). It matches none of this project's roles (OmicsEcrAudit*)
# nor any AWS administration role, and is the convention the documentation recommends for naming them.
DEFAULT_SERVICE_ROLE_PATH = "/service-role/"
DEFAULT_SERVICE_ROLE_NAME_PREFIX = "OmicsWorkflow"
DEFAULT_SERVICE_ROLES: tuple[str, ...] = (
    f"/{DEFAULT_SERVICE_ROLE_NAME_PREFIX}*",
    f"{DEFAULT_SERVICE_ROLE_PATH}{DEFAULT_SERVICE_ROLE_NAME_PREFIX}*",
)
# Roles no fix role may ever change, at any path, whatever the service-role pattern says (belt and braces:
# a too-wide pattern must not let the fix role make itself or an organisation admin role an administrator).
PROTECTED_ROLE_NAMES: tuple[str, ...] = (
    "OrganizationAccountAccessRole",  # created by Organizations in every member account: full admin
    "AWSControlTowerExecution",  # Control Tower's admin role in enrolled accounts
    "AWSCloudFormationStackSetExecutionRole",  # self-managed StackSets' admin role
    "stacksets-exec-*",  # service-managed StackSets' execution roles (they deploy these very roles)
    "AWSReservedSSO_*",  # IAM Identity Center permission-set roles
)
# Every IAM action that changes what a role may do or who may assume it: denied on the protected roles.
ROLE_CHANGE_ACTIONS: tuple[str, ...] = (
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)

# --- resource scoping ---------------------------------------------------------------------------

# ARN templates per resource type; {partition} {region} {account} are filled in (default "*"; the
# templates pass ${AWS::Partition} / ${AWS::AccountId} so CloudFormation narrows them further).
_ARN: dict[str, tuple[str, ...]] = {
    "ecr:repository": ("arn:{partition}:ecr:{region}:{account}:repository/*",),
    "omics:workflow": ("arn:{partition}:omics:{region}:{account}:workflow/*",),
    "omics:run": ("arn:{partition}:omics:{region}:{account}:run/*",),
    "iam:role": ("arn:{partition}:iam::{account}:role/*",),
    # attached policies are the account's own or AWS managed ones (account "aws")
    "iam:policy": ("arn:{partition}:iam::{account}:policy/*", "arn:{partition}:iam::aws:policy/*"),
    "secretsmanager:secret": ("arn:{partition}:secretsmanager:{region}:{account}:secret:*",),
}

# action -> resource type (Service Authorization Reference, "Resource types" column). An action
# missing here has no resource type and gets "*".
RESOURCE_TYPES: dict[str, str] = {
    # ECR: repository-scoped actions; registry-level ones (PTC rules, registry policy, creation
    # templates, ValidatePullThroughCacheRule) have no resource type.
    "ecr:BatchGetImage": "ecr:repository",
    "ecr:BatchCheckLayerAvailability": "ecr:repository",
    "ecr:CreateRepository": "ecr:repository",
    "ecr:DeleteRepositoryPolicy": "ecr:repository",
    "ecr:DescribeImages": "ecr:repository",
    "ecr:DescribeRepositories": "ecr:repository",
    "ecr:GetDownloadUrlForLayer": "ecr:repository",
    "ecr:GetLifecyclePolicy": "ecr:repository",
    "ecr:GetRepositoryPolicy": "ecr:repository",
    "ecr:ListImages": "ecr:repository",
    "ecr:PutLifecyclePolicy": "ecr:repository",
    "ecr:SetRepositoryPolicy": "ecr:repository",
    # HealthOmics: ListWorkflows / ListRuns have none
    "omics:GetWorkflow": "omics:workflow",
    "omics:GetRun": "omics:run",
    "omics:ListRunTasks": "omics:run",
    "omics:GetRunTask": "omics:run",
    # IAM: ListRoles has none
    "iam:GetRole": "iam:role",
    "iam:ListRolePolicies": "iam:role",
    "iam:GetRolePolicy": "iam:role",
    "iam:ListAttachedRolePolicies": "iam:role",
    "iam:PutRolePolicy": "iam:role",
    "iam:DeleteRolePolicy": "iam:role",
    "iam:PassRole": "iam:role",
    "iam:GetPolicy": "iam:policy",
    "iam:GetPolicyVersion": "iam:policy",
    "secretsmanager:DescribeSecret": "secretsmanager:secret",
}

# Conditions that narrow an action further (same statement grouping key).
CONDITIONS: dict[str, dict[str, Any]] = {
    # The creation-template fixer passes a template's customRoleArn back to ECR unchanged.
    "iam:PassRole": {"StringEquals": {"iam:PassedToService": "ecr.amazonaws.com"}},
}

# botocore signing name -> IAM service prefix, where they differ.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# (IAM prefix, operation) -> the IAM action it is authorised as, where the names differ.
_OPERATION_ACTION = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "GetObjectAttributes"): "s3:GetObject",
}


def iam_action(service_model: Any, operation_name: str) -> str:
    """The IAM action a botocore call is authorised as (``omics`` + ``GetRun`` -> ``omics:GetRun``).

    The prefix is the service's signing name (ecr, omics, states for Step Functions...), mapped where
    IAM differs (CloudWatch signs as ``monitoring``); S3's Head/List operations map to their actions.
    """
    prefix = _IAM_PREFIX.get(service_model.signing_name, service_model.signing_name)
    return _OPERATION_ACTION.get((prefix, operation_name), f"{prefix}:{operation_name}")


# --- declared actions -------------------------------------------------------------------------


def _rules(config: Any = None) -> list[Any]:
    from auditor.engine import load_builtin_rules

    if config is None:
        return list(load_builtin_rules().values())
    from auditor.scan import all_rules

    return list(all_rules(config).values())  # built-in + the config's custom rules


def scan_actions(config: Any = None) -> set[str]:
    """Every rule's read permissions (built-in rules, plus a config's custom rules when given), and the calls
    ``explain`` makes itself (the scan it runs for the run's region needs only rules' permissions)."""
    from auditor.commands.explain import EXPLAIN_PERMISSIONS
    from auditor.facets import permissions_for_facets

    rules = {p for r in _rules(config) for p in r.meta.permissions}
    return rules | set(permissions_for_facets([])) | set(EXPLAIN_PERMISSIONS)


def fix_actions(*, s3_backups: bool = True) -> set[str]:
    from auditor.fix import APPLY_PERMISSIONS, S3_BACKUP_PERMISSIONS, fix_permissions

    actions = set(fix_permissions()) | set(APPLY_PERMISSIONS)
    return actions | set(S3_BACKUP_PERMISSIONS) if s3_backups else actions


def hub_actions(*, securityhub: bool = True) -> set[str]:
    actions = {*HUB_DISCOVERY_PERMISSIONS, *HUB_ASSUME_PERMISSIONS, *HUB_RUN_PERMISSIONS}
    return actions | set(HUB_SECURITYHUB_PERMISSIONS) if securityhub else actions


def copy_actions() -> set[str]:
    """What ``copy --apply`` calls (its plan needs only the reads among them: auditor.copy.PLAN_PERMISSIONS)."""
    from auditor.copy import APPLY_PERMISSIONS

    return set(APPLY_PERMISSIONS)


def declared_actions(kind: Kind, config: Any = None) -> set[str]:
    """The IAM actions the code declares for ``kind`` (scan, fix or hub)."""
    if kind == "scan":
        return scan_actions(config)
    if kind == "fix":
        return fix_actions()
    if kind == "hub":
        return hub_actions()
    if kind == "copy":
        return copy_actions()
    raise ValueError(f"unknown permission kind {kind!r}; expected one of {', '.join(KINDS)}")


# --- policy documents -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What ARNs are narrowed to: ``*`` by default; CloudFormation placeholders in the templates."""

    partition: str = "aws"
    account: str = "*"
    region: str = "*"
    # extra resources for actions outside the resource-type table (S3 objects, topics, roles...)
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def resources(self, action: str) -> tuple[str, ...]:
        if action in self.overrides:
            return tuple(self.overrides[action])
        rtype = RESOURCE_TYPES.get(action)
        if rtype is None:
            return ("*",)
        arns = [t.format(partition=self.partition, region=self.region, account=self.account) for t in _ARN[rtype]]
        # drop an ARN another one already covers ("iam::aws:policy/*" under "iam::*:policy/*")
        return tuple(a for a in arns if not any(b != a and fnmatchcase(a, b) for b in arns))


def _sid(service: str, resources: tuple[str, ...]) -> str:
    """``EcrRepository``, ``IamRole``, ``S3Objects``, ``StsAnyResource``...: the service and what it is scoped to."""
    name = "".join(part.capitalize() for part in service.replace("-", " ").split())
    arn = resources[0]
    if arn == "*":
        return f"{name}AnyResource"
    # CloudFormation placeholders (${AWS::Partition}) hold colons of their own
    parts = re.sub(r"\$\{[^}]*\}", "X", arn).split(":", 5)
    arn_service, rest = (parts[2], parts[5]) if len(parts) == 6 else (service, "")
    if arn_service == "s3":
        word = "Objects" if "/" in rest else "Bucket"
    elif arn_service == "sns":
        word = "Topic"
    else:
        word = re.split(r"[/:]", rest)[0] or "Scoped"
    return name + "".join(ch for ch in word.title() if ch.isalnum())


def policy_document(actions: Iterable[str], scope: Scope | None = None) -> dict[str, Any]:
    """One statement per (service, resources, condition), actions and statements sorted."""
    scope = scope or Scope()
    groups: dict[tuple[str, tuple[str, ...], str], set[str]] = defaultdict(set)
    for action in set(actions):
        service = action.split(":", 1)[0]
        condition = json.dumps(CONDITIONS.get(action), sort_keys=True)
        groups[(service, scope.resources(action), condition)].add(action)
    statements = []
    for service, resources, condition in sorted(groups, key=lambda k: (k[0], k[1] != ("*",), k[1], k[2])):
        names = groups[(service, resources, condition)]
        sid = _sid(service, resources)
        if condition != "null" and len(names) == 1:
            sid = _sid(service, ("*",)).removesuffix("AnyResource") + next(iter(names)).split(":", 1)[1]
        st: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": sorted(names),
            "Resource": resources[0] if len(resources) == 1 else list(resources),
        }
        cond = json.loads(condition)
        if cond:
            st["Condition"] = cond
        statements.append(st)
    _unique_sids(statements)
    return {"Version": POLICY_VERSION, "Statement": statements}


def _unique_sids(statements: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for st in statements:
        sid = st["Sid"]
        if sid in seen:
            seen[sid] += 1
            st["Sid"] = f"{sid}{seen[sid]}"
        else:
            seen[sid] = 0


def scanner_policy(config: Any = None, *, scope: Scope | None = None) -> dict[str, Any]:
    """The read-only audit role's policy (every member account)."""
    return policy_document(scan_actions(config), scope)


def role_policy_actions() -> set[str]:
    """The fix actions that read or write a role's inline policy (the service-role fixer's), not PassRole."""
    return {a for a in fix_actions() if RESOURCE_TYPES.get(a) == "iam:role" and a not in CONDITIONS}


def _role_arns(scope: Scope, path_patterns: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"arn:{scope.partition}:iam::{scope.account}:role{p}" for p in path_patterns)


def protected_role_arns(scope: Scope, names: Iterable[str]) -> tuple[str, ...]:
    """Each role name at the root path and at any other path (role names are unique whatever the path)."""
    return _role_arns(scope, [f"{prefix}{name}" for name in names for prefix in ("/", "/*/")])


def fixer_policy(
    *,
    backup_bucket: str | None = None,
    backup_prefix: str = "backups",
    scope: Scope | None = None,
    service_roles: Iterable[str] | None = None,
    protected_roles: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The fix role's policy: every fixer's actions, the apply bookkeeping and S3 backups.

    With ``backup_bucket`` the backup objects are narrowed to ``<bucket>/<prefix>/*``; without it the
    S3 actions get ``*`` (``fix --backup s3://any-bucket``) — pass a bucket in production.

    ``service_roles`` (path-and-name patterns such as :data:`DEFAULT_SERVICE_ROLES`) narrows the
    inline-policy actions to those roles; without it they may act on any role of the account (the
    CLI's ``permissions --fix``, for a person who knows their role names). Whatever the patterns, one
    Deny statement forbids every :data:`ROLE_CHANGE_ACTIONS` on ``protected_roles`` (default: the
    :data:`PROTECTED_ROLE_NAMES`, this project's fix and audit roles).
    """
    scope = scope or Scope()
    overrides = dict(scope.overrides)
    if backup_bucket:
        from auditor.fix import S3_BACKUP_PERMISSIONS

        objects = f"arn:{scope.partition}:s3:::{backup_bucket}/{backup_prefix.strip('/')}/*"
        overrides.update(dict.fromkeys(S3_BACKUP_PERMISSIONS, (objects,)))
    if service_roles is not None:
        roles = _role_arns(scope, service_roles)
        if not roles:
            raise ValueError("service_roles must name at least one role pattern (or be None for any role)")
        overrides.update(dict.fromkeys(role_policy_actions(), roles))
    doc = policy_document(fix_actions(), Scope(scope.partition, scope.account, scope.region, overrides))
    if protected_roles is None:
        protected_roles = (*PROTECTED_ROLE_NAMES, DEFAULT_MEMBER_FIX_ROLE, DEFAULT_MEMBER_ROLE)
    deny = {
        "Sid": "IamDenyProtectedRoles",
        "Effect": "Deny",
        "Action": sorted(ROLE_CHANGE_ACTIONS),
        "Resource": list(protected_role_arns(scope, protected_roles)),
    }
    # beside the other IAM statements: the documents stay grouped by service (sorted is stable)
    doc["Statement"] = sorted([*doc["Statement"], deny], key=lambda st: st["Action"][0].split(":", 1)[0])
    return doc


def hub_policy(
    *,
    member_role_name: str = DEFAULT_MEMBER_ROLE,
    member_fix_role_name: str | None = None,
    bucket: str | None = None,
    topic_arn: str | None = None,
    securityhub: bool = True,
    scope: Scope | None = None,
) -> dict[str, Any]:
    """The audit (hub) account function's own needs, on top of :func:`scanner_policy`.

    ``sts:AssumeRole`` is limited to the member audit role's name in any account (and the member fix
    role's, when fixing is enabled); S3 to the run bucket; ``sns:Publish`` to the topic.
    """
    scope = scope or Scope()
    p = scope.partition
    roles = [f"arn:{p}:iam::*:role/{member_role_name}"]
    if member_fix_role_name:
        roles.append(f"arn:{p}:iam::*:role/{member_fix_role_name}")
    overrides: dict[str, tuple[str, ...]] = {"sts:AssumeRole": tuple(roles)}
    if bucket:
        overrides["s3:GetObject"] = (f"arn:{p}:s3:::{bucket}/*",)
        overrides["s3:PutObject"] = (f"arn:{p}:s3:::{bucket}/*",)
        overrides["s3:ListBucket"] = (f"arn:{p}:s3:::{bucket}",)
    if topic_arn:
        overrides["sns:Publish"] = (topic_arn,)
    if securityhub:
        # BatchImportFindings is authorised on the product the findings are sent to: the account's default.
        overrides["securityhub:BatchImportFindings"] = (
            f"arn:{p}:securityhub:{scope.region}:{scope.account}:product/{scope.account}/default",
        )
        overrides["securityhub:DescribeHub"] = (f"arn:{p}:securityhub:{scope.region}:{scope.account}:hub/default",)
    return policy_document(
        hub_actions(securityhub=securityhub), Scope(scope.partition, scope.account, scope.region, overrides)
    )


def hub_fix_policy(
    *, member_fix_role_name: str = DEFAULT_MEMBER_FIX_ROLE, scope: Scope | None = None
) -> dict[str, Any]:
    """The audit account's fix role: it only assumes the member fix roles (whose policy is :func:`fixer_policy`)."""
    scope = scope or Scope()
    role = f"arn:{scope.partition}:iam::*:role/{member_fix_role_name}"
    overrides = {"sts:AssumeRole": (role,)}
    return policy_document(HUB_ASSUME_PERMISSIONS, Scope(scope.partition, scope.account, scope.region, overrides))


def policy_for(kind: Kind, config: Any = None) -> dict[str, Any]:
    if kind == "scan":
        return scanner_policy(config)
    if kind == "fix":
        return fixer_policy()
    if kind == "hub":
        return hub_policy()
    if kind == "copy":
        return policy_document(copy_actions())
    raise ValueError(f"unknown permission kind {kind!r}; expected one of {', '.join(KINDS)}")


def render_permissions(kind: Kind, fmt: str = "json", config: Any = None) -> str:
    """The policy of ``kind`` as JSON (``aws iam put-role-policy --policy-document``) or YAML."""
    doc = policy_for(kind, config)
    if fmt == "json":
        return json.dumps(doc, indent=2)
    if fmt == "yaml":
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    raise ValueError(f"unknown format {fmt!r}; expected json or yaml")


# --- checking calls against a policy --------------------------------------------------------------


def covers(policy: Mapping[str, Any], action: str) -> bool:
    """True when some Allow statement names ``action`` (exactly or by IAM wildcard, case-insensitively)."""
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow":
            continue
        names = st.get("Action", [])
        names = [names] if isinstance(names, str) else names
        if any(fnmatchcase(action.lower(), n.lower()) for n in names):
            return True
    return False


def uncovered(policy: Mapping[str, Any], actions: Iterable[str]) -> list[str]:
    """The actions no Allow statement of ``policy`` names (sorted)."""
    return sorted({a for a in actions if not covers(policy, a)})


__all__ = [
    "DEFAULT_MEMBER_FIX_ROLE",
    "DEFAULT_MEMBER_ROLE",
    "DEFAULT_SERVICE_ROLES",
    "DEFAULT_SERVICE_ROLE_NAME_PREFIX",
    "DEFAULT_SERVICE_ROLE_PATH",
    "HUB_ASSUME_PERMISSIONS",
    "HUB_DISCOVERY_PERMISSIONS",
    "HUB_RUN_PERMISSIONS",
    "HUB_SECURITYHUB_PERMISSIONS",
    "KINDS",
    "PROTECTED_ROLE_NAMES",
    "ROLE_CHANGE_ACTIONS",
    "Scope",
    "covers",
    "declared_actions",
    "fixer_policy",
    "hub_fix_policy",
    "hub_policy",
    "iam_action",
    "policy_document",
    "protected_role_arns",
    "render_permissions",
    "role_policy_actions",
    "scanner_policy",
    "uncovered",
]
