"""Fix ``ptc-rule-coverage``: create missing rules for unauthenticated upstreams; say what a person must do otherwise.

* Quay, ECR Public and registry.k8s.io need no credential: the plan creates the
  rule, with the prefix the workflows' registry maps already use for that
  upstream, else the conventional one (``quay``, ``ecr-public``, ``k8s``).
* Docker Hub, GHCR, GitLab, Azure and Chainguard need a Secrets Manager secret
  holding a person's token. The tool never invents one: the plan gives the exact
  commands with placeholders.
* A broken existing rule (wrong Docker Hub URL, bad secret) is repaired by hand:
  changing a rule's upstream means deleting and recreating it.
* No rule is created while any HealthOmics run in the region is active
  (HealthOmics: changing cache rules mid-run can make the run fail or use
  unexpected images); the plan shows the blocking runs and apply re-checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import botocore.exceptions

from auditor import upstreams
from auditor.findings import Finding
from auditor.fix import (
    ApiCall,
    Clients,
    FixContext,
    ManualStep,
    PlanItem,
    StateKind,
    Target,
    fixer,
    make_change,
    register_kind,
)
from auditor.models import Snapshot
from auditor.terminal import command_line, shell_comment

RULE_ID = "ptc-rule-coverage"
_STATE = ("ecrRepositoryPrefix", "upstreamRegistryUrl", "credentialArn", "customRoleArn", "upstreamRepositoryPrefix")


def _read(clients: Clients, target: Target) -> dict[str, Any] | None:
    try:
        resp = clients.get("ecr", target.region).describe_pull_through_cache_rules(
            ecrRepositoryPrefixes=[target.key["ecrRepositoryPrefix"]]
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "PullThroughCacheRuleNotFoundException":
            return None
        raise
    for rule in resp.get("pullThroughCacheRules", []):
        if rule.get("ecrRepositoryPrefix") == target.key["ecrRepositoryPrefix"]:
            state = {k: rule[k] for k in _STATE if rule.get(k)}
            if state.get("upstreamRepositoryPrefix") == "ROOT":
                del state["upstreamRepositoryPrefix"]  # the default, whether or not it was sent
            return state
    return None


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    prefix = target.key["ecrRepositoryPrefix"]
    if saved is None:
        if current is None:
            return []
        return [ApiCall(service="ecr", operation="DeletePullThroughCacheRule", params={"ecrRepositoryPrefix": prefix})]
    if current is None:
        return [ApiCall(service="ecr", operation="CreatePullThroughCacheRule", params=dict(saved))]
    params = {"ecrRepositoryPrefix": prefix}
    params.update({k: saved[k] for k in ("credentialArn", "customRoleArn") if k in saved})
    return [ApiCall(service="ecr", operation="UpdatePullThroughCacheRule", params=params)]


KIND = register_kind(
    StateKind(
        name="ptc_rule",
        read=_read,
        restore=_restore,
        permissions=(
            "ecr:DescribePullThroughCacheRules",
            "ecr:CreatePullThroughCacheRule",
            "ecr:UpdatePullThroughCacheRule",
            "ecr:DeletePullThroughCacheRule",
            "omics:ListRuns",  # the active-run interlock
        ),
        touches_ptc_rules=True,
        writes=(
            ("ecr", "CreatePullThroughCacheRule"),
            ("ecr", "UpdatePullThroughCacheRule"),
            ("ecr", "DeletePullThroughCacheRule"),
        ),
    )
)


def choose_prefix(snap: Snapshot, up: upstreams.Upstream, url: str, taken: set[str]) -> str | None:
    """The prefix the workflows already map this upstream to, else the upstream's conventional one."""
    candidates = []
    for wf in snap.workflows.value or []:
        crm = wf.registry_map.value
        for m in crm.registry_mappings if crm else []:
            same = upstreams.upstream_for_ptc_url(m.upstream_registry_url)
            if m.upstream_registry_url == url or (same is not None and same.key == up.key):
                candidates.append(m.ecr_repository_prefix.rstrip("/"))
    candidates.append(up.default_prefix)
    for prefix in candidates:
        if upstreams.ptc_prefix_problem(prefix) is None and prefix not in taken:
            return prefix
    return None


def _manual(snap: Snapshot, findings: list[Finding], title: str, why: str, commands: list[str]) -> ManualStep:
    return ManualStep(
        rule_id=RULE_ID,
        finding_ids=[f.id for f in findings],
        account=snap.account_id,
        region=snap.region,
        resource=findings[0].resource,
        title=title,
        why=why,
        commands=commands,
    )


_NEW_ARN = "<ARN printed by create-secret>"


def _rule_cmd(verb: str, prefix: str, *rest: str) -> str:
    """``aws ecr <verb> --ecr-repository-prefix <prefix> ...`` as a quoted shell line."""
    return command_line(["aws", "ecr", verb, "--ecr-repository-prefix", prefix, *rest])


def _secret_cmd(verb: str, name_flag: str, secret: str, region: str) -> str:
    """``aws secretsmanager <verb>`` storing creds.json (the token never goes on the command line)."""
    return command_line(
        ["aws", "secretsmanager", verb, name_flag, secret, "--secret-string", "file://creds.json", "--region", region]
    )


def _authenticated_steps(snap: Snapshot, prefix: str, url: str) -> list[str]:
    # Prefix and URL come from workflow registry maps, which HealthOmics accepts unvalidated: argument lists only.
    r = ("--region", snap.region)
    return [
        shell_comment("put the upstream user name and access token in creds.json (never on the command line):"),
        shell_comment('  {"username": "<USERNAME>", "accessToken": "<ACCESS_TOKEN>"}'),
        _secret_cmd("create-secret", "--name", f"ecr-pullthroughcache/{prefix}", snap.region),
        _rule_cmd(
            "create-pull-through-cache-rule", prefix, "--upstream-registry-url", url, "--credential-arn", _NEW_ARN, *r
        ),
        _rule_cmd("validate-pull-through-cache-rule", prefix, *r),
        command_line(
            ["omics-ecr-audit", "fix"],
            comment="then plan the registry-policy, template and role grants for the new prefix",
        ),
    ]


def _repair_steps(snap: Snapshot, f: Finding) -> ManualStep:
    rule = f.evidence.get("rule", {})
    prefix = rule.get("ecr_repository_prefix", f.resource.split("/", 1)[-1])
    url = rule.get("upstream_registry_url", "")
    problems = f.evidence.get("problems", [])
    r = ("--region", snap.region)
    commands: list[str] = []
    up = upstreams.upstream_for_ptc_url(url)
    if up is not None and up.ptc_url and url != up.ptc_url:
        credential = ("--credential-arn", rule["credential_arn"]) if rule.get("credential_arn") else ()
        commands += [
            shell_comment(
                "only while no HealthOmics run is active in this region (aws omics list-runs --status RUNNING):"
            ),
            _rule_cmd("delete-pull-through-cache-rule", prefix, *r),
            _rule_cmd("create-pull-through-cache-rule", prefix, "--upstream-registry-url", up.ptc_url, *credential, *r),
        ]
    if any("credential" in p or "secret" in p.lower() or "invalid" in p for p in problems):
        secret = rule.get("credential_arn") or f"ecr-pullthroughcache/{prefix}"
        commands += [
            shell_comment('store {"username": "<USERNAME>", "accessToken": "<ACCESS_TOKEN>"} in creds.json, then:'),
            _secret_cmd("put-secret-value", "--secret-id", secret, snap.region)
            if rule.get("credential_arn")
            else _secret_cmd("create-secret", "--name", secret, snap.region),
            _rule_cmd(
                "update-pull-through-cache-rule", prefix, "--credential-arn", rule.get("credential_arn") or _NEW_ARN, *r
            ),
            _rule_cmd("validate-pull-through-cache-rule", prefix, *r),
        ]
    if up is not None and not up.healthomics_ptc_supported:
        commands.append(
            shell_comment(
                "HealthOmics cannot use this cache: stage the images in a private repository or use a registry "
                "mapping with a credentialArn"
            )
        )
    return _manual(
        snap,
        [f],
        f"Repair pull-through cache rule {prefix!r}",
        "; ".join(problems) or f.message,
        commands,
    )


@fixer(rule_id=RULE_ID, permissions=KIND.permissions, plans_first=True, follow_ons=True)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    snap = ctx.snap
    taken = {r.ecr_repository_prefix.rstrip("/") for r in snap.ptc_rules.value or []}
    for f in findings:
        if not f.resource.startswith("upstream/"):
            yield _repair_steps(snap, f)
            continue
        url = f.evidence.get("upstream_registry_url") or f.resource.removeprefix("upstream/")
        up = upstreams.upstream_for_ptc_url(url)
        if up is None or up.upstream_registry is None:
            yield _manual(snap, [f], f"No cache rule possible for {url}", "ECR cannot cache this registry.", [])
            continue
        prefix = choose_prefix(snap, up, url, taken)
        if prefix is None:
            yield _manual(
                snap,
                [f],
                f"Choose a prefix for {url}",
                f"the usual prefixes for {up.display_name} are taken by other rules",
                [
                    _rule_cmd(
                        "create-pull-through-cache-rule",
                        "<prefix>",
                        "--upstream-registry-url",
                        url,
                        "--region",
                        snap.region,
                    )
                ],
            )
            continue
        if up.requires_credentials:
            yield _manual(
                snap,
                [f],
                f"Create an authenticated pull-through cache rule for {url}",
                f"{up.display_name} needs a Secrets Manager secret holding a person's access token; "
                "omics-ecr-audit never creates credentials.",
                _authenticated_steps(snap, prefix, url),
            )
            continue
        taken.add(prefix)
        params = {"ecrRepositoryPrefix": prefix, "upstreamRegistryUrl": url}
        target = Target(
            kind=KIND.name, account=snap.account_id, region=snap.region, key={"ecrRepositoryPrefix": prefix}
        )
        before = ctx.read(target)
        if before is not None:
            continue  # appeared since the scan; the next scan judges it
        yield make_change(
            rule_id=RULE_ID,
            findings=[f],
            target=target,
            summary=f"Create pull-through cache rule {prefix!r} → {url} (no credential needed).",
            api_calls=[ApiCall(service="ecr", operation="CreatePullThroughCacheRule", params=params)],
            before=None,
            after=params,
            permissions=KIND.permissions,
            blocked_by=ctx.active_runs(),
        )
