"""Upstream registry table and ECR prefix semantics (docs/aws-semantics.md §1.3, §1.5, §7.2)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.refs import parse_reference
from auditor.upstreams import (
    ROOT,
    UPSTREAMS,
    UnknownUpstreamError,
    cache_repository,
    get_upstream,
    healthomics_ptc_capable,
    is_canonical_ptc_url,
    longest_prefix,
    prefix_matches,
    ptc_capable,
    ptc_prefix_problem,
    requires_credentials,
    upstream_for_ecr_enum,
    upstream_for_ptc_url,
    upstream_for_registry,
)

ACCT = "123456789012"


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("docker.io", "docker-hub"),
        ("index.docker.io", "docker-hub"),
        ("registry-1.docker.io", "docker-hub"),
        ("public.ecr.aws", "ecr-public"),
        ("quay.io", "quay"),
        ("Quay.IO", "quay"),  # DNS is case-insensitive
        ("registry.k8s.io", "k8s"),
        ("ghcr.io", "ghcr"),
        ("registry.gitlab.com", "gitlab"),
        ("myregistry.azurecr.io", "azure"),
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com", "ecr"),
        (f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr"),
        ("cgr.dev", "chainguard"),
        ("community.wave.seqera.io", "seqera-community"),
        ("wave.seqera.io", "seqera-wave"),
        ("nvcr.io", "nvcr"),
        ("gcr.io", "gcr"),
        ("europe-west1-docker.pkg.dev", "artifact-registry"),
        ("us-docker.pkg.dev", "artifact-registry"),
        ("us.gcr.io", None),  # not in the HealthOmics list
        ("gitlab.example.com", None),  # self-managed GitLab is not supported
        ("k8s.gcr.io", None),
        ("mcr.microsoft.com", None),
        ("localhost:5000", None),
        ("evil.azurecr.io.example.com", None),
        ("pkg.dev", None),  # the ECRH key that never matched a real host
    ],
)
def test_upstream_for_registry(host: str, key: str | None) -> None:
    upstream = upstream_for_registry(host)
    assert (upstream.key if upstream else None) == key


def test_reference_registry_to_upstream() -> None:
    """Every Docker Hub spelling of a reference reaches the docker-hub row."""
    for raw in ["ubuntu", "docker.io/ubuntu", "index.docker.io/library/ubuntu", "registry-1.docker.io/biocontainers/x"]:
        upstream = upstream_for_registry(parse_reference(raw).registry)
        assert upstream is not None
        assert upstream.key == "docker-hub"


@pytest.mark.parametrize(
    ("url", "key", "canonical"),
    [
        ("registry-1.docker.io", "docker-hub", True),
        ("docker.io", "docker-hub", False),  # §1.3: NOT docker.io
        ("index.docker.io", "docker-hub", False),
        ("https://registry-1.docker.io", "docker-hub", False),
        ("quay.io", "quay", True),
        ("quay.io/", "quay", False),
        ("Quay.io", "quay", False),
        ("https://quay.io/biocontainers", "quay", False),
        ("public.ecr.aws", "ecr-public", True),
        ("ecr-public.aws.com", "ecr-public", False),
        ("ghcr.io", "ghcr", True),
        ("registry.gitlab.com", "gitlab", True),
        ("registry.k8s.io", "k8s", True),
        ("myregistry.azurecr.io", "azure", True),
        ("MyRegistry.azurecr.io", "azure", False),
        (f"{ACCT}.dkr.ecr.us-west-2.amazonaws.com", "ecr", True),
        (f"{ACCT}.dkr.ecr-fips.us-west-2.amazonaws.com", "ecr", False),
        (f"{ACCT}.dkr-ecr.us-west-2.on.aws", "ecr", False),
        ("cgr.dev", "chainguard", True),
        ("nvcr.io", "nvcr", True),
        ("community.wave.seqera.io", "seqera-community", True),
        ("us-central1-docker.pkg.dev", "artifact-registry", True),
        ("example.com", None, False),
        ("", None, False),
        ("https://", None, False),
    ],
)
def test_upstream_for_ptc_url(url: str, key: str | None, canonical: bool) -> None:
    upstream = upstream_for_ptc_url(url)
    assert (upstream.key if upstream else None) == key
    assert is_canonical_ptc_url(url) is canonical


@pytest.mark.parametrize(
    ("host", "ptc", "healthomics"),
    [
        ("docker.io", True, True),
        ("quay.io", True, True),
        ("myacr1.azurecr.io", True, True),
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com", True, False),  # §1.3: no HealthOmics PTC from ECR private
        ("cgr.dev", True, False),
        ("community.wave.seqera.io", False, False),
        ("nvcr.io", False, False),
        ("example.com", False, False),
    ],
)
def test_capabilities(host: str, ptc: bool, healthomics: bool) -> None:
    assert ptc_capable(host) is ptc
    assert healthomics_ptc_capable(host) is healthomics


@pytest.mark.parametrize(
    ("url", "needed"),
    [
        ("registry-1.docker.io", True),
        ("docker.io", True),
        ("ghcr.io", True),
        ("registry.gitlab.com", True),
        ("x12345.azurecr.io", True),
        ("cgr.dev", True),
        ("public.ecr.aws", False),
        ("quay.io", False),
        ("registry.k8s.io", False),
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com", False),  # IAM role, not a secret
        ("nvcr.io", True),  # RegistryMapping credentialArn required for omics-copy registries
    ],
)
def test_requires_credentials(url: str, needed: bool) -> None:
    assert requires_credentials(url) is needed


def test_requires_credentials_unknown_raises() -> None:
    with pytest.raises(UnknownUpstreamError, match=r"example\.com"):
        requires_credentials("example.com")


# --- table integrity -------------------------------------------------------------


def _botocore_upstream_enum() -> set[str]:
    import botocore

    model = Path(botocore.__file__).parent / "data" / "ecr" / "2015-09-21" / "service-2.json.gz"
    with gzip.open(model) as handle:
        return set(json.load(handle)["shapes"]["UpstreamRegistry"]["enum"])


def test_table_covers_every_ecr_upstream_enum() -> None:
    """Each ECR UpstreamRegistry enum value has exactly one row (botocore model)."""
    enums = [u.upstream_registry for u in UPSTREAMS if u.upstream_registry]
    assert sorted(enums) == sorted(_botocore_upstream_enum())
    for value in enums:
        upstream = upstream_for_ecr_enum(value)
        assert upstream is not None
        assert upstream.upstream_registry == value


def test_table_invariants() -> None:
    keys = [u.key for u in UPSTREAMS]
    assert len(keys) == len(set(keys))
    seen_aliases: set[str] = set()
    for upstream in UPSTREAMS:
        assert get_upstream(upstream.key) is upstream
        assert ptc_prefix_problem(upstream.default_prefix) is None
        # A fixed URL must be one of the aliases, or the row could not recognise its own URL.
        for url in (upstream.ptc_url, upstream.registry_url):
            if url is not None:
                assert url in upstream.aliases
                assert is_canonical_ptc_url(url)
        if upstream.ptc_url is not None:
            assert upstream.registry_url == upstream.ptc_url
        assert not (upstream.omics_copy_supported and upstream.upstream_registry), upstream.key
        assert not (upstream.healthomics_ptc_supported and upstream.upstream_registry is None), upstream.key
        assert seen_aliases.isdisjoint(upstream.aliases)
        seen_aliases.update(upstream.aliases)
        assert all(alias == alias.lower() for alias in upstream.aliases)
        if upstream.credential_kind in ("ptc-secret", "omics-secret"):
            assert upstream.requires_credentials
        else:
            assert not upstream.requires_credentials


def test_healthomics_ptc_list_matches_docs() -> None:
    """§1.3: ECR Public, k8s, Quay, Docker Hub, Azure, GitHub, GitLab — and nothing else."""
    supported = {u.upstream_registry for u in UPSTREAMS if u.healthomics_ptc_supported}
    assert supported == {
        "ecr-public",
        "k8s",
        "quay",
        "docker-hub",
        "azure-container-registry",
        "github-container-registry",
        "gitlab-container-registry",
    }
    copied = {u.registry_url or u.host_pattern for u in UPSTREAMS if u.omics_copy_supported}
    assert copied == {
        "community.wave.seqera.io",
        "wave.seqera.io",
        "nvcr.io",
        "gcr.io",
        r"[a-z][a-z0-9-]*-docker\.pkg\.dev",
    }


def test_unknown_key() -> None:
    with pytest.raises(KeyError):
        get_upstream("nope")
    assert upstream_for_ecr_enum("nope") is None


# --- prefixes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "repository", "matches"),
    [
        ("docker-hub", "docker-hub/library/ubuntu", True),
        ("docker-hub/", "docker-hub/library/ubuntu", True),
        ("docker", "docker-hub/x", False),  # implied trailing '/' (§1.5)
        ("docker-hub", "docker-hub", False),  # the prefix itself is not under the prefix
        ("docker-hub/library", "docker-hub/library/ubuntu", True),
        ("docker-hub/library", "docker-hub/libraryx/ubuntu", False),
        ("ROOT", "anything/at/all", True),
        ("ROOT", "x", True),
        ("root", "root/x", True),  # lower-case "root" is an ordinary prefix
        ("root", "x", False),
        ("quay", "Quay/x", False),
    ],
)
def test_prefix_matches(prefix: str, repository: str, matches: bool) -> None:
    assert prefix_matches(prefix, repository) is matches


@pytest.mark.parametrize(
    ("prefixes", "repository", "expected"),
    [
        (["docker-hub", "docker-hub/library", "ROOT"], "docker-hub/library/ubuntu", "docker-hub/library"),
        (["ROOT", "docker-hub"], "docker-hub/x", "docker-hub"),  # ROOT only as fallback
        (["ROOT", "docker-hub"], "quay/x", "ROOT"),
        (["docker-hub", "quay"], "ecr-public/x", None),
        (["docker"], "docker-hub/x", None),
        (["a/", "a"], "a/b", "a/"),  # tie: first wins
        (["a", "a/"], "a/b", "a"),
        ([], "a/b", None),
    ],
)
def test_longest_prefix(prefixes: list[str], repository: str, expected: str | None) -> None:
    assert longest_prefix(prefixes, repository) == expected
    assert longest_prefix(iter(prefixes), repository) == expected  # any iterable


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("docker-hub", None),
        ("docker-hub/", None),
        ("team-a/images", None),
        ("ROOT", None),
        ("a", "2 to 30"),
        ("a" * 31, "2 to 30"),
        ("Docker", "lowercase"),
        ("/docker", "lowercase"),
        ("a//b", "lowercase"),
        ("a_", "lowercase"),
    ],
)
def test_ptc_prefix_problem(prefix: str, problem: str | None) -> None:
    found = ptc_prefix_problem(prefix)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_cache_repository() -> None:
    assert cache_repository("docker-hub", "library/ubuntu") == "docker-hub/library/ubuntu"
    assert cache_repository("docker-hub/", "library/ubuntu") == "docker-hub/library/ubuntu"
    assert cache_repository(ROOT, "team/app") == "team/app"
    assert prefix_matches("docker-hub", cache_repository("docker-hub", "x/y"))


_component = st.builds(
    lambda head, sep, tail: head + (sep + tail if tail else ""),
    st.text(alphabet="abc019", min_size=1, max_size=4),
    st.sampled_from(["-", "_", "."]),
    st.text(alphabet="abc019", max_size=3),
)
_paths = st.lists(_component, min_size=1, max_size=4).map("/".join)


@st.composite
def prefixes_for(draw: st.DrawFn, repository: str) -> list[str]:
    """Mix of the repository's own ancestors (so matches happen) and unrelated paths."""
    parts = repository.split("/")
    ancestors = ["/".join(parts[:n]) for n in range(1, len(parts))]
    pool = st.sampled_from(ancestors) | _paths if ancestors else _paths
    chosen = draw(st.lists(pool, max_size=5))
    return [p + "/" if draw(st.booleans()) else p for p in chosen]


@settings(max_examples=100, deadline=None)
@given(_paths, _paths, st.booleans())
def test_prefix_matches_is_path_prefix(prefix: str, repository: str, slash: bool) -> None:
    """Matching is exactly 'repository lies under prefix/' — never a bare string prefix."""
    given_prefix = prefix + "/" if slash else prefix
    assert prefix_matches(given_prefix, repository) == repository.startswith(prefix + "/")
    assert prefix_matches(given_prefix, cache_repository(given_prefix, repository))


@settings(max_examples=100, deadline=None)
@given(st.data(), _paths, st.booleans())
def test_longest_prefix_properties(data: st.DataObject, repository: str, with_root: bool) -> None:
    prefixes = data.draw(prefixes_for(repository))
    candidates = [*prefixes, ROOT] if with_root else prefixes
    chosen = longest_prefix(candidates, repository)
    matching = [p for p in prefixes if prefix_matches(p, repository)]
    if matching:
        assert chosen is not None
        assert chosen != ROOT
        assert prefix_matches(chosen, repository)
        assert len(chosen.rstrip("/")) == max(len(p.rstrip("/")) for p in matching)
    else:
        assert chosen == (ROOT if with_root else None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_lookups_never_crash(text: str) -> None:
    upstream_for_registry(text)
    upstream = upstream_for_ptc_url(text)
    canonical = is_canonical_ptc_url(text)
    assert not canonical or upstream is not None
    if canonical:
        assert re.fullmatch(r"[a-z0-9.-]+", text)
