"""What the nightly Lambda keeps in its bucket from one run to the next.

* **The digest cache** (``auditor.digest_cache``): the CLI keeps it in a folder; a Lambda's ``/tmp`` lasts
  only as long as its execution environment. So the function restores the folder from one gzipped JSON
  bundle, ``digest-cache/digests.json.gz``, before it scans, and writes the folder back after (merged with
  what other invocations wrote meanwhile: concurrent cells of a Step Functions map each add their
  entries; a race loses entries, never correctness, since a missing entry is only a miss). The bundle is
  untrusted input: bounded in size, every path checked against the cache's own layout, every entry
  validated again by the cache when it is read.
* **Each cell's last inventory** (``inventory/<account>/<region>.json``), for incremental scans
  (``INCREMENTAL_FULL_AFTER_DAYS``, ``auditor.incremental``): read before the scan (a missing, oversized or
  malformed one means a full scan of that cell, with a warning), written after.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import ValidationError

from auditor import digest_cache
from auditor.models import Snapshot

log = structlog.get_logger("auditor.lambda_state")

DIGEST_BUNDLE_KEY = "digest-cache/digests.json.gz"
BUNDLE_LIMIT = 32 * 1024 * 1024  # compressed bytes read back
BUNDLE_UNPACKED_LIMIT = digest_cache.MAX_BYTES  # what the local cache itself allows
INVENTORY_LIMIT = 64 * 1024 * 1024  # one cell's inventory (a snapshot of ~10,000 repositories is ~20 MiB)
_ENTRY_PATH = re.compile(r"^[mc]/[0-9a-f]{2}/[0-9a-f]{64}\.json$")


class Bucket(Protocol):
    """The part of the Lambda's context used here (auditor.lambda_handler.Context)."""

    def put_bytes(self, key: str, body: bytes, content_type: str) -> str: ...

    def get_bytes(self, key: str, limit: int) -> bytes | None: ...


# --- the digest cache ---------------------------------------------------------------------


def digest_folder() -> Path:
    """The function's local cache folder (kept across invocations of a warm execution environment)."""
    return Path(tempfile.gettempdir()) / "omics-ecr-audit" / "digests"


def _read_bundle(bucket: Bucket) -> dict[str, str]:
    """The bundle's entries (relative path -> JSON text); empty when missing or unusable (with a warning)."""
    try:
        packed = bucket.get_bytes(DIGEST_BUNDLE_KEY, BUNDLE_LIMIT)
    except Exception as exc:  # a cache that cannot be read or written is a miss, never a failed run
        log.warning("digest_bundle_unreadable", reason=type(exc).__name__)
        return {}
    if packed is None:
        return {}
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as stream:
            raw = stream.read(BUNDLE_UNPACKED_LIMIT + 1)
        if len(raw) > BUNDLE_UNPACKED_LIMIT:
            raise ValueError("larger than the cache's own bound")
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("entries"), dict):
            raise ValueError("not a digest bundle")
    except (OSError, EOFError, ValueError, RecursionError) as exc:
        log.warning("digest_bundle_ignored", reason=str(exc)[:200])
        return {}
    entries = doc["entries"]
    good = {
        path: text
        for path, text in entries.items()
        if isinstance(path, str)
        and _ENTRY_PATH.fullmatch(path)
        and isinstance(text, str)
        and len(text) <= digest_cache.MAX_ENTRY_BYTES
    }
    if len(good) != len(entries):
        log.warning("digest_bundle_entries_skipped", skipped=len(entries) - len(good))
    return good


def restore_digests(bucket: Bucket, folder: Path | None = None) -> Path:
    """Write the bundle's entries into the local cache folder (those not there already); returns the folder."""
    root = folder or digest_folder()
    for path, text in _read_bundle(bucket).items():
        target = root / path
        if target.exists():
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        except OSError as exc:
            log.warning("digest_cache_problem", reason=type(exc).__name__)
            break
    return root


def _local_entries(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    total = 0
    for kind in ("m", "c"):
        for file in sorted((root / kind).glob("*/*.json")) if (root / kind).is_dir() else []:
            path = file.relative_to(root).as_posix()
            if not _ENTRY_PATH.fullmatch(path) or not file.is_file() or file.is_symlink():
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            total += len(text)
            if len(text) > digest_cache.MAX_ENTRY_BYTES or total > BUNDLE_UNPACKED_LIMIT:
                continue
            out[path] = text
    return out


def save_digests(bucket: Bucket, folder: Path | None = None) -> int:
    """Merge the local folder into the bundle and write it back; returns the entries written (0: unchanged)."""
    root = folder or digest_folder()
    local = _local_entries(root)
    stored = _read_bundle(bucket)
    if not set(local) - set(stored):
        return 0
    merged = stored | local
    # The same bound as the local cache: past it, the bundle keeps the local entries first.
    entries: dict[str, str] = {}
    size = 0
    for path, text in [*local.items(), *((p, t) for p, t in stored.items() if p not in local)]:
        if len(entries) >= digest_cache.MAX_ENTRIES or size + len(text) > BUNDLE_UNPACKED_LIMIT:
            break
        entries[path] = text
        size += len(text)
    body = gzip.compress(json.dumps({"schema": 1, "entries": entries}, sort_keys=True).encode(), mtime=0)
    try:
        bucket.put_bytes(DIGEST_BUNDLE_KEY, body, "application/gzip")
    except Exception as exc:  # a cache that cannot be read or written is a miss, never a failed run
        log.warning("digest_bundle_not_written", reason=type(exc).__name__)
        return 0
    log.info("digest_bundle_written", entries=len(entries), merged=len(merged))
    return len(entries)


# --- each cell's last inventory --------------------------------------------------------------


def inventory_key(account: str, region: str) -> str:
    return f"inventory/{account}/{region}.json"


def previous_inventory(bucket: Bucket, cells: Iterable[tuple[str, str]]) -> list[Snapshot]:
    """The last saved snapshot of each cell that has a usable one."""
    out: list[Snapshot] = []
    for account, region in cells:
        key = inventory_key(account, region)
        try:
            data = bucket.get_bytes(key, INVENTORY_LIMIT)
            if data is None:
                continue
            snap = Snapshot.model_validate_json(data)
        except ValidationError as exc:
            log.warning("inventory_ignored", key=key, problems=exc.error_count())
            continue
        except Exception as exc:  # oversized or unreadable: this cell is read in full
            log.warning("inventory_ignored", key=key, reason=str(exc)[:200])
            continue
        if (snap.account_id, snap.region) != (account, region):
            log.warning("inventory_ignored", key=key, reason="the snapshot is of another cell")
            continue
        out.append(snap)
    return out


def save_inventory(bucket: Bucket, snapshots: Iterable[Snapshot]) -> list[str]:
    keys = []
    for snap in snapshots:
        key = inventory_key(snap.account_id, snap.region)
        bucket.put_bytes(key, snap.model_dump_json().encode(), "application/json")
        keys.append(key)
    return keys
