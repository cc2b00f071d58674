"""The recorded book replayed with the agent's own transient impact (:mod:`sim.propagator`).

:class:`sim.replay.ReplayMarket` replays the recorded day as it happened: the agent's trades
never move later prices. Here the whole recorded book, every level of both sides, is shifted by
the agent's cumulative impact now, a whole number of ticks (a buy pushes it up), which decays
with event time as the propagator says. Everything the agent meets is the shifted market: the
levels, the best prices and the view it is shown, the prices its orders match against, and the
recorded messages, each shifted by the impact at the time it is applied (so a recorded
execution lands on the shifted level the agent's queue sits in, and prints at the shifted
price).

Named assumptions:
- **The book moves as a block**: impact translates the recorded levels; it does not change
  their sizes or the spread.
- **Only the agent's marketable orders make impact** (every fill one order it sent took at
  once, counted together as one market order). Its passive fills are carved out of recorded
  executions, whose impact the recorded prices already hold. A resting order the replay later
  moves through fills as a taker would but adds none either: in the market, the crowd's order
  that moved the price there would have traded with it, and that order's impact is in the
  recording too (counting it would also let impact feed on itself).
- **What the agent consumed moves with the book**: the hidden shares belong to recorded
  orders, so they stay on their recorded level wherever the shift puts it.
- **The agent's orders keep their prices**; when the shift changes, the queue ahead of a
  resting order is at most what the shifted book shows at its price (the recorded level now
  there), and it may find itself crossed and fill as a taker.
- The shift is evaluated at each recorded message and at each agent order, in event time.
- With :meth:`ImpactParams.none` the replay is exactly :class:`ReplayMarket`'s (tested over a
  long stretch of the GOOG day).
"""

from __future__ import annotations

from decimal import Decimal

from core.domain import Side
from sim.lobster import BookRow, LobsterMessage, LobsterSample
from sim.propagator import ImpactParams, Propagator
from sim.replay import AgentFill, ViewedReplayMarket


def _shifted(levels: tuple[tuple[int, int], ...], shift: int) -> tuple[tuple[int, int], ...]:
    return tuple((price + shift, qty) for price, qty in levels if price + shift > 0)


class ImpactReplayMarket(ViewedReplayMarket):
    """A :class:`ReplayMarket` whose book is shifted by the agent's cumulative impact."""

    def __init__(self, sample: LobsterSample, impact: ImpactParams,
                 start_ns: int | None = None, tick_size: Decimal = Decimal("0.01")) -> None:
        self.propagator = Propagator(impact)
        self.shift = 0  # ticks the recorded book is moved by now
        super().__init__(sample, start_ns, tick_size)

    def view_key(self) -> int:
        return self.shift

    def view_of(self, raw: BookRow) -> BookRow:
        if self.shift == 0:
            return raw
        return BookRow(_shifted(raw.asks, self.shift), _shifted(raw.bids, self.shift))

    # --- the agent ----------------------------------------------------------------------------
    def submit(self, side: Side, qty: int, price: int | None = None,
               ioc: bool = False) -> tuple[int, list[AgentFill]]:
        self._move_to(self.now_ns)
        order_id, fills = super().submit(side, qty, price, ioc)
        self._impact(side, fills)
        return order_id, fills

    def replace(self, order_id: int, qty: int, price: int) -> list[AgentFill]:
        order = self.order(order_id)
        self._move_to(self.now_ns)
        fills = super().replace(order_id, qty, price)
        if order is not None:
            self._impact(order.side, fills)
        return fills

    # --- the replay ---------------------------------------------------------------------------
    def step(self) -> tuple[LobsterMessage, list[AgentFill]] | None:
        stepped = super().step()
        if stepped is None or self.shift == 0:
            return stepped
        message, fills = stepped
        return self._shifted_message(message), fills

    def _queue_effects(self, message: LobsterMessage) -> list[AgentFill]:
        """The recorded message on the shifted book, after the shift has moved to its time
        (the step has just set the event time and the new row)."""
        self._move_to(self.now_ns)
        return super()._queue_effects(self._shifted_message(message))

    # --- internals ----------------------------------------------------------------------------
    def _shifted_message(self, message: LobsterMessage) -> LobsterMessage:
        if self.shift == 0:
            return message
        return LobsterMessage(message.ts_ns, message.event, message.order_id, message.qty,
                              message.price + self.shift, message.side, message.price_e4)

    def _impact(self, side: Side, fills: list[AgentFill]) -> None:
        taken = sum(fill.qty for fill in fills if not fill.passive)
        if taken:
            self.propagator.trade(side, taken, self.now_ns)
            self._move_to(self.now_ns)

    def _move_to(self, now_ns: int) -> None:
        """Set the shift for ``now_ns``: the consumed shares move with their levels, and a
        resting order's queue is capped at what is now shown at its price."""
        new = self.propagator.shift_ticks(now_ns)
        delta = new - self.shift
        if delta == 0:
            return
        self.shift = new
        self._consumed = {(side, price + delta): qty
                          for (side, price), qty in self._consumed.items()}
        for order in self._orders.values():
            order.ahead = min(order.ahead, self._displayed(order.side, order.price))
