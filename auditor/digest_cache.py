"""What a manifest or a config blob says about platforms, kept on disk by digest and reused across scans.

A scan inspects images with ``BatchGetImage`` and, for a single image manifest, the config blob through
``GetDownloadUrlForLayer`` and an HTTPS download. Both answers are functions of content that is addressed
by its sha256 digest, so they can be kept and reused by any later scan, in any region or account, that
meets the same digest: a digest names exactly one byte sequence, so an entry is never stale.

What it does **not** answer: whether a repository holds a digest now. That is the registry's state and
changes (lifecycle policies expire images, tags move), so the collector answers a ref from here only when
this scan's own ``DescribeImages`` listing of the repository names the digest (``Collector``); anything
else still goes to ``BatchGetImage``.

Only complete, verified answers are stored: a manifest whose bytes hash to its digest, that exists and
whose platforms do not depend on other manifests of the repository (an index naming every child's
platform; not one whose children had to be fetched, since a pull-through cache may hold only some of
them); a config blob whose bytes hash to its digest. No policy, secret, URL, account or repository name
is stored, only digests, media types, platform strings and what rule image-runnable reads: the image's
ENTRYPOINT/CMD/SHELL argv, its environment variable NAMES (never their values: they can be secrets), which
Java heap options it fixes (the option, not its value), its base-image label and its layer sizes. Entries of
another ``SCHEMA`` (written before those facts existed) are misses, fetched again, never "no entrypoint".

The store is one small JSON file per digest, ``<root>/m/<2 hex>/<64 hex>.json`` (manifests) and
``<root>/c/...`` (config blobs), not a SQLite database: files written to a temporary name and renamed
are atomic on every local filesystem, need no locking between threads or processes (two writers of
one digest write the same content; the last rename wins whole), cannot be corrupted as a whole by one
bad write, work on network home folders where SQLite's locking does not, and a broken entry costs only
that entry. The price is a directory walk to enforce the bounds, done only as entries are added.

Every entry read back is untrusted input: read with the project's bounded reader (``auditor.files``),
at most ``MAX_ENTRY_BYTES``, parsed as JSON, validated with pydantic, and its digest must be the one
asked for. Anything wrong, or a cache folder that cannot be read or written, is treated as a miss and
reported with one structlog warning per cache (never a traceback); the scan proceeds as if uncached.

One fetch per digest at a time (``claim_image`` / ``settle_image``): the cells of an organisation scan run at
once, share the process's one cache (``open_cache``) and often meet the same images (one upstream image cached
in every account and Region). The first caller to look a manifest digest up owns it until it settles it with
what it fetched; a caller arriving meanwhile gets a future of that answer instead of a miss, and the collector
puts such a ref aside and takes the answer at the end rather than calling ``BatchGetImage`` again. An owner
that found nothing storable hands on None, and the next caller fetches for itself.

Bounded: at most ``max_entries`` files and ``max_bytes`` bytes (50,000 and 64 MiB by default); when
either is passed, the entries written longest ago (file mtime; a hit refreshes it at most once a day)
are removed until both are under 90 % of their bound.

The CLI turns the cache on (``scan --cache DIR``, default ``default_root()``, ``--no-cache``) and passes the
folder to ``scan_live``/``scan_org`` (``digest_cache=``), which put it in ``CollectOptions.digest_cache``.
The library default (``CollectOptions()``) and the Lambda keep it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor import manifests
from auditor.errors import InputError
from auditor.files import read_bytes
from auditor.models import ImagePlatforms

log = structlog.get_logger("auditor.digest_cache")

# 2: entries carry the image-runnable facts (entrypoint, env NAMES, sizes); 3: an index's entry carries its
# linux/amd64 image's facts. Entries of another schema are misses (fetched again), never read as "no entrypoint".
SCHEMA = 3
MAX_ENTRIES = 50_000
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BYTES = 64 * 1024  # an index of a few hundred platforms is < 16 KiB
_TOUCH_AFTER = 86_400.0  # seconds: a hit refreshes an entry's age at most once a day
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_PLATFORM = re.compile(r"^[A-Za-z0-9._-]{1,64}(/[A-Za-z0-9._-]{1,64}){1,2}$")
_KINDS = ("m", "c")


def default_root() -> Path:
    """``$XDG_CACHE_HOME/omics-ecr-audit/digests``, else ``~/.cache/omics-ecr-audit/digests``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "omics-ecr-audit" / "digests"


# --- the CLI's choice, read by auditor.scan.collect_options ---------------------------------

# --- entries ------------------------------------------------------------------------------


class _ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: int = Field(alias="schema")
    digest: str
    image: ImagePlatforms


class _ConfigEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: int = Field(alias="schema")
    digest: str
    facts: manifests.ConfigFacts


def _hex(digest: str | None) -> str | None:
    match = _DIGEST.match(digest or "")
    return match.group(1) if match else None


def manifest_is_cacheable(resp: dict[str, Any], image: ImagePlatforms) -> bool:
    """True when ``image`` (what the collector made of one image of a BatchGetImage ``resp``) is a
    complete answer that depends only on the manifest's own bytes: they hash to its digest, it exists,
    and, for an index, it names every child's platform itself."""
    if not image.exists or _hex(image.digest) is None:
        return False
    for item in resp.get("images", []) if isinstance(resp, dict) else []:
        if not isinstance(item, dict) or (item.get("imageId") or {}).get("imageDigest") != image.digest:
            continue
        text = item.get("imageManifest")
        if not isinstance(text, str) or manifests.manifest_digest(text) != image.digest:
            return False
        try:
            info = manifests.parse_manifest(text, item.get("imageManifestMediaType"))
        except manifests.ManifestError:
            return False
        return not (info.kind == "index" and info.children_without_platform)
    return False


def config_is_cacheable(blob: bytes, config_digest: str) -> bool:
    return _hex(config_digest) is not None and "sha256:" + hashlib.sha256(blob).hexdigest() == config_digest


class DigestCache:
    """The on-disk cache at ``root`` (see the module docstring). Thread-safe; safe with other processes."""

    def __init__(self, root: Path, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.root = Path(root).expanduser()
        self.max_entries = max(1, max_entries)
        self.max_bytes = max(1, max_bytes)
        self._lock = threading.Lock()
        self._warned = False
        self._disabled = False  # the folder cannot be used at all: stop trying
        self._since_walk: int | None = None  # puts since the bounds were last checked; None: never checked
        self._check_every = max(1, self.max_entries // 20)
        # manifest digest -> the answer its current owner will give (claim_image / settle_image)
        self._inflight: dict[str, Future[ImagePlatforms | None]] = {}
        self.stats = {"hits": 0, "misses": 0, "stored": 0, "ignored": 0, "evicted": 0, "shared": 0}

    # -- reading -----------------------------------------------------------------------------

    def image(self, digest: str | None) -> ImagePlatforms | None:
        """The platforms stored for manifest ``digest``, or None (not stored, or unusable)."""
        raw = self._read("m", digest)
        if raw is None or self._other_schema(raw):
            return None
        try:
            entry = _ManifestEntry.model_validate(raw)
            if entry.schema_ != SCHEMA or entry.digest != digest or entry.image.digest != digest:
                raise ValueError("entry is for another digest or schema")
            if not entry.image.exists or any(not _PLATFORM.match(p) for p in entry.image.platforms):
                raise ValueError("entry holds no usable platforms")
        except (ValidationError, ValueError) as exc:
            self._ignored("m", digest, exc)
            return None
        self._hit()
        return entry.image

    # -- one fetch per digest at a time (single-flight) ------------------------------------------

    def claim_image(self, digest: str) -> ImagePlatforms | Future[ImagePlatforms | None] | None:
        """Look ``digest`` up, so that concurrent scanners (the cells of an organisation scan, the threads of
        one) never fetch the same manifest at once.

        * ``ImagePlatforms``: the stored answer (a hit).
        * a ``Future``: another caller owns the digest now (it is reading the entry or fetching the manifest);
          its ``result()`` is what it found, or None if it found nothing storable: then fetch it yourself.
          Wait on it only after settling every digest you own, so that no two callers wait on each other.
        * None: the caller now owns the digest and must call :meth:`settle_image` (with what it fetched, or
          None) whatever happens, or the callers waiting on it wait for ever.
        """
        waiter: Future[ImagePlatforms | None] = Future()
        with self._lock:
            pending = self._inflight.get(digest)
            if pending is not None:
                self.stats["shared"] += 1
                return pending
            self._inflight[digest] = waiter
        try:
            known = self.image(digest)
        except BaseException:
            self.settle_image(digest, None)
            raise
        if known is not None:
            self._resolve(digest, known)
        return known

    def settle_image(self, digest: str, image: ImagePlatforms | None) -> None:
        """End the caller's claim on ``digest``: store ``image`` (a complete answer the caller checked with
        :func:`manifest_is_cacheable`) and hand it to the callers waiting; None hands them nothing."""
        try:
            if image is not None and image.digest == digest:
                self.put_image(image)
            else:
                image = None
        finally:
            self._resolve(digest, image)

    def _resolve(self, digest: str, image: ImagePlatforms | None) -> None:
        with self._lock:
            pending = self._inflight.pop(digest, None)
        if pending is not None and not pending.done():
            pending.set_result(image)

    def config_facts(self, digest: str | None) -> manifests.ConfigFacts | None:
        """The facts stored for config blob ``digest`` (platform, entrypoint, env names...), or None."""
        raw = self._read("c", digest)
        if raw is None or self._other_schema(raw):
            return None
        try:
            entry = _ConfigEntry.model_validate(raw)
            if entry.schema_ != SCHEMA or entry.digest != digest or not _PLATFORM.match(entry.facts.platform):
                raise ValueError("entry is for another digest or schema, or its platform is malformed")
        except (ValidationError, ValueError) as exc:
            self._ignored("c", digest, exc)
            return None
        self._hit()
        return entry.facts

    def config_platform(self, digest: str | None) -> str | None:
        """The platform stored for config blob ``digest``, or None."""
        facts = self.config_facts(digest)
        return None if facts is None else facts.platform

    def _other_schema(self, raw: dict[str, Any]) -> bool:
        """An entry an older (or newer) version wrote: a plain miss, fetched again, with no warning."""
        if raw.get("schema") == SCHEMA:
            return False
        with self._lock:
            self.stats["misses"] += 1
        return True

    def _read(self, kind: str, digest: str | None) -> Any:
        path = self._path(kind, digest)
        if path is None or self._disabled:
            return None
        try:
            os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            with self._lock:
                self.stats["misses"] += 1
            return None
        except OSError as exc:
            self._ignored(kind, digest, exc)
            return None
        try:
            data = read_bytes(path, "digest cache entry", max_bytes=MAX_ENTRY_BYTES)
        except InputError as exc:  # not a regular file, too large, unreadable; or just evicted by another process
            if not os.path.lexists(path):
                return None
            self._ignored(kind, digest, exc)
            return None
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self._ignored(kind, digest, exc)
            return None
        if not isinstance(value, dict):
            self._ignored(kind, digest, ValueError("entry is not a JSON object"))
            return None
        self._refresh(path)
        return value

    def _hit(self) -> None:
        with self._lock:
            self.stats["hits"] += 1

    def _refresh(self, path: Path) -> None:
        """Keep a used entry young, so eviction takes the entries unused longest (at most one write a day)."""
        try:
            if time.time() - path.stat().st_mtime > _TOUCH_AFTER:
                os.utime(path)
        except OSError:
            pass

    # -- writing -----------------------------------------------------------------------------

    def put_image(self, image: ImagePlatforms) -> None:
        """Store a complete answer (the caller checked it with :func:`manifest_is_cacheable`)."""
        # A platform the reader would refuse is not stored: it would be one warning and a refetch every scan.
        if image.exists and _hex(image.digest) and all(_PLATFORM.match(p) for p in image.platforms):
            entry = {"schema": SCHEMA, "digest": image.digest, "image": image.model_dump(mode="json")}
            self._write("m", image.digest, entry)

    def put_config_facts(self, digest: str, facts: manifests.ConfigFacts) -> None:
        """Store what a config blob says: only non-secret facts (``ConfigFacts`` holds env NAMES, never values)."""
        if _PLATFORM.match(facts.platform):
            entry = {"schema": SCHEMA, "digest": digest, "facts": facts.model_dump(mode="json")}
            self._write("c", digest, entry)

    def _write(self, kind: str, digest: str | None, entry: dict[str, Any]) -> None:
        path = self._path(kind, digest)
        if path is None or self._disabled:
            return
        data = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)  # atomic: a reader sees the old entry, or none, or this one whole
            tmp = None
        except OSError as exc:
            self._disabled = True  # an unwritable folder fails every write: say so once, then stop trying
            self._warn("the digest cache folder cannot be written; continuing without it", kind, digest, exc)
            return
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        with self._lock:
            self.stats["stored"] += 1
            walk = self._since_walk is None or self._since_walk + 1 >= self._check_every
            self._since_walk = 0 if walk else (self._since_walk or 0) + 1
        if walk:
            self.enforce_bounds()

    # -- bounds ------------------------------------------------------------------------------

    def enforce_bounds(self) -> int:
        """Remove the oldest entries while either bound is passed (down to 90 %); the number removed."""
        entries: list[tuple[float, int, str]] = []
        for kind in _KINDS:
            base = self.root / kind
            try:
                shards = list(os.scandir(base))
            except OSError:
                continue
            for shard in shards:
                try:
                    if not shard.is_dir(follow_symlinks=False):
                        continue
                    for item in os.scandir(shard.path):
                        if item.is_file(follow_symlinks=False):
                            info = item.stat(follow_symlinks=False)
                            entries.append((info.st_mtime, info.st_size, item.path))
                except OSError:
                    continue
        count, size = len(entries), sum(e[1] for e in entries)
        if count <= self.max_entries and size <= self.max_bytes:
            return 0
        keep_count, keep_size = int(self.max_entries * 0.9), int(self.max_bytes * 0.9)
        removed = 0
        for _, entry_size, path in sorted(entries):
            if count <= keep_count and size <= keep_size:
                break
            with contextlib.suppress(OSError):  # another process may have removed it first
                os.unlink(path)
                removed += 1
            count, size = count - 1, size - entry_size
        with self._lock:
            self.stats["evicted"] += removed
        log.info("digest_cache_evicted", removed=removed, entries=count, bytes=size)
        return removed

    # -- helpers -----------------------------------------------------------------------------

    def _path(self, kind: str, digest: str | None) -> Path | None:
        hex_ = _hex(digest)  # also what keeps a hostile "digest" from naming a path outside the cache
        return None if hex_ is None else self.root / kind / hex_[:2] / f"{hex_}.json"

    def _ignored(self, kind: str, digest: str | None, exc: BaseException) -> None:
        with self._lock:
            self.stats["ignored"] += 1
        self._warn("a digest cache entry is unreadable or corrupt; ignored and fetched again", kind, digest, exc)

    def _warn(self, event: str, kind: str, digest: str | None, exc: BaseException) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
        if first:  # one warning per cache; later problems only count in stats["ignored"]
            what = "manifest" if kind == "m" else "config blob"
            log.warning(
                "digest_cache_problem",
                problem=event,
                entry=f"{what} {digest}",
                reason=" ".join(f"{type(exc).__name__}: {exc}".split())[:300],
                cache=str(self.root),
                hint="scan --cache DIR picks another folder, --no-cache turns the cache off",
            )


_OPEN: dict[Path, DigestCache] = {}
_OPEN_LOCK = threading.Lock()


def open_cache(root: Path) -> DigestCache:
    """The process's one DigestCache for ``root``: the cells of a scan share its warning and bounds."""
    key = Path(root).expanduser().absolute()
    with _OPEN_LOCK:
        cache = _OPEN.get(key)
        if cache is None:
            cache = _OPEN[key] = DigestCache(key)
        return cache
