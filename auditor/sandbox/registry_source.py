"""A real registry as the upstream of the sandbox's pull-through cache (``sandbox --upstream quay.io=HOST``).

The sandbox's ECR imports an image into a cache repository from whatever :func:`set_upstream_source` gave it
for the rule's upstream URL (``auditor.sandbox.upstream``). This module builds that source from a registry the
tests (or a user trying ``copy``) run on 127.0.0.1 — Debian's ``docker-registry``, the CNCF distribution
server — read with the same client ``copy`` uses (:mod:`auditor.registry`). So a primed image comes from a
real registry over the OCI distribution API, byte for byte, as ECR's cache would fetch it from quay.io.
"""

from __future__ import annotations

import json

from auditor.registry import Manifest, RegistryClient, RegistryError
from auditor.sandbox.upstream import UpstreamError, UpstreamImage, UpstreamSource, set_upstream_source

# Children of an index read at most this deep (an index of indexes is legal; deeper is a malformed upstream).
_MAX_DEPTH = 2


def registry_source(registry: str) -> UpstreamSource:
    """An upstream source reading ``registry`` (``host:port``) anonymously."""
    client = RegistryClient(registry)

    def fetch(repository: str, reference: str) -> UpstreamImage | None:
        try:
            return _image(client, repository, client.manifest(repository, reference), 0)
        except RegistryError as exc:
            if exc.kind == "not_found":
                return None
            code = "UpstreamAccessDenied" if exc.kind in ("unauthorized", "denied") else "UpstreamUnavailable"
            raise UpstreamError(str(exc), code) from None

    return fetch


def _image(client: RegistryClient, repository: str, manifest: Manifest, depth: int) -> UpstreamImage:
    doc = json.loads(manifest.data)
    children = [
        m["digest"] for m in doc.get("manifests", []) if isinstance(m, dict) and isinstance(m.get("digest"), str)
    ]
    if children:
        if depth >= _MAX_DEPTH:
            raise RegistryError("protocol", f"{repository}: indexes nested deeper than {_MAX_DEPTH}")
        nested = [_image(client, repository, client.manifest(repository, d), depth + 1) for d in children]
        return UpstreamImage(manifest=manifest.data, media_type=manifest.media_type, blobs={}, children=nested)
    digests = [doc["config"]["digest"], *(layer["digest"] for layer in doc.get("layers", []))]
    blobs = {d: b"".join(client.blob_chunks(repository, d)) for d in dict.fromkeys(digests)}
    return UpstreamImage(manifest=manifest.data, media_type=manifest.media_type, blobs=blobs)


def parse_upstream_option(value: str) -> tuple[str, str]:
    """``--upstream quay.io=127.0.0.1:5001`` -> (cache rule upstream URL, registry host)."""
    url, sep, host = value.partition("=")
    if not sep or not url.strip() or not host.strip():
        raise ValueError(f"--upstream takes UPSTREAM_URL=HOST:PORT (e.g. quay.io=127.0.0.1:5001), not {value!r}")
    return url.strip(), host.strip()


def install_upstreams(options: list[str]) -> list[tuple[str, str]]:
    """Point each cache rule upstream URL at a registry; returns the pairs installed."""
    pairs = [parse_upstream_option(o) for o in options]
    for url, host in pairs:
        set_upstream_source(url, registry_source(host))
    return pairs
