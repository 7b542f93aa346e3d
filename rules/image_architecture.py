"""No image HealthOmics will run is ARM-only."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.engine import IMAGES_IN_USE_FACETS, Result, RuleContext, images_in_use, rule
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
    facets=IMAGES_IN_USE_FACETS,
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    for item in images_in_use(snap, "the image manifest"):
        if isinstance(item, Result):
            yield item
            continue
        ref_key, resource, evidence, info = item.key, item.resource, item.evidence, item.info
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
                message=f"Image {ref_key} carries no platform information; its architecture is unknown.",
            )
        elif verdict:
            yield Result(
                status=Status.FAIL,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref_key} is ARM-only ({', '.join(info.platforms)}); HealthOmics needs linux/amd64.",
            )
        else:
            yield Result(
                status=Status.PASS,
                resource=resource,
                evidence=evidence,
                message=f"Image {ref_key} provides linux/amd64 ({', '.join(info.platforms)}).",
            )
