"""Every image a workflow uses can run under HealthOmics: no ENTRYPOINT, no AWS_WORKFLOW_ variable, size in quota."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from auditor.engine import IMAGES_IN_USE_FACETS, Result, RuleContext, error_result, images_in_use, rule
from auditor.findings import Severity, Status
from auditor.manifests import PROTECTED_ENV_PREFIX, entrypoint_is_shell, known_shell
from auditor.models import ImagePlatforms, RunTask, Snapshot

RULE_ID = "image-runnable"
_RUN_TASK_ORIGIN = "run-task:"

_NO_SHELL_BASES = ("distroless", "scratch")


@dataclass(frozen=True)
class SizeLimits:
    """HealthOmics' maximum container image size on each instance kind (fixed quotas, or the configuration's)."""

    cpu: int
    gpu: int


def _gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB"


def _run_tasks(snap: Snapshot) -> dict[str, RunTask]:
    """Run tasks by the origin string an image reference carries ("run-task:<run id>/<task id>")."""
    tasks: dict[str, RunTask] = {}
    for run in snap.runs.value or []:
        for task in run.tasks.value or []:
            tasks[f"{_RUN_TASK_ORIGIN}{run.id}/{task.task_id}"] = task
    return tasks


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
        "container image size (workflow fixed size quotas: 45 GiB on a CPU instance, 95 GiB on a GPU instance). "
        "An image between the two fails only where a task runs it on a CPU instance, or (medium) where nothing "
        "read shows that its tasks request GPUs. The same images as image-not-arm-only are inspected, "
        "from what the scan already downloads: the config blob of each single-platform image (ENTRYPOINT, CMD, "
        "SHELL, environment variable names) and its manifest (the sum of its layer sizes); for a multi-platform "
        "index, those of its linux/amd64 image, the one HealthOmics pulls (two more calls per index digest, "
        "once ever with the digest cache). A shell the config cannot show "
        "is reported as unknown, and Java heap options the guide warns about as a note, never as a FAIL."
    ),
    remediation=(
        "Rebuild the image without ENTRYPOINT (or with ENTRYPOINT [] / a plain shell), rename any variable that "
        "starts with AWS_WORKFLOW_, keep the image under the maximum size (multi-stage builds, fewer layers), push "
        "it and point the workflow (or its image mapping) at the new digest."
    ),
    references=[
        "https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html",
        "https://docs.aws.amazon.com/omics/latest/dev/fixed-quotas.html",
        "https://github.com/opencontainers/image-spec/blob/main/config.md",
    ],
    facets=[*IMAGES_IN_USE_FACETS, "index_images"],
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    # The image set and its read failures are the architecture rule's (auditor.engine.images_in_use).
    limits = SizeLimits(cpu=ctx.max_image_size_bytes, gpu=max(ctx.max_gpu_image_size_bytes, ctx.max_image_size_bytes))
    tasks = _run_tasks(snap)
    for item in images_in_use(snap, "the image manifest and config"):
        yield (
            item
            if isinstance(item, Result)
            else _judge(item.key, item.resource, item.evidence, item.info, limits, tasks)
        )


def _judge(
    key: str,
    resource: str,
    evidence: dict[str, Any],
    info: ImagePlatforms,
    limits: SizeLimits,
    tasks: dict[str, RunTask],
) -> Result:
    evidence.update(
        {
            "digest": info.digest,
            "media_type": info.media_type,
            "max_image_size_bytes": limits.cpu,
            "max_gpu_image_size_bytes": limits.gpu,
        }
    )
    if info.config_error is not None:
        return error_result(info.config_error, resource, "the linux/amd64 image of the index")
    if info.inspected_digest:
        evidence["inspected_digest"] = info.inspected_digest  # the index's linux/amd64 image
    if not info.config_inspected:
        why = info.uninspected_reason or {
            "index": "a multi-platform index without a linux/amd64 image (image-not-arm-only judges it)",
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
    severity: Severity | None = None  # the rule's HIGH unless only the size is in doubt
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
    elif info.size_bytes > limits.cpu:
        problem, note, doubtful = _size_verdict(info.size_bytes, limits, evidence, tasks)
        if problem:
            problems.append(problem)
            severity = Severity.MEDIUM if doubtful and not problems[:-1] else None
        if note:
            notes.append(note)
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
            severity=severity,
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


def _size_verdict(
    size: int, limits: SizeLimits, evidence: dict[str, Any], tasks: dict[str, RunTask]
) -> tuple[str | None, str | None, bool]:
    """(problem, note, doubtful) for an image over the CPU limit.

    Over the GPU limit it runs nowhere. Between the two it runs only in a task that requests GPUs: a recorded
    task that ran it without GPUs is a FAIL; if every use is a recorded GPU task it passes; otherwise (uses in
    definitions or maps, whose GPU requests are not read) it is a FAIL marked doubtful.
    """
    sized = f"its layers add up to {_gib(size)} ({size} bytes)"
    if size > limits.gpu:
        return (
            f"{sized}, over the {_gib(limits.gpu)} maximum container image size even on a GPU instance",
            None,
            False,
        )
    origins: list[str] = evidence["origins"]
    on_cpu = sorted(o for o in origins if (task := tasks.get(o)) is not None and task.gpus == 0)
    on_gpu = sorted(o for o in origins if (task := tasks.get(o)) is not None and (task.gpus or 0) > 0)
    evidence["size_quota"] = {"cpu_tasks": on_cpu, "gpu_tasks": on_gpu}
    if on_cpu:
        return (
            f"{sized}, over the {_gib(limits.cpu)} maximum on a CPU instance, and {_task_names(on_cpu)} ran it "
            f"without GPUs (only a GPU instance allows up to {_gib(limits.gpu)})",
            None,
            False,
        )
    if on_gpu and len(on_gpu) == len(origins):
        return (
            None,
            f"INFO: {_gib(size)} is over the {_gib(limits.cpu)} CPU-instance maximum but within the "
            f"{_gib(limits.gpu)} GPU-instance maximum, and every recorded use ran on GPUs",
            False,
        )
    return (
        f"{sized}, over the {_gib(limits.cpu)} maximum on a CPU instance; only a task that requests GPUs can run it "
        f"(up to {_gib(limits.gpu)}), and nothing read shows that its uses do",
        None,
        True,
    )


def _task_names(origins: list[str]) -> str:
    shown = ", ".join(o.removeprefix(_RUN_TASK_ORIGIN) for o in origins[:3])
    more = f" and {len(origins) - 3} more" if len(origins) > 3 else ""
    return f"run task{'s' if len(origins) > 1 else ''} {shown}{more}"
