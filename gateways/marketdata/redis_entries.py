"""The Redis stream schema's entries decoded, and the feed's own book for its crossing check: the
per-entry work of :mod:`gateways.marketdata.redis_stream`, compiled with mypyc
(native-modules.txt).

Why a module of its own: the feed is asyncio code (async generators, which mypyc cannot
compile), but what it does per entry is synchronous, and compiled it costs a fraction of its
interpreted time (docs/benchmarks.md, "Market-data feeds"). The schema is in docs/feeds.md
("Redis Streams feed").

Values read from a publisher are typed ``Any`` where they are checked at run time: a compiled
typed local would refuse a value of another type with a TypeError, and every bad entry must be
a :class:`MalformedEntry` instead. Prices and sizes that go on into a ``BookUpdate`` or a book's
dict stay Python objects (``Any``) for the same speed reason: a compiled ``int`` is unboxed, and
boxing it again allocates a new object per level.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from heapq import heapify, heappop, heappush
from typing import Any, Final

import orjson

from core.domain import BookUpdate, Instrument, MarketData, Side, Trade
from gateways.marketdata.tick_grid import TickGrid

CACHE_SIZE: Final = 50_000  # distinct price strings remembered per decoder
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_AGGRESSOR: Final[dict[str, Side | None]] = {"B": Side.BUY, "S": Side.SELL, "": None}
_heappush: Final = heappush  # a C static when compiled, not a module-dict look-up a level
_parse_json: Final = orjson.loads  # about twice the standard library's speed on an entry


class MalformedEntry(ValueError):
    """A stream entry that does not follow the schema in docs/feeds.md."""


def _int(raw: Any, what: str, minimum: int = 0) -> int:
    # isascii: "²".isdigit() is True, but int("²") raises.
    if type(raw) is not str:
        raise MalformedEntry(f"{what} must be a non-negative integer string, got {raw!r}")
    text: str = raw
    if not text.isdigit() or not text.isascii():
        raise MalformedEntry(f"{what} must be a non-negative integer string, got {raw!r}")
    value = int(text)
    if value < minimum:
        raise MalformedEntry(f"{what} must be at least {minimum}, got {value}")
    return value


def _decimal_price(instrument: Instrument, raw: Any, what: str) -> int:
    """``raw`` in ticks through ``Decimal``: the schema's definition, and its error messages."""
    if not isinstance(raw, str):
        raise MalformedEntry(f"{what} must be a decimal string, got {raw!r}")
    try:
        ticks = instrument.to_ticks(Decimal(raw))
    except (ValueError, ArithmeticError) as exc:
        raise MalformedEntry(f"{what}: {exc}") from None
    if ticks <= 0:
        raise MalformedEntry(f"{what} must be positive, got {raw}")
    return ticks


class _TickGrid(TickGrid):
    """An instrument's grid with this feed's price fields: a string in the plain form the
    integer way (in a day of BTCUSDT about one price string in four is new to the cache),
    anything else (a JSON number, an odd form, a price off the grid) the ``Decimal`` way."""

    def ticks(self, raw: Any, what: str) -> int:
        if type(raw) is str:
            ticks = self.plain_ticks(raw)
            if ticks > 0:
                return ticks
        return _decimal_price(self.instrument, raw, what)


def _json_list(fields: dict[str, Any], name: str, parsed: bool) -> list[Any]:
    """The list ``fields[name]`` holds: JSON text in version 1, already a list in version 2
    (``parsed``); omitted is empty."""
    value: Any = fields.get(name)
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


def _body(raw: Any) -> dict[str, Any]:
    """Version 2's one JSON object (field ``m``: text, or the bytes Redis sent)."""
    try:
        body: Any = _parse_json(raw)
    except (ValueError, TypeError):
        raise MalformedEntry("m is not JSON") from None
    if type(body) is not dict:
        raise MalformedEntry("m must be a JSON object")
    return body


def _texts(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """An entry's fields as text: Redis sends bytes (str from a client with decode_responses).
    Raises UnicodeDecodeError on bytes that are not UTF-8."""
    return {(k.decode() if type(k) is bytes else k): (v.decode() if type(v) is bytes else v)
            for k, v in raw.items()}


class EntryDecoder:
    """Stream entries to (seq, MarketData) under the schema; MalformedEntry says what is wrong.

    Why a class: the exact decimal-to-tick conversion of each price is the costly step, and a
    book repeats the same prices all day, so each decoder remembers the prices it has converted
    (only the publisher's exact strings, only successful conversions; the cache is emptied when
    full, simpler than LRU and refilled by the book's working set at once)."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.instruments = dict(instruments)
        self._grids = {symbol: _TickGrid(i) for symbol, i in instruments.items()}
        self._ticks: dict[str, dict[str, Any]] = {symbol: {} for symbol in instruments}
        # The last decoded entry's levels per side, [price, qty, price, qty, ...] in the
        # entry's order: what a CrossingBook applies, without reading the BookUpdates back.
        # Only meaningful right after a decode that returned.
        self.bids: list[Any] = []
        self.asks: list[Any] = []

    def decode_raw(self, raw: Mapping[Any, Any]) -> tuple[int, MarketData]:
        """:meth:`decode` of the fields as Redis sent them. A version 2 entry as the reference
        publisher writes it (the fields ``v`` and ``m`` and no other) is parsed from its bytes,
        without making text of them first; invalid UTF-8 there is then a MalformedEntry (not
        JSON) rather than a UnicodeDecodeError."""
        if type(raw) is dict:
            fields: dict[Any, Any] = raw
            if len(fields) == 2 and fields.get(b"v") == b"2":
                body = fields.get(b"m")
                if type(body) is bytes:
                    return self._decode(_body(body), True)
        return self.decode(_texts(raw))

    def decode(self, fields: Mapping[str, Any]) -> tuple[int, MarketData]:
        """(seq, message) of one entry's fields as text."""
        text = fields if type(fields) is dict else dict(fields)
        version = text.get("v")
        if version == "2":
            if "m" not in text:
                raise MalformedEntry("a version 2 entry needs the field m")
            return self._decode(_body(text["m"]), True)
        if version == "1":
            return self._decode(text, False)
        raise MalformedEntry(f"unsupported schema version {version!r}")

    def _decode(self, fields: dict[str, Any], parsed: bool) -> tuple[int, MarketData]:
        """Version 1's fields, as the entry's own (``parsed`` False: lists as JSON text) or as
        version 2's object (``parsed`` True)."""
        symbol: Any = fields.get("symbol", "")
        if type(symbol) is not str:
            raise MalformedEntry(f"symbol must be a string, got {symbol!r}")
        grid = self._grids.get(symbol)
        if grid is None:
            raise MalformedEntry(f"unknown symbol {symbol!r}")
        seq = _int(fields.get("seq"), "seq", minimum=1)
        ts_ns: Any = _int(fields.get("ts_ns"), "ts_ns")  # boxed once, shared by the levels
        snapshot: Any = fields.get("snapshot", "0")
        if type(snapshot) is not str or (snapshot != "0" and snapshot != "1"):
            raise MalformedEntry(f"snapshot must be 0 or 1, got {snapshot!r}")
        cache = self._ticks[symbol]
        updates: list[BookUpdate] = []
        self._levels(_json_list(fields, "bids", parsed), "bids", _BUY, symbol, grid, cache,
                     ts_ns, updates, self.bids)
        self._levels(_json_list(fields, "asks", parsed), "asks", _SELL, symbol, grid, cache,
                     ts_ns, updates, self.asks)
        trades = self._trades(_json_list(fields, "trades", parsed), symbol, grid, cache)
        return seq, MarketData(symbol, ts_ns, tuple(updates), trades, snapshot == "1")

    def _levels(self, rows: list[Any], name: str, side: Side, symbol: str, grid: _TickGrid,
                cache: dict[str, Any], ts_ns: Any, out: list[BookUpdate],
                flat: list[Any]) -> None:
        flat.clear()
        for row in rows:
            if type(row) is not list:
                raise MalformedEntry(f"{name} level {row!r} must be [price, qty]")
            level: list[Any] = row
            if len(level) != 2:
                raise MalformedEntry(f"{name} level {row!r} must be [price, qty]")
            raw_price: Any = level[0]
            raw_qty: Any = level[1]
            ticks: Any = cache.get(raw_price) if type(raw_price) is str else None
            if ticks is None:
                ticks = self._price(grid, cache, raw_price, name)
            if raw_qty == "0":  # half the levels of a day's diffs: a removal, int("0") is 0
                qty: Any = 0
            elif type(raw_qty) is str and raw_qty.isdigit() and raw_qty.isascii():
                qty = int(raw_qty)  # _int's check, inlined: this runs for every level
            else:
                qty = _int(raw_qty, f"{name} qty")
            out.append(BookUpdate(symbol, side, ticks, qty, ts_ns))
            flat.append(ticks)
            flat.append(qty)

    def _trades(self, rows: list[Any], symbol: str, grid: _TickGrid,
                cache: dict[str, Any]) -> tuple[Trade, ...]:
        trades = []
        for row in rows:
            if type(row) is not list:
                raise MalformedEntry(f"trade {row!r} must be [price, qty, B|S|'', ts_ns]")
            fields: list[Any] = row
            aggressor: Any = fields[2] if len(fields) == 4 else None
            if type(aggressor) is not str or aggressor not in _AGGRESSOR:
                raise MalformedEntry(f"trade {row!r} must be [price, qty, B|S|'', ts_ns]")
            raw_price: Any = fields[0]
            price: Any = cache.get(raw_price) if type(raw_price) is str else None
            if price is None:
                price = self._price(grid, cache, raw_price, "trade price")
            trades.append(Trade(symbol, price, _int(fields[1], "trade qty", minimum=1),
                                _AGGRESSOR[aggressor], _int(fields[3], "trade ts_ns")))
        return tuple(trades)

    def _price(self, grid: _TickGrid, cache: dict[str, Any], raw: Any, what: str) -> int:
        """``raw`` in ticks, converted exactly and remembered."""
        ticks = grid.ticks(raw, what)
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[raw] = ticks  # the conversion accepted it: a str
        return ticks


class CrossingBook:
    """The feed's own view of a book, kept only to tell whether a message leaves it crossed or
    locked: each side's price -> size, and a heap of its prices whose top is the best once the
    prices no longer in the book are popped off it (lazily, when the best is asked for).

    Why not a DepthBook: this check needs the best price of each side, not sorted depth, and a
    heap costs less per level than a sorted list (the consumer keeps its own DepthBook). Bids
    go into their heap negated (heapq keeps the least on top). A heap holds each price in the
    book at least once; it is rebuilt from the book when it grows past twice the book, so
    prices that come and go far from the touch do not pile up."""

    def __init__(self) -> None:
        self._bids: dict[Any, Any] = {}
        self._asks: dict[Any, Any] = {}
        self._bid_heap: list[Any] = []  # negated prices
        self._ask_heap: list[Any] = []

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()

    def apply(self, snapshot: bool, bids: list[Any], asks: list[Any]) -> None:
        """One message's levels (as EntryDecoder.bids and .asks hold them): a snapshot
        replaces the book; each level sets its size, and a size of 0 removes it (sizes are
        never negative: the decoder reads digits)."""
        if snapshot:
            self.clear()
        if bids:
            _apply_side(bids, self._bids, self._bid_heap, True)
            if len(self._bid_heap) > 2 * len(self._bids) + 64:
                self._bid_heap = [-price for price in self._bids]
                heapify(self._bid_heap)
        if asks:
            _apply_side(asks, self._asks, self._ask_heap, False)
            if len(self._ask_heap) > 2 * len(self._asks) + 64:
                self._ask_heap = list(self._asks)
                heapify(self._ask_heap)

    def best_bid(self) -> int | None:
        heap, levels = self._bid_heap, self._bids
        while heap and -heap[0] not in levels:
            heappop(heap)
        return -heap[0] if heap else None

    def best_ask(self) -> int | None:
        heap, levels = self._ask_heap, self._asks
        while heap and heap[0] not in levels:
            heappop(heap)
        return heap[0] if heap else None

    def is_crossed(self) -> bool:
        """Both sides quoted and the best bid at or above the best ask."""
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask


def _apply_side(flat: list[Any], levels: dict[Any, Any], heap: list[Any], negate: bool) -> None:
    """Set or remove each [price, qty] of ``flat`` in one side's ``levels``; a price new to
    the side goes onto its ``heap`` (negated for bids)."""
    for i in range(0, len(flat), 2):
        price: Any = flat[i]
        qty: Any = flat[i + 1]
        if qty:
            if price not in levels:
                _heappush(heap, -price if negate else price)
            levels[price] = qty
        elif price in levels:
            del levels[price]
