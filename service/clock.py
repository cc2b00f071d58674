"""Clocks: where "now" comes from.

Why an abstraction: decisions are made in *event time* (the feed's timestamps), so the same
engine can replay a day as fast as the CPU allows or trade live in real time. Latency, on the
other hand, is always measured with the monotonic wall clock (``time.perf_counter_ns``), never
with these.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in nanoseconds since the Unix epoch."""
        ...


class RealClock:
    """Wall-clock time, for live trading."""

    def now_ns(self) -> int:
        return time.time_ns()


class EventClock:
    """Time that advances only when events say so (replay, simulation, accelerated venues).

    It never goes backwards: an event stamped earlier than the latest one seen (feeds do
    reorder slightly) leaves the clock where it is.
    """

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns
