"""Fix ``ecr-scanning-on``: merge a ``<prefix>/*`` filter for each uncovered cache prefix into the scan-on-push rule.

PutRegistryScanningConfiguration replaces the whole configuration, so the fixer reads it live, keeps the scan
type and every existing rule and filter, and adds the missing filters to one rule:

* the rule scanning on push (SCAN_ON_PUSH) when there is one;
* else a new SCAN_ON_PUSH rule, when the configuration has room for one (the model allows two rules);
* else, under enhanced scanning, the CONTINUOUS_SCAN rule (it scans on push too);
* else nothing: the finding is refused with the reason (a person decides which rule to give up).

The previous configuration is the backup; rollback puts it back with the same call. A filter is added only when
it is not there already, so a second apply plans nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import botocore.session
from auditor.rules.ecr_scanning import ON_PUSH, ROOT, covering

from auditor.findings import Finding
from auditor.fix import ApiCall, Clients, FixContext, PlanItem, StateKind, Target, fixer, make_change, register_kind
from auditor.fix import refused as refuse
from auditor.models import RegistryScanning, ScanningFilter, ScanningRule

RULE_ID = "ecr-scanning-on"
_MODEL = botocore.session.get_session().get_service_model("ecr")
# The limits and filter pattern of botocore's model (the final word on shapes).
MAX_RULES: int = _MODEL.shape_for("RegistryScanningRuleList").metadata["max"]
MAX_FILTERS: int = _MODEL.shape_for("ScanningRepositoryFilterList").metadata["max"]
FILTER_PATTERN = re.compile(_MODEL.shape_for("ScanningRepositoryFilterValue").metadata["pattern"])


def _read(clients: Clients, target: Target) -> dict[str, Any]:
    config = clients.get("ecr", target.region).get_registry_scanning_configuration().get("scanningConfiguration") or {}
    return {
        "scanType": config.get("scanType") or "BASIC",
        "rules": [
            {
                "scanFrequency": r["scanFrequency"],
                "repositoryFilters": [
                    {"filter": f["filter"], "filterType": f.get("filterType", "WILDCARD")}
                    for f in r.get("repositoryFilters", [])
                ],
            }
            for r in config.get("rules", [])
        ],
    }


def _restore(target: Target, saved: Any, current: Any) -> list[ApiCall]:
    return [
        ApiCall(
            service="ecr",
            operation="PutRegistryScanningConfiguration",
            params={"scanType": saved["scanType"], "rules": saved["rules"]},
        )
    ]


KIND = register_kind(
    StateKind(
        name="registry_scanning_configuration",
        read=_read,
        restore=_restore,
        permissions=(
            "ecr:GetRegistryScanningConfiguration",
            "ecr:PutRegistryScanningConfiguration",
            # The ECR guide's policy for enabling *and using* enhanced scanning; a registry on enhanced scanning
            # is written back as enhanced (GUESS: that ECR checks these on every such write, not only the first).
            "inspector2:Enable",
            "inspector2:ListAccountPermissions",
        ),
        writes=(("ecr", "PutRegistryScanningConfiguration"),),
    )
)


def scan_filter_for(prefix: str) -> str | None:
    """The filter matching exactly the repositories under ``prefix`` (``*`` for ROOT), or None if ECR's filter
    pattern cannot express it even widened (runs of separators such as ``a__b`` become ``*``)."""
    if prefix == ROOT:
        return "*"
    candidate = prefix.rstrip("/") + "/*"
    if FILTER_PATTERN.fullmatch(candidate):
        return candidate
    widened = re.sub(r"[._\-/]{2,}", "*", candidate)
    return widened if FILTER_PATTERN.fullmatch(widened) else None


def _rule_to_extend(rules: list[dict[str, Any]], scan_type: str) -> tuple[int | None, str]:
    """(index of the rule to add filters to, or None to append a new rule; "" or why nothing can be done)."""
    frequencies = [r["scanFrequency"] for r in rules]
    if "SCAN_ON_PUSH" in frequencies:
        return frequencies.index("SCAN_ON_PUSH"), ""
    if len(rules) < MAX_RULES:
        return None, ""
    if scan_type == "ENHANCED" and "CONTINUOUS_SCAN" in frequencies:
        return frequencies.index("CONTINUOUS_SCAN"), ""
    return None, (
        f"the registry already has {len(rules)} scanning rules (the most ECR allows), none of them scanning on push; "
        "which one to replace is a person's decision"
    )


def _as_model(config: dict[str, Any]) -> RegistryScanning:
    return RegistryScanning(
        scan_type=config["scanType"],
        rules=[
            ScanningRule(
                scan_frequency=r["scanFrequency"],
                repository_filters=[
                    ScanningFilter(filter=f["filter"], filter_type=f["filterType"]) for f in r["repositoryFilters"]
                ],
            )
            for r in config["rules"]
        ],
    )


@fixer(rule_id=RULE_ID, permissions=KIND.permissions)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    if not findings:
        return
    snap = ctx.snap
    target = Target(kind=KIND.name, account=snap.account_id, region=snap.region)
    before = ctx.read(target)
    scan_type = before["scanType"]
    if scan_type not in ON_PUSH:
        for f in findings:
            yield refuse(f, f"unknown scan type {scan_type!r}")
        return
    after = copy.deepcopy(before)
    index, why_not = _rule_to_extend(after["rules"], scan_type)
    if why_not:
        for f in findings:
            yield refuse(f, why_not)
        return
    if index is None:
        after["rules"].append({"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []})
        index = len(after["rules"]) - 1
    chosen = after["rules"][index]
    existing = {f["filter"] for f in chosen["repositoryFilters"]}
    planned: list[Finding] = []
    added: list[str] = []
    for f in findings:
        new_filter = scan_filter_for(f.evidence["prefix"])
        if new_filter is None:
            yield refuse(f, f"ECR's filter pattern cannot express prefix {f.evidence['prefix']!r}")
            continue
        if new_filter not in existing and new_filter not in added:
            added.append(new_filter)
        planned.append(f)
    if len(existing) + len(added) > MAX_FILTERS:
        for f in planned:
            yield refuse(f, f"the {chosen['scanFrequency']} rule would exceed ECR's {MAX_FILTERS} filters")
        return
    chosen["repositoryFilters"].extend({"filter": flt, "filterType": "WILDCARD"} for flt in added)
    merged = _as_model(after)
    uncovered = [f for f in planned if not covering(merged, f.evidence["prefix"])]
    for f in uncovered:
        yield refuse(f, "the merged configuration would still not scan the prefix on push")
    planned = [f for f in planned if f not in uncovered]
    if not planned:
        return
    yield make_change(
        rule_id=RULE_ID,
        findings=planned,
        target=target,
        summary=f"Registry scanning ({scan_type}): add filter(s) {', '.join(added) or '(none)'} to the "
        f"{chosen['scanFrequency']} rule (other rules and filters unchanged).",
        api_calls=[
            ApiCall(
                service="ecr",
                operation="PutRegistryScanningConfiguration",
                params={"scanType": after["scanType"], "rules": after["rules"]},
            )
        ],
        before=before,
        after=after,
        permissions=KIND.permissions,
    )
