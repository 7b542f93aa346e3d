"""One reader for the tool's own input files (inventory, config, suppressions, findings, plan, backup,
registry map, parameters).

Every such file is untrusted once it has been on disk: a user may point at a FIFO, ``/dev/zero``, a
4 GiB file, a file that is not UTF-8, JSON nested ten thousand deep or an integer of a million digits,
or a YAML alias bomb. Each of those becomes one line naming the file and the problem, raised as the
caller's error type (all of them map to exit code 2), never a traceback, a hang or a MemoryError:

* only a regular file is read (opened non-blocking, so a FIFO cannot hang the open; checked with
  ``fstat`` on the opened descriptor, so a swap between check and read changes nothing);
* at most ``MAX_INPUT_BYTES`` are read for findings documents and inventories, ``MAX_SMALL_INPUT_BYTES``
  for everything written by hand or by ``fix`` (``OMICS_ECR_AUDIT_MAX_INPUT_MB`` lowers both, or raises the
  first);
* the text must be UTF-8;
* JSON and YAML are parsed with the syntax error's line and column, integers beyond Python's
  4,300-digit limit and non-finite numbers refused, and nesting deeper than ``MAX_DEPTH`` refused;
* YAML is read with a safe loader that refuses a document whose aliases expand it past
  ``MAX_YAML_NODES`` nodes (a 700-byte alias bomb expands to billions for whatever walks it next)
  and recursive anchors.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from auditor.errors import InputError

M = TypeVar("M", bound=BaseModel)

MIB = 1024 * 1024
# Large enough for the findings document of a 50-account organisation and the inventory of 30,000
# repositories; small enough that a mistaken path to a disk image fails fast.
MAX_INPUT_BYTES = 512 * MIB
# Hand-written files (config, suppressions, parameters, registry maps) and plans/backups are small.
MAX_SMALL_INPUT_BYTES = 16 * MIB
MAX_DEPTH = 100  # policies and findings nest < 15 deep; anything near 100 is hostile or broken


def max_input_bytes(small: bool = False) -> int:
    """The read limit: MAX_INPUT_BYTES (MAX_SMALL_INPUT_BYTES for ``small`` files), or the environment's lower one."""
    limit = MAX_SMALL_INPUT_BYTES if small else MAX_INPUT_BYTES
    raw = os.environ.get("OMICS_ECR_AUDIT_MAX_INPUT_MB", "").strip()
    if raw.isdigit():
        return min(limit, max(1, int(raw)) * MIB) if small else max(1, int(raw)) * MIB
    return limit


def _error(error: type[Exception], message: str) -> Exception:
    return error(" ".join(message.split()))  # one line, whatever the OS message held


def read_bytes(
    path: str | Path,
    what: str,
    *,
    max_bytes: int | None = None,
    small: bool = False,
    error: type[Exception] = InputError,
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` (default: ``max_input_bytes(small)``)."""
    p = Path(path).expanduser()
    limit = max_input_bytes(small) if max_bytes is None else max_bytes
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _error(error, f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise _error(error, f"{p}: cannot read {what}: {kind}")
        if info.st_size > limit:
            raise _error(error, f"{p}: {what} is larger than {limit // MIB} MiB ({info.st_size} bytes); not read")
        data = read_at_most(fd, limit)
        if data is None:  # the file grew while being read
            raise _error(error, f"{p}: {what} is larger than {limit // MIB} MiB; not read")
        return data
    except OSError as exc:
        raise _error(error, f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_at_most(fd: int, limit: int) -> bytes | None:
    """Everything the open descriptor holds, or None as soon as it holds more than ``limit`` bytes.

    The size ``fstat`` reported is only a hint (a file may grow, a device has none): the read itself is bounded.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(MIB, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def read_text(
    path: str | Path,
    what: str,
    *,
    max_bytes: int | None = None,
    small: bool = False,
    error: type[Exception] = InputError,
) -> str:
    data = read_bytes(path, what, max_bytes=max_bytes, small=small, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(error, f"{Path(path)}: {what} is not UTF-8 text (byte {exc.start})") from None


# --- parsing ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_depth(value: Any, where: str, what: str, error: type[Exception] = InputError) -> Any:
    """``value`` unchanged, or ``error`` when containers nest deeper than MAX_DEPTH (walked iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise _error(error, f"{where}: {what} nests deeper than {MAX_DEPTH} levels; not read")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


def parse_json(text: str, where: str, what: str, error: type[Exception] = InputError) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}"
        raise _error(error, f"{where}: {what} is not valid JSON ({at}): {exc.msg}") from None
    except RecursionError:
        raise _error(error, f"{where}: {what} nests too deeply; not read") from None
    except ValueError as exc:  # an integer past the 4,300-digit limit, NaN/Infinity
        raise _error(error, f"{where}: {what} is not valid JSON: {str(exc)[:120]}") from None
    return check_depth(value, where, what, error)


MAX_YAML_NODES = 1_000_000  # nodes after alias expansion; a large CWL workflow has a few thousand


class BoundedSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses alias bombs and recursive anchors.

    PyYAML shares an aliased node instead of copying it, so the bomb goes off in whatever walks the
    result next (validation, JSON output). The composed graph is therefore measured as it would be
    expanded, before anything is constructed from it.
    """

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            size = _expanded_size(node)
            if size > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"expands to more than {MAX_YAML_NODES} nodes through aliases", node.start_mark
                )
        return node


def _expanded_size(root: Any) -> int:
    """Nodes of the graph with every alias expanded (memoised per node; a cycle counts as infinite)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            sizes[key] = min(MAX_YAML_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in sizes:
            continue
        if key in on_path:
            return MAX_YAML_NODES + 1  # a recursive anchor never finishes expanding
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                return MAX_YAML_NODES + 1
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(
    text: str, where: str, what: str, error: type[Exception] = InputError, loader: type[Any] = BoundedSafeLoader
) -> Any:
    try:
        value = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise _error(error, f"{where}: {what} is not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise _error(error, f"{where}: {what} nests too deeply; not read") from None
    except ValueError as exc:  # an integer past the 4,300-digit limit
        raise _error(error, f"{where}: {what} is not valid YAML: {str(exc)[:120]}") from None
    return check_depth(value, where, what, error)


def load_data(
    path: str | Path,
    what: str,
    *,
    error: type[Exception] = InputError,
    yaml_ok: bool = True,
    small: bool = True,
    yaml_loader: type[Any] | None = None,
) -> Any:
    """A JSON (``.json``) or YAML (anything else, when ``yaml_ok``) file, read and parsed under every limit above.

    ``small``: a hand-written file (config, suppressions, parameters, map): the lower size limit applies.
    """
    p = Path(path).expanduser()
    text = read_text(p, what, small=small, error=error)
    if p.suffix.lower() == ".json" or not yaml_ok:
        return parse_json(text, str(p), what, error)
    return parse_yaml(text, str(p), what, error, loader=yaml_loader or BoundedSafeLoader)


# --- pydantic documents ---------------------------------------------------------------------


def model_from_text(text: str, model: type[M], where: str, what: str, error: type[Exception]) -> M:
    data = parse_json(text, where, what, error)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise _error(error, f"{where}: not a valid {what} at {loc}: {first['msg']}") from None


def load_model(path: str | Path, model: type[M], what: str, error: type[Exception], *, small: bool = False) -> M:
    """``model`` from the JSON file at ``path``; ``error`` (never a traceback) when unreadable or invalid."""
    return model_from_text(read_text(path, what, small=small, error=error), model, str(path), what, error)
