"""A hang becomes a test failure: SIGALRM interrupts a blocking open or read (there is no pytest-timeout here).

Used by tests/test_bad_input_matrix.py and tests/test_gate_hostile.py. SIGALRM is delivered to the main thread,
where pytest (and every pytest-xdist worker) runs the tests.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Hung(BaseException):
    """Not an Exception (nor an OSError, as TimeoutError is): no ``except`` in the code under test swallows it."""


@contextmanager
def deadline(seconds: int, what: str = "the command") -> Iterator[None]:
    """Raise ``Hung`` in the main thread if the body is still running after ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise Hung(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
