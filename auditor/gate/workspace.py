"""The one way the gate opens a file of a workflow: the workflow folder is hostile input.

A workflow folder or zip comes from whoever opened the pull request. The gate copies what it
reads into its JSON/SARIF output (expressions, error lines), so a symlink ``main.nf ->
/etc/passwd`` would publish that file, a FIFO would hang the CI job and ``/dev/zero`` or a 4 GiB
file would end in a MemoryError. Every extractor therefore reads through :class:`Workspace`:

* the path is resolved with ``os.path.realpath`` and must stay inside the (realpath'd) root, so a
  symlink, a ``..`` import or an absolute include leaving the folder is refused before any open;
* the file is opened non-blocking (a FIFO cannot hang the open) without following a final symlink,
  and ``fstat`` on the descriptor must say "regular file", so a swap between the check and the
  open changes nothing;
* at most ``max_file_bytes`` are read per file, and ``max_total_bytes`` per gate run (one
  :class:`Workspace` is shared by the extractors of a run; each distinct file counts once).

A refusal is a :class:`Refused` carrying the path relative to the root and a one-line reason; the
extractors turn it into an :class:`~auditor.gate.containers.ExtractionError` (a ``gate-extraction``
finding). The refused file's content is never read, so it cannot be echoed.

The limits are a :class:`GateLimits`; the CLI takes them from ``OMICS_ECR_AUDIT_GATE_MAX_FILE_MB``
and ``OMICS_ECR_AUDIT_GATE_MAX_TOTAL_MB``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auditor.files import MIB, read_at_most


def _env_mib(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return max(1, int(raw)) * MIB if raw else default
    except ValueError:  # a typo in CI configuration must not turn the limit off
        return default


@dataclass(frozen=True)
class GateLimits:
    """How much of a workflow the gate reads. Real workflows are a few MiB; these leave room and stop abuse."""

    max_file_bytes: int = 10 * MIB  # the largest nf-core module or packed CWL is well under 1 MiB
    max_total_bytes: int = 200 * MIB  # per gate run, all files (and a zip's uncompressed size)
    max_zip_entries: int = 10_000
    max_zip_ratio: int = 100  # uncompressed:compressed of one entry, checked for entries over 1 MiB
    max_include_depth: int = 16  # Nextflow includeConfig / CWL $import nesting

    @classmethod
    def from_env(cls) -> GateLimits:
        base = cls()
        return cls(
            max_file_bytes=_env_mib("OMICS_ECR_AUDIT_GATE_MAX_FILE_MB", base.max_file_bytes),
            max_total_bytes=_env_mib("OMICS_ECR_AUDIT_GATE_MAX_TOTAL_MB", base.max_total_bytes),
        )


def describe_size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


class Refused(Exception):
    """A workflow file the gate will not read: ``rel`` (relative to the root) and a one-line ``reason``."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(f"{rel}: {reason}")
        self.rel = rel
        self.reason = reason


@dataclass
class Workspace:
    """A workflow root and the read budget of one gate run."""

    root: Path
    limits: GateLimits = field(default_factory=GateLimits.from_env)
    total: int = 0
    _counted: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.root = Path(os.path.abspath(self.root))
        self.real_root = os.path.realpath(self.root)

    # --- where ------------------------------------------------------------------------------

    def real_inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def inside(self, path: str | Path) -> bool:
        """Whether ``path`` (symlinks resolved) is the root or under it."""
        return self.real_inside(os.path.realpath(self._absolute(path)))

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the root as given (lexically), else to the real root, else as is."""
        p = self._absolute(path)
        for base in (str(self.root), self.real_root):
            rel = os.path.relpath(p, base)
            if not rel.startswith(".."):
                return Path(rel).as_posix()
        return Path(p).as_posix()

    def _absolute(self, path: str | Path) -> str:
        p = os.fspath(path)
        return os.path.normpath(p if os.path.isabs(p) else os.path.join(self.root, p))

    def walk(self, skip: frozenset[str] | set[str] = frozenset()) -> Iterator[Path]:
        """Every file name under the root, sorted, never descending a directory symlink (no escape, no loop).

        Names only: a listed file may still be a symlink or a FIFO; :meth:`read_bytes` decides.
        """
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in skip)
            for name in sorted(filenames):
                yield Path(dirpath) / name

    # --- reading ----------------------------------------------------------------------------

    def check(self, path: str | Path) -> str:
        """The real path of a readable workflow file (without opening it); :class:`Refused` otherwise."""
        p = self._absolute(path)
        rel = self.rel(p)
        real = os.path.realpath(p)
        if not self.real_inside(real):
            # Written inside the folder but resolving outside it: a symlink (of the file or a folder on its way).
            lexical = any(not os.path.relpath(p, base).startswith("..") for base in (str(self.root), self.real_root))
            reason = "symlink leaves the workflow folder" if lexical else "outside the workflow folder"
            raise Refused(rel, f"{reason}; not read")
        try:
            info = os.stat(real)
        except OSError as exc:
            raise Refused(rel, f"cannot read: {exc.strerror or exc}") from None
        self._check_stat(rel, info)
        return real

    def _check_stat(self, rel: str, info: os.stat_result) -> None:
        if stat.S_ISDIR(info.st_mode):
            raise Refused(rel, "a folder, not a file; not read")
        if not stat.S_ISREG(info.st_mode):
            raise Refused(rel, "not a regular file (a FIFO, device or socket); not read")
        limit = self.limits.max_file_bytes
        if info.st_size > limit:
            raise Refused(rel, f"larger than {describe_size(limit)} ({info.st_size} bytes); not read")

    def read_bytes(self, path: str | Path) -> bytes:
        """The bytes of the workflow file at ``path`` under every rule of the module docstring."""
        real = self.check(path)
        rel = self.rel(path)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags)
        except OSError as exc:  # ELOOP: the checked path became a symlink since
            raise Refused(rel, f"cannot read: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            self._check_stat(rel, info)  # the descriptor, not the name: a swap after check() changes nothing
            limit = self.limits.max_file_bytes
            counted = real in self._counted
            if not counted and self.total + info.st_size > self.limits.max_total_bytes:
                raise Refused(
                    rel,
                    f"the workflow's files exceed {describe_size(self.limits.max_total_bytes)} in all; not read",
                )
            data = read_at_most(fd, limit)
            if data is None:  # grew while being read
                raise Refused(rel, f"larger than {describe_size(limit)}; not read")
            if not counted:
                self._counted.add(real)
                self.total += len(data)
            return data
        except OSError as exc:
            raise Refused(rel, f"cannot read: {exc.strerror or exc}") from None
        finally:
            os.close(fd)


__all__ = ["MIB", "GateLimits", "Refused", "Workspace", "describe_size"]
