"""``image-not-arm-only`` has no automatic fix: the plan tells a person how to get an amd64 image.

Rewriting tags or images behind a running organisation's back would change what
their workflows run; only the image's owner can choose the replacement.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "image-not-arm-only"
_REBUILD = command_line(
    ["docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64", "-t", "<image>", "--push", "."]
)


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        image = f.evidence.get("image", f.resource)
        uri = f"{ctx.snap.registry_host()}/{image.replace('@', '@', 1)}"
        yield ManualStep.for_finding(
            f,
            title=f"Provide a linux/amd64 image for {image}",
            why="HealthOmics runs tasks on x86_64 only; this image has no amd64 variant "
            f"({', '.join(f.evidence.get('platforms', [])) or 'platforms unknown'}).",
            commands=[
                command_line(["docker", "buildx", "imagetools", "inspect", uri], comment="confirm the platforms"),
                shell_comment(f"use an upstream tag that is multi-arch or amd64, or rebuild: {_REBUILD}"),
                shell_comment("then point the workflow (or its image mapping) at the amd64-capable tag or digest"),
            ],
        )
