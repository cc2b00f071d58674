"""LOBSTER files as numpy columns, read whole and checked at once: the fast path of
:mod:`sim.lobster` for tools that look at every row (``execagent book-check``).

Why: row by row, reading one 10-level GOOG day costs seconds (``csv``, ``int`` and a
:class:`~sim.lobster.BookRow` per row); these readers parse it with :mod:`sim.int_csv` and run
every check of the row parsers as a mask over all rows: field count, non-numeric fields, times
outside the day, unknown event types and halt phases, negative sizes, bad directions, prices
off the tick grid, crossed books, levels out of order, visible levels without size. The first
row any mask flags is handed to the row parser of :mod:`sim.lobster`, so the error names the
file and line and says what is wrong in the same words as :meth:`LobsterSample.messages` and
:meth:`LobsterSample.book_rows`. Stricter in three ways, none seen in a LOBSTER file: a field
must be a plain number (digits and a leading ``'-'``; the time with at most 9 decimals; the
row parsers also take spaces, a ``'+'``, and exponents in the time), a message row must have
exactly 6 fields (the row parser ignores extra ones), and an empty level may not sit above a
visible one (the row parser skips it). Units as in :mod:`sim.lobster`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import numpy as np

from sim import lobster
from sim.int_csv import Bools, Ints, line_text, read_int_blocks
from sim.lobster import EMPTY_ASK, EMPTY_BID, LobsterFormatError, LobsterSample

EMPTY = 2**62  # the price of an empty level in ticks here: +EMPTY for asks, -EMPTY for bids
_DAY_NS = 86_400 * 10**9
_SHAPE = "expected {} fields, each a plain number, separated by ',' alone"


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

    def message(self, index: int) -> lobster.LobsterMessage:
        """Row ``index`` (0-based) as the row reader gives it."""
        return lobster.LobsterMessage(
            int(self.ts_ns[index]), lobster.EventType(int(self.event[index])),
            int(self.order_id[index]), int(self.qty[index]), int(self.price[index]),
            lobster.Side(int(self.side[index])), int(self.price_e4[index]))


@dataclass(frozen=True, slots=True)
class BookBlock:
    """Consecutive order-book rows from 0-based row ``first``: ``(rows, levels)`` arrays, best
    level first; an empty level has price ``EMPTY`` (asks) or ``-EMPTY`` (bids) and size 0."""

    first: int
    ask_price: Ints
    ask_qty: Ints
    bid_price: Ints
    bid_qty: Ints


def read_messages(sample: LobsterSample, tick_size: Decimal = Decimal("0.01"),
                  utc_offset_hours: int = -4) -> MessageColumns:
    """The whole message file; :class:`LobsterFormatError` at its first malformed row."""
    ticks_per_price = lobster._ticks_per_lobster_price(tick_size)
    midnight_ns = sample.midnight_ns(utc_offset_hours)
    name = sample.message_name
    data = sample.read_bytes(name)
    error = functools.partial(_message_error, ticks_per_price=ticks_per_price)
    blocks = []
    for block in read_int_blocks(data, 6, decimal_column=0, scale=9):
        seconds, event, _, qty, price_e4, direction = block.values.T
        halt = event == lobster.EventType.HALT
        on_book = (event >= lobster.EventType.SUBMIT) & \
            (event <= lobster.EventType.EXECUTE_VISIBLE)
        bad = block.not_plain | (seconds < 0) | (seconds >= _DAY_NS) | (event < 1) | \
            (event > 7) | (qty < 0) | ((direction != 1) & (direction != -1)) | \
            (halt & ((price_e4 < -1) | (price_e4 > 1))) | \
            (on_book & (price_e4 % ticks_per_price != 0))
        _raise_at_first(bad, block.first, block.not_plain, data, name, error)
        blocks.append(block.values)
        if block.bad_shape is not None:
            _fail(data, name, block.bad_shape, error, _SHAPE.format(6))
    values = np.concatenate(blocks) if blocks else np.empty((0, 6), np.int64)
    event, price_e4 = values[:, 1], values[:, 4]
    price = np.where(event == lobster.EventType.HALT, 0, price_e4 // ticks_per_price)
    return MessageColumns(values[:, 0] + midnight_ns, event, values[:, 2], values[:, 3], price,
                          values[:, 5], price_e4)


def book_blocks(sample: LobsterSample, tick_size: Decimal = Decimal("0.01"),
                data: bytes | None = None) -> Iterator[BookBlock]:
    """The order-book file (``data``: its text when the caller has read it already), about a
    megabyte of text at a time (so that a consumer's work on each block stays in the cache);
    :class:`LobsterFormatError` at its first malformed row, after the blocks before it."""
    ticks_per_price = lobster._ticks_per_lobster_price(tick_size)
    name, levels = sample.orderbook_name, sample.levels
    if data is None:
        data = sample.read_bytes(name)
    error = functools.partial(_book_error, levels=levels, ticks_per_price=ticks_per_price)
    for block in read_int_blocks(data, 4 * levels):
        # One copy into four contiguous (rows, levels) arrays: every check below then runs on
        # contiguous memory, several times faster than on strided column views.
        ask, ask_qty, bid, bid_qty = np.ascontiguousarray(
            block.values.reshape(-1, levels, 4).transpose(2, 0, 1))
        ask_empty, bid_empty = ask == EMPTY_ASK, bid == EMPTY_BID
        ask_seen, bid_seen = ~ask_empty, ~bid_empty
        ask_ticks, bid_ticks = ask // ticks_per_price, bid // ticks_per_price
        # Each check marks the levels it rejects; rows are looked at only if one did.
        wrong = (ask_seen & ((ask_ticks * ticks_per_price != ask) | (ask_qty <= 0))) | \
            (bid_seen & ((bid_ticks * ticks_per_price != bid) | (bid_qty <= 0)))
        wrong[:, 1:] |= (ask_seen[:, 1:] & (ask[:, 1:] <= ask[:, :-1])) | \
            (bid_seen[:, 1:] & (bid[:, 1:] >= bid[:, :-1])) | \
            (ask_empty[:, :-1] & ask_seen[:, 1:]) | (bid_empty[:, :-1] & bid_seen[:, 1:])
        wrong[:, 0] |= ask_seen[:, 0] & bid_seen[:, 0] & (ask[:, 0] <= bid[:, 0])
        if wrong.any() or block.not_plain.any():
            gap = _gaps(ask_empty) | _gaps(bid_empty)
            _raise_at_first(wrong.any(axis=1) | block.not_plain, block.first,
                            block.not_plain, data, name, error, gap)
        if len(ask):
            np.copyto(ask_ticks, EMPTY, where=ask_empty)
            np.copyto(bid_ticks, -EMPTY, where=bid_empty)
            np.copyto(ask_qty, 0, where=ask_empty)
            np.copyto(bid_qty, 0, where=bid_empty)
            yield BookBlock(block.first, ask_ticks, ask_qty, bid_ticks, bid_qty)
        if block.bad_shape is not None:
            _fail(data, name, block.bad_shape, error, _SHAPE.format(4 * levels))


def _gaps(empty: Bools) -> Bools:
    """Rows where an empty level sits above a visible one."""
    return np.asarray((empty[:, :-1] & ~empty[:, 1:]).any(axis=1))


def _raise_at_first(bad: Bools, first: int, not_plain: Bools, data: bytes, name: str,
                    error: Callable[[list[str]], str | None],
                    gap: Bools | None = None) -> None:
    flagged = np.flatnonzero(bad)
    if flagged.size:
        index = int(flagged[0])
        why = "an empty level above a visible one" if gap is not None and gap[index] and \
            not not_plain[index] else "a field is not a plain number (digits, a leading '-' " \
                                      "and for the time at most 9 decimals)"
        _fail(data, name, first + index, error, why)


def _fail(data: bytes, name: str, index: int, error: Callable[[list[str]], str | None],
          otherwise: str) -> NoReturn:
    """Raise for 0-based line ``index``, in the row parser's words when it rejects the line."""
    text = line_text(data, index)
    row = text.split(",") if text else []  # as csv reads LOBSTER's unquoted rows
    raise LobsterFormatError(f"{name} line {index + 1}: {error(row) or otherwise}")


def _message_error(row: list[str], ticks_per_price: int) -> str | None:
    try:
        lobster._parse_message(row, 0, ticks_per_price)
    except (ValueError, InvalidOperation) as exc:
        return f"{exc} in {row!r}"
    return None


def _book_error(row: list[str], levels: int, ticks_per_price: int) -> str | None:
    try:
        lobster._parse_book_row(row, levels, ticks_per_price)
    except ValueError as exc:
        return str(exc)
    return None
