"""Container image references: the one normaliser the whole auditor uses.

Every workflow image, registry-map entry and image-mapping ``sourceImage`` goes
through :func:`parse_reference` so that ``ubuntu``, ``docker.io/ubuntu`` and
``index.docker.io/library/ubuntu:latest`` compare equal. The public tools we
replace each got this wrong in a different way (docs/healthomics-pitfalls.md §2), so
the grammar follows docker/distribution ``reference.go``/``regexp.go``/
``normalize.go`` (docs/aws-semantics.md §7.1) with three documented deviations:

* ``registry-1.docker.io`` is treated as a Docker Hub alias like
  ``index.docker.io``. normalize.go leaves it as an ordinary host (and so adds
  no ``library/``), but it *is* Docker Hub's real registry host (normalize.go's
  own comment) and the URL ECR pull-through cache requires (docs/aws-semantics.md
  §1.3), so references written that way must land on the same ECR repository.
  GUESS: that ``registry-1.docker.io/ubuntu`` means ``library/ubuntu``. The same
  holds for ``registry.hub.docker.com``, Docker Hub's older registry API host,
  still found in workflows (``registry.hub.docker.com/library/ubuntu:22.04``).
* A reference that has both a tag and a digest keeps both (``repo:tag@digest``),
  like ``ParseNormalizedNamed``; ``ParseDockerRef`` would drop the tag, but the
  auditor needs the tag to report which mutable tag a pinned digest came from.
* ``default_registry`` models Nextflow's ``docker.registry``, which is applied
  by Nextflow *before* Docker parses the name (``ContainerHandler``
  ``normalizeDockerImageName``/``isAbsoluteDockerName``).

Kept exactly as normalize.go does it, although surprising:

* A first path component containing an uppercase letter is taken as a registry
  host (``Foo/bar`` → registry ``Foo``); hosts are not lower-cased and
  ``Docker.io`` is not Docker Hub. Docker would contact that host, so must we.
* A name without ``/`` is always a Docker Hub official image, so ``localhost``
  or ``localhost:5000`` alone is ``docker.io/library/localhost[:5000]``.
* The 255-character limit applies to the repository path (after ``library/``
  is added), not to the host, as in current ``reference.Parse``.
* Digests are checked like go-digest ``Parse``: only registered algorithms
  (sha256, sha384, sha512) with their exact lower-case hex length.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, model_validator

# --- constants (normalize.go) ----------------------------------------------

DOCKER_HUB = "docker.io"  # canonical domain of Docker Hub in references
DOCKER_HUB_PULL_HOST = "registry-1.docker.io"  # the host clients and ECR PTC actually talk to (§1.3)
# ``registry.hub.docker.com`` is Docker Hub's older API host, still answering the registry API and written in
# workflows (``registry.hub.docker.com/library/ubuntu``); it is Docker Hub, not an unknown registry.
DOCKER_HUB_ALIASES: frozenset[str] = frozenset(
    {DOCKER_HUB, "index.docker.io", DOCKER_HUB_PULL_HOST, "registry.hub.docker.com"}
)
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_REPOSITORY_LENGTH = 255
LOCALHOST = "localhost"

# --- grammar (regexp.go) ---------------------------------------------------

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"

PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT)
DOMAIN_RE = re.compile(_DOMAIN_AND_PORT)
# Go's \w is ASCII-only; without re.ASCII Python would accept "é" in tags.
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
# Digest grammar split in two so the error can say which half is wrong; the
# grammar's "hex at least 32 digits" is subsumed by the per-algorithm lengths.
_DIGEST_ALGORITHM_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
# go-digest registered algorithms and their hex lengths (sha256/sha384/sha512).
DIGEST_HEX_LENGTHS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}
_URL_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


class InvalidReference(ValueError):
    """A string that is not a valid container image reference.

    ``reason`` is a human sentence saying exactly what is wrong, for findings.
    """

    def __init__(self, raw: object, reason: str) -> None:
        super().__init__(raw, reason)  # args mirror __init__ so the error pickles (multiprocessing)
        self.raw = raw
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid container reference {self.raw!r}: {self.reason}"


# --- ECR private registry hosts --------------------------------------------

# Partition → (region regex, DNS suffix), from botocore/data/partitions.json.
# Registry hosts are "<acct>.dkr.ecr[-fips].<region>.<dnsSuffix>"; dual-stack
# hosts are "<acct>.dkr-ecr[-fips].<region>.on.aws" (ECR user guide,
# "Making requests to Amazon ECR registries"). GUESS: the same host shape holds
# in the ISO and EUSC partitions, and dual-stack exists only where the suffix
# is on.aws (aws, aws-us-gov).
_PARTITIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("aws-us-gov", re.compile(r"us-gov-\w+-\d+", re.ASCII), "amazonaws.com"),
    ("aws-iso-b", re.compile(r"us-isob-\w+-\d+", re.ASCII), "sc2s.sgov.gov"),
    ("aws-iso-f", re.compile(r"us-isof-\w+-\d+", re.ASCII), "csp.hci.ic.gov"),
    ("aws-iso", re.compile(r"us-iso-\w+-\d+", re.ASCII), "c2s.ic.gov"),
    ("aws-iso-e", re.compile(r"eu-isoe-\w+-\d+", re.ASCII), "cloud.adc-e.uk"),
    ("aws-eusc", re.compile(r"eusc-de-\w+-\d+", re.ASCII), "amazonaws.eu"),
    ("aws-cn", re.compile(r"cn-\w+-\d+", re.ASCII), "amazonaws.com.cn"),
    ("aws", re.compile(r"(?:us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+", re.ASCII), "amazonaws.com"),
)
_DUAL_STACK_SUFFIX = "on.aws"
_DUAL_STACK_PARTITIONS = frozenset({"aws", "aws-us-gov"})
_ECR_HOST_RE = re.compile(
    r"(?P<account>[0-9]{12})\.(?P<dkr>dkr\.ecr|dkr-ecr)(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)"
)


def partition_for_region(region: str) -> str | None:
    """AWS partition id for a region name, or None when no partition claims it."""
    for partition, region_re, _suffix in _PARTITIONS:
        if region_re.fullmatch(region):
            return partition
    return None


def _dns_suffix(partition: str) -> str:
    for name, _region_re, suffix in _PARTITIONS:
        if name == partition:
            return suffix
    raise ValueError(f"unknown AWS partition {partition!r}")


class EcrHost(BaseModel, frozen=True):
    """A private ECR registry host, e.g. ``123456789012.dkr.ecr.us-east-1.amazonaws.com``."""

    account: str
    region: str
    partition: str  # "aws", "aws-cn", "aws-us-gov", ...
    dns_suffix: str  # "amazonaws.com", "amazonaws.com.cn", "on.aws" (dual-stack), ...
    fips: bool = False
    dual_stack: bool = False

    @property
    def host(self) -> str:
        dkr = "dkr-ecr" if self.dual_stack else "dkr.ecr"
        fips = "-fips" if self.fips else ""
        return f"{self.account}.{dkr}{fips}.{self.region}.{self.dns_suffix}"


def parse_ecr_host(host: str) -> EcrHost | None:
    """Parse a private ECR registry host; None for anything else (ports included).

    DNS is case-insensitive, so the host is lower-cased before matching.
    """
    match = _ECR_HOST_RE.fullmatch(host.lower())
    if match is None:
        return None
    region, suffix = match["region"], match["suffix"]
    partition = partition_for_region(region)
    if partition is None:
        return None
    dual_stack = match["dkr"] == "dkr-ecr"
    expected = _DUAL_STACK_SUFFIX if dual_stack else _dns_suffix(partition)
    if suffix != expected or (dual_stack and partition not in _DUAL_STACK_PARTITIONS):
        return None
    return EcrHost(
        account=match["account"],
        region=region,
        partition=partition,
        dns_suffix=suffix,
        fips=match["fips"] is not None,
        dual_stack=dual_stack,
    )


def is_docker_hub_host(host: str) -> bool:
    """True for any host spelling that means Docker Hub (exact, as normalize.go compares)."""
    return host in DOCKER_HUB_ALIASES


def canonical_registry(host: str) -> str:
    """``docker.io`` for Docker Hub aliases; any other host unchanged."""
    return DOCKER_HUB if is_docker_hub_host(host) else host


def docker_hub_host(registry: str) -> str:
    """The host a client really contacts for ``registry`` (Docker Hub → registry-1.docker.io).

    This is the form ECR PTC rules and HealthOmics registry mappings use (§1.3, §7.2).
    """
    return DOCKER_HUB_PULL_HOST if is_docker_hub_host(registry) else registry


# --- field checks shared by the parser and the model validator -------------


def repository_problem(repository: str) -> str | None:
    """Why ``repository`` (the path after the host) is invalid, or None."""
    if not repository:
        return "repository name is empty"
    if repository.startswith("/"):
        return "repository name starts with '/'"
    if repository.endswith("/"):
        return "repository name ends with '/'"
    if "//" in repository:
        return "repository name has an empty path component ('//')"
    if repository.lower() != repository:
        return f"repository name {repository!r} must be lowercase"
    for component in repository.split("/"):
        if not PATH_COMPONENT_RE.fullmatch(component):
            return (
                f"path component {component!r} is invalid: components are lowercase letters and digits, "
                "separated by a single '.', '_' or '__', or by dashes"
            )
    if len(repository) > MAX_REPOSITORY_LENGTH:
        return f"repository name is {len(repository)} characters; the limit is {MAX_REPOSITORY_LENGTH}"
    return None


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` is invalid, or None."""
    if not tag:
        return "tag after ':' is empty"
    if len(tag) > 128:
        return f"tag is {len(tag)} characters; the limit is 128"
    if not TAG_RE.fullmatch(tag):
        return f"tag {tag!r} is invalid: it must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
    return None


def digest_problem(digest: str) -> str | None:
    """Why ``digest`` is invalid (grammar, then go-digest registration/length), or None."""
    if not digest:
        return "digest after '@' is empty"
    algorithm, sep, hex_part = digest.partition(":")
    if not sep or not algorithm or not hex_part:
        return f"digest {digest!r} must have the form <algorithm>:<hex>"
    if not _DIGEST_ALGORITHM_RE.fullmatch(algorithm):
        return f"digest algorithm {algorithm!r} is malformed"
    if not _HEX_RE.fullmatch(hex_part):
        return f"digest {digest!r} has non-hexadecimal characters after ':'"
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        return f"digest algorithm {algorithm!r} is not supported (use sha256, sha384 or sha512)"
    if hex_part.lower() != hex_part:
        return "digest hex must be lowercase"
    if len(hex_part) != expected:
        return f"{algorithm} digest must have {expected} hex digits, got {len(hex_part)}"
    return None


def _domain_problem(domain: str) -> str | None:
    if not DOMAIN_RE.fullmatch(domain):
        return f"registry host {domain!r} is not a valid host[:port]"
    if domain in DOCKER_HUB_ALIASES and domain != DOCKER_HUB:
        return f"registry {domain!r} must be stored in canonical form {DOCKER_HUB!r}"
    return None


# --- the model -------------------------------------------------------------


class ImageReference(BaseModel, frozen=True):
    """A parsed, normalised image reference. Build it with :func:`parse_reference`.

    Direct construction (e.g. from a saved inventory) is validated too, so an
    ``ImageReference`` always holds canonical, grammar-valid fields.
    """

    raw: str  # exactly what the workflow/config said
    registry: str  # canonical host[:port]; "docker.io" for Docker Hub
    repository: str  # path on that registry; "library/ubuntu" for official images
    tag: str | None = None  # "latest" when neither tag nor digest was given
    digest: str | None = None  # "sha256:<64 hex>"
    written_registry: str | None = None  # host as written (before canonicalisation); None when implied

    @model_validator(mode="after")
    def _check_fields(self) -> Self:
        problems = [
            _domain_problem(self.registry),
            repository_problem(self.repository),
            tag_problem(self.tag) if self.tag is not None else None,
            digest_problem(self.digest) if self.digest is not None else None,
        ]
        if self.tag is None and self.digest is None:
            problems.append("a normalised reference has a tag or a digest")
        if self.registry == DOCKER_HUB and "/" not in self.repository:
            problems.append("Docker Hub official images live under 'library/'")
        found = [p for p in problems if p]
        if found:
            raise ValueError("; ".join(found))
        return self

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def normalized(self) -> str:
        """Fully qualified form; stable under re-parsing."""
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def is_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB

    @property
    def pull_host(self) -> str:
        """Host actually contacted: ``registry-1.docker.io`` for Docker Hub, else ``registry``."""
        return docker_hub_host(self.registry)

    @property
    def ecr(self) -> EcrHost | None:
        """The private ECR registry this reference points at, if any."""
        return parse_ecr_host(self.registry)

    def __str__(self) -> str:
        return self.normalized


# --- parsing ---------------------------------------------------------------


def _check_surface(raw: object) -> str:
    """Reject inputs that are not even candidate references, with a precise reason."""
    if not isinstance(raw, str):
        raise InvalidReference(raw, f"expected a string, got {type(raw).__name__}")
    if not raw:
        raise InvalidReference(raw, "reference is empty")
    for index, char in enumerate(raw):
        if char.isspace():
            raise InvalidReference(raw, f"contains whitespace at position {index}")
    scheme = _URL_SCHEME_RE.match(raw)
    if scheme:
        name = scheme.group(1)
        rest = raw[scheme.end() :]
        if name.lower() == "docker":
            reason = f"'docker://' is a Singularity/Apptainer URL, not an image reference; use {rest!r}"
        else:
            reason = f"'{name}://' URLs (Singularity, ORAS, HTTP) are not container image references"
        raise InvalidReference(raw, reason)
    if raw.startswith("/"):
        raise InvalidReference(raw, "starts with '/' (a file path is not a container image reference)")
    return raw


def is_nextflow_absolute(name: str) -> bool:
    """Nextflow ``isAbsoluteDockerName``: first of several components has '.' or ':'.

    Deliberately narrower than Docker (no ``localhost``, no uppercase rule):
    this decides whether Nextflow prefixes ``docker.registry``, not how Docker parses.
    """
    first, sep, _rest = name.partition("/")
    return bool(sep) and ("." in first or ":" in first)


def _apply_default_registry(raw: str, default_registry: str | None) -> str:
    if not default_registry or is_nextflow_absolute(raw):
        return raw
    registry = default_registry.rstrip("/")
    if not registry or _URL_SCHEME_RE.match(registry) or any(c.isspace() for c in registry):
        raise InvalidReference(raw, f"default registry {default_registry!r} must be a bare host[:port][/path]")
    return f"{registry}/{raw}"


def _split_suffixes(raw: str, text: str) -> tuple[str, str | None, str | None]:
    """Split ``name[:tag][@digest]``; a ':' before the last '/' is a port, not a tag."""
    name_tag, at, digest = text.partition("@")
    if at and "@" in digest:
        raise InvalidReference(raw, "contains more than one '@'")
    colon, slash = name_tag.rfind(":"), name_tag.rfind("/")
    tag: str | None = None
    name = name_tag
    if colon > slash:
        name, tag = name_tag[:colon], name_tag[colon + 1 :]
    return name, tag, (digest if at else None)


def _split_domain(raw: str, name: str) -> tuple[str, str, str | None]:
    """normalize.go ``splitDockerDomain`` → (canonical registry, path as written, written host).

    The ``library/`` prefix is added by the caller, after the written path has
    been checked, so error messages quote what the user wrote.
    """
    if name.endswith("/"):  # before splitting, so "quay.io/" is not reported as an empty name
        raise InvalidReference(raw, "repository name ends with '/'")
    first, sep, rest = name.partition("/")
    if not sep:
        return DOCKER_HUB, name, None
    if first == LOCALHOST or "." in first or ":" in first or first.lower() != first:
        domain, remote, written = first, rest, first
    else:
        domain, remote, written = DOCKER_HUB, name, None
    if not DOMAIN_RE.fullmatch(domain):
        raise InvalidReference(raw, f"registry host {domain!r} is not a valid host[:port]")
    return canonical_registry(domain), remote, written


def _with_official_prefix(registry: str, remote: str) -> str:
    """Docker Hub single-component names are official images: ``ubuntu`` → ``library/ubuntu``."""
    if registry == DOCKER_HUB and "/" not in remote:
        return OFFICIAL_REPO_PREFIX + remote
    return remote


def parse_reference(raw: str, *, default_registry: str | None = None) -> ImageReference:
    """Parse and normalise one image reference; raises :class:`InvalidReference`.

    ``default_registry`` is Nextflow's ``docker.registry``: it is prefixed to
    names whose first component is not a host (Nextflow's rule), so
    ``ubuntu`` with ``quay.io`` becomes ``quay.io/ubuntu`` (no ``library/``)
    while ``community.wave.seqera.io/library/x`` is left alone.
    """
    text = _apply_default_registry(_check_surface(raw), default_registry)
    if IDENTIFIER_RE.fullmatch(text):
        raise InvalidReference(raw, "a bare 64-hex image ID is not a reference (it would be ambiguous)")
    if digest_problem(text) is None:
        # Deviation: Docker would read "sha256:<hex>" as image "library/sha256"
        # with a hex tag; in a workflow it is always a digest missing its name.
        raise InvalidReference(raw, "a bare digest names no repository; write <name>@<digest>")
    name, tag, digest = _split_suffixes(raw, text)
    registry, remote, written = _split_domain(raw, name)
    repository = _with_official_prefix(registry, remote)
    for problem in (
        repository_problem(remote),
        repository_problem(repository),  # the 255 limit applies after "library/" is added
        tag_problem(tag) if tag is not None else None,
        digest_problem(digest) if digest is not None else None,
    ):
        if problem:
            raise InvalidReference(raw, problem)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(
        raw=raw, registry=registry, repository=repository, tag=tag, digest=digest, written_registry=written
    )


def try_parse_reference(raw: str, *, default_registry: str | None = None) -> ImageReference | InvalidReference:
    """Like :func:`parse_reference` but returns the error, for collect-all-findings loops."""
    try:
        return parse_reference(raw, default_registry=default_registry)
    except InvalidReference as err:
        return err


# --- ECR URIs --------------------------------------------------------------


def ecr_host(
    account: str, region: str, partition: str | None = None, *, fips: bool = False, dual_stack: bool = False
) -> str:
    """Private registry host for an account/region; partition inferred from the region when None."""
    if not re.fullmatch(r"[0-9]{12}", account):
        raise ValueError(f"AWS account id must be 12 digits, got {account!r}")
    inferred = partition_for_region(region)
    if inferred is None:
        raise ValueError(f"{region!r} is not a region of any known AWS partition")
    if partition is not None and partition != inferred:
        raise ValueError(f"region {region!r} is in partition {inferred!r}, not {partition!r}")
    if dual_stack and inferred not in _DUAL_STACK_PARTITIONS:
        raise ValueError(f"no known dual-stack ECR registry endpoint in partition {inferred!r}")
    suffix = _DUAL_STACK_SUFFIX if dual_stack else _dns_suffix(inferred)
    return EcrHost(
        account=account, region=region, partition=inferred, dns_suffix=suffix, fips=fips, dual_stack=dual_stack
    ).host


def ecr_uri(
    account: str,
    region: str,
    repository: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    partition: str | None = None,
    fips: bool = False,
    dual_stack: bool = False,
) -> str:
    """``<acct>.dkr.ecr.<region>.<suffix>/<repository>[:tag][@digest]``; ValueError on bad parts.

    ``partition`` is inferred from the region when None (cn-north-1 →
    amazonaws.com.cn); when given it must agree with the region. No default tag
    is added: callers decide whether a bare repository URI is wanted.
    """
    host = ecr_host(account, region, partition, fips=fips, dual_stack=dual_stack)
    for problem in (
        repository_problem(repository),
        tag_problem(tag) if tag is not None else None,
        digest_problem(digest) if digest is not None else None,
    ):
        if problem:
            raise ValueError(problem)
    uri = f"{host}/{repository}"
    if tag is not None:
        uri += f":{tag}"
    if digest is not None:
        uri += f"@{digest}"
    return uri
