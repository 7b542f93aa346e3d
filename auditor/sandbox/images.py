"""Seed container images into (sandboxed) ECR through the public API only.

Each helper talks to a boto3 ECR client exactly as a registry client would: blobs go through
BatchCheckLayerAvailability / InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload,
manifests through PutImage with an explicit ``imageManifestMediaType`` and ``imageDigest``.
Content is deterministic (same arguments, same digests), so a re-push of a tag is a no-op
for blobs and an ImageAlreadyExistsException for the manifest, as in ECR.

Digests are ``sha256:`` + the sha256 of the exact bytes that were sent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ATTESTATION_LAYER_MEDIA_TYPE",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V2",
    "DOCKER_SCHEMA1",
    "IMAGE_MANIFEST_MEDIA_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "push_image",
    "push_image_with_config",
    "push_index",
    "push_schema1",
]

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ATTESTATION_LAYER_MEDIA_TYPE = "application/vnd.in-toto+json"
# Every manifest type ECR stores; pass these as acceptedMediaTypes to see what was pushed.
IMAGE_MANIFEST_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST_V2, DOCKER_SCHEMA1)

_CONFIG_AND_LAYER_TYPES = {
    DOCKER_MANIFEST_V2: (DOCKER_CONFIG, DOCKER_LAYER),
    OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER),
}
_CHILD_MANIFEST_TYPE = {DOCKER_MANIFEST_LIST: DOCKER_MANIFEST_V2, OCI_INDEX: OCI_MANIFEST}


@dataclass(frozen=True)
class _Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _upload_blob(ecr: Any, repository: str, data: bytes, media_type: str) -> _Descriptor:
    """Upload ``data`` unless the repository already has it (as a docker push does)."""
    digest = _digest(data)
    check = ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=[digest])
    if not any(layer.get("layerAvailability") == "AVAILABLE" for layer in check.get("layers", [])):
        upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
        ecr.upload_layer_part(
            repositoryName=repository,
            uploadId=upload_id,
            partFirstByte=0,
            partLastByte=len(data) - 1,
            layerPartBlob=data,
        )
        ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[digest])
    return _Descriptor(media_type, digest, len(data))


def _put_manifest(ecr: Any, repository: str, manifest: bytes, media_type: str, tag: str | None) -> _Descriptor:
    digest = _digest(manifest)
    arguments: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": manifest.decode("utf-8"),
        "imageManifestMediaType": media_type,
        "imageDigest": digest,
    }
    if tag is not None:
        arguments["imageTag"] = tag
    ecr.put_image(**arguments)
    return _Descriptor(media_type, digest, len(manifest))


def _layer_tar(content: bytes) -> tuple[bytes, bytes]:
    """A one-file layer: (gzipped tar, uncompressed tar), reproducible byte for byte."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("etc/sandbox-image")
        info.size = len(content)
        info.mtime = 0
        archive.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), uncompressed


def _platform(architecture: str, os: str, variant: str | None) -> dict[str, str]:
    platform = {"architecture": architecture, "os": os}
    if variant:
        platform["variant"] = variant
    return platform


def _push_manifest(
    ecr: Any,
    repository: str,
    *,
    tag: str | None,
    architecture: str,
    os: str,
    variant: str | None,
    media_type: str,
    run_config: dict[str, Any] | None = None,
) -> _Descriptor:
    if media_type not in _CONFIG_AND_LAYER_TYPES:
        raise ValueError(f"push_image pushes {' or '.join(_CONFIG_AND_LAYER_TYPES)}, not {media_type}")
    config_type, layer_type = _CONFIG_AND_LAYER_TYPES[media_type]
    platform = _platform(architecture, os, variant)
    compressed, uncompressed = _layer_tar(f"sandbox image for {'/'.join(platform.values())}\n".encode())
    config = platform | {
        "rootfs": {"type": "layers", "diff_ids": [_digest(uncompressed)]},
        "config": dict(run_config or {}),
    }
    config_blob = _upload_blob(ecr, repository, _canonical(config), config_type)
    layer_blob = _upload_blob(ecr, repository, compressed, layer_type)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.to_json(),
        "layers": [layer_blob.to_json()],
    }
    return _put_manifest(ecr, repository, _canonical(manifest), media_type, tag)


def push_image(
    ecr: Any,
    repository: str,
    *,
    tag: str | None,
    architecture: str = "amd64",
    os: str = "linux",
    media_type: str = DOCKER_MANIFEST_V2,
    variant: str | None = None,
) -> str:
    """Push a one-layer image (Docker v2 schema 2 or OCI manifest); returns its digest.

    The config blob is ``{"architecture", "os"[, "variant"], "rootfs", "config"}``; ``tag``
    None pushes by digest only (an untagged image).
    """
    pushed = _push_manifest(
        ecr, repository, tag=tag, architecture=architecture, os=os, variant=variant, media_type=media_type
    )
    return pushed.digest


def _sized_layer(size: int, seed: int) -> bytes:
    """``size`` deterministic bytes (a stand-in layer: ECR stores blobs by digest and never unpacks them)."""
    block = hashlib.sha256(f"sandbox layer {seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def push_image_with_config(
    ecr: Any,
    repository: str,
    *,
    tag: str | None,
    config: dict[str, Any] | None = None,
    layer_sizes: list[int] | None = None,
    architecture: str = "amd64",
    os: str = "linux",
    media_type: str = DOCKER_MANIFEST_V2,
) -> str:
    """Push an image whose config blob has the given run-time ``config`` section (``Entrypoint``, ``Cmd``,
    ``Env``, ``Shell``, ``Labels`` as Docker writes them) and one layer of each of ``layer_sizes`` bytes
    (default: the one small layer of :func:`push_image`); returns its digest.

    The manifest's layer descriptors carry the blobs' real sizes and digests, as a registry client sends them.
    """
    if media_type not in _CONFIG_AND_LAYER_TYPES:
        raise ValueError(f"push_image_with_config pushes {' or '.join(_CONFIG_AND_LAYER_TYPES)}, not {media_type}")
    config_type, layer_type = _CONFIG_AND_LAYER_TYPES[media_type]
    if layer_sizes is None:
        compressed, uncompressed = _layer_tar(f"sandbox image for {os}/{architecture}\n".encode())
        layers = [(compressed, uncompressed)]
    else:
        layers = [(data, data) for data in (_sized_layer(size, i) for i, size in enumerate(layer_sizes)) if data]
    document = {
        "architecture": architecture,
        "os": os,
        "rootfs": {"type": "layers", "diff_ids": [_digest(raw) for _, raw in layers]},
        "config": dict(config or {}),
    }
    config_blob = _upload_blob(ecr, repository, _canonical(document), config_type)
    layer_blobs = [_upload_blob(ecr, repository, data, layer_type) for data, _ in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.to_json(),
        "layers": [blob.to_json() for blob in layer_blobs],
    }
    return _put_manifest(ecr, repository, _canonical(manifest), media_type, tag).digest


def _parse_platform(platform: str) -> tuple[str, str, str | None]:
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform must be os/architecture[/variant], got {platform!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _push_attestation(ecr: Any, repository: str, subject: _Descriptor) -> dict[str, Any]:
    """A BuildKit-style provenance attestation for ``subject``; returns its index entry."""
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "_", "digest": {"sha256": subject.digest.removeprefix("sha256:")}}],
        "predicate": {"builder": {"id": "sandbox"}},
    }
    statement_blob = _upload_blob(ecr, repository, _canonical(statement), ATTESTATION_LAYER_MEDIA_TYPE)
    config = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [statement_blob.digest]},
    }
    config_blob = _upload_blob(ecr, repository, _canonical(config), OCI_CONFIG)
    layer = statement_blob.to_json() | {"annotations": {"in-toto.io/predicate-type": statement["predicateType"]}}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_blob.to_json(), "layers": [layer]}
    pushed = _put_manifest(ecr, repository, _canonical(manifest), OCI_MANIFEST, None)
    return pushed.to_json() | {
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": {
            "vnd.docker.reference.digest": subject.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
    }


def push_index(
    ecr: Any,
    repository: str,
    *,
    tag: str | None,
    platforms: list[str],
    media_type: str = OCI_INDEX,
    include_attestation: bool = False,
    configs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Push a multi-platform image: one untagged child per platform, then the list/index.

    ``platforms`` are ``os/architecture[/variant]`` strings. Children are OCI manifests under
    an OCI index and Docker v2 manifests under a Docker manifest list. With
    ``include_attestation`` every child gets a BuildKit-style attestation manifest, listed
    with platform ``unknown/unknown``. ``configs`` gives a platform's child its run-time config
    section (``Entrypoint``, ``Env``, ...). Returns the list/index digest.
    """
    if media_type not in _CHILD_MANIFEST_TYPE:
        raise ValueError(f"push_index pushes {' or '.join(_CHILD_MANIFEST_TYPE)}, not {media_type}")
    entries: list[dict[str, Any]] = []
    attestations: list[dict[str, Any]] = []
    for platform in platforms:
        os_name, architecture, variant = _parse_platform(platform)
        child = _push_manifest(
            ecr,
            repository,
            tag=None,
            architecture=architecture,
            os=os_name,
            variant=variant,
            media_type=_CHILD_MANIFEST_TYPE[media_type],
            run_config=(configs or {}).get(platform),
        )
        entries.append(child.to_json() | {"platform": _platform(architecture, os_name, variant)})
        if include_attestation:
            attestations.append(_push_attestation(ecr, repository, child))
    index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries + attestations}
    return _put_manifest(ecr, repository, _canonical(index), media_type, tag).digest


def push_schema1(ecr: Any, repository: str, *, tag: str, architecture: str) -> str:
    """Push an unsigned Docker v2 schema 1 manifest (architecture at top level); returns its digest."""
    compressed, _ = _layer_tar(f"sandbox schema1 image for linux/{architecture}\n".encode())
    layer = _upload_blob(ecr, repository, compressed, DOCKER_LAYER)
    layer_id = hashlib.sha256(layer.digest.encode()).hexdigest()
    v1_config = {"id": layer_id, "architecture": architecture, "os": "linux", "config": {}}
    manifest = {
        "schemaVersion": 1,
        "name": repository,
        "tag": tag,
        "architecture": architecture,
        "fsLayers": [{"blobSum": layer.digest}],
        "history": [{"v1Compatibility": json.dumps(v1_config, separators=(",", ":"))}],
    }
    return _put_manifest(ecr, repository, _canonical(manifest), DOCKER_SCHEMA1, tag).digest
