"""The sandbox's ECR push path through boto3: InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
BatchCheckLayerAvailability and PutImage, as botocore's model and ECR's documentation describe them
(docs/aws-semantics.md, "Sandbox: layer upload and pull-through import").

Every successful response is validated against botocore's output shape (tests/support/shapes.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from auditor.sandbox import ecr
from auditor.sandbox.images import (
    ATTESTATION_LAYER_MEDIA_TYPE,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    IMAGE_MANIFEST_MEDIA_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)
from auditor.sandbox.server import SandboxServer, start_server
from tests.support.shapes import attach

ACCOUNT = "123456789012"
REGION = "us-east-1"
REPO = "team/app"
MIB = 1024 * 1024
UPLOAD_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# ------------------------------------------------------------------------------------------
# Helpers: a registry client's push, written out call by call
# ------------------------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(exc_info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc_info.value.response["Error"]["Code"])


def _filler(size: int, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def client(aws: boto3.Session) -> Any:
    ecr_client = attach(aws.client("ecr"))
    ecr_client.create_repository(repositoryName=REPO)
    return ecr_client


@dataclass
class Pusher:
    """Pushes as ``omics-ecr-audit copy`` does: blobs the repository lacks in parts of ``partSize``, then manifests."""

    ecr: Any
    repository: str = REPO
    uploads: int = 0
    parts: list[int] = field(default_factory=list)

    def blob(self, data: bytes) -> str:
        digest = _digest(data)
        check = self.ecr.batch_check_layer_availability(repositoryName=self.repository, layerDigests=[digest])
        if any(layer["layerAvailability"] == "AVAILABLE" for layer in check["layers"]):
            return digest
        upload = self.ecr.initiate_layer_upload(repositoryName=self.repository)
        self.uploads += 1
        for first in range(0, len(data), upload["partSize"]):
            part = data[first : first + upload["partSize"]]
            answer = self.ecr.upload_layer_part(
                repositoryName=self.repository,
                uploadId=upload["uploadId"],
                partFirstByte=first,
                partLastByte=first + len(part) - 1,
                layerPartBlob=part,
            )
            assert answer["lastByteReceived"] == first + len(part) - 1
            self.parts.append(len(part))
        done = self.ecr.complete_layer_upload(
            repositoryName=self.repository, uploadId=upload["uploadId"], layerDigests=[digest]
        )
        assert done["layerDigest"] == digest
        return digest

    def manifest(self, manifest: bytes, media_type: str, tag: str | None = None) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "repositoryName": self.repository,
            "imageManifest": manifest.decode(),
            "imageManifestMediaType": media_type,
            "imageDigest": _digest(manifest),
        }
        if tag is not None:
            arguments["imageTag"] = tag
        return dict(self.ecr.put_image(**arguments)["image"])


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def _image(
    architecture: str, media_type: str = DOCKER_MANIFEST_V2, layer_sizes: tuple[int, ...] = (300,)
) -> tuple[bytes, dict[str, bytes]]:
    """(manifest bytes, blobs) of a one-platform image; the manifest is indented, as registries often serve it."""
    config_type, layer_type = (
        (DOCKER_CONFIG, DOCKER_LAYER) if media_type == DOCKER_MANIFEST_V2 else (OCI_CONFIG, OCI_LAYER)
    )
    layers = [_filler(size, f"{architecture}-{n}") for n, size in enumerate(layer_sizes)]
    config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": _descriptor(config_type, config),
        "layers": [_descriptor(layer_type, layer) for layer in layers],
    }
    return json.dumps(manifest, indent=3).encode(), {_digest(blob): blob for blob in [config, *layers]}


def _push(pusher: Pusher, manifest: bytes, blobs: dict[str, bytes], media_type: str, tag: str | None) -> str:
    for data in blobs.values():
        pusher.blob(data)
    return str(pusher.manifest(manifest, media_type, tag)["imageId"]["imageDigest"])


def _images(ecr_client: Any, repository: str = REPO) -> dict[str, list[str]]:
    """digest -> tags of every image in the repository (DescribeImages: ListImages' shape refuses an empty list)."""
    details = ecr_client.describe_images(repositoryName=repository)["imageDetails"]
    return {detail["imageDigest"]: sorted(detail.get("imageTags", [])) for detail in details}


def _get(ecr_client: Any, image_id: dict[str, str], repository: str = REPO) -> dict[str, Any]:
    answer = ecr_client.batch_get_image(
        repositoryName=repository, imageIds=[image_id], acceptedMediaTypes=list(IMAGE_MANIFEST_MEDIA_TYPES)
    )
    assert answer["failures"] == [], answer["failures"]
    return dict(answer["images"][0])


# ------------------------------------------------------------------------------------------
# InitiateLayerUpload, UploadLayerPart
# ------------------------------------------------------------------------------------------


def test_initiate_layer_upload(client: Any) -> None:
    first = client.initiate_layer_upload(repositoryName=REPO)
    second = client.initiate_layer_upload(repositoryName=REPO)
    assert UPLOAD_ID.fullmatch(first["uploadId"]) and first["uploadId"] != second["uploadId"]
    # The AWS CLI's initiate-layer-upload example answers 10485760, the quota on a part's size.
    assert first["partSize"] == 10 * MIB == ecr.MAX_LAYER_PART_SIZE
    with pytest.raises(ClientError) as exc_info:
        client.initiate_layer_upload(repositoryName="team/missing")
    assert _code(exc_info) == "RepositoryNotFoundException"


def test_parts_must_be_contiguous(client: Any) -> None:
    head, tail = _filler(5 * MIB, "head"), b"tail"
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    first = client.upload_layer_part(
        repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=len(head) - 1, layerPartBlob=head
    )
    assert (first["lastByteReceived"], first["uploadId"], first["repositoryName"]) == (len(head) - 1, upload_id, REPO)
    assert first["registryId"] == ACCOUNT
    for part_first in (len(head) + 1, 0, len(head) - 1):  # a gap, a restart, an overlap
        with pytest.raises(ClientError) as exc_info:
            client.upload_layer_part(
                repositoryName=REPO,
                uploadId=upload_id,
                partFirstByte=part_first,
                partLastByte=part_first + len(tail) - 1,
                layerPartBlob=tail,
            )
        error = exc_info.value.response
        assert _code(exc_info) == "InvalidLayerPartException"
        # The model's members of InvalidLayerPartException.
        assert (error["registryId"], error["repositoryName"], error["uploadId"]) == (ACCOUNT, REPO, upload_id)
        assert error["lastValidByteReceived"] == len(head) - 1
    second = client.upload_layer_part(
        repositoryName=REPO,
        uploadId=upload_id,
        partFirstByte=len(head),
        partLastByte=len(head) + len(tail) - 1,
        layerPartBlob=tail,
    )
    assert second["lastByteReceived"] == len(head) + len(tail) - 1
    done = client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(head + tail)])
    assert done["layerDigest"] == _digest(head + tail)


def test_part_range_must_span_its_bytes(client: Any) -> None:
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    for last in (1, 3):
        with pytest.raises(ClientError) as exc_info:
            client.upload_layer_part(
                repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=last, layerPartBlob=b"abc"
            )
        assert _code(exc_info) == "InvalidLayerPartException"
        assert exc_info.value.response["lastValidByteReceived"] == -1


def test_part_size_quota(client: Any) -> None:
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    too_big = _filler(10 * MIB + 1, "big")
    with pytest.raises(ClientError) as exc_info:
        client.upload_layer_part(
            repositoryName=REPO,
            uploadId=upload_id,
            partFirstByte=0,
            partLastByte=len(too_big) - 1,
            layerPartBlob=too_big,
        )
    assert _code(exc_info) == "InvalidLayerPartException"
    full = too_big[:-1]
    answer = client.upload_layer_part(
        repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=len(full) - 1, layerPartBlob=full
    )
    assert answer["lastByteReceived"] == 10 * MIB - 1


def test_part_count_quota(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ecr, "MAX_LAYER_PARTS", 2)  # the real 4,200 parts, made small
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    for first in (0, 1):
        client.upload_layer_part(
            repositoryName=REPO, uploadId=upload_id, partFirstByte=first, partLastByte=first, layerPartBlob=b"x"
        )
    with pytest.raises(ClientError) as exc_info:
        client.upload_layer_part(
            repositoryName=REPO, uploadId=upload_id, partFirstByte=2, partLastByte=2, layerPartBlob=b"x"
        )
    assert _code(exc_info) == "LimitExceededException"


def test_unknown_uploads(client: Any) -> None:
    client.create_repository(repositoryName="team/other")
    elsewhere = client.initiate_layer_upload(repositoryName="team/other")["uploadId"]
    for upload_id in ("00000000-0000-0000-0000-000000000000", elsewhere):
        with pytest.raises(ClientError) as exc_info:
            client.upload_layer_part(
                repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=0, layerPartBlob=b"x"
            )
        assert _code(exc_info) == "UploadNotFoundException"
        with pytest.raises(ClientError) as exc_info:
            client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(b"x")])
        assert _code(exc_info) == "UploadNotFoundException"
    with pytest.raises(ClientError) as exc_info:
        client.upload_layer_part(
            repositoryName="team/missing", uploadId=elsewhere, partFirstByte=0, partLastByte=0, layerPartBlob=b"x"
        )
    assert _code(exc_info) == "RepositoryNotFoundException"


# ------------------------------------------------------------------------------------------
# CompleteLayerUpload, BatchCheckLayerAvailability, GetDownloadUrlForLayer
# ------------------------------------------------------------------------------------------


def test_complete_an_upload_without_parts(client: Any) -> None:
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(b"")])
    assert _code(exc_info) == "EmptyUploadException"
    assert "cannot be completed because it does not have any parts" in exc_info.value.response["Error"]["Message"]


def test_multipart_upload_and_the_minimum_part_size(client: Any) -> None:
    pusher = Pusher(client)
    layer = _filler(21 * MIB, "multipart")
    digest = pusher.blob(layer)
    assert pusher.parts == [10 * MIB, 10 * MIB, 1 * MIB]
    (available,) = client.batch_check_layer_availability(repositoryName=REPO, layerDigests=[digest])["layers"]
    assert (available["layerAvailability"], available["layerSize"]) == ("AVAILABLE", len(layer))

    # Every part but the last must be at least 5 MiB.
    small = _filler(5 * MIB + 1, "small")
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    for first, last in ((0, 5 * MIB - 1), (5 * MIB, 5 * MIB)):
        client.upload_layer_part(
            repositoryName=REPO,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=last,
            layerPartBlob=small[first : last + 1],
        )
    client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(small)])
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    for first, last in ((0, 0), (1, 5 * MIB)):
        client.upload_layer_part(
            repositoryName=REPO,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=last,
            layerPartBlob=small[first : last + 1],
        )
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(small)])
    assert _code(exc_info) == "LayerPartTooSmallException"


def test_complete_checks_the_digest_then_whether_the_layer_exists(client: Any) -> None:
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    client.upload_layer_part(
        repositoryName=REPO, uploadId=upload_id, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc"
    )
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(b"xyz")])
    assert _code(exc_info) == "InvalidLayerException"
    # The refused upload is still open (GUESS): completing it with the right digest works.
    client.complete_layer_upload(repositoryName=REPO, uploadId=upload_id, layerDigests=[_digest(b"abc")])

    again = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    client.upload_layer_part(repositoryName=REPO, uploadId=again, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc")
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName=REPO, uploadId=again, layerDigests=[_digest(b"xyz")])
    assert _code(exc_info) == "InvalidLayerException"  # the digest is checked before the existing layer
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName=REPO, uploadId=again, layerDigests=[_digest(b"abc")])
    assert _code(exc_info) == "LayerAlreadyExistsException"
    # Another repository is another store.
    client.create_repository(repositoryName="team/other")
    assert Pusher(client, "team/other").blob(b"abc") == _digest(b"abc")


def test_completed_blobs_are_available_then_downloadable_once_referenced(client: Any) -> None:
    manifest, blobs = _image("arm64", OCI_MANIFEST)
    pusher = Pusher(client)
    digests = [pusher.blob(data) for data in blobs.values()]
    config_digest = json.loads(manifest)["config"]["digest"]
    checked = client.batch_check_layer_availability(repositoryName=REPO, layerDigests=[*digests, _digest(b"no")])
    assert [layer["layerDigest"] for layer in checked["layers"]] == digests
    assert {layer["layerAvailability"] for layer in checked["layers"]} == {"AVAILABLE"}
    assert checked["failures"] == [
        {
            "layerDigest": _digest(b"no"),
            "failureCode": "MissingLayerDigest",
            "failureReason": f"Layer digest '{_digest(b'no')}' could not be found",
        }
    ]
    # Only blobs an image references can be downloaded (model doc of GetDownloadUrlForLayer).
    with pytest.raises(ClientError) as exc_info:
        client.get_download_url_for_layer(repositoryName=REPO, layerDigest=config_digest)
    assert _code(exc_info) == "LayerInaccessibleException"

    pusher.manifest(manifest, OCI_MANIFEST, "v1")
    for digest, data in blobs.items():
        url = client.get_download_url_for_layer(repositoryName=REPO, layerDigest=digest)["downloadUrl"]
        assert requests.get(url, timeout=10).content == data
    # Once a manifest references them, each blob reports the media type the manifest gives it.
    types = {
        layer["layerDigest"]: layer["mediaType"]
        for layer in client.batch_check_layer_availability(repositoryName=REPO, layerDigests=digests)["layers"]
    }
    assert types[config_digest] == OCI_CONFIG
    assert set(types.values()) == {OCI_CONFIG, OCI_LAYER}


# ------------------------------------------------------------------------------------------
# PutImage
# ------------------------------------------------------------------------------------------


def test_put_image_needs_the_referenced_blobs(client: Any) -> None:
    manifest, blobs = _image("amd64", layer_sizes=(100, 200))
    pusher = Pusher(client)
    config, first_layer, second_layer = blobs.values()
    for uploaded in ([], [first_layer], [second_layer]):  # then the config alone is missing
        for data in uploaded:
            pusher.blob(data)
        with pytest.raises(ClientError) as exc_info:
            pusher.manifest(manifest, DOCKER_MANIFEST_V2, "v1")
        assert _code(exc_info) == "LayersNotFoundException"
        assert _images(client) == {}
    pusher.blob(config)
    assert pusher.manifest(manifest, DOCKER_MANIFEST_V2, "v1")["imageId"] == {
        "imageDigest": _digest(manifest),
        "imageTag": "v1",
    }
    assert _get(client, {"imageTag": "v1"})["imageManifest"] == manifest.decode()


def test_failed_put_image_is_recorded(client: Any, aws: boto3.Session) -> None:
    manifest, _ = _image("amd64")
    with pytest.raises(ClientError):
        Pusher(client).manifest(manifest, DOCKER_MANIFEST_V2, "v1")
    events = aws.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutImage"}]
    )["Events"]
    (record,) = [json.loads(event["CloudTrailEvent"]) for event in events]
    assert record["errorCode"] == "LayersNotFoundException"


def test_put_image_refuses_what_is_not_a_manifest(client: Any) -> None:
    for text, media_type in (("not json", DOCKER_MANIFEST_V2), ("[1, 2]", DOCKER_MANIFEST_V2), ("{}", None)):
        arguments = {"repositoryName": REPO, "imageManifest": text, "imageTag": "v1"}
        if media_type:
            arguments["imageManifestMediaType"] = media_type
        with pytest.raises(ClientError) as exc_info:
            client.put_image(**arguments)
        assert _code(exc_info) == "InvalidParameterException"


@pytest.mark.parametrize(
    ("index_type", "child_type"), [(OCI_INDEX, OCI_MANIFEST), (DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)]
)
def test_index_children_first_and_exact_bytes(client: Any, index_type: str, child_type: str) -> None:
    pusher = Pusher(client)
    children = [(*_image(architecture, child_type), child_type) for architecture in ("amd64", "arm64")]
    entries = [
        _descriptor(child_type, manifest) | {"platform": {"architecture": architecture, "os": "linux"}}
        for (manifest, _, _), architecture in zip(children, ("amd64", "arm64"), strict=True)
    ]
    if index_type == OCI_INDEX:
        # BuildKit-style attestation manifests, one per platform image, listed as unknown/unknown.
        for (manifest, _, _), entry in zip(list(children), list(entries), strict=True):
            statement = json.dumps({"subject": [{"digest": {"sha256": _digest(manifest)[7:]}}]}).encode()
            config = b'{"architecture":"unknown","os":"unknown"}'
            attestation = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": _descriptor(OCI_CONFIG, config),
                    "layers": [_descriptor(ATTESTATION_LAYER_MEDIA_TYPE, statement)],
                }
            ).encode()
            children.append((attestation, {_digest(config): config, _digest(statement): statement}, OCI_MANIFEST))
            entries.append(
                _descriptor(OCI_MANIFEST, attestation)
                | {
                    "platform": {"architecture": "unknown", "os": "unknown"},
                    "annotations": {
                        "vnd.docker.reference.digest": entry["digest"],
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                }
            )
    index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}, indent=2).encode()

    # Children first: ECR refuses an index that names manifests the repository does not have.
    _push(pusher, *children[0], None)
    with pytest.raises(ClientError) as exc_info:
        pusher.manifest(index, index_type, "multi")
    assert _code(exc_info) == "ReferencedImagesNotFoundException"
    assert all(tags == [] for tags in _images(client).values())
    for child in children[1:]:
        _push(pusher, *child, None)
    pusher.manifest(index, index_type, "multi")

    for image_id in ({"imageTag": "multi"}, {"imageDigest": _digest(index)}):
        got = _get(client, image_id)
        assert got["imageManifest"].encode() == index
        assert got["imageManifestMediaType"] == index_type
    for manifest, _, media_type in children:
        got = _get(client, {"imageDigest": _digest(manifest)})
        assert got["imageManifestMediaType"] == media_type
        assert got["imageManifest"].encode() == manifest
        assert "imageTag" not in got["imageId"]
    assert sorted(digest for digest, tags in _images(client).items() if not tags) == sorted(
        _digest(manifest) for manifest, _, _ in children
    )


def test_put_image_twice(client: Any) -> None:
    pusher = Pusher(client)
    manifest, blobs = _image("amd64")
    digest = _push(pusher, manifest, blobs, DOCKER_MANIFEST_V2, "v1")
    # Same manifest, same tag: "already been pushed, and there were no changes".
    with pytest.raises(ClientError) as exc_info:
        pusher.manifest(manifest, DOCKER_MANIFEST_V2, "v1")
    assert _code(exc_info) == "ImageAlreadyExistsException"
    # Same manifest, a new tag: the image gains the tag.
    assert pusher.manifest(manifest, DOCKER_MANIFEST_V2, "latest")["imageId"] == {
        "imageDigest": digest,
        "imageTag": "latest",
    }
    (details,) = client.describe_images(repositoryName=REPO)["imageDetails"]
    assert sorted(details["imageTags"]) == ["latest", "v1"]
    # Same manifest without a tag changes nothing (GUESS: and succeeds).
    assert pusher.manifest(manifest, DOCKER_MANIFEST_V2)["imageId"] == {"imageDigest": digest}
    (details,) = client.describe_images(repositoryName=REPO)["imageDetails"]
    assert sorted(details["imageTags"]) == ["latest", "v1"]


def test_a_moved_tag_leaves_the_old_image_untagged(client: Any) -> None:
    pusher = Pusher(client)
    old = _push(pusher, *_image("amd64"), DOCKER_MANIFEST_V2, "v1")
    new = _push(pusher, *_image("arm64"), DOCKER_MANIFEST_V2, "v1")
    assert _get(client, {"imageTag": "v1"})["imageId"]["imageDigest"] == new
    assert _images(client) == {old: [], new: ["v1"]}
    assert "imageTag" not in _get(client, {"imageDigest": old})["imageId"]


@pytest.mark.parametrize(
    ("mutability", "filters", "movable", "fixed"),
    [
        ("IMMUTABLE", None, [], ["v1", "latest"]),
        ("IMMUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "latest*"}], ["latest"], ["v1"]),
        ("MUTABLE_WITH_EXCLUSION", [{"filterType": "WILDCARD", "filter": "v*"}], ["latest"], ["v1"]),
    ],
)
def test_immutable_tags(
    client: Any, mutability: str, filters: list[dict[str, str]] | None, movable: list[str], fixed: list[str]
) -> None:
    extra = {"imageTagMutabilityExclusionFilters": filters} if filters else {}
    client.create_repository(repositoryName="team/locked", imageTagMutability=mutability, **extra)
    pusher = Pusher(client, "team/locked")
    first, first_blobs = _image("amd64")
    second, second_blobs = _image("arm64")
    for tag in movable + fixed:
        _push(pusher, first, first_blobs, DOCKER_MANIFEST_V2, tag)
        # The identical re-push is ImageAlreadyExists even when the tag is immutable (aws/aws-sdk#750).
        with pytest.raises(ClientError) as exc_info:
            pusher.manifest(first, DOCKER_MANIFEST_V2, tag)
        assert _code(exc_info) == "ImageAlreadyExistsException"
    for tag in fixed:
        with pytest.raises(ClientError) as exc_info:
            _push(pusher, second, second_blobs, DOCKER_MANIFEST_V2, tag)
        assert _code(exc_info) == "ImageTagAlreadyExistsException"
        message = exc_info.value.response["Error"]["Message"]
        assert message == (
            f"The image tag '{tag}' already exists in the 'team/locked' repository and cannot be overwritten "
            "because the repository is immutable."
        )
    for tag in movable:
        _push(pusher, second, second_blobs, DOCKER_MANIFEST_V2, tag)
        assert _get(client, {"imageTag": tag}, "team/locked")["imageId"]["imageDigest"] == _digest(second)


# ------------------------------------------------------------------------------------------
# A copy interrupted and run again
# ------------------------------------------------------------------------------------------


def test_an_abandoned_upload_leaves_nothing_and_a_second_push_skips_what_is_there(client: Any) -> None:
    manifest, blobs = _image("amd64", layer_sizes=(12 * MIB, 400))
    config, big, _ = blobs.values()
    pusher = Pusher(client)
    pusher.blob(config)
    # The big layer's upload stops after its first part, never completed.
    upload_id = client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    client.upload_layer_part(
        repositoryName=REPO,
        uploadId=upload_id,
        partFirstByte=0,
        partLastByte=10 * MIB - 1,
        layerPartBlob=big[: 10 * MIB],
    )
    assert _images(client) == {}
    checked = client.batch_check_layer_availability(repositoryName=REPO, layerDigests=list(blobs))
    assert [layer["layerDigest"] for layer in checked["layers"]] == [_digest(config)]
    assert [failure["failureCode"] for failure in checked["failures"]] == ["MissingLayerDigest"] * 2
    with pytest.raises(ClientError) as exc_info:
        client.get_download_url_for_layer(repositoryName=REPO, layerDigest=_digest(big))
    assert _code(exc_info) == "LayersNotFoundException"

    rerun = Pusher(client)
    _push(rerun, manifest, blobs, DOCKER_MANIFEST_V2, "v1")
    assert rerun.uploads == 2 and rerun.parts == [10 * MIB, 2 * MIB, 400]

    again = Pusher(client)
    with pytest.raises(ClientError) as exc_info:
        _push(again, manifest, blobs, DOCKER_MANIFEST_V2, "v1")
    assert _code(exc_info) == "ImageAlreadyExistsException"
    assert again.uploads == 0  # every blob reported AVAILABLE
    assert _get(client, {"imageTag": "v1"})["imageManifest"].encode() == manifest


# ------------------------------------------------------------------------------------------
# The same over HTTP (ThreadedMotoServer)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with start_server() as running:
        requests.post(f"{running.url}/moto-api/reset", timeout=10).raise_for_status()
        yield running


def test_push_through_the_server(server: SandboxServer) -> None:
    ecr_client = attach(server.client("ecr", REGION))
    ecr_client.create_repository(repositoryName=REPO)
    pusher = Pusher(ecr_client)
    children = [_image(architecture, OCI_MANIFEST, (11 * MIB,)) for architecture in ("amd64", "arm64")]
    for manifest, blobs in children:
        _push(pusher, manifest, blobs, OCI_MANIFEST, None)
    assert pusher.parts.count(10 * MIB) == 2
    entries = [_descriptor(OCI_MANIFEST, manifest) for manifest, _ in children]
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    pusher.manifest(index, OCI_INDEX, "v1")
    assert _get(ecr_client, {"imageTag": "v1"})["imageManifest"].encode() == index
    layer_digest = json.loads(children[0][0])["layers"][0]["digest"]
    url = ecr_client.get_download_url_for_layer(repositoryName=REPO, layerDigest=layer_digest)["downloadUrl"]
    assert _digest(requests.get(url, timeout=30).content) == layer_digest

    upload_id = ecr_client.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    with pytest.raises(ClientError) as exc_info:
        ecr_client.upload_layer_part(
            repositoryName=REPO, uploadId=upload_id, partFirstByte=1, partLastByte=1, layerPartBlob=b"x"
        )
    assert _code(exc_info) == "InvalidLayerPartException"
    assert exc_info.value.response["lastValidByteReceived"] == -1
