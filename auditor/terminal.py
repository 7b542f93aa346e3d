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
from typing import Any

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

    def __getattr__(self, name: str) -> Any:  # buffer, errors, line_buffering...: the stream's own
        return getattr(self._stream, name)


def tolerate_departing_reader() -> None:
    """Make sys.stdout and sys.stderr survive a reader that leaves early (`| head`, `2>&1 | head`); idempotent."""
    if not isinstance(sys.stdout, _ReaderMayLeave) and sys.stdout is not None:
        sys.stdout = _ReaderMayLeave(sys.stdout)  # type: ignore[arg-type]
    if not isinstance(sys.stderr, _ReaderMayLeave) and sys.stderr is not None:
        sys.stderr = _ReaderMayLeave(sys.stderr)  # type: ignore[arg-type]


# --- terminals: colour and interactivity --------------------------------------------------------------


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):
        return False


def in_lambda() -> bool:
    """Running as an AWS Lambda function (its runtime sets AWS_LAMBDA_FUNCTION_NAME)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def colour_enabled(stream: object) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (no-color.org: any non-empty value) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" or in_lambda():
        return False
    return is_terminal(stream)


def interactive(stream: object) -> bool:
    """Worth drawing a live display (progress) on: a terminal, not a Lambda function, not TERM=dumb."""
    return is_terminal(stream) and not in_lambda() and os.environ.get("TERM") != "dumb"


# SGR sequences the tool adds itself, after the text was made printable (so data can never add its own).
_SGR = {"FAIL": "1;31", "ERROR": "1;35", "MUTED": "2", "PASS": "32", "BLOCKED": "33", "REFUSED": "1;31"}
_RESET = "\x1b[0m"
_MARKER = re.compile(r"^\[(FAIL |ERROR|MUTED|PASS )\]")
_COUNT = re.compile(r"(?<= )(FAIL|ERROR|MUTED) ([1-9]\d*)(?=  |$)")


def _paint(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}{_RESET}"


def highlight(text: str) -> str:
    """``text`` (already printable) with the summary's status markers and non-zero problem counts in colour.

    Only markers at the start of a line (``[FAIL ]``, ``[ERROR]``...) and the counts of the ``findings:``
    line are coloured; the colour codes are the only escape sequences in the result.
    """
    out = []
    for line in text.split("\n"):
        marker = _MARKER.match(line)
        if marker:
            word = marker.group(1).strip()
            out.append(_paint(_SGR[word], marker.group(0)) + line[marker.end() :])
        elif line.startswith("findings: "):
            out.append(_COUNT.sub(lambda m: _paint(_SGR[m.group(1)], m.group(0)), line))
        else:
            out.append(line)
    return "\n".join(out)
