"""Failed HealthOmics runs explained: what a failure message says, and which findings explain it.

Pure functions over collected runs (``auditor.models.Run``) and a scan's findings; no AWS call. Used by
``omics-ecr-audit explain RUN_ID`` (``auditor.commands.explain``) and by every scan, whose findings
document lists the failed runs of the look-back window in ``failed_runs``.

1. :func:`classify` reads a run's ``failureReason`` / ``statusMessage`` (GetRun) or a task's
   (GetRunTask) and names the :class:`Kind` of failure: a container image that could not be pulled
   because access was denied, because the image or repository does not exist, because of the
   pull-through cache, an ARM-only image (``exec format error``), an image too large, a role
   HealthOmics could not assume; or a failure that has nothing to do with containers.
2. Each kind maps to the rules whose findings can explain it (:data:`KIND_RULES`).
3. :func:`explain_run` links each failure to the concrete FAIL/ERROR findings of those rules in the
   run's account and region whose resource is the image's repository, its cache prefix or upstream,
   the run's role or the run's workflow (the last two only when the finding mentions the repository),
   and carries each finding's fix.

The messages recognised, and where their wording comes from (with what is a GUESS), are listed in
``docs/run-failures.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auditor.findings import Finding, Status
from auditor.models import FailedRun, FailureExplanation, FailureLink, Run, RunTask, Snapshot
from auditor.refs import InvalidReference, parse_reference
from auditor.terminal import command_line


class Kind(StrEnum):
    ECR_ACCESS = "ecr-access"  # pull denied: a policy does not let HealthOmics (or the role) read the image
    REPOSITORY_MISSING = "repository-missing"  # the repository does not exist (and was not created by the cache)
    IMAGE_NOT_FOUND = "image-not-found"  # the repository exists, the tag or digest does not (manifest unknown)
    WRONG_ARCHITECTURE = "wrong-architecture"  # an ARM-only image on HealthOmics' x86_64 hosts
    IMAGE_TOO_LARGE = "image-too-large"  # over HealthOmics' container image size limit
    PULL_THROUGH_CACHE = "pull-through-cache"  # the cache rule, its secret, or the upstream registry failed
    ROLE_TRUST = "role-trust"  # HealthOmics could not assume the run role
    CANNOT_PULL = "cannot-pull"  # a container failure the message does not narrow down
    NOT_CONTAINER = "not-container"  # out of memory, a task's own error, timeouts, inputs, outputs...


@dataclass(frozen=True)
class Pattern:
    kind: Kind
    regex: re.Pattern[str]
    source: str  # where the wording comes from (docs/run-failures.md lists them, with what is a GUESS)


HEALTHOMICS_RUN_ERRORS = "https://docs.aws.amazon.com/omics/latest/dev/workflows-run-errors.html"
ECS_CANNOT_PULL = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html"
ECS_STOPPED_CODES = "https://docs.aws.amazon.com/AmazonECS/latest/userguide/stopped-task-error-codes.html"
ECR_PTC_TROUBLESHOOTING = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/error-pullthroughcache.html"
ECR_ERRORS = "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/CommonErrors.html"


def _p(kind: Kind, regex: str, source: str) -> Pattern:
    return Pattern(kind, re.compile(regex, re.IGNORECASE), source)


# Most specific first: "pull access denied for X, repository does not exist or may require 'docker login'"
# is an access failure (ECS documents it under missing pull permissions), not a missing repository.
PATTERNS: tuple[Pattern, ...] = (
    _p(Kind.WRONG_ARCHITECTURE, r"exec format error", ECS_CANNOT_PULL),
    _p(Kind.WRONG_ARCHITECTURE, r"does not contain descriptor matching platform", ECS_CANNOT_PULL),
    _p(Kind.WRONG_ARCHITECTURE, r"no matching manifest for linux/amd64", ECS_CANNOT_PULL),
    _p(Kind.IMAGE_TOO_LARGE, r"CANNOT_START_CONTAINER_SIZE_ERROR", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.IMAGE_TOO_LARGE, r"image size is less than", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.IMAGE_TOO_LARGE, r"image (?:is )?too large|exceeds the maximum (?:container )?image size", ""),
    _p(Kind.PULL_THROUGH_CACHE, r"pull[- ]?through[- ]?cache", ECR_PTC_TROUBLESHOOTING),
    _p(Kind.PULL_THROUGH_CACHE, r"PullThroughCacheRuleNotFound", ECR_ERRORS),
    _p(Kind.PULL_THROUGH_CACHE, r"UnableToGetUpstream(?:Image|Layer)", ECR_ERRORS),
    _p(Kind.PULL_THROUGH_CACHE, r"UnableTo(?:AccessSecret|DecryptSecretValue)|SecretNotFound", ECR_ERRORS),
    _p(Kind.PULL_THROUGH_CACHE, r"upstream registry|toomanyrequests", ECR_PTC_TROUBLESHOOTING),
    _p(Kind.ECR_ACCESS, r"ECR_PERMISSION_ERROR", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.ECR_ACCESS, r"doesn'?t have permission to access the image", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.ECR_ACCESS, r"not authorized to perform:?\s*ecr:", ECS_CANNOT_PULL),
    _p(Kind.ECR_ACCESS, r"pull access denied|access ?denied|403 Forbidden", ECS_CANNOT_PULL),
    _p(Kind.REPOSITORY_MISSING, r"RepositoryNotFoundException|repository (?:\S+ )?does not exist", ECR_ERRORS),
    _p(Kind.REPOSITORY_MISSING, r"name unknown", ECS_CANNOT_PULL),
    _p(Kind.IMAGE_NOT_FOUND, r"manifest unknown|ImageNotFoundException|manifest for \S+ not found", ECS_CANNOT_PULL),
    _p(Kind.IMAGE_NOT_FOUND, r"INVALID_ECR_IMAGE_URI", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.ROLE_TRUST, r"ASSUME_ROLE_FAILED|permission to assume the role", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.CANNOT_PULL, r"CannotPullContainerError", ECS_STOPPED_CODES),
    _p(Kind.CANNOT_PULL, r"CANNOT_START_CONTAINER_ERROR|IMAGE_VERIFICATION_FAILURE", HEALTHOMICS_RUN_ERRORS),
    _p(Kind.CANNOT_PULL, r"CannotStartContainerError|failed to pull|error pulling image", ECS_STOPPED_CODES),
)

_ACCESS_RULES = (
    "repository-policy-grants-omics",
    "creation-template-grants-omics",
    "registry-policy-allows-omics",
    "service-role-can-pull",
    "cross-account-source-grants",
)
_EXISTENCE_RULES = ("workflow-images-resolve", "registry-map-consistent", "ptc-rule-coverage")
_CACHE_RULES = (
    "ptc-rule-coverage",
    "registry-policy-allows-omics",
    "creation-template-grants-omics",
    "ptc-rule-unchanged-during-run",
    "registry-map-consistent",
)

# The rules whose findings can explain each kind of failure (ids as `omics-ecr-audit rules` lists them).
KIND_RULES: dict[Kind, tuple[str, ...]] = {
    Kind.ECR_ACCESS: _ACCESS_RULES,
    Kind.REPOSITORY_MISSING: (*_EXISTENCE_RULES, "registry-policy-allows-omics", "creation-template-grants-omics"),
    Kind.IMAGE_NOT_FOUND: (*_EXISTENCE_RULES, "ptc-rule-unchanged-during-run"),
    Kind.WRONG_ARCHITECTURE: ("image-not-arm-only",),
    Kind.IMAGE_TOO_LARGE: ("image-runnable",),
    Kind.PULL_THROUGH_CACHE: _CACHE_RULES,
    Kind.ROLE_TRUST: ("service-role-trusts-omics",),
    Kind.CANNOT_PULL: tuple(
        dict.fromkeys(
            (*_ACCESS_RULES, *_EXISTENCE_RULES, *_CACHE_RULES, "image-not-arm-only", "service-role-trusts-omics")
        )
    ),
    Kind.NOT_CONTAINER: (),
}

KIND_SUMMARY: dict[Kind, str] = {
    Kind.ECR_ACCESS: "the image could not be pulled: access denied",
    Kind.REPOSITORY_MISSING: "the image could not be pulled: the repository does not exist",
    Kind.IMAGE_NOT_FOUND: "the image could not be pulled: the tag or digest does not exist (manifest unknown)",
    Kind.WRONG_ARCHITECTURE: "the image does not run on x86_64 (exec format error: an ARM-only image)",
    Kind.IMAGE_TOO_LARGE: "the image is larger than HealthOmics accepts (45 GiB on a CPU instance, 95 GiB on GPU)",
    Kind.PULL_THROUGH_CACHE: "the image could not be pulled through the pull-through cache",
    Kind.ROLE_TRUST: "HealthOmics could not assume the run role",
    Kind.CANNOT_PULL: "the container could not be pulled or started",
    Kind.NOT_CONTAINER: "not container-related",
}


@dataclass(frozen=True)
class Classification:
    kind: Kind
    image: str | None  # the image the message names, if it names one
    pattern: Pattern | None  # what matched (None: not container-related)

    @property
    def container_related(self) -> bool:
        return self.kind != Kind.NOT_CONTAINER

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return KIND_RULES[self.kind]


_ECR_URI = re.compile(
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[A-Za-z0-9._/\-]+(?:[:@][A-Za-z0-9._:\-]+)?"
)
_NAMED_IMAGE = re.compile(
    r"(?:pull access denied for|using image:?|image:|failed to resolve ref|manifest for|verify image)\s+\"?"
    r"([A-Za-z0-9][A-Za-z0-9._/\-]*(?:[:@][A-Za-z0-9._:\-]+)?)",
    re.IGNORECASE,
)


def image_in(text: str) -> str | None:
    """The image a failure message names: a private ECR URI, else what follows "pull access denied for" & co."""
    found = _ECR_URI.search(text)
    if found:
        return found.group(0).rstrip(".:,")
    named = _NAMED_IMAGE.search(text)
    return named.group(1).rstrip(".:,") if named else None


def classify(*texts: str | None) -> Classification:
    """The kind of failure ``texts`` (failure reasons and status messages, in any order) describe."""
    text = "\n".join(t for t in texts if t)
    for pattern in PATTERNS:
        if pattern.regex.search(text):
            return Classification(pattern.kind, image_in(text), pattern)
    return Classification(Kind.NOT_CONTAINER, None, None)


# --- linking failures to findings -----------------------------------------------------------


_PROBLEMS = (Status.FAIL, Status.ERROR)
# Findings whose resource is wider than one image (a role, a workflow): linked only when they mention it.
_WIDE = frozenset(
    {
        "service-role-can-pull",
        "workflow-images-resolve",
        "registry-map-consistent",
    }
)


@dataclass(frozen=True)
class _Target:
    """What a failure concerns, in the terms findings name resources with."""

    account: str
    region: str
    partition: str
    repository: str | None  # this account's repository in the run's region
    repository_arn: str | None  # the repository's ARN, whichever account holds it
    upstream: str | None  # the upstream registry of the task's source image (docker.io, quay.io...)
    role_arn: str | None
    workflow_arn: str | None


def _target(run: Run, account: str, region: str, image: str | None, source_image: str | None) -> _Target:
    partition = run.arn.split(":")[1] if run.arn.count(":") >= 5 else "aws"
    repository = repository_arn = upstream = None
    if image:
        try:
            ref = parse_reference(image)
        except InvalidReference:
            ref = None
        if ref is not None:
            match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?", ref.registry)
            if match:
                owner, where = match.groups()
                repository_arn = f"arn:{partition}:ecr:{where}:{owner}:repository/{ref.repository}"
                if owner == account and where == region:
                    repository = ref.repository
            else:
                upstream = ref.registry
    if source_image and upstream is None:
        try:
            upstream = parse_reference(source_image).registry
        except InvalidReference:
            upstream = None
    workflow_arn = None
    if run.workflow_id:
        workflow_arn = f"arn:{partition}:omics:{region}:{account}:workflow/{run.workflow_id}"
    return _Target(account, region, partition, repository, repository_arn, upstream, run.role_arn, workflow_arn)


def _under(prefix: str, repository: str) -> bool:
    return prefix == "ROOT" or repository.startswith(prefix.rstrip("/") + "/")


def _upstream_names(upstream: str) -> set[str]:
    # Docker Hub is written docker.io in references and registry-1.docker.io in cache rules.
    return (
        {upstream, "registry-1.docker.io", "docker.io"}
        if upstream in ("docker.io", "registry-1.docker.io")
        else {upstream}
    )


def _mentions(finding: Finding, target: _Target) -> bool:
    if target.repository_arn is None and target.repository is None:
        return True  # nothing narrower to ask of it
    text = finding.message + json.dumps(finding.evidence, default=str, sort_keys=True)
    return any(name and name in text for name in (target.repository, target.repository_arn))


def _concerns(finding: Finding, target: _Target) -> bool:
    resource = finding.resource
    arn = target.repository_arn
    if arn and (resource == arn or resource.startswith((f"{arn}:", f"{arn}@", f"{arn}|"))):
        return True
    kind, _, name = resource.partition("/")
    if target.repository and kind in ("pull-through-cache-rule", "registry-policy", "creation-template-coverage"):
        return _under(name, target.repository)
    if target.upstream and kind == "upstream":
        return name in _upstream_names(target.upstream)
    if target.role_arn and resource == target.role_arn:
        return finding.rule_id not in _WIDE or _mentions(finding, target)
    if target.workflow_arn and resource == target.workflow_arn:
        return _mentions(finding, target)
    return False


def link(
    classification: Classification,
    run: Run,
    account: str,
    region: str,
    findings: Iterable[Finding],
    image: str | None = None,
    source_image: str | None = None,
) -> list[FailureLink]:
    """The FAIL/ERROR findings of the classification's rules, in the run's cell, that concern its image or role."""
    rules = set(classification.rule_ids)
    if not rules:
        return []
    target = _target(run, account, region, classification.image or image, source_image)
    out: dict[str, FailureLink] = {}
    for f in findings:
        in_cell = f.account == account and f.region == region
        if f.rule_id in rules and f.status in _PROBLEMS and in_cell and _concerns(f, target):
            out.setdefault(
                f.id,
                FailureLink(
                    finding_id=f.id,
                    rule_id=f.rule_id,
                    status=f.status.value,
                    resource=f.resource,
                    message=f.message,
                    remediation=f.remediation,
                    fixable=f.fixable,
                ),
            )
    order = {rule_id: i for i, rule_id in enumerate(classification.rule_ids)}
    return sorted(out.values(), key=lambda x: (order.get(x.rule_id, len(order)), x.resource))


def _explanation(
    classification: Classification,
    links: list[FailureLink],
    *,
    task: RunTask | None,
    image: str | None,
    failure_reason: str | None,
    status_message: str | None,
    region: str | None = None,
) -> FailureExplanation:
    return FailureExplanation(
        copy_command=copy_command(classification.kind, task.source_image if task else None, region),
        task_id=task.task_id if task else None,
        task_name=task.name if task else None,
        image=classification.image or image,
        failure_reason=failure_reason,
        status_message=status_message,
        kind=classification.kind.value,
        container_related=classification.container_related,
        summary=KIND_SUMMARY[classification.kind],
        rule_ids=list(classification.rule_ids),
        findings=links,
    )


def copy_command(kind: Kind, source_image: str | None, region: str | None) -> str | None:
    """For an image that is not in ECR: the `copy` command that primes or copies its upstream source there."""
    if kind not in (Kind.IMAGE_NOT_FOUND, Kind.REPOSITORY_MISSING) or not source_image or not region:
        return None
    try:
        ref = parse_reference(source_image)
    except InvalidReference:
        return None
    if ref.ecr is not None:
        return None  # already a private ECR reference: nothing upstream to copy from
    return command_line(["omics-ecr-audit", "copy", ref.normalized, "--region", region])


def failed_tasks(run: Run) -> list[RunTask]:
    return [t for t in run.tasks.value or [] if t.status == "FAILED" or t.failure_reason]


def rules_needed(run: Run) -> list[str]:
    """The rules whose findings could explain ``run``'s failures (what ``explain`` scans for)."""
    kinds = [classify(t.failure_reason, t.status_message).kind for t in failed_tasks(run)]
    kinds.append(classify(run.failure_reason, run.status_message).kind)
    return list(dict.fromkeys(r for k in kinds for r in KIND_RULES[k]))


def explain_run(run: Run, account: str, region: str, findings: Sequence[Finding]) -> FailedRun:
    """Each failure of a FAILED run (every failed task; the run itself when no failed task says more), classified
    and linked to the findings that explain it."""
    failures: list[FailureExplanation] = []
    for task in failed_tasks(run):
        # The task's own message first; the run's reason fills in when the task says nothing recognisable.
        c = classify(task.failure_reason, task.status_message)
        if c.kind == Kind.NOT_CONTAINER and not (task.failure_reason or task.status_message):
            c = classify(run.failure_reason, run.status_message)
        links = link(c, run, account, region, findings, task.image, task.source_image)
        failures.append(
            _explanation(
                c,
                links,
                task=task,
                image=task.image,
                failure_reason=task.failure_reason,
                status_message=task.status_message,
                region=region,
            )
        )
    if not failures:
        c = classify(run.failure_reason, run.status_message)
        failures.append(
            _explanation(
                c,
                link(c, run, account, region, findings),
                task=None,
                image=None,
                failure_reason=run.failure_reason,
                status_message=run.status_message,
            )
        )
    return FailedRun(
        run_id=run.id,
        arn=run.arn,
        account=account,
        region=region,
        name=run.name,
        workflow_id=run.workflow_id,
        role_arn=run.role_arn,
        stop_time=run.stop_time,
        failure_reason=run.failure_reason,
        status_message=run.status_message,
        failures=failures,
        tasks_error=run.tasks.error,
    )


def explain_failed_runs(snapshots: Iterable[Snapshot], findings: Sequence[Finding]) -> list[FailedRun]:
    """Every FAILED run the snapshots hold (the runs of the look-back window), explained; newest first."""
    out = [
        explain_run(run, snap.account_id, snap.region, findings)
        for snap in snapshots
        for run in snap.runs.value or []
        if run.status == "FAILED"
    ]
    return sorted(out, key=lambda r: (r.stop_time is None, -(r.stop_time.timestamp() if r.stop_time else 0), r.arn))


def verdict(failed: FailedRun) -> str:
    """One line: what explains the run ("explained by ...", "container-related, no finding...", "not ...")."""
    rules = list(dict.fromkeys(link.rule_id for f in failed.failures for link in f.findings))
    if rules:
        return f"explained by {len(failed.finding_ids)} finding(s): {', '.join(rules)}"
    if failed.container_related:
        return "container-related; no FAIL or ERROR finding of this scan explains it"
    return "not container-related"


def _first_line(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def explanation_lines(failed: FailedRun, *, indent: str = "  ", fixes: bool = True) -> list[str]:
    """A failed run, each failure and the findings that explain it, with their fixes (plain text lines)."""
    name = f" ({failed.name})" if failed.name else ""
    reason = failed.failure_reason or "no failure reason"
    lines = [f"{indent}run {failed.run_id}{name}  {failed.account}/{failed.region}  {reason}: {verdict(failed)}"]
    if failed.tasks_error is not None:
        lines.append(f"{indent}  its tasks could not be read: {failed.tasks_error.describe()}")
    for f in failed.failures:
        where = f"task {f.task_name or '?'} ({f.task_id})" if f.task_id else "the run"
        image = f"  image {f.image}" if f.image else ""
        lines.append(f"{indent}  {where}: {f.summary}{image}")
        if f.status_message:
            lines.append(f"{indent}    message: {_first_line(f.status_message)}")
        for link_ in f.findings:
            lines.append(f"{indent}    [{link_.status:<5}] {link_.rule_id}  {link_.resource}  ({link_.finding_id})")
            if fixes:
                lines.append(f"{indent}      fix: {_first_line(link_.remediation, 240)}")
        if f.copy_command and fixes:
            lines.append(f"{indent}    copy: {f.copy_command}  (plan; add --apply to write)")
    return lines


def summary_lines(failed_runs: Sequence[FailedRun]) -> list[str]:
    """The scan summary's section: every failed run of the look-back window and what explains it."""
    explained = sum(1 for r in failed_runs if r.finding_ids)
    other = sum(1 for r in failed_runs if not r.container_related)
    lines = [
        f"failed runs: {len(failed_runs)} in the look-back window ({explained} explained by findings, "
        f"{other} not container-related)"
    ]
    for failed in failed_runs:
        lines.extend(explanation_lines(failed, fixes=False))
    return lines
