"""The gate: extract every container of a workflow, resolve it as HealthOmics would, check the account has it.

Findings use the scan's JSON format (rule ids ``gate-*``, metadata below) with a
``containers`` list beside them: one entry per extracted container with its
file, line, the reference as written and normalised, the ECR URI or the reason
there is none. Account checks (cache rule, registry policy, template,
repository policy, image) reuse the scan's policy evaluator and rule helpers on a
snapshot of the target account and region, live or from an inventory file.

The workflow folder is hostile input (it comes with the pull request): extractors read its files
only through :class:`~auditor.gate.workspace.Workspace` (inside the folder, regular files, bounded
sizes; a refusal is a ``gate-extraction`` finding), and a zip is checked from its central
directory (entry count, total size, compression ratio) before anything is written, then written
entry by entry, never more bytes than declared, never a symlink, never outside the temp folder.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from auditor import upstreams
from auditor.engine import RuleMeta
from auditor.errors import UsageError
from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, Target, build_document, finding_id
from auditor.gate.containers import ContainerRef, Extraction, ExtractionError
from auditor.gate.resolve import Resolution, resolve
from auditor.gate.workspace import MIB, GateLimits, Refused, Workspace, describe_size
from auditor.grants import OMICS_PULL_ACTIONS, PTC_REGISTRY_ACTIONS, resource_policy_grants_omics
from auditor.models import ContainerRegistryMap, Snapshot
from auditor.refs import ImageReference, try_parse_reference
from auditor.terminal import command_line

_REFS = ["https://docs.aws.amazon.com/omics/latest/dev/workflows-ecr.html"]

GATE_RULES: dict[str, RuleMeta] = {
    meta.id: meta
    for meta in (
        RuleMeta(
            id="gate-extraction",
            title="Every workflow file can be read",
            severity=Severity.HIGH,
            rationale="A definition file the gate cannot parse may name containers it cannot see.",
            remediation="Fix the syntax error reported at the file and line, then run the gate again.",
            references=_REFS,
            facets=[],
        ),
        RuleMeta(
            id="gate-container-resolves",
            title="Every task container resolves to a private ECR image in the workflow's region",
            severity=Severity.HIGH,
            rationale=(
                "HealthOmics pulls only from private ECR in the workflow's region: a reference must be such a URI, or "
                "be rewritten to one by an image mapping or a registry mapping of the workflow's container registry "
                "map. A value the gate cannot determine (an input without default) cannot be vouched for."
            ),
            remediation=(
                "Add a registry mapping for the upstream ({upstreamRegistryUrl, ecrRepositoryPrefix} of its "
                "pull-through cache rule) or an image mapping to a staged ECR copy; `omics-ecr-audit map generate` "
                "writes one. Give unresolved inputs a default or pass them in the parameters file."
            ),
            references=[*_REFS, "https://docs.aws.amazon.com/omics/latest/dev/containers-workflow-creation.html"],
            facets=[],
        ),
        RuleMeta(
            id="gate-container-access",
            title="The cache rule, registry policy, creation template and repository policy let HealthOmics pull it",
            severity=Severity.HIGH,
            rationale=(
                "A resolved ECR URI is only pullable when the pull-through cache rule for its prefix exists, the "
                "registry policy lets omics.amazonaws.com create and import under the prefix, a creation template "
                "grants pulls to new cache repositories and an existing repository's policy grants them too."
            ),
            remediation="Run `omics-ecr-audit fix` on the account to plan the missing grants, templates and rules.",
            references=[*_REFS, "https://docs.aws.amazon.com/omics/latest/dev/permissions-ecr.html"],
            facets=["ptc_rules", "registry_policy", "templates", "repositories", "repository_policies"],
        ),
        RuleMeta(
            id="gate-image-runnable",
            title="The image exists and provides linux/amd64",
            severity=Severity.HIGH,
            rationale="HealthOmics runs x86_64 containers only; a missing image or an ARM-only one fails the task.",
            remediation="Push or map an image that exists and has a linux/amd64 variant (multi-arch is fine).",
            references=_REFS,
            facets=["images"],
        ),
        RuleMeta(
            id="gate-image-pinned",
            title="The image is pinned by digest",
            severity=Severity.INFO,
            rationale="A tag can move upstream; a pull-through cache refreshes it, so two runs may use different code.",
            remediation="Reference the image as name@sha256:<digest> (keep the tag for readers: name:tag@sha256:...).",
            references=_REFS,
            facets=[],
        ),
    )
}


class GateContainer(BaseModel):
    """One extracted container and its verdict (the `containers` list of `gate --format json`)."""

    file: str
    line: int
    language: str
    context: str
    expression: str
    raw: str | None
    normalized: str | None = None
    ecr_uri: str | None = None
    resolved: bool = False
    reason: str = ""
    via: str = "none"
    warnings: list[str] = Field(default_factory=list)
    checks: dict[str, str] = Field(default_factory=dict)  # check -> PASS/FAIL/... with a short reason


class NotRead(BaseModel):
    """Workflow files under the gated folder that the gate did not read, and why (one line of the text output)."""

    reason: str
    files: list[str] = Field(default_factory=list)  # relative to the workflow folder; at most _NOT_READ_LISTED
    more: int = 0  # how many more files there were


class GateDocument(FindingsDocument):
    workflow: dict[str, Any] = Field(default_factory=dict)
    containers: list[GateContainer] = Field(default_factory=list)
    not_read: list[NotRead] = Field(default_factory=list)
    locations: dict[str, tuple[str, int]] = Field(default_factory=dict, exclude=True)


# --- extraction -----------------------------------------------------------------------------------


_RATIO_CHECKED_ABOVE = MIB  # small entries compress arbitrarily well (a file of spaces) and cannot hurt
# Symlink entries are not extracted; the refusals are reported by extract() for the folder they came with.
_ZIP_NOTES: dict[Path, list[ExtractionError]] = {}


def _check_archive(archive: zipfile.ZipFile, limits: GateLimits) -> None:
    """Refuse a zip bomb from the central directory alone, before a byte is written."""
    members = archive.infolist()
    if len(members) > limits.max_zip_entries:
        raise UsageError(f"the zip has {len(members)} entries (limit {limits.max_zip_entries}); refusing the archive")
    total = sum(m.file_size for m in members)
    if total > limits.max_total_bytes:
        raise UsageError(
            f"the zip unpacks to {total} bytes (limit {describe_size(limits.max_total_bytes)}); refusing the archive"
        )
    for m in members:
        if m.file_size > _RATIO_CHECKED_ABOVE and m.file_size > limits.max_zip_ratio * max(m.compress_size, 1):
            raise UsageError(
                f"zip member {m.filename!r} is compressed more than {limits.max_zip_ratio}:1 "
                f"({m.compress_size} -> {m.file_size} bytes); refusing the archive"
            )


def _is_symlink(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)


def _safe_extract(archive: zipfile.ZipFile, dest: Path, limits: GateLimits | None = None) -> list[ExtractionError]:
    """Unpack ``archive`` under ``dest``; the symlink entries skipped, as findings. UsageError for a hostile zip."""
    limits = limits or GateLimits.from_env()
    _check_archive(archive, limits)
    base = dest.resolve()
    members = archive.infolist()
    for member in members:  # every name first: a refused archive leaves nothing half-written
        target = (base / member.filename).resolve()
        if not target.is_relative_to(base):
            raise UsageError(f"zip member {member.filename!r} would escape the folder; refusing the archive")
    notes: list[ExtractionError] = []
    written = 0
    for member in members:
        target = (base / member.filename).resolve()
        if _is_symlink(member):
            message = "a symlink entry in the zip; not extracted (a workflow file must be a regular file)"
            notes.append(ExtractionError(file=member.filename, message=message))
            continue
        try:
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written += _write_member(archive, member, target, limits.max_total_bytes - written)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            # a corrupt stream, a bad CRC (zipfile's own check of a lying header), an encrypted entry
            message = f"zip member {member.filename!r} cannot be extracted ({exc}); refusing the archive"
            raise UsageError(message) from None
    return notes


def _write_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one entry, never more than its declared size (a lying header) nor the run's remaining budget."""
    allowed = min(member.file_size, budget)
    size = 0
    with archive.open(member) as src, open(target, "wb") as out:
        while chunk := src.read(min(MIB, allowed + 1 - size)):
            size += len(chunk)
            if size > allowed:
                raise UsageError(
                    f"zip member {member.filename!r} unpacks to more than its declared {member.file_size} bytes "
                    "(or the archive's total limit); refusing the archive"
                )
            out.write(chunk)
    return size


@contextmanager
def workflow_folder(path: Path, limits: GateLimits | None = None) -> Iterator[Path]:
    """The folder to read: PATH itself, or a zip (as HealthOmics takes definitions) unpacked to a temp folder."""
    if path.is_dir():
        yield path
        return
    if not path.is_file():
        raise UsageError(f"{path}: no such workflow folder or zip")
    limits = limits or GateLimits.from_env()
    from auditor.files import read_bytes

    data = read_bytes(path, "workflow zip", max_bytes=limits.max_total_bytes, error=UsageError)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UsageError(f"{path}: not a workflow folder or zip ({exc})") from None
    tmp = Path(tempfile.mkdtemp(prefix="omics-gate-"))
    try:
        notes = _safe_extract(archive, tmp, limits)
        entries = [p for p in tmp.iterdir() if not p.name.startswith("__MACOSX")]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        prefix = root.relative_to(tmp).as_posix() + "/" if root != tmp else ""
        _ZIP_NOTES[root] = [n.model_copy(update={"file": n.file.removeprefix(prefix)}) for n in notes]
        try:
            yield root
        finally:
            _ZIP_NOTES.pop(root, None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SKIP = frozenset({".git", "node_modules", "work", ".nextflow"})


def detect_languages(root: Path) -> list[str]:
    found: set[str] = set()
    for p in Workspace(root).walk(_SKIP):  # names only, and never through a directory symlink
        if p.suffix == ".wdl":
            found.add("wdl")
        elif p.suffix == ".nf" or p.name == "nextflow.config":
            found.add("nextflow")
        elif p.suffix == ".cwl":
            found.add("cwl")
    return sorted(found)


def extract(
    root: Path,
    params: dict[str, Any] | None = None,
    limits: GateLimits | None = None,
    *,
    workspace: Workspace | None = None,
) -> list[Extraction]:
    """Every extraction of the workflow under ``root``; one :class:`Workspace` (one read budget) for all of them."""
    from auditor.gate import cwl, nextflow, wdl

    extractors = {"wdl": wdl.extract, "nextflow": nextflow.extract, "cwl": cwl.extract}
    languages = detect_languages(root)
    if not languages:
        raise UsageError(f"{root}: no WDL (.wdl), Nextflow (.nf, nextflow.config) or CWL (.cwl) files found")
    workspace = workspace or Workspace(root, limits or GateLimits.from_env())
    out = [extractors[lang](root, params, workspace=workspace) for lang in languages]
    out[0].errors.extend(_ZIP_NOTES.get(root, []))  # symlink entries of the zip this folder came from
    return out


# --- what the gate did not read ----------------------------------------------------------------------

_NOT_READ_LISTED = 50  # files named per reason in the JSON output (the text output names the first few)
_NOT_READ_WALK_LIMIT = 50_000  # file names looked at, at most, when looking for workflow files in skipped folders
# Never a workflow's own files: not looked into at all (a repository's .git or a virtualenv is large)
_NEVER_WORKFLOWS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"})
_SKIPPED_WHY = {"work": "Nextflow's task folder", ".nextflow": "Nextflow's cache"}


def not_read(root: Path, languages: list[str], workspace: Workspace) -> list[NotRead]:
    """The workflow files under ``root`` that the extractors leave out, one :class:`NotRead` per reason.

    * a ``nextflow.config`` in a sub-folder that is neither a pipeline's own config nor reached by a literal
      ``includeConfig`` of one (or of its ``conf/*.config``): Nextflow does not load it either;
    * workflow files (``.wdl``, ``.nf``, ``nextflow.config``, ``.cwl``) in folders an extractor skips:
      ``work/`` and ``.nextflow/`` (Nextflow's own), hidden folders (WDL). Version-control, ``node_modules`` and
      virtualenv folders are not looked into at all.
    """
    notes = _unread_nextflow_configs(root, workspace) if "nextflow" in languages else []
    return notes + _in_skipped_folders(root, languages)


def _listed(reason: str, files: list[str]) -> NotRead:
    return NotRead(reason=reason, files=files[:_NOT_READ_LISTED], more=max(0, len(files) - _NOT_READ_LISTED))


def _unread_nextflow_configs(root: Path, ws: Workspace) -> list[NotRead]:
    from auditor.gate import nextflow

    configs = [p for p in ws.walk(nextflow.SKIP_DIRS) if p.name == "nextflow.config"]
    if not configs:
        return []
    real_root = Path(os.path.realpath(root))
    pipelines = [Path(os.path.realpath(p)) for p in nextflow.pipeline_roots(root, ws)]
    if pipelines == [real_root] and not any(os.path.lexists(root / n) for n in ("nextflow.config", "main.nf")):
        pipelines = []  # no pipeline found: the folder is read as loose modules, with no config at all
    reached = _included_configs(pipelines, ws)
    inside: list[str] = []
    outside: list[str] = []
    for config in configs:
        real = Path(os.path.realpath(config))
        if real not in reached:
            (inside if any(real.is_relative_to(p) for p in pipelines) else outside).append(ws.rel(config))
    notes = []
    if inside:
        notes.append(
            _listed(
                "nextflow.config in a sub-folder of the pipeline that its nextflow.config does not include "
                "(a module's or sub-workflow's own config; Nextflow does not load it either)",
                inside,
            )
        )
    if outside:
        notes.append(
            _listed(
                "nextflow.config outside every pipeline folder (its folder has no `manifest` and no entry "
                "`workflow { }` in a main.nf, and no pipeline includes it); gate its folder to read it as a config",
                outside,
            )
        )
    return notes


def _included_configs(pipelines: list[Path], ws: Workspace) -> set[Path]:
    """Real paths of each pipeline's nextflow.config, its conf/*.config and what they include by a literal path."""
    queue: list[Path] = []
    for pipeline in pipelines:
        queue.append(pipeline / "nextflow.config")
        conf = pipeline / "conf"
        if conf.is_dir() and ws.inside(conf):
            queue.extend(sorted(conf.glob("*.config")))
    reached: set[Path] = set()
    while queue:
        path = Path(os.path.realpath(queue.pop()))
        if path in reached or not ws.inside(path) or not path.is_file():
            continue
        reached.add(path)
        queue.extend(path.parent / target for target in _literal_includes(path, ws))
    return reached


def _literal_includes(path: Path, ws: Workspace) -> list[str]:
    """The paths of ``includeConfig 'x'`` / ``includeConfig("x")`` in a config file (no interpolation)."""
    from auditor.gate.nextflow import IDENT, OP, STR, ScanError, tokenize

    try:
        toks = tokenize(ws.read_bytes(path).decode("utf-8-sig"))
    except (Refused, UnicodeDecodeError, ScanError, RecursionError):
        return []  # the extractor reports a file it cannot read
    out = []
    for i, tok in enumerate(toks[:-1]):
        if tok.kind != IDENT or tok.text != "includeConfig":
            continue
        arg = toks[i + 2] if toks[i + 1].kind == OP and toks[i + 1].text == "(" and i + 2 < len(toks) else toks[i + 1]
        if arg.kind == STR and all(isinstance(part, str) for part in arg.parts):
            out.append("".join(str(part) for part in arg.parts))
    return out


def _workflow_language(name: str) -> str | None:
    if name.endswith(".wdl"):
        return "wdl"
    if name.endswith(".nf") or name == "nextflow.config":
        return "nextflow"
    if name.endswith(".cwl"):
        return "cwl"
    return None


def _skipping_folder(parts: tuple[str, ...], language: str, languages: list[str]) -> str | None:
    """The folder (a path component) because of which ``language``'s extractor does not read a file, if any."""
    from auditor.gate import cwl, nextflow

    if language not in languages:  # only in folders language detection skips
        return next((part for part in parts if part in _SKIP), None)
    for part in parts:
        if (
            (language == "wdl" and part.startswith("."))
            or (language == "nextflow" and part in nextflow.SKIP_DIRS)
            or (language == "cwl" and part in cwl.SKIP_DIRS)
        ):
            return part
    return None


def _in_skipped_folders(root: Path, languages: list[str]) -> list[NotRead]:
    skipped: dict[str, list[str]] = {}
    looked = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _NEVER_WORKFLOWS)
        rel = Path(os.path.relpath(dirpath, root))
        parts = () if rel == Path(".") else rel.parts
        for name in sorted(filenames):
            language = _workflow_language(name)
            folder = _skipping_folder(parts, language, languages) if language else None
            if folder is not None:
                skipped.setdefault(folder, []).append((rel / name).as_posix())
        looked += len(filenames)
        if looked > _NOT_READ_WALK_LIMIT:
            break
    notes = []
    for folder, files in sorted(skipped.items()):
        why = _SKIPPED_WHY.get(folder, "a hidden folder" if folder.startswith(".") else "skipped by name")
        notes.append(_listed(f"workflow files in {folder}/, a folder the gate skips ({why})", files))
    return notes


# --- checks -----------------------------------------------------------------------------------------


def _image_verdict(snap: Snapshot, res: Resolution, via_cache: bool) -> tuple[Status, str]:
    from auditor.manifests import is_arm_only

    repo = res.ecr_repository or ""
    # The image HealthOmics pulls: an image mapping's destination tag/digest, not the source's.
    key = f"{repo}@{res.pull_digest}" if res.pull_digest else f"{repo}:{res.pull_tag}"
    existing = {r.name for r in snap.repositories.value or []}
    collected = snap.images.get(key)
    if collected is None:
        if via_cache and repo not in existing:
            return Status.PASS, "not cached yet: the pull-through cache fetches it on the first run"
        return Status.NOT_APPLICABLE, f"image {key} was not inspected (not in the inventory; gate live to inspect it)"
    if collected.error is not None:
        return Status.ERROR, f"image {key} could not be read: {collected.error.describe()}"
    info = collected.value
    if info is None or not info.exists:
        if via_cache:
            return Status.PASS, f"{key} is not cached yet: the pull-through cache fetches it on the first run"
        return Status.FAIL, f"image {key} does not exist"
    arm_only = is_arm_only(info.platforms)
    if arm_only is None:
        return Status.ERROR, f"image {key} carries no platform information"
    if arm_only:
        return Status.FAIL, f"image {key} is ARM-only ({', '.join(info.platforms)}); HealthOmics needs linux/amd64"
    return Status.PASS, f"image {key} provides linux/amd64"


def _access_problems(snap: Snapshot, res: Resolution) -> tuple[list[str], list[str], dict[str, str]]:
    """(problems, undecided, per-check verdicts) for a URI in this snapshot's account and region."""
    from auditor.rules.creation_template import covering_template

    problems: list[str] = []
    undecided: list[str] = []
    checks: dict[str, str] = {}
    prefix = res.ptc_prefix if res.via == "registry-mapping" else None
    copied = res.upstream is not None and upstreams.get_upstream(res.upstream).omics_copy_supported
    if prefix and not copied:
        rules = snap.ptc_rules.value or []
        if snap.ptc_rules.error is not None:
            undecided.append(f"cache rules unreadable: {snap.ptc_rules.error.describe()}")
        elif not any(r.ecr_repository_prefix.rstrip("/") == prefix for r in rules):
            problems.append(f"no pull-through cache rule with prefix {prefix!r}")
            checks["ptc_rule"] = "FAIL"
        else:
            checks["ptc_rule"] = "PASS"
        pattern = snap.prefix_pattern(prefix)
        if snap.registry_policy.error is not None:
            undecided.append(f"registry policy unreadable: {snap.registry_policy.error.describe()}")
        else:
            verdict = resource_policy_grants_omics(snap.registry_policy.value, snap, PTC_REGISTRY_ACTIONS, pattern)
            checks["registry_policy"] = verdict.status.value
            if verdict.status == Status.FAIL:
                problems.append(f"the registry policy does not let omics create/import under {prefix}/")
        if snap.templates.error is not None:
            undecided.append(f"templates unreadable: {snap.templates.error.describe()}")
        else:
            template = covering_template(snap.templates.value or [], prefix)
            if template is None:
                checks["template"] = "FAIL"
                problems.append(f"no PULL_THROUGH_CACHE creation template covers {prefix!r}")
            else:
                verdict = resource_policy_grants_omics(template.repository_policy, snap, OMICS_PULL_ACTIONS, pattern)
                checks["template"] = verdict.status.value
                if verdict.status == Status.FAIL:
                    problems.append(f"template {template.prefix!r} does not let omics pull")
    repo = res.ecr_repository or ""
    existing = {r.name for r in snap.repositories.value or []}
    if repo in existing:
        collected = snap.repository_policies.get(repo)
        if collected is None or collected.error is not None:
            undecided.append(f"repository policy of {repo} not read")
        else:
            verdict = resource_policy_grants_omics(collected.value, snap, OMICS_PULL_ACTIONS, snap.repository_arn(repo))
            checks["repository_policy"] = verdict.status.value
            if verdict.status == Status.FAIL:
                problems.append(f"repository {repo}'s policy does not let omics pull")
    elif not prefix:
        checks["repository"] = "FAIL"
        problems.append(f"repository {repo} does not exist")
    return problems, undecided, checks


def evaluate(
    extractions: list[Extraction],
    crm: ContainerRegistryMap | None,
    *,
    snap: Snapshot | None,
    account: str | None,
    region: str | None,
    root_uri: str = "",
) -> GateDocument:
    account = account or (snap.account_id if snap else None)
    region = region or (snap.region if snap else None)
    acct, reg = account or "-", region or "-"
    findings: list[Finding] = []
    containers: list[GateContainer] = []
    locations: dict[str, tuple[str, int]] = {}

    def add(
        rule_id: str,
        status: Status,
        resource: str,
        message: str,
        where: tuple[str, int],
        *,
        remediation: str | None = None,
        **evidence: Any,
    ) -> None:
        meta = GATE_RULES[rule_id]
        f = Finding(
            id=finding_id(rule_id, acct, reg, resource),
            rule_id=rule_id,
            title=meta.title,
            status=status,
            severity=meta.severity,
            account=acct,
            region=reg,
            resource=resource,
            message=message,
            evidence=evidence,
            remediation=remediation or meta.remediation,
            fixable=False,
        )
        findings.append(f)
        locations[f.id] = (root_uri + where[0], where[1])

    for ex in extractions:
        for err in ex.errors:
            add(
                "gate-extraction",
                Status.ERROR,
                f"file/{err.file}",
                f"{err.file}: {err.message}",
                (err.file, err.line or 1),
                file=err.file,
                line=err.line,  # None when the problem is the whole file (refused, unreadable)
            )
        for c in ex.containers:
            containers.append(_judge(c, crm, snap, account, region, add))
    run = RunInfo(
        id=str(uuid.uuid4()),
        started=datetime.now(UTC),
        mode="gate",
        rules=list(GATE_RULES),
        targets=[Target(account=acct, region=reg, status="offline" if snap else "none")],
    )
    doc = build_document(run, findings, snap.api_calls if snap else {})
    return GateDocument(**doc.model_dump(), containers=containers, locations=locations)


class _AddFinding(Protocol):
    """``evaluate``'s ``add``: records one finding and where in the workflow it points."""

    def __call__(
        self,
        rule_id: str,
        status: Status,
        resource: str,
        message: str,
        where: tuple[str, int],
        *,
        remediation: str | None = None,
        **evidence: Any,
    ) -> None: ...


def container_resource(file: str, line: int, raw: str | None, expression: str) -> str:
    """The ``resource`` of every finding about the container at ``file:line`` (how the text output groups them)."""
    return f"container/{file}:{line}/{raw or expression}"


def _judge(
    c: ContainerRef,
    crm: ContainerRegistryMap | None,
    snap: Snapshot | None,
    account: str | None,
    region: str | None,
    add: _AddFinding,
) -> GateContainer:
    where = (c.file, c.line)
    resource = container_resource(c.file, c.line, c.raw, c.expression)
    out = GateContainer(
        file=c.file, line=c.line, language=c.language, context=c.context, expression=c.expression, raw=c.raw
    )
    if c.raw is None:
        out.reason = f"value not determined: {c.unresolved or 'unknown'}"
        add(
            "gate-container-resolves",
            Status.FAIL,
            resource,
            f"{c.context}: {out.reason}",
            where,
            expression=c.expression,
        )
        return out
    res = resolve(c.raw, crm, account=account, region=region, default_registry=c.default_registry)
    out.normalized, out.ecr_uri, out.resolved, out.reason, out.via = (
        res.normalized,
        res.ecr_uri,
        res.resolved,
        res.reason,
        res.via,
    )
    out.warnings = list(res.warnings)
    evidence = {"raw": c.raw, "normalized": res.normalized, "ecr_uri": res.ecr_uri, "via": res.via}
    if res.pull_tag is not None or res.pull_digest is not None:
        # Judge the image HealthOmics pulls: for an image mapping that is the destination, as written.
        pinned = res.pull_digest is not None
        subject = f"{c.raw} → {res.ecr_uri}" if res.via == "image-mapping" and res.ecr_uri else c.raw
        add(
            "gate-image-pinned",
            Status.PASS if pinned else Status.FAIL,
            resource,
            f"{subject} is pinned by digest" if pinned else f"{subject} is not pinned by digest (tag {res.pull_tag!r})",
            where,
            **evidence,
        )
    if not res.resolved:
        add(
            "gate-container-resolves",
            Status.FAIL,
            resource,
            f"{c.context}: {c.raw}: {res.reason}",
            where,
            remediation=_with_copy(GATE_RULES["gate-container-resolves"].remediation, res.normalized, region),
            **evidence,
        )
        return out
    add("gate-container-resolves", Status.PASS, resource, f"{c.raw} → {res.ecr_uri} ({res.reason})", where, **evidence)
    if snap is None:
        out.checks["account"] = "NOT_CHECKED (no account state: pass --inventory or scan live)"
        return out
    if res.ecr_account != snap.account_id or res.ecr_region != snap.region:
        out.checks["account"] = f"NOT_APPLICABLE (in {res.ecr_account}/{res.ecr_region})"
        add(
            "gate-container-access",
            Status.NOT_APPLICABLE,
            resource,
            f"{res.ecr_uri} is in account {res.ecr_account}, region {res.ecr_region}; check it there",
            where,
            **evidence,
        )
        return out
    problems, undecided, checks = _access_problems(snap, res)
    out.checks.update(checks)
    if problems:
        status, message = Status.FAIL, "; ".join(problems)
    elif undecided:
        status, message = Status.ERROR, "; ".join(undecided)
    else:
        status, message = Status.PASS, "cache rule, registry policy, template and repository policy let omics pull"
    add("gate-container-access", status, resource, f"{res.ecr_uri}: {message}", where, **evidence, checks=checks)
    image_status, image_message = _image_verdict(snap, res, via_cache=res.via == "registry-mapping")
    out.checks["image"] = f"{image_status.value}: {image_message}"
    missing = image_status == Status.FAIL and "does not exist" in image_message
    add(
        "gate-image-runnable",
        image_status,
        resource,
        image_message,
        where,
        remediation=_with_copy(GATE_RULES["gate-image-runnable"].remediation, res.normalized, region)
        if missing
        else None,
        **evidence,
    )
    return out


def _with_copy(remediation: str, reference: str | None, region: str | None) -> str:
    """The rule's remediation plus the `copy` command that puts an upstream image into this account's ECR."""
    ref = try_parse_reference(reference or "")
    if not isinstance(ref, ImageReference) or ref.ecr is not None or not region:
        return remediation
    copy = command_line(["omics-ecr-audit", "copy", ref.normalized, "--region", region])
    return f"{remediation} To put the image in ECR (prime its cache, or copy it): `{copy}` (plan; --apply writes it)."


def gate_image_refs(
    extractions: list[Extraction], crm: ContainerRegistryMap | None, account: str, region: str
) -> list[tuple[str, str | None, str | None]]:
    """(repository, tag, digest) of every container resolving into ``account``/``region`` (to inspect live)."""
    out = []
    for ex in extractions:
        for c in ex.containers:
            if c.raw is None:
                continue
            res = resolve(c.raw, crm, account=account, region=region, default_registry=c.default_registry)
            if res.resolved and res.ecr_account == account and res.ecr_region == region and res.ecr_repository:
                out.append((res.ecr_repository, None if res.pull_digest else res.pull_tag, res.pull_digest))
    return sorted(set(out), key=lambda x: (x[0], x[1] or "", x[2] or ""))


__all__ = [
    "GATE_RULES",
    "ExtractionError",
    "GateDocument",
    "NotRead",
    "container_resource",
    "evaluate",
    "extract",
    "not_read",
    "workflow_folder",
]
