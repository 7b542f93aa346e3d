"""Nextflow extractor: every container a Nextflow workflow names, read from its ``*.nf`` and config files.

There is no Nextflow (Groovy) parser for Python, so this module carries its own
small one, in three layers:

1. A **tokenizer** that understands exactly as much Groovy as is needed never to
   mistake text for code: ``//`` and ``/* */`` comments, ``'...'``, ``"..."``,
   ``'''...'''``, ``\"\"\"...\"\"\"``, slashy ``/.../`` and dollar-slashy ``$/.../$``
   strings, escapes, and GString interpolation (``${ ... }`` is tokenized
   recursively, ``$name.prop`` too). A ``container 'x'`` inside a comment, a
   ``description``, a ``log.info`` message or a script block is therefore just
   part of a comment or a string and never a container. ``meta.yml`` and other
   non-Groovy files are not read at all.
2. A **statement walker**. In ``*.nf`` files (every folder except ``.git``,
   ``work``, ``.nextflow``, ``node_modules``) it finds top-level ``process NAME {``
   bodies and the ``container`` directives in them (``container = ...`` is a
   config setting, not a directive, and is ignored there), plus top-level
   ``params.x = ...`` and ``params { ... }`` defaults (also the typed
   ``name: Type = value`` form). In config files it follows ConfigSlurper
   scoping: ``process { withName: 'X' { container = ... } }``, ``withLabel``, the
   old ``'withName:X'`` / ``$x`` keys, ``process.container = ...``, ``params``
   blocks and dotted assignments, ``docker.registry`` / ``docker { registry }``,
   ``profiles`` (only those passed in ``profiles``; none by default, like a run
   without ``-profile``), ``if (...) { ... } else { ... }`` around settings, and
   ``try { ... }`` bodies. Config files read: ``nextflow.config`` with the files
   its ``includeConfig`` statements reach (at their place, relative to the
   including file, only under the workflow folder), then every ``conf/*.config``
   that no ``includeConfig`` names at all (not even in an inactive profile, a
   branch not taken or a file only such a profile includes; a GString path like
   ``"conf/containers_${x}.config"`` names every file it matches). Nextflow never
   loads such an orphan file, so its containers are reported as possible ones
   (Singularity references skipped) and its params and ``docker.registry`` only
   fill gaps, never override.
3. A tiny **expression evaluator** over a parsed expression tree. It evaluates
   string literals, GStrings, ``+`` concatenation, ``params.a`` / ``params.a.b`` /
   ``params['a']``, ``true``/``false``/``null``/numbers, ``!``, ``&&``, ``||``,
   ``==``/``!=``/``<``..., the Elvis operator ``?:`` and the ternary. For the nf-core
   ternary (``workflow.containerEngine == 'singularity' && ... ? 'https://...' :
   'biocontainers/x'``) the Docker branch is chosen: the branch that is not a
   Singularity/Apptainer reference (anything with ``://`` - ``https://``,
   ``oras://``, ``library://``, ``shub://``, ``docker://`` - or ending in
   ``.sif``). A ternary whose branches are both Docker references is decided by
   its condition, when that only involves params and literals.

Parameter precedence follows Nextflow: the ``params`` argument (the run's params
file / HealthOmics input JSON) beats the config files, which beat the main
script's defaults (``main.nf``, or ``manifest.mainScript``), which beat a module
file's own top-level defaults. Config files are evaluated in order, as Nextflow
does (a config value sees the params file and config params defined above it,
not the scripts); ``container`` directives in processes are evaluated with every
source.

Not evaluated (the value is reported with ``raw=None`` and ``unresolved``
naming what could not be resolved; nothing is guessed):

* Groovy code beyond the above: method calls (``.toLowerCase()``), closures
  anywhere but as a container's whole value, ``task.*``, ``workflow.*``,
  ``meta.*``, local variables, list/map literals, ``System.getenv``. A
  ``container = { ... }`` setting or ``container { ... }`` directive holding a
  parameterless closure is called, as Nextflow does per task: its one returned
  expression (``{ x }`` or ``{ return x }``) is evaluated, so the nf-core engine
  ternary inside it gives the Docker branch, while ``{ task.attempt > 1 ? ... }``
  stays unresolved (the reason names the closure and ``task.attempt``).
* An undefined param used as a value (an undefined param on the left of ``?:``
  is null, as in Nextflow, so the right side is used).

Hostile folders: every file is read through
:class:`~auditor.gate.workspace.Workspace` (inside the root after symlinks, a
regular file, size limits); a refused file is an :class:`ExtractionError` naming
it and the reason, and is never read. ``includeConfig`` is followed
``max_include_depth`` files deep (deeper is an error); a file is walked once per
context (memoised), and an include of a file already on the include chain is not
followed (a cycle hides nothing: its files are all walked). An include path is never globbed: a GString path with an
interpolation that cannot be evaluated (``"/${a}/${b}/x.config"``) is reported as
unresolved with its expression, and a path resolving outside the workflow folder
is refused with an error. Deciding which ``conf/*.config`` files are mentioned
(orphans, above) matches a GString path against the config files found under the
root, never by listing directories.

Also outside this extractor's reach: ``addParams``/``params`` passed to
``include``; settings inside functions (``def``) or loops; an ``includeConfig``
that is a remote URL (e.g. the nf-core ``custom_config_base`` URL), or an
unresolvable one with a ``"/dev/null"`` alternative (the nf-core idiom for an
optional institutional config) is skipped silently; in a branch whose
condition cannot be evaluated, containers are reported (except Singularity
references, which belong to a Singularity-only branch) but params and
``docker.registry`` assignments are ignored; likewise a ``container`` directive
nested in a block of a process body (the old nf-core ``if (workflow.containerEngine
== 'singularity') { container '...' } else { container '...' }``) is reported
unless it is a Singularity reference, and a brace-less ``if (x) container 'a'`` is
not seen. Selectors are not matched against process names (a config selector
overriding a process's own directive does not suppress the directive: both are
reported, the process under its declared name, e.g. ``process FASTQC``). A file
the tokenizer cannot read (an unterminated string or comment) is an
:class:`ExtractionError` with its line, and yields no containers.

A ``docker.registry`` (active config, last one wins) is set as
``default_registry`` on every container of the workflow; the reference
normaliser (:func:`auditor.refs.parse_reference`) applies it. A
``docker.registry`` that cannot be evaluated is an :class:`ExtractionError`. A
``docker.registry`` read from params (``params.registry``, ``"${params.registry}"``)
whose params have no value where it is set (null, empty, or not set in the config
or the params file) means the workflow expects its registry (typically the
account's ECR) at run time: every name without a registry host (Nextflow's
``isAbsoluteDockerName``) is then reported with ``raw=None`` and ``unresolved``
naming the parameter, never resolved as a Docker Hub name.

Which pipeline (:func:`pipeline_roots`): the folder given is the pipeline when it
holds a ``nextflow.config`` or a ``main.nf``. Otherwise (a repository with
``pipelines/rnaseq/``) every folder below whose ``nextflow.config`` has a
``manifest``, or whose ``main.nf`` has an entry ``workflow { }``, and that is not
inside another such folder, is a pipeline; nf-core module and workflow configs
(``modules/nf-core/x/nextflow.config``) are not. Each pipeline is read with its
own ``nextflow.config``, ``conf/`` and main script, plus every ``.nf`` file outside
all pipeline folders (shared modules it may include); with several pipelines an
:class:`ExtractionError` names them. When none is found the folder is read as is.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.gate.containers import ContainerRef, Extraction, ExtractionError
from auditor.gate.workspace import Refused, Workspace
from auditor.refs import is_nextflow_absolute

__all__ = ["SKIP_DIRS", "ScanError", "Tok", "extract", "pipeline_roots", "tokenize"]

SKIP_DIRS = frozenset({".git", "work", ".nextflow", "node_modules"})

# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------

IDENT, NUM, STR, OP, NL, EOF, OTHER = "IDENT", "NUM", "STR", "OP", "NL", "EOF", "OTHER"

_OPERATORS = sorted(
    [
        "==~", "<=>", "...", "..<", "**=", ">>>", "?.", "?:", "*.", ".&", ".@", "==", "!=", "<=", ">=", "&&",
        "||", "=~", "->", "..", "++", "--", "+=", "-=", "*=", "/=", "%=", "<<", ">>", "**", "::",
        "{", "}", "(", ")", "[", "]", ".", ",", ";", ":", "?", "=", "+", "-", "*", "/", "%", "<", ">", "!",
        "~", "&", "|", "^", "@",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
_IDENT_RE = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_PLAIN_IDENT_RE = re.compile(r"[^\W\d]\w*")
_NUM_RE = re.compile(r"0[xX][0-9a-fA-F_]+[lLgG]?|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?[a-zA-Z]?")
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"', "$": "$"}
# After these tokens an expression may start, so "/" opens a slashy string instead of dividing.
_EXPR_KEYWORDS = frozenset({"return", "in", "case", "assert", "if", "while"})


@dataclass(slots=True)
class Tok:
    kind: str
    text: str  # source text (for STR, the whole literal including quotes)
    start: int
    end: int
    line: int
    # STR only: literal text pieces and interpolated token lists, in order
    parts: tuple[str | tuple[Tok, ...], ...] = ()


class ScanError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(line, message)
        self.line = line
        self.message = message


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.newlines = [i for i, c in enumerate(src) if c == "\n"]

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def tokens(self) -> list[Tok]:
        pos = 0
        if self.src.startswith("#!"):
            nl = self.src.find("\n")
            pos = len(self.src) if nl < 0 else nl
        toks, _ = self.lex(pos, len(self.src))
        toks.append(Tok(EOF, "", len(self.src), len(self.src), self.line(len(self.src))))
        return toks

    def lex(self, pos: int, end: int, *, until_brace: bool = False) -> tuple[list[Tok], int]:
        """Tokens from ``pos`` to ``end``; with ``until_brace`` stop after the ``}`` closing a ``${``."""
        src = self.src
        toks: list[Tok] = []
        depth = 0
        while pos < end:
            c = src[pos]
            if c == "\n":
                if toks and toks[-1].kind != NL:
                    toks.append(Tok(NL, "\n", pos, pos + 1, self.line(pos)))
                pos += 1
                continue
            if c in " \t\r\f\v\ufeff":
                pos += 1
                continue
            if c == "\\" and src.startswith(("\n", "\r\n"), pos + 1):  # line continuation
                pos += 2 if src[pos + 1] == "\n" else 3
                continue
            if src.startswith("//", pos):
                nl = src.find("\n", pos, end)
                pos = end if nl < 0 else nl
                continue
            if src.startswith("/*", pos):
                close = src.find("*/", pos + 2, end)
                if close < 0:
                    raise ScanError(self.line(pos), "unterminated /* comment")
                if "\n" in src[pos:close] and toks and toks[-1].kind != NL:
                    toks.append(Tok(NL, "\n", pos, close + 2, self.line(pos)))
                pos = close + 2
                continue
            if c in "'\"":
                tok, pos = self._quoted(pos, end)
                toks.append(tok)
                continue
            if c == "$" and src.startswith("$/", pos) and self._expr_expected(toks):
                tok, pos = self._slashy(pos, end, dollar=True)
                toks.append(tok)
                continue
            if c == "/" and self._expr_expected(toks) and not src.startswith(("/=", "//", "/*"), pos):
                tok, pos = self._slashy(pos, end, dollar=False)
                toks.append(tok)
                continue
            m = _NUM_RE.match(src, pos, end)
            if m:
                toks.append(Tok(NUM, m.group(), pos, m.end(), self.line(pos)))
                pos = m.end()
                continue
            m = _IDENT_RE.match(src, pos, end)
            if m:
                toks.append(Tok(IDENT, m.group(), pos, m.end(), self.line(pos)))
                pos = m.end()
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if until_brace and depth == 0:
                    return toks, pos + 1
                depth -= 1
            for op in _OPERATORS:
                if src.startswith(op, pos) and pos + len(op) <= end:
                    toks.append(Tok(OP, op, pos, pos + len(op), self.line(pos)))
                    pos += len(op)
                    break
            else:
                toks.append(Tok(OTHER, c, pos, pos + 1, self.line(pos)))
                pos += 1
        if until_brace:
            raise ScanError(self.line(pos), "unterminated ${ interpolation")
        return toks, pos

    @staticmethod
    def _expr_expected(toks: list[Tok]) -> bool:
        if not toks:
            return True
        last = toks[-1]
        if last.kind == NL:
            return True
        if last.kind == OP:
            return last.text not in {")", "]", "}", "++", "--"}
        return last.kind == IDENT and last.text in _EXPR_KEYWORDS

    def _quoted(self, pos: int, end: int) -> tuple[Tok, int]:
        src = self.src
        for quote in ("'''", '"""', "'", '"'):
            if src.startswith(quote, pos):
                break
        interpolate = quote[0] == '"'
        single_line = len(quote) == 1
        start = pos
        pos += len(quote)
        parts: list[str | tuple[Tok, ...]] = []
        buf: list[str] = []
        while True:
            if pos >= end:
                raise ScanError(self.line(start), f"unterminated string starting with {quote}")
            if src.startswith(quote, pos):
                pos += len(quote)
                break
            c = src[pos]
            if c == "\n" and single_line:
                raise ScanError(self.line(start), f"unterminated string starting with {quote}")
            if c == "\\":
                pos = self._escape(pos, buf)
                continue
            if interpolate and c == "$":
                new_pos = self._interpolation(pos, end, parts, buf)
                if new_pos != pos:
                    pos = new_pos
                    continue
            buf.append(c)
            pos += 1
        if buf or not parts:
            parts.append("".join(buf))
        return Tok(STR, src[start:pos], start, pos, self.line(start), tuple(parts)), pos

    def _escape(self, pos: int, buf: list[str]) -> int:
        src = self.src
        nxt = src[pos + 1] if pos + 1 < len(src) else ""
        if nxt in _ESCAPES and nxt:
            buf.append(_ESCAPES[nxt])
            return pos + 2
        if nxt == "u" and _HEX4_RE.match(src, pos + 2):
            buf.append(chr(int(src[pos + 2 : pos + 6], 16)))
            return pos + 6
        if nxt == "\n":  # backslash-newline: continuation inside the string
            return pos + 2
        buf.append("\\" + nxt)
        return pos + 2 if nxt else pos + 1

    def _interpolation(self, pos: int, end: int, parts: list[str | tuple[Tok, ...]], buf: list[str]) -> int:
        """Handle ``$`` at ``pos`` in a GString; return the new position (``pos`` if ``$`` is literal)."""
        src = self.src
        if src.startswith("${", pos):
            if buf:
                parts.append("".join(buf))
                buf.clear()
            toks, new_pos = self.lex(pos + 2, end, until_brace=True)
            parts.append(tuple(toks))
            return new_pos
        m = _PLAIN_IDENT_RE.match(src, pos + 1, end)
        if not m:
            return pos
        stop = m.end()
        while stop < end and src[stop] == "." and (nxt := _PLAIN_IDENT_RE.match(src, stop + 1, end)):
            stop = nxt.end()
        if buf:
            parts.append("".join(buf))
            buf.clear()
        toks, _ = self.lex(pos + 1, stop)
        parts.append(tuple(toks))
        return stop

    def _slashy(self, pos: int, end: int, *, dollar: bool) -> tuple[Tok, int]:
        src = self.src
        start = pos
        close = "/$" if dollar else "/"
        pos += 2 if dollar else 1
        parts: list[str | tuple[Tok, ...]] = []
        buf: list[str] = []
        while True:
            if pos >= end:
                raise ScanError(self.line(start), "unterminated slashy string")
            if dollar and src.startswith(("$$", "$/"), pos):
                buf.append(src[pos + 1])
                pos += 2
                continue
            if src.startswith(close, pos):
                pos += len(close)
                break
            c = src[pos]
            if not dollar and c == "\\" and src.startswith("/", pos + 1):
                buf.append("/")
                pos += 2
                continue
            if c == "$":
                new_pos = self._interpolation(pos, end, parts, buf)
                if new_pos != pos:
                    pos = new_pos
                    continue
            buf.append(c)
            pos += 1
        if buf or not parts:
            parts.append("".join(buf))
        return Tok(STR, src[start:pos], start, pos, self.line(start), tuple(parts)), pos


def tokenize(src: str) -> list[Tok]:
    """Groovy tokens of ``src`` (comments dropped, newlines kept as ``NL``); raises :class:`ScanError`."""
    return _Lexer(src).tokens()


# ---------------------------------------------------------------------------
# Token helpers
# ---------------------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
# A statement continues on the next line when its line ends with one of these ...
_CONTINUE_AFTER = frozenset(
    {"?", ":", ",", ".", "?.", "*.", "=", "&&", "||", "+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=",
     "=~", "==~", "?:", "->", "**", "<<", ">>", "|", "&", "^", "!"}
)  # fmt: skip
# ... or the next line starts with one of these.
_CONTINUE_BEFORE = frozenset({"?", ":", ".", "?.", "*.", "?:", "&&", "||"})


def _is_op(tok: Tok, *texts: str) -> bool:
    return tok.kind == OP and tok.text in texts


def _skip_nl(toks: Sequence[Tok], i: int) -> int:
    i = min(i, len(toks) - 1)
    while toks[i].kind == NL or _is_op(toks[i], ";"):
        i += 1
    return i


def _match(toks: Sequence[Tok], i: int) -> int:
    """Index of the bracket closing the opener at ``i`` (the ``EOF`` index if unbalanced)."""
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.kind == OP and t.text in _OPENERS:
            depth += 1
        elif t.kind == OP and t.text in _CLOSERS:
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _after(toks: Sequence[Tok], i: int) -> int:
    """Index just after the bracket closing the opener at ``i`` (never past ``EOF``)."""
    return min(_match(toks, i) + 1, len(toks) - 1)


def _statement_end(toks: Sequence[Tok], i: int) -> int:
    """End (exclusive) of the expression/statement starting at ``i``."""
    depth = 0
    j = i
    while toks[j].kind != EOF:
        t = toks[j]
        if t.kind == OP:
            if t.text in _OPENERS:
                depth += 1
            elif t.text in _CLOSERS:
                if depth == 0:
                    break
                depth -= 1
            elif t.text == ";" and depth == 0:
                break
        elif t.kind == NL and depth == 0:
            prev = toks[j - 1] if j > i else None
            nxt = toks[_skip_nl_only(toks, j)]
            if prev is not None and (
                (prev.kind == OP and prev.text in _CONTINUE_AFTER) or (nxt.kind == OP and nxt.text in _CONTINUE_BEFORE)
            ):
                j += 1
                continue
            break
        j += 1
    return j


def _skip_nl_only(toks: Sequence[Tok], i: int) -> int:
    i = min(i, len(toks) - 1)
    while toks[i].kind == NL:
        i += 1
    return i


def _at_statement_start(toks: Sequence[Tok], i: int) -> bool:
    return i == 0 or toks[i - 1].kind == NL or _is_op(toks[i - 1], ";", "{", "}")


def _literal(tok: Tok) -> str | None:
    """The value of a string token without interpolation, else None."""
    if tok.kind != STR or not all(isinstance(p, str) for p in tok.parts):
        return None
    return "".join(p for p in tok.parts if isinstance(p, str))


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.strip())


# ---------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    start: int
    end: int


@dataclass(slots=True)
class _Lit(_Node):
    value: Any
    line: int


@dataclass(slots=True)
class _GStr(_Node):
    parts: list[str | _Node]
    line: int


@dataclass(slots=True)
class _Name(_Node):
    name: str


@dataclass(slots=True)
class _Prop(_Node):
    obj: _Node
    key: _Node | str
    safe: bool


@dataclass(slots=True)
class _Opaque(_Node):
    """Something the evaluator never evaluates (method call, closure, list/map literal, parse error)."""

    what: str


@dataclass(slots=True)
class _Closure(_Opaque):
    """A closure ``{ expr }``: opaque as a value, but a directive or setting holding one is called per task."""

    body: _Node | None  # the single expression it returns, None when it is more than that


@dataclass(slots=True)
class _Unary(_Node):
    op: str
    operand: _Node


@dataclass(slots=True)
class _Binary(_Node):
    op: str
    left: _Node
    right: _Node


@dataclass(slots=True)
class _Ternary(_Node):
    cond: _Node
    yes: _Node
    no: _Node


@dataclass(slots=True)
class _Elvis(_Node):
    left: _Node
    right: _Node


class _ParseError(Exception):
    pass


_BINARY_PRECEDENCE = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
    "==": 6, "!=": 6, "=~": 6, "==~": 6, "<=>": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "in": 7, "instanceof": 7,
    "<<": 8, ">>": 8, ">>>": 8, "..": 8, "..<": 8,
    "+": 9, "-": 9, "*": 10, "/": 10, "%": 10, "**": 11,
}  # fmt: skip


class _Parser:
    """Precedence-climbing parser for one Groovy expression (newlines inside are insignificant)."""

    def __init__(self, src: str, toks: Sequence[Tok]) -> None:
        self.src = src
        self.toks = [t for t in toks if t.kind != NL]
        end = self.toks[-1].end if self.toks else 0
        self.toks.append(Tok(EOF, "", end, end, 0))
        self.i = 0

    def parse(self) -> _Node:
        if self.toks[0].kind == EOF:
            raise _ParseError("empty expression")
        node = self.expr()
        if self.toks[self.i].kind != EOF:
            raise _ParseError(f"unexpected {self.toks[self.i].text!r}")
        return node

    def _peek(self) -> Tok:
        return self.toks[self.i]

    def _expect(self, text: str) -> Tok:
        t = self.toks[self.i]
        if not _is_op(t, text):
            raise _ParseError(f"expected {text!r}")
        self.i += 1
        return t

    def expr(self) -> _Node:
        cond = self.binary(1)
        t = self._peek()
        if _is_op(t, "?"):
            self.i += 1
            yes = self.expr()
            self._expect(":")
            no = self.expr()
            return _Ternary(cond.start, no.end, cond, yes, no)
        if _is_op(t, "?:"):
            self.i += 1
            right = self.expr()
            return _Elvis(cond.start, right.end, cond, right)
        return cond

    def _binary_op(self) -> str | None:
        t = self._peek()
        if t.kind == OP and t.text in _BINARY_PRECEDENCE:
            return t.text
        if t.kind == IDENT and t.text in ("in", "instanceof"):
            return t.text
        return None

    def binary(self, min_prec: int) -> _Node:
        left = self.unary()
        while (op := self._binary_op()) is not None and _BINARY_PRECEDENCE[op] >= min_prec:
            self.i += 1
            right = self.binary(_BINARY_PRECEDENCE[op] + 1)
            left = _Binary(left.start, right.end, op, left, right)
        return left

    def unary(self) -> _Node:
        t = self._peek()
        if t.kind == OP and t.text in ("!", "-", "+", "~"):
            self.i += 1
            operand = self.unary()
            return _Unary(t.start, operand.end, t.text, operand)
        return self.postfix(self.primary())

    def _skip_group(self) -> Tok:
        """Skip a bracketed group starting at the current token; return its closing token."""
        close = _match(self.toks, self.i)
        if self.toks[close].kind == EOF:
            raise _ParseError("unbalanced brackets")
        self.i = close + 1
        return self.toks[close]

    def postfix(self, node: _Node) -> _Node:
        while True:
            t = self._peek()
            if t.kind == OP and t.text in (".", "?.", "*.", ".&", ".@"):
                self.i += 1
                name = self._peek()
                if name.kind not in (IDENT, STR):
                    raise _ParseError("expected a property name")
                self.i += 1
                key: _Node | str = name.text if name.kind == IDENT else self._string(name)
                node = _Prop(node.start, name.end, node, key, t.text == "?.")
                if t.text not in {".", "?."}:
                    node = _Opaque(node.start, node.end, f"`{self.src[node.start : node.end]}` is not evaluated")
            elif _is_op(t, "["):
                self.i += 1
                key_node = self.expr()
                close = self._expect("]")
                node = _Prop(node.start, close.end, node, key_node, False)
            elif _is_op(t, "(") or (_is_op(t, "{") and isinstance(node, (_Name, _Prop, _Opaque))):
                close = self._skip_group()
                while _is_op(self._peek(), "{"):  # trailing closure argument
                    close = self._skip_group()
                text = _one_line(self.src[node.start : close.end])
                node = _Opaque(node.start, close.end, f"method call `{text}` is not evaluated")
            else:
                return node

    def _string(self, t: Tok) -> _Node:
        pieces: list[str | _Node] = []
        for part in t.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                try:
                    pieces.append(_Parser(self.src, part).parse())
                except _ParseError as exc:
                    start = part[0].start if part else t.start
                    end = part[-1].end if part else t.end
                    text = _one_line(self.src[start:end])
                    pieces.append(_Opaque(start, end, f"cannot parse `${{{text}}}`: {exc}"))
        if all(isinstance(p, str) for p in pieces):
            return _Lit(t.start, t.end, "".join(p for p in pieces if isinstance(p, str)), t.line)
        return _GStr(t.start, t.end, pieces, t.line)

    def primary(self) -> _Node:
        t = self._peek()
        if t.kind == STR:
            self.i += 1
            return self._string(t)
        if t.kind == NUM:
            self.i += 1
            text = t.text.replace("_", "").rstrip("lLgGdDfFiI")
            is_int = text.lower().startswith("0x") or not re.search(r"[.eE]", text)
            try:
                value: Any = int(text, 0) if is_int else float(text)
            except ValueError:
                return _Opaque(t.start, t.end, f"number `{t.text}` is not evaluated")
            return _Lit(t.start, t.end, value, t.line)
        if t.kind == IDENT:
            self.i += 1
            if t.text in ("true", "false", "null"):
                return _Lit(t.start, t.end, {"true": True, "false": False, "null": None}[t.text], t.line)
            if t.text == "new":
                raise _ParseError("object construction")
            return _Name(t.start, t.end, t.text)
        if _is_op(t, "("):
            self.i += 1
            inner = self.expr()
            self._expect(")")
            return inner
        if _is_op(t, "[", "{"):
            open_at = self.i
            close = self._skip_group()
            text = _one_line(self.src[t.start : close.end])
            if t.text == "{":
                what = f"closure `{text}` is evaluated by Nextflow at run time"
                return _Closure(t.start, close.end, what, self._closure_body(open_at + 1, self.i - 1))
            return _Opaque(t.start, close.end, f"list/map literal `{text}` is not evaluated")
        raise _ParseError(f"unexpected {t.text!r}" if t.kind != EOF else "incomplete expression")

    def _closure_body(self, start: int, end: int) -> _Node | None:
        """The one expression a parameterless closure returns (``{ a ? b : c }``, ``{ return x }``), else None.

        A closure with parameters (``{ x -> ... }``) or several statements (``;``) is left opaque.
        """
        inner = self.toks[start:end]
        depth = 0
        for t in inner:
            if t.kind == OP and t.text in _OPENERS:
                depth += 1
            elif t.kind == OP and t.text in _CLOSERS:
                depth -= 1
            elif depth == 0 and _is_op(t, "->", ";"):
                return None
        if inner and inner[0].kind == IDENT and inner[0].text == "return":
            inner = inner[1:]
        if not inner:
            return None
        try:
            return _Parser(self.src, inner).parse()
        except _ParseError:
            return None


def _parse(src: str, toks: Sequence[Tok]) -> _Node:
    try:
        return _Parser(src, toks).parse()
    except _ParseError as exc:
        start = toks[0].start if toks else 0
        end = toks[-1].end if toks else 0
        return _Opaque(start, end, f"cannot parse `{_one_line(src[start:end])}`: {exc}")


# --- evaluation --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Val:
    value: Any
    line: int | None = None  # line of the string literal the value came from
    undefined: str | None = None  # set when value is None because this param was never defined


@dataclass(frozen=True, slots=True)
class _Unres:
    reason: str


_Result = _Val | _Unres
_MISSING = object()


def _truthy(value: Any) -> bool:
    """Groovy truth."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str, list, dict, tuple)):
        return bool(value)
    return True


def _groovy_str(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _is_singularity(value: Any) -> bool:
    """A Singularity/Apptainer image (URL-style or ``.sif`` file), never a Docker reference."""
    return isinstance(value, str) and ("://" in value or value.strip().lower().endswith(".sif"))


def _null_reason(text: str, v: _Val) -> str:
    if v.undefined:
        where = "" if "(" in v.undefined else " (not in the params file or the workflow)"
        return f"{v.undefined} is not defined{where}"
    return f"`{text}` is null"


# ``lookup(keys)`` resolves ``params.<keys...>``; ``bare(name)`` resolves a bare name or returns None.
Lookup = Callable[[tuple[str, ...]], _Result]
Bare = Callable[[str], _Result | None]


class _Evaluator:
    def __init__(self, src: str, lookup: Lookup, bare: Bare | None = None) -> None:
        self.src = src
        self.lookup = lookup
        self.bare = bare

    def text(self, n: _Node) -> str:
        return _one_line(self.src[n.start : n.end])

    def evaluate(self, toks: Sequence[Tok], *, call: bool = False) -> _Result:
        """Parse and evaluate one expression; nesting too deep for Python's stack is unresolved, not a crash.

        With ``call`` (a ``container`` directive or setting) a value that is a closure is called, as
        Nextflow does for each task: its one returned expression is evaluated (the nf-core engine ternary
        inside it gives the Docker branch); what it needs at run time (``task.*``) stays unresolved.
        """
        try:
            node = _parse(self.src, toks)
            if call and isinstance(node, _Closure) and node.body is not None:
                v = self.ev(node.body)
                return _Unres(f"{node.what}: {v.reason}") if isinstance(v, _Unres) else v
            return self.ev(node)
        except RecursionError:
            return _Unres("expression nested too deeply to evaluate")

    def _chain(self, n: _Node) -> tuple[str, list[str], bool] | None:
        """``params.a['b']`` -> ("params", ["a", "b"], safe) when every key is a literal."""
        keys: list[str] = []
        safe = False
        while isinstance(n, _Prop):
            if isinstance(n.key, str):
                keys.append(n.key)
            elif isinstance(n.key, _Lit) and isinstance(n.key.value, str):
                keys.append(n.key.value)
            else:
                return None
            safe = safe or n.safe
            n = n.obj
        if not isinstance(n, _Name):
            return None
        return n.name, keys[::-1], safe

    def ev(self, n: _Node) -> _Result:
        if isinstance(n, _Lit):
            return _Val(n.value, n.line if isinstance(n.value, str) else None)
        if isinstance(n, _GStr):
            return self._gstring(n)
        if isinstance(n, _Opaque):
            return _Unres(n.what)
        if isinstance(n, (_Name, _Prop)):
            return self._reference(n)
        if isinstance(n, _Unary):
            v = self.ev(n.operand)
            if isinstance(v, _Unres):
                return v
            if n.op == "!":
                return _Val(not _truthy(v.value))
            if n.op in ("-", "+") and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
                return _Val(-v.value if n.op == "-" else v.value)
            return _Unres(f"operator `{n.op}` in `{self.text(n)}` is not evaluated")
        if isinstance(n, _Binary):
            return self._binary(n)
        if isinstance(n, _Ternary):
            return self._ternary(n)
        if isinstance(n, _Elvis):
            left = self.ev(n.left)
            if isinstance(left, _Unres):
                return left
            return left if _truthy(left.value) else self.ev(n.right)
        return _Unres(f"`{self.text(n)}` is not evaluated")

    def _gstring(self, n: _GStr) -> _Result:
        out: list[str] = []
        has_text = False
        line: int | None = None
        for part in n.parts:
            if isinstance(part, str):
                out.append(part)
                has_text = has_text or bool(part.strip())
                continue
            v = self.ev(part)
            if isinstance(v, _Unres):
                return v
            if v.value is None:
                return _Unres(_null_reason(self.text(part), v))
            s = _groovy_str(v.value)
            if s is None:
                return _Unres(f"`{self.text(part)}` is a {type(v.value).__name__}, not a string")
            out.append(s)
            if line is None:
                line = v.line
        return _Val("".join(out), n.line if has_text or line is None else line)

    def _reference(self, n: _Name | _Prop) -> _Result:
        chain = self._chain(n)
        text = self.text(n)
        if chain is None:
            if isinstance(n, _Prop):
                obj = self.ev(n.obj)
                if isinstance(obj, _Unres):
                    return obj
            return _Unres(f"`{text}` is not evaluated")
        root, keys, _safe = chain
        if root == "params":
            if not keys:
                return _Unres("`params` as a whole map is not evaluated")
            return self.lookup(tuple(keys))
        if not keys and self.bare is not None:
            v = self.bare(root)
            if v is not None:
                return v
        return _Unres(f"`{text}` cannot be resolved before run time")

    def _binary(self, n: _Binary) -> _Result:
        op = n.op
        left = self.ev(n.left)
        if op in ("&&", "||"):
            if isinstance(left, _Unres):
                return left
            if _truthy(left.value) == (op == "||"):
                return _Val(op == "||")
            right = self.ev(n.right)
            return right if isinstance(right, _Unres) else _Val(_truthy(right.value))
        if isinstance(left, _Unres):
            return left
        right = self.ev(n.right)
        if isinstance(right, _Unres):
            return right
        a, b = left.value, right.value
        if op == "+":
            if isinstance(a, str) or isinstance(b, str):
                for side, v in ((n.left, left), (n.right, right)):
                    if v.value is None:
                        return _Unres(_null_reason(self.text(side), v))
                sa, sb = _groovy_str(a), _groovy_str(b)
                if sa is None or sb is None:
                    return _Unres(f"`{self.text(n)}` concatenates a non-string value")
                return _Val(sa + sb, left.line or right.line)
            if _is_number(a) and _is_number(b):
                return _Val(a + b)
        elif op in ("==", "!="):
            return _Val((a == b) == (op == "=="))
        elif op in ("<", "<=", ">", ">=") and (
            (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))
        ):
            return _Val({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
        return _Unres(f"operator `{op}` in `{self.text(n)}` is not evaluated")

    def _ternary(self, n: _Ternary) -> _Result:
        yes, no = self.ev(n.yes), self.ev(n.no)
        yes_sing = isinstance(yes, _Val) and _is_singularity(yes.value)
        no_sing = isinstance(no, _Val) and _is_singularity(no.value)
        if yes_sing != no_sing:  # the nf-core Singularity/Docker switch: HealthOmics runs Docker
            return no if yes_sing else yes
        cond = self.ev(n.cond)
        if isinstance(cond, _Unres):
            return _Unres(f"cannot choose a branch of `{self.text(n)}`: {cond.reason}")
        return yes if _truthy(cond.value) else no


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _param_chains(node: _Node) -> list[tuple[str, ...]]:
    """Every ``params.a.b`` (literal keys) an expression reads, in order."""
    out: list[tuple[str, ...]] = []

    def visit(n: _Node | str) -> None:
        if isinstance(n, _Prop):
            keys: list[str] = []
            cur: _Node = n
            while isinstance(cur, _Prop):
                key = cur.key
                if isinstance(key, str):
                    keys.append(key)
                elif isinstance(key, _Lit) and isinstance(key.value, str):
                    keys.append(key.value)
                else:
                    visit(key)
                    keys = []
                    break
                cur = cur.obj
            if keys and isinstance(cur, _Name) and cur.name == "params":
                out.append(tuple(reversed(keys)))
            else:
                visit(cur)
        elif isinstance(n, _GStr):
            for part in n.parts:
                visit(part)
        elif isinstance(n, _Unary):
            visit(n.operand)
        elif isinstance(n, _Binary):
            visit(n.left)
            visit(n.right)
        elif isinstance(n, _Ternary):
            for child in (n.cond, n.yes, n.no):
                visit(child)
        elif isinstance(n, _Elvis):
            visit(n.left)
            visit(n.right)

    visit(node)
    return list(dict.fromkeys(out))


def _walk_dict(data: Mapping[str, Any], keys: Sequence[str]) -> Any:
    cur: Any = data
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return _MISSING
        cur = cur[k]
    return cur


def _set_nested(data: dict[str, Any], keys: Sequence[str], value: Any) -> None:
    cur = data
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt
    cur[keys[-1]] = value


def _as_result(value: Any) -> _Result:
    return value if isinstance(value, _Unres) else _Val(value)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    path: Path
    rel: str
    src: str
    toks: list[Tok]


@dataclass(slots=True)
class _Directive:
    """A ``container`` directive found in a process body, evaluated once all params are known."""

    source: _Source
    start: int  # token index range of the value
    end: int
    process: str
    conditional: bool  # inside an if/else (or other) block of the process body


@dataclass(slots=True)
class _ScriptParam:
    keys: tuple[str, ...]
    start: int
    end: int


@dataclass(slots=True)
class _NfFile:
    source: _Source
    params: list[_ScriptParam] = field(default_factory=list)
    directives: list[_Directive] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Ctx:
    """Where a config statement is: its scope path and how certain it is that Nextflow applies it."""

    path: tuple[str, ...] = ()
    profile: str | None = None  # inside this (active) profile
    uncertain: bool = False  # inside an if/else branch whose condition cannot be evaluated
    orphan: bool = False  # a conf/*.config file no includeConfig names

    def inside(self, *keys: str) -> _Ctx:
        return replace(self, path=(*self.path, *keys))


def _selector(segment: str) -> str | None:
    if segment.startswith(("withName:", "withLabel:")):
        return segment
    if segment.startswith("$") and len(segment) > 1:  # DSL1 ``process { $name { ... } }``
        return f"withName:{segment[1:]}"
    return None


class _Run:
    def __init__(
        self,
        root: Path,
        params: Mapping[str, Any] | None,
        profiles: Sequence[str],
        ws: Workspace | None = None,
        *,
        scan_root: Path | None = None,
        others: Sequence[Path] = (),
    ) -> None:
        self.root = root  # the pipeline: its nextflow.config, conf/, main.nf, projectDir
        self.ws = ws or Workspace(root)
        self.scan_root = scan_root or root  # the folder gated: every *.nf under it is read ...
        self.others = tuple(others)  # ... except those of the other pipelines in it
        self.user: Mapping[str, Any] = dict(params or {})
        self.profiles = tuple(profiles)
        self.containers: list[ContainerRef] = []
        self.errors: list[ExtractionError] = []
        self.config_params: dict[str, Any] = {}
        self.main_params: dict[str, Any] = {}
        self.script_param_names: set[tuple[str, ...]] = set()
        # docker.registry: its value, where it is set, and the params it reads that have no value there
        self.registry: tuple[_Result, str, int, tuple[str, ...]] | None = None
        self.include_stack: list[Path] = []
        self.config_seen: set[Path] = set()
        self.config_mentioned: set[Path] = set()
        self.failed: set[Path] = set()
        self.config_walked: set[tuple[Path, _Ctx]] = set()  # each file once per context: no include blow-up
        self.config_files: list[Path] = []  # every *.config under the root (names for GString includes)
        self.local_cache: dict[str, dict[str, Any]] = {}
        self.main_script = self.rel(root / "main.nf")  # manifest.mainScript, relative to the workspace root

    # --- files -------------------------------------------------------------

    def rel(self, path: Path) -> str:
        return self.ws.rel(path)

    def error(self, rel: str, line: int | None, message: str) -> None:
        err = ExtractionError(file=rel, line=line, message=message)
        if err not in self.errors:
            self.errors.append(err)

    def load(self, path: Path, *, quiet: bool = False) -> _Source | None:
        rel = self.rel(path)
        if quiet:  # a file only looked into, not part of what Nextflow loads: its problems are not reported
            errors = self.errors
            self.errors = []
            try:
                return self.load(path)
            finally:
                self.errors = errors
        try:
            data = self.ws.read_bytes(path)
        except Refused as refused:
            self.error(refused.rel, None, refused.reason)
            return None
        if b"\x00" in data:
            self.error(rel, None, "binary file (contains NUL bytes), not Nextflow source")
            return None
        try:
            src = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.error(rel, line, f"not valid UTF-8: {exc.reason} at byte {exc.start}")
            return None
        try:
            toks = tokenize(src)
        except ScanError as exc:
            self.error(rel, exc.line, exc.message)
            return None
        except RecursionError:
            self.error(rel, None, "interpolations nested too deeply to read")
            return None
        return _Source(path, rel, src, toks)

    def files(self) -> tuple[list[Path], list[Path]]:
        nf: list[Path] = []
        for path in _walk(self.ws, self.scan_root, SKIP_DIRS):  # never through a directory symlink
            if any(path.is_relative_to(other) for other in self.others):
                continue
            if path.name.endswith(".nf"):
                nf.append(path)
            elif path.name.endswith(".config"):
                self.config_files.append(path)
        conf_dir = self.root / "conf"
        confs: list[Path] = []
        if conf_dir.is_symlink() and not self.ws.inside(conf_dir):
            self.error(self.rel(conf_dir), None, "symlink leaves the workflow folder; its config files are not read")
        elif conf_dir.is_dir():
            # Not a directory: a FIFO or a symlink named *.config is loaded, so its refusal is reported.
            confs = sorted(p for p in conf_dir.glob("*.config") if not p.is_dir())
        return sorted(nf, key=self.rel), confs

    # --- containers ----------------------------------------------------------

    def add_container(
        self, source: _Source, start: int, end: int, context: str, ev: _Evaluator, *, conditional: bool
    ) -> None:
        toks = source.toks
        expr_toks = toks[start:end]
        if not expr_toks:
            return
        expression = _one_line(source.src[expr_toks[0].start : expr_toks[-1].end])
        line = expr_toks[0].line
        v = ev.evaluate(expr_toks, call=True)
        raw: str | None = None
        unresolved: str | None = None
        if isinstance(v, _Unres):
            unresolved = v.reason
        elif v.value is None:
            unresolved = _null_reason(expression, v)
        elif not isinstance(v.value, str):
            unresolved = f"`{expression}` is a {type(v.value).__name__}, not an image name"
        else:
            raw = v.value
            line = v.line or line
            if conditional and _is_singularity(raw):
                return  # the Singularity side of an if/else on the container engine
        self.containers.append(
            ContainerRef(
                file=source.rel,
                line=line,
                language="nextflow",
                context=context,
                expression=expression,
                raw=raw,
                unresolved=unresolved,
            )
        )

    # --- config files --------------------------------------------------------

    def config_lookup(self, keys: tuple[str, ...]) -> _Result:
        value = _walk_dict(self.user, keys)
        if value is not _MISSING:
            return _Val(value)
        value = _walk_dict(self.config_params, keys)
        if value is not _MISSING:
            return _as_result(value)
        name = "params." + ".".join(keys)
        if keys in self.script_param_names:
            name += " (set only in the workflow scripts, which Nextflow evaluates after the config files)"
        else:
            name += " (not in the params file or the config above this line)"
        return _Val(None, undefined=name)

    def config_eval(self, source: _Source, path: tuple[str, ...]) -> _Evaluator:
        def bare(name: str) -> _Result | None:
            if path[:1] != ("params",):
                return None
            keys = (*path[1:], name)
            if _walk_dict(self.user, keys) is _MISSING and _walk_dict(self.config_params, keys) is _MISSING:
                return None
            return self.config_lookup(keys)

        return _Evaluator(source.src, self.config_lookup, bare)

    def config_file(self, path: Path, ctx: _Ctx) -> None:
        key = path.resolve()
        if key in self.include_stack or key in self.failed or (key, ctx) in self.config_walked:
            return  # a cycle (reported by include()), a broken file, or walked already in this context
        self.config_walked.add((key, ctx))
        self.config_seen.add(key)
        source = self.load(path)
        if source is None:
            self.failed.add(key)
            return
        self.include_stack.append(key)
        try:
            i = 0
            while source.toks[i].kind != EOF:
                i = self.walk(source, i, ctx)
        except RecursionError:
            self.error(source.rel, None, "blocks nested too deeply to read; the rest of this file is skipped")
        finally:
            self.include_stack.pop()

    def walk(self, source: _Source, i: int, ctx: _Ctx) -> int:
        """Walk config statements from ``i`` until the ``}`` closing this block; return the index after it."""
        toks = source.toks
        while True:
            i = _skip_nl(toks, i)
            t = toks[i]
            if t.kind == EOF:
                return i
            if _is_op(t, "}"):
                return i + 1
            nxt = toks[i + 1]
            if t.kind == IDENT and t.text == "includeConfig":
                end = _statement_end(toks, i + 1)
                self.include(source, i + 1, end, ctx)
                i = end
                continue
            brace = _skip_nl_only(toks, i + 1)
            if t.kind == IDENT and t.text == "profiles" and not ctx.path and _is_op(toks[brace], "{"):
                i = self.profiles_block(source, brace + 1, ctx)
                continue
            if t.kind == IDENT and t.text == "if" and _is_op(nxt, "("):
                i = self.if_statement(source, i, ctx, skip=False)
                continue
            if t.kind == IDENT and t.text == "try" and _is_op(toks[brace], "{"):
                i = self.try_statement(source, brace, ctx)
                continue
            if t.kind == IDENT and t.text in ("withName", "withLabel") and _is_op(nxt, ":"):
                j = i + 2
                while toks[j].kind not in (NL, EOF) and not _is_op(toks[j], "{"):
                    j += 1
                sel_end = j
                if toks[j].kind == NL and _is_op(toks[_skip_nl_only(toks, j)], "{"):
                    j = _skip_nl_only(toks, j)
                if _is_op(toks[j], "{") and sel_end > i + 2:
                    sel_toks = toks[i + 2 : sel_end]
                    sel = _literal(sel_toks[0]) if len(sel_toks) == 1 else None
                    if sel is None:
                        sel = source.src[sel_toks[0].start : sel_toks[-1].end]
                    i = self.walk(source, j + 1, ctx.inside(f"{t.text}:{sel}"))
                    continue
            keys, k = self.keypath(toks, i)
            if keys:
                if _is_op(toks[k], "="):
                    end = _statement_end(toks, k + 1)
                    self.assign(source, (*ctx.path, *keys), k + 1, end, ctx)
                    i = end
                    continue
                brace = _skip_nl_only(toks, k)
                if _is_op(toks[brace], "{"):
                    i = self.walk(source, brace + 1, ctx.inside(*keys))
                    continue
            end = _statement_end(toks, i)
            i = end if end > i else i + 1

    @staticmethod
    def keypath(toks: Sequence[Tok], i: int) -> tuple[tuple[str, ...], int]:
        keys: list[str] = []
        while True:
            t = toks[i]
            key = t.text if t.kind == IDENT else _literal(t)
            if key is None:
                return (), i
            keys.append(key)
            i += 1
            if not _is_op(toks[i], "."):
                return tuple(keys), i
            i += 1

    def assign(self, source: _Source, keys: tuple[str, ...], start: int, end: int, ctx: _Ctx) -> None:
        toks = source.toks
        if start >= end:
            return
        if keys[0] == "params" and len(keys) > 1:
            if ctx.uncertain or _walk_dict(self.user, keys[1:]) is not _MISSING:
                return  # a branch we cannot decide, or the params file wins over the config
            if ctx.orphan and _walk_dict(self.config_params, keys[1:]) is not _MISSING:
                return  # a file Nextflow does not load never overrides the loaded config
            v = self.config_eval(source, keys[:-1]).evaluate(toks[start:end])
            _set_nested(self.config_params, keys[1:], v if isinstance(v, _Unres) else v.value)
        elif keys == ("manifest", "mainScript"):
            v = self.config_eval(source, keys[:-1]).evaluate(toks[start:end])
            if not ctx.uncertain and isinstance(v, _Val) and isinstance(v.value, str):
                self.main_script = self.rel(self.root / v.value)
        elif keys == ("docker", "registry"):
            if not ctx.uncertain and not (ctx.orphan and self.registry is not None):
                v = self.config_eval(source, keys[:-1]).evaluate(toks[start:end])
                try:
                    chains = _param_chains(_parse(source.src, toks[start:end]))
                except RecursionError:
                    chains = []
                empty = tuple(
                    "params." + ".".join(chain)
                    for chain in chains
                    if isinstance(p := self.config_lookup(chain), _Val) and (p.value is None or p.value == "")
                )
                self.registry = (v, source.rel, toks[start].line, empty)
        elif keys[0] == "process" and keys[-1] == "container" and len(keys) >= 2:
            selectors = [_selector(k) for k in keys[1:-1]]
            if any(s is None for s in selectors):
                return
            context = "config " + (" ".join(s for s in selectors if s) or "process.container")
            if ctx.profile:
                context += f" (profile {ctx.profile})"
            ev = self.config_eval(source, keys[:-1])
            self.add_container(source, start, end, context, ev, conditional=ctx.uncertain or ctx.orphan)

    def include(self, source: _Source, start: int, end: int, ctx: _Ctx) -> None:
        toks = source.toks
        self.mention(source, start, end)
        if start >= end:
            return
        specials = {"projectDir": str(self.root), "baseDir": str(self.root)}

        def bare(name: str) -> _Result | None:
            return _Val(specials[name]) if name in specials else None

        v = _Evaluator(source.src, self.config_lookup, bare).evaluate(toks[start:end])
        line = toks[start].line
        expression = _one_line(source.src[toks[start].start : toks[end - 1].end])
        if isinstance(v, _Unres):
            interpolated = any(t.kind == STR and any(not isinstance(p, str) for p in t.parts) for t in toks[start:end])
            optional = any(_literal(t) == "/dev/null" for t in toks[start:end])
            if interpolated and not optional:  # never globbed: the value is unknown, so is the file
                self.error(
                    source.rel, line, f"includeConfig {expression} cannot be resolved ({v.reason}); not followed"
                )
            return
        if not isinstance(v.value, str) or "://" in v.value or v.value == "/dev/null":
            return  # not followed (documented): a remote URL, or Nextflow's "include nothing"
        candidate = Path(v.value) if os.path.isabs(v.value) else source.path.parent / v.value
        if not self.ws.inside(candidate):
            self.error(source.rel, line, f"includeConfig {expression} resolves outside the workflow folder; not read")
            return
        target = self.resolve_under_root(source.path.parent, v.value)
        if target is None:
            return
        if target in self.include_stack:
            # Cut, not reported: every file of the cycle is walked already, so no container is hidden
            # (an include cycle is documented as harmless, see test_include_config_cycles_...).
            return
        if len(self.include_stack) >= self.ws.limits.max_include_depth:
            depth = self.ws.limits.max_include_depth
            self.error(source.rel, line, f"includeConfig {expression} nests deeper than {depth} files; not followed")
            return
        self.config_file(target, ctx)

    def resolve_under_root(self, base: Path, value: str) -> Path | None:
        target = Path(value) if os.path.isabs(value) else base / value
        try:
            target = target.resolve()
            target.relative_to(self.ws.real_root)  # the folder gated, not only this pipeline's
        except (OSError, ValueError):
            return None
        return target if target.exists() and not target.is_dir() else None  # a FIFO: load() refuses and reports it

    def mention(self, source: _Source, start: int, end: int) -> None:
        """Remember config files an ``includeConfig`` names (taken or not), so they are not orphans.

        A GString (``"conf/containers_${x}.config"``) names every config file under the root its literal
        parts match; the file system is never globbed (``"/${a}/${b}/${c}/x.config"`` would list it all).
        """
        for t in source.toks[start:end]:
            if t.kind != STR:
                continue
            literal = "".join(p if isinstance(p, str) else "\0" for p in t.parts)
            if not literal.endswith(".config") or "://" in literal:
                continue
            if "\0" not in literal:
                target = self.resolve_under_root(source.path.parent, literal)
                if target is not None:
                    self.config_mentioned.add(target)
                continue
            full = os.path.normpath(literal if os.path.isabs(literal) else source.path.parent / literal)
            pattern = re.compile("[^/]*".join(re.escape(piece) for piece in full.split("\0")))
            for path in self.config_files:
                if pattern.fullmatch(path.as_posix()):
                    target = self.resolve_under_root(source.path.parent, str(path))
                    if target is not None:
                        self.config_mentioned.add(target)

    def mention_closure(self) -> None:
        """Files included only by files Nextflow does not load (inactive profiles) are not orphans either."""
        scanned: set[Path] = set()
        while pending := sorted(self.config_mentioned - self.config_seen - scanned):
            for path in pending:
                scanned.add(path)
                source = self.load(path, quiet=True)
                if source is None:
                    continue
                toks = source.toks
                for j, t in enumerate(toks):
                    if t.kind == IDENT and t.text == "includeConfig":
                        self.mention(source, j + 1, _statement_end(toks, j + 1))

    def profiles_block(self, source: _Source, i: int, ctx: _Ctx) -> int:
        toks = source.toks
        while True:
            i = _skip_nl(toks, i)
            t = toks[i]
            if t.kind == EOF:
                return i
            if _is_op(t, "}"):
                return i + 1
            brace = _skip_nl_only(toks, i + 1)
            name = t.text if t.kind == IDENT else _literal(t)
            if name is not None and _is_op(toks[brace], "{"):
                close = _match(toks, brace)
                if name in self.profiles:
                    self.walk(source, brace + 1, replace(ctx, profile=name))
                else:
                    for j in range(brace, close):
                        if toks[j].kind == IDENT and toks[j].text == "includeConfig":
                            self.mention(source, j + 1, _statement_end(toks, j + 1))
                i = min(close + 1, len(toks) - 1)
                continue
            end = _statement_end(toks, i)
            i = end if end > i else i + 1

    def if_statement(self, source: _Source, i: int, ctx: _Ctx, *, skip: bool) -> int:
        """``if (cond) { ... } else if (...) { ... } else { ... }``: walk the branch the params decide.

        When the condition cannot be evaluated every branch is walked as uncertain.
        """
        toks = source.toks
        close = _match(toks, i + 1)
        body = _skip_nl_only(toks, close + 1)
        state: bool | None = False
        if not skip:
            cond = self.config_eval(source, ctx.path).evaluate(toks[i + 2 : close])
            state = None if isinstance(cond, _Unres) else _truthy(cond.value)
        if _is_op(toks[body], "{"):
            end = _after(toks, body)
            if state is not False:
                self.walk(source, body + 1, replace(ctx, uncertain=ctx.uncertain or state is None))
        else:  # single-statement body: not walked
            end = _statement_end(toks, body)
        j = _skip_nl_only(toks, end)
        if not (toks[j].kind == IDENT and toks[j].text == "else"):
            return end
        k = _skip_nl_only(toks, j + 1)
        else_skip = skip or state is True
        else_ctx = replace(ctx, uncertain=ctx.uncertain or state is None)
        if toks[k].kind == IDENT and toks[k].text == "if" and _is_op(toks[k + 1], "("):
            return self.if_statement(source, k, else_ctx, skip=else_skip)
        if _is_op(toks[k], "{"):
            if not else_skip:
                self.walk(source, k + 1, else_ctx)
            return _after(toks, k)
        return _statement_end(toks, k)

    def try_statement(self, source: _Source, brace: int, ctx: _Ctx) -> int:
        """``try { ... } catch (e) { ... } finally { ... }``: the ``try`` body is walked, handlers are not."""
        toks = source.toks
        self.walk(source, brace + 1, ctx)
        end = _after(toks, brace)
        while True:
            j = _skip_nl_only(toks, end)
            t = toks[j]
            if t.kind == IDENT and t.text == "catch" and _is_op(toks[j + 1], "("):
                block = _skip_nl_only(toks, _after(toks, j + 1))
            elif t.kind == IDENT and t.text == "finally":
                block = _skip_nl_only(toks, j + 1)
            else:
                return end
            if not _is_op(toks[block], "{"):
                return end
            end = _after(toks, block)

    # --- *.nf files ------------------------------------------------------------

    def scan_nf(self, source: _Source) -> _NfFile:
        toks = source.toks
        out = _NfFile(source)
        depth = 0
        i = 0
        while toks[i].kind != EOF:
            t = toks[i]
            if depth == 0 and t.kind == IDENT and _at_statement_start(toks, i):
                name = toks[i + 1].text if toks[i + 1].kind == IDENT else _literal(toks[i + 1])
                if t.text == "process" and name is not None:
                    brace = _skip_nl_only(toks, i + 2)
                    if _is_op(toks[brace], "{"):
                        close = _match(toks, brace)
                        self.scan_process(out, name, brace, close)
                        i = min(close + 1, len(toks) - 1)
                        continue
                if t.text == "params":
                    if _is_op(toks[i + 1], "."):
                        keys, k = self.keypath(toks, i)
                        if len(keys) > 1 and _is_op(toks[k], "="):
                            end = _statement_end(toks, k + 1)
                            out.params.append(_ScriptParam(keys[1:], k + 1, end))
                            i = end
                            continue
                    brace = _skip_nl_only(toks, i + 1)
                    if _is_op(toks[brace], "{"):
                        i = self.script_params_block(out, brace)
                        continue
            if _is_op(t, "{", "(", "["):
                depth += 1
            elif _is_op(t, "}", ")", "]"):
                depth = max(0, depth - 1)
            i += 1
        return out

    def script_params_block(self, out: _NfFile, brace: int) -> int:
        """``params { name = value }`` or the typed ``params { name: Type = value }``."""
        toks = out.source.toks
        close = _match(toks, brace)
        i = brace + 1
        while i < close:
            i = _skip_nl(toks, i)
            if i >= close:
                break
            t = toks[i]
            end = _statement_end(toks, i)
            if t.kind == IDENT:
                eq = next((j for j in range(i + 1, end) if _is_op(toks[j], "=")), None)
                if eq is not None and (eq == i + 1 or _is_op(toks[i + 1], ":")):
                    out.params.append(_ScriptParam((t.text,), eq + 1, end))
            i = end if end > i else i + 1
        return min(close + 1, len(toks) - 1)

    def scan_process(self, out: _NfFile, name: str, brace: int, close: int) -> None:
        toks = out.source.toks
        depth = 0
        i = brace + 1
        while i < close:
            t = toks[i]
            if _is_op(t, "{", "(", "["):
                depth += 1
            elif _is_op(t, "}", ")", "]"):
                depth -= 1
            elif (
                t.kind == IDENT
                and t.text == "container"
                and _at_statement_start(toks, i)
                and toks[i + 1].kind not in (NL, EOF)
                and not _is_op(toks[i + 1], "=", ".", "?.", ":", "}", ";", "+=", "-=", "*.", ".&", "->", ",")
            ):
                end = _statement_end(toks, i + 1)
                out.directives.append(_Directive(out.source, i + 1, end, name, conditional=depth > 0))
                i = end
                continue
            i += 1

    def script_lookup(self, nf: _NfFile | None) -> Lookup:
        """Params as a process sees them: params file, config, main.nf, then the file's own defaults."""

        def lookup(keys: tuple[str, ...]) -> _Result:
            for layer in (self.user, self.config_params, self.main_params):
                value = _walk_dict(layer, keys)
                if value is not _MISSING:
                    return _as_result(value)
            if nf is not None:
                local = self.local_params(nf)
                value = _walk_dict(local, keys)
                if value is not _MISSING:
                    return _as_result(value)
            return _Val(None, undefined="params." + ".".join(keys))

        return lookup

    def eval_script_params(self, nf: _NfFile, target: dict[str, Any], lookup: Lookup) -> None:
        for p in nf.params:
            if any(_walk_dict(layer, p.keys) is not _MISSING for layer in (self.user, self.config_params)):
                continue  # the params file and the config win over script defaults
            v = _Evaluator(nf.source.src, lookup).evaluate(nf.source.toks[p.start : p.end])
            _set_nested(target, p.keys, v if isinstance(v, _Unres) else v.value)

    def local_params(self, nf: _NfFile) -> dict[str, Any]:
        cache = self.local_cache
        if nf.source.rel not in cache:
            local: dict[str, Any] = {}
            cache[nf.source.rel] = local
            main_lookup = self.script_lookup(None)

            def lookup(keys: tuple[str, ...]) -> _Result:
                v = main_lookup(keys)
                if isinstance(v, _Val) and v.undefined:
                    value = _walk_dict(local, keys)
                    if value is not _MISSING:
                        return _as_result(value)
                return v

            self.eval_script_params(nf, local, lookup)
        return cache[nf.source.rel]

    # --- driver ----------------------------------------------------------------

    def run(self) -> None:
        nf_paths, conf_paths = self.files()
        nf_files: list[_NfFile] = []
        for path in nf_paths:
            source = self.load(path)
            if source is not None:
                nf_files.append(self.scan_nf(source))
        by_rel = {f.source.rel: f for f in nf_files}
        self.script_param_names = {p.keys for f in nf_files for p in f.params}  # only for messages

        main_config = self.root / "nextflow.config"
        if os.path.lexists(main_config) and not main_config.is_dir():  # a FIFO or a symlink too: load() reports it
            self.config_file(main_config, _Ctx())
        self.mention_closure()
        for path in conf_paths:
            resolved = path.resolve()
            if resolved not in self.config_seen and resolved not in self.config_mentioned:
                self.config_file(path, _Ctx(orphan=True))

        main = by_rel.get(self.main_script)
        if main is not None:
            self.eval_script_params(main, self.main_params, self.script_lookup(None))
        for nf in nf_files:
            ev = _Evaluator(nf.source.src, self.script_lookup(None if nf is main else nf))
            for d in nf.directives:
                self.add_container(d.source, d.start, d.end, f"process {d.process}", ev, conditional=d.conditional)

        default_registry = self.default_registry()
        no_registry = self.registry_without_value()
        unique: dict[tuple[str, int, str, str], ContainerRef] = {}
        for ref in self.containers:
            ref.default_registry = default_registry
            if no_registry and ref.raw is not None and not is_nextflow_absolute(ref.raw):
                ref.unresolved = (
                    f"{no_registry}, and `{ref.raw}` names no registry host: the registry it is relative to "
                    "is unknown (never assumed to be Docker Hub); pass the parameter in the params file"
                )
                ref.raw = None
            unique.setdefault((ref.file, ref.line, ref.context, ref.expression), ref)
        self.containers = sorted(unique.values(), key=lambda r: (r.file, r.line))
        self.errors.sort(key=lambda e: (e.file, e.line or 0))

    def registry_without_value(self) -> str | None:
        """Why bare names have no registry: ``docker.registry`` reads params that have no value, else None.

        ``docker.registry = params.registry`` with the param null, empty or not set anywhere (config or
        params file) means the workflow expects a registry (typically the account's ECR) at run time:
        its bare names are ECR-relative, not Docker Hub names, so they are reported unresolved.
        """
        if self.registry is None:
            return None
        v, _rel, _line, empty = self.registry
        if not empty or (isinstance(v, _Val) and v.value not in (None, "")):
            return None
        names = " and ".join(empty)
        verb = "has" if len(empty) == 1 else "have"
        where = "null, empty or not set in the config or the params file"
        return f"docker.registry comes from {names}, which {verb} no value ({where})"

    def default_registry(self) -> str | None:
        if self.registry is None or self.registry_without_value() is not None:
            return None
        v, rel, line, _empty = self.registry
        if isinstance(v, _Unres):
            self.error(rel, line, f"docker.registry cannot be resolved ({v.reason}); no default registry is applied")
            return None
        if v.value is None or v.value == "":
            return None
        if not isinstance(v.value, str):
            self.error(rel, line, f"docker.registry is a {type(v.value).__name__}, not a registry host")
            return None
        return v.value


def _walk(ws: Workspace, top: Path, skip: frozenset[str]) -> Iterator[Path]:
    """Every file name under ``top`` (the workspace root or a folder in it), as :meth:`Workspace.walk`."""
    if Path(os.path.abspath(top)) == ws.root:
        yield from ws.walk(skip)
        return
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _quiet_tokens(ws: Workspace, path: Path) -> list[Tok] | None:
    """Tokens of ``path`` read through the workspace, or None (its problems are reported when it is loaded)."""
    try:
        return tokenize(ws.read_bytes(path).decode("utf-8-sig"))
    except (Refused, UnicodeDecodeError, ScanError, RecursionError):
        return None


def _top_level(toks: Sequence[Tok]) -> Iterator[int]:
    """Indexes of the tokens at bracket depth 0 that start a statement."""
    depth = 0
    for i, t in enumerate(toks):
        if _is_op(t, "{", "(", "["):
            depth += 1
        elif _is_op(t, "}", ")", "]"):
            depth = max(0, depth - 1)
        elif depth == 0 and t.kind == IDENT and _at_statement_start(toks, i):
            yield i


def _is_pipeline_root(ws: Workspace, folder: Path) -> bool:
    """A folder whose ``nextflow.config`` belongs to a pipeline, not to a module or a sub-workflow.

    nf-core modules (``modules/nf-core/x/``) and workflows (``workflows/x/``) carry a ``nextflow.config``
    next to their ``main.nf`` too, so that pair alone does not make a pipeline: the config must have a
    ``manifest`` (every nf-core pipeline's has one, with ``mainScript``) or the ``main.nf`` beside it an
    entry workflow (an unnamed ``workflow { ... }``).
    """
    toks = _quiet_tokens(ws, folder / "nextflow.config")
    if toks is not None and any(toks[i].text == "manifest" for i in _top_level(toks)):
        return True
    main = folder / "main.nf"
    if not main.is_file():
        return False
    toks = _quiet_tokens(ws, main)
    if toks is None:
        return False
    return any(toks[i].text == "workflow" and _is_op(toks[_skip_nl_only(toks, i + 1)], "{") for i in _top_level(toks))


def pipeline_roots(root: Path, workspace: Workspace | None = None) -> list[Path]:
    """The pipeline folders to read under ``root``: ``root`` itself unless it is a parent of pipelines.

    ``root`` is the pipeline when it holds a ``nextflow.config`` or a ``main.nf``, or when no pipeline
    is found below it (a folder of loose modules). Otherwise every folder below whose
    ``nextflow.config`` is a pipeline's (:func:`_is_pipeline_root`) and that is not inside another such
    folder (its own modules and workflows), sorted.
    """
    root = Path(root).resolve()
    ws = workspace or Workspace(root)
    if any(os.path.lexists(root / name) for name in ("nextflow.config", "main.nf")):
        return [root]
    found: list[Path] = []
    for path in _walk(ws, root, SKIP_DIRS):
        folder = path.parent
        if path.name != "nextflow.config" or any(folder.is_relative_to(f) for f in found):
            continue  # walked top-down, sorted: an outer pipeline is found before its own folders
        if _is_pipeline_root(ws, folder):
            found.append(folder)
    return found or [root]


def extract(
    root: Path,
    params: dict[str, Any] | None = None,
    *,
    profiles: Sequence[str] = (),
    workspace: Workspace | None = None,
) -> Extraction:
    """Every container the Nextflow workflow under ``root`` names.

    ``params`` are the run's parameters (plain keys, as in a params file); they
    override config and script defaults. ``profiles`` are the config profiles
    to activate (none by default, as a run without ``-profile``).
    """
    root = Path(root).resolve()
    extraction = Extraction(language="nextflow", root=str(root))
    if not root.is_dir():
        extraction.errors.append(ExtractionError(file=".", message=f"workflow folder not found: {root}"))
        return extraction
    workspace = workspace or Workspace(root)
    pipelines = pipeline_roots(root, workspace)
    seen: set[tuple[Any, ...]] = set()
    for pipeline in pipelines:
        others = [p for p in pipelines if p != pipeline]
        run = _Run(pipeline, params, profiles, workspace, scan_root=root, others=others)
        run.run()
        for ref in run.containers:  # a shared module outside every pipeline is read by each of them
            key = (ref.file, ref.line, ref.context, ref.expression, ref.raw, ref.unresolved, ref.default_registry)
            if key not in seen:
                seen.add(key)
                extraction.containers.append(ref)
        extraction.errors.extend(e for e in run.errors if e not in extraction.errors)
    extraction.containers.sort(key=lambda r: (r.file, r.line))
    if len(pipelines) > 1:
        names = ", ".join(workspace.rel(p) for p in pipelines)
        message = (
            f"{len(pipelines)} Nextflow pipelines under this folder ({names}): each is read with its own "
            "nextflow.config (and the .nf files outside every pipeline folder), never with another's; "
            "HealthOmics runs one of them, so gate the folder of the one you release"
        )
        extraction.errors.insert(0, ExtractionError(file=".", message=message))
    return extraction
