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
    is still reported, with ``raw=None`` and ``unresolved`` saying why HealthOmics cannot use it.

    ``dockerPull`` with parameter references (``$(inputs.NAME)`` / ``$(inputs['NAME'])``) is not standard CWL:
    v1.0-v1.2 type it as a plain ``string``, not an ``Expression``, and cwltool pulls the text verbatim. Real
    workflows write it anyway, so a tool's ``dockerPull: $(inputs.image)`` is followed the way an evaluating engine
    would, and the reference says it is non-standard (``NON_STANDARD``). Once every file is read, the tool is
    reported once per call path from an outermost workflow (one no step runs) down to it, context
    ``tool <file> via <wf>#<step> > <sub>#<step>``; a tool no step runs is the top level. Along a path, an input's
    value is: at the top level, ``params`` (the job, by that process's input names) else its ``default``; below, what
    the step passes — ``in: x: src`` (a workflow input, recursively), ``{source, default}`` (the default when there
    is no source or it is null, e.g. an optional input nobody gives), then ``valueFrom`` (a literal, ``$(self)``,
    ``$(inputs.Y)`` or text around them) — and when that is null or the step does not wire it, the process's own
    ``default``. A resolved value is reported at the literal it comes from when the whole ``dockerPull`` is one
    reference (a tool / step / workflow ``default`` or a constant ``valueFrom``), else (``params``, or text composed
    with references) where it is composed; unresolved values (a required input without default nor params, a step
    output, a scatter, several sources, JavaScript, other expressions) stay at the ``dockerPull`` line with the
    reason naming the input. At most ``MAX_CALL_PATHS`` paths per tool are followed. A ``dockerPull`` without
    references is reported once per tool, not per step; one written at Workflow or step level is filled from
    ``params`` only.

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
    * Step wiring is followed for inputs only: a value that depends on a step output, a scatter, ``linkMerge`` /
      ``pickValue`` over several sources, ``when`` or any JavaScript is unresolved, and requirements a step or
      workflow overrides for its tools are not applied to the tool's ``$(inputs...)`` (they are reported where
      written).
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
    procs: dict[_Key, _Proc] = field(default_factory=dict)
    callers: dict[_Key, list[_Call]] = field(default_factory=dict)
    pending: list[_Pending] = field(default_factory=list)


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
    for job in state.pending:  # every process and step is known now: follow the wiring
        _wired_pull(state, job)
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

_Key = tuple[Path, str, str]  # (file, "file" | "graph" | "inline", id / step path): one process
MAX_CALL_PATHS = 64
NON_STANDARD = (
    "non-standard CWL: dockerPull is a plain string, not an Expression, in CWL v1.0-v1.2 and cwltool pulls "
    "the text verbatim"
)


@dataclass
class _Input:
    default: Node | None  # the `default:` node, None when absent
    optional: bool  # the type admits null (`string?`, ["null", ...])
    at: _At


@dataclass
class _Proc:
    key: _Key
    label: str  # "tools/bwa.cwl", "packed.cwl#bwa", "main.cwl#count" (inline)
    is_workflow: bool
    inputs: dict[str, _Input]
    step_ids: set[str] = field(default_factory=set)


@dataclass
class _StepIn:
    sources: list[str]
    default: Node | None
    value_from: Node | None
    at: _At


@dataclass
class _Call:
    """A workflow step that runs a process: how its inputs are wired."""

    workflow: _Key
    label: str  # "main.cwl#align", "packed.cwl#main/align"
    ins: dict[str, _StepIn]
    scatter: set[str]


@dataclass
class _Pending:
    """A tool's ``dockerPull`` with ``$(...)``: evaluated once every workflow step that runs the tool is known."""

    owner: _Key
    file: str
    line: int
    context: str
    expression: str


@dataclass(frozen=True)
class _Val:
    """A value, where its literal is written, or why it is not known; ``text=None`` without reason is null."""

    text: str | None = None
    where: tuple[str, int] | None = None  # (file, line) of the literal; None: from params or composed
    reason: str | None = None


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
            _process(state, entry, eat, ident=_frag(ident) if ident else None, graph=True)


def _process(
    state: _State, node: Node | None, at: _At, ident: str | None, *, graph: bool = False, inline: bool = False
) -> _Key | None:
    """One CWL process (tool, expression tool, operation or workflow) and everything inline in it; its key."""
    node, at = _resolve(state, node, at)
    if not isinstance(node, MappingNode):
        return None
    kind_of_key = "inline" if inline else "graph" if graph else "file"
    key: _Key = (at.path, kind_of_key, ident or "")
    if key in state.procs:  # an $import-ed run: file that the walk reads as well
        return key
    is_workflow = _scalar(_get(node, "class")) == "Workflow"
    kind = "workflow" if is_workflow else "tool"
    where = _rel(state, at.path) + (f"#{ident}" if ident else "")
    proc = _Proc(key, where, is_workflow, _inputs(state, _get(node, "inputs"), at))
    state.procs[key] = proc
    for req_key in ("requirements", "hints"):
        _requirements(state, _get(node, req_key), at, f"{kind} {where}", None if is_workflow else key)
    if is_workflow:
        for step_id, step, sat in _steps(state, _get(node, "steps"), at):
            proc.step_ids.add(step_id)
            path = f"{ident}/{step_id}" if ident else step_id
            for req_key in ("requirements", "hints"):
                _requirements(state, _get(step, req_key), sat, f"workflow {_rel(state, at.path)}#{path}", None)
            call = _Call(key, f"{_rel(state, at.path)}#{path}", _step_ins(state, _get(step, "in"), sat), set())
            call.scatter = {_name(s) for s in _strings(_get(step, "scatter"))}
            _run(state, _get(step, "run"), sat, path, call)
    return key


def _name(ident: str) -> str:
    """The short name of an input or step id: ``#main/align/image`` -> ``image``."""
    return _frag(ident).rsplit("/", 1)[-1]


def _strings(node: Node | None) -> list[str]:
    if isinstance(node, SequenceNode):
        return [t for t in (_scalar(item) for item in node.value) if t is not None]
    text = _scalar(node)
    return [text] if text is not None else []


def _optional(type_node: Node | None) -> bool:
    if isinstance(type_node, SequenceNode):
        return any(_scalar(t) == "null" for t in type_node.value)
    if isinstance(type_node, MappingNode):
        return False
    text = _scalar(type_node)
    return text is not None and (text.endswith("?") or text == "null")


def _inputs(state: _State, node: Node | None, at: _At) -> dict[str, _Input]:
    """A process's inputs (list or map form) with their defaults."""
    node, at = _resolve(state, node, at)
    found: dict[str, _Input] = {}
    if isinstance(node, SequenceNode):
        for entry in node.value:
            item, iat = _resolve(state, entry, at)
            if not isinstance(item, MappingNode):
                continue
            ident = _scalar(_get(item, "id"))
            if ident:
                found[_name(ident)] = _Input(_get(item, "default"), _optional(_get(item, "type")), iat)
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            item, iat = _resolve(state, v, at)
            if not isinstance(k, ScalarNode):
                continue
            if isinstance(item, MappingNode):
                found[_name(k.value)] = _Input(_get(item, "default"), _optional(_get(item, "type")), iat)
            else:  # `name: type` shorthand
                found[_name(k.value)] = _Input(None, _optional(item), iat)
    return found


def _step_ins(state: _State, node: Node | None, at: _At) -> dict[str, _StepIn]:
    """A step's ``in`` (list or map form): sources, default and valueFrom of each step input."""
    node, at = _resolve(state, node, at)
    found: dict[str, _StepIn] = {}

    def one(name: str, value: Node | None, vat: _At) -> None:
        if isinstance(value, MappingNode):
            found[_name(name)] = _StepIn(
                _strings(_get(value, "source")), _get(value, "default"), _get(value, "valueFrom"), vat
            )
        else:  # `name: source` or `name: [a, b]`
            found[_name(name)] = _StepIn(_strings(value), None, None, vat)

    if isinstance(node, SequenceNode):
        for entry in node.value:
            item, iat = _resolve(state, entry, at)
            ident = _scalar(_get(item, "id")) if isinstance(item, MappingNode) else None
            if ident and item is not None:
                one(ident, item, iat)
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            item, iat = _resolve(state, v, at)
            if isinstance(k, ScalarNode):
                one(k.value, item, iat)
    return found


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


def _run(state: _State, run: Node | None, at: _At, path: str, call: _Call) -> None:
    if isinstance(run, MappingNode):
        if _get(run, "$import") is not None:
            ran = _process(state, run, at, ident=None)  # a separate file: named by itself
        else:
            ran = _process(state, run, at, ident=path, inline=True)
        if ran is not None:
            state.callers.setdefault(ran, []).append(call)
        return
    ref = _scalar(run)
    if run is None or ref is None or not ref.strip():
        return
    file_part, _, fragment = ref.partition("#")
    if not file_part:  # a $graph entry of the same document (processed with the graph)
        state.callers.setdefault((at.path, "graph", _name(fragment)), []).append(call)
        return
    target = _target(state, file_part, at.path, _rel(state, at.path), _line(run), "run:")
    if target is None:
        return
    key: _Key = (target, "graph", _name(fragment)) if fragment else (target, "file", "")
    state.callers.setdefault(key, []).append(call)
    if target not in state.processed:
        state.queue.append(target)


def _requirements(state: _State, node: Node | None, at: _At, context: str, owner: _Key | None) -> None:
    node, at = _resolve(state, node, at)
    if isinstance(node, SequenceNode):
        for entry in node.value:
            item, iat = _resolve(state, entry, at)
            if isinstance(item, SequenceNode):  # an $import-ed list is spliced into the list
                _requirements(state, item, iat, context, owner)
            elif isinstance(item, MappingNode) and _is_docker(_scalar(_get(item, "class"))):
                _docker(state, item, iat, context, owner)
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and _is_docker(key.value):
                body, bat = _resolve(state, value, at)
                if isinstance(body, MappingNode):
                    _docker(state, body, bat, context, owner)
                elif body is value:  # `DockerRequirement:` with no body (null or a scalar)
                    _add(state, at, _line(key), context, "DockerRequirement", None, "DockerRequirement names no image")


def _is_docker(cls: str | None) -> bool:
    return cls is not None and (cls == DOCKER_REQUIREMENT or cls.endswith("#" + DOCKER_REQUIREMENT))


def _docker(state: _State, req: MappingNode, at: _At, context: str, owner: _Key | None) -> None:
    pull = _get(req, "dockerPull")
    if pull is not None and pull.tag != _NULL_TAG:
        _docker_pull(state, pull, at, context, owner)
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


def _docker_pull(state: _State, pull: Node, at: _At, context: str, owner: _Key | None) -> None:
    include = _get(pull, "$include")
    if include is not None:
        _docker_pull_include(state, include, at, context, owner)
        return
    value, vat = _resolve(state, pull, at)
    if value is None:
        return
    text = _scalar(value)
    if text is None:
        _add(state, vat, _line(value), context, "dockerPull", None, "dockerPull is not a string")
        return
    _pull_value(state, vat, _line(value), context, text, owner)


def _docker_pull_include(state: _State, include: Node, at: _At, context: str, owner: _Key | None) -> None:
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
    _pull_value(state, _At(path), text.count("\n", 0, first) + 1, context, stripped, owner)


def _pull_value(state: _State, at: _At, line: int, context: str, expression: str, owner: _Key | None) -> None:
    if owner is not None and "$(" in expression and "${" not in expression:
        state.pending.append(_Pending(owner, _rel(state, at.path), line, context, expression))
        return
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
        given = _param(params, name)
        if given.reason is not None:
            missing.append(f"{given.reason} ({match.group(0)})")
            return match.group(0)
        return given.text or ""

    raw = _PARAM_REF.sub(replace, value)
    if missing:
        return None, f"dockerPull is a CWL parameter reference ({NON_STANDARD}): " + "; ".join(missing)
    if "$(" in raw:
        return None, "dockerPull contains an unparsed parameter reference $(...)"
    return raw.strip(), None


# ------------------------------------------------------------------------------------------------------ step wiring


def _wired_pull(state: _State, pending: _Pending) -> None:
    """Report a tool's parameterised ``dockerPull`` once per call path from an outermost workflow to the tool."""
    chains, truncated = _chains(state, pending.owner, ())
    for chain in chains:
        via = " > ".join(call.label for call in chain)
        context = pending.context + (f" via {via}" if via else "")
        val = _template(
            state,
            pending.expression,
            (pending.file, pending.line),
            lambda expr, chain=chain: _lookup_input(state, chain, pending.owner, expr),
        )
        raw = val.text.strip() if val.text is not None else None
        if val.reason is not None or raw is None or not raw:
            reason = val.reason or ("dockerPull is empty" if raw == "" else "the value is null")
            unresolved = f"dockerPull is a CWL parameter reference ({NON_STANDARD}): {reason}"
            _add_at(state, pending.file, pending.line, context, pending.expression, None, unresolved)
            continue
        file, line = val.where or (pending.file, pending.line)
        note = f"{context} [{pending.expression} followed through the wiring; {NON_STANDARD}]"
        _add_at(state, file, line, note, pending.expression, raw, None)
    if truncated:
        _add_at(
            state,
            pending.file,
            pending.line,
            f"{pending.context} via further call paths",
            pending.expression,
            None,
            f"the tool is reached by more than {MAX_CALL_PATHS} call paths; the others are not followed",
        )


def _callers(state: _State, key: _Key) -> list[_Call]:
    calls = list(state.callers.get(key, []))
    path, kind, ident = key
    if kind == "graph" and ident == "main":  # `run: packed.cwl` runs the entry named main
        calls += state.callers.get((path, "file", ""), [])
    return calls


def _chains(state: _State, key: _Key, visiting: tuple[_Key, ...]) -> tuple[list[tuple[_Call, ...]], bool]:
    """Every call path (outermost workflow first) that runs ``key``; [()] when nothing runs it."""
    calls = [c for c in _callers(state, key) if c.workflow != key and c.workflow not in visiting]
    if not calls:
        return [()], False
    found: list[tuple[_Call, ...]] = []
    for call in calls:
        above, truncated = _chains(state, call.workflow, (*visiting, key))
        for chain in above:
            if len(found) >= MAX_CALL_PATHS:
                return found, True
            found.append((*chain, call))
        if truncated:
            return found, True
    return found, False


def _lookup_input(state: _State, chain: tuple[_Call, ...], key: _Key, expr: str) -> _Val:
    simple = _SIMPLE_INPUT.match(expr)
    if simple is None:
        return _Val(reason=f"$({expr}) is not a plain $(inputs.NAME) reference")
    return _input_value(state, chain, key, simple.group(1) or simple.group(3))


def _param(params: dict[str, Any], name: str) -> _Val:
    given = params[name]
    if given is None:
        return _Val()
    if isinstance(given, bool) or not isinstance(given, str | int | float):
        return _Val(reason=f"params value for {name!r} is not a string")
    return _Val(str(given))


def _input_value(state: _State, chain: tuple[_Call, ...], key: _Key, name: str) -> _Val:
    """The value of input ``name`` of process ``key`` when run through ``chain`` (empty: run as the top level)."""
    proc = state.procs.get(key)
    label = proc.label if proc else _rel(state, key[0])
    what = f"{'workflow input' if proc and proc.is_workflow else 'input'} {name!r} of {label}"
    if not chain:
        if name in state.params:
            return _param(state.params, name)
        val = _default(state, proc, name)
        decl = proc.inputs.get(name) if proc else None
        if val.reason is None and val.text is None and not (decl and decl.optional):
            return _Val(reason=f"{what} has no default and params has no value for {name!r}")
        return val  # an optional input nobody gives is null: a step default may apply
    val = _step_value(state, chain[:-1], chain[-1], name)
    if val.reason is None and val.text is None:  # null or not wired: the process's own default applies
        val = _default(state, proc, name)
        if val.reason is None and val.text is None:
            return _Val(reason=f"step {chain[-1].label} gives no value for {name!r} and {what} has no default")
    return val


def _default(state: _State, proc: _Proc | None, name: str) -> _Val:
    decl = proc.inputs.get(name) if proc else None
    if decl is None:
        label = proc.label if proc else "the process"
        return _Val(reason=f"{name!r} is not an input of {label}")
    return _literal(state, decl.default, decl.at, f"the default of {name!r}")


def _literal(state: _State, node: Node | None, at: _At, what: str) -> _Val:
    if node is None or node.tag == _NULL_TAG:
        return _Val()
    text = _scalar(node)
    if text is None:
        return _Val(reason=f"{what} is not a string")
    return _Val(text, (_rel(state, at.path), _line(node)))


def _step_value(state: _State, chain: tuple[_Call, ...], call: _Call, name: str) -> _Val:
    """What step ``call`` passes to its process's input ``name``: source or default, then valueFrom."""
    if name in call.scatter:
        return _Val(reason=f"step {call.label} scatters over {name!r}; each job gets one element")
    entry = call.ins.get(name)
    if entry is None:
        return _Val()
    base = _step_base(state, chain, call, name)
    if entry.value_from is None or entry.value_from.tag == _NULL_TAG:
        return base
    text = _scalar(entry.value_from)
    if text is None:
        return _Val(reason=f"valueFrom of {name!r} in step {call.label} is not a string")

    def lookup(expr: str) -> _Val:
        if expr.strip() == "self":
            return base
        simple = _SIMPLE_INPUT.match(expr)
        if simple is None:
            return _Val(reason=f"$({expr}) in valueFrom of step {call.label} is not $(self) or $(inputs.NAME)")
        return _step_base(state, chain, call, simple.group(1) or simple.group(3))

    where = (_rel(state, entry.at.path), _line(entry.value_from))
    return _template(state, text, where, lookup)


def _step_base(state: _State, chain: tuple[_Call, ...], call: _Call, name: str) -> _Val:
    """A step input's value before valueFrom: its source, or its default when there is none or it is null."""
    entry = call.ins.get(name)
    if entry is None:
        return _Val()
    if len(entry.sources) > 1:
        return _Val(reason=f"step {call.label} takes {name!r} from several sources")
    if entry.sources:
        parts = _frag(entry.sources[0]).lstrip("#").split("/")
        workflow = state.procs.get(call.workflow)
        if len(parts) >= 2 and workflow is not None and parts[-2] in workflow.step_ids:
            return _Val(
                reason=f"step {call.label} takes {name!r} from the output of step {parts[-2]!r}; "
                "it is only known at run time"
            )
        val = _input_value(state, chain, call.workflow, parts[-1])
        if val.reason is not None or val.text is not None or entry.default is None:
            return val
    return _literal(state, entry.default, entry.at, f"the default of {name!r} in step {call.label}")


def _template(state: _State, text: str, where: tuple[str, int], lookup: Any) -> _Val:
    """``text`` with every ``$(...)`` replaced by ``lookup(expr)``; a lone reference keeps its value's place."""
    if "${" in text:
        return _Val(reason=f"{text.strip()!r} contains a JavaScript expression ${{...}}; it is only known at run time")
    matches = list(_PARAM_REF.finditer(text))
    if not matches:
        return _Val(text, where)
    pieces: list[str] = []
    pos = 0
    lone: _Val | None = None
    for match in matches:
        val: _Val = lookup(match.group(1))
        if val.reason is not None:
            return val
        if val.text is None:
            return _Val(reason=f"{match.group(0)} is null")
        pieces += [text[pos : match.start()], val.text]
        pos = match.end()
        lone = val
    pieces.append(text[pos:])
    result = "".join(pieces)
    if "$(" in result:
        return _Val(reason="the value contains an unparsed parameter reference $(...)")
    if len(matches) == 1 and matches[0].group(0) == text.strip() and lone is not None:
        return _Val(lone.text, lone.where)  # the whole value is one reference: reported where its literal is
    return _Val(result, where)


def _add(
    state: _State, at: _At, line: int, context: str, expression: str, raw: str | None, unresolved: str | None
) -> None:
    _add_at(state, _rel(state, at.path), line, context, expression, raw, unresolved)


def _add_at(
    state: _State, file: str, line: int, context: str, expression: str, raw: str | None, unresolved: str | None
) -> None:
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
