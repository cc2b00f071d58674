"""Binance spot diff-depth over a websocket (aiohttp client): a book that is right or flagged.

Why this shape: Binance publishes the book as a REST snapshot plus a stream of diffs numbered by
update id (``U`` first, ``u`` last). The documented procedure, followed here, is: open the
combined stream (aiohttp buffers what arrives meanwhile), fetch ``/api/v3/depth``, drop diffs
with ``u <= lastUpdateId``, require the first applied one to bridge (``U <= lastUpdateId + 1 <=
u``) and each later one to start at the previous ``u + 1``. The rule itself lives in
:class:`sim.binance.DiffSequence` and the decimal-to-ticks decoding in
:class:`sim.binance.BinanceDecoder`, shared with the offline capture loader so the two can never
disagree about what a message means.

What the consumer gets: a ``snapshot=True`` :class:`MarketData` (replace your book), then
incrementals and trades. Anything that makes the book doubtful (a gap or reordering in the
sequence, a crossed or locked book, a negative size, a price off the tick grid, a bookTicker
that disagrees with the book at the same update id) is counted and repaired by a new snapshot,
never passed on: the diff that caused it is not emitted. Messages that cannot be read at all
(invalid JSON, missing fields, wrong types) are counted, logged once per burst and dropped; if
one of them was a real diff, the next diff shows the gap and triggers the resync. A dropped
connection reconnects and starts over from a snapshot, after a wait that doubles with each
connection in a row that did not last (``backoff_reset_after_s``), up to ``backoff_max_s``: a
stream that closes after each snapshot is retried ever more slowly, not ten times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any

import aiohttp
import orjson

from core.depth_book import DepthBook
from core.domain import Instrument, MarketData
from gateways.marketdata.feed import (
    Feed,
    FeedCounters,
    FeedHealth,
    apply_to_own_book,
)
from sim.binance import BinanceDecoder, DiffSequence, OffGridError

log = logging.getLogger(f"execagent.{__name__}")

# Readable, but negative, off the grid or infinite: the book is in doubt. Caught before
# _UNREADABLE, which includes ValueError (a level that is not a [price, qty] pair, a bad int).
_ABSURD = (OffGridError, OverflowError)
_UNREADABLE = (KeyError, TypeError, AttributeError, IndexError, ValueError, InvalidOperation)
# orjson: a compiled parser, 1 µs for a bookTicker (two thirds of what arrives) against 4 µs for
# the standard library's; its errors are ValueErrors, so bad input stays "malformed".
_parse_json = orjson.loads


class ResyncNeeded(Exception):
    """The book can no longer be trusted: the feed fetches a new snapshot."""


class _SnapshotFailed(Exception):
    """The REST snapshot could not be had; reconnect after a backoff."""


@dataclass(slots=True)
class BinanceWsConfig:
    """Where to connect and how to behave. ``rest_url``/``ws_url`` are bases, e.g.
    ``https://api.binance.com`` and ``wss://stream.binance.com:9443`` (or a test exchange).
    Sizes are read as lots of the instrument's ``lot_size`` (a size off that grid is an invalid
    book): the feed, the orders and the risk limits count the same lots."""

    rest_url: str
    ws_url: str
    instrument: Instrument
    depth_limit: int = 1000
    book_ticker: bool = True  # subscribe, and cross-check the book at equal update ids
    trades: bool = True
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    # A connection that lasted this long was a working one: the next wait starts again from
    # backoff_initial_s. A shorter one (a stream that closes after each snapshot) doubles it.
    backoff_reset_after_s: float = 30.0
    request_timeout_s: float = 10.0
    log_quiet_s: float = 5.0  # a burst of bad messages ends after this long without one


class _BurstLog:
    """Log the first of a burst of similar problems, then only how many followed."""

    def __init__(self, what: str, quiet_s: float) -> None:
        self.what, self.quiet_s = what, quiet_s
        self.last = float("-inf")
        self.suppressed = 0

    def __call__(self, detail: object) -> None:
        now = time.monotonic()
        if now - self.last > self.quiet_s:
            if self.suppressed:
                log.warning("%d more %s in the previous burst", self.suppressed, self.what)
            log.warning("%s: %s (logged once per burst)", self.what, detail)
            self.suppressed = 0
        else:
            self.suppressed += 1
        self.last = now


class BinanceWsFeed(Feed):
    """One symbol's book and trades from Binance's combined stream."""

    def __init__(self, config: BinanceWsConfig) -> None:
        self.config = config
        self.symbol = config.instrument.symbol
        self.health = FeedHealth.CONNECTING
        self.counters = FeedCounters()
        instrument = config.instrument
        self.decoder = BinanceDecoder(self.symbol, instrument.tick_size, instrument.lot_size)
        self.book = DepthBook(self.symbol)  # the feed's own view, to validate before emitting
        self.last_update_id: int | None = None  # ``u`` of the last diff applied (or snapshot id)
        self._sequence = DiffSequence()
        self._closing = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._gen: AsyncGenerator[MarketData, None] | None = None
        self._log_malformed = _BurstLog("malformed market-data messages", config.log_quiet_s)
        self._log_invalid = _BurstLog("invalid book states (resyncing)", config.log_quiet_s)
        lower = self.symbol.lower()
        streams = [f"{lower}@depth@100ms"]
        if config.trades:
            streams.append(f"{lower}@trade")
        if config.book_ticker:
            streams.append(f"{lower}@bookTicker")
        self.stream_url = f"{config.ws_url.rstrip('/')}/stream?streams={'/'.join(streams)}"
        self.snapshot_url = f"{config.rest_url.rstrip('/')}/api/v3/depth"

    def __aiter__(self) -> AsyncIterator[MarketData]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        gen = self._gen
        if gen is not None:
            # RuntimeError: being iterated right now; it ends at its next await instead.
            with contextlib.suppress(RuntimeError):
                await gen.aclose()
        self.health = FeedHealth.STOPPED

    # --- connection lifecycle -------------------------------------------------------------------
    async def _run(self) -> AsyncGenerator[MarketData, None]:
        config = self.config
        backoff = config.backoff_initial_s
        timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
        connections = 0
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                while not self._closing:
                    self.health = FeedHealth.CONNECTING
                    if connections:
                        self.counters.reconnects += 1
                    connections += 1
                    opened = time.monotonic()
                    why = "connection closed"
                    try:
                        async with session.ws_connect(self.stream_url, heartbeat=30.0,
                                                      timeout=aiohttp.ClientWSTimeout(
                                                          ws_close=config.request_timeout_s),
                                                      max_msg_size=0) as ws:
                            self._ws = ws
                            async for message in self._connection(session, ws):
                                yield message
                    except (TimeoutError, aiohttp.ClientError, OSError, _SnapshotFailed) as exc:
                        why = str(exc) or type(exc).__name__
                    finally:
                        self._ws = None
                    if self._closing:
                        break
                    self.health = FeedHealth.CONNECTING
                    if time.monotonic() - opened >= config.backoff_reset_after_s:
                        backoff = config.backoff_initial_s
                    log.warning("%s feed: %s; reconnecting in %.3g s (%d reconnects so far)",
                                self.symbol, why, backoff, self.counters.reconnects)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, config.backoff_max_s)
        finally:
            self.health = FeedHealth.STOPPED

    async def _connection(self, session: aiohttp.ClientSession,
                          ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[MarketData]:
        """One websocket connection: snapshot, then diffs; a new snapshot whenever in doubt."""
        need_snapshot = True
        first_snapshot = True
        while True:
            if need_snapshot:
                if not first_snapshot:
                    self.counters.resyncs += 1
                self.health = FeedHealth.CONNECTING if first_snapshot else FeedHealth.RESYNCING
                first_snapshot = need_snapshot = False
                snapshot = await self._snapshot(session)
                # Live as the snapshot leaves: the consumer's book is the market's once it has
                # applied it, so a gate reading health may let orders out on this very tick.
                self.health = FeedHealth.LIVE
                yield snapshot
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                    aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return
                self.counters.messages += 1
                self.counters.malformed += 1
                self._log_malformed(f"unexpected websocket frame {message.type.name}")
                continue
            self.counters.messages += 1
            try:
                event = self.handle(message.data)
            except ResyncNeeded:
                need_snapshot = True
                continue
            if event is not None:
                yield event

    async def _snapshot(self, session: aiohttp.ClientSession) -> MarketData:
        params = {"symbol": self.symbol, "limit": str(self.config.depth_limit)}
        try:
            async with session.get(self.snapshot_url, params=params) as response:
                if response.status != 200:
                    raise _SnapshotFailed(f"depth snapshot answered HTTP {response.status}: "
                                          f"{(await response.text())[:200]}")
                data = await response.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError) as exc:
            self.counters.malformed += 1
            raise _SnapshotFailed(f"depth snapshot is not JSON: {exc!r}") from exc
        return self.apply_snapshot(data)

    def apply_snapshot(self, data: Any) -> MarketData:
        """Reset the feed's book and sequence to a REST depth snapshot; the event to emit.

        Raises _SnapshotFailed (counted) when the snapshot is unusable or crossed."""
        try:
            snapshot_id = data["lastUpdateId"]
            if type(snapshot_id) is not int:
                raise TypeError("lastUpdateId is not an integer")
            snapshot = self.decoder.snapshot(data, time.time_ns())
        except (*_UNREADABLE, *_ABSURD) as exc:
            self.counters.malformed += 1
            raise _SnapshotFailed(f"unusable depth snapshot: {exc!r}") from exc
        if not apply_to_own_book(self.book, snapshot, self.counters):
            raise _SnapshotFailed("the depth snapshot is crossed")
        self._sequence.reset(snapshot_id)
        self.last_update_id = snapshot_id
        return snapshot

    # --- one message ----------------------------------------------------------------------------
    def handle(self, text: str) -> MarketData | None:
        """The event to emit for one message, or None (dropped, or nothing to emit).

        Raises ResyncNeeded when the book is in doubt; the caller fetches a new snapshot."""
        try:
            payload = _parse_json(text)
            data: dict[str, Any] = payload["data"] if "stream" in payload else payload
            kind = data.get("e")
        except _UNREADABLE as exc:
            self._malformed(exc)
            return None
        if kind == "depthUpdate":
            return self._depth(data)
        try:
            if kind == "trade":
                return self.decoder.trade(data)
            if "u" in data and "b" in data and "a" in data:
                self._check_ticker(data)
                return None
            raise KeyError("not a depthUpdate, trade or bookTicker")
        except (*_ABSURD, *_UNREADABLE) as exc:  # a trade's: drop, the book is not affected
            self._malformed(exc)
            return None

    def _depth(self, data: dict[str, Any]) -> MarketData | None:
        first, final = data.get("U"), data.get("u")
        if type(first) is not int or type(final) is not int:
            self._malformed(KeyError("depthUpdate without integer U and u"))
            return None
        verdict = self._sequence.accept(first, final)
        if verdict == "drop":
            self.counters.duplicates += 1
            return None
        if verdict == "gap":
            self.counters.gaps += 1
            log.info("%s feed: diff %d-%d does not follow %s; resyncing", self.symbol, first,
                     final, self.last_update_id)
            raise ResyncNeeded
        # The sequence has moved past this diff: from here on, failing to apply it means the
        # book is wrong, so every failure is a resync, not just a drop.
        try:
            event = self.decoder.depth(data)
        except _ABSURD as exc:
            self._invalid(f"diff {first}-{final}: {exc}")
        except _UNREADABLE as exc:
            self._malformed(exc)
            raise ResyncNeeded from exc
        book = self.book
        for update in event.updates:
            book.apply(update)
        if book.is_crossed():
            self._invalid(f"diff {first}-{final} crosses the book: bid {book.best_bid()} "
                          f"ask {book.best_ask()}")
        self.last_update_id = final
        return event

    def _check_ticker(self, data: dict[str, Any]) -> None:
        """A bookTicker at exactly the book's update id must agree with it."""
        if data["u"] != self.last_update_id or self.health is not FeedHealth.LIVE:
            return
        bid, ask = self.decoder.ticks(data["b"]), self.decoder.ticks(data["a"])
        if (bid, ask) != (self.book.best_bid(), self.book.best_ask()):
            self._invalid(f"bookTicker {bid}/{ask} at update {data['u']} disagrees with the "
                          f"book {self.book.best_bid()}/{self.book.best_ask()}")

    def _malformed(self, exc: BaseException) -> None:
        self.counters.malformed += 1
        self._log_malformed(repr(exc))

    def _invalid(self, detail: str) -> None:
        self.counters.invalid_book += 1
        self._log_invalid(detail)
        raise ResyncNeeded
