"""Extract the containers a WDL workflow names, with miniwdl's own parser, typechecker and evaluator.

Approach
--------
* Every ``*.wdl`` file under ``root`` (hidden directories skipped) is loaded the way
  :func:`WDL.load` does it (``path=[root]``, miniwdl's parser, import resolution, ``read_source``
  hook and typechecker, ``import_max_depth`` 10), except that a file imported by several documents
  is parsed and typechecked once and shared: plain ``WDL.load`` re-parses every library for every
  entry point, which made a repository of 50 workflows x 10 libraries take a minute instead of a
  second. Quantifier checks are on; a document failing them is reloaded with ``check_quant=False``
  (``miniwdl check --no-quant-check``). Files that no other file imports are loaded first, and a
  file already loaded as someone's import is not loaded again. Imports are read through a
  ``read_source`` that only opens files inside ``root``:
  an import by URL (``https://``, ``s3://``...) or a path escaping the root becomes an
  :class:`ExtractionError` on the import line, never a download. A file that fails to parse or
  typecheck is an :class:`ExtractionError` with the file and line of the miniwdl error; the other
  files are still extracted. A file that parses but does not typecheck (a broken import, a wrong
  call, one bad task) is loaded again without what fails: only the imports that load, without its
  workflow if that still fails, and with each task that typechecks on its own, so the containers
  of every part that loads are reported (a sub-workflow file it imports is then walked as a main
  workflow, and the tasks of its imports as uncalled tasks).
* The folder is hostile input: every file (entry point or import) is read only through
  :class:`~auditor.gate.workspace.Workspace`, and ``read_source`` checks the *real* path (symlinks
  resolved) against the root before anything opens it. A ``.wdl`` symlink leaving the folder, a
  FIFO, a device or a file over the size limit is an :class:`ExtractionError` naming the file and
  the reason; it is never opened, not even by the cheap import scan that orders the loading.
* Main workflows are the loaded workflows no other loaded workflow calls. Each is walked from its
  inputs (defaults, overridden by the ``params`` inputs JSON: ``"wf.x"``, or the bare ``"x"``
  HealthOmics also accepts for top-level inputs) through every call, scatter, conditional and
  sub-workflow call. A task call is evaluated with the values its call passes (evaluated in the
  caller), then ``"wf.call.x"`` / ``"wf.sub.call.x"`` parameters, then the task's own defaults.
  A null passed to an input that has a default and a non-optional type leaves the default (as
  miniwdl and Cromwell do). An output of a sub-workflow call is evaluated in that call's scope, so
  an output that is a literal, a default, a value the call passes or another such output is
  determined; the reference keeps the line of the task's runtime entry, with that value as
  ``raw``. Task call outputs exist only once the task has run and are never evaluated.
  Tasks no workflow calls are reported with their own defaults (and ``"task.x"`` parameters).
* The ``docker`` and ``container`` entries of ``runtime {}`` (and of the WDL 1.2
  ``requirements {}`` section, which miniwdl stores in the same place) are evaluated with
  ``expr.eval(env, stdlib)``. The environment holds only values computed on demand from the rules
  above; nothing is guessed. A value that depends on a required input with neither default nor
  parameter, on a task call output, on a scatter over an unknown array, or on a function that touches
  files (``read_*``, ``write_*``, ``size``, ``glob``...; only an allow-list of pure functions is
  evaluated, and the standard library given to miniwdl refuses all file I/O anyway) is reported
  with ``raw=None`` and ``unresolved`` saying which input or why. An array ``container`` yields one
  reference per element; ``"*"`` (any container) and null are reported unresolved.
* A task reached from several calls yields one :class:`ContainerRef` per distinct result, whose
  context lists the calls (``task bwa_mem (call wf.align)``, ``task t (calls wf.a, wf.b)``).
  Comments and ``meta``/``parameter_meta`` are never looked at: only runtime values are.

Limits
------
* A scatter over a known array is walked once per element (at most ``_MAX_SCATTER`` elements,
  ``_MAX_BRANCHES`` in all); beyond that, or over an unknown or empty array, the body is walked once
  with the scatter variable unresolved. A value gathered out of a scatter is reported unresolved.
  A declaration in a conditional, referenced outside it, resolves only if the condition does.
* Sub-workflows are followed ``_MAX_CALL_DEPTH`` levels deep; the workflow quantifier check falls back
  to ``check_quant=False`` silently (the strict-check finding is not an extraction error).
* Files under hidden directories (``.git``...) are not loaded; files imported from them still are.
* miniwdl's input-override extensions (``"call.runtime.docker"``) and engine configuration
  defaults (Cromwell ``default_runtime_attributes``, miniwdl ``[task_runtime] defaults``) are not
  applied: only what the workflow and its parameters say.
* A call input bound in the WDL wins over a ``"wf.call.x"`` parameter (engines reject such a
  parameter anyway).
* Loading runs its own event loop (``asyncio.run``, as :func:`WDL.load` does), so :func:`extract`
  must not be called from inside a running asyncio loop.
* Uses ``WDL._parser.parse_document`` (the call :func:`WDL.load` makes; the public
  ``WDL.parse_document`` cannot record the absolute path imports are resolved against).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import WDL
from WDL import Env, Expr, StdLib, Tree, Value, _parser

from auditor.gate.containers import ContainerRef, Extraction, ExtractionError
from auditor.gate.workspace import Refused, Workspace

_MAX_SCATTER = 32  # elements of a known scatter array walked one by one
_MAX_CALL_DEPTH = 16  # sub-workflow nesting followed
_IMPORT_MAX_DEPTH = 10  # as WDL.load
_MAX_BRANCHES = 4096  # scatter branches walked in all, so nested scatters cannot explode

# Functions evaluated statically: operators and pure functions of their arguments. Anything else
# (read_*, write_*, size, glob, stdout, stderr, join_paths, functions a future miniwdl adds) is not.
_PURE_FUNCTIONS = frozenset(
    {
        "_at",
        "_land",
        "_lor",
        "_negate",
        "_add",
        "_interpolation_add",
        "_sub",
        "_mul",
        "_div",
        "_rem",
        "_pow",
        "_eqeq",
        "_neq",
        "_lt",
        "_lte",
        "_gt",
        "_gte",
        "floor",
        "ceil",
        "round",
        "length",
        "sub",
        "find",
        "matches",
        "basename",
        "defined",
        "sep",
        "range",
        "prefix",
        "suffix",
        "select_first",
        "select_all",
        "zip",
        "unzip",
        "cross",
        "flatten",
        "transpose",
        "min",
        "max",
        "quote",
        "squote",
        "keys",
        "values",
        "as_map",
        "as_pairs",
        "collect_by_key",
        "contains",
        "contains_key",
        "chunk",
    }
)
_FILE_FUNCTIONS = ("read_", "write_", "size", "glob", "stdout", "stderr", "join_paths")
_IMPORT_RE = re.compile(r"""^\s*import\s+["']([^"']+)["']""", re.MULTILINE)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class _Unresolved(Exception):
    """A value that cannot be determined without guessing; ``reason`` becomes ``ContainerRef.unresolved``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RefusedImport(Exception):
    """An import ``read_source`` will not open (a URL, or a file outside the root)."""


class _NoIOStdLib(StdLib.Base):
    """miniwdl's standard library with every file read and write refused (defence in depth)."""

    def _devirtualize_filename(self, filename: str) -> str:
        raise _Unresolved(f"would read file {filename!r}; files are not read")

    def _virtualize_filename(self, filename: str) -> str:
        raise _Unresolved("would write a file; files are not written")

    def _write(self, serialize: Callable[..., Any]) -> Callable[[Value.Base], Value.File]:
        def refuse(_value: Value.Base) -> Value.File:
            raise _Unresolved("would write a file; files are not written")

        return refuse


# ---------------------------------------------------------------------------------------------
# Loading


class _Loader:
    def __init__(self, root: Path, workspace: Workspace | None = None) -> None:
        self.root = root
        self.ws = workspace or Workspace(root)
        self.real_root = os.path.realpath(root)
        self.errors: list[ExtractionError] = []
        self.docs: dict[str, Tree.Document] = {}  # realpath -> loaded (typechecked) document
        self._cache: dict[tuple[str, bool], Tree.Document | Exception] = {}

    def rel(self, abspath: str) -> str | None:
        real = os.path.realpath(abspath)
        if real != self.real_root and not real.startswith(self.real_root + os.sep):
            return None
        return Path(os.path.relpath(real, self.real_root)).as_posix()

    async def read_source(self, uri: str, path: list[str], importer: Tree.Document | None) -> Tree.ReadSourceResult:
        if _URL_RE.match(uri) and not uri.startswith("file://"):
            raise _RefusedImport(
                f"import {uri!r} refused: only files under the workflow root are read (no network access)"
            )
        abspath = await Tree.resolve_file_import(uri, path, importer)  # stats candidates, opens nothing
        real = os.path.realpath(abspath)
        if self.rel(real) is None:  # checked before any open (the workspace checks again)
            rel = self.ws.rel(abspath)
            if rel.startswith("/"):
                raise _RefusedImport(f"import {uri!r} refused: it is outside the workflow root; not read")
            raise _RefusedImport(f"import {uri!r} refused: {rel}: symlink leaves the workflow folder; not read")
        try:
            data = self.ws.read_bytes(real)
        except Refused as refused:
            raise _RefusedImport(f"import {uri!r} refused: {refused.rel}: {refused.reason}") from None
        return Tree.ReadSourceResult(source_text=data.decode("utf-8"), abspath=real)

    def load_all(self) -> None:
        files: list[Path] = []
        for file in _wdl_files(self.ws):
            try:  # an entry point is refused here, by its own name, before the import scan could open it
                self.ws.check(file)
            except Refused as refused:
                self.errors.append(ExtractionError(file=refused.rel, message=refused.reason))
                continue
            files.append(file)
        imported: set[str] = set()
        for file in files:
            imported.update(_imported_files(file, self.ws))
        # Entry points first, so that a library file is usually loaded as someone's import only once.
        for file in sorted(files, key=lambda f: (os.path.realpath(f) in imported, f.as_posix())):
            real = os.path.realpath(file)
            if real in self.docs:
                continue
            doc = self._load(real, self.ws.rel(file))
            if doc is not None:
                self._register(doc)

    def _load(self, real: str, rel: str) -> Tree.Document | None:
        try:
            return self._load_quant(real, check_quant=True)
        except (WDL.Error.SyntaxError, _RefusedImport, UnicodeDecodeError, OSError) as exn:
            failure: Exception = exn  # the relaxed quantifier check would not change these
        except Exception:  # ValidationError, MultipleValidationErrors, ImportError: retry as --no-quant-check
            try:
                return self._load_quant(real, check_quant=False)
            except Exception as exn:
                failure = exn
        self.errors.extend(self._errors(failure, rel))
        if isinstance(failure, WDL.Error.SyntaxError | _RefusedImport | UnicodeDecodeError | OSError):
            return None
        return self._load_partial(real)

    def _load_partial(self, real: str) -> Tree.Document | None:
        """What of a document that failed to typecheck still loads, so that its containers are reported.

        The document is parsed again with only the imports that load on their own; if its workflow
        still does not typecheck it is left out (the tasks of its imports are then reported as
        uncalled, and a sub-workflow file it imports is walked as a main workflow); if its tasks do
        not typecheck together, each task that does on its own is kept, and the error of each task
        that does not is added (unless one is already reported on that line). The original failure
        stays an :class:`ExtractionError`; nothing here hides one.
        """
        try:
            return asyncio.run(self._partial_async(real))
        except Exception:
            return None

    async def _partial_async(self, real: str) -> Tree.Document | None:
        source = await self.read_source(real, [self.real_root], None)

        def parse() -> Tree.Document:
            return _parser.parse_document(source.source_text, uri=real, abspath=source.abspath)

        loaded: list[tuple[int, Tree.Document]] = []
        for index, imp in enumerate(parse().imports):
            try:
                loaded.append((index, await self._load_async(imp.uri, parse(), _IMPORT_MAX_DEPTH - 1, False)))
            except Exception:
                continue

        def attempt(workflow: bool, tasks: list[str], failures: list[Exception] | None = None) -> Tree.Document | None:
            doc = parse()
            doc.imports = [
                Tree.DocImport(pos=imp.pos, uri=imp.uri, namespace=imp.namespace, aliases=imp.aliases, doc=sub)
                for index, sub in loaded
                for imp in [doc.imports[index]]
            ]
            doc.tasks = [task for task in doc.tasks if task.name in tasks]
            if not workflow:
                doc.workflow = None
            try:
                doc.typecheck(check_quant=False)
            except Exception as exn:
                if failures is not None:
                    failures.append(exn)
                return None
            return doc

        names = [task.name for task in parse().tasks]
        found = attempt(True, names) or attempt(False, names)
        if found is None:  # some task is wrong in itself: keep the others, and say which (once per line)
            failures: list[Exception] = []
            found = attempt(False, [name for name in names if attempt(False, [name], failures) is not None])
            rel = self.rel(real) or Path(real).name
            seen = {(error.file, error.line) for error in self.errors}
            for error in (error for exn in failures for error in self._errors(exn, rel)):
                if (error.file, error.line) not in seen:
                    seen.add((error.file, error.line))
                    self.errors.append(error)
        return found

    def _load_quant(self, real: str, *, check_quant: bool) -> Tree.Document:
        return asyncio.run(self._load_async(real, None, _IMPORT_MAX_DEPTH, check_quant))

    async def _load_async(
        self, uri: str, importer: Tree.Document | None, depth: int, check_quant: bool
    ) -> Tree.Document:
        """``WDL.load`` (same parser, import resolution, ``read_source`` and typecheck), sharing documents.

        miniwdl re-parses a library for every document importing it; here each file is parsed and
        typechecked once per ``check_quant`` setting, and the typechecked document (or its error) is
        reused by every importer, which keeps a repository of many entry points fast.
        """
        source = await self.read_source(uri, [self.real_root], importer)
        key = (source.abspath, check_quant)
        cached = self._cache.get(key)
        if isinstance(cached, Exception):
            raise cached
        if cached is not None:
            return cached
        try:
            doc = _parser.parse_document(source.source_text, uri=uri, abspath=source.abspath)  # as WDL.load
            for index, imp in enumerate(doc.imports):
                if depth <= 1:
                    raise WDL.Error.ImportError(imp.pos, imp.uri, "exceeded import_max_depth; circular imports?")
                try:
                    sub = await self._load_async(imp.uri, doc, depth - 1, check_quant)
                except Exception as exn:
                    raise WDL.Error.ImportError(imp.pos, imp.uri) from exn
                doc.imports[index] = Tree.DocImport(
                    pos=imp.pos, uri=imp.uri, namespace=imp.namespace, aliases=imp.aliases, doc=sub
                )
            doc.typecheck(check_quant=check_quant)
        except Exception as exn:
            if not _depth_limited(exn):  # reached fresh (as an entry point), the same file may load
                self._cache[key] = exn
            raise
        self._cache[key] = doc
        return doc

    def _register(self, doc: Tree.Document) -> None:
        real = os.path.realpath(doc.pos.abspath)
        if real in self.docs:
            return
        self.docs[real] = doc
        for imp in doc.imports:
            if imp.doc is not None:
                self._register(imp.doc)

    def _errors(self, exn: BaseException, rel: str) -> list[ExtractionError]:
        if isinstance(exn, WDL.Error.MultipleValidationErrors):
            return [err for sub in exn.exceptions for err in self._errors(sub, rel)]
        pos = getattr(exn, "pos", None)
        file, line = rel, None
        if isinstance(pos, WDL.Error.SourcePosition):
            file = self.rel(pos.abspath) or rel
            line = pos.line or None
        return [ExtractionError(file=file, line=line, message=self._message(exn))]

    def _message(self, exn: BaseException) -> str:
        if isinstance(exn, WDL.Error.ImportError) and exn.__cause__ is not None:
            cause = exn.__cause__
            if isinstance(cause, WDL.Error.MultipleValidationErrors):
                inner = "; ".join(self._located(sub) for sub in cause.exceptions)
            else:
                inner = self._located(cause)
            return f"{exn}: {inner}"
        if isinstance(exn, WDL.Error.SyntaxError):  # lark appends the expected tokens: keep the first line
            return f"syntax error: {str(exn).strip().splitlines()[0] if str(exn).strip() else 'unparsable'}"
        if isinstance(exn, _RefusedImport | WDL.Error.ImportError):
            return str(exn)
        return f"{type(exn).__name__}: {exn}" if str(exn) else type(exn).__name__

    def _located(self, exn: BaseException) -> str:
        pos = getattr(exn, "pos", None)
        message = self._message(exn)
        if isinstance(pos, WDL.Error.SourcePosition) and pos.line and not isinstance(exn, WDL.Error.ImportError):
            return f"{self.rel(pos.abspath) or pos.uri}:{pos.line}: {message}"
        return message


def _depth_limited(exn: BaseException | None) -> bool:
    while exn is not None:
        if isinstance(exn, WDL.Error.ImportError) and "exceeded import_max_depth" in str(exn):
            return True
        exn = exn.__cause__
    return False


def _wdl_files(ws: Workspace) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(ws.root, followlinks=False):  # never through a directory symlink
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in sorted(filenames) if name.endswith(".wdl"))
    return found


def _imported_files(file: Path, ws: Workspace) -> set[str]:
    """Real paths a file imports, by a cheap scan: only used to choose the loading order."""
    try:
        text = ws.read_bytes(file).decode("utf-8")
    except (Refused, UnicodeDecodeError):
        return set()
    out: set[str] = set()
    for uri in _IMPORT_RE.findall(text):
        if _URL_RE.match(uri):
            continue
        for base in (file.parent, ws.root):
            candidate = os.path.realpath(base / uri)
            if ws.real_inside(candidate) and os.path.isfile(candidate):
                out.add(candidate)
                break
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation


def _walk_expr(expr: Expr.Base) -> Iterator[Expr.Base]:
    yield expr
    for child in expr.children:
        if isinstance(child, Expr.Base):
            yield from _walk_expr(child)


def _check_pure(expr: Expr.Base) -> None:
    for node in _walk_expr(expr):
        if isinstance(node, Expr.Apply) and node.function_name not in _PURE_FUNCTIONS:
            name = node.function_name
            if name.startswith(_FILE_FUNCTIONS):
                raise _Unresolved(f"depends on {name}(), which needs files available only at run time")
            raise _Unresolved(f"depends on {name}(), which is not evaluated statically")


def _null_means_default(value: Value.Base, decl: Tree.Decl) -> bool:
    """miniwdl drops a null passed to an input that has a default and a non-optional type: the default applies."""
    return isinstance(value, Value.Null) and decl.expr is not None and not decl.type.optional


def _optional_none(decl: Tree.Decl) -> Value.Base | None:
    return Value.Null() if decl.type.optional else None


def _coerce(value: Value.Base, decl: Tree.Decl, what: str) -> Value.Base:
    try:
        return value.coerce(decl.type)
    except Exception as exn:
        raise _Unresolved(f"{what} is not a valid {decl.type}: {exn}") from None


def _from_param(params: dict[str, Any], key: str, decl: Tree.Decl) -> Value.Base:
    try:
        return Value.from_json(decl.type, params[key])
    except Exception as exn:
        raise _Unresolved(f"parameter {key!r} is not a valid {decl.type}: {exn}") from None


class _Scope:
    """Where identifiers of one task or workflow instance get their values (lazily, memoised)."""

    path: str
    params: dict[str, Any]

    def __init__(self, version: str, stdlibs: dict[str, StdLib.Base]) -> None:
        if version not in stdlibs:
            stdlibs[version] = _NoIOStdLib(version)
        self.stdlib = stdlibs[version]
        self._memo: dict[int, Value.Base | _Unresolved] = {}

    def eval(self, expr: Expr.Base) -> Value.Base:
        _check_pure(expr)
        env: Env.Bindings[Value.Base] = Env.Bindings()
        for node in _walk_expr(expr):
            if isinstance(node, Expr.Ident):
                env = env.bind(node.name, self.ident(node))
        try:
            return expr.eval(env, self.stdlib)
        except _Unresolved:
            raise
        except Exception as exn:
            raise _Unresolved(f"cannot evaluate {expr}: {exn}") from None

    def ident(self, ident: Expr.Ident) -> Value.Base:
        referee = ident.referee
        if isinstance(referee, Tree.Decl):
            return self.decl(referee)
        if isinstance(referee, Tree.Call):
            return self.call_output(referee, ident.name)
        if isinstance(referee, Tree.Scatter):
            return self.scatter_value(referee)
        if isinstance(referee, Tree.Gather):
            return self.gather(referee, ident.name)
        raise _Unresolved(f"unknown identifier {ident.name}")

    def decl(self, decl: Tree.Decl) -> Value.Base:
        key = id(decl)
        if key not in self._memo:
            self._memo[key] = _Unresolved(f"{self.path}.{decl.name} depends on itself")
            try:
                self._memo[key] = self.compute(decl)
            except _Unresolved as exn:
                self._memo[key] = exn
        found = self._memo[key]
        if isinstance(found, _Unresolved):
            raise found
        return found

    def compute(self, decl: Tree.Decl) -> Value.Base:
        raise NotImplementedError

    def call_output(self, call: Tree.Call, name: str) -> Value.Base:
        raise _Unresolved(f"{name} is an output of call {self.path}.{call.name}, known only at run time")

    def scatter_value(self, scatter: Tree.Scatter) -> Value.Base:
        raise _Unresolved(f"scatter variable {scatter.variable} is not in scope")

    def gather(self, gather: Tree.Gather, name: str) -> Value.Base:
        raise _Unresolved(f"{name} is not in scope")


class _TaskScope(_Scope):
    def __init__(
        self,
        task: Tree.Task,
        path: str,
        supplied: dict[str, Callable[[], Value.Base]],
        params: dict[str, Any],
        stdlibs: dict[str, StdLib.Base],
    ) -> None:
        super().__init__(task.effective_wdl_version, stdlibs)
        self.task = task
        self.path = path
        self.supplied = supplied
        self.params = params
        self.inputs = {id(b.value) for b in task.available_inputs if isinstance(b.value, Tree.Decl)}

    def compute(self, decl: Tree.Decl) -> Value.Base:
        name = f"{self.path}.{decl.name}"
        if id(decl) in self.inputs:
            if decl.name in self.supplied:
                value = self.supplied[decl.name]()
                if not _null_means_default(value, decl):
                    return _coerce(value, decl, f"input {name}")
            if name in self.params:
                return _from_param(self.params, name, decl)
        if decl.expr is not None:
            return _coerce(self.eval(decl.expr), decl, name)
        none = _optional_none(decl)
        if none is not None:
            return none
        raise _Unresolved(f"required input {name} has no default and no parameter")


class _WorkflowScope(_Scope):
    def __init__(
        self,
        workflow: Tree.Workflow,
        path: str,
        supplied: dict[str, Callable[[], Value.Base]],
        params: dict[str, Any],
        stdlibs: dict[str, StdLib.Base],
        *,
        top: bool,
        version: str,
        parent: _WorkflowScope | None = None,
        scatter: Tree.Scatter | None = None,
        scatter_value: Value.Base | _Unresolved | None = None,
        depth: int = 0,
    ) -> None:
        super().__init__(version, stdlibs)
        self.workflow = workflow
        self.path = path
        self.supplied = supplied
        self.params = params
        self.stdlibs = stdlibs
        self.top = top
        self.version = version
        self.parent = parent
        self.scatter = scatter
        self._scatter_value = scatter_value
        self.inputs = {id(d) for d in workflow.inputs or []}
        self.owned: set[int] = set(_node_ids(scatter.body)) if scatter is not None else set()
        self.depth: int = parent.depth if parent is not None else depth
        self._callees: dict[int, _TaskScope | _WorkflowScope] = {}

    def branch(self, scatter: Tree.Scatter, value: Value.Base | _Unresolved) -> _WorkflowScope:
        return _WorkflowScope(
            self.workflow,
            self.path,
            self.supplied,
            self.params,
            self.stdlibs,
            top=self.top,
            version=self.version,
            parent=self,
            scatter=scatter,
            scatter_value=value,
        )

    def decl(self, decl: Tree.Decl) -> Value.Base:
        if self.parent is not None and id(decl) not in self.owned:
            return self.parent.decl(decl)
        return super().decl(decl)

    def callee_scope(self, call: Tree.Call) -> _TaskScope | _WorkflowScope | None:
        """The scope of the task or sub-workflow one call runs (shared by its walk and its outputs)."""
        if self.parent is not None and id(call) not in self.owned:
            return self.parent.callee_scope(call)
        found = self._callees.get(id(call))
        if found is None:
            path = f"{self.path}.{call.name}"
            supplied = {name: _thunk(self, expr) for name, expr in call.inputs.items()}
            callee = call.callee
            if isinstance(callee, Tree.Task):
                found = _TaskScope(callee, path, supplied, self.params, self.stdlibs)
            elif isinstance(callee, Tree.Workflow) and self.depth < _MAX_CALL_DEPTH:
                version = _workflow_version(callee, self.version)
                found = _WorkflowScope(
                    callee,
                    path,
                    supplied,
                    self.params,
                    self.stdlibs,
                    top=False,
                    version=version,
                    depth=self.depth + 1,
                )
            else:
                return None
            self._callees[id(call)] = found
        return found

    def call_output(self, call: Tree.Call, name: str) -> Value.Base:
        """An output of a call, when the callee declares it from values known before the run.

        A sub-workflow output is evaluated in the sub-workflow's scope, so one that is a literal, an
        input default, a value the call passes or another such output is determined; one that comes
        from a task output, a file or a scatter stays unresolved. Task outputs are never evaluated:
        they exist only once the task has run.
        """
        unknown = f"{name} is an output of call {self.path}.{call.name}, known only at run time"
        scope = self.callee_scope(call)
        member = name[len(call.name) + 1 :] if name.startswith(call.name + ".") else name
        callee = call.callee
        outputs = callee.outputs if callee is not None else None
        decl = next((d for d in outputs or [] if d.name == member), None)
        if not isinstance(scope, _WorkflowScope) or decl is None:  # a task output exists only once it ran
            raise _Unresolved(unknown)
        try:
            return scope.decl(decl)
        except _Unresolved as exn:
            raise _Unresolved(f"{name}, an output of sub-workflow call {self.path}.{call.name}: {exn.reason}") from None

    def compute(self, decl: Tree.Decl) -> Value.Base:
        name = f"{self.path}.{decl.name}"
        if id(decl) in self.inputs:
            if decl.name in self.supplied:
                value = self.supplied[decl.name]()
                if not _null_means_default(value, decl):
                    return _coerce(value, decl, f"input {name}")
            if name in self.params:
                return _from_param(self.params, name, decl)
            if self.top and decl.name in self.params:
                return _from_param(self.params, decl.name, decl)
        if decl.expr is not None:
            return _coerce(self.eval(decl.expr), decl, name)
        none = _optional_none(decl)
        if none is not None:
            return none
        raise _Unresolved(f"required input {name} has no default and no parameter")

    def scatter_value(self, scatter: Tree.Scatter) -> Value.Base:
        if self.scatter is scatter:
            if isinstance(self._scatter_value, _Unresolved):
                raise self._scatter_value
            assert self._scatter_value is not None
            return self._scatter_value
        if self.parent is not None:
            return self.parent.scatter_value(scatter)
        return super().scatter_value(scatter)

    def gather(self, gather: Tree.Gather, name: str) -> Value.Base:
        if isinstance(gather.section, Tree.Scatter):
            raise _Unresolved(f"{name} is gathered from a scatter (one value per element)")
        assert isinstance(gather.section, Tree.Conditional)  # a workflow section is a scatter or a conditional
        condition = self.eval(gather.section.expr)
        if not (isinstance(condition, Value.Boolean) and condition.value):
            return Value.Null()
        inner = gather.referee
        if isinstance(inner, Tree.Decl):
            return self.decl(inner)
        if isinstance(inner, Tree.Gather):
            return self.gather(inner, name)
        return self.call_output(inner, name)


def _node_ids(nodes: list[Any]) -> Iterator[int]:
    for node in nodes:
        yield id(node)
        if isinstance(node, Tree.WorkflowSection):
            yield from _node_ids(node.body)


# ---------------------------------------------------------------------------------------------
# Collecting containers


_Key = tuple[str, int, str, str | None, str | None]  # file, line, expression, raw, unresolved


class _Collector:
    def __init__(self, loader: _Loader, params: dict[str, Any]) -> None:
        self.loader = loader
        self.params = params
        self.stdlibs: dict[str, StdLib.Base] = {}
        self.lines = {real: doc.source_lines for real, doc in loader.docs.items()}
        # task (realpath, name) -> result key -> call paths ("" when reported uncalled)
        self.found: dict[tuple[str, str], dict[_Key, set[str]]] = {}
        self.task_names: dict[tuple[str, str], str] = {}
        self.branches_walked = 0

    def run(self) -> list[ContainerRef]:
        workflows: dict[tuple[str, str], tuple[Tree.Workflow, str]] = {}
        called: set[tuple[str, str]] = set()
        for real, doc in sorted(self.loader.docs.items()):
            if doc.workflow is not None:
                workflows[(real, doc.workflow.name)] = (doc.workflow, doc.effective_wdl_version)
                for call in _calls(doc.workflow.body):
                    if isinstance(call.callee, Tree.Workflow):
                        called.add((os.path.realpath(call.callee.pos.abspath), call.callee.name))
        for key, (workflow, version) in sorted(workflows.items()):
            if key in called:
                continue
            scope = _WorkflowScope(workflow, workflow.name, {}, self.params, self.stdlibs, top=True, version=version)
            self.walk(scope, workflow.body, 0)
        for real, doc in sorted(self.loader.docs.items()):
            for task in doc.tasks:
                tkey = (real, task.name)
                if tkey not in self.found:
                    self.task(task, _TaskScope(task, task.name, {}, self.params, self.stdlibs), "")
        return self.refs()

    def walk(self, scope: _WorkflowScope, nodes: list[Any], depth: int) -> None:
        for node in nodes:
            if isinstance(node, Tree.Call):
                self.call(scope, node, depth)
            elif isinstance(node, Tree.Scatter):
                for branch in self.branches(scope, node):
                    self.walk(branch, node.body, depth)
            elif isinstance(node, Tree.Conditional):
                self.walk(scope, node.body, depth)

    def branches(self, scope: _WorkflowScope, scatter: Tree.Scatter) -> list[_WorkflowScope]:
        what = f"scatter variable {scatter.variable}"
        try:
            array = scope.eval(scatter.expr)
        except _Unresolved as exn:
            return [scope.branch(scatter, _Unresolved(f"{what} iterates over an unknown array: {exn.reason}"))]
        items = array.value if isinstance(array, Value.Array) else []
        if not items:
            return [scope.branch(scatter, _Unresolved(f"{what} iterates over an empty array"))]
        if len(items) > _MAX_SCATTER or self.branches_walked + len(items) > _MAX_BRANCHES:
            return [scope.branch(scatter, _Unresolved(f"{what} iterates over {len(items)} values (too many to list)"))]
        self.branches_walked += len(items)
        return [scope.branch(scatter, item) for item in items]

    def call(self, scope: _WorkflowScope, call: Tree.Call, depth: int) -> None:
        callee = scope.callee_scope(call)
        if isinstance(callee, _TaskScope):
            self.task(callee.task, callee, callee.path)
        elif isinstance(callee, _WorkflowScope):
            self.walk(callee, callee.workflow.body, depth + 1)

    def task(self, task: Tree.Task, scope: _TaskScope, call_path: str) -> None:
        real = os.path.realpath(task.pos.abspath)
        tkey = (real, task.name)
        self.task_names[tkey] = task.name
        results = self.found.setdefault(tkey, {})
        file = self.loader.rel(real) or Path(real).name
        for key in ("docker", "container"):
            expr = task.runtime.get(key)
            if expr is None:
                continue
            parts = expr.items if isinstance(expr, Expr.Array) and expr.items else [expr]
            for part in parts:
                text = self.source(real, part)
                for raw, unresolved in _resolve(scope, part):
                    results.setdefault((file, part.pos.line, text, raw, unresolved), set()).add(call_path)

    def source(self, real: str, expr: Expr.Base) -> str:
        lines, pos = self.lines.get(real), expr.pos
        if not lines or not 1 <= pos.line <= pos.end_line <= len(lines):
            return str(expr)
        if pos.line == pos.end_line:
            return lines[pos.line - 1][pos.column - 1 : pos.end_column - 1]
        chunk = [lines[pos.line - 1][pos.column - 1 :], *lines[pos.line : pos.end_line - 1]]
        chunk.append(lines[pos.end_line - 1][: pos.end_column - 1])
        return "\n".join(chunk)

    def refs(self) -> list[ContainerRef]:
        refs: list[ContainerRef] = []
        for tkey, results in self.found.items():
            name = self.task_names[tkey]
            for (file, line, text, raw, unresolved), paths in results.items():
                calls = sorted(p for p in paths if p)
                context = f"task {name}"
                if calls:
                    context += f" ({'call' if len(calls) == 1 else 'calls'} {', '.join(calls)})"
                refs.append(
                    ContainerRef(
                        file=file,
                        line=line,
                        language="wdl",
                        context=context,
                        expression=text,
                        raw=raw,
                        unresolved=unresolved,
                    )
                )
        refs.sort(key=lambda r: (r.file, r.line, r.raw or "", r.unresolved or "", r.expression, r.context))
        return refs


def _thunk(scope: _Scope, expr: Expr.Base) -> Callable[[], Value.Base]:
    return lambda: scope.eval(expr)


def _calls(nodes: list[Any]) -> Iterator[Tree.Call]:
    for node in nodes:
        if isinstance(node, Tree.Call):
            yield node
        elif isinstance(node, Tree.WorkflowSection):
            yield from _calls(node.body)


def _workflow_version(workflow: Tree.Workflow, fallback: str) -> str:
    return getattr(workflow, "effective_wdl_version", None) or fallback


def _resolve(scope: _TaskScope, expr: Expr.Base) -> list[tuple[str | None, str | None]]:
    """(raw, unresolved) for each container a runtime value names."""
    try:
        value = scope.eval(expr)
    except _Unresolved as exn:
        return [(None, exn.reason)]
    return list(_strings(value))


def _strings(value: Value.Base) -> Iterator[tuple[str | None, str | None]]:
    if isinstance(value, Value.Null):
        yield None, "evaluates to null (no container named)"
    elif isinstance(value, Value.Array):
        if not value.value:
            yield None, "evaluates to an empty array (no container named)"
        for item in value.value:
            yield from _strings(item)
    elif isinstance(value, Value.String):  # File and Directory are String subclasses
        text = value.value.strip()
        if text == "*":
            yield None, "any container ('*')"
        elif not text:
            yield None, "evaluates to an empty string (no container named)"
        else:
            yield text, None
    else:
        yield None, f"evaluates to {value.type} {value}, not a string"


def extract(root: Path, params: dict[str, Any] | None = None, *, workspace: Workspace | None = None) -> Extraction:
    """Every container the WDL workflows under ``root`` name; ``params`` is a Cromwell/miniwdl inputs JSON."""
    root = Path(root)
    loader = _Loader(root, workspace)
    loader.load_all()
    containers = _Collector(loader, dict(params or {})).run()
    errors = sorted(loader.errors, key=lambda e: (e.file, e.line or 0, e.message))
    return Extraction(language="wdl", root=str(root), containers=containers, errors=errors)
