"""A LOBSTER sample read whole into checked numpy columns: the one reader behind every command
and feed (``book-check``, ``evaluate``, ``calibrate``, the replays, the environment, the
signal's and the posture's data); the row iterators of :class:`sim.lobster.LobsterSample` are
views of it.

Text to numbers is :mod:`sim.lobster_csv` (pyarrow). Here every row is checked at once, as
masks over all rows, and the first row any check flags is a :class:`LobsterFormatError` naming
the file, the line and what is wrong:

- messages: a time outside the day or before the previous line's, an unknown event type or
  halt phase, a negative size, a direction other than 1 or -1, a price that is not positive
  (halts excepted: their price field holds the phase), a visible event's price off the tick
  grid;
- order book: a visible level whose price is not positive or off the tick grid, or whose size
  is not positive; levels out of order, an empty level above a visible one, a crossed book;
- the two files: a different number of lines.

Vendor quirks (:mod:`sim.lobster_csv`) are accepted, and each is logged once per read as one
line. A read is kept for the next caller asking for the same files and units (a replay that
restarts per episode reads the day once).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from sim.lobster_csv import Bools, CsvDefect, Ints, line_text, read_blocks, read_columns
from sim.lobster_prices import EMPTY, EMPTY_ASK, EMPTY_BID

if TYPE_CHECKING:
    from sim.lobster import LobsterSample

log = logging.getLogger(f"execagent.{__name__}")

PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10000
_DAY_NS = 86_400 * 10**9
_HALT = 7


class LobsterFormatError(ValueError):
    """A LOBSTER file or row that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class MessageColumns:
    """The message file, one entry per row, fields as in :class:`~sim.lobster.LobsterMessage`."""

    ts_ns: Ints
    event: Ints  # EventType values
    order_id: Ints
    qty: Ints
    price: Ints  # ticks; for hidden executions and crosses the tick at or below price_e4
    side: Ints  # Side values: 1 buy, -1 sell
    price_e4: Ints

    def __len__(self) -> int:
        return len(self.event)


@dataclass(frozen=True, slots=True)
class BookBlock:
    """Consecutive order-book rows from 0-based row ``first``: ``(rows, levels)`` arrays in
    ticks, best level first; an empty level has price ``EMPTY`` (asks) or ``-EMPTY`` (bids)
    and size 0. Empty levels are only ever below the visible ones."""

    first: int
    ask_price: Ints
    ask_qty: Ints
    bid_price: Ints
    bid_qty: Ints

    def __len__(self) -> int:
        return len(self.ask_price)

    def rows(self, start: int, stop: int | None = None) -> BookBlock:
        """Rows ``start:stop`` of this block, as a block."""
        return BookBlock(self.first + start, self.ask_price[start:stop],
                         self.ask_qty[start:stop], self.bid_price[start:stop],
                         self.bid_qty[start:stop])


@dataclass(frozen=True, slots=True)
class LobsterData:
    """Both files of a sample, checked; ``notes``: the quirks accepted, one line each."""

    messages: MessageColumns
    book: BookBlock
    notes: tuple[str, ...]


def read_sample(sample: LobsterSample, tick_size: Decimal = Decimal("0.01"),
                utc_offset_hours: int = -4, keep: bool = True) -> LobsterData:
    """Both files of ``sample`` in project units (see :mod:`sim.lobster`), checked;
    :class:`LobsterFormatError` at the first defect. ``keep``: reuse and keep the read (False:
    read the files again, as a measurement of the reader must)."""
    ticks_per_price = ticks_per_lobster_price(tick_size)
    read = _kept_read if keep else _read
    return read(sample, _identity(sample), ticks_per_price, utc_offset_hours)


def ticks_per_lobster_price(tick_size: Decimal) -> int:
    scaled = tick_size * PRICE_SCALE
    if tick_size <= 0 or scaled != scaled.to_integral_value():
        raise LobsterFormatError(f"tick size {tick_size} is not a multiple of $0.0001")
    return int(scaled)


def _identity(sample: LobsterSample) -> tuple[tuple[int, int], ...]:
    """What changes when the files do: their (or the archive's) modification time and size."""
    paths = [sample.source / sample.message_name, sample.source / sample.orderbook_name] \
        if sample.source.is_dir() else [sample.source]
    return tuple((s.st_mtime_ns, s.st_size) for s in map(os.stat, paths))


def _read(sample: LobsterSample, _identity: tuple[tuple[int, int], ...], ticks_per_price: int,
          utc_offset_hours: int) -> LobsterData:
    # zlib lets go of the interpreter lock while it inflates: the order-book file (the larger)
    # decompresses on another core while the messages are parsed.
    with ThreadPoolExecutor(1, thread_name_prefix="lobster-read") as reader:
        book_text = reader.submit(sample.read_bytes, sample.orderbook_name)
        messages, message_notes = _messages(sample, ticks_per_price, utc_offset_hours)
        book, book_notes = _book(sample.orderbook_name, book_text.result(), sample.levels,
                                 ticks_per_price)
    if len(book) != len(messages):
        longer, shorter = (sample.message_name, sample.orderbook_name) \
            if len(messages) > len(book) else (sample.orderbook_name, sample.message_name)
        raise LobsterFormatError(f"{longer} line {min(len(book), len(messages)) + 1}: no such "
                                 f"line in {shorter} ({len(messages):,} messages, {len(book):,} "
                                 f"order-book rows)")
    notes = message_notes + book_notes
    for note in notes:
        log.warning(note)
    for array in (*(getattr(messages, f) for f in MessageColumns.__slots__),
                  book.ask_price, book.ask_qty, book.bid_price, book.bid_qty):
        array.flags.writeable = False  # shared by every caller of the kept read
    return LobsterData(messages, book, notes)


_kept_read = functools.lru_cache(maxsize=2)(_read)


def _parse(name: str, data: bytes, fields: int, time_first: bool,
           check: Callable[[bytes], object]) -> tuple[tuple[Ints, ...], tuple[str, ...]]:
    """The file's columns and notes. pyarrow refuses a file as a whole: at a line that is not
    numbers, ``check`` (the caller itself) reads the lines before it, so that a defect there is
    the one reported, as the first."""
    try:
        parsed = read_columns(data, fields, time_first)
    except CsvDefect as exc:
        check(_lines_before(data, exc.line))
        raise LobsterFormatError(f"{name} {exc}") from None
    return parsed.columns, tuple(quirk.note(name) for quirk in parsed.quirks)


def _lines_before(data: bytes, line: int) -> bytes:
    """The 1-based lines before ``line`` of ``data``."""
    end = 0
    for _ in range(line - 1):
        end = data.index(b"\n", end) + 1
    return data[:end]


def _messages(sample: LobsterSample, ticks_per_price: int,
              utc_offset_hours: int) -> tuple[MessageColumns, tuple[str, ...]]:
    return _message_columns(sample.message_name, sample.read_bytes(sample.message_name),
                            ticks_per_price, sample.midnight_ns(utc_offset_hours))


def _message_columns(name: str, data: bytes, ticks_per_price: int,
                     midnight_ns: int) -> tuple[MessageColumns, tuple[str, ...]]:
    (seconds, event, order_id, qty, price_e4, direction), notes = _parse(
        name, data, 6, True,
        lambda before: _message_columns(name, before, ticks_per_price, midnight_ns))
    halt = event == _HALT
    on_book = (event >= 1) & (event <= 4)
    back = np.zeros(len(seconds), np.bool_)
    np.less(seconds[1:], seconds[:-1], out=back[1:])
    checks: list[tuple[Bools, Callable[[int], str]]] = [
        ((event < 1) | (event > 7), lambda i: f"unknown event type {event[i]}"),
        ((seconds < 0) | (seconds >= _DAY_NS),
         lambda i: f"time {seconds[i] / 1e9:.9f} s is outside the day"),
        (back, lambda i: f"time {seconds[i] / 1e9:.9f} s is before the previous line's "
                         f"{seconds[i - 1] / 1e9:.9f} s (rows out of time order)"),
        (qty < 0, lambda i: f"negative size {qty[i]}"),
        ((direction != 1) & (direction != -1),
         lambda i: f"direction {direction[i]} is neither 1 nor -1"),
        (halt & ((price_e4 < -1) | (price_e4 > 1)),
         lambda i: f"unknown halt phase {price_e4[i]} (the price of a halt is -1, 0 or 1)"),
        (~halt & (price_e4 <= 0), lambda i: f"price {price_e4[i]} is not positive"),
        (on_book & (price_e4 % ticks_per_price != 0),
         lambda i: f"price {price_e4[i]} is not a whole number of ticks"),
    ]
    _raise_at_first(checks, name, data)
    price = np.where(halt, 0, price_e4 // ticks_per_price)
    return MessageColumns(seconds + midnight_ns, event, order_id, qty, price, direction,
                          price_e4), notes


def _book(name: str, data: bytes, levels: int,
          ticks_per_price: int) -> tuple[BookBlock, tuple[str, ...]]:
    try:
        rows, blocks, quirks = read_blocks(data, 4 * levels)
    except CsvDefect as exc:
        _book(name, _lines_before(data, exc.line), levels, ticks_per_price)
        raise LobsterFormatError(f"{name} {exc}") from None
    # Ask ticks, ask sizes, bid ticks, bid sizes, each level's rows contiguous; filled one block
    # of rows at a time, its checks and conversions done while it is in the cache.
    book = np.empty((4, levels, rows), np.int64)
    first = 0
    for block in blocks:
        count = block.shape[1]
        ask, ask_qty, bid, bid_qty = block.reshape(levels, 4, count).transpose(1, 0, 2)
        ask_empty, bid_empty = ask == EMPTY_ASK, bid == EMPTY_BID
        ask_ticks, ask_out, bid_ticks, bid_out = book[:, :, first:first + count]
        np.floor_divide(ask, ticks_per_price, out=ask_ticks)
        np.floor_divide(bid, ticks_per_price, out=bid_ticks)
        # One mask of every level any check rejects: rows are looked at only if it flags one.
        wrong = ~ask_empty & ((ask <= 0) | (ask_ticks * ticks_per_price != ask) |
                              (ask_qty <= 0))
        wrong |= ~bid_empty & ((bid <= 0) | (bid_ticks * ticks_per_price != bid) |
                               (bid_qty <= 0))
        wrong[1:] |= (ask[1:] <= ask[:-1]) & ~ask_empty[1:]
        wrong[1:] |= (bid[1:] >= bid[:-1]) & ~bid_empty[1:]
        wrong[0] |= (ask[0] <= bid[0]) & ~ask_empty[0] & ~bid_empty[0]
        if wrong.any():
            _raise_at_first(_book_checks(ask.T, ask_qty.T, bid.T, bid_qty.T, ticks_per_price),
                            name, data, first)
        np.copyto(ask_ticks, EMPTY, where=ask_empty)
        np.copyto(bid_ticks, -EMPTY, where=bid_empty)
        np.copyto(ask_out, np.where(ask_empty, 0, ask_qty))
        np.copyto(bid_out, np.where(bid_empty, 0, bid_qty))
        first += count
    # (rows, levels) views: the book check copies blocks of rows out of them.
    return BookBlock(0, book[0].T, book[1].T, book[2].T, book[3].T), \
        tuple(quirk.note(name) for quirk in quirks)


def _book_checks(ask: Ints, ask_qty: Ints, bid: Ints, bid_qty: Ints,
                 ticks_per_price: int) -> list[tuple[Bools, Callable[[int], str]]]:
    """Each check of a book row, as the rows it rejects and the words for one."""
    ask_seen, bid_seen = ask != EMPTY_ASK, bid != EMPTY_BID

    def rows(levels_wrong: Bools) -> Bools:
        return np.asarray(levels_wrong.any(axis=1))

    return [
        (rows((ask_seen & (ask <= 0)) | (bid_seen & (bid <= 0))),
         lambda i: "a visible level's price is not positive"),
        (rows((ask_seen & (ask % ticks_per_price != 0)) |
              (bid_seen & (bid % ticks_per_price != 0))),
         lambda i: "a visible level's price is not a whole number of ticks"),
        (rows((ask_seen & (ask_qty <= 0)) | (bid_seen & (bid_qty <= 0))),
         lambda i: "a visible level with no positive size"),
        (rows((~ask_seen[:, :-1] & ask_seen[:, 1:]) | (~bid_seen[:, :-1] & bid_seen[:, 1:])),
         lambda i: "an empty level above a visible one"),
        (rows((ask_seen[:, 1:] & (ask[:, 1:] <= ask[:, :-1])) |
              (bid_seen[:, 1:] & (bid[:, 1:] >= bid[:, :-1]))),
         lambda i: "levels out of order: asks must rise and bids fall from the touch"),
        (ask_seen[:, 0] & bid_seen[:, 0] & (ask[:, 0] <= bid[:, 0]),
         lambda i: f"crossed book: best bid {bid[i, 0]} >= best ask {ask[i, 0]}"),
    ]


def _raise_at_first(checks: list[tuple[Bools, Callable[[int], str]]], name: str,
                    data: bytes, first: int = 0) -> None:
    """:class:`LobsterFormatError` at the first row any check flags, in the words of the
    first check that flags it; the checks' rows are the file's from 0-based ``first``."""
    firsts = [int(np.argmax(bad)) for bad, _ in checks if bad.any()]
    if not firsts:
        return
    index = min(firsts)
    why = next(describe(index) for bad, describe in checks if bad[index])
    raise LobsterFormatError(f"{name} line {first + index + 1}: {why} in "
                             f"{line_text(_unquirked(data), first + index)!r}")


def _unquirked(data: bytes) -> bytes:
    """``data`` with a byte-order mark left out, so that line 1 reads as the reader read it."""
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data
