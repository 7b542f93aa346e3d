"""Pulling through the sandbox's cache: BatchGetImage on ``<prefix>/<upstream repository>`` creates the repository
from its creation template and imports the image from the rule's upstream (auditor/sandbox/upstream.py sources),
through boto3, in-process and over HTTP (docs/aws-semantics.md, "Sandbox: layer upload and pull-through import").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from auditor.sandbox import upstream
from auditor.sandbox.images import (
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
from auditor.sandbox.server import start_server
from auditor.sandbox.upstream import UpstreamError, UpstreamImage, memory_source
from tests.support.shapes import attach

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_PUBLIC = "public.ecr.aws"
CACHED = "ecr-public/docker/library/ubuntu"  # cache repository for upstream docker/library/ubuntu
OMICS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PTCRepoCreationTemplate",
                "Effect": "Allow",
                "Principal": {"Service": "omics.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)

Setter = Callable[[str, upstream.UpstreamSource], None]


# ------------------------------------------------------------------------------------------
# Upstream content and fixtures
# ------------------------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(exc_info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc_info.value.response["Error"]["Code"])


def _image(architecture: str, media_type: str = OCI_MANIFEST) -> UpstreamImage:
    """A one-layer image as an upstream registry serves it (indented JSON: the bytes must survive as they are)."""
    config_type, layer_type = (OCI_CONFIG, OCI_LAYER) if media_type == OCI_MANIFEST else (DOCKER_CONFIG, DOCKER_LAYER)
    config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}}).encode()
    layer = hashlib.sha256(architecture.encode()).digest() * 40
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": _digest(layer), "size": len(layer)}],
    }
    return UpstreamImage(
        manifest=json.dumps(manifest, indent=4).encode(),
        media_type=media_type,
        blobs={_digest(config): config, _digest(layer): layer},
    )


def _index(children: list[UpstreamImage], media_type: str = OCI_INDEX) -> UpstreamImage:
    entries = [
        {
            "mediaType": child.media_type,
            "digest": child.digest,
            "size": len(child.manifest),
            "platform": {"architecture": json.loads(child.blobs[_config(child)])["architecture"], "os": "linux"},
        }
        for child in children
    ]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}, indent=2).encode()
    return UpstreamImage(manifest=manifest, media_type=media_type, blobs={}, children=tuple(children))


def _config(image: UpstreamImage) -> str:
    return str(json.loads(image.manifest)["config"]["digest"])


@pytest.fixture
def sources() -> Iterator[Setter]:
    """Set upstream sources for the test; every one is removed afterwards (they are process-wide)."""
    urls: list[str] = []

    def set_source(url: str, source: upstream.UpstreamSource) -> None:
        urls.append(url)
        upstream.set_upstream_source(url, source)

    yield set_source
    for url in urls:
        upstream.set_upstream_source(url, None)


@pytest.fixture
def client(aws: boto3.Session) -> Any:
    """ECR with a PTC rule for ECR Public and the creation template HealthOmics asks for."""
    ecr_client = attach(aws.client("ecr"))
    ecr_client.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl=ECR_PUBLIC)
    ecr_client.create_repository_creation_template(
        prefix="ecr-public", appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=OMICS_POLICY
    )
    return ecr_client


class Counting:
    """A source that counts its calls."""

    def __init__(self, source: upstream.UpstreamSource) -> None:
        self.source = source
        self.calls: list[tuple[str, str]] = []

    def __call__(self, repository: str, reference: str) -> UpstreamImage | None:
        self.calls.append((repository, reference))
        return self.source(repository, reference)


def _pull(ecr_client: Any, repository: str, *image_ids: dict[str, str]) -> dict[str, Any]:
    return dict(
        ecr_client.batch_get_image(
            repositoryName=repository, imageIds=list(image_ids), acceptedMediaTypes=list(IMAGE_MANIFEST_MEDIA_TYPES)
        )
    )


def _images(ecr_client: Any, repository: str) -> dict[str, list[str]]:
    details = ecr_client.describe_images(repositoryName=repository)["imageDetails"]
    return {detail["imageDigest"]: sorted(detail.get("imageTags", [])) for detail in details}


def _events(aws: boto3.Session, name: str) -> list[dict[str, Any]]:
    trail = aws.client("cloudtrail")
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return [json.loads(event["CloudTrailEvent"]) for event in events]


def _download(ecr_client: Any, repository: str, digest: str) -> bytes:
    url = ecr_client.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)["downloadUrl"]
    return requests.get(url, timeout=30).content


# ------------------------------------------------------------------------------------------
# Priming
# ------------------------------------------------------------------------------------------


def test_prime_by_tag(client: Any, aws: boto3.Session, sources: Setter) -> None:
    image = _image("amd64")
    source = Counting(memory_source({("docker/library/ubuntu", "24.04"): image}))
    sources(ECR_PUBLIC, source)

    answer = _pull(client, CACHED, {"imageTag": "24.04"})
    assert answer["failures"] == []
    (got,) = answer["images"]
    assert got["imageManifest"].encode() == image.manifest
    assert got["imageManifestMediaType"] == OCI_MANIFEST
    assert got["imageId"] == {"imageDigest": image.digest, "imageTag": "24.04"}
    assert source.calls == [("docker/library/ubuntu", "24.04")]

    # The repository is the one the first pull creates: from the template, with its policy.
    (repository,) = client.describe_repositories(repositoryNames=[CACHED])["repositories"]
    assert repository["imageTagMutability"] == "MUTABLE"
    assert client.get_repository_policy(repositoryName=CACHED)["policyText"] == OMICS_POLICY
    assert _images(client, CACHED) == {image.digest: ["24.04"]}
    for digest, data in image.blobs.items():
        assert _download(client, CACHED, digest) == data
    checked = client.batch_check_layer_availability(repositoryName=CACHED, layerDigests=list(image.blobs))
    assert {layer["layerAvailability"] for layer in checked["layers"]} == {"AVAILABLE"}
    # CloudTrail: the repository ECR created for the puller; the import itself is no PutImage.
    (created,) = _events(aws, "CreateRepository")
    assert created["userIdentity"]["invokedBy"] == "ecr.amazonaws.com"
    assert created["requestParameters"] == {"repositoryName": CACHED}
    assert _events(aws, "PutImage") == []

    # Cached now: the next pull makes no import.
    again = _pull(client, CACHED, {"imageTag": "24.04"}, {"imageDigest": image.digest})
    assert [found["imageManifest"].encode() for found in again["images"]] == [image.manifest] * 2
    assert len(source.calls) == 1
    assert len(_events(aws, "CreateRepository")) == 1


def test_prime_by_digest(client: Any, sources: Setter) -> None:
    image = _image("amd64", DOCKER_MANIFEST_V2)
    sources(ECR_PUBLIC, memory_source({("docker/library/ubuntu", "24.04"): image}))
    (got,) = _pull(client, CACHED, {"imageDigest": image.digest})["images"]
    assert got["imageManifest"].encode() == image.manifest
    assert got["imageId"] == {"imageDigest": image.digest}
    assert _images(client, CACHED) == {image.digest: []}  # pulled by digest: untagged
    assert client.get_repository_policy(repositoryName=CACHED)["policyText"] == OMICS_POLICY


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_prime_an_index(client: Any, sources: Setter, media_type: str) -> None:
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST_V2
    children = [_image("amd64", child_type), _image("arm64", child_type)]
    index = _index(children, media_type)
    sources(ECR_PUBLIC, memory_source({("docker/library/ubuntu", "24.04"): index}))

    # A child by digest brings that image only (ECR user guide, pull-through-cache.md).
    (got,) = _pull(client, CACHED, {"imageDigest": children[1].digest})["images"]
    assert got["imageManifest"].encode() == children[1].manifest
    assert _images(client, CACHED) == {children[1].digest: []}

    # The tag brings the index and every manifest it names.
    (got,) = _pull(client, CACHED, {"imageTag": "24.04"})["images"]
    assert got["imageManifest"].encode() == index.manifest
    assert got["imageManifestMediaType"] == media_type
    assert _images(client, CACHED) == {children[0].digest: [], children[1].digest: [], index.digest: ["24.04"]}
    for child in children:
        (found,) = _pull(client, CACHED, {"imageDigest": child.digest})["images"]
        assert found["imageManifest"].encode() == child.manifest
        assert found["imageManifestMediaType"] == child_type
        assert _download(client, CACHED, _config(child)) == child.blobs[_config(child)]


def test_upstream_repository_names(aws: boto3.Session, sources: Setter) -> None:
    ecr_client = attach(aws.client("ecr"))
    secret = aws.client("secretsmanager").create_secret(
        Name="ecr-pullthroughcache/docker-hub", SecretString=json.dumps({"username": "u", "accessToken": "t"})
    )["ARN"]
    ecr_client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret
    )
    upstream_ecr = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
    ecr_client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="my-app", upstreamRegistryUrl=upstream_ecr, upstreamRepositoryPrefix="upstream-app"
    )
    image = _image("amd64")
    docker_hub, private = Counting(memory_source({})), Counting(memory_source({("upstream-app/image1", "v1"): image}))
    sources("registry-1.docker.io", docker_hub)
    sources(upstream_ecr, private)

    # Docker Hub's official images are pulled with library/ written out; nothing is added.
    for name in ("docker-hub/library/ubuntu", "docker-hub/biocontainers/samtools"):
        assert _pull(ecr_client, name, {"imageTag": "1"})["failures"][0]["failureCode"] == "ImageNotFound"
    assert docker_hub.calls == [("library/ubuntu", "1"), ("biocontainers/samtools", "1")]
    # An upstream prefix replaces the ECR prefix (pull-through-cache-private-wildcards.html).
    (got,) = _pull(ecr_client, "my-app/image1", {"imageTag": "v1"})["images"]
    assert got["imageManifest"].encode() == image.manifest
    assert private.calls == [("upstream-app/image1", "v1")]


# ------------------------------------------------------------------------------------------
# What does not import
# ------------------------------------------------------------------------------------------


def test_not_found_upstream(client: Any, sources: Setter) -> None:
    image = _image("amd64")
    sources(ECR_PUBLIC, memory_source({("docker/library/ubuntu", "24.04"): image}))
    answer = _pull(client, CACHED, {"imageTag": "nope"}, {"imageDigest": _digest(b"nope")})
    assert answer["images"] == []
    assert [(f["imageId"], f["failureCode"]) for f in answer["failures"]] == [
        ({"imageTag": "nope"}, "ImageNotFound"),
        ({"imageDigest": _digest(b"nope")}, "ImageNotFound"),
    ]
    # GUESS: nothing came from upstream, so no repository was created.
    with pytest.raises(ClientError) as exc_info:
        client.describe_repositories(repositoryNames=[CACHED])
    assert _code(exc_info) == "RepositoryNotFoundException"

    # Once the repository exists, a missing tag is the usual failure next to what was found.
    answer = _pull(client, CACHED, {"imageTag": "24.04"}, {"imageTag": "nope"})
    assert [found["imageId"] for found in answer["images"]] == [{"imageDigest": image.digest, "imageTag": "24.04"}]
    assert [(f["imageId"], f["failureCode"]) for f in answer["failures"]] == [({"imageTag": "nope"}, "ImageNotFound")]


def test_names_under_no_rule_or_without_a_source_are_unchanged(client: Any, sources: Setter) -> None:
    sources(ECR_PUBLIC, memory_source({("docker/library/ubuntu", "24.04"): _image("amd64")}))
    for name in ("team/app", "ecr-publicity/x"):
        with pytest.raises(ClientError) as exc_info:
            _pull(client, name, {"imageTag": "24.04"})
        assert _code(exc_info) == "RepositoryNotFoundException"
    # A rule whose upstream has no source imports nothing, as before sources existed.
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    with pytest.raises(ClientError) as exc_info:
        _pull(client, "quay/biocontainers/samtools", {"imageTag": "1.17"})
    assert _code(exc_info) == "RepositoryNotFoundException"


def test_a_source_that_fails(client: Any, sources: Setter) -> None:
    def failing(repository: str, reference: str) -> UpstreamImage | None:
        if reference == "throttled":
            raise UpstreamError("toomanyrequests: rate limit", "UpstreamTooManyRequests")
        raise ConnectionError("connection reset by peer")

    sources(ECR_PUBLIC, failing)
    answer = _pull(client, CACHED, {"imageTag": "24.04"}, {"imageTag": "throttled"})
    assert answer["images"] == []
    failures = [(f["imageId"], f["failureCode"]) for f in answer["failures"]]
    assert failures == [
        ({"imageTag": "24.04"}, "UpstreamUnavailable"),
        ({"imageTag": "throttled"}, "UpstreamTooManyRequests"),
    ]
    assert "connection reset by peer" in answer["failures"][0]["failureReason"]
    with pytest.raises(ClientError):
        client.describe_repositories(repositoryNames=[CACHED])
    with pytest.raises(ValueError, match="failure_code"):
        UpstreamError("x", "ImageNotFound")


def test_upstream_content_that_does_not_add_up(client: Any, sources: Setter) -> None:
    good = _image("amd64")
    corrupt = UpstreamImage(good.manifest, good.media_type, dict.fromkeys(good.blobs, b"tampered"))
    incomplete = UpstreamImage(good.manifest, good.media_type, {})
    other = _image("arm64")
    sources(
        ECR_PUBLIC,
        lambda repository, reference: {"corrupt": corrupt, "incomplete": incomplete}.get(reference, other),
    )
    answer = _pull(client, CACHED, {"imageTag": "corrupt"}, {"imageTag": "incomplete"}, {"imageDigest": good.digest})
    assert [f["failureCode"] for f in answer["failures"]] == ["UpstreamUnavailable"] * 3
    reasons = [f["failureReason"] for f in answer["failures"]]
    assert "does not match its content" in reasons[0]
    assert "references blobs it does not come with" in reasons[1]
    assert f"asked for {good.digest}" in reasons[2]


def test_a_rule_whose_credential_fails(aws: boto3.Session, sources: Setter) -> None:
    ecr_client = attach(aws.client("ecr"))
    secret = aws.client("secretsmanager").create_secret(
        Name="ecr-pullthroughcache/docker-hub", SecretString="not json"
    )["ARN"]
    ecr_client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=secret
    )
    source = Counting(memory_source({("library/ubuntu", "24.04"): _image("amd64")}))
    sources("registry-1.docker.io", source)
    with pytest.raises(ClientError) as exc_info:
        _pull(ecr_client, "docker-hub/library/ubuntu", {"imageTag": "24.04"})
    assert _code(exc_info) == "UnableToGetUpstreamImageException"
    assert source.calls == []


# ------------------------------------------------------------------------------------------
# Over HTTP: the server honours the sources set in its process
# ------------------------------------------------------------------------------------------


def test_prime_through_the_server(sources: Setter) -> None:
    image = _index([_image("amd64"), _image("arm64")])
    sources(ECR_PUBLIC, memory_source({("docker/library/ubuntu", "24.04"): image}))
    with start_server() as server:
        requests.post(f"{server.url}/moto-api/reset", timeout=10).raise_for_status()
        ecr_client = attach(server.client("ecr", REGION))
        ecr_client.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl=ECR_PUBLIC)
        ecr_client.create_repository_creation_template(
            prefix="ecr-public", appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=OMICS_POLICY
        )
        (got,) = _pull(ecr_client, CACHED, {"imageTag": "24.04"})["images"]
        assert got["imageManifest"].encode() == image.manifest
        assert ecr_client.get_repository_policy(repositoryName=CACHED)["policyText"] == OMICS_POLICY
        child = image.children[0]
        assert _download(ecr_client, CACHED, _config(child)) == child.blobs[_config(child)]
