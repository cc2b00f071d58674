"""Loader for LOBSTER sample files (lobsterdata.com): NASDAQ order-level messages and the book.

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

Every malformed row raises :class:`LobsterFormatError` naming the file and line: a replay must
never silently skip an event, or the book it reconstructs drifts. The row parsers here define
the format and its error messages; :mod:`sim.lobster_columns` reads whole files into numpy
columns with the same checks, vectorised, for tools that look at every row.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.domain import Side

PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10000
EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999
_NAME = re.compile(r"(?P<ticker>[A-Za-z.]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_"
                   r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv$")


class LobsterFormatError(ValueError):
    """A LOBSTER file or row that cannot be read; the message names the file and line."""


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


_OFF_BOOK = frozenset({EventType.EXECUTE_HIDDEN, EventType.CROSS_TRADE})


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

    @contextlib.contextmanager
    def _rows(self, name: str) -> Iterator[Iterator[list[str]]]:
        if self.source.is_dir():
            with open(self.source / name, newline="") as handle:
                yield csv.reader(handle)
            return
        with zipfile.ZipFile(self.source) as archive, archive.open(name) as member:
            yield csv.reader(io.TextIOWrapper(member, newline=""))

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

    def messages(self, tick_size: Decimal = Decimal("0.01"),
                 utc_offset_hours: int = -4) -> Iterator[LobsterMessage]:
        ticks_per_price = _ticks_per_lobster_price(tick_size)
        midnight_ns = self.midnight_ns(utc_offset_hours)
        with self._rows(self.message_name) as rows:
            for line_no, row in enumerate(rows, start=1):
                try:
                    yield _parse_message(row, midnight_ns, ticks_per_price)
                except (ValueError, InvalidOperation) as exc:
                    raise LobsterFormatError(
                        f"{self.message_name} line {line_no}: {exc} in {row!r}") from exc

    def book_rows(self, tick_size: Decimal = Decimal("0.01")) -> Iterator[BookRow]:
        ticks_per_price = _ticks_per_lobster_price(tick_size)
        with self._rows(self.orderbook_name) as rows:
            for line_no, row in enumerate(rows, start=1):
                try:
                    yield _parse_book_row(row, self.levels, ticks_per_price)
                except ValueError as exc:
                    raise LobsterFormatError(
                        f"{self.orderbook_name} line {line_no}: {exc}") from exc


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


def _ticks_per_lobster_price(tick_size: Decimal) -> int:
    scaled = tick_size * PRICE_SCALE
    if tick_size <= 0 or scaled != scaled.to_integral_value():
        raise LobsterFormatError(f"tick size {tick_size} is not a multiple of $0.0001")
    return int(scaled)


def _to_ticks(value: int, ticks_per_price: int) -> int:
    ticks, remainder = divmod(value, ticks_per_price)
    if remainder:
        raise ValueError(f"price {value} is not a whole number of ticks")
    return ticks


def _parse_message(row: list[str], midnight_ns: int, ticks_per_price: int) -> LobsterMessage:
    if len(row) < 6:
        raise ValueError(f"expected 6 fields, got {len(row)}")
    seconds = Decimal(row[0])
    if seconds < 0 or seconds >= 86_400:
        raise ValueError(f"time {seconds} is outside the day")
    event = EventType(int(row[1]))
    qty = int(row[3])
    if qty < 0:
        raise ValueError(f"negative size {qty}")
    direction = int(row[5])
    if direction not in (1, -1):
        raise ValueError(f"direction {direction} is neither 1 nor -1")
    price_e4 = int(row[4])
    if event is EventType.HALT:
        HaltPhase(price_e4)  # an unknown phase raises ValueError
        price = 0
    elif event in _OFF_BOOK:
        price = price_e4 // ticks_per_price
    else:
        price = _to_ticks(price_e4, ticks_per_price)
    return LobsterMessage(midnight_ns + int(seconds * 1_000_000_000), event, int(row[2]), qty,
                          price, Side.BUY if direction == 1 else Side.SELL, price_e4)


def _parse_book_row(row: list[str], levels: int, ticks_per_price: int) -> BookRow:
    if len(row) != 4 * levels:
        raise ValueError(f"expected {4 * levels} fields for {levels} levels, got {len(row)}")
    values = [int(v) for v in row]
    asks, bids = [], []
    for level in range(levels):
        ask_price, ask_qty, bid_price, bid_qty = values[4 * level: 4 * level + 4]
        if ask_price != EMPTY_ASK:
            asks.append((_to_ticks(ask_price, ticks_per_price), ask_qty))
        if bid_price != EMPTY_BID:
            bids.append((_to_ticks(bid_price, ticks_per_price), bid_qty))
    if asks and bids and asks[0][0] <= bids[0][0]:
        raise ValueError(f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]} (ticks)")
    if any(a[0] >= b[0] for a, b in zip(asks, asks[1:], strict=False)) or \
            any(a[0] <= b[0] for a, b in zip(bids, bids[1:], strict=False)):
        raise ValueError("levels out of order: asks must rise and bids fall from the touch")
    if any(qty <= 0 for _, qty in asks + bids):
        raise ValueError("a visible level with no positive size")
    return BookRow(tuple(asks), tuple(bids))
