"""A LOBSTER sample as the simulated venue's order flow: the recorded market, message by
message, in the venue's matching engine, where the clients' orders meet it.

Why here and not ``sim/replay.py``: that replay shows the recorded book exactly and hides the
agent's impact (it runs in event time, in process, for the evaluation). Behind the FIX venue the
recorded orders go through the same matching engine as the clients' orders, so the venue can
publish one book and one tape to every client, in real or accelerated time (``speed``).

Assumptions, named:
- The book starts as the sample's first order-book row, one crowd order per level (who queued
  in it is unknown); messages replay from the second on (row 1 is the book after message 1).
- Event times keep the recorded spacing, counted from the venue's start.
- A submission rests at its recorded price (or trades, where a client's order now stands in
  its way).
- A cancel or deletion removes the recorded order. One the venue does not hold (queued before
  the sample started, so inside a seed order, or already taken by a client's trade) takes its
  quantity from the crowd's orders at that price, oldest first; what is not there is ignored.
- A visible execution is replayed as what caused it: an IOC order from the other side at the
  execution price for the executed size. It takes the queue in time priority, clients' orders
  included, and its trades are the venue's trades (and its tape). With no client in the way the
  level sizes follow the recording; with one, the crowd's order it did not take stays, so the
  clients' trades move the replayed book (permanent impact, unlike ``sim/replay.py``).
- Hidden executions, cross trades and trading halts change no visible order: skipped.
- LOBSTER records only what happens within its levels. A price level that enters that window
  from beyond (the book moved) is unknown to the messages; the order-book file, read in step,
  says its size, and the crowd's orders there are made up to it (added to, or the newest
  cancelled: whatever stood there from an earlier visit went unrecorded while out of the
  window). Levels already in the window are never adjusted, so the clients' impact stays.
- At the end of the sample the market goes quiet.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from core.domain import Side
from sim.lobster import (
    BookRow,
    EventType,
    LobsterFormatError,
    LobsterMessage,
    LobsterSample,
    open_sample,
)
from sim.matching import Fill, OrderBook

NEVER_NS = 2**62  # the next event time once the sample is exhausted
_REMOVALS = frozenset({EventType.PARTIAL_CANCEL, EventType.DELETE})
# How many of our levels beyond the recorded window's depth are looked at when it moves: more
# than the recording's levels, since unrecorded orders may linger there from earlier visits.
ENTERING_SLACK = 40


class LobsterReplayFlow:
    """``sim.flow.OrderFlow`` over a LOBSTER sample (see the module docstring)."""

    def __init__(self, sample: LobsterSample, tick_size: Decimal) -> None:
        self._rows: Iterator[BookRow] = sample.book_rows(tick_size)
        self._row = next(self._rows)
        self._messages: Iterator[LobsterMessage] = sample.messages(tick_size)
        self._recorded_start_ns = next(self._messages).ts_ns  # message 1 is in row 1
        self._next = next(self._messages, None)
        self._offset_ns = 0
        self._synthetic = itertools.count(-1, -1)  # ids of seeds and replayed aggressors
        self.skipped = 0  # removals that found nothing to remove

    def seed_book(self, book: OrderBook, start_ns: int) -> None:
        self._offset_ns = start_ns - self._recorded_start_ns
        for side, levels in ((Side.BUY, self._row.bids), (Side.SELL, self._row.asks)):
            for price, qty in levels:
                book.add_limit(next(self._synthetic), side, price, qty, start_ns)

    def next_time_ns(self) -> int:
        return NEVER_NS if self._next is None else self._next.ts_ns + self._offset_ns

    def apply_next(self, book: OrderBook) -> list[Fill]:
        message = self._next
        if message is None:
            return []
        self._next = next(self._messages, None)
        ts_ns = message.ts_ns + self._offset_ns
        fills: list[Fill] = []
        if message.event is EventType.SUBMIT and book.get(message.order_id) is None:
            fills = book.add_limit(message.order_id, message.side, message.price, message.qty,
                                   ts_ns)
        elif message.event in _REMOVALS:
            self._remove(book, message)
        elif message.event is EventType.EXECUTE_VISIBLE:
            fills = book.add_limit(next(self._synthetic), message.side.opposite, message.price,
                                   message.qty, ts_ns, ioc=True)
        self._fill_in_entering_levels(book, ts_ns)
        return fills

    def _fill_in_entering_levels(self, book: OrderBook, ts_ns: int) -> None:
        """Price levels between the previous recorded row's deepest and the next row's deepest
        are new to the window: the crowd's orders there are made up to the row (see the module
        docstring), an absent level to nothing."""
        previous, row = self._row, next(self._rows, None)
        if row is None:
            return
        self._row = row
        for side, levels, before in ((Side.BUY, row.bids, previous.bids),
                                     (Side.SELL, row.asks, previous.asks)):
            if not before or not levels:
                continue
            edge, deepest = before[-1][0], levels[-1][0]
            sign = -1 if side is Side.BUY else 1  # deeper is lower for bids, higher for asks
            if sign * (deepest - edge) <= 0:
                continue
            recorded = {price: qty for price, qty in levels if sign * (price - edge) > 0}
            ours = {price for price, _ in book.depth(side, len(levels) + ENTERING_SLACK)
                    if 0 < sign * (price - edge) <= sign * (deepest - edge)}
            for price in recorded.keys() | ours:
                missing = recorded.get(price, 0) - book.level_qty(side, price)
                if missing > 0:
                    book.add_limit(next(self._synthetic), side, price, missing, ts_ns)
                elif missing < 0:
                    self._take_from_crowd(book, side, price, -missing, newest_first=True)

    def _remove(self, book: OrderBook, message: LobsterMessage) -> None:
        own = book.get(message.order_id)
        if own is not None:
            book.cancel(message.order_id,
                        None if message.event is EventType.DELETE else message.qty)
            return
        if self._take_from_crowd(book, message.side, message.price, message.qty,
                                 newest_first=False) < message.qty:
            self.skipped += 1

    @staticmethod
    def _take_from_crowd(book: OrderBook, side: Side, price: int, qty: int,
                         newest_first: bool) -> int:
        """Cancel up to ``qty`` from the crowd's (not the clients') orders at ``price``;
        returns how much was cancelled."""
        crowd = [o for o in book.queue(side, price) if o.owner is None]
        taken = 0
        for order in reversed(crowd) if newest_first else crowd:
            if taken >= qty:
                break
            taken += book.cancel(order.order_id, min(qty - taken, order.qty))
        return taken


def lobster_flow(symbol: str, sample_path: Path, tick_size: Decimal) -> LobsterReplayFlow:
    """The replay of the LOBSTER sample at ``sample_path`` for ``symbol``; raises
    ``sim.lobster.LobsterFormatError`` (a ValueError) naming what is wrong with the files."""
    return LobsterReplayFlow(open_replay(symbol, sample_path), tick_size)


def open_replay(symbol: str, sample_path: Path) -> LobsterSample:
    """The LOBSTER sample at ``sample_path``, checked to record ``symbol``; raises
    ``sim.lobster.LobsterFormatError`` (a ValueError) naming what is wrong with the files."""
    sample = open_sample(sample_path)
    if sample.ticker != symbol:
        raise LobsterFormatError(f"{sample_path} records {sample.ticker}, not {symbol}")
    return sample
