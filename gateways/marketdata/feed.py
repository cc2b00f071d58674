"""The one interface every market-data feed adapter offers the engine.

Why an interface at all: the engine must not care whether a book comes from a websocket, FIX,
Redis Streams or a file, but it must always be able to ask "is this feed telling the truth right
now?". So a feed is two things: an async iterator of normalised :class:`MarketData` (a
``snapshot=True`` message replaces the consumer's book; after it, incrementals), and a health
state plus counters that anyone (watchdog, risk overlay, metrics) can read without awaiting.

Counters are plain attributes on purpose: the metrics exporter reads them on scrape, so the per
message path pays one integer increment and no metrics library call.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from core.depth_book import DepthBook
from core.domain import MarketData


class FeedHealth(enum.Enum):
    """Whether a feed's book can be trusted.

    Only LIVE means "the book the consumer built from this feed is the market's". RESYNCING
    means a gap or an invalid book was seen and a new snapshot is on its way; the consumer's
    book is stale until that snapshot arrives (which replaces it).
    """

    CONNECTING = "connecting"
    LIVE = "live"
    RESYNCING = "resyncing"
    STALE = "stale"
    STOPPED = "stopped"


@dataclass(slots=True)
class FeedCounters:
    """Per-feed counts, monotonically increasing for the feed's lifetime."""

    messages: int = 0  # every message received, valid or not
    gaps: int = 0  # sequence breaks (missing, out-of-order) that forced a resync
    resyncs: int = 0  # snapshots fetched to repair the book (not the first of a connection)
    malformed: int = 0  # invalid JSON, missing fields, wrong types: dropped
    invalid_book: int = 0  # crossed/locked book, negative size, price off the grid: resynced
    duplicates: int = 0  # diffs already applied or in the snapshot: dropped, harmless
    reconnects: int = 0  # connections opened after the first


def apply_to_own_book(book: DepthBook, message: MarketData, counters: FeedCounters) -> bool:
    """Apply ``message`` to a feed's own book, the check made before anything is passed on;
    False, counted in ``invalid_book``, when that leaves the book crossed or locked (the caller
    logs, withholds and resyncs as its protocol allows)."""
    book.apply_market_data(message)
    if not book.is_crossed():
        return True
    counters.invalid_book += 1
    return False


def trades_only(message: MarketData) -> MarketData | None:
    """What a feed passes on of ``message`` while its book waits for a snapshot: the trades,
    which happened whatever the book says, and none of the level updates; None without
    trades."""
    if not message.trades:
        return None
    return MarketData(message.symbol, message.ts_ns, (), message.trades, False)


class Feed(ABC):
    """An async stream of :class:`MarketData` for one symbol, with a health state.

    ``health`` is a property: each change calls ``on_health`` at once, so that whoever acts on
    it (the service's per-symbol stop) follows every change, including the ones no message
    comes with (a connection that drops between two snapshots)."""

    symbol: str
    counters: FeedCounters
    # True for a feed whose messages reach the engine some other way than its iterator, in an
    # order the consumer must keep (FIX: beside the session's execution reports): nothing pumps
    # it, and its consumer reports each message it passes on (ServiceFeeds.passed).
    inline: bool = False
    on_health: Callable[[], None] | None = None  # called after each change of ``health``
    _health: FeedHealth = FeedHealth.CONNECTING

    @property
    def health(self) -> FeedHealth:
        return self._health

    @health.setter
    def health(self, value: FeedHealth) -> None:
        if value is not self._health:
            self._health = value
            if self.on_health is not None:
                self.on_health()

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[MarketData]:
        """Normalised events: a snapshot first (and after every resync), then incrementals."""

    @abstractmethod
    async def close(self) -> None:
        """Stop the feed; iteration ends and health becomes STOPPED."""
