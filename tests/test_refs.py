"""Reference normaliser: anchor cases (docs/healthomics-pitfalls.md §2), grammar edges, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from auditor.refs import (
    DOCKER_HUB,
    EcrHost,
    ImageReference,
    InvalidReference,
    canonical_registry,
    docker_hub_host,
    ecr_host,
    ecr_uri,
    parse_ecr_host,
    parse_reference,
    partition_for_region,
    try_parse_reference,
)

D64 = "sha256:" + "0123456789abcdef" * 4
ACCT = "123456789012"
ECR = f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com"

# (input, normalized) — every row from docs/healthomics-pitfalls.md §2 plus grammar edges.
VALID = [
    # Docker Hub familiar names and every alias (MCP, ECRH bugs)
    ("ubuntu", "docker.io/library/ubuntu:latest"),
    ("ubuntu:20.04", "docker.io/library/ubuntu:20.04"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("docker.io/library/ubuntu:20.04", "docker.io/library/ubuntu:20.04"),
    ("index.docker.io/library/ubuntu", "docker.io/library/ubuntu:latest"),
    ("index.docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("registry-1.docker.io/biocontainers/x", "docker.io/biocontainers/x:latest"),
    ("registry-1.docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("biocontainers/fastqc:0.11.9--0", "docker.io/biocontainers/fastqc:0.11.9--0"),
    # tag + digest: both kept (MCP left the tag inside the repository)
    (f"ubuntu:22.04@{D64}", f"docker.io/library/ubuntu:22.04@{D64}"),
    (f"ubuntu@{D64}", f"docker.io/library/ubuntu@{D64}"),
    # localhost and ports (MCP, ECRH bugs)
    ("localhost/foo", "localhost/foo:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("localhost:5000/x:1", "localhost:5000/x:1"),
    (f"host:5000/a/b:tag@{D64}", f"host:5000/a/b:tag@{D64}"),
    ("localhost:5000", "docker.io/library/localhost:5000"),  # no '/': familiar name + tag (normalize.go)
    ("[::1]:5000/x", "[::1]:5000/x:latest"),
    ("127.0.0.1/x", "127.0.0.1/x:latest"),
    # other registries
    ("quay.io/biocontainers/samtools:1.17--h00cdaf9_0", "quay.io/biocontainers/samtools:1.17--h00cdaf9_0"),
    ("quay.io/biocontainers/samtools:1.17--h50ea8bc_0", "quay.io/biocontainers/samtools:1.17--h50ea8bc_0"),
    ("community.wave.seqera.io/library/x:abc", "community.wave.seqera.io/library/x:abc"),
    ("us-central1-docker.pkg.dev/p/r/img:1", "us-central1-docker.pkg.dev/p/r/img:1"),
    ("gcr.io/google-containers/pause:3.1", "gcr.io/google-containers/pause:3.1"),
    (
        "public.ecr.aws/aws-genomics/broadinstitute/gatk:4.6.0.2",
        "public.ecr.aws/aws-genomics/broadinstitute/gatk:4.6.0.2",
    ),
    (f"{ECR}/docker-hub/library/ubuntu", f"{ECR}/docker-hub/library/ubuntu:latest"),
    # normalize.go: an uppercase first component is a host
    ("Foo/bar", "Foo/bar:latest"),
    ("Docker.io/ubuntu", "Docker.io/ubuntu:latest"),
    # separators
    ("a__b/c.d/e---f:T_1.x-y", "docker.io/a__b/c.d/e---f:T_1.x-y"),
    ("docker:ubuntu", "docker.io/library/docker:ubuntu"),  # Shifter prefix is a valid name:tag
]


@pytest.mark.parametrize(("raw", "normalized"), VALID)
def test_valid_references_normalize(raw: str, normalized: str) -> None:
    ref = parse_reference(raw)
    assert ref.normalized == normalized
    assert ref.raw == raw
    assert str(ref) == normalized


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("ubuntu", ("docker.io", "library/ubuntu", "latest", None, None)),
        ("docker.io/ubuntu", ("docker.io", "library/ubuntu", "latest", None, "docker.io")),
        ("index.docker.io/library/ubuntu", ("docker.io", "library/ubuntu", "latest", None, "index.docker.io")),
        (f"ubuntu:22.04@{D64}", ("docker.io", "library/ubuntu", "22.04", D64, None)),
        (f"ubuntu@{D64}", ("docker.io", "library/ubuntu", None, D64, None)),
        (f"host:5000/a/b:tag@{D64}", ("host:5000", "a/b", "tag", D64, "host:5000")),
        ("localhost/foo", ("localhost", "foo", "latest", None, "localhost")),
    ],
)
def test_fields(raw: str, fields: tuple[str, str, str | None, str | None, str | None]) -> None:
    """(registry, repository, tag, digest, written_registry) for each input."""
    ref = parse_reference(raw)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.written_registry) == fields


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("Ubuntu", "'Ubuntu' must be lowercase"),
        ("quay.io/Biocontainers/x", "must be lowercase"),
        ("ubuntu@sha256:abcd", "64 hex digits, got 4"),  # ECRH: "ubuntu@sha256:abcd"
        ("ubuntu@sha256:" + "A" * 64, "lowercase"),
        ("ubuntu@md5:" + "a" * 32, "not supported"),
        ("ubuntu@sha256:" + "g" * 64, "non-hexadecimal"),
        ("ubuntu@sha256", "<algorithm>:<hex>"),
        ("ubuntu@", "digest after '@' is empty"),
        (f"a@{D64}@x", "more than one '@'"),
        ("ubuntu:", "tag after ':' is empty"),
        ("ubuntu:" + "a" * 129, "limit is 128"),
        ("ubuntu:-bad", "tag '-bad' is invalid"),
        ("ubuntu:é", "is invalid"),
        ("", "empty"),
        (" ubuntu", "whitespace at position 0"),
        ("ubuntu ", "whitespace at position 6"),
        ("ubu\ttu", "whitespace"),
        ("/ubuntu", "starts with '/'"),
        ("ubuntu/", "ends with '/'"),
        ("quay.io/", "ends with '/'"),
        ("a//b", "empty path component"),
        ("docker://ubuntu:22.04", "use 'ubuntu:22.04'"),
        ("oras://ghcr.io/x/y:1", "'oras://'"),
        ("https://depot.galaxyproject.org/singularity/samtools:1.17", "'https://'"),
        ("shub://busybox", "'shub://'"),
        ("library://a/b/c:1", "'library://'"),
        ("a" * 64, "64-hex image ID"),
        (D64, "bare digest"),
        ("exa_mple.com/x", "not a valid host"),
        ("-a/b", "path component '-a'"),
        ("a/b_", "path component 'b_'"),
        ("a/b___c", "path component"),
        ("a/" + "b" * 254, "limit is 255"),
        ("ubuntu" + "x" * 244, "limit is 255"),  # 250 + "library/" > 255: limit applies after the prefix
        ("@" + D64, "repository name is empty"),
    ],
)
def test_invalid_references(raw: str, reason_part: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(raw)
    assert reason_part in info.value.reason
    assert isinstance(info.value, ValueError)
    assert info.value.raw == raw


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidReference, match="expected a string"):
        parse_reference(None)  # type: ignore[arg-type]


def test_try_parse_returns_error() -> None:
    assert isinstance(try_parse_reference("Ubuntu"), InvalidReference)
    assert isinstance(try_parse_reference("ubuntu"), ImageReference)


# --- anchor-specific regressions ---------------------------------------------


def test_ult_collision_is_avoided() -> None:
    """ULT maps both to repository 'samtools'; they must stay distinct."""
    a = parse_reference("quay.io/biocontainers/samtools")
    b = parse_reference("docker.io/foo/samtools")
    assert a.name != b.name


def test_equivalent_docker_hub_spellings() -> None:
    spellings = [
        "ubuntu",
        "ubuntu:latest",
        "docker.io/ubuntu",
        "docker.io/library/ubuntu:latest",
        "index.docker.io/library/ubuntu",
        "registry-1.docker.io/library/ubuntu:latest",
    ]
    assert {parse_reference(s).normalized for s in spellings} == {"docker.io/library/ubuntu:latest"}
    assert all(parse_reference(s).is_docker_hub for s in spellings)
    assert parse_reference("ubuntu").pull_host == "registry-1.docker.io"
    assert parse_reference("quay.io/a/b").pull_host == "quay.io"


# --- Nextflow docker.registry --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "default_registry", "normalized"),
    [
        ("ubuntu", "quay.io", "quay.io/ubuntu:latest"),  # no library/ on other registries
        ("biocontainers/samtools:1.17--h00cdaf9_0", "quay.io", "quay.io/biocontainers/samtools:1.17--h00cdaf9_0"),
        ("cbcrg/hello", "d.reg/", "d.reg/cbcrg/hello:latest"),  # Nextflow's own test table
        ("registry:5000/cbcrg/hello", "d.reg", "registry:5000/cbcrg/hello:latest"),
        # INSP bug: a host-qualified Wave image must not get the default registry prefixed
        (
            "community.wave.seqera.io/library/htslib_samtools:1.21--0",
            "quay.io",
            "community.wave.seqera.io/library/htslib_samtools:1.21--0",
        ),
        ("docker.io/ubuntu", "quay.io", "docker.io/library/ubuntu:latest"),
        ("ubuntu", "registry-1.docker.io", "docker.io/library/ubuntu:latest"),
        ("localhost/foo", "d.reg", "d.reg/localhost/foo:latest"),  # Nextflow ignores 'localhost'
        ("ubuntu", "", "docker.io/library/ubuntu:latest"),  # empty registry = unset (Nextflow)
        ("ubuntu", None, "docker.io/library/ubuntu:latest"),
    ],
)
def test_default_registry(raw: str, default_registry: str | None, normalized: str) -> None:
    ref = parse_reference(raw, default_registry=default_registry)
    assert ref.normalized == normalized
    assert ref.raw == raw


def test_default_registry_must_be_bare() -> None:
    with pytest.raises(InvalidReference, match="bare host"):
        parse_reference("ubuntu", default_registry="https://quay.io")


# --- ECR hosts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (ECR, EcrHost(account=ACCT, region="us-east-1", partition="aws", dns_suffix="amazonaws.com")),
        (
            f"{ACCT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            EcrHost(
                account=ACCT, region="us-gov-west-1", partition="aws-us-gov", dns_suffix="amazonaws.com", fips=True
            ),
        ),
        (
            f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com.cn",
            EcrHost(account=ACCT, region="cn-north-1", partition="aws-cn", dns_suffix="amazonaws.com.cn"),
        ),
        (
            f"{ACCT}.dkr-ecr.eu-west-1.on.aws",
            EcrHost(account=ACCT, region="eu-west-1", partition="aws", dns_suffix="on.aws", dual_stack=True),
        ),
        (
            f"{ACCT}.dkr-ecr-fips.us-east-2.on.aws",
            EcrHost(account=ACCT, region="us-east-2", partition="aws", dns_suffix="on.aws", dual_stack=True, fips=True),
        ),
        (
            f"{ACCT}.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            EcrHost(account=ACCT, region="us-iso-east-1", partition="aws-iso", dns_suffix="c2s.ic.gov"),
        ),
        (
            f"{ACCT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM",
            EcrHost(account=ACCT, region="us-east-1", partition="aws", dns_suffix="amazonaws.com"),
        ),
        (f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com", None),  # China region needs .com.cn
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com.cn", None),
        (f"{ACCT}.dkr-ecr.cn-north-1.on.aws", None),
        (f"{ACCT}.dkr.ecr.us-east-1.on.aws", None),  # on.aws goes with dkr-ecr only
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),  # 11 digits
        (f"{ACCT}.dkr.ecr.moon-base-1.amazonaws.com", None),
        (f"{ECR}:443", None),
        ("public.ecr.aws", None),
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com.evil.example", None),
    ],
)
def test_parse_ecr_host(host: str, expected: EcrHost | None) -> None:
    assert parse_ecr_host(host) == expected
    if expected is not None:
        assert expected.host == host.lower()


def test_reference_ecr_property() -> None:
    ref = parse_reference(f"{ECR}/docker-hub/library/ubuntu:22.04")
    assert ref.ecr is not None
    assert (ref.ecr.account, ref.ecr.region) == (ACCT, "us-east-1")
    assert not ref.is_docker_hub
    assert parse_reference("quay.io/a/b").ecr is None


@pytest.mark.parametrize(
    ("kwargs", "uri"),
    [
        ({"repository": "docker-hub/library/ubuntu", "tag": "22.04"}, f"{ECR}/docker-hub/library/ubuntu:22.04"),
        ({"repository": "a/b", "digest": D64}, f"{ECR}/a/b@{D64}"),
        ({"repository": "a/b", "tag": "1", "digest": D64}, f"{ECR}/a/b:1@{D64}"),
        ({"repository": "a/b"}, f"{ECR}/a/b"),
        ({"repository": "a/b", "fips": True}, f"{ACCT}.dkr.ecr-fips.us-east-1.amazonaws.com/a/b"),
        ({"repository": "a/b", "dual_stack": True}, f"{ACCT}.dkr-ecr.us-east-1.on.aws/a/b"),
        ({"repository": "a/b", "partition": "aws"}, f"{ECR}/a/b"),
    ],
)
def test_ecr_uri(kwargs: dict[str, object], uri: str) -> None:
    assert ecr_uri(ACCT, "us-east-1", **kwargs) == uri  # type: ignore[arg-type]
    assert parse_reference(uri).normalized.startswith(uri)


def test_ecr_uri_other_partitions() -> None:
    assert ecr_uri(ACCT, "cn-north-1", "a/b", tag="1") == f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com.cn/a/b:1"
    assert ecr_uri(ACCT, "cn-north-1", "a", partition="aws-cn").endswith(".amazonaws.com.cn/a")
    assert ecr_host(ACCT, "us-gov-east-1", fips=True) == f"{ACCT}.dkr.ecr-fips.us-gov-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("1234", "us-east-1", "a"), {}, "12 digits"),
        ((ACCT, "nowhere", "a"), {}, "not a region"),
        ((ACCT, "cn-north-1", "a"), {"partition": "aws"}, "partition 'aws-cn'"),
        ((ACCT, "cn-north-1", "a"), {"dual_stack": True}, "dual-stack"),
        ((ACCT, "us-east-1", "A"), {}, "lowercase"),
        ((ACCT, "us-east-1", "a"), {"tag": "bad tag"}, "invalid"),
        ((ACCT, "us-east-1", "a"), {"digest": "sha256:12"}, "64 hex"),
    ],
)
def test_ecr_uri_rejects(args: tuple[str, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ecr_uri(*args, **kwargs)  # type: ignore[arg-type]


def test_partition_for_region() -> None:
    assert partition_for_region("us-east-1") == "aws"
    assert partition_for_region("us-gov-west-1") == "aws-us-gov"
    assert partition_for_region("us-isob-east-1") == "aws-iso-b"
    assert partition_for_region("eu-isoe-west-1") == "aws-iso-e"
    assert partition_for_region("eusc-de-east-1") == "aws-eusc"
    assert partition_for_region("mars-1") is None


def test_registry_helpers() -> None:
    assert canonical_registry("index.docker.io") == DOCKER_HUB
    assert canonical_registry("quay.io") == "quay.io"
    assert docker_hub_host("docker.io") == "registry-1.docker.io"
    assert docker_hub_host("ghcr.io") == "ghcr.io"


# --- model validation ------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"registry": "index.docker.io", "repository": "library/ubuntu", "tag": "latest"},
        {"registry": "docker.io", "repository": "ubuntu", "tag": "latest"},
        {"registry": "quay.io", "repository": "A/b", "tag": "latest"},
        {"registry": "quay.io", "repository": "a/b"},
        {"registry": "quay.io", "repository": "a/b", "digest": "sha256:1"},
        {"registry": "bad_host", "repository": "a/b", "tag": "x"},
    ],
)
def test_model_rejects_non_canonical(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        ImageReference(raw="x", **fields)


def test_model_is_frozen_and_json_round_trips() -> None:
    ref = parse_reference(f"quay.io/biocontainers/samtools:1.17--h00cdaf9_0@{D64}")
    assert ImageReference.model_validate_json(ref.model_dump_json()) == ref
    with pytest.raises(ValidationError):
        ref.tag = "other"  # type: ignore[misc]


# --- properties ------------------------------------------------------------------

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def path_components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


_registries = st.sampled_from(
    [
        None,
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "quay.io",
        "localhost",
        "localhost:5000",
        "host:5000",
        "[::1]:5000",
        "community.wave.seqera.io",
        ECR,
        "myacr1.azurecr.io",
        "europe-west1-docker.pkg.dev",
    ]
)
_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digests = st.builds(
    lambda algo, data: f"{algo}:{data}",
    st.sampled_from(["sha256"]),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)


@st.composite
def references(draw: st.DrawFn) -> tuple[str, str | None, list[str], str | None, str | None]:
    registry = draw(_registries)
    components = draw(st.lists(path_components(), min_size=1, max_size=4))
    tag = draw(st.none() | _tags)
    digest = draw(st.none() | _digests)
    if registry is None and len(components) > 1:
        # A '.' in the first of several components makes it a host (normalize.go); keep it a path here.
        components[0] = components[0].replace(".", "-")
    text = "/".join(components)
    if registry is not None:
        text = f"{registry}/{text}"
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
    return text, registry, components, tag, digest


@settings(max_examples=150, deadline=None)
@given(references())
def test_round_trip_fields(case: tuple[str, str | None, list[str], str | None, str | None]) -> None:
    text, registry, components, tag, digest = case
    ref = parse_reference(text)
    path = "/".join(components)
    hub = registry is None or registry in ("docker.io", "index.docker.io", "registry-1.docker.io")
    assert ref.registry == ("docker.io" if hub else registry)
    expected_repo = f"library/{path}" if hub and len(components) == 1 else path
    assert ref.repository == expected_repo
    assert ref.digest == digest
    assert ref.tag == (tag if tag is not None else (None if digest else "latest"))


@settings(max_examples=150, deadline=None)
@given(references())
def test_normalize_is_idempotent(case: tuple[str, str | None, list[str], str | None, str | None]) -> None:
    ref = parse_reference(case[0])
    again = parse_reference(ref.normalized)
    assert again.normalized == ref.normalized
    assert again.model_copy(update={"raw": ref.raw, "written_registry": ref.written_registry}) == ref


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any string either parses to a stable normal form or raises InvalidReference — nothing else."""
    try:
        ref = parse_reference(text)
    except InvalidReference as err:
        assert err.reason
        return
    assert parse_reference(ref.normalized).normalized == ref.normalized


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcABC019./:@-_", max_size=30), st.sampled_from([None, "quay.io", "d.reg:5000"]))
def test_grammar_soup_with_default_registry(text: str, default_registry: str | None) -> None:
    try:
        ref = parse_reference(text, default_registry=default_registry)
    except InvalidReference:
        return
    assert parse_reference(ref.normalized).normalized == ref.normalized


def test_reference_error_pickles() -> None:
    """Errors cross process boundaries (parallel scans) intact."""
    import pickle

    with pytest.raises(InvalidReference) as info:
        parse_reference("Ubuntu")
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.raw, clone.reason, str(clone)) == (info.value.raw, info.value.reason, str(info.value))
