"""Upstream container registries: which ECR pull-through cache (PTC) / HealthOmics path serves each.

One table (:data:`UPSTREAMS`) answers, for a registry host found in a workflow
or a URL found in a PTC rule / HealthOmics registry mapping: which upstream is
it, can ECR cache it, does HealthOmics accept that cache, does it need a
secret, and is the URL spelled the way the API documents it. The anchors keep
this table as hand-edited JSON that misses hosts (docs/healthomics-pitfalls.md §2.2);
here every row cites docs/aws-semantics.md.

Prefix helpers implement ECR's "assumed trailing /" and ROOT rules (§1.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from auditor.refs import DOCKER_HUB_ALIASES, parse_ecr_host

ROOT = "ROOT"

# How an upstream authenticates (§1.3, §1.4):
#   none: anonymous pulls (ECR Public, Quay, registry.k8s.io)
#   ptc-secret: PTC rule credentialArn, secret named "ecr-pullthroughcache/..." in the rule's account+Region
#   iam-role: ECR→ECR: customRoleArn when the upstream registry is in another account
#   omics-secret: HealthOmics RegistryMapping.credentialArn (any name; workflow role needs GetSecretValue)
CredentialKind = Literal["none", "ptc-secret", "iam-role", "omics-secret"]


class UnknownUpstreamError(ValueError):
    """A URL that matches no upstream in :data:`UPSTREAMS`."""


class Upstream(BaseModel, frozen=True):
    """One upstream registry and everything the rules need to know about it."""

    key: str  # our stable id, used in findings
    display_name: str
    # ECR UpstreamRegistry enum value; None when ECR PTC cannot cache this upstream at all.
    upstream_registry: str | None
    # Exact upstreamRegistryUrl for a PTC rule; None when per-customer (azure, ecr) or not PTC-capable.
    ptc_url: str | None
    # Exact upstreamRegistryUrl for a HealthOmics RegistryMapping; equals ptc_url for PTC upstreams,
    # the fixed host for omics-copy registries, None when per-customer.
    registry_url: str | None
    # Reference registry hosts that mean this upstream (lower-case, exact).
    aliases: tuple[str, ...] = ()
    # Full-match regex (lower-case) for per-customer hosts such as "<name>.azurecr.io".
    host_pattern: str | None = None
    requires_credentials: bool  # a Secrets Manager secret is mandatory
    credential_kind: CredentialKind
    default_prefix: str  # ecrRepositoryPrefix we propose when remediating
    healthomics_ptc_supported: bool  # HealthOmics accepts images cached by PTC from it (§1.3)
    omics_copy_supported: bool  # HealthOmics copies it itself via RegistryMapping.credentialArn (§7.2)
    guess: str | None = None  # what in this row is not confirmed by a source

    def matches_host(self, host: str) -> bool:
        """True when a reference's registry host (any case) belongs to this upstream."""
        lowered = host.lower()
        if lowered in self.aliases:
            return True
        if self.key == "ecr":
            return parse_ecr_host(lowered) is not None
        return self.host_pattern is not None and re.fullmatch(self.host_pattern, lowered) is not None


# Order matters only for readability; hosts never match two rows.
UPSTREAMS: tuple[Upstream, ...] = (
    # --- ECR PTC upstreams that HealthOmics supports (§1.3 table + HealthOmics list) ---
    Upstream(
        key="ecr-public",
        display_name="Amazon ECR Public",
        upstream_registry="ecr-public",
        ptc_url="public.ecr.aws",
        registry_url="public.ecr.aws",
        # ecr-public.aws.com: ECR Public dual-stack pull host (ECR Public guide, "Making requests").
        aliases=("public.ecr.aws", "ecr-public.aws.com"),
        requires_credentials=False,
        credential_kind="none",
        default_prefix="ecr-public",  # HealthOmics registry-map example (§7.2)
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="docker-hub",
        display_name="Docker Hub",
        upstream_registry="docker-hub",
        ptc_url="registry-1.docker.io",  # NOT docker.io (§1.3)
        registry_url="registry-1.docker.io",
        aliases=tuple(sorted(DOCKER_HUB_ALIASES)),  # docker.io, index.docker.io, registry-1.docker.io (§7.1)
        requires_credentials=True,
        credential_kind="ptc-secret",
        default_prefix="docker-hub",  # HealthOmics registry-map example (§7.2)
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="quay",
        display_name="Quay",
        upstream_registry="quay",
        ptc_url="quay.io",
        registry_url="quay.io",
        aliases=("quay.io",),
        requires_credentials=False,
        credential_kind="none",
        default_prefix="quay",  # HealthOmics registry-map example (§7.2)
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="k8s",
        display_name="Kubernetes container image registry",
        upstream_registry="k8s",
        ptc_url="registry.k8s.io",
        registry_url="registry.k8s.io",
        aliases=("registry.k8s.io",),
        requires_credentials=False,
        credential_kind="none",
        default_prefix="k8s",
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="ghcr",
        display_name="GitHub Container Registry",
        upstream_registry="github-container-registry",
        ptc_url="ghcr.io",
        registry_url="ghcr.io",
        aliases=("ghcr.io",),
        requires_credentials=True,
        credential_kind="ptc-secret",
        default_prefix="ghcr",
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="gitlab",
        display_name="GitLab Container Registry",
        upstream_registry="gitlab-container-registry",
        ptc_url="registry.gitlab.com",  # only SaaS gitlab.com is supported (§1.3)
        registry_url="registry.gitlab.com",
        aliases=("registry.gitlab.com",),
        requires_credentials=True,
        credential_kind="ptc-secret",
        default_prefix="gitlab",
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
    ),
    Upstream(
        key="azure",
        display_name="Microsoft Azure Container Registry",
        upstream_registry="azure-container-registry",
        ptc_url=None,  # "<custom>.azurecr.io" (§1.3)
        registry_url=None,
        host_pattern=r"[a-z0-9]+\.azurecr\.io",
        requires_credentials=True,
        credential_kind="ptc-secret",
        default_prefix="azure",
        healthomics_ptc_supported=True,
        omics_copy_supported=False,
        guess="host pattern is loose (any alphanumeric name); sovereign-cloud azurecr.cn/.us not accepted",
    ),
    # --- ECR PTC upstreams HealthOmics does NOT accept through PTC (§1.3) ---
    Upstream(
        key="ecr",
        display_name="Amazon ECR private (another registry)",
        upstream_registry="ecr",
        ptc_url=None,  # "<accountId>.dkr.ecr.<region>.amazonaws.com" (§1.3)
        registry_url=None,
        requires_credentials=False,
        credential_kind="iam-role",  # customRoleArn, needed cross-account (§1.3)
        default_prefix="ecr",
        healthomics_ptc_supported=False,  # "HealthOmics doesn't support pull through cache for ... ECR private"
        omics_copy_supported=False,
        guess="a reference to the run account's own ECR needs no upstream at all; callers compare accounts",
    ),
    Upstream(
        key="chainguard",
        display_name="Chainguard",
        upstream_registry="chainguard",
        ptc_url="cgr.dev",
        registry_url="cgr.dev",
        aliases=("cgr.dev",),
        requires_credentials=True,  # ECR docs list Chainguard among secret-requiring upstreams (§1.3)
        credential_kind="ptc-secret",
        default_prefix="chainguard",
        healthomics_ptc_supported=False,  # not in HealthOmics' PTC list (§1.3)
        omics_copy_supported=False,
        guess="URL cgr.dev is not in any retrieved source (§1.3 GUESS)",
    ),
    # --- Not PTC-capable; HealthOmics copies them itself with a credentialArn (§7.2, §1.4) ---
    Upstream(
        key="seqera-community",
        display_name="Seqera Containers (community)",
        upstream_registry=None,
        ptc_url=None,
        registry_url="community.wave.seqera.io",
        aliases=("community.wave.seqera.io",),
        requires_credentials=True,  # RegistryMapping.credentialArn is required for non-PTC registries
        credential_kind="omics-secret",
        default_prefix="seqera-community",
        healthomics_ptc_supported=False,
        omics_copy_supported=True,
    ),
    Upstream(
        key="seqera-wave",
        display_name="Seqera Wave",
        upstream_registry=None,
        ptc_url=None,
        registry_url="wave.seqera.io",
        aliases=("wave.seqera.io",),
        requires_credentials=True,
        credential_kind="omics-secret",
        default_prefix="seqera-wave",
        healthomics_ptc_supported=False,
        omics_copy_supported=True,
    ),
    Upstream(
        key="nvcr",
        display_name="NVIDIA NGC",
        upstream_registry=None,
        ptc_url=None,
        registry_url="nvcr.io",
        aliases=("nvcr.io",),
        requires_credentials=True,
        credential_kind="omics-secret",
        default_prefix="nvcr",
        healthomics_ptc_supported=False,
        omics_copy_supported=True,
    ),
    Upstream(
        key="gcr",
        display_name="Google Container Registry",
        upstream_registry=None,
        ptc_url=None,
        registry_url="gcr.io",
        aliases=("gcr.io",),  # the docs name gcr.io only; us./eu./asia.gcr.io are not claimed
        requires_credentials=True,
        credential_kind="omics-secret",
        default_prefix="gcr",
        healthomics_ptc_supported=False,
        omics_copy_supported=True,
        guess="regional gcr.io hosts (us.gcr.io, ...) are not documented as supported and are not matched",
    ),
    Upstream(
        key="artifact-registry",
        display_name="Google Artifact Registry",
        upstream_registry=None,
        ptc_url=None,
        registry_url=None,  # "<region>-docker.pkg.dev"
        host_pattern=r"[a-z][a-z0-9-]*-docker\.pkg\.dev",
        requires_credentials=True,
        credential_kind="omics-secret",
        default_prefix="gar",  # the ECRH README's namespace (docs/healthomics-pitfalls.md §2.2)
        healthomics_ptc_supported=False,
        omics_copy_supported=True,
    ),
)

_BY_KEY: dict[str, Upstream] = {u.key: u for u in UPSTREAMS}
_BY_ECR_ENUM: dict[str, Upstream] = {u.upstream_registry: u for u in UPSTREAMS if u.upstream_registry}

# Prefix constraints of PullThroughCacheRuleRepositoryPrefix (§1.5, botocore model).
_PTC_PREFIX_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT")
_SCHEME_RE = re.compile(r"https?://", re.IGNORECASE)


def get_upstream(key: str) -> Upstream:
    """Row by our key; KeyError when unknown (a programming error, not data)."""
    return _BY_KEY[key]


def upstream_for_ecr_enum(upstream_registry: str) -> Upstream | None:
    """Row for a PTC rule's ``upstreamRegistry`` enum value ("docker-hub", "ecr", ...)."""
    return _BY_ECR_ENUM.get(upstream_registry)


def upstream_for_registry(host: str) -> Upstream | None:
    """Row for a reference's registry host: docker.io → docker-hub, x.azurecr.io → azure, ..."""
    for upstream in UPSTREAMS:
        if upstream.matches_host(host):
            return upstream
    return None


def _url_host(url: str) -> str:
    """Host part of a URL as people write it in rules/mappings (scheme, path, trailing '/' dropped)."""
    text = _SCHEME_RE.sub("", url.strip(), count=1)
    return text.split("/", 1)[0].lower()


def upstream_for_ptc_url(url: str) -> Upstream | None:
    """Row for a PTC rule's / registry mapping's ``upstreamRegistryUrl``, leniently.

    Lenient on purpose (``docker.io``, ``https://quay.io/`` still identify the
    upstream) so rules can say *which* upstream is misspelled; pair with
    :func:`is_canonical_ptc_url` to flag the spelling.
    """
    host = _url_host(url)
    return upstream_for_registry(host) if host else None


def is_canonical_ptc_url(url: str) -> bool:
    """True when ``url`` is exactly the documented upstreamRegistryUrl form (§1.3, §7.2).

    ``registry-1.docker.io`` → True; ``docker.io``, ``https://quay.io``,
    ``Quay.io`` → False. ECR hosts must be the plain (non-FIPS, IPv4)
    ``<acct>.dkr.ecr.<region>.<suffix>`` form.
    """
    upstream = upstream_for_ptc_url(url)
    if upstream is None:
        return False
    expected = upstream.ptc_url or upstream.registry_url
    if expected is not None:
        return url == expected
    if upstream.key == "ecr":
        host = parse_ecr_host(url)
        return host is not None and url == url.lower() and not host.fips and not host.dual_stack
    return upstream.host_pattern is not None and re.fullmatch(upstream.host_pattern, url) is not None


def ptc_capable(host: str) -> bool:
    """ECR can create a PTC rule for this registry host (HealthOmics may still refuse it)."""
    upstream = upstream_for_registry(host)
    return upstream is not None and upstream.upstream_registry is not None


def healthomics_ptc_capable(host: str) -> bool:
    """HealthOmics accepts images cached by PTC from this registry host (§1.3)."""
    upstream = upstream_for_registry(host)
    return upstream is not None and upstream.healthomics_ptc_supported


def requires_credentials(url: str) -> bool:
    """Whether a secret is mandatory for this upstream URL; UnknownUpstreamError when unknown.

    Raising (rather than returning False) keeps an unknown upstream from
    silently passing a "missing credentialArn" check.
    """
    upstream = upstream_for_ptc_url(url)
    if upstream is None:
        raise UnknownUpstreamError(f"no known upstream registry for URL {url!r}")
    return upstream.requires_credentials


# --- repository prefixes (§1.5) --------------------------------------------


def ptc_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` is not a valid ecrRepositoryPrefix/upstreamRepositoryPrefix, or None."""
    if not 2 <= len(prefix) <= 30:
        return f"prefix {prefix!r} is {len(prefix)} characters; it must be 2 to 30"
    if not _PTC_PREFIX_RE.fullmatch(prefix):
        return f"prefix {prefix!r} must be lowercase path components (optional trailing '/') or ROOT"
    return None


def _strip_slash(prefix: str) -> str:
    return prefix[:-1] if prefix.endswith("/") else prefix


def prefix_matches(prefix: str, repository_name: str) -> bool:
    """ECR prefix semantics: an implied trailing '/' (§1.5); ROOT matches every repository.

    "docker" does not match "docker-hub/x", and "docker-hub" does not match a
    repository named exactly "docker-hub" (it is not *under* the prefix).
    """
    if prefix == ROOT:
        return True
    stem = _strip_slash(prefix)
    return bool(stem) and repository_name.startswith(stem + "/")


def longest_prefix(prefixes: Iterable[str], repository_name: str) -> str | None:
    """The most specific matching prefix, as given; ROOT only when nothing else matches.

    Ties ("a" and "a/" both present) go to the first in iteration order. GUESS:
    ECR picks the longest matching prefix for templates (docs/aws-semantics.md §10.1).
    """
    best: str | None = None
    best_len = -1
    has_root = False
    for prefix in prefixes:
        if prefix == ROOT:
            has_root = True
            continue
        length = len(_strip_slash(prefix))
        if length > best_len and prefix_matches(prefix, repository_name):
            best, best_len = prefix, length
    if best is None and has_root:
        return ROOT
    return best


def cache_repository(prefix: str, upstream_repository: str) -> str:
    """ECR repository PTC creates for an upstream repository: ``<prefix>/<repo>`` (§1.5).

    With ROOT the cache repository has the upstream name unchanged (ECR→ECR).
    """
    if prefix == ROOT:
        return upstream_repository
    return f"{_strip_slash(prefix)}/{upstream_repository}"
