"""Custom checks declared in the config file as JMESPath, run by the same engine.

The expressions see a flattened *view* of the snapshot (documented in the
README) in which per-resource data is joined onto the resource, e.g. each
repository carries its ``policy``, ``lifecycle_policy`` and ``ptc_prefix``, so
a team can write "every PTC repository has a lifecycle policy" as::

    resources: "repositories[?ptc_prefix]"
    condition: "lifecycle_policy != null"

Statuses follow the built-in rules: a facet that could not be read, or an item
whose own data could not be read, is ERROR, never PASS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jmespath

from auditor import upstreams
from auditor.config import CustomRule, compile_jmespath
from auditor.engine import Result, Rule, RuleContext, RuleMeta, error_result
from auditor.facets import FACETS
from auditor.findings import Status
from auditor.models import Collected, Snapshot


def _errors(*items: Collected[Any] | None) -> list[dict[str, Any]]:
    return [i.error.model_dump(exclude_none=True) for i in items if i is not None and i.error is not None]


def inventory_view(snap: Snapshot) -> dict[str, Any]:
    """The JSON document custom rules query (stable; documented in README)."""
    prefixes = [r.ecr_repository_prefix for r in snap.ptc_rules.value or []]
    repositories = []
    for repo in snap.repositories.value or []:
        policy = snap.repository_policies.get(repo.name)
        lifecycle = snap.lifecycle_policies.get(repo.name)
        repositories.append(
            {
                **repo.model_dump(mode="json"),
                "ptc_prefix": upstreams.longest_prefix([p for p in prefixes if p != "ROOT"], repo.name),
                "policy": policy.value if policy else None,
                "lifecycle_policy": lifecycle.value if lifecycle else None,
                "errors": _errors(policy, lifecycle),
            }
        )
    ptc_rules = []
    for rule in snap.ptc_rules.value or []:
        validation = snap.ptc_validations.get(rule.ecr_repository_prefix)
        ptc_rules.append(
            {
                **rule.model_dump(mode="json"),
                "validation": validation.value.model_dump(mode="json") if validation and validation.value else None,
                "errors": _errors(validation),
            }
        )
    workflows = []
    for wf in snap.workflows.value or []:
        data = wf.model_dump(mode="json", exclude={"registry_map"})
        data["registry_map"] = wf.registry_map.value.model_dump(mode="json") if wf.registry_map.value else None
        data["errors"] = _errors(wf.registry_map)
        workflows.append(data)
    runs = []
    for run in snap.runs.value or []:
        data = run.model_dump(mode="json", exclude={"tasks"})
        data["tasks"] = [t.model_dump(mode="json") for t in run.tasks.value or []]
        data["errors"] = _errors(run.tasks)
        runs.append(data)
    return {
        "account_id": snap.account_id,
        "region": snap.region,
        "registry_policy": snap.registry_policy.value,
        "ptc_rules": ptc_rules,
        "templates": [t.model_dump(mode="json") for t in snap.templates.value or []],
        "repositories": repositories,
        "workflows": workflows,
        "runs": runs,
        "service_roles": [s.model_dump(mode="json") for s in snap.service_roles.value or []],
    }


# Where each facet's data lives in the Snapshot, from the facet declarations (one place to add a facet).
_FACET_FIELD = {name: facet.snapshot_field for name, facet in FACETS.items()}


def build_rule(spec: CustomRule) -> Rule:
    resources = compile_jmespath(spec.resources, f"custom rule {spec.id}: resources")
    name_expr = compile_jmespath(spec.resource_name, f"custom rule {spec.id}: resource_name")
    condition = compile_jmespath(spec.condition, f"custom rule {spec.id}: condition")

    def evaluate(snap: Snapshot, _ctx: RuleContext) -> Iterable[Result]:
        for facet in spec.facets:
            field = _FACET_FIELD.get(facet)
            collected = getattr(snap, field) if field else None
            if isinstance(collected, Collected) and collected.error is not None:
                yield error_result(collected.error, f"custom/{spec.id}", facet)
                return
        view = inventory_view(snap)
        try:
            selected = resources.search(view, options=jmespath.Options())
        except jmespath.exceptions.JMESPathError as exc:
            yield Result(
                status=Status.ERROR, resource=f"custom/{spec.id}", message=f"resources expression failed: {exc}"
            )
            return
        if selected is None:
            return
        if not isinstance(selected, list):
            selected = [selected]
        for index, item in enumerate(selected):
            name = name_expr.search(item) if isinstance(item, dict) else None
            resource = str(name) if name not in (None, "") else f"custom/{spec.id}/{index}"
            item_errors = item.get("errors") if isinstance(item, dict) else None
            if item_errors:
                yield Result(
                    status=Status.ERROR,
                    resource=resource,
                    message=f"Could not read data this check needs: {item_errors[0].get('operation')} "
                    f"failed with {item_errors[0].get('code')}",
                    evidence={"api_errors": item_errors},
                )
                continue
            try:
                ok = bool(condition.search(item))
            except jmespath.exceptions.JMESPathError as exc:
                yield Result(status=Status.ERROR, resource=resource, message=f"condition failed: {exc}")
                continue
            message = spec.message.format(resource=resource) if spec.message else spec.title
            yield Result(
                status=Status.PASS if ok else Status.FAIL,
                resource=resource,
                message=message if not ok else f"{spec.title}: satisfied",
                evidence={"condition": spec.condition},
            )

    meta = RuleMeta(
        id=spec.id,
        title=spec.title,
        severity=spec.severity,
        rationale=spec.rationale or "Organisation-specific check from the configuration file.",
        remediation=spec.remediation or "See your organisation's runbook for this check.",
        facets=spec.facets,
        custom=True,
    )
    return Rule(meta=meta, evaluate=evaluate)
