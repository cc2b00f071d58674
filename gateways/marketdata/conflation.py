"""A bounded conflating queue between a feed and the engine.

Why: when market data arrives faster than the engine decides, an unbounded queue makes every
decision later than the last (the policy acts on a market that is gone) and finally exhausts
memory; dropping messages would leave a wrong book. Conflation does neither: a new message of a
symbol that still has a message waiting is merged into it (every level keeps its latest size,
every trade is kept in order), so applying the merged message gives the same book as applying
both, the engine sees the latest state, and the queue stays short.

Rules:
- a message of the same symbol as the queue's last entry is always merged into it (consecutive
  messages; cheap and order-preserving);
- when the queue holds ``max_depth`` entries or more, a message is merged into the newest
  waiting entry of its symbol; only a symbol with nothing waiting adds an entry, so the depth
  never exceeds ``max_depth`` plus the number of symbols.
Merging across an entry of another symbol reorders only messages of different symbols, whose
books are independent. A merged entry keeps the earliest receipt time, so tick-to-order latency
still counts from the first update it carries.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterable, Callable

from core.domain import BookUpdate, MarketData, Side, Trade


def merge(first: MarketData, second: MarketData) -> MarketData:
    """One message equivalent to applying ``first`` then ``second`` (same symbol).

    A snapshot in ``second`` replaces the book, so ``first``'s levels no longer matter; a
    snapshot in ``first`` stays a snapshot with ``second``'s levels applied on top. The queue's
    own merging (:class:`_Entry`) is the one implementation; this is it for two messages."""
    if first.symbol != second.symbol:
        raise ValueError(f"cannot merge {first.symbol} with {second.symbol}")
    entry = _Entry(first, 0)
    entry.absorb(second)
    return entry.take()


class _Entry:
    """One waiting entry: a message as it came, or, once something was merged into it, an
    accumulator (every level's latest update, every trade in order) turned back into one
    MarketData when the engine takes it. Why an accumulator rather than a new MarketData per
    merge: rebuilding the level map on every put made a backlog behind a snapshot of a
    thousand levels cost a thousand operations per message, and the queue became the
    bottleneck it exists to remove; absorbing costs the size of the new message."""

    __slots__ = ("levels", "message", "received_ns", "snapshot", "trades", "ts_ns")

    def __init__(self, message: MarketData, received_ns: int) -> None:
        self.message = message
        self.received_ns = received_ns
        self.levels: dict[tuple[Side, int], BookUpdate] | None = None
        self.trades: list[Trade] = []
        self.ts_ns = message.ts_ns
        self.snapshot = message.snapshot

    def absorb(self, second: MarketData) -> None:
        levels = self.levels
        if levels is None:
            first = self.message
            levels = self.levels = {(u.side, u.price): u for u in first.updates}
            self.trades = list(first.trades)
        if second.snapshot:  # replaces the book: what was waiting no longer matters
            levels.clear()
            self.snapshot = True
        for update in second.updates:
            levels[(update.side, update.price)] = update
        self.trades.extend(second.trades)
        if second.ts_ns > self.ts_ns:
            self.ts_ns = second.ts_ns

    def take(self) -> MarketData:
        if self.levels is None:
            return self.message
        return MarketData(self.message.symbol, self.ts_ns, tuple(self.levels.values()),
                          tuple(self.trades), self.snapshot)


class ConflatingQueue:
    """FIFO of (MarketData, received_ns) with conflation under load; see the module docstring.

    ``put`` never blocks and never drops (a feed must not stall on a slow engine); ``get``
    waits for an entry. ``depth`` is the metric the service exports."""

    def __init__(self, max_depth: int = 64) -> None:
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        self.max_depth = max_depth
        self._entries: deque[_Entry] = deque()
        self._newest: dict[str, _Entry] = {}  # symbol -> its newest waiting entry
        self._ready = asyncio.Event()
        self.received = 0
        self.conflated = 0  # messages merged into a waiting entry
        self.max_seen_depth = 0

    @property
    def depth(self) -> int:
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, message: MarketData, received_ns: int) -> None:
        self.received += 1
        entries = self._entries
        target: _Entry | None = None
        if entries and entries[-1].message.symbol == message.symbol:
            target = entries[-1]
        elif len(entries) >= self.max_depth:
            target = self._newest.get(message.symbol)
        if target is not None:
            target.absorb(message)
            self.conflated += 1
            return
        entry = _Entry(message, received_ns)
        entries.append(entry)
        self._newest[message.symbol] = entry
        if len(entries) > self.max_seen_depth:
            self.max_seen_depth = len(entries)
        self._ready.set()

    def get_nowait(self) -> tuple[MarketData, int]:
        """The oldest entry; IndexError when empty."""
        entry = self._entries.popleft()
        symbol = entry.message.symbol
        if self._newest.get(symbol) is entry:
            del self._newest[symbol]
        if not self._entries:
            self._ready.clear()
        return entry.take(), entry.received_ns

    async def get(self) -> tuple[MarketData, int]:
        while not self._entries:
            await self._ready.wait()
        return self.get_nowait()


async def pump(feed: AsyncIterable[MarketData], queue: ConflatingQueue,
               now: Callable[[], int] = time.perf_counter_ns) -> None:
    """Move a feed's messages into ``queue`` until the feed ends, stamping each with its
    receipt time on the engine's latency clock."""
    async for message in feed:
        queue.put(message, now())
