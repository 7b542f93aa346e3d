"""Manifest/platform extraction for the "no ARM-only image" rule (docs/aws-semantics.md §4)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.manifests import (
    ACCEPTED_MEDIA_TYPES,
    MEDIA_DOCKER_CONFIG,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_V1,
    MEDIA_DOCKER_V1_SIGNED,
    MEDIA_DOCKER_V2,
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    ManifestError,
    ManifestInfo,
    has_linux_amd64,
    is_arm_only,
    manifest_digest,
    parse_manifest,
    platform_from_config,
)

D1 = "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"
D2 = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
D3 = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
D4 = "sha256:" + "4" * 64
D5 = "sha256:" + "5" * 64

# --- realistic shapes (docs/aws-semantics.md §4.3, from the Docker and OCI specs) ---

DOCKER_LIST = {
    "schemaVersion": 2,
    "mediaType": MEDIA_DOCKER_LIST,
    "manifests": [
        {
            "mediaType": MEDIA_DOCKER_V2,
            "digest": D1,
            "size": 7143,
            "platform": {"architecture": "ppc64le", "os": "linux"},
        },
        {
            "mediaType": MEDIA_DOCKER_V2,
            "digest": D2,
            "size": 7682,
            "platform": {"architecture": "amd64", "os": "linux", "features": ["sse4"]},
        },
    ],
}

OCI_INDEX = {  # no top-level mediaType: optional in OCI
    "schemaVersion": 2,
    "manifests": [
        {
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": D1,
            "size": 7143,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": D2,
            "size": 7682,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {  # BuildKit provenance attestation
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": D3,
            "size": 837,
            "annotations": {
                "vnd.docker.reference.digest": D2,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
    "annotations": {"com.example.key1": "value1"},
}

DOCKER_V2 = {
    "schemaVersion": 2,
    "mediaType": MEDIA_DOCKER_V2,
    "config": {"mediaType": MEDIA_DOCKER_CONFIG, "digest": D3, "size": 7023},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": D1, "size": 32654}],
}

OCI_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": MEDIA_OCI_MANIFEST,
    "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": D3, "size": 7023},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D1, "size": 32654}],
}

SCHEMA1_SIGNED = {
    "name": "hello-world",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": D1}],
    "history": [{"v1Compatibility": json.dumps({"id": "abc", "os": "linux", "architecture": "amd64"})}],
    "schemaVersion": 1,
    "signatures": [{"header": {"jwk": {}, "alg": "ES256"}, "signature": "x", "protected": "y"}],
}

SCHEMA1_UNSIGNED_ARM = {
    "name": "x",
    "tag": "1",
    "architecture": "arm",
    "fsLayers": [{"blobSum": D1}],
    "history": [{"v1Compatibility": "not json"}],
    "schemaVersion": 1,
}

CONFIG_BLOB = {
    "created": "2015-10-31T22:22:56.015925234Z",
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/usr/bin"], "Entrypoint": ["/bin/my-app-binary"]},
    "rootfs": {"type": "layers", "diff_ids": [D1]},
    "history": [],
}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=3)


def test_accepted_media_types_lists_first() -> None:
    assert ACCEPTED_MEDIA_TYPES[:2] == (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
    assert set(ACCEPTED_MEDIA_TYPES) == {
        MEDIA_OCI_INDEX,
        MEDIA_DOCKER_LIST,
        MEDIA_OCI_MANIFEST,
        MEDIA_DOCKER_V2,
        MEDIA_DOCKER_V1,
    }
    assert len(ACCEPTED_MEDIA_TYPES) <= 100  # BatchGetImage acceptedMediaTypes max (§4.1)


@pytest.mark.parametrize(
    ("doc", "ecr_media_type", "expected"),
    [
        (
            DOCKER_LIST,
            MEDIA_DOCKER_LIST,
            ManifestInfo(
                kind="index",
                media_type=MEDIA_DOCKER_LIST,
                platforms=["linux/ppc64le", "linux/amd64"],
                linux_amd64_child=D2,
            ),
        ),
        (
            OCI_INDEX,
            MEDIA_OCI_INDEX,
            ManifestInfo(
                kind="index",
                media_type=MEDIA_OCI_INDEX,
                platforms=["linux/arm64/v8", "linux/amd64"],
                linux_amd64_child=D2,
            ),
        ),
        (
            DOCKER_V2,
            MEDIA_DOCKER_V2,
            ManifestInfo(
                kind="manifest",
                media_type=MEDIA_DOCKER_V2,
                config_digest=D3,
                config_media_type=MEDIA_DOCKER_CONFIG,
                layers_size=32654,
            ),
        ),
        (
            OCI_MANIFEST,
            MEDIA_OCI_MANIFEST,
            ManifestInfo(
                kind="manifest",
                media_type=MEDIA_OCI_MANIFEST,
                config_digest=D3,
                config_media_type=MEDIA_OCI_CONFIG,
                layers_size=32654,
            ),
        ),
        (
            SCHEMA1_SIGNED,
            MEDIA_DOCKER_V1_SIGNED,
            ManifestInfo(
                kind="schema1", media_type=MEDIA_DOCKER_V1_SIGNED, platforms=["linux/amd64"], architecture="amd64"
            ),
        ),
        (
            SCHEMA1_UNSIGNED_ARM,
            MEDIA_DOCKER_V1,
            ManifestInfo(kind="schema1", media_type=MEDIA_DOCKER_V1, platforms=["linux/arm"], architecture="arm"),
        ),
    ],
)
def test_parse_five_media_types(doc: dict[str, Any], ecr_media_type: str, expected: ManifestInfo) -> None:
    assert parse_manifest(dumps(doc), ecr_media_type) == expected
    # Without ECR's imageManifestMediaType: JSON mediaType, then structure, give the same answer.
    assert parse_manifest(dumps(doc), None) == expected


def test_ecr_media_type_wins_over_json() -> None:
    doc = {**OCI_INDEX, "mediaType": "application/vnd.example+json"}
    assert parse_manifest(dumps(doc), MEDIA_OCI_INDEX).kind == "index"


def test_media_type_parameters_and_case_ignored() -> None:
    info = parse_manifest(dumps(DOCKER_V2), "Application/VND.docker.distribution.manifest.v2+json; charset=utf-8")
    assert info.media_type == MEDIA_DOCKER_V2
    assert info.kind == "manifest"


def test_sniffing_without_any_declared_type() -> None:
    docker = {k: v for k, v in DOCKER_V2.items() if k != "mediaType"}
    oci = {k: v for k, v in OCI_MANIFEST.items() if k != "mediaType"}
    unsigned = {k: v for k, v in SCHEMA1_SIGNED.items() if k != "signatures"}
    assert parse_manifest(dumps(docker), None).media_type == MEDIA_DOCKER_V2
    assert parse_manifest(dumps(oci), None).media_type == MEDIA_OCI_MANIFEST
    assert parse_manifest(dumps(unsigned), None).media_type == MEDIA_DOCKER_V1
    assert parse_manifest(dumps(OCI_INDEX), None).media_type == MEDIA_OCI_INDEX


def test_nested_index_and_platformless_entries_need_fetching() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_OCI_INDEX,
                "digest": D1,
                "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {"mediaType": MEDIA_DOCKER_LIST, "digest": D2, "size": 1},
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": D3, "size": 1},  # no platform
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": D4, "size": 1, "platform": {"os": "linux"}},  # incomplete
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": D3, "size": 1},  # duplicate digest
        ],
    }
    info = parse_manifest(dumps(doc), MEDIA_OCI_INDEX)
    assert info.platforms == []
    assert info.children_without_platform == [D1, D2, D3, D4]
    assert is_arm_only(info.platforms) is None


def test_attestations_and_unknown_entries_ignored() -> None:
    doc = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": D1,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            # attestation marked only by platform unknown/unknown
            {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": D2,
                "size": 1,
                "platform": {"os": "unknown", "architecture": "unknown"},
            },
            # attestation marked only by annotation, no platform (must not be fetched)
            {
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": D3,
                "size": 1,
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
            # unknown media types (signature, artifact) MUST be ignored
            {"mediaType": "application/vnd.example.signature+json", "digest": D4, "size": 1},
            {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": D5, "size": 1},
        ],
    }
    info = parse_manifest(dumps(doc), MEDIA_OCI_INDEX)
    assert info.platforms == ["linux/arm64"]
    assert info.children_without_platform == []
    assert is_arm_only(info.platforms) is True


def test_entry_without_media_type_is_read_as_image() -> None:
    doc = {
        "schemaVersion": 2,
        "manifests": [{"digest": D1, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}],
    }
    assert parse_manifest(dumps(doc), MEDIA_OCI_INDEX).platforms == ["linux/amd64"]


def test_unknown_manifest_type_is_not_an_error() -> None:
    artifact = {"schemaVersion": 2, "mediaType": "application/vnd.oci.artifact.manifest.v1+json", "blobs": []}
    info = parse_manifest(dumps(artifact), None)
    assert info.kind == "unknown"
    assert info.media_type == "application/vnd.oci.artifact.manifest.v1+json"
    assert parse_manifest("{}", None) == ManifestInfo(kind="unknown")


def test_oci_artifact_manifest_exposes_config_type() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": "application/vnd.example+type",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": D1, "size": 2},
        "layers": [],
    }
    info = parse_manifest(dumps(doc), MEDIA_OCI_MANIFEST)
    assert info.config_media_type == "application/vnd.oci.empty.v1+json"


@pytest.mark.parametrize(
    ("text", "media_type", "reason"),
    [
        ("", None, "not valid JSON"),
        ("{not json", MEDIA_DOCKER_V2, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object, got list"),
        ('"string"', None, "got str"),
        (b"\xff\xfe", None, "not valid JSON"),
        ('{"schemaVersion": 2, "layers": []}', MEDIA_DOCKER_V2, "no config descriptor"),
        ('{"schemaVersion": 2, "config": {"size": 1}}', MEDIA_OCI_MANIFEST, "no config descriptor"),
        ('{"schemaVersion": 2}', MEDIA_DOCKER_LIST, "no 'manifests' array"),
        ('{"manifests": {"a": 1}}', MEDIA_OCI_INDEX, "no 'manifests' array"),
        ('{"manifests": ["x"]}', MEDIA_OCI_INDEX, "manifests[0] must be an object"),
        ('{"manifests": [{"mediaType": "x"}]}', MEDIA_OCI_INDEX, "manifests[0] has no digest"),
    ],
)
def test_malformed(text: str | bytes, media_type: str | None, reason: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, media_type)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


# --- config blobs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "platform"),
    [
        (CONFIG_BLOB, "linux/amd64"),
        ({**CONFIG_BLOB, "architecture": "arm64", "variant": "v8"}, "linux/arm64/v8"),
        ({**CONFIG_BLOB, "architecture": "arm", "variant": "v7"}, "linux/arm/v7"),
        ({**CONFIG_BLOB, "variant": ""}, "linux/amd64"),
        ({"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}, "windows/amd64"),
    ],
)
def test_platform_from_config(blob: dict[str, Any], platform: str) -> None:
    assert platform_from_config(json.dumps(blob).encode()) == platform
    assert platform_from_config(json.dumps(blob)) == platform


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"nope",
        b"[]",
        b'{"os": "linux"}',
        b'{"architecture": "amd64"}',
        b'{"os": "", "architecture": "amd64"}',
        b'{"os": 1, "architecture": "amd64"}',
    ],
)
def test_platform_from_config_malformed(blob: bytes) -> None:
    with pytest.raises(ManifestError):
        platform_from_config(blob)


# --- the ARM rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("platforms", "arm_only", "linux_amd64"),
    [
        ([], None, None),
        (["linux/amd64"], False, True),
        (["linux/arm64"], True, False),
        (["linux/arm64/v8"], True, False),
        (["linux/arm/v7", "linux/arm64"], True, False),
        (["linux/arm64", "linux/amd64"], False, True),
        (["linux/amd64/v2"], False, True),  # GUESS: microarchitecture levels count as amd64
        (["linux/amd64/v3"], False, True),
        (["linux/ppc64le", "linux/s390x"], True, False),  # not runnable on x86_64 either
        (["linux/x86_64"], False, True),  # non-Go spelling
        (["windows/amd64"], False, False),  # amd64, but not linux
        (["linux/AMD64"], False, True),
        (["garbage"], None, None),
    ],
)
def test_arm_only(platforms: list[str], arm_only: bool | None, linux_amd64: bool | None) -> None:
    assert is_arm_only(platforms) is arm_only
    assert has_linux_amd64(platforms) is linux_amd64


def test_end_to_end_shapes() -> None:
    assert is_arm_only(parse_manifest(dumps(DOCKER_LIST), None).platforms) is False
    assert is_arm_only(parse_manifest(dumps(OCI_INDEX), None).platforms) is False
    assert is_arm_only(parse_manifest(dumps(SCHEMA1_UNSIGNED_ARM), None).platforms) is True
    single = parse_manifest(dumps(DOCKER_V2), None)
    assert single.platforms == []
    assert is_arm_only([platform_from_config(json.dumps({**CONFIG_BLOB, "architecture": "arm64"}))]) is True


# --- digests ------------------------------------------------------------------------


def test_manifest_digest_uses_exact_bytes() -> None:
    compact = json.dumps(DOCKER_V2, separators=(",", ":"))
    pretty = dumps(DOCKER_V2)
    assert manifest_digest(compact) == "sha256:" + hashlib.sha256(compact.encode()).hexdigest()
    assert manifest_digest(compact) != manifest_digest(pretty)  # same JSON, different bytes
    assert manifest_digest(pretty.encode()) == manifest_digest(pretty)
    assert manifest_digest("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- properties -----------------------------------------------------------------------

_arch = st.sampled_from(["amd64", "arm64", "arm", "ppc64le", "s390x", "386", "riscv64"])
_variant = st.sampled_from([None, "v2", "v7", "v8"])
_digest = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)


@st.composite
def index_entries(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["image", "image-no-platform", "nested", "attestation", "unknown"]))
    entry: dict[str, Any] = {"digest": draw(_digest), "size": draw(st.integers(1, 10_000))}
    if kind == "nested":
        entry["mediaType"] = draw(st.sampled_from([MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST]))
    elif kind == "unknown":
        entry["mediaType"] = "application/vnd.example+json"
    else:
        entry["mediaType"] = draw(st.sampled_from([MEDIA_OCI_MANIFEST, MEDIA_DOCKER_V2]))
    if kind == "image":
        platform = {"os": "linux", "architecture": draw(_arch)}
        variant = draw(_variant)
        if variant:
            platform["variant"] = variant
        entry["platform"] = platform
    elif kind == "attestation":
        entry["platform"] = {"os": "unknown", "architecture": "unknown"}
    entry["_kind"] = kind
    return entry


@settings(max_examples=150, deadline=None)
@given(st.lists(index_entries(), max_size=8), st.sampled_from([MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, None]))
def test_index_partition_property(entries: list[dict[str, Any]], media_type: str | None) -> None:
    """Every image entry lands in exactly one bucket; attestations/unknown types land in none."""
    kinds = [entry.pop("_kind") for entry in entries]
    info = parse_manifest(json.dumps({"schemaVersion": 2, "manifests": entries}), media_type)
    expected_platforms: list[str] = []
    expected_children: list[str] = []
    for entry, kind in zip(entries, kinds, strict=True):
        if kind == "image":
            p = entry["platform"]
            text = "/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x)
            if text not in expected_platforms:
                expected_platforms.append(text)
        elif kind in ("image-no-platform", "nested") and entry["digest"] not in expected_children:
            expected_children.append(entry["digest"])
    assert info.platforms == expected_platforms
    assert info.children_without_platform == expected_children
    has_amd64 = any(p.split("/")[1] == "amd64" for p in expected_platforms)
    assert is_arm_only(info.platforms) == (None if not expected_platforms else not has_amd64)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60)), st.sampled_from([None, *ACCEPTED_MEDIA_TYPES]))
def test_arbitrary_input_only_raises_manifest_error(text: str | bytes, media_type: str | None) -> None:
    try:
        parse_manifest(text, media_type)
    except ManifestError as err:
        assert err.reason
    try:
        platform_from_config(text)
    except ManifestError as err:
        assert err.reason


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=10,
    ),
    st.sampled_from([None, *ACCEPTED_MEDIA_TYPES]),
)
def test_arbitrary_json_only_raises_manifest_error(doc: object, media_type: str | None) -> None:
    """Structurally wrong JSON (wrong types anywhere) must not escape as TypeError/KeyError."""
    for candidate in (doc, {"schemaVersion": 2, "manifests": doc}, {"schemaVersion": 2, "config": doc}):
        with contextlib.suppress(ManifestError):
            parse_manifest(json.dumps(candidate), media_type)


@pytest.mark.parametrize(
    ("layers", "size"),
    [
        ([{"digest": D1, "size": 10}, {"digest": D2, "size": 5}], 15),
        ([], 0),
        ([{"digest": D1}], None),  # a descriptor without a size: unknown, never 0
        ([{"digest": D1, "size": -1}], None),
        ([{"digest": D1, "size": True}], None),
        ("not a list", None),
    ],
)
def test_layers_size_sums_descriptors(layers: Any, size: int | None) -> None:
    doc = {**DOCKER_V2, "layers": layers}
    assert parse_manifest(dumps(doc), MEDIA_DOCKER_V2).layers_size == size


def test_an_index_names_the_image_a_linux_amd64_host_pulls() -> None:
    """The first plain linux/amd64 entry, else the first amd64 variant; never an attestation or another OS."""

    def index(*platforms: dict[str, str]) -> str:
        entries = [
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": f"sha256:{i:064d}", "size": 1, "platform": p}
            for i, p in enumerate(platforms)
        ]
        return json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": entries})

    arm = {"os": "linux", "architecture": "arm64"}
    v3 = {"os": "linux", "architecture": "amd64", "variant": "v3"}
    plain = {"os": "linux", "architecture": "amd64"}
    windows = {"os": "windows", "architecture": "amd64"}
    unknown = {"os": "unknown", "architecture": "unknown"}
    assert parse_manifest(index(arm, v3, plain, plain), None).linux_amd64_child == f"sha256:{2:064d}"
    assert parse_manifest(index(arm, v3), None).linux_amd64_child == f"sha256:{1:064d}"
    assert parse_manifest(index(windows, arm, unknown), None).linux_amd64_child is None
