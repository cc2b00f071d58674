"""Loader for Binance spot websocket captures, as in ../shared/data.

A capture is one line per message, ``<local receive ns> <raw JSON>``, gzip-compressed or not:
combined-stream envelopes (``{"stream": ..., "data": ...}``) for ``depth@100ms`` diff updates,
``bookTicker`` and ``trade``, plus one REST depth snapshot line (``lastUpdateId``). Files of one
continuous capture are read in order as one stream.

The order book follows Binance's documented procedure: apply the snapshot; drop updates with
``u <= lastUpdateId``; the first applied update must have ``U <= lastUpdateId + 1 <= u``; after
that each update's ``U`` must be the previous ``u + 1``. A broken sequence is a
:class:`SequenceGap` in the output stream (and in the counts): the book is unknown from there
until a new snapshot, so no depth is emitted meanwhile. Updates that arrive before a snapshot
are held (the REST answer usually lands after the stream began) and replayed after it; those it
already contains are dropped and counted.

Units (named assumptions): prices become integer ticks of ``tick_size`` (BTCUSDT: 0.01 USDT);
quantities integer lots of ``lot_size`` (0.000001 BTC: finer than BTCUSDT's 0.00001 LOT_SIZE
step, because the 2024-08-08/09 captures hold a few resting quantities with six decimals, such
as 25.426189); a value off the grid is an error, not rounded. Times: the exchange's, in
milliseconds (depth: event time ``E``; trades: trade time ``T``); bookTicker and the snapshot
carry none, so they get the local receive time. A quantity of 0 removes a level. Every
malformed line raises :class:`BinanceFormatError` naming file and line.
"""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.domain import BookUpdate, MarketData, Side, Trade

MAX_WAITING = 10_000  # depth updates kept while waiting for a snapshot to bridge from
DECODE_CACHE_SIZE = 50_000  # distinct price (and size) strings remembered by a decoder


class BinanceFormatError(ValueError):
    """A capture line that cannot be read; the message names the file and line."""


class OffGridError(ValueError):
    """A well-formed number that cannot be a price or quantity: negative, or off the grid.

    Its own type because a live feed treats it differently from an unreadable message: the
    message was read, so the book it describes is in doubt and must be resynced."""


@dataclass(frozen=True, slots=True)
class SequenceGap:
    """The diff-depth sequence broke: the book is unknown until the next snapshot."""

    ts_ns: int
    expected_first_id: int
    got_first_id: int


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid and ask as the bookTicker stream gives them (``update_id`` is in the same
    sequence as the diff depth). Kept apart from depth on purpose: applied to a full book as
    level updates it would leave the old best level behind until the next diff arrives."""

    ts_ns: int
    update_id: int
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int


@dataclass(slots=True)
class CaptureCounts:
    lines: int = 0
    snapshots: int = 0
    depth_applied: int = 0
    depth_dropped: int = 0  # before any snapshot, already in the snapshot, or after a gap
    gaps: int = 0
    book_tickers: int = 0
    trades: int = 0


@dataclass(slots=True)
class BinanceCapture:
    paths: list[Path]
    symbol: str = "BTCUSDT"
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.000001")
    counts: CaptureCounts = field(default_factory=CaptureCounts)

    def events(self) -> Iterator[MarketData | BookTicker | SequenceGap]:
        """Normalised market data in capture order, with gaps where the sequence broke."""
        decoder = BinanceDecoder(self.symbol, self.tick_size, self.lot_size)
        sequence = DiffSequence()
        waiting: deque[dict[str, Any]] = deque()  # depth seen while the book is unknown
        for path, line_no, received_ns, payload in self._lines():
            try:
                data = payload.get("data", payload)
                if not isinstance(data, dict):
                    raise ValueError("a message's data must be an object")
                if "lastUpdateId" in data:
                    sequence.reset(int(data["lastUpdateId"]))
                    self.counts.snapshots += 1
                    yield decoder.snapshot(data, received_ns)
                    # The snapshot usually answers after the stream began: updates that came
                    # before it may still be needed to bridge from it.
                    while waiting:
                        yield from self._sequenced(decoder, sequence, waiting.popleft())
                elif data.get("e") == "depthUpdate":
                    int(data["U"]), int(data["u"])  # validate now, not when replayed
                    if sequence.last_id is None:
                        waiting.append(data)
                        if len(waiting) > MAX_WAITING:
                            waiting.popleft()
                            self.counts.depth_dropped += 1
                        continue
                    yield from self._sequenced(decoder, sequence, data)
                elif data.get("e") == "trade":
                    self.counts.trades += 1
                    yield decoder.trade(data)
                elif {"b", "B", "a", "A", "u"} <= data.keys():
                    self.counts.book_tickers += 1
                    yield decoder.book_ticker(data, received_ns)
                else:
                    raise ValueError("not a depth update, trade, bookTicker or snapshot")
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                raise BinanceFormatError(f"{path.name} line {line_no}: {exc}") from exc
        self.counts.depth_dropped += len(waiting)  # never bridged by a snapshot

    def _sequenced(self, decoder: BinanceDecoder, sequence: DiffSequence,
                   data: dict[str, Any]) -> Iterator[MarketData | SequenceGap]:
        verdict = sequence.accept(int(data["U"]), int(data["u"]))
        if verdict == "apply":
            self.counts.depth_applied += 1
            yield decoder.depth(data)
            return
        self.counts.depth_dropped += 1
        if verdict == "gap":
            self.counts.gaps += 1
            yield SequenceGap(_ms(data["E"]), sequence.gap_expected, int(data["U"]))

    def _lines(self) -> Iterator[tuple[Path, int, int, dict[str, Any]]]:
        for path, line_no, stamp, raw in read_capture_lines(self.paths):
            self.counts.lines += 1
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict):
                    raise ValueError("a line's JSON must be an object")
                yield path, line_no, stamp, payload
            except ValueError as exc:
                raise BinanceFormatError(f"{path.name} line {line_no}: {exc}") from exc


def read_capture_lines(paths: Iterable[Path]) -> Iterator[tuple[Path, int, int, str]]:
    """``(path, line number, local receive ns, raw JSON text)`` of every non-blank capture line.

    Public so that the websocket test exchange can replay the raw text byte for byte (the
    client under test must parse what Binance sends, not our re-encoding of it)."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                stamp, _, raw = line.partition(" ")
                try:
                    received_ns = int(stamp)
                except ValueError as exc:
                    raise BinanceFormatError(f"{path.name} line {line_no}: {exc}") from exc
                yield path, line_no, received_ns, raw


@dataclass(frozen=True, slots=True)
class BinanceDecoder:
    """Binance JSON payloads (``data`` of a combined-stream envelope) to domain types.

    Shared by the capture loader and the live websocket feed so that both read the exchange's
    decimals the same way. Raises KeyError/TypeError/ValueError/InvalidOperation on bad input
    (a negative value or one off the grid is a ValueError); callers decide what that means."""

    symbol: str = "BTCUSDT"
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.000001")

    # Raw decimal string -> integer. Books repeat the same prices and sizes all the time, and
    # the exact Decimal conversion is the feed's most expensive step; only successes are kept.
    _tick_cache: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _lot_cache: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def ticks(self, raw: str) -> int:
        value = self._tick_cache.get(raw)
        if value is None:
            value = _on_grid(Decimal(raw), self.tick_size, "price")
            _remember(self._tick_cache, raw, value)
        return value

    def lots(self, raw: str) -> int:
        value = self._lot_cache.get(raw)
        if value is None:
            value = _on_grid(Decimal(raw), self.lot_size, "quantity")
            _remember(self._lot_cache, raw, value)
        return value

    def levels(self, side: Side, levels: Iterable[list[str]], ts_ns: int) -> list[BookUpdate]:
        return [BookUpdate(self.symbol, side, self.ticks(price), self.lots(qty), ts_ns)
                for price, qty in levels]

    def snapshot(self, data: dict[str, Any], received_ns: int) -> MarketData:
        """A REST depth snapshot (``lastUpdateId``, ``bids``, ``asks``) replacing the book."""
        updates = self.levels(Side.BUY, data["bids"], received_ns) + \
            self.levels(Side.SELL, data["asks"], received_ns)
        return MarketData(self.symbol, received_ns, tuple(updates), (), snapshot=True)

    def depth(self, data: dict[str, Any]) -> MarketData:
        ts_ns = _ms(data["E"])
        updates = self.levels(Side.BUY, data["b"], ts_ns) + \
            self.levels(Side.SELL, data["a"], ts_ns)
        return MarketData(self.symbol, ts_ns, tuple(updates))

    def trade(self, data: dict[str, Any]) -> MarketData:
        ts_ns = _ms(data["T"])
        # m: the buyer was the maker, so the seller took liquidity.
        aggressor = Side.SELL if data["m"] else Side.BUY
        trade = Trade(self.symbol, self.ticks(data["p"]), self.lots(data["q"]), aggressor, ts_ns)
        return MarketData(self.symbol, ts_ns, (), (trade,))

    def book_ticker(self, data: dict[str, Any], received_ns: int) -> BookTicker:
        return BookTicker(received_ns, int(data["u"]), self.ticks(data["b"]),
                          self.lots(data["B"]), self.ticks(data["a"]), self.lots(data["A"]))


class DiffSequence:
    """Binance's diff-depth rule: after a snapshot, drop what it already holds, bridge to it,
    then every update must start where the previous one ended."""

    def __init__(self) -> None:
        self.last_id: int | None = None  # the last update id applied, or the snapshot's
        self.synced = False
        self.gap_expected = 0

    def reset(self, snapshot_id: int) -> None:
        self.last_id, self.synced = snapshot_id, False

    def accept(self, first: int, final: int) -> str:
        """"apply", "drop" (already in the snapshot, or the book is unknown) or "gap"."""
        if self.last_id is None or final <= self.last_id:
            return "drop"
        expected = self.last_id + 1
        if first > expected or (self.synced and first != expected):
            # Mid-stream, or a snapshot older than the update that should bridge to it:
            # either way the book is unknown until the next snapshot.
            self.gap_expected, self.last_id, self.synced = expected, None, False
            return "gap"
        self.last_id, self.synced = final, True
        return "apply"


def _remember(cache: dict[str, int], raw: str, value: int) -> None:
    if type(raw) is not str:  # only the exchange's own spelling; never 1, 1.0 or True
        return
    if len(cache) >= DECODE_CACHE_SIZE:
        cache.clear()  # simpler than LRU, and a book's working set refills it quickly
    cache[raw] = value


def _ms(raw: object) -> int:
    return int(raw) * 1_000_000  # type: ignore[call-overload]


def _on_grid(value: Decimal, step: Decimal, what: str) -> int:
    if value < 0:
        raise OffGridError(f"negative {what} {value}")
    units = value / step
    if units != units.to_integral_value():
        raise OffGridError(f"{what} {value} is not a multiple of {step}")
    return int(units)


_DiffSequence = DiffSequence  # the name before it became public
