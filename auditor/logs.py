"""structlog configuration: logs go to stderr, so stdout stays for the human summary.

Two renderers, one choice (``--log-format auto|text|json``):

* ``json``: one JSON object per line (sorted keys, ISO timestamps in UTC, tracebacks as data), for
  machines: CloudWatch in Lambda, log shippers, ``jq``.
* ``text``: structlog's console renderer, for a person at a terminal: local time, level, event and its
  values, in colour only when stderr is a terminal and ``NO_COLOR`` is not set. Values come from AWS
  and files, so every string is made printable first (``auditor.terminal.printable``).

``auto`` (the default) is ``json`` in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) and whenever stderr is not
a terminal (a pipe or a file is read by a program more often than by a person), else ``text``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from auditor import progress
from auditor.terminal import colour_enabled, in_lambda, is_terminal, printable, terminal_text

LOG_FORMATS = ("auto", "text", "json")


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is *now* (tests, embedders and the progress display swap it)."""

    def msg(self, message: str) -> None:
        if not progress.print_above(message):  # a progress display draws it above itself, unwrapped
            print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


class _Escaped(str):
    """A value already made printable: the console renderer's repr() of it must not escape it a second time."""

    def __repr__(self) -> str:
        return f"'{self}'"


def _printable_values(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every string value escaped for the terminal; a traceback keeps its lines (each escaped)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = terminal_text(value.split("\n")) if key == "exception" else _Escaped(printable(value))
    return event


def resolve_format(fmt: str = "auto") -> str:
    """``auto`` made concrete: json in Lambda or when stderr is not a terminal, else text."""
    if fmt != "auto":
        return fmt
    return "json" if in_lambda() or not is_terminal(sys.stderr) else "text"


def configure(level: str = "warning", fmt: str = "auto") -> None:
    numeric = getattr(logging, level.upper(), logging.WARNING)
    shared: list[Any] = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level]
    if resolve_format(fmt) == "json":
        renderer: list[Any] = [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(sort_keys=True),
        ]
    else:
        renderer = [
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.processors.format_exc_info,
            _printable_values,
            structlog.dev.ConsoleRenderer(
                colors=colour_enabled(sys.stderr),
                exception_formatter=structlog.dev.plain_traceback,
                sort_keys=True,
            ),
        ]
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
    # botocore's own logger is noisy at INFO and could echo request details; keep it quiet.
    logging.getLogger("botocore").setLevel(logging.WARNING)
