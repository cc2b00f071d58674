"""A scripted order flow: a fixed ladder and a heartbeat far from the touch.

Used where a test needs fills it can compute by hand: the crowd never trades and never touches
the top levels, so only the service's own orders change them, unless the test asks for one
crowd market order (:meth:`ScriptedFlow.crowd_market_order`), which goes in at the next
heartbeat. The heartbeat (an order added
and removed 100 levels away) keeps market-data messages, and so event time, flowing.
"""

from __future__ import annotations

import collections

from core.domain import Side
from sim.matching import Fill, OrderBook


class ScriptedFlow:
    def __init__(self, bid: int, ask: int, levels: int = 5, qty: int = 500,
                 heartbeat_ns: int = 100_000_000) -> None:
        self.bid, self.ask, self.levels, self.qty = bid, ask, levels, qty
        self.heartbeat_ns = heartbeat_ns
        self._next_ns = 0
        self._next_id = 10**9
        self._live: int | None = None
        self._crowd: collections.deque[tuple[Side, int]] = collections.deque()

    def seed_book(self, book: OrderBook, start_ns: int) -> None:
        for level in range(self.levels):
            book.add_limit(self._id(), Side.BUY, self.bid - level, self.qty, start_ns)
            book.add_limit(self._id(), Side.SELL, self.ask + level, self.qty, start_ns)
        self._next_ns = start_ns + self.heartbeat_ns

    def next_time_ns(self) -> int:
        return self._next_ns

    def crowd_market_order(self, side: Side, qty: int) -> None:
        """Queue a market order from the crowd (thread-safe: the venue's flow thread takes it)."""
        self._crowd.append((side, qty))

    def apply_next(self, book: OrderBook) -> list[Fill]:
        now = self._next_ns
        if self._crowd:
            side, qty = self._crowd.popleft()
            self._next_ns = now + self.heartbeat_ns
            return book.add_market(self._id(), side, qty, now)
        if self._live is None:
            self._live = self._id()
            book.add_limit(self._live, Side.BUY, self.bid - 100, 1, now)
        else:
            book.cancel(self._live)
            self._live = None
        self._next_ns = now + self.heartbeat_ns
        return []

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id
