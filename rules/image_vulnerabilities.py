"""Opt-in: no image workflows used carries ECR scan findings at or above a severity threshold (seed 002).

Off by default (config ``vulnerabilities``): then the rule is NOT_APPLICABLE and the collector makes no call. On, it
judges, per image digest workflows used (recent runs' task images, the images definitions and image mappings
name), the last scan DescribeImageScanFindings returns, basic (``findings``) or enhanced (``enhancedFindings``, from
Amazon Inspector) alike: findings at or above the threshold FAIL, none PASS. An image without a scan
(ScanNotFoundException) is NOT_APPLICABLE when no scan-on-push rule covers its repository (``ecr-scanning-on`` is
the finding to fix) and FAIL, at medium severity, when one does: its vulnerabilities are unknown although scanning
was asked for (docs/judgement-calls.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.rules.ecr_scanning import ON_PUSH, filter_matches

from auditor.engine import Result, RuleContext, error_result, facet_errors, rule
from auditor.findings import Severity, Status
from auditor.models import Collected, ImageScan, ImageVulnerabilities, RegistryScanning, Snapshot

RULE_ID = "image-vulnerabilities"
SCANNING_RULE = "ecr-scanning-on"
SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # FindingSeverity, lowest first
JUDGED = frozenset({"COMPLETE", "ACTIVE"})  # a finished basic scan; enhanced continuous scanning with findings
PENDING = frozenset({"IN_PROGRESS", "PENDING"})
TURN_ON = (
    "Opt-in rule: set `vulnerabilities: {severity_threshold: CRITICAL, lookback_days: 30}` in the configuration "
    "file (`scan --config`) to judge the ECR scan findings of the images workflows used."
)


def at_or_above(counts: dict[str, int], threshold: str) -> dict[str, int]:
    """The counts of the severities at or above ``threshold`` (unrated ones never are)."""
    floor = SEVERITIES.index(threshold)
    return {s: n for s, n in counts.items() if s in SEVERITIES and SEVERITIES.index(s) >= floor and n > 0}


def scanned_on_push(config: RegistryScanning, repository: str) -> list[str]:
    """The WILDCARD filters of the registry's scanning rules that scan ``repository`` on push (or continuously)."""
    frequencies = ON_PUSH.get(config.scan_type, ())
    return [
        f.filter
        for r in config.rules
        if r.scan_frequency in frequencies
        for f in r.repository_filters
        if f.filter_type == "WILDCARD" and filter_matches(f.filter, repository)
    ]


def _evidence(scan: ImageScan, settings: ImageVulnerabilities) -> dict[str, Any]:
    threshold = settings.severity_threshold
    top = [
        {k: v for k, v in f.model_dump().items() if v is not None}
        for f in scan.findings
        if f.severity in SEVERITIES and SEVERITIES.index(f.severity) >= SEVERITIES.index(threshold)
    ][: settings.top_findings]
    return {
        "repository": scan.repository,
        "digest": scan.digest,
        "used_by": scan.uses,
        "scan_status": scan.status,
        "scan_type": "ENHANCED" if scan.enhanced else "BASIC",
        "scan_completed_at": scan.completed_at.isoformat() if scan.completed_at else None,
        "severity_threshold": threshold,
        "severity_counts": scan.severity_counts,
        "top_findings": top,
    }


def _judge(
    scan: ImageScan, settings: ImageVulnerabilities, scanning: Collected[RegistryScanning], resource: str
) -> Result:
    threshold = settings.severity_threshold
    if not scan.scan_found:
        evidence: dict[str, Any] = {"repository": scan.repository, "digest": scan.digest, "used_by": scan.uses}
        if scanning.error is not None or scanning.value is None:
            if scanning.error is None:
                return Result(status=Status.ERROR, resource=resource, message="The registry scanning was not read.")
            return error_result(scanning.error, resource, "the registry scanning configuration")
        config = scanning.value
        filters = scanned_on_push(config, scan.repository)
        evidence.update(scan_type=config.scan_type, covering_filters=filters)
        if not filters:
            return Result(
                status=Status.NOT_APPLICABLE,
                resource=resource,
                evidence=evidence,
                message=f"Image {resource} was never scanned and the registry's {config.scan_type} scanning does not "
                f"scan repository {scan.repository!r} on push: see rule {SCANNING_RULE}.",
            )
        return Result(
            status=Status.FAIL,
            severity=Severity.MEDIUM,
            resource=resource,
            evidence=evidence,
            message=f"Image {resource} has no scan (ScanNotFoundException) although {config.scan_type} scanning "
            f"covers {scan.repository!r} (filter {filters[0]!r}): its vulnerabilities are unknown. "
            "Images pushed or cached before the rule existed are not scanned until a scan is started.",
        )
    evidence = _evidence(scan, settings)
    over = at_or_above(scan.severity_counts, threshold)
    if over:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(over.items(), key=lambda i: -SEVERITIES.index(i[0])))
        names = ", ".join(f["name"] for f in evidence["top_findings"][:3])
        return Result(
            status=Status.FAIL,
            resource=resource,
            evidence=evidence,
            message=f"Image {resource} has {counts} finding(s) at or above {threshold}"
            + (f" ({names}...)" if names else "")
            + f"; used by {', '.join(scan.uses[:2])}.",
        )
    if scan.status in JUDGED:
        return Result(
            status=Status.PASS,
            resource=resource,
            evidence=evidence,
            message=f"Image {resource}: no finding at or above {threshold} in its last scan ({scan.status}).",
        )
    if scan.status in PENDING or scan.status == "UNSUPPORTED_IMAGE":
        return Result(
            status=Status.NOT_APPLICABLE,
            resource=resource,
            evidence=evidence,
            message=f"Image {resource}: scan status {scan.status}"
            + (f" ({scan.status_description})" if scan.status_description else "")
            + (": judged once the scan completes." if scan.status in PENDING else ": ECR cannot scan this image."),
        )
    return Result(
        status=Status.FAIL,
        severity=Severity.MEDIUM,
        resource=resource,
        evidence=evidence,
        message=f"Image {resource}: its scan gives no findings to judge (status {scan.status}"
        + (f": {scan.status_description}" if scan.status_description else "")
        + "); its vulnerabilities are unknown.",
    )


@rule(
    id=RULE_ID,
    title="No image workflows used has scan findings at or above the severity threshold (opt-in)",
    severity=Severity.HIGH,
    rationale=(
        "The HealthOmics container registry maps guide (seed 002, Security considerations) asks to enable ECR image "
        "scanning for vulnerabilities, and users of peer tools report images in use carrying critical "
        "vulnerabilities: scanning only helps when someone reads the findings of the images runs actually pull. "
        "ECR keeps the findings of each image's last scan (DescribeImageScanFindings): basic scanning's CVE "
        "findings, or Amazon Inspector's enhanced findings. Opt-in, because findings change every day without any "
        "change in the account and a team may triage them elsewhere."
    ),
    remediation=(
        "Rebuild the image on a patched base image (or pull a patched upstream tag through the cache), push it, "
        "point the workflow at the new digest and publish a workflow version; then re-scan "
        "(`aws ecr start-image-scan`, basic scanning) and check `aws ecr describe-image-scan-findings`. "
        "`omics-ecr-audit fix` lists these steps per image."
    ),
    references=[
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/describe-scan-findings.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/manual-scan.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImageScanFindings.html",
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
    ],
    facets=["image_vulnerabilities", "registry_scanning"],
    group="hygiene",
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    errors = facet_errors("image-vulnerabilities", image_vulnerabilities=snap.image_vulnerabilities)
    if errors:
        yield from errors
        return
    settings = snap.image_vulnerabilities.value
    if settings is None:  # neither read nor failed: a snapshot assembled without it; say why it cannot judge
        yield from facet_errors("image-vulnerabilities", registry_scanning=snap.registry_scanning) or [
            Result(status=Status.ERROR, resource="image-vulnerabilities", message="The scan findings were not read.")
        ]
        return
    if not settings.enabled:
        yield Result(status=Status.NOT_APPLICABLE, resource="image-vulnerabilities", message=TURN_ON)
        return
    if not settings.images:
        yield Result(
            status=Status.NOT_APPLICABLE,
            resource="image-vulnerabilities",
            evidence={"lookback_days": settings.lookback_days},
            message="No existing image with a known digest is used by a workflow definition, an image mapping or "
            f"a run of the last {settings.lookback_days} days.",
        )
        return
    for key, collected in sorted(settings.images.items()):
        # "repository@digest" -> the image's ARN form, as the other image rules name it (findings-format.md)
        repository, _, digest = key.partition("@")
        resource = f"{snap.repository_arn(repository)}@{digest}"
        if collected.error is not None or collected.value is None:
            assert collected.error is not None
            yield error_result(collected.error, resource, "the image's scan findings")
            continue
        yield _judge(collected.value, settings, snap.registry_scanning, resource)
