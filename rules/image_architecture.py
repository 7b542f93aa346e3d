"""No image HealthOmics will run is ARM-only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.engine import Result, RuleContext, error_result, rule
from auditor.findings import Severity, Status
from auditor.manifests import is_arm_only
from auditor.models import Snapshot

RULE_ID = "image-not-arm-only"


@rule(
    id=RULE_ID,
    title="No image in use is ARM-only (HealthOmics runs x86_64 containers only)",
    severity=Severity.HIGH,
    rationale=(
        "HealthOmics runs tasks on x86_64 only. An image whose manifest (or every entry of its index/manifest list) "
        "is arm64/arm fails when the task starts. Images workflow definitions name (in this account's existing "
        "repositories), image-mapping destinations, recent run tasks' images and the newest tags "
        "of each pull-through cache repository are inspected: index/list platforms, else the config blob's "
        "architecture, else schema 1's architecture field."
    ),
    remediation=(
        "Use a multi-arch tag or an amd64 build of the image (`docker buildx build --platform linux/amd64`), push it "
        "to ECR (or point the image mapping at it) and pin it by digest."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://github.com/opencontainers/image-spec/blob/main/image-index.md",
    ],
    facets=[
        "images",
        "ptc_image_listings",
        "ptc_rules",
        "repositories",
        "workflows",
        "workflow_definitions",
        "runs",
        "run_tasks",
    ],
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    # Which images get inspected comes from these facets; if one could not be read, the image set is
    # incomplete and saying PASS for "all images in use" would be a guess.
    for key, what, source in (
        ("ptc-rules", "pull-through cache rules", snap.ptc_rules),
        ("repositories", "repositories", snap.repositories),
        ("workflows", "workflows (their image mappings)", snap.workflows),
        ("runs", "runs", snap.runs),
    ):
        if source.error is not None:
            yield error_result(
                source.error, f"image-selection/{key}", f"{what}, so some images in use were not inspected"
            )
    for run in snap.runs.value or [] if snap.runs.error is None else []:  # a runs ERROR already says it
        if run.tasks.error is not None:
            yield error_result(
                run.tasks.error, f"{run.arn}/tasks", "the run's tasks, so their images were not inspected"
            )
    for repo, listing in sorted(snap.image_listings.items()):
        if listing.error is not None:
            yield error_result(listing.error, snap.repository_arn(repo), "the repository's newest images")
    origins: dict[str, list[str]] = {}
    for ref in snap.image_refs:
        origins.setdefault(ref.key, []).append(ref.origin)
    seen: set[str] = set()
    for ref in snap.image_refs:
        if ref.key in seen:
            continue
        seen.add(ref.key)
        resource = (
            f"{snap.repository_arn(ref.repository)}{'@' + ref.digest if ref.digest else ':' + (ref.tag or 'latest')}"
        )
        evidence: dict[str, Any] = {"image": ref.key, "origins": origins[ref.key]}
        collected = snap.images.get(ref.key)
        if collected is None:
            yield Result(
                status=Status.ERROR, resource=resource, evidence=evidence, message="The image was not inspected."
            )
            continue
        if collected.error is not None:
            yield error_result(collected.error, resource, "the image manifest")
            continue
        info = collected.value
        assert info is not None
        if not info.exists:
            yield Result(
                status=Status.NOT_APPLICABLE,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref.key} does not exist in ECR (the registry-map rule reports missing destinations).",
            )
            continue
        evidence.update(
            {
                "digest": info.digest,
                "media_type": info.media_type,
                "platforms": info.platforms,
                "platform_source": info.source,
            }
        )
        verdict = is_arm_only(info.platforms)
        if verdict is None:
            yield Result(
                status=Status.ERROR,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref.key} carries no platform information; its architecture is unknown.",
            )
        elif verdict:
            yield Result(
                status=Status.FAIL,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref.key} is ARM-only ({', '.join(info.platforms)}); HealthOmics needs linux/amd64.",
            )
        else:
            yield Result(
                status=Status.PASS,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref.key} provides linux/amd64 ({', '.join(info.platforms)}).",
            )
