"""Order latency drawn per message: how long an order takes to reach the book.

Why drawn, not fixed: a policy trained where every order acts at a known instant learns timing
the live path cannot give it (a cancel that always beats the fill, a re-post that always lands
before the crowd's). Drawing each message's delay teaches it what a real connection does.

Named assumptions:
- **Lognormal**, given by its median and its 99th percentile: one-way order latency is
  right-skewed (most messages near the median, a tail from queueing and retransmits), and a
  lognormal is the usual two-number description of such a delay. With no 99th percentile the
  latency is fixed at the median.
- **In order**: the messages of one session reach the venue in the order they were sent (one
  TCP connection), so a draw that would overtake the message before it is held back to arrive
  just after it. Reports come back at once (the exchanges' own assumption).
- Each episode's draws come from its own seed, so an episode replays exactly.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist

_Z99 = NormalDist().inv_cdf(0.99)


class OrderLatency:
    """Due times for order messages: ``due_ns(now)`` is when one sent at ``now`` arrives."""

    __slots__ = ("_last_due_ns", "_mu", "_rng", "_sigma", "median_ms", "p99_ms")

    def __init__(self, median_ms: float, p99_ms: float | None = None, seed: int = 0) -> None:
        if not math.isfinite(median_ms) or median_ms < 0:
            raise ValueError(f"latency median must be a finite number >= 0 ms, got {median_ms!r}")
        if p99_ms is not None and (not math.isfinite(p99_ms) or p99_ms < median_ms
                                   or median_ms == 0):
            raise ValueError(f"latency 99th percentile must be finite and at least the median "
                             f"(> 0), got median {median_ms!r} and p99 {p99_ms!r}")
        self.median_ms = median_ms
        self.p99_ms = p99_ms
        self._mu = math.log(median_ms) if median_ms > 0 else 0.0
        self._sigma = 0.0 if p99_ms is None else math.log(p99_ms / median_ms) / _Z99
        self._rng = random.Random(seed)
        self._last_due_ns = 0

    def reset(self, seed: int) -> None:
        """Start a new episode: its own draws, nothing in flight."""
        self._rng.seed(seed)
        self._last_due_ns = 0

    def draw_ns(self) -> int:
        """One message's delay, in nanoseconds."""
        if self.p99_ms is None:
            return int(self.median_ms * 1e6)
        return int(math.exp(self._rng.gauss(self._mu, self._sigma)) * 1e6)

    def due_ns(self, now_ns: int) -> int:
        """When a message sent at ``now_ns`` reaches the book (never before an earlier one)."""
        due = max(now_ns + self.draw_ns(), self._last_due_ns)
        self._last_due_ns = due
        return due
