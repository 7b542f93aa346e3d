"""The registry's scanning configuration scans every pull-through cache prefix on push (seed 002).

ECR's scanning rules choose repositories with WILDCARD filters on the repository name (aws-semantics.md §11.1):
a filter without ``*`` matches every name that *contains* it; a filter with ``*`` must match the whole name,
each ``*`` standing for zero or more characters. A cache prefix is covered when one filter of a rule that scans
on push matches *every* repository the cache can create under it (``<prefix>/<anything>``), which
``filter_covers_prefix`` decides exactly; a filter that matches only some of them (``docker-hub/library/*``)
does not cover the prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from auditor.engine import Result, RuleContext, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import RegistryScanning, Snapshot

RULE_ID = "ecr-scanning-on"
ROOT = "ROOT"
# Which frequencies scan a newly pushed (or newly cached) image, per scan type (aws-semantics.md §11.1):
# basic scanning scans on push only; enhanced scanning's continuous scanning also scans on push.
ON_PUSH = {"BASIC": ("SCAN_ON_PUSH",), "ENHANCED": ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")}


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def filter_matches(scan_filter: str, repository: str) -> bool:
    """ECR's WILDCARD scanning filter on one repository name: no ``*`` = substring, else a whole-name glob."""
    if "*" not in scan_filter:
        return scan_filter in repository
    return _glob(scan_filter).fullmatch(repository) is not None


def _names_start(prefix: str) -> str:
    """What every repository a cache rule creates under ``prefix`` starts with ("" for ROOT: any name)."""
    return "" if prefix == ROOT else prefix.rstrip("/") + "/"


def filter_covers_prefix(scan_filter: str, prefix: str) -> bool:
    """True when ``scan_filter`` matches every repository name ``<prefix>/<anything>``.

    Exact for any name after the prefix: a filter without ``*`` must lie inside ``<prefix>/`` (anything after it
    could differ), and a filter with ``*`` must end with ``*`` and the rest must match a leading part of
    ``<prefix>/`` (the trailing ``*`` then swallows whatever follows).
    """
    start = _names_start(prefix)
    if "*" not in scan_filter:
        return bool(start) and scan_filter in start
    if not scan_filter.endswith("*"):
        return False
    head = _glob(scan_filter.rstrip("*"))
    return any(head.fullmatch(start[:i]) for i in range(len(start) + 1))


def covering(config: RegistryScanning, prefix: str) -> list[dict[str, str]]:
    """The (frequency, filter) pairs of rules that scan on push and cover every repository under ``prefix``."""
    frequencies = ON_PUSH.get(config.scan_type, ())
    return [
        {"scan_frequency": r.scan_frequency, "filter": f.filter}
        for r in config.rules
        if r.scan_frequency in frequencies
        for f in r.repository_filters
        if f.filter_type == "WILDCARD" and filter_covers_prefix(f.filter, prefix)
    ]


def configuration_evidence(config: RegistryScanning) -> dict[str, Any]:
    return {
        "scan_type": config.scan_type,
        "rules": [
            {"scan_frequency": r.scan_frequency, "filters": [f.filter for f in r.repository_filters]}
            for r in config.rules
        ],
    }


@rule(
    id=RULE_ID,
    title="Registry scanning scans every pull-through cache prefix on push",
    severity=Severity.MEDIUM,
    rationale=(
        "The HealthOmics container registry maps guide (seed 002, Security considerations) asks to enable ECR image "
        "scanning for vulnerabilities. Images a pull-through cache brings in are pushed by ECR itself, so only the "
        "registry's scanning configuration can scan them: a SCAN_ON_PUSH rule (basic scanning), or a SCAN_ON_PUSH or "
        "CONTINUOUS_SCAN rule (enhanced scanning), whose WILDCARD filter matches every repository under the prefix. "
        "Repositories no such filter matches are scanned manually only (basic) or not at all (enhanced)."
    ),
    remediation=(
        "Add a filter `<prefix>/*` to the registry's scan-on-push rule, keeping every existing rule and the scan "
        "type: `aws ecr get-registry-scanning-configuration`, then `aws ecr put-registry-scanning-configuration "
        "--scan-type <same type> --rules <existing rules with the filter added>`. `omics-ecr-audit fix` does exactly "
        "this and backs up the previous configuration."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-filters.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutRegistryScanningConfiguration.html",
    ],
    facets=["ptc_rules", "registry_scanning"],
    group="hygiene",
    fixable=True,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("registry-scanning", ptc_rules=snap.ptc_rules, registry_scanning=snap.registry_scanning)
    if errors:
        yield from errors
        return
    config = snap.registry_scanning.value
    assert config is not None
    prefixes = snap.ptc_prefixes()
    if not prefixes:
        yield Result(
            status=Status.NOT_APPLICABLE,
            resource="registry-scanning",
            message="No pull-through cache rule in this region: no cached image to scan.",
            evidence=configuration_evidence(config),
        )
        return
    on_push = ON_PUSH.get(config.scan_type, ())
    for prefix in prefixes:
        found = covering(config, prefix)
        evidence: dict[str, Any] = {"prefix": prefix, **configuration_evidence(config), "covered_by": found}
        resource = f"registry-scanning/{prefix}"
        if found:
            first = found[0]
            yield Result(
                status=Status.PASS,
                resource=resource,
                evidence=evidence,
                message=f"{config.scan_type} scanning scans every repository under {prefix!r} on push "
                f"(filter {first['filter']!r}, {first['scan_frequency']}).",
            )
            continue
        what = " or ".join(on_push) if on_push else "any scan-on-push"
        yield Result(
            status=Status.FAIL,
            resource=resource,
            evidence=evidence,
            message=f"No {what} rule of the registry's {config.scan_type} scanning configuration has a filter "
            f"matching every repository under PTC prefix {prefix!r}: images cached there are "
            + ("scanned only when someone starts a scan." if config.scan_type == "BASIC" else "never scanned."),
        )
