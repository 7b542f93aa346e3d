"""What reaches a person's terminal: suggested shell commands, and text that came from AWS or files.

Two concerns, one rule each:

* **Commands.** Every shell line the tool suggests (plan steps, ``ApiCall.cli()``, "undo with:",
  the HTML report's commands) is built by :func:`command_line` from an argument list, never by
  formatting values into a string. A value is always exactly one shell word, so a registry URL
  like ``evil.azurecr.io/$(touch X)`` or a tag with a quote in it is inert when the line is
  pasted. JSON arguments are one argument (``json.dumps(...)``), quoted as a whole. Placeholders
  such as ``<prefix>`` are quoted too: pasted unedited they are a harmless literal, not a redirect.
  A trailing ``# comment`` goes through :func:`printable`, so it cannot end the line early.
* **Text.** Anything derived from AWS or a file (names, tags, URLs, messages, diffs) may hold
  control characters: ANSI escapes that clear the screen or recolour, CR/LF that forge a line,
  bidi overrides that reorder what is shown. :func:`printable` escapes them visibly; the renderers
  build their lines, then join them with :func:`terminal_text`, so the only raw newlines in their
  output are the ones they put between lines.

The escapes are JSON's (``\\n``, ``\\r``, ``\\t``, ``\\u001b``): raw control characters cannot occur
in valid JSON text at all, and C1 or bidi characters only inside strings, where ``\\uXXXX`` means the
same character. So :func:`terminal_text` may also be applied to JSON on its way to the terminal without
changing what it decodes to; it is idempotent too. Backslashes are left alone for the same reason:
a literal ``\\n`` in a value looks like an escaped newline, but cannot start a new line.

Why not escape inside :func:`command_line`: the plan file keeps the exact arguments (``shlex.join``
is lossless), and the terminal view escapes the whole line like any other text. A control character
in a command shown on screen is therefore visible (``'a\\nb'``), and the line stays one line.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence

# C0 controls, DEL, C1 controls (incl. NEL U+0085), bidi embeddings/overrides/isolates, LRM/RLM/ALM,
# and the Unicode line/paragraph separators (str.splitlines() and some viewers break lines at them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """``text`` with every control, bidi-control and line-separator character shown as an escape.

    Ordinary Unicode (é, 中, →) is kept. The result is one line and safe to write to a terminal.
    """
    return _UNSAFE.sub(_escape, text)


def terminal_text(lines: Iterable[str]) -> str:
    """Lines a renderer built, each made printable, joined by the only raw newlines in the result."""
    return "\n".join(printable(line) for line in lines)


def safe_for_terminal(text: str) -> str:
    """Already-joined text (a renderer's output, JSON, YAML): its newlines kept, anything else escaped.

    A last line of defence for a printing helper; values inside it should have been escaped by
    :func:`terminal_text` before their lines were joined, or a value's newline passes as a separator.
    """
    return terminal_text(text.split("\n"))


def command_line(args: Sequence[str], *, comment: str = "") -> str:
    """The shell line running ``args`` exactly: each argument quoted (``shlex.join``) for a POSIX shell.

    ``comment`` (a person's note, e.g. "confirm the platforms") follows as ``# ...``, made printable so
    a newline in it cannot turn the rest into a command.
    """
    line = shlex.join(args)
    return f"{line}   # {printable(comment)}" if comment else line


def shell_comment(text: str) -> str:
    """A line of guidance among suggested commands: a shell comment, so pasting it runs nothing."""
    return f"# {printable(text)}"


class _ReaderMayLeave(io.TextIOBase):
    """stdout that, once its reader has gone (`omics-ecr-audit … | head`), discards what is left quietly.

    The command goes on, so the files it writes after printing (a SARIF report, findings) are still
    written and its exit code stands; nothing prints "BrokenPipeError" at exit either, because the
    descriptor itself is pointed at the null device.
    """

    def __init__(self, stream: io.TextIOBase) -> None:
        super().__init__()
        self._stream = stream
        self._gone = False

    def _reader_left(self) -> None:
        self._gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", "utf-8"))

    def writable(self) -> bool:
        return True


def tolerate_departing_reader() -> None:
    """Make sys.stdout survive a reader that leaves early (a pipe to `head`); idempotent."""
    if not isinstance(sys.stdout, _ReaderMayLeave) and sys.stdout is not None:
        sys.stdout = _ReaderMayLeave(sys.stdout)  # type: ignore[arg-type]
