"""Upstream registries for the sandbox's pull-through cache: where a first pull through a PTC rule gets the image.

Real ECR answers a pull of ``<ecrRepositoryPrefix>/<name>`` that is not cached yet by fetching the image from the
rule's upstream registry and importing it (aws-semantics.md, "Sandbox: layer upload and pull-through import"). The
sandbox has no network: a *source* stands for an upstream registry. It is a function of (upstream repository,
tag or digest) that returns the image, or None when the upstream has no such image::

    set_upstream_source("public.ecr.aws", memory_source({("docker/library/ubuntu", "24.04"): image}))
    ...
    set_upstream_source("public.ecr.aws", None)  # removes it

Sources are process-wide (every account and Region, in-process ``mock_aws`` and a ``ThreadedMotoServer`` in the
same process alike) and survive moto's reset; the test or tool that sets one removes it. A rule whose upstream has
no source behaves as before: nothing is ever imported.

A source signals a failure the upstream would report by raising :class:`UpstreamError` with the BatchGetImage
failure code (``UpstreamAccessDenied``, ``UpstreamTooManyRequests``, ``UpstreamUnavailable``); any other exception
counts as ``UpstreamUnavailable``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "UPSTREAM_FAILURE_CODES",
    "UpstreamError",
    "UpstreamImage",
    "UpstreamSource",
    "memory_source",
    "set_upstream_source",
    "upstream_source",
]

# The ImageFailureCode values (botocore ecr model) that name an upstream failure.
UPSTREAM_FAILURE_CODES = ("UpstreamAccessDenied", "UpstreamTooManyRequests", "UpstreamUnavailable")


@dataclass(frozen=True)
class UpstreamImage:
    """One manifest as the upstream registry serves it, with what a pull of it needs.

    ``blobs`` maps digest to bytes for this manifest's config and layers; ``children`` are the manifests an index
    or manifest list names, in the index's order (each with its own blobs).
    """

    manifest: bytes
    media_type: str
    blobs: Mapping[str, bytes]
    children: Sequence[UpstreamImage] = ()

    @property
    def digest(self) -> str:
        """The registry digest: sha256 of the exact manifest bytes."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    def walk(self) -> Iterator[UpstreamImage]:
        """This image and every manifest under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, digest: str) -> UpstreamImage | None:
        """This image or the manifest under it whose digest is ``digest``."""
        return next((image for image in self.walk() if image.digest == digest), None)


# (upstream repository, tag or digest) -> the image, None when the upstream has none.
UpstreamSource = Callable[[str, str], UpstreamImage | None]


class UpstreamError(Exception):
    """Raised by a source for a failure the upstream reports; ``failure_code`` is the BatchGetImage failure code."""

    def __init__(self, message: str, failure_code: str = "UpstreamUnavailable") -> None:
        if failure_code not in UPSTREAM_FAILURE_CODES:
            raise ValueError(f"failure_code must be one of {', '.join(UPSTREAM_FAILURE_CODES)}, not {failure_code!r}")
        super().__init__(message)
        self.failure_code = failure_code


_LOCK = threading.Lock()
_SOURCES: dict[str, UpstreamSource] = {}


def _key(upstream_registry_url: str) -> str:
    # A rule's upstreamRegistryUrl is a bare host (``public.ecr.aws``); accept a scheme or trailing slash too.
    url = upstream_registry_url.strip().lower()
    for scheme in ("https://", "http://"):
        url = url.removeprefix(scheme)
    return url.rstrip("/")


def set_upstream_source(upstream_registry_url: str, source: UpstreamSource | None) -> None:
    """Serve pulls through every PTC rule whose upstreamRegistryUrl is ``upstream_registry_url`` from ``source``
    (process-wide: all accounts and Regions); None removes the source."""
    with _LOCK:
        if source is None:
            _SOURCES.pop(_key(upstream_registry_url), None)
        else:
            _SOURCES[_key(upstream_registry_url)] = source


def upstream_source(upstream_registry_url: str) -> UpstreamSource | None:
    """The source set for an upstream registry URL, or None."""
    with _LOCK:
        return _SOURCES.get(_key(upstream_registry_url))


def memory_source(images: Mapping[tuple[str, str], UpstreamImage]) -> UpstreamSource:
    """A source serving fixed images, keyed by (upstream repository, tag or digest).

    A digest that is not a key is also found among the repository's images and their children, as a registry
    serves any manifest of a repository by digest.
    """
    table = dict(images)

    def source(repository: str, reference: str) -> UpstreamImage | None:
        found = table.get((repository, reference))
        if found is not None or not reference.startswith("sha256:"):
            return found
        for (name, _), image in table.items():
            if name == repository and (match := image.find(reference)) is not None:
                return match
        return None

    return source
