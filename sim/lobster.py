"""LOBSTER sample files (lobsterdata.com): NASDAQ order-level messages and the book.

A LOBSTER sample is a pair of CSV files without headers, in a folder or a zip:
``<TICKER>_<DATE>_<start>_<end>_message_<LEVELS>.csv`` and ``..._orderbook_<LEVELS>.csv``.
Message rows are ``time, type, order id, size, price, direction``: time in seconds after
midnight (decimals to the nanosecond), price in dollars x 10000, direction 1 buy / -1 sell.
Book rows hold, for every level, ``ask price, ask size, bid price, bid size``; empty levels carry
the dummy prices 9999999999 (ask) and -9999999999 (bid).

Conversion to the project's units (named assumptions):
- prices become integer ticks of ``tick_size`` dollars (0.01 by default, the NASDAQ tick for
  stocks above $1); a visible-book price that is not a whole number of ticks is an error, not
  rounded. Hidden executions (type 5) may print between ticks (midpoint orders: the GOOG sample
  has them at half a cent), so every message also keeps its exact price in LOBSTER units;
- times become nanoseconds since the Unix epoch, taking the trading date from the file name and
  the exchange's local midnight as the file's zero (LOBSTER times are New York local time; we
  use UTC-4, right for the summer sample day, and accept ``utc_offset_hours`` for others).

One reader, :mod:`sim.lobster_columns`, reads and checks both files whole; the row iterators
here are views of what it read. A defect anywhere raises :class:`LobsterFormatError` naming the
file and line before the first row is given: a replay must never silently skip an event, or
the book it reconstructs drifts.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from core.domain import Side
from sim.lobster_columns import EMPTY, BookBlock, LobsterData, MessageColumns, read_sample
from sim.lobster_columns import EMPTY_ASK as EMPTY_ASK  # the names other modules import here
from sim.lobster_columns import EMPTY_BID as EMPTY_BID
from sim.lobster_columns import LobsterFormatError as LobsterFormatError
from sim.lobster_csv import Ints

_NAME = re.compile(r"(?P<ticker>[A-Za-z.]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_"
                   r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$")


class EventType(enum.IntEnum):
    SUBMIT = 1
    PARTIAL_CANCEL = 2
    DELETE = 3
    EXECUTE_VISIBLE = 4
    EXECUTE_HIDDEN = 5
    CROSS_TRADE = 6
    HALT = 7


class HaltPhase(enum.IntEnum):
    """What a type-7 message announces; LOBSTER puts it in the price field."""

    HALTED = -1
    QUOTING = 0  # quoting resumes, trading not yet
    TRADING = 1


@dataclass(frozen=True, slots=True)
class LobsterMessage:
    """One message-file row in project units. ``side`` is the side of the *resting* order
    (for executions LOBSTER gives the side of the order that was hit)."""

    ts_ns: int
    event: EventType
    order_id: int
    qty: int
    price: int  # ticks; for hidden executions and crosses, the tick at or below price_e4
    side: Side
    price_e4: int  # the exact price, dollars x 10000

    @property
    def halt_phase(self) -> HaltPhase | None:
        return HaltPhase(self.price_e4) if self.event is EventType.HALT else None


@dataclass(frozen=True, slots=True)
class BookRow:
    """One order-book-file row: the visible book after the message of the same row.
    Levels are ``(price ticks, qty)``, best first; empty levels are left out."""

    asks: tuple[tuple[int, int], ...]
    bids: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class LobsterSample:
    """Where a sample's two files are and what their names say."""

    source: Path
    ticker: str
    date: dt.date
    levels: int
    message_name: str
    orderbook_name: str

    def read_bytes(self, name: str) -> bytes:
        """One of the sample's files, whole (decompressed)."""
        if self.source.is_dir():
            return (self.source / name).read_bytes()
        with zipfile.ZipFile(self.source) as archive:
            return archive.read(name)

    def midnight_ns(self, utc_offset_hours: int = -4) -> int:
        """The file's zero: the trading day's local midnight, in ns since the Unix epoch."""
        midnight = dt.datetime.combine(self.date, dt.time(),
                                       dt.timezone(dt.timedelta(hours=utc_offset_hours)))
        return int(midnight.timestamp()) * 1_000_000_000

    def read(self, tick_size: Decimal = Decimal("0.01"), utc_offset_hours: int = -4,
             keep: bool = True) -> LobsterData:
        """Both files, checked, as numpy columns (:func:`sim.lobster_columns.read_sample`)."""
        return read_sample(self, tick_size, utc_offset_hours, keep)

    def messages(self, tick_size: Decimal = Decimal("0.01"), utc_offset_hours: int = -4,
                 start: int = 0) -> Iterator[LobsterMessage]:
        """The messages from 0-based row ``start`` on (the files are read, and a defect
        raised, at the call)."""
        return _message_rows(self.read(tick_size, utc_offset_hours).messages, start)

    def book_rows(self, tick_size: Decimal = Decimal("0.01"),
                  start: int = 0) -> Iterator[BookRow]:
        """The order-book rows from 0-based row ``start`` on."""
        book = self.read(tick_size).book
        for first in range(start, len(book), _CHUNK):
            yield from _book_rows(book.rows(first, first + _CHUNK))

    def events(self, tick_size: Decimal = Decimal("0.01"),
               utc_offset_hours: int = -4) -> Iterator[tuple[LobsterMessage, BookRow]]:
        """Each message with the order-book row after it."""
        return zip(self.messages(tick_size, utc_offset_hours), self.book_rows(tick_size),
                   strict=True)


def open_sample(path: Path | str) -> LobsterSample:
    """Find the message and order-book files of one sample in a folder or zip."""
    source = Path(path)
    if source.is_dir():
        names = [p.name for p in source.iterdir()]
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
    else:
        raise LobsterFormatError(f"{source}: neither a folder nor a zip archive")
    found: dict[str, re.Match[str]] = {}
    for name in names:
        match = _NAME.search(name)
        if match:
            if match["kind"] in found:
                raise LobsterFormatError(f"{source}: more than one {match['kind']} file")
            found[match["kind"]] = match
    if set(found) != {"message", "orderbook"}:
        raise LobsterFormatError(f"{source}: needs one *_message_N.csv and one "
                                 f"*_orderbook_N.csv file, found {sorted(found) or 'neither'}")
    message, book = found["message"], found["orderbook"]
    if message["levels"] != book["levels"] or message["date"] != book["date"]:
        raise LobsterFormatError(f"{source}: message and order-book files do not match")
    return LobsterSample(source, message["ticker"], dt.date.fromisoformat(message["date"]),
                         int(message["levels"]), message.string, book.string)


def message_at(columns: MessageColumns, index: int) -> LobsterMessage:
    """Row ``index`` (0-based) of ``columns`` as the row iterator gives it."""
    return LobsterMessage(int(columns.ts_ns[index]), _EVENTS[int(columns.event[index])],
                          int(columns.order_id[index]), int(columns.qty[index]),
                          int(columns.price[index]), _SIDES[int(columns.side[index])],
                          int(columns.price_e4[index]))


def _message_rows(columns: MessageColumns, start: int) -> Iterator[LobsterMessage]:
    for first in range(start, len(columns), _CHUNK):
        stop = first + _CHUNK
        yield from map(LobsterMessage, columns.ts_ns[first:stop].tolist(),
                       map(_EVENTS.__getitem__, columns.event[first:stop].tolist()),
                       columns.order_id[first:stop].tolist(), columns.qty[first:stop].tolist(),
                       columns.price[first:stop].tolist(),
                       map(_SIDES.__getitem__, columns.side[first:stop].tolist()),
                       columns.price_e4[first:stop].tolist())


def _book_rows(book: BookBlock) -> Iterator[BookRow]:
    return map(BookRow, _side_levels(book.ask_price, book.ask_qty, EMPTY),
               _side_levels(book.bid_price, book.bid_qty, -EMPTY))


def _side_levels(price: Ints, qty: Ints, empty: int) -> list[tuple[tuple[int, int], ...]]:
    """One side's visible levels in every row of a block. A message changes at most one side,
    so a side is made only in the rows where it differs from the row before; the others share
    that row's tuple. Empty levels are only ever below the visible ones."""
    changed = np.ones(len(price), dtype=bool)
    changed[1:] = np.any((price[1:] != price[:-1]) | (qty[1:] != qty[:-1]), axis=1)
    rows = np.flatnonzero(changed)
    width = price.shape[1]
    pairs = list(zip(price[rows].ravel().tolist(), qty[rows].ravel().tolist(), strict=True))
    visible = np.count_nonzero(price[rows] != empty, axis=1).tolist()
    made = [tuple(pairs[first:first + n])
            for first, n in zip(range(0, len(pairs), width), visible, strict=True)]
    return list(map(made.__getitem__, (np.cumsum(changed) - 1).tolist()))


_CHUNK = 2048
"""Rows turned into Python objects at a time: a reader that stops early (a replay's window of
a few thousand messages) converts no more than it reads, plus at most one chunk."""
_EVENTS = {int(event): event for event in EventType}
_SIDES = {1: Side.BUY, -1: Side.SELL}
