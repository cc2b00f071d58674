"""Replay of real order-book data that the agent's own orders interact with.

The displayed book is LOBSTER's own order-book file, row by row (exact, as ``book-check``
proves); the message file drives the agent's queue positions. Assumptions, also in
docs/simulator.md:

- **Pure replay, no permanent impact.** The recorded market goes on as it was recorded; the
  agent's trades never move later prices. What the agent takes from a level is remembered as
  *consumed* and hidden from it until the recorded level shrinks below what is left, so the same
  displayed shares cannot be taken twice.
- **Marketable orders** walk the displayed opposite levels, best first, up to their limit, at
  the displayed prices and sizes (minus what the agent already consumed). Their remainder rests
  (limit) or is cancelled (market and IOC).
- **Resting orders** join the back of the queue: everything displayed at their price when they
  arrive is ahead of them. A cancel (type 2 or 3) of an order that arrived before the agent's
  (or was already there when the file starts) shortens the queue ahead; one that arrived after
  does not. A visible execution (type 4) at the agent's price takes the queue from the front:
  what exceeds the volume still ahead fills the agent's order (it would have been hit first).
  Hidden executions (type 5) never touch it.
- If the recorded market moves through a resting order's price (its limit now crosses the
  displayed opposite touch), it fills against the displayed liquidity as a taker would.
- One agent, no latency: an order acts at the event time it is submitted.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from service.domain import Side
from sim.lobster import BookRow, EventType, LobsterMessage, LobsterSample

_TAKES_FROM_QUEUE = frozenset({EventType.PARTIAL_CANCEL, EventType.DELETE})


@dataclass(frozen=True, slots=True)
class AgentFill:
    order_id: int
    price: int
    qty: int
    ts_ns: int
    passive: bool  # True when a resting order was hit; False when the agent took liquidity


@dataclass(slots=True)
class AgentOrder:
    order_id: int
    side: Side
    price: int
    leaves: int
    ahead: int  # displayed quantity in front of it at its price
    arrival_seq: int  # messages seen when it arrived: later LOBSTER orders queue behind it


class ReplayMarket:
    def __init__(self, sample: LobsterSample) -> None:
        self._messages = sample.messages()
        self._rows = sample.book_rows()
        first = next(self._rows, None)
        if first is None or next(self._messages, None) is None:
            raise ValueError(f"{sample.source}: the sample holds no events")
        self.book: BookRow = first
        self.now_ns = 0
        self._seq = 0  # messages applied
        self._born: dict[int, int] = {}  # LOBSTER order id -> seq of its submission
        self._consumed: dict[tuple[Side, int], int] = {}  # displayed shares the agent took
        self._orders: dict[int, AgentOrder] = {}
        self._ids = itertools.count(1)

    # --- the agent --------------------------------------------------------------------------------
    def submit(self, side: Side, qty: int, price: int | None = None,
               ioc: bool = False) -> tuple[int, list[AgentFill]]:
        """A limit order (``price``) or a market order (``price=None``); returns its id and the
        fills it took at once."""
        if qty <= 0 or (price is not None and price <= 0):
            raise ValueError("an agent order needs a positive quantity and price")
        order_id = next(self._ids)
        fills = self._take(order_id, side, qty, price)
        left = qty - sum(f.qty for f in fills)
        if left > 0 and price is not None and not ioc:
            ahead = self._displayed(side, price)
            self._orders[order_id] = AgentOrder(order_id, side, price, left, ahead, self._seq)
        return order_id, fills

    def cancel(self, order_id: int) -> int:
        """Remove a resting agent order; returns what it still had open (0 if none)."""
        order = self._orders.pop(order_id, None)
        return order.leaves if order else 0

    def working(self) -> list[AgentOrder]:
        return list(self._orders.values())

    # --- the replay -------------------------------------------------------------------------------
    def step(self) -> tuple[LobsterMessage, list[AgentFill]] | None:
        """Apply the next recorded event; None at the end of the data."""
        message = next(self._messages, None)
        row = next(self._rows, None)
        if message is None or row is None:
            return None
        self._seq += 1
        self.now_ns = message.ts_ns
        self.book = row
        fills = self._queue_effects(message)
        self._forget_consumed()
        fills += self._crossed_resting()
        return message, fills

    def events(self) -> Iterator[tuple[LobsterMessage, list[AgentFill]]]:
        while (step := self.step()) is not None:
            yield step

    def best(self, side: Side) -> int | None:
        levels = self.book.bids if side is Side.BUY else self.book.asks
        return levels[0][0] if levels else None

    # --- internals --------------------------------------------------------------------------------
    def _levels(self, side: Side) -> tuple[tuple[int, int], ...]:
        return self.book.bids if side is Side.BUY else self.book.asks

    def _displayed(self, side: Side, price: int) -> int:
        """What the agent can see at a level: recorded size minus what it already took."""
        for level_price, qty in self._levels(side):
            if level_price == price:
                return max(qty - self._consumed.get((side, price), 0), 0)
        return 0

    def _take(self, order_id: int, side: Side, qty: int, limit: int | None) -> list[AgentFill]:
        fills = []
        maker = side.opposite
        for price, _ in self._levels(maker):
            if qty == 0 or (limit is not None and (price > limit if side is Side.BUY
                                                   else price < limit)):
                break
            available = self._displayed(maker, price)
            traded = min(qty, available)
            if traded:
                key = (maker, price)
                self._consumed[key] = self._consumed.get(key, 0) + traded
                fills.append(AgentFill(order_id, price, traded, self.now_ns, passive=False))
                qty -= traded
        return fills

    def _queue_effects(self, message: LobsterMessage) -> list[AgentFill]:
        event = message.event
        if event is EventType.SUBMIT:
            self._born[message.order_id] = self._seq
            return []
        if event not in _TAKES_FROM_QUEUE and event is not EventType.EXECUTE_VISIBLE:
            return []
        fills = []
        for order in list(self._orders.values()):
            if order.side is not message.side or order.price != message.price:
                continue
            born = self._born.get(message.order_id, -1)  # -1: there before the file began
            if event in _TAKES_FROM_QUEUE:
                if born < order.arrival_seq:
                    order.ahead = max(order.ahead - message.qty, 0)
                continue
            overflow = message.qty - order.ahead
            order.ahead = max(order.ahead - message.qty, 0)
            if overflow > 0:
                fills.append(self._fill_resting(order, min(overflow, order.leaves)))
        return fills

    def _crossed_resting(self) -> list[AgentFill]:
        fills = []
        for order in list(self._orders.values()):
            opposite = self.best(order.side.opposite)
            if opposite is None or (opposite > order.price if order.side is Side.BUY
                                    else opposite < order.price):
                continue
            for fill in self._take(order.order_id, order.side, order.leaves, order.price):
                order.leaves -= fill.qty
                fills.append(fill)
            if order.leaves == 0:
                del self._orders[order.order_id]
        return fills

    def _fill_resting(self, order: AgentOrder, qty: int) -> AgentFill:
        order.leaves -= qty
        if order.leaves == 0:
            del self._orders[order.order_id]
        return AgentFill(order.order_id, order.price, qty, self.now_ns, passive=True)

    def _forget_consumed(self) -> None:
        """Consumption is remembered only while the recorded level still shows that much."""
        for key in list(self._consumed):
            side, price = key
            recorded = next((q for p, q in self._levels(side) if p == price), 0)
            if recorded <= 0:
                del self._consumed[key]
            elif self._consumed[key] > recorded:
                self._consumed[key] = recorded
