"""Redis Streams market-data feed: any feed handler publishes, execagent consumes.

Why Redis Streams: a feed handler written in any language (or another execagent process) can
publish normalised book messages with plain XADD, and the consumer group gives us at-least-once
delivery that survives a restart of the consumer: entries read but not acknowledged stay in the
group's pending list and are read again (XREADGROUP from id 0) before new ones.

The wire schema is in docs/feeds.md ("Redis Streams feed"); :func:`encode` and
:class:`RedisStreamPublisher` are its reference implementation. One entry is one
:class:`~core.domain.MarketData`, so a message's updates still apply atomically.

What can go wrong on a stream and what this feed does about it, never crashing:
- a sequence jump (``seq`` > last + 1): counted as a gap; a resync request is raised (counter,
  callback and an XADD on the symbol's resync stream, so the publisher can send a snapshot); the
  symbol's level updates are withheld until that snapshot arrives (its trades still pass);
- a duplicate or old ``seq``: counted, acknowledged and skipped;
- an entry that leaves the feed's own book crossed or locked (the publisher got it wrong):
  counted as an invalid book, its levels withheld and a resync requested, as for a gap;
- a malformed entry (missing field, bad decimal, price off the tick grid, unknown symbol):
  counted, logged once per burst, acknowledged and skipped;
- Redis unreachable: CONNECTING, reconnect with doubling backoff, then on from the pending
  entries; a consumer group that vanished (Redis restarted empty) is created again and the
  book waits for a new snapshot.
A consumer that starts (or restarts) knows nothing of the book, so each symbol waits for a
snapshot the same way, and a resync request asks for one.

It implements :class:`~gateways.marketdata.feed.Feed` for one symbol (one stream per symbol,
so a symbol's order is the stream's order); run one feed per symbol. What it does per entry
(decoding, its own book's crossing check) is in :mod:`gateways.marketdata.redis_entries`,
compiled; this module keeps the asyncio side and the sequence rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.domain import BookUpdate, Instrument, MarketData, Side
from gateways.marketdata.feed import Feed, FeedCounters, FeedHealth, trades_only
from gateways.marketdata.redis_entries import (  # compiled (native-modules.txt)
    CrossingBook,
    EntryDecoder,
    MalformedEntry,
)

log = logging.getLogger(f"execagent.{__name__}")

__all__ = ["EntryDecoder", "MalformedEntry", "RedisStreamFeed",
           "RedisStreamPublisher", "decode", "encode", "resync_key", "stream_key"]

SCHEMA_VERSION = "2"  # what the reference publisher writes; version 1 is still read
_AGGRESSOR_CODE = {Side.BUY: "B", Side.SELL: "S", None: ""}


def stream_key(symbol: str, prefix: str = "execagent") -> str:
    """The stream of one symbol's market data."""
    return f"{prefix}:md:{symbol}"


def resync_key(symbol: str, prefix: str = "execagent") -> str:
    """Where consumers ask a publisher for a fresh snapshot of ``symbol``."""
    return f"{prefix}:md:{symbol}:resync"


def _levels(instrument: Instrument, updates: Iterable[BookUpdate], side: Side) \
        -> list[list[str]]:
    return [[str(instrument.to_price(u.price)), str(u.qty)] for u in updates if u.side is side]


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def encode(message: MarketData, instrument: Instrument, seq: int,
           version: str = SCHEMA_VERSION) -> dict[str, str]:
    """The stream fields of ``message`` under schema ``version`` ("2" by default, or "1").
    Level updates carry the message's event time on the wire, so only a message whose updates
    share its ``ts_ns`` round-trips exactly.

    Version 2 carries version 1's fields in one JSON object (field ``m``; ``bids``, ``asks``
    and ``trades`` as lists in it rather than JSON text): four bulk strings per entry instead
    of up to sixteen, which is most of what a consumer spends reading an entry from Redis."""
    body: dict[str, object] = {
        "seq": str(seq),
        "symbol": message.symbol,
        "ts_ns": str(message.ts_ns),
        "snapshot": "1" if message.snapshot else "0",
        "bids": _levels(instrument, message.updates, Side.BUY),
        "asks": _levels(instrument, message.updates, Side.SELL),
        "trades": [[str(instrument.to_price(t.price)), str(t.qty), _AGGRESSOR_CODE[t.aggressor],
                    str(t.ts_ns)] for t in message.trades],
    }
    if version == "2":
        return {"v": "2", "m": _json(body)}
    if version == "1":
        return {"v": "1", **{key: value if type(value) is str else _json(value)
                             for key, value in body.items()}}
    raise ValueError(f"unknown schema version {version!r}: expected '1' or '2'")


def decode(fields: Mapping[str, str], instruments: Mapping[str, Instrument]) \
        -> tuple[int, MarketData]:
    """(seq, message) of one entry; MalformedEntry says what is wrong with it."""
    return EntryDecoder(instruments).decode(fields)


class RedisStreamPublisher:
    """Publishes MarketData under the schema, numbering each symbol's messages from 1.

    Used by tests and benchmarks; a real feed handler would keep ``seq`` across its own restarts
    (or start with a snapshot, which a consumer accepts after any jump)."""

    def __init__(self, client: aioredis.Redis, instruments: Mapping[str, Instrument],
                 prefix: str = "execagent", maxlen: int | None = None) -> None:
        self.client = client
        self.instruments = dict(instruments)
        self.prefix = prefix
        self.maxlen = maxlen
        self.seq: dict[str, int] = {}

    async def publish(self, message: MarketData, seq: int | None = None) -> str:
        """XADD ``message``; ``seq`` overrides the next number (to inject gaps in tests)."""
        number = seq if seq is not None else self.seq.get(message.symbol, 0) + 1
        self.seq[message.symbol] = number
        fields = encode(message, self.instruments[message.symbol], number)
        entry_id = await self.client.xadd(stream_key(message.symbol, self.prefix),
                                          fields,  # type: ignore[arg-type]
                                          maxlen=self.maxlen, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


ResyncHandler = Callable[[str, str], None]


def _entries(reply: Any) -> list[tuple[Any, Mapping[Any, Any]]]:
    """The (id, fields) entries of an XREADGROUP reply, in either of redis-py's shapes: RESP2
    gives ``[[stream, entries]]``, RESP3 (``?protocol=3`` in the URL) ``{stream: [entries]}``."""
    if isinstance(reply, dict):
        return [e for batches in reply.values() for batch in batches for e in batch]
    return [e for _, batch in reply or () for e in batch]


class RedisStreamFeed(Feed):
    """Consumes one symbol's stream in a consumer group; see the module docstring.

    An entry is acknowledged once the message made from it has been handed on and the caller
    asked for the next one (or when it was skipped), so a crash between read and use leaves it
    pending, and the next start of the same ``consumer`` reads it again (at least once)."""

    def __init__(self, client: aioredis.Redis, instrument: Instrument, group: str,
                 consumer: str, prefix: str = "execagent", *, start_id: str = "0",
                 batch: int = 500, block_ms: int = 100,
                 on_resync: ResyncHandler | None = None,
                 backoff: tuple[float, float] = (0.1, 10.0)) -> None:
        self.client = client
        self.symbol = instrument.symbol
        self.instruments = {instrument.symbol: instrument}
        self._decoder = EntryDecoder(self.instruments)
        # The feed's own view, checked before passing on: as apply_to_own_book (feed.py) does
        # with a DepthBook for the other feeds, on a book that only tracks the best prices.
        self.book = CrossingBook()
        self.group = group
        self.consumer = consumer
        self.prefix = prefix
        self.start_id = start_id
        self.batch = batch
        self.block_ms = block_ms
        self.on_resync = on_resync
        self.backoff = backoff
        self.health = FeedHealth.CONNECTING
        self.counters = FeedCounters()
        self.reclaimed = 0  # entries read again from our pending list after a restart
        self.withheld = 0  # level updates held back while waiting for a snapshot
        self.last_seq: int | None = None
        self._synced = False
        self._resync_reason: str | None = None
        self.key = stream_key(self.symbol, prefix)
        self._closed = False

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self._run()

    async def close(self) -> None:
        """Stop after the current read (within ``block_ms``); the iterator then ends."""
        self._closed = True

    async def _ensure_group(self) -> bool:
        """True when the group had to be created (first start, or Redis lost it)."""
        try:
            await self.client.xgroup_create(self.key, self.group, id=self.start_id,
                                            mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def _run(self) -> AsyncIterator[MarketData]:
        delay = self.backoff[0]
        try:
            while not self._closed:
                consumer = self._consume()
                try:
                    async for message in consumer:
                        delay = self.backoff[0]
                        yield message
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    # Redis went away: nothing acknowledged is lost (the group keeps its
                    # place), so reconnect and go on from our pending entries.
                    self.counters.reconnects += 1
                    self.health = FeedHealth.CONNECTING
                    log.warning("redis stream %s: %s; reconnecting in %.1f s", self.key, exc,
                                delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff[1])
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # The stream or group vanished (a Redis restarted empty, a deleted key):
                    # what we have not seen is gone, so the book needs a new snapshot.
                    log.error("redis stream %s lost its consumer group: %s", self.key, exc)
                    self._synced = False
                    self.last_seq = None
                finally:
                    await consumer.aclose()  # acknowledges what was handled
        finally:
            self.health = FeedHealth.STOPPED

    async def _consume(self) -> AsyncGenerator[MarketData, None]:
        if await self._ensure_group() and self.last_seq is not None:
            # The group vanished while we ran (Redis restarted empty): entries may be lost.
            log.error("redis stream %s lost its consumer group; waiting for a snapshot",
                      self.key)
            self._synced = False
            self.last_seq = None
        self.health = FeedHealth.LIVE if self._synced else FeedHealth.RESYNCING
        # Our own pending entries first (read before a restart, never acknowledged), then new.
        cursor = "0"
        handled: list[bytes] = []
        # Two round trips overlap the handling of a batch (Redis works on its own core): the
        # next batch, asked for as soon as a full one arrives (more is waiting then), and the
        # XACK of the batch before. Waited for serially they were about 8% of the wall time at
        # 47,000 entries/s (XREADGROUP of 500 entries 1.27 ms, 0.70 of it our CPU; XACK 0.60
        # ms). Read-ahead entries are in our pending list until handled: a crash leaves them
        # there, and the next start reads them again, as for any read-but-unacknowledged entry.
        ahead: asyncio.Future[Any] | None = None
        acking: asyncio.Future[Any] | None = None
        try:
            while not self._closed:
                pending = cursor != ">"
                if ahead is not None:
                    reply, ahead = await ahead, None
                else:
                    reply = await self._read(cursor, pending)
                entries = _entries(reply)
                if pending and not entries:
                    cursor = ">"  # the pending list is exhausted
                elif not pending and len(entries) >= self.batch:
                    ahead = asyncio.ensure_future(self._read(">", False))
                    await asyncio.sleep(0)  # the read goes out now, not after this batch
                for entry_id, fields in entries:
                    if pending:
                        cursor = self._text(entry_id)
                        self.reclaimed += 1
                    message = self._accept(fields)
                    if self._resync_reason is not None:
                        await self._request_resync(self._resync_reason)
                        self._resync_reason = None
                    if message is not None:
                        yield message
                    handled.append(entry_id)
                if acking is not None:
                    await acking  # a failed XACK surfaces here, one batch late
                    acking = None
                if handled:
                    acking = asyncio.ensure_future(
                        self.client.xack(self.key, self.group, *handled))
                    handled = []
        finally:
            if ahead is not None:
                # Whatever it read stays pending: read again after a restart, as above.
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, RedisConnectionError,
                                         RedisTimeoutError, OSError):
                    await ahead
            # Unacknowledged when Redis is gone: left pending, read again after the reconnect.
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                if acking is not None:
                    await acking
                await self._ack(handled)

    async def _read(self, cursor: str, pending: bool) -> Any:
        """One XREADGROUP: our pending entries from ``cursor``, or new ones (``>``), blocking
        up to ``block_ms`` for new ones."""
        return await self.client.xreadgroup(self.group, self.consumer, {self.key: cursor},
                                            count=self.batch,
                                            block=None if pending else self.block_ms)

    @staticmethod
    def _text(raw: object) -> str:
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def _ack(self, handled: list[bytes]) -> None:
        if handled:
            ids = list(handled)
            handled.clear()
            await self.client.xack(self.key, self.group, *ids)

    def _accept(self, raw: Mapping[Any, Any]) -> MarketData | None:
        """The message to pass on for one entry, or None when it is skipped. A resync to
        request is left in ``_resync_reason`` (the caller awaits the request): the common path
        stays synchronous."""
        self.counters.messages += 1
        try:
            seq, message = self._decoder.decode_raw(raw)  # bytes, or str (decode_responses)
        except (MalformedEntry, UnicodeDecodeError) as exc:
            self.counters.malformed += 1
            count = self.counters.malformed
            if count & (count - 1) == 0:  # 1st, 2nd, 4th...: visible, never a flood
                log.warning("skipped malformed entry on %s (%d so far): %s", self.key, count,
                            exc)
            return None
        last = self.last_seq
        if message.snapshot:  # a fresh start for the book, whatever the numbering did
            self.last_seq = seq
            if not self._checked(message, seq):
                return self._withhold(message)
            self._synced = True
            self.health = FeedHealth.LIVE
            return message
        if last is not None and seq <= last:
            self.counters.duplicates += 1
            return None
        self.last_seq = seq
        if last is not None and seq != last + 1:
            self.counters.gaps += 1
            self._synced = False
            self._resync_reason = f"gap: expected seq {last + 1}, got {seq}"
        elif not self._synced and last is None:
            self._resync_reason = "consumer started without a snapshot"
        if not self._synced or not self._checked(message, seq):
            return self._withhold(message)
        return message

    def _checked(self, message: MarketData, seq: int) -> bool:
        """Apply ``message`` to the feed's own book; False when that leaves it crossed or
        locked: counted, the resync asked for, and the caller withholds the message (a book
        the publisher got wrong is never passed on as the market's)."""
        if not message.updates and not message.snapshot:
            return True  # the book as it was: not crossed, or the feed would not be synced
        book = self.book
        book.apply(message.snapshot, self._decoder.bids, self._decoder.asks)  # this entry's
        if not book.is_crossed():
            return True
        self.counters.invalid_book += 1
        self._synced = False
        self._resync_reason = (f"seq {seq} leaves the book crossed or locked: bid "
                               f"{book.best_bid()} >= ask {book.best_ask()}")
        count = self.counters.invalid_book
        if count & (count - 1) == 0:
            log.warning("%s on %s (%d so far)", self._resync_reason, self.key, count)
        return False

    def _withhold(self, message: MarketData) -> MarketData | None:
        """Until a good snapshot: level updates held back (counted), trades passed on."""
        self.health = FeedHealth.RESYNCING
        self.withheld += len(message.updates)
        return trades_only(message)

    async def _request_resync(self, reason: str) -> None:
        self.counters.resyncs += 1
        log.warning("resync requested for %s: %s", self.symbol, reason)
        if self.on_resync is not None:
            self.on_resync(self.symbol, reason)
        await self.client.xadd(resync_key(self.symbol, self.prefix),
                               {"consumer": self.consumer, "group": self.group,
                                "reason": reason}, maxlen=1000, approximate=True)
