"""Platforms of an image from ECR ``BatchGetImage`` results (docs/aws-semantics.md §4).

Feeds the rule "no image is ARM-only": HealthOmics runs x86_64 containers only
(§4.4). A manifest list / OCI index names its platforms directly; a single
image manifest names only its config blob, whose ``os``/``architecture`` the
caller fetches (``GetDownloadUrlForLayer``) and passes to
:func:`platform_from_config`; schema 1 carries ``architecture`` itself.

Pure functions: no AWS calls here, so every shape is unit-testable.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
MEDIA_DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# What to pass as BatchGetImage acceptedMediaTypes: the five types AWS's own
# containerd resolver sends, list/index first (§4.1). Omitting the list types
# lets ECR down-convert a multi-arch tag to one platform (GUESS, §4.1), hiding
# whether amd64 is present. The signed schema-1 type is left out: neither the
# botocore model nor the AWS resolver sends it, and ECR might reject it.
ACCEPTED_MEDIA_TYPES: tuple[str, ...] = (
    MEDIA_OCI_INDEX,
    MEDIA_DOCKER_LIST,
    MEDIA_OCI_MANIFEST,
    MEDIA_DOCKER_V2,
    MEDIA_DOCKER_V1,
)

INDEX_MEDIA_TYPES = frozenset({MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX})
IMAGE_MANIFEST_MEDIA_TYPES = frozenset({MEDIA_DOCKER_V2, MEDIA_OCI_MANIFEST})
SCHEMA1_MEDIA_TYPES = frozenset({MEDIA_DOCKER_V1, MEDIA_DOCKER_V1_SIGNED})

# BuildKit marks provenance/SBOM attestation entries this way (§4.2 GUESS for the platform form).
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_VALUE = "attestation-manifest"
UNKNOWN_PLATFORM = "unknown"

# Spellings of x86_64 seen in configs. Go's GOARCH is "amd64"; "x86_64"/"x86-64"
# come from non-Go builders (GUESS that HealthOmics runs them: the binaries are x86_64).
AMD64_ARCHITECTURES = frozenset({"amd64", "x86_64", "x86-64"})

ManifestKind = Literal["index", "manifest", "schema1", "unknown"]


class ManifestError(ValueError):
    """A manifest or config blob that cannot be interpreted; ``reason`` is for findings."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ManifestInfo(BaseModel):
    """What one manifest says about platforms."""

    kind: ManifestKind
    media_type: str | None = None  # as declared by ECR / the JSON, else sniffed
    # "os/arch[/variant]" of entries that run something; attestation/unknown entries excluded.
    platforms: list[str] = Field(default_factory=list)
    # Index entries whose platform must be learned by fetching them (no platform, or a nested index).
    children_without_platform: list[str] = Field(default_factory=list)
    config_digest: str | None = None  # single manifests: fetch this blob for os/architecture
    config_media_type: str | None = None  # non-image configs (artifacts) have other types
    architecture: str | None = None  # schema 1 only
    # single manifests: the sum of the layer descriptors' (compressed) ``size``; None when a layer has no valid size
    layers_size: int | None = None
    # indexes: the image a linux/amd64 host pulls (the first plain linux/amd64 entry, else the first amd64
    # variant): the one whose config and layers image-runnable inspects
    linux_amd64_child: str | None = None


def manifest_digest(manifest_text: str | bytes) -> str:
    """``sha256:<hex>`` of the exact manifest bytes (str is encoded as UTF-8, as ECR returns it)."""
    data = manifest_text.encode("utf-8") if isinstance(manifest_text, str) else manifest_text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _load_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise ManifestError(f"{what} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise ManifestError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _clean_media_type(value: object) -> str | None:
    """Media type without parameters ("; charset=..."), lower-cased; None when absent."""
    if not isinstance(value, str):
        return None
    cleaned = value.split(";", 1)[0].strip().lower()
    return cleaned or None


def _sniff_media_type(doc: dict[str, Any]) -> str | None:
    """Media type from structure alone, for manifests that declare none (optional in OCI)."""
    if doc.get("schemaVersion") == 1:
        return MEDIA_DOCKER_V1_SIGNED if "signatures" in doc else MEDIA_DOCKER_V1
    if isinstance(doc.get("manifests"), list):
        return MEDIA_OCI_INDEX  # Docker lists always declare mediaType; an undeclared index is OCI
    config = doc.get("config")
    if isinstance(config, dict):
        return MEDIA_DOCKER_V2 if config.get("mediaType") == MEDIA_DOCKER_CONFIG else MEDIA_OCI_MANIFEST
    return None


def _platform_string(platform: object) -> str | None:
    """ "os/arch[/variant]" or None when os/architecture are missing."""
    if not isinstance(platform, dict):
        return None
    os_name, arch, variant = platform.get("os"), platform.get("architecture"), platform.get("variant")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    if isinstance(variant, str) and variant:
        return f"{os_name}/{arch}/{variant}"
    return f"{os_name}/{arch}"


def _is_attestation(entry: dict[str, Any]) -> bool:
    annotations = entry.get("annotations")
    if isinstance(annotations, dict) and annotations.get(ATTESTATION_ANNOTATION) == ATTESTATION_VALUE:
        return True
    platform = entry.get("platform")
    return (
        isinstance(platform, dict)
        and platform.get("os") == UNKNOWN_PLATFORM
        and platform.get("architecture") == UNKNOWN_PLATFORM
    )


def _append_unique(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _parse_index(doc: dict[str, Any], media_type: str) -> ManifestInfo:
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise ManifestError(f"{media_type} has no 'manifests' array")
    info = ManifestInfo(kind="index", media_type=media_type)
    amd64_children: list[tuple[bool, str]] = []  # (has a variant, digest) of the linux/amd64 entries
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ManifestError(f"manifests[{position}] must be an object")
        digest = entry.get("digest")
        if not isinstance(digest, str) or not digest:
            raise ManifestError(f"manifests[{position}] has no digest")
        entry_type = _clean_media_type(entry.get("mediaType"))
        if entry_type in INDEX_MEDIA_TYPES:
            _append_unique(info.children_without_platform, digest)  # nested: its own entries decide
            continue
        # A missing entry mediaType is read as an image manifest (the index's own kind implies it);
        # unknown types (artifacts, signatures) MUST be ignored per the OCI image-index spec.
        if entry_type is not None and entry_type not in IMAGE_MANIFEST_MEDIA_TYPES:
            continue
        if _is_attestation(entry):
            continue
        platform = _platform_string(entry.get("platform"))
        if platform is None:
            _append_unique(info.children_without_platform, digest)
        else:
            _append_unique(info.platforms, platform)
            if has_linux_amd64([platform]):
                amd64_children.append((platform.count("/") > 1, digest))  # plain entries sort first
    info.linux_amd64_child = min(amd64_children, key=lambda pair: pair[0])[1] if amd64_children else None
    return info


def _parse_image_manifest(doc: dict[str, Any], media_type: str) -> ManifestInfo:
    config = doc.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str) or not config["digest"]:
        raise ManifestError(f"{media_type} has no config descriptor with a digest")
    return ManifestInfo(
        kind="manifest",
        media_type=media_type,
        config_digest=config["digest"],
        config_media_type=_clean_media_type(config.get("mediaType")),
        layers_size=_layers_size(doc.get("layers")),
    )


def _layers_size(layers: object) -> int | None:
    """Sum of the layer descriptors' ``size`` (bytes as stored: compressed); None when one is missing or invalid."""
    if not isinstance(layers, list):
        return None
    total = 0
    for layer in layers:
        size = layer.get("size") if isinstance(layer, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return None
        total += size
    return total


def _schema1_os(doc: dict[str, Any]) -> str:
    """OS from the newest history entry's v1Compatibility JSON; "linux" when unstated.

    Schema 1 predates Windows images, so "linux" is the only realistic default (GUESS).
    """
    history = doc.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        compat = history[0].get("v1Compatibility")
        if isinstance(compat, str):
            try:
                parsed = json.loads(compat)
            except ValueError:
                parsed = None
            os_name = parsed.get("os") if isinstance(parsed, dict) else None
            if isinstance(os_name, str) and os_name:
                return os_name
    return "linux"


def _parse_schema1(doc: dict[str, Any], media_type: str) -> ManifestInfo:
    arch = doc.get("architecture")
    architecture = arch if isinstance(arch, str) and arch else None
    platforms = [f"{_schema1_os(doc)}/{architecture}"] if architecture else []
    return ManifestInfo(kind="schema1", media_type=media_type, platforms=platforms, architecture=architecture)


def parse_manifest(manifest_text: str | bytes, media_type: str | None) -> ManifestInfo:
    """Interpret one ``imageManifest``; ``media_type`` is ECR's ``imageManifestMediaType``.

    Media type precedence: ECR's value, then the JSON ``mediaType``, then
    structure (OCI makes ``mediaType`` optional, §4.2). Unknown media types
    give ``kind="unknown"`` (not an error: e.g. Helm charts or other artifacts).
    Raises :class:`ManifestError` for malformed JSON or a declared kind whose
    required parts are missing.
    """
    doc = _load_object(manifest_text, "manifest")
    effective = _clean_media_type(media_type) or _clean_media_type(doc.get("mediaType")) or _sniff_media_type(doc)
    if effective in INDEX_MEDIA_TYPES:
        return _parse_index(doc, effective)
    if effective in IMAGE_MANIFEST_MEDIA_TYPES:
        return _parse_image_manifest(doc, effective)
    if effective in SCHEMA1_MEDIA_TYPES:
        return _parse_schema1(doc, effective)
    return ManifestInfo(kind="unknown", media_type=effective)


def platform_from_config(config_blob: bytes | str) -> str:
    """ "os/arch[/variant]" from an image config blob; ManifestError when os/architecture are missing."""
    doc = _load_object(config_blob, "image config")
    platform = _platform_string(doc)
    if platform is None:
        raise ManifestError("image config lacks a non-empty 'os' and 'architecture'")
    return platform


def _architecture(platform: str) -> str | None:
    parts = platform.split("/")
    return parts[1].lower() if len(parts) >= 2 and parts[1] else None


def is_arm_only(platforms: list[str]) -> bool | None:
    """True when no platform is amd64 (arm64, arm, or anything else x86_64 can't run).

    None when there is no platform information at all. Any amd64 variant
    (v2, v3, v4 microarchitecture levels) counts as amd64 — GUESS: HealthOmics
    hosts support the level (§4.4). Only the architecture is judged; see
    :func:`has_linux_amd64` for the stricter os check.
    """
    archs = [_architecture(p) for p in platforms]
    known = [a for a in archs if a]
    if not known:
        return None
    return not any(a in AMD64_ARCHITECTURES for a in known)


def has_linux_amd64(platforms: list[str]) -> bool | None:
    """True when some entry is linux on amd64 (what HealthOmics runs); None without information."""
    if not any(_architecture(p) for p in platforms):
        return None
    return any(p.split("/")[0].lower() == "linux" and _architecture(p) in AMD64_ARCHITECTURES for p in platforms)


# --- what an image config says about running it (rule image-runnable, docs/judgement-calls.md) ---

PROTECTED_ENV_PREFIX = "AWS_WORKFLOW_"  # seed 004: a protected prefix HealthOmics sets its own variables under
# HealthOmics workflow fixed size quotas (not adjustable): the maximum container image size on a CPU instance and
# on a GPU instance (docs/aws-semantics.md §13; the same figures are in CANNOT_START_CONTAINER_SIZE_ERROR).
MAX_IMAGE_SIZE_CPU_BYTES = 45 * 1024**3
MAX_IMAGE_SIZE_GPU_BYTES = 95 * 1024**3
JAVA_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS")
SHELL_NAMES = frozenset({"bash", "sh"})
_SHELL_DIRS = ("", "/bin/", "/usr/bin/", "/usr/local/bin/")
_MAX_ARGS = 32  # argv items kept of ENTRYPOINT / CMD / SHELL (a bound for the digest cache)
_MAX_ARG_CHARS = 256
_MAX_ENV = 256
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_MAX_RAM_100 = re.compile(r"^-XX:MaxRAMPercentage=100(?:\.0*)?$")


class ConfigFacts(BaseModel):
    """What one image config blob says, without any value that could be secret.

    ``env_names`` holds variable NAMES only; ``java_memory_flags`` only the matching option tokens
    (``JAVA_TOOL_OPTIONS: -Xmx``), never a whole variable value. ``entrypoint``/``cmd``/``shell`` are
    the image's own argv as built (None: absent from the config); items are cut at 256 characters.
    """

    platform: str
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    shell: list[str] | None = None  # Docker's SHELL instruction (Docker config format only)
    env_names: list[str] = Field(default_factory=list)
    java_memory_flags: list[str] = Field(default_factory=list)
    base_image: str | None = None  # the org.opencontainers.image.base.name label, when the builder set it


def _argv(value: object) -> list[str] | None:
    """An argv list from a config field; a bare string (allowed by some builders) becomes one item."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    return [str(item)[:_MAX_ARG_CHARS] for item in value[:_MAX_ARGS] if isinstance(item, (str, int, float))]


def _java_flags(name: str, value: str) -> list[str]:
    flags = []
    for token in value.split():
        if token.startswith("-Xmx"):
            flags.append(f"{name}: -Xmx")  # the figure is left out: only that a heap maximum is fixed
        elif _MAX_RAM_100.match(token):
            flags.append(f"{name}: -XX:MaxRAMPercentage=100")
    return flags


def config_facts(config_blob: bytes | str) -> ConfigFacts:
    """Platform and run-time facts of an image config blob; ManifestError when os/architecture are missing."""
    doc = _load_object(config_blob, "image config")
    platform = _platform_string(doc)
    if platform is None:
        raise ManifestError("image config lacks a non-empty 'os' and 'architecture'")
    section = doc.get("config")
    run: dict[str, Any] = section if isinstance(section, dict) else {}
    names: list[str] = []
    java: list[str] = []
    env = run.get("Env")
    for item in env[: _MAX_ENV * 4] if isinstance(env, list) else []:
        if not isinstance(item, str):
            continue
        name, _, value = item.partition("=")
        if not _ENV_NAME.match(name):
            continue
        _append_unique(names, name)
        if name in JAVA_OPTION_VARIABLES:
            java.extend(f for f in _java_flags(name, value) if f not in java)
    labels = run.get("Labels")
    base = labels.get("org.opencontainers.image.base.name") if isinstance(labels, dict) else None
    return ConfigFacts(
        platform=platform,
        entrypoint=_argv(run.get("Entrypoint")),
        cmd=_argv(run.get("Cmd")),
        shell=_argv(run.get("Shell")),
        env_names=names[:_MAX_ENV],
        java_memory_flags=java,
        base_image=base[:_MAX_ARG_CHARS] if isinstance(base, str) and base else None,
    )


def _shell_name(program: str) -> str | None:
    """ "bash"/"sh" when ``program`` is that shell, bare or in a standard bin folder; else None."""
    for folder in _SHELL_DIRS:
        if program.startswith(folder) and program[len(folder) :] in SHELL_NAMES:
            return program[len(folder) :]
    return None


def entrypoint_is_shell(entrypoint: list[str] | None) -> bool:
    """True when the ENTRYPOINT is absent/empty, or is a shell alone or with ``-c`` (docs/judgement-calls.md).

    Counted as a shell: ``sh`` or ``bash``, bare or under /bin, /usr/bin or /usr/local/bin, with no
    argument or the single argument ``-c``. Anything else (a tool, ``tini --``, ``bash -l``, a script)
    is not: seed 004 asks for no ENTRYPOINT at all, so only the closest equivalents are let through.
    """
    if not entrypoint:
        return True
    if _shell_name(entrypoint[0]) is None:
        return False
    return entrypoint[1:] in ([], ["-c"])


def known_shell(facts_entrypoint: list[str] | None, cmd: list[str] | None, shell: list[str] | None) -> tuple[str, str]:
    """(shell, where it was seen) from the config alone; ("unknown", "") when the config cannot tell.

    A shell named by ENTRYPOINT, CMD (``["/bin/bash"]``, ``["sh", "-c", ...]``) or Docker's SHELL
    instruction was in the image when it was built (GUESS for SHELL: a later stage could delete it).
    """
    for source, argv in (("Entrypoint", facts_entrypoint), ("Cmd", cmd), ("Shell", shell)):
        name = _shell_name(argv[0]) if argv else None
        if name is not None:
            return name, source
    return "unknown", ""
