"""Redis Streams market-data feed: any feed handler publishes, execagent consumes.

Why Redis Streams: a feed handler written in any language (or another execagent process) can
publish normalised book messages with plain XADD, and the consumer group gives us at-least-once
delivery that survives a restart of the consumer: entries read but not acknowledged stay in the
group's pending list and are read again (XREADGROUP from id 0) before new ones.

The wire schema is in docs/feeds.md ("Redis Streams feed"); :func:`encode` and
:class:`RedisStreamPublisher` are its reference implementation. One entry is one
:class:`~service.domain.MarketData`, so a message's updates still apply atomically.

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
so a symbol's order is the stream's order); run one feed per symbol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateways.marketdata.feed import (
    Feed,
    FeedCounters,
    FeedHealth,
    apply_to_own_book,
    trades_only,
)
from service.domain import BookUpdate, Instrument, MarketData, Side, Trade
from sim.depth_book import DepthBook

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"  # what the reference publisher writes; version 1 is still read
_AGGRESSOR = {"B": Side.BUY, "S": Side.SELL, "": None}
_AGGRESSOR_CODE = {Side.BUY: "B", Side.SELL: "S", None: ""}


class MalformedEntry(ValueError):
    """A stream entry that does not follow the schema in docs/feeds.md."""


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


CACHE_SIZE = 50_000  # distinct price strings remembered per decoder


def _int(raw: object, what: str, minimum: int = 0) -> int:
    # isascii: "²".isdigit() is True, but int("²") raises.
    if type(raw) is not str or not raw.isdigit() or not raw.isascii():
        raise MalformedEntry(f"{what} must be a non-negative integer string, got {raw!r}")
    value = int(raw)
    if value < minimum:
        raise MalformedEntry(f"{what} must be at least {minimum}, got {value}")
    return value


def _price(instrument: Instrument, raw: object, what: str) -> int:
    if not isinstance(raw, str):
        raise MalformedEntry(f"{what} must be a decimal string, got {raw!r}")
    try:
        ticks = instrument.to_ticks(Decimal(raw))
    except (ValueError, ArithmeticError) as exc:
        raise MalformedEntry(f"{what}: {exc}") from None
    if ticks <= 0:
        raise MalformedEntry(f"{what} must be positive, got {raw}")
    return ticks


_parse_json = orjson.loads  # compiled: about twice the standard library's speed on an entry


def _json_list(fields: Mapping[str, Any], name: str, parsed: bool) -> list[Any]:
    """The list ``fields[name]`` holds: JSON text in version 1, already a list in version 2
    (``parsed``); omitted is empty."""
    value = fields.get(name)
    if value is None:
        return []
    if not parsed:
        try:
            value = _parse_json(value)
        except (ValueError, TypeError):
            raise MalformedEntry(f"{name} is not JSON") from None
    if type(value) is not list:
        raise MalformedEntry(f"{name} must be a JSON list of lists")
    return value


def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Version 2's one JSON object (field ``m``)."""
    try:
        body = _parse_json(fields["m"])
    except KeyError:
        raise MalformedEntry("a version 2 entry needs the field m") from None
    except (ValueError, TypeError):
        raise MalformedEntry("m is not JSON") from None
    if type(body) is not dict:
        raise MalformedEntry("m must be a JSON object")
    return body


class EntryDecoder:
    """Stream entries to (seq, MarketData) under the schema; MalformedEntry says what is wrong.

    Why a class: the exact decimal-to-tick conversion of each price is the costly step, and a
    book repeats the same prices all day, so each decoder remembers the prices it has converted
    (only the publisher's exact strings, only successful conversions; the cache is emptied when
    full, simpler than LRU and refilled by the book's working set at once)."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = dict(instruments)
        self._ticks: dict[str, dict[str, int]] = {symbol: {} for symbol in instruments}

    def _levels(self, rows: list[Any], name: str, side: Side, symbol: str,
                instrument: Instrument, ts_ns: int, out: list[BookUpdate]) -> None:
        cache = self._ticks[symbol]
        for row in rows:
            if type(row) is not list or len(row) != 2:
                raise MalformedEntry(f"{name} level {row!r} must be [price, qty]")
            raw_price, raw_qty = row
            ticks = cache.get(raw_price) if type(raw_price) is str else None
            if ticks is None:
                ticks = self._price(instrument, raw_price, name)
            if type(raw_qty) is str and raw_qty.isdigit() and raw_qty.isascii():
                qty = int(raw_qty)  # _int's check, inlined: this runs for every level
            else:
                qty = _int(raw_qty, f"{name} qty")
            out.append(BookUpdate(symbol, side, ticks, qty, ts_ns))

    def _price(self, instrument: Instrument, raw: object, what: str) -> int:
        """``raw`` in ticks, converted exactly and remembered."""
        ticks = _price(instrument, raw, what)
        cache = self._ticks[instrument.symbol]
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[raw] = ticks  # type: ignore[index]  # _price accepted it: a str
        return ticks

    def decode(self, fields: Mapping[str, str]) -> tuple[int, MarketData]:
        version = fields.get("v")
        if version == "2":
            return self._decode(_body(fields), True)
        if version == "1":
            return self._decode(fields, False)
        raise MalformedEntry(f"unsupported schema version {version!r}")

    def _decode(self, fields: Mapping[str, Any], parsed: bool) -> tuple[int, MarketData]:
        """Version 1's fields, as the entry's own (``parsed`` False: lists as JSON text) or as
        version 2's object (``parsed`` True)."""
        symbol = fields.get("symbol", "")
        if type(symbol) is not str:
            raise MalformedEntry(f"symbol must be a string, got {symbol!r}")
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise MalformedEntry(f"unknown symbol {symbol!r}")
        seq = _int(fields.get("seq"), "seq", minimum=1)
        ts_ns = _int(fields.get("ts_ns"), "ts_ns")
        snapshot = fields.get("snapshot", "0")
        if snapshot not in ("0", "1"):
            raise MalformedEntry(f"snapshot must be 0 or 1, got {snapshot!r}")
        updates: list[BookUpdate] = []
        self._levels(_json_list(fields, "bids", parsed), "bids", Side.BUY, symbol, instrument,
                     ts_ns, updates)
        self._levels(_json_list(fields, "asks", parsed), "asks", Side.SELL, symbol, instrument,
                     ts_ns, updates)
        trades = []
        cache = self._ticks[symbol]
        for row in _json_list(fields, "trades", parsed):
            if type(row) is not list or len(row) != 4 or type(row[2]) is not str \
                    or row[2] not in _AGGRESSOR:
                raise MalformedEntry(f"trade {row!r} must be [price, qty, B|S|'', ts_ns]")
            raw_price = row[0]
            price = cache.get(raw_price) if type(raw_price) is str else None
            if price is None:
                price = self._price(instrument, raw_price, "trade price")
            trades.append(Trade(symbol, price,
                                _int(row[1], "trade qty", minimum=1), _AGGRESSOR[row[2]],
                                _int(row[3], "trade ts_ns")))
        return seq, MarketData(symbol, ts_ns, tuple(updates), tuple(trades), snapshot == "1")


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
        self.book = DepthBook(self.symbol)  # the feed's own view, checked before passing on
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
        try:
            while not self._closed:
                pending = cursor != ">"
                reply: Any = await self.client.xreadgroup(
                    self.group, self.consumer, {self.key: cursor}, count=self.batch,
                    block=None if pending else self.block_ms)
                entries = _entries(reply)
                if pending and not entries:
                    cursor = ">"  # the pending list is exhausted
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
                await self._ack(handled)
        finally:
            # Unacknowledged when Redis is gone: left pending, read again after the reconnect.
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await self._ack(handled)

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
            # Fields arrive as bytes, or as str from a client with decode_responses.
            fields = {(k.decode() if type(k) is bytes else k): (v.decode() if type(v) is bytes
                                                                else v) for k, v in raw.items()}
            seq, message = self._decoder.decode(fields)
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
        book = self.book
        if apply_to_own_book(book, message, self.counters):
            return True
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
