"""Bounded memories the controls need: a token bucket and a sliding-window sum over time, and
the most recent IDs seen, by count.

Times are integer nanoseconds from the caller's clock (event time in the engine), so the same
sequence of calls always gives the same answers: the property tests replay them exactly.
"""

from __future__ import annotations

from collections import deque
from typing import Final


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    __slots__ = ("burst", "last_ns", "rate_per_ns", "tokens")

    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate_per_ns = rate_per_second / 1e9
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last_ns: int | None = None

    def refill(self, now_ns: int) -> float:
        """Add what accrued since the last call; return the tokens now available."""
        last = self.last_ns
        if last is None or now_ns > last:
            if last is not None:
                self.tokens = min(self.burst, self.tokens + (now_ns - last) * self.rate_per_ns)
            self.last_ns = now_ns
        return self.tokens

    def take(self, now_ns: int) -> bool:
        """Use one token if there is one; False (nothing taken) when empty."""
        if self.refill(now_ns) < 1.0:
            return False
        self.tokens -= 1.0
        return True


class SlidingSum:
    """Sum of amounts recorded within the last ``window_ns``.

    ``expires_ns`` is when the oldest amount leaves the window (never, when empty): until then
    ``total`` is current without a call to :meth:`expire`, which the risk check relies on.
    """

    __slots__ = ("_items", "_window_ns", "expires_ns", "total")

    def __init__(self, window_seconds: float) -> None:
        self._window_ns = int(window_seconds * 1e9)
        self._items: deque[tuple[int, int]] = deque()
        self.total = 0
        self.expires_ns = _NEVER

    @property
    def window_ns(self) -> int:
        return self._window_ns

    @window_ns.setter
    def window_ns(self, window_ns: int) -> None:
        self._window_ns = window_ns
        self._set_expiry()

    def add(self, ts_ns: int, amount: int) -> None:
        self._items.append((ts_ns, amount))
        self.total += amount
        self.expire(ts_ns)

    def expire(self, now_ns: int) -> int:
        """Drop what fell out of the window; return the sum of what remains."""
        cutoff = now_ns - self._window_ns
        items = self._items
        while items and items[0][0] <= cutoff:
            self.total -= items.popleft()[1]
        self._set_expiry()
        return self.total

    def _set_expiry(self) -> None:
        items = self._items
        self.expires_ns = items[0][0] + self._window_ns if items else _NEVER


class RecentIds:
    """The last ``capacity`` distinct IDs added: a duplicate check whose memory is bounded.

    Why not a set of the day's IDs: at the pace the engine can send (hundreds of order messages
    a second) such a set grows without end; a duplicate ClOrdID or a resent report arrives
    close behind the original, not tens of thousands of messages later. What is older than the
    window is forgotten, oldest first, and is then no longer recognised (the callers name that
    assumption where they choose ``capacity``)."""

    __slots__ = ("_members", "_order", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._members: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, item: str) -> bool:
        return item in self._members

    def __len__(self) -> int:
        return len(self._order)

    def add(self, item: str) -> None:
        members = self._members
        if item in members:
            return
        members.add(item)
        order = self._order
        order.append(item)
        if len(order) > self.capacity:
            members.discard(order.popleft())


_NEVER: Final = 2**63  # later than any nanosecond timestamp the overlay sees
