"""FIX market data as a :class:`~gateways.marketdata.feed.Feed`, one per symbol.

Why a feed and not a path of its own: the FIX session's W/X messages are market data like any
other, and the service protects every symbol's book the same way only if every source is judged
the same way (the staleness watchdog, the per-symbol stop in the risk overlay, the per-feed
metrics). The FIX order gateway still decodes the messages on its quickfix thread
(:func:`gateways.marketdata.fix_md.decode_market_data`) and hands them to the event loop;
:class:`FixMarketData` takes them there and routes each to its symbol's feed.

Why *inline* (not read through the iterator like the other feeds): one FIX session carries both
the market data and our execution reports, and their order on the wire means something (a fill,
then the book without the liquidity it took). Pumped through a task of its own and the
conflating queue, the book could reach the engine after a report that the venue sent later, and
the engine would act on liquidity that is gone. So :meth:`FixMarketData.deliver` judges each
message synchronously and returns what to pass on, and the service's FIX sink puts it on the
engine's own queue beside the reports, in the session's order (``service/app.py``); the feed's
iterator yields nothing and ends when the feed is closed. FIX market data is never conflated;
when it comes faster than the engine decides, the engine applies every waiting message and
decides on each symbol's newest (``Engine.handle_batch``).

What the feed checks, as the other adapters do: its own book is built from what it passes on,
so an incremental before the symbol's snapshot (the book is unknown) or a message that leaves
the book crossed or locked is never passed on as truth: its levels are withheld (its trades
still pass), the feed is RESYNCING and its symbol stopped until the next snapshot. The venue
sends one when the session logs on (the gateway subscribes at every logon); a lost session makes
every symbol CONNECTING, since what the venue published meanwhile is lost with it. FIX market
data has no sequence numbers of its own at the application level (quickfix's session layer
recovers lost messages with resend requests), so this feed counts no gaps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable

from core.depth_book import DepthBook
from core.domain import MarketData
from gateways.marketdata.feed import (
    Feed,
    FeedCounters,
    FeedHealth,
    apply_to_own_book,
    trades_only,
)

log = logging.getLogger(f"execagent.{__name__}")


class FixMarketDataFeed(Feed):
    """One symbol's market data from the FIX session, judged by :meth:`push` on the event loop
    (inline: see the module docstring)."""

    inline = True

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.name = f"fix:{symbol}"  # its ``feed`` label: source and symbol, as every feed's
        self.health = FeedHealth.CONNECTING
        self.counters = FeedCounters()
        self.withheld = 0  # level updates held back while the book is unknown or invalid
        self.book = DepthBook(symbol)  # the feed's own view, checked before passing on
        self._synced = False
        self._closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self._until_closed()

    async def _until_closed(self) -> AsyncGenerator[MarketData, None]:
        """Nothing comes through here (inline); ends when the feed is closed."""
        await self._closed.wait()
        return
        yield  # an async generator that yields nothing

    async def close(self) -> None:
        self._closed.set()
        self.health = FeedHealth.STOPPED

    # --- what the session delivers (on the event loop) ------------------------------------------
    def push(self, message: MarketData) -> MarketData | None:
        """One decoded W or X message of this symbol: what to pass on to the engine (the
        message, only its trades while the book is in doubt, or None)."""
        if self._closed.is_set():
            return None
        self.counters.messages += 1
        if message.snapshot:
            if self._check(message, "the snapshot"):
                self._synced = True
                self.health = FeedHealth.LIVE
                return message
            return self._withhold(message)
        if not self._synced or not self._check(message, "an incremental refresh"):
            return self._withhold(message)
        return message

    def session(self, logged_on: bool) -> None:
        """The FIX session went up or down. Down: the venue forgets our subscription and what
        it publishes meanwhile is lost, so the book is unknown until the snapshot that follows
        the next logon's subscription."""
        if self._closed.is_set() or logged_on:
            return
        self._synced = False
        self.health = FeedHealth.CONNECTING
        self.counters.reconnects += 1

    # --- helpers --------------------------------------------------------------------------------
    def _check(self, message: MarketData, what: str) -> bool:
        """Apply ``message`` to the feed's own book; False (counted, logged, resync awaited)
        when that leaves it crossed or locked."""
        book = self.book
        if apply_to_own_book(book, message, self.counters):
            return True
        self._synced = False
        count = self.counters.invalid_book
        if count & (count - 1) == 0:  # 1st, 2nd, 4th...: visible, never a flood
            log.warning("FIX market data for %s: %s leaves the book crossed or locked (bid %s, "
                        "ask %s; %d so far); its levels are withheld until the next snapshot",
                        self.symbol, what, book.best_bid(), book.best_ask(), count)
        return False

    def _withhold(self, message: MarketData) -> MarketData | None:
        """Until a good snapshot: level updates held back (counted), trades passed on."""
        if self.health is not FeedHealth.CONNECTING:
            self.health = FeedHealth.RESYNCING
        self.withheld += len(message.updates)
        return trades_only(message)


class FixMarketData:
    """The FIX session's market data, routed to one :class:`FixMarketDataFeed` per subscribed
    symbol. The service's FIX event sink calls :meth:`deliver` and :meth:`session` on the loop,
    and passes what ``deliver`` returns to the engine's queue."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.feeds = {symbol: FixMarketDataFeed(symbol) for symbol in symbols}
        self.unrouted = 0  # messages for a symbol not subscribed over FIX: dropped
        # Told the name of a feed each time it passes a message on: what pumping it would
        # report (service.feeds.ServiceFeeds.passed, wired by ServiceFeeds.from_config).
        self.on_passed: Callable[[str], None] | None = None

    def deliver(self, message: MarketData) -> MarketData | None:
        """What of ``message`` the engine may have (see :meth:`FixMarketDataFeed.push`)."""
        feed = self.feeds.get(message.symbol)
        if feed is None:
            self.unrouted += 1
            if self.unrouted & (self.unrouted - 1) == 0:
                log.warning("FIX market data for %s, which takes its market data elsewhere "
                            "(market_data.feeds), dropped (%d so far)", message.symbol,
                            self.unrouted)
            return None
        passed = feed.push(message)
        if passed is not None and self.on_passed is not None:
            self.on_passed(feed.name)
        return passed

    def session(self, logged_on: bool) -> None:
        for feed in self.feeds.values():
            feed.session(logged_on)
