"""Every image a workflow uses can run under HealthOmics: no ENTRYPOINT, no AWS_WORKFLOW_ variable, size in quota."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.engine import IMAGES_IN_USE_FACETS, Result, RuleContext, images_in_use, rule
from auditor.findings import Severity, Status
from auditor.manifests import PROTECTED_ENV_PREFIX, entrypoint_is_shell, known_shell
from auditor.models import ImagePlatforms, Snapshot

RULE_ID = "image-runnable"

# HealthOmics' maximum container image size. GUESS: the figure on the HealthOmics service-quotas page
# (workflow fixed size quotas) could not be read from the stored copy of the page; see docs/aws-semantics.md
# ("Maximum container image size"). `max_image_size_bytes` in the configuration overrides it.
DEFAULT_MAX_IMAGE_SIZE_BYTES = 20 * 1024**3

_NO_SHELL_BASES = ("distroless", "scratch")


def max_image_size(ctx: RuleContext) -> int:
    """The configured limit (``max_image_size_bytes``, passed on the rule context) or the AWS default."""
    value = getattr(ctx, "max_image_size_bytes", None)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else DEFAULT_MAX_IMAGE_SIZE_BYTES
    )


def _gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB"


@rule(
    id=RULE_ID,
    title="Every image in use can run under HealthOmics (no ENTRYPOINT, no AWS_WORKFLOW_ variable, size in quota)",
    severity=Severity.HIGH,
    group="access",
    rationale=(
        "The HealthOmics guide Container images for private workflows (seed 004) says the workflow engines inject "
        "bash scripts as the container's command, so images should be built without an ENTRYPOINT and with bash "
        "as the default; that every HealthOmics variable starts with the protected AWS_WORKFLOW_ prefix, which "
        "images must not use for their own variables; and that an image may not exceed HealthOmics' maximum "
        "container image size (workflow fixed size quotas). The same images as image-not-arm-only are inspected, "
        "from what the scan already downloads: the config blob of each single-platform image (ENTRYPOINT, CMD, "
        "SHELL, environment variable names) and its manifest (the sum of its layer sizes). A multi-platform index "
        "is not inspected (its linux/amd64 image is not downloaded) and says so. A shell the config cannot show "
        "is reported as unknown, and Java heap options the guide warns about as a note, never as a FAIL."
    ),
    remediation=(
        "Rebuild the image without ENTRYPOINT (or with ENTRYPOINT [] / a plain shell), rename any variable that "
        "starts with AWS_WORKFLOW_, keep the image under the maximum size (multi-stage builds, fewer layers), push "
        "it and point the workflow (or its image mapping) at the new digest."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://docs.aws.amazon.com/omics/latest/dev/service-quotas.html",
        "https://github.com/opencontainers/image-spec/blob/main/config.md",
    ],
    facets=IMAGES_IN_USE_FACETS,
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    # The image set and its read failures are the architecture rule's (auditor.engine.images_in_use).
    limit = max_image_size(ctx)
    for item in images_in_use(snap, "the image manifest and config"):
        yield item if isinstance(item, Result) else _judge(item.key, item.resource, item.evidence, item.info, limit)


def _judge(key: str, resource: str, evidence: dict[str, Any], info: ImagePlatforms, limit: int) -> Result:
    evidence.update({"digest": info.digest, "media_type": info.media_type, "max_image_size_bytes": limit})
    if not info.config_inspected:
        why = {
            "index": "a multi-platform index: its linux/amd64 image's config and layers are not downloaded",
            "schema1": "a Docker schema 1 manifest: its config is not read",
        }.get(info.source, "its config was not read (an older inventory or a manifest without a config)")
        evidence["inspected"] = False
        evidence["notes"] = [f"INFO: not inspected: {why}"]
        return Result(
            status=Status.NOT_APPLICABLE,
            resource=resource,
            evidence=evidence,
            message=f"Image {key} was not inspected ({why}); its ENTRYPOINT, environment and size are unknown.",
        )
    shell, shell_source = known_shell(info.entrypoint, info.cmd, info.shell)
    protected = [name for name in info.env_names if name.startswith(PROTECTED_ENV_PREFIX)]
    evidence.update(
        {
            "inspected": True,
            "entrypoint": info.entrypoint,
            "cmd": info.cmd,
            "protected_variables": protected,  # names only: values can be secrets and are never read
            "size_bytes": info.size_bytes,
            "shell": {"name": shell, "seen_in": shell_source or None, "base_image": info.base_image},
            "java_memory_flags": info.java_memory_flags,
        }
    )
    problems: list[str] = []
    notes: list[str] = []
    if not entrypoint_is_shell(info.entrypoint):
        problems.append(
            f"its ENTRYPOINT {info.entrypoint} is not a shell, so the bash script HealthOmics passes as the "
            "command is handed to it as arguments"
        )
    elif info.entrypoint:
        notes.append(
            f"INFO: ENTRYPOINT {info.entrypoint} is a plain shell; seed 004 asks for none (see docs/judgement-calls.md)"
        )
    if protected:
        problems.append(f"it sets {', '.join(protected)}, under the protected prefix {PROTECTED_ENV_PREFIX}")
    if info.size_bytes is None:
        notes.append("INFO: size unknown: a layer descriptor of the manifest has no valid size")
    elif info.size_bytes > limit:
        problems.append(
            f"its layers add up to {_gib(info.size_bytes)} ({info.size_bytes} bytes), over the "
            f"{_gib(limit)} maximum container image size"
        )
    if shell == "unknown":
        base = info.base_image or ""
        if any(marker in base.lower() for marker in _NO_SHELL_BASES):
            notes.append(f"INFO: shell unknown; the base image {base} usually has none")
        else:
            notes.append("INFO: shell unknown: neither ENTRYPOINT, CMD nor SHELL names one (the config cannot tell)")
    elif shell != "bash":
        notes.append(f"INFO: only {shell} is known to exist ({shell_source}); HealthOmics injects bash scripts")
    if info.java_memory_flags:
        notes.append(
            "INFO: Java heap options set in the image ("
            + ", ".join(info.java_memory_flags)
            + "): seed 004 advises leaving memory for the JVM stack, garbage collector and off-heap allocations"
        )
    evidence["notes"] = notes
    if problems:
        return Result(
            status=Status.FAIL,
            resource=resource,
            evidence=evidence,
            message=f"Image {key} cannot run under HealthOmics: " + "; ".join(problems) + ".",
        )
    note = f" Notes: {' '.join(n.removeprefix('INFO: ') + '.' for n in notes)}" if notes else ""
    size = f", {_gib(info.size_bytes)}" if info.size_bytes is not None else ""
    return Result(
        status=Status.PASS,
        resource=resource,
        evidence=evidence,
        message=f"Image {key} can run under HealthOmics (no ENTRYPOINT problem, no {PROTECTED_ENV_PREFIX} "
        f"variable{size}).{note}",
    )
