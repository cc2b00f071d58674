"""The venue's LOBSTER replay with the clients' transient price impact (``execagent venue
--impact calibrated``): :class:`gateways.venue.replay_flow.LobsterReplayFlow`, whose recorded
book is moved by the propagator of :mod:`sim.propagator`, fed by the clients' trades.

Why: in the plain replay a client's trade changes only the levels it took (permanent impact,
by the matching engine); the recorded flow behind it goes on at the recorded prices, as if no
one had bought. Here a client's buy that takes liquidity raises every later recorded price by
the propagator's shift, which decays, as :mod:`sim.impact_replay` does in the evaluation's
in-process replay.

Named assumptions (those of the plain replay hold, in the shifted prices):
- **Only the clients' marketable orders make impact**, each incoming order once: all the fills
  it took on arrival (a new order, or a replace that crossed) are one market order of their
  total size, at the time the venue handled it. The recorded crowd's trades never feed the
  propagator (their impact is in the recorded prices), nor do a client's passive fills (part
  of a recorded execution), nor a client's order the moved book crosses (below): in the market,
  the crowd's order that moved the price there would have traded with it, and that order's
  impact is in the recording too (counting it would also let impact feed on itself).
- **The crowd's book moves as a block**: when the shift changes by ``d`` ticks, every crowd
  order (those without an owner: the seeds, the recorded orders, the levels made up from the
  order-book file) moves ``d`` ticks, both sides, in one step of the matching engine
  (:meth:`sim.matching.OrderBook.move_crowd`), keeping its place in time at its new price.
  Sizes and the spread stay as they are.
- **The clients' orders keep their prices.** One the moved crowd crosses trades at once as the
  taker, at the crowd's prices (as the in-process replay's agent does), and its remainder rests
  where it was.
- **Every recorded message is applied at its recorded price plus the current shift**: a
  submission, the IOC that replays an execution, a removal the venue does not hold an order
  for, and the levels entering the recorded window (the order-book file's rows are shifted as
  a whole). One whose shifted price would be below one tick is skipped.
- **When the shift is evaluated**: at every recorded message and right after every client
  order that took liquidity; it stands still in between. Its clock never goes backwards: a
  recorded message that was due before a client's trade but applied after it (the venue
  applies the flow in batches) sees that trade's impact as just made.
- With :meth:`ImpactParams.none` nothing moves: the replay is the plain one exactly (tested).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core.domain import Side
from gateways.venue.replay_flow import LobsterReplayFlow
from sim.lobster import BookRow, LobsterSample
from sim.matching import Fill, OrderBook
from sim.propagator import ImpactParams, Propagator


def _shifted(row: BookRow, ticks: int) -> BookRow:
    if ticks == 0:
        return row
    return BookRow(tuple((price + ticks, qty) for price, qty in row.asks if price + ticks > 0),
                   tuple((price + ticks, qty) for price, qty in row.bids if price + ticks > 0))


class ImpactReplayFlow(LobsterReplayFlow):
    """``sim.flow.OrderFlow`` over a LOBSTER sample, moved by the clients' impact (see the
    module docstring); the venue reports each client's marketable order to
    :meth:`client_traded`."""

    def __init__(self, sample: LobsterSample, tick_size: Decimal, impact: ImpactParams) -> None:
        super().__init__(sample, tick_size)
        self.propagator = Propagator(impact)
        self.shift = 0  # ticks the crowd's book stands from the recording
        self._clock_ns = 0  # the latest time the shift was evaluated at
        recorded_rows = self._rows
        # The rows after the first are read as the replay reaches them, at the shift then.
        self._rows = (_shifted(row, self.shift) for row in recorded_rows)

    def apply_next(self, book: OrderBook) -> list[Fill]:
        message = self._next
        if message is None:
            return []
        fills = self._move(book, message.ts_ns + self._offset_ns)
        if self.shift:
            price = message.price + self.shift
            if price <= 0:  # below the price grid: nothing to apply
                self._next = next(self._messages, None)
                self._row = next(self._rows, self._row)  # the rows stay in step
                return fills
            self._next = dataclasses.replace(message, price=price)
        return fills + super().apply_next(book)

    def client_traded(self, book: OrderBook, side: Side, qty: int, ts_ns: int) -> list[Fill]:
        """A client's order took ``qty`` on arrival at ``ts_ns``: its impact moves the crowd's
        book now. Returns the trades of the clients' orders the move crossed."""
        self.propagator.trade(side, qty, max(ts_ns, self._clock_ns))
        return self._move(book, ts_ns)

    def _move(self, book: OrderBook, ts_ns: int) -> list[Fill]:
        self._clock_ns = max(self._clock_ns, ts_ns)
        new = self.propagator.shift_ticks(self._clock_ns)
        delta = new - self.shift
        if delta == 0:
            return []
        self.shift = new
        self._row = _shifted(self._row, delta)  # the window's edges are where the crowd is
        return book.move_crowd(delta, self._clock_ns)

