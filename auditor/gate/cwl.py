"""CWL: every ``DockerRequirement`` a workflow folder declares, with the file and line it is written on.

Approach
    Every ``.cwl``, ``.yml``, ``.yaml`` and ``.json`` file under the root (``.git``, ``node_modules`` and virtualenv
    or cache folders skipped) is *composed* with PyYAML — the node tree, not the constructed Python objects — so each
    value keeps its ``start_mark`` and is reported at its own 1-based line. JSON-format CWL is read by the same parser
    (JSON is YAML; tab indentation, which YAML forbids, is retried as spaces). PyYAML is used rather than
    ruamel.yaml because it is a declared dependency of the project (ruamel.yaml is only present through miniwdl) and
    its node tree carries all the line information needed.

    A document is CWL when its top level is a mapping with ``cwlVersion``, a process ``class``
    (CommandLineTool, ExpressionTool, Workflow, Operation) or a ``$graph``; anything else (job files, CI configs,
    ``.github/*``, fragments meant to be ``$import``-ed) is skipped silently. Only the structural places a
    container can be named are read — never ``doc``, ``label`` or comments:

    * ``requirements`` and ``hints`` of every process, in list form (``- class: DockerRequirement``) and map form
      (``DockerRequirement: {...}``), of a Workflow (reported where written, context ``workflow <file>``), of its
      steps (context ``workflow <file>#<step>``), of inline ``run:`` processes (context ``tool <file>#<step>``,
      nested steps as ``#sub/inner``) and of ``$graph`` entries (``tool <file>#<id>``, ``workflow <file>#main``);
    * ``$import`` (a whole requirements list or map, one list item — an imported list is spliced in —, a
      ``DockerRequirement`` body, a step, a ``run:`` process) and ``$include`` (``dockerPull: {$include: f}``: the
      file's text, stripped), resolved relative to the including file; the reference is reported at the file and line
      where the value is written (the imported file), with the context of the process that uses it;
    * ``run: path.cwl`` targets are ordinary files: they are scanned on their own (also when their name or folder
      would not be walked), and a missing one is an error.

    ``dockerPull`` gives ``raw``. Without it, ``dockerFile``, ``dockerLoad``, ``dockerImport`` or ``dockerImageId``
    is still reported, with ``raw=None`` and ``unresolved`` saying why HealthOmics cannot use it. A ``dockerPull``
    with a parameter reference is resolved only when every reference is a plain ``$(inputs.NAME)`` (or
    ``$(inputs['NAME'])``) and ``params`` (the job / inputs document) holds a string or number for each NAME; any
    other reference and every ``${...}`` JavaScript body stays unresolved.

    A reference is reported once per (file, line, using tool): a fragment ``$import``ed by two tools is reported for
    each, so every tool's container is listed with its own context. Results are sorted by file, line, context.

Errors (an :class:`ExtractionError`, extraction continues)
    YAML syntax errors (with the line), invalid UTF-8, unreadable files, a missing / remote / out-of-root ``$import``,
    ``$include`` or ``run:`` target (with the line of the reference) and ``$import`` cycles. For ``.yml``, ``.yaml``
    and ``.json`` files a parse error is reported only when the text mentions ``cwlVersion`` or a process class, so a
    broken CI config or Helm template does not fail the gate; a ``.cwl`` file is always reported.

Hostile folders
    Every file is read through :class:`~auditor.gate.workspace.Workspace` (inside the root after symlinks, a regular
    file, size limits); a refused ``.cwl`` file or ``$import`` / ``$include`` / ``run:`` target is an error naming the
    file and the reason, and its content is never read. Documents are composed with a
    :class:`~auditor.files.BoundedSafeLoader` subclass (alias expansion bounded, recursive anchors refused) that also
    refuses nesting deeper than ``MAX_DEPTH``; ``$import`` chains are followed ``max_include_depth`` files deep.

Limits
    * No schema-salad processing beyond ``$import`` / ``$include``: ``$mixin``, ``$base``, vocabulary terms and
      ``$namespaces``-prefixed classes (other than a ``...#DockerRequirement`` full URI) are not expanded, and an
      ``$import`` with a ``#fragment`` is reported as unsupported.
    * Remote ``run:`` / ``$import`` targets (``https://...``) are not fetched; each is an error, since its containers
      cannot be checked.
    * A parameter reference is looked up by NAME in ``params`` as given (the top-level job); renaming of inputs
      through workflow steps and input ``default`` values are not followed.
    * Requirement inheritance is not computed: a Workflow-level requirement is reported once, where it is written,
      not once per step it applies to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from auditor.files import MAX_DEPTH, BoundedSafeLoader
from auditor.gate.containers import ContainerRef, Extraction, ExtractionError
from auditor.gate.workspace import Refused, Workspace

SUFFIXES = frozenset({".cwl", ".yml", ".yaml", ".json"})
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"})
PROCESS_CLASSES = frozenset({"CommandLineTool", "ExpressionTool", "Workflow", "Operation"})
DOCKER_REQUIREMENT = "DockerRequirement"

_NULL_TAG = "tag:yaml.org,2002:null"
_LOOKS_CWL = re.compile(r"cwlVersion|\bclass\b\W{1,6}(?:CommandLineTool|ExpressionTool|Workflow|Operation)\b")
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PARAM_REF = re.compile(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_SIMPLE_INPUT = re.compile(r"^\s*inputs(?:\.([A-Za-z_]\w*)|\[\s*(['\"])([^'\"]+)\2\s*\])\s*$")

_NOT_PULLABLE = {
    "dockerFile": "dockerFile builds the image locally from a Dockerfile; HealthOmics needs a pullable image "
    "(dockerPull) in a private ECR repository",
    "dockerLoad": "dockerLoad loads the image from a local archive; HealthOmics needs a pullable image (dockerPull)",
    "dockerImport": "dockerImport imports the image from a local archive; HealthOmics needs a pullable image "
    "(dockerPull)",
    "dockerImageId": "dockerImageId names a local image id without dockerPull; HealthOmics needs a pullable image",
}


class _Loader(BoundedSafeLoader):
    """The project's bounded safe loader (alias bombs, recursive anchors), plus a nesting bound.

    The composed graph shares aliased nodes and has no cycles once the parent's check passed, so the
    height is memoised per node: a bomb's billions of paths are never walked one by one.
    """

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None and _height(node) > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nests deeper than {MAX_DEPTH} levels", node.start_mark)
        return node


def _height(root: Node) -> int:
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _node_children(node)
        if done:
            heights[id(node)] = 1 + max((heights[id(c)] for c in children), default=0)
        elif id(node) not in heights:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in heights)
    return heights[id(root)]


def _node_children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


class _LoadFailed(Exception):
    """A document could not be read or parsed; ``error`` says where and why."""

    def __init__(self, error: ExtractionError, looks_cwl: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.looks_cwl = looks_cwl


@dataclass
class _State:
    root: Path
    params: dict[str, Any]
    ws: Workspace
    containers: dict[tuple[str, int, str], ContainerRef] = field(default_factory=dict)
    errors: dict[tuple[str, int | None, str], ExtractionError] = field(default_factory=dict)
    docs: dict[Path, list[Node] | _LoadFailed] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)
    processed: set[Path] = field(default_factory=set)
    queue: list[Path] = field(default_factory=list)


def extract(root: Path, params: dict[str, Any] | None = None, *, workspace: Workspace | None = None) -> Extraction:
    """Every container the CWL documents under ``root`` name; never raises for a bad workflow file."""
    root_abs = Path(os.path.abspath(root))
    state = _State(root=root_abs, params=dict(params or {}), ws=workspace or Workspace(root_abs))
    for path in _walk(state.ws):
        _process_file(state, path, forced=False)
    while state.queue:  # run: targets the walk did not cover (other suffix, skipped folder)
        pending = sorted(set(state.queue))
        state.queue.clear()
        for path in pending:
            _process_file(state, path, forced=True)
    containers = sorted(state.containers.values(), key=lambda c: (c.file, c.line, c.context))
    errors = sorted(state.errors.values(), key=lambda e: (e.file, e.line or 0, e.message))
    return Extraction(language="cwl", root=str(root), containers=containers, errors=errors)


# ---------------------------------------------------------------------------------------------------------------- files


def _walk(ws: Workspace) -> Iterator[Path]:
    for path in ws.walk(SKIP_DIRS):
        if path.suffix.lower() in SUFFIXES:
            yield path


def _rel(state: _State, path: Path) -> str:
    return Path(os.path.relpath(path, state.root)).as_posix()


def _inside(state: _State, path: Path) -> bool:
    return not os.path.relpath(path, state.root).startswith("..")


def _error(state: _State, file: str, line: int | None, message: str) -> None:
    state.errors.setdefault((file, line, message), ExtractionError(file=file, line=line, message=message))


def _read_text(state: _State, path: Path) -> str:
    """The file's text; raises :class:`_LoadFailed` when it cannot be read or is not UTF-8."""
    if path in state.texts:
        return state.texts[path]
    rel = _rel(state, path)
    try:
        data = state.ws.read_bytes(path)
    except Refused as refused:
        # Reported unless it is only too large to be a tool (a data .json beside the workflow); a .cwl
        # file or a referenced target is reported whatever the reason (see _process_file).
        looks = not refused.reason.startswith("larger than")
        raise _LoadFailed(ExtractionError(file=rel, message=refused.reason), looks) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        looks = _LOOKS_CWL.search(data.decode("utf-8", "replace")) is not None
        raise _LoadFailed(
            ExtractionError(file=rel, line=line, message=f"not valid UTF-8: {exc.reason}"), looks
        ) from exc
    state.texts[path] = text
    return text


def _load(state: _State, path: Path) -> list[Node]:
    """The composed YAML documents of ``path`` (cached); raises :class:`_LoadFailed`."""
    cached = state.docs.get(path)
    if isinstance(cached, _LoadFailed):
        raise cached
    if cached is not None:
        return cached
    try:
        text = _read_text(state, path)
        docs = _compose(state, path, text)
    except _LoadFailed as failed:
        state.docs[path] = failed
        raise
    state.docs[path] = docs
    return docs


def _compose(state: _State, path: Path, text: str) -> list[Node]:
    try:
        return _compose_all(text)
    except RecursionError:  # PyYAML composes recursively: thousands of nested flow brackets
        raise _LoadFailed(
            ExtractionError(file=_rel(state, path), message=f"nests deeper than {MAX_DEPTH} levels; not read"), True
        ) from None
    except yaml.YAMLError as exc:
        if text.lstrip().startswith(("{", "[")) and "\t" in text:
            try:  # JSON indented with tabs: a raw tab cannot occur inside a JSON string, so spaces are equivalent
                return _compose_all(text.replace("\t", " "))
            except (yaml.YAMLError, RecursionError):
                pass
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        if line is None and isinstance(exc, yaml.reader.ReaderError):
            line = text.count("\n", 0, exc.position) + 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        bounded = isinstance(exc, yaml.composer.ComposerError) and problem.startswith(("expands to", "nests deeper"))
        label = "YAML refused" if bounded else "YAML syntax error"  # a bomb is well-formed, just hostile
        message = f"{label}: {context + ': ' if context else ''}{problem}"
        raise _LoadFailed(
            ExtractionError(file=_rel(state, path), line=line, message=message), bool(_LOOKS_CWL.search(text))
        ) from exc


def _compose_all(text: str) -> list[Node]:
    return [doc for doc in yaml.compose_all(text, Loader=_Loader) if doc is not None]


def _process_file(state: _State, path: Path, *, forced: bool) -> None:
    if path in state.processed:
        return
    state.processed.add(path)
    is_cwl_suffix = path.suffix.lower() == ".cwl"
    if not forced and not is_cwl_suffix:
        try:  # cheap pre-filter: a data file or CI config never needs a YAML parse
            text = _read_text(state, path)
        except _LoadFailed as failed:
            if failed.looks_cwl:
                _error(state, failed.error.file, failed.error.line, failed.error.message)
            return
        if not _LOOKS_CWL.search(text):
            return
    try:
        docs = _load(state, path)
    except _LoadFailed as failed:
        if forced or is_cwl_suffix or failed.looks_cwl:
            _error(state, failed.error.file, failed.error.line, failed.error.message)
        return
    for doc in docs:
        if isinstance(doc, MappingNode) and _is_cwl_document(doc):
            _document(state, doc, path)


def _is_cwl_document(node: MappingNode) -> bool:
    keys = {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
    if "cwlVersion" in keys or "$graph" in keys:
        return True
    cls = _get(node, "class")
    return isinstance(cls, ScalarNode) and cls.value in PROCESS_CLASSES


# ------------------------------------------------------------------------------------------------------- node helpers


def _get(node: Node, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    found = None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            found = v  # the last one wins, as for a constructed mapping
    return found


def _scalar(node: Node | None) -> str | None:
    if isinstance(node, ScalarNode) and node.tag != _NULL_TAG:
        text: str = node.value  # a scalar node's value is its text (typed Any by types-PyYAML)
        return text
    return None


def _line(node: Node) -> int:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        line += 1  # a block scalar's text starts on the line after its indicator
    return line


def _frag(ident: str) -> str:
    return ident.rsplit("#", 1)[-1]


def _target(state: _State, ref: str, base: Path, file: str, line: int, what: str) -> Path | None:
    """The local file ``ref`` (relative to ``base``'s folder) names, or None after recording why it cannot be read."""
    if ref.startswith("file://"):
        ref = ref[len("file://") :]
    elif _REMOTE.match(ref):
        _error(state, file, line, f"{what} {ref!r} is remote and is not fetched; its containers are not checked")
        return None
    path = Path(os.path.normpath(base.parent / ref))
    if not _inside(state, path):
        _error(state, file, line, f"{what} {ref!r} is outside the workflow root; it is not read")
        return None
    if not os.path.lexists(path):
        _error(state, file, line, f"{what} {ref!r} not found ({_rel(state, path)})")
        return None
    try:
        state.ws.check(path)  # before any open: a symlink out of the root, a FIFO, a device, a huge file
    except Refused as refused:
        _error(state, file, line, f"{what} {ref!r} ({refused.rel}): {refused.reason}")
        return None
    return path


@dataclass(frozen=True)
class _At:
    """Where a node was written: the file (absolute) and its chain of ``$import``-ed files (cycle guard)."""

    path: Path
    chain: tuple[Path, ...] = ()


def _resolve(state: _State, node: Node | None, at: _At) -> tuple[Node | None, _At]:
    """Follow ``{$import: f}`` (repeatedly); (None, at) when the target cannot be loaded."""
    while isinstance(node, MappingNode):
        ref_node = _get(node, "$import")
        if ref_node is None:
            break
        file, line = _rel(state, at.path), _line(ref_node)
        ref = _scalar(ref_node)
        if ref is None:
            _error(state, file, line, "$import needs a file name")
            return None, at
        if "#" in ref:
            _error(state, file, line, f"$import {ref!r}: a #fragment is not supported")
            return None, at
        path = _target(state, ref, at.path, file, line, "$import")
        if path is None:
            return None, at
        if path == at.path or path in at.chain:
            _error(state, file, line, f"$import {ref!r} is circular")
            return None, at
        if len(at.chain) >= state.ws.limits.max_include_depth:
            _error(state, file, line, f"$import {ref!r} nests deeper than {state.ws.limits.max_include_depth} files")
            return None, at
        try:
            docs = _load(state, path)
        except _LoadFailed as failed:
            _error(state, failed.error.file, failed.error.line, failed.error.message)
            return None, at
        if len(docs) != 1:
            _error(state, file, line, f"$import {ref!r}: expected one YAML document, found {len(docs)}")
            return None, at
        node, at = docs[0], _At(path, (*at.chain, at.path))
    return node, at


# -------------------------------------------------------------------------------------------------------------- CWL


def _document(state: _State, doc: MappingNode, path: Path) -> None:
    at = _At(path)
    graph = _get(doc, "$graph")
    if graph is None:
        _process(state, doc, at, ident=None)
        return
    graph, gat = _resolve(state, graph, at)
    if not isinstance(graph, SequenceNode):
        return
    for item in graph.value:
        entry, eat = _resolve(state, item, gat)
        if isinstance(entry, MappingNode):
            ident = _scalar(_get(entry, "id"))
            _process(state, entry, eat, ident=_frag(ident) if ident else None)


def _process(state: _State, node: Node | None, at: _At, ident: str | None) -> None:
    """One CWL process (tool, expression tool, operation or workflow) and everything inline in it."""
    node, at = _resolve(state, node, at)
    if not isinstance(node, MappingNode):
        return
    is_workflow = _scalar(_get(node, "class")) == "Workflow"
    kind = "workflow" if is_workflow else "tool"
    where = _rel(state, at.path) + (f"#{ident}" if ident else "")
    for key in ("requirements", "hints"):
        _requirements(state, _get(node, key), at, f"{kind} {where}")
    if is_workflow:
        for step_id, step, sat in _steps(state, _get(node, "steps"), at):
            path = f"{ident}/{step_id}" if ident else step_id
            for key in ("requirements", "hints"):
                _requirements(state, _get(step, key), sat, f"workflow {_rel(state, at.path)}#{path}")
            _run(state, _get(step, "run"), sat, path)


def _steps(state: _State, steps: Node | None, at: _At) -> Iterator[tuple[str, MappingNode, _At]]:
    steps, at = _resolve(state, steps, at)
    if isinstance(steps, SequenceNode):
        for index, item in enumerate(steps.value):
            step, sat = _resolve(state, item, at)
            if isinstance(step, MappingNode):
                step_id = _scalar(_get(step, "id"))
                yield (_frag(step_id).rsplit("/", 1)[-1] if step_id else f"step{index}"), step, sat
    elif isinstance(steps, MappingNode):
        for key, value in steps.value:
            step, sat = _resolve(state, value, at)
            if isinstance(key, ScalarNode) and isinstance(step, MappingNode):
                yield key.value, step, sat


def _run(state: _State, run: Node | None, at: _At, path: str) -> None:
    if isinstance(run, MappingNode):
        if _get(run, "$import") is not None:
            _process(state, run, at, ident=None)  # a separate file: named by itself
        else:
            _process(state, run, at, ident=path)
        return
    ref = _scalar(run)
    if run is None or ref is None or ref.startswith("#") or not ref.strip():
        return  # a $graph entry of the same document (processed with the graph) or nothing to follow
    target = _target(state, ref.split("#", 1)[0], at.path, _rel(state, at.path), _line(run), "run:")
    if target is not None and target not in state.processed:
        state.queue.append(target)


def _requirements(state: _State, node: Node | None, at: _At, context: str) -> None:
    node, at = _resolve(state, node, at)
    if isinstance(node, SequenceNode):
        for entry in node.value:
            item, iat = _resolve(state, entry, at)
            if isinstance(item, SequenceNode):  # an $import-ed list is spliced into the list
                _requirements(state, item, iat, context)
            elif isinstance(item, MappingNode) and _is_docker(_scalar(_get(item, "class"))):
                _docker(state, item, iat, context)
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and _is_docker(key.value):
                body, bat = _resolve(state, value, at)
                if isinstance(body, MappingNode):
                    _docker(state, body, bat, context)
                elif body is value:  # `DockerRequirement:` with no body (null or a scalar)
                    _add(state, at, _line(key), context, "DockerRequirement", None, "DockerRequirement names no image")


def _is_docker(cls: str | None) -> bool:
    return cls is not None and (cls == DOCKER_REQUIREMENT or cls.endswith("#" + DOCKER_REQUIREMENT))


def _docker(state: _State, req: MappingNode, at: _At, context: str) -> None:
    pull = _get(req, "dockerPull")
    if pull is not None and pull.tag != _NULL_TAG:
        _docker_pull(state, pull, at, context)
        return
    for key in ("dockerFile", "dockerLoad", "dockerImport", "dockerImageId"):
        value = _get(req, key)
        if value is not None and value.tag != _NULL_TAG:
            _add(state, at, _line(value), context, _describe(key, value), None, _NOT_PULLABLE[key])
            return
    _add(state, at, _line(req), context, "DockerRequirement", None, "DockerRequirement names no image")


def _describe(key: str, value: Node) -> str:
    """The value as written, shortened for a Dockerfile body."""
    include = _scalar(_get(value, "$include")) or _scalar(_get(value, "$import"))
    if include is not None:
        return f"{key}: {{$include: {include}}}"
    text = _scalar(value)
    if text is None:
        return key
    if key == "dockerFile":
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        return f"dockerFile: {lines[0]}{' ...' if len(lines) > 1 else ''}" if lines else "dockerFile"
    return text


def _docker_pull(state: _State, pull: Node, at: _At, context: str) -> None:
    include = _get(pull, "$include")
    if include is not None:
        _docker_pull_include(state, include, at, context)
        return
    value, vat = _resolve(state, pull, at)
    if value is None:
        return
    text = _scalar(value)
    if text is None:
        _add(state, vat, _line(value), context, "dockerPull", None, "dockerPull is not a string")
        return
    _pull_value(state, vat, _line(value), context, text)


def _docker_pull_include(state: _State, include: Node, at: _At, context: str) -> None:
    file, line = _rel(state, at.path), _line(include)
    ref = _scalar(include)
    if ref is None:
        _error(state, file, line, "$include needs a file name")
        return
    path = _target(state, ref, at.path, file, line, "$include")
    if path is None:
        return
    try:
        text = _read_text(state, path)
    except _LoadFailed as failed:
        _error(state, failed.error.file, failed.error.line, failed.error.message)
        return
    stripped = text.strip()
    first = len(text) - len(text.lstrip())
    _pull_value(state, _At(path), text.count("\n", 0, first) + 1, context, stripped)


def _pull_value(state: _State, at: _At, line: int, context: str, expression: str) -> None:
    raw, unresolved = _substitute(expression.strip(), state.params)
    _add(state, at, line, context, expression, raw, unresolved)


def _substitute(value: str, params: dict[str, Any]) -> tuple[str | None, str | None]:
    """(raw, None) when ``value`` is literal or every reference is a plain ``$(inputs.NAME)`` known in ``params``."""
    if not value:
        return None, "dockerPull is empty"
    if "${" in value:
        return None, "dockerPull contains a JavaScript expression ${...}; it is only known at run time"
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        simple = _SIMPLE_INPUT.match(match.group(1))
        if simple is None:
            missing.append(f"{match.group(0)} is not a plain $(inputs.NAME) reference")
            return match.group(0)
        name = simple.group(1) or simple.group(3)
        if name not in params:
            missing.append(f"params has no value for {name!r} ({match.group(0)})")
            return match.group(0)
        given = params[name]
        if isinstance(given, bool) or not isinstance(given, str | int | float):
            missing.append(f"params value for {name!r} is not a string ({match.group(0)})")
            return match.group(0)
        return str(given)

    raw = _PARAM_REF.sub(replace, value)
    if missing:
        return None, "dockerPull is a CWL parameter reference: " + "; ".join(missing)
    if "$(" in raw:
        return None, "dockerPull contains an unparsed parameter reference $(...)"
    return raw.strip(), None


def _add(
    state: _State, at: _At, line: int, context: str, expression: str, raw: str | None, unresolved: str | None
) -> None:
    file = _rel(state, at.path)
    state.containers.setdefault(
        (file, line, context),
        ContainerRef(
            file=file,
            line=line,
            language="cwl",
            context=context,
            expression=expression,
            raw=raw,
            unresolved=unresolved,
        ),
    )
