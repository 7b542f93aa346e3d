"""A clock the rate limiters can be driven by without sleeping, and the window count their guarantee is about."""

from __future__ import annotations


class FakeClock:
    """``clock()`` reads the time, ``clock.sleep(s)`` moves it on (and records the sleep)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def max_in_window(starts: list[float], window: float) -> int:
    """The most call starts in any ``window`` seconds (a start exactly one window later is outside it;
    1e-9 absorbs float rounding of accumulated sleeps)."""
    starts = sorted(starts)
    return max((sum(1 for t in starts[i:] if t < s + window - 1e-9) for i, s in enumerate(starts)), default=0)
