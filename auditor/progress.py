"""Progress of long work (the account x region cells of a scan, and the API calls each makes), on stderr.

Only the command line turns it on (:func:`display`), and only when stderr is a terminal: in a pipe, a
file, CI or Lambda nothing is drawn at all. The scan reports to whatever :func:`current` returns; without
a display that is a reporter doing nothing, so the library, the Lambda handler and the tests are unchanged.

The display is Rich's (``rich.progress``), transient: it is drawn while the cells run and erased at the
end, so the summary on stdout and the log lines (printed above it while it runs) are all that remains.
Cell labels are account ids and region names; the tool's own text, never data from AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from auditor.terminal import colour_enabled, interactive, printable


class Counter(Protocol):
    def snapshot(self) -> dict[str, int]: ...


class Reporter(Protocol):
    def cells_planned(self, total: int) -> None: ...

    def cell_started(self, label: str, counter: Counter) -> Any: ...

    def cell_finished(self, handle: Any, ok: bool) -> None: ...

    def emit(self, line: str) -> bool: ...


class _Silent:
    """What the scan reports to when nothing is displayed."""

    def cells_planned(self, total: int) -> None:
        return None

    def cell_started(self, label: str, counter: Counter) -> Any:
        return None

    def cell_finished(self, handle: Any, ok: bool) -> None:
        return None

    def emit(self, line: str) -> bool:
        return False


SILENT: Reporter = _Silent()
_current: Reporter = SILENT


def current() -> Reporter:
    """The reporter of the running command (a silent one unless :func:`display` is active)."""
    return _current


def print_above(line: str) -> bool:
    """Print a line (a log line) above the live display, if one is drawn; False when none is (print it yourself)."""
    return _current.emit(line)


def _calls(counter: Counter) -> str:
    calls = counter.snapshot()
    total = sum(calls.values())
    by_service: dict[str, int] = {}
    for operation, n in calls.items():
        service = operation.split(":", 1)[0]
        by_service[service] = by_service.get(service, 0) + n
    top = sorted(by_service.items(), key=lambda kv: -kv[1])[:4]
    detail = " · ".join(f"{service} {n}" for service, n in top)
    return f"{total} API calls" + (f" ({detail})" if detail else "")


class RichReporter:
    """Rich's live progress on stderr: a bar over the cells, and a line per running cell."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Any = None
        self._overall: Any = None

    def _start(self) -> Any:
        if self._progress is None:
            import sys

            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=sys.stderr, no_color=not colour_enabled(sys.stderr), highlight=False)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[calls]}", markup=False),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                refresh_per_second=8,
                # stdout is the command's own output (a pipe, a file): never routed through the display.
                # Log lines on stderr come through emit(), unwrapped.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
        return self._progress

    def cells_planned(self, total: int) -> None:
        with self._lock:
            progress = self._start()
            if self._overall is None:
                self._overall = progress.add_task("cells", total=total, calls="")
            else:
                progress.update(self._overall, total=total, completed=0)

    def cell_started(self, label: str, counter: Counter) -> Any:
        with self._lock:
            progress = self._start()
            # total=None: an indeterminate bar; the calls column is refreshed from the counter below
            return progress.add_task(printable(label), total=None, calls="", counter=counter)

    def cell_finished(self, handle: Any, ok: bool) -> None:
        with self._lock:
            if self._progress is None or handle is None:
                return
            self._progress.remove_task(handle)
            if self._overall is not None:
                self._progress.advance(self._overall)
                overall = next(t for t in self._progress.tasks if t.id == self._overall)
                if overall.finished:  # every cell is done: erase the display before the summary prints
                    self._stop()

    def emit(self, line: str) -> bool:
        with self._lock:
            if self._progress is None:
                return False
            from rich.text import Text

            self._progress.console.print(Text.from_ansi(line), soft_wrap=True)
            return True

    def refresh(self) -> None:
        """Copy each running cell's call count into its line (called by the ticker thread)."""
        with self._lock:
            if self._progress is None:
                return
            for task in list(self._progress.tasks):
                counter = task.fields.get("counter")
                if counter is not None:
                    self._progress.update(task.id, calls=_calls(counter))

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._overall = None


@contextmanager
def display(enabled: bool | None = None) -> Iterator[Reporter]:
    """Show progress while the block runs: when ``enabled`` (default: stderr is an interactive terminal)."""
    import sys

    global _current
    if enabled is None:
        enabled = interactive(sys.stderr)
    if not enabled:
        yield SILENT
        return
    reporter = RichReporter()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.25):
            reporter.refresh()

    ticker = threading.Thread(target=tick, name="progress", daemon=True)
    previous, _current = _current, reporter
    ticker.start()
    try:
        yield reporter
    finally:
        stop.set()
        ticker.join(timeout=1)
        reporter.stop()
        _current = previous
