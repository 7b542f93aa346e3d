"""``image-runnable`` has no automatic fix: only the image's owner can rebuild it.

The plan says what to change in the image (drop the ENTRYPOINT, rename an ``AWS_WORKFLOW_`` variable,
shrink it under the size quota) and how to check the result; the variable's value is never shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "image-runnable"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        image = str(f.evidence.get("image", f.resource))
        uri = f"{ctx.snap.registry_host()}/{image}"
        commands = [
            command_line(
                ["docker", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", uri],
                comment="after a docker pull: the ENTRYPOINT HealthOmics would run the task's bash script with",
            )
        ]
        entrypoint = f.evidence.get("entrypoint")
        if entrypoint:
            commands.append(
                shell_comment(
                    "in the Dockerfile: remove ENTRYPOINT (or add `ENTRYPOINT []` after the FROM that sets one) "
                    "and keep the tool on PATH or in CMD"
                )
            )
        for name in f.evidence.get("protected_variables") or []:
            commands.append(
                shell_comment(f"in the Dockerfile: rename ENV {name} (AWS_WORKFLOW_ is reserved for HealthOmics)")
            )
        size, limit = f.evidence.get("size_bytes"), f.evidence.get("max_image_size_bytes")
        gpu_limit = f.evidence.get("max_gpu_image_size_bytes")
        if isinstance(size, int) and isinstance(limit, int) and size > limit:
            commands.append(
                shell_comment(
                    "shrink the image: a multi-stage build that copies only the tool, no package caches or data"
                )
            )
            if isinstance(gpu_limit, int) and size <= gpu_limit:
                commands.append(
                    shell_comment(
                        "or run it only in tasks that request GPUs (HealthOmics allows a larger image on a GPU "
                        "instance)"
                    )
                )
        commands.append(
            shell_comment(
                "rebuild for linux/amd64, push, and point the workflow (or its image mapping) at the new digest"
            )
        )
        yield ManualStep.for_finding(
            f, title=f"Rebuild {image} so HealthOmics can run it", why=f.message, commands=commands
        )
