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
- **Price priority**: a resting order priced better than a visible execution (inside the
  recorded spread, or left alone at its price after the recorded queue there was taken) has
  nothing ahead of it: the execution's shares fill it first, at its own price, best price
  first, and only what is left of them reaches the recorded queue's agent orders.
- Several agent orders at one price queue in the order they arrived (a requeued one goes to the
  back), and an execution's shares go to them in that order: what one agent order took is not
  there for the next, so one recorded execution never fills more than its own size.
- If the recorded market moves through a resting order's price (its limit now crosses the
  displayed opposite touch), it fills against the displayed liquidity as a taker would.
- A replace that lowers the open quantity at the same price keeps the queue place (as at the FIX
  venue); any other replace leaves the queue and enters again as a new order would.
- One agent, no latency: an order acts at the event time it is submitted
  (:class:`sim.replay_exchange.ReplayExchange` adds latency on top).
- **The book past the file's depth** (:mod:`sim.hidden_levels`): behind the deepest level of a
  side shown at the file's full depth wait hidden levels, estimated from the file. Orders take
  them as they take recorded levels, and the agent's view shows them only where what it
  consumed left fewer levels than the file shows (so, before it trades, it sees exactly the
  recorded book).
- Starting at ``start_ns`` skips the earlier rows without replaying them: nothing the agent
  does can depend on them, and every order that was submitted before the start counts as
  queued ahead of the agent's, as at the file's beginning.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

import numpy as np

from core.domain import Side
from sim.hidden_levels import HiddenLevels, hidden_levels
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


Footprint = tuple[tuple[tuple[tuple[Side, int], int], ...], tuple[tuple[Side, int, int], ...]]


class ReplayMarket:
    """The recorded book, row by row, and the agent's orders against it.

    ``start_ns``: begin with the book as it was just before that event time (the first message
    at or after it is the first :meth:`step`); without it, the file's first row is the opening
    book and its second message the first step. Prices are in ticks of ``tick_size``.
    ``hidden``: the levels behind the file's depth, estimated from the file by default; None
    for none (the book ends where the file does).
    """

    IDLE_FOOTPRINT: Final[Footprint] = ((), ())

    def __init__(self, sample: LobsterSample, start_ns: int | None = None,
                 tick_size: Decimal = Decimal("0.01"),
                 hidden: HiddenLevels | Literal["estimated"] | None = "estimated") -> None:
        times = sample.read(tick_size).messages.ts_ns
        if len(times) == 0:
            raise ValueError(f"{sample.source}: the sample holds no events")
        # The first row is the opening book: its message counts as applied. The reader checked
        # that the times never go back, so the first message at or after start_ns is found by
        # bisection (and the skipped rows are never turned into objects).
        applied = 1 if start_ns is None else \
            max(1, int(np.searchsorted(times, start_ns, side="left")))
        self._messages = sample.messages(tick_size, start=applied)
        self._next: LobsterMessage | None = next(self._messages, None)
        self._rows = sample.book_rows(tick_size, start=applied - 1)
        # The reader checked that both files have as many lines: a row for every message.
        self.book: BookRow = next(self._rows)
        self.now_ns = int(times[applied - 1])
        self._seq = 0  # messages applied
        self._born: dict[int, int] = {}  # LOBSTER order id -> seq of its submission
        self._consumed: dict[tuple[Side, int], int] = {}  # displayed shares the agent took
        self._orders: dict[int, AgentOrder] = {}
        self._ids = itertools.count(1)
        self._depth = sample.levels
        self._hidden = hidden_levels(sample, tick_size) if isinstance(hidden, str) else hidden

    # --- the agent --------------------------------------------------------------------------------
    def submit(self, side: Side, qty: int, price: int | None = None,
               ioc: bool = False) -> tuple[int, list[AgentFill]]:
        """A limit order (``price``) or a market order (``price=None``); returns its id and the
        fills it took at once."""
        if qty <= 0 or (price is not None and price <= 0):
            raise ValueError("an agent order needs a positive quantity and price")
        order_id = next(self._ids)
        return order_id, self._enter(order_id, side, qty, price, ioc)

    def cancel(self, order_id: int) -> int:
        """Remove a resting agent order; returns what it still had open (0 if none)."""
        order = self._orders.pop(order_id, None)
        return order.leaves if order else 0

    def replace(self, order_id: int, qty: int, price: int) -> list[AgentFill]:
        """Change a resting order to ``qty`` open at ``price``; returns the fills a requeued
        order took at once. Less or the same at the same price keeps its place in the queue,
        anything else requeues it (it may then take liquidity, and rests at the back)."""
        order = self._orders.get(order_id)
        if order is None:
            raise KeyError(f"agent order {order_id} is not resting")
        if qty <= 0 or price <= 0:
            raise ValueError("an agent order needs a positive quantity and price")
        if price == order.price and qty <= order.leaves:
            order.leaves = qty
            return []
        del self._orders[order_id]
        return self._enter(order_id, order.side, qty, price, ioc=False)

    def order(self, order_id: int) -> AgentOrder | None:
        """The resting agent order with this id, None once it is filled or gone."""
        return self._orders.get(order_id)

    def working(self) -> list[AgentOrder]:
        return list(self._orders.values())

    @property
    def next_ts_ns(self) -> int | None:
        """Event time of the next recorded message, None at the end of the data."""
        return None if self._next is None else self._next.ts_ns

    def levels(self, side: Side) -> tuple[tuple[int, int], ...]:
        """The recorded displayed levels of ``side`` now, best first."""
        book = self.book
        return book.bids if side is Side.BUY else book.asks

    def book_levels(self, side: Side) -> Iterator[tuple[int, int]]:
        """The levels of ``side`` now, best first: the recorded ones, and behind a side shown
        at the file's full depth the hidden ones (as far as the caller reads)."""
        recorded = self.levels(side)
        yield from recorded
        behind = self._hidden_behind(recorded)
        if behind is not None:
            yield from behind[0].behind(side, behind[1])

    def _hidden_behind(self, recorded: tuple[tuple[int, int], ...]
                       ) -> tuple[HiddenLevels, int] | None:
        """The hidden levels and the deepest recorded price they stand behind, for a side
        whose ``recorded`` levels fill the file's depth; None for any other side."""
        hidden = self._hidden
        if hidden is None or len(recorded) < self._depth:
            return None
        return hidden, recorded[-1][0]

    def footprint(self) -> Footprint:
        """What :meth:`view` takes from the agent besides the recorded levels: the shares it
        consumed and its resting orders' sides, prices and open quantities
        (:attr:`IDLE_FOOTPRINT` while there are none: the view is the recorded levels). Equal
        footprints and levels make equal views."""
        if not (self._consumed or self._orders):
            return self.IDLE_FOOTPRINT
        return tuple(self._consumed.items()), tuple(
            (order.side, order.price, order.leaves) for order in self._orders.values())

    def view(self, side: Side) -> dict[int, int]:
        """Price -> quantity as the agent's market data shows ``side``: the levels minus what
        the agent consumed (emptied levels left out), as many as the file shows, plus its own
        resting orders (which an exchange would display too, and which the policy's queue
        features expect)."""
        consumed = self._consumed
        if not consumed:  # sizes are positive (checked when read, kept by the views)
            shown = dict(self.levels(side))
        else:
            shown = {}
            depth = self._depth
            for price, qty in self.book_levels(side):
                left = qty - consumed.get((side, price), 0)
                if left > 0:
                    shown[price] = left
                    if len(shown) == depth:
                        break
        for order in self._orders.values():
            if order.side is side:
                shown[order.price] = shown.get(order.price, 0) + order.leaves
        return shown

    # --- the replay -------------------------------------------------------------------------------
    def step(self) -> tuple[LobsterMessage, list[AgentFill]] | None:
        """Apply the next recorded event; None at the end of the data."""
        message = self._next
        if message is None:
            return None
        row = next(self._rows)
        self._next = next(self._messages, None)
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
    def _enter(self, order_id: int, side: Side, qty: int, price: int | None,
               ioc: bool) -> list[AgentFill]:
        """Take what is marketable, then rest the remainder (a limit order that is not IOC) at
        the back of its level's queue."""
        fills = self._take(order_id, side, qty, price)
        left = qty - sum(f.qty for f in fills)
        if left > 0 and price is not None and not ioc:
            ahead = self._displayed(side, price)
            self._orders[order_id] = AgentOrder(order_id, side, price, left, ahead, self._seq)
        return fills

    def _displayed(self, side: Side, price: int) -> int:
        """What the agent can see at a level: its size minus what it already took."""
        return max(self._level_qty(side, price) - self._consumed.get((side, price), 0), 0)

    def _level_qty(self, side: Side, price: int) -> int:
        """The size of ``side``'s level at ``price``: recorded, hidden or none (0)."""
        recorded = self.levels(side)
        for level_price, qty in recorded:
            if level_price == price:
                return qty
        behind = self._hidden_behind(recorded)
        return 0 if behind is None else behind[0].qty_at(side, behind[1], price)

    def _take(self, order_id: int, side: Side, qty: int, limit: int | None) -> list[AgentFill]:
        fills = []
        maker = side.opposite
        consumed = self._consumed
        for price, level_qty in self.book_levels(maker):
            if qty == 0 or (limit is not None and (price > limit if side is Side.BUY
                                                   else price < limit)):
                break
            available = max(level_qty - consumed.get((maker, price), 0), 0)
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
        unfilled = message.qty  # the execution's shares no agent order has taken yet
        if event is EventType.EXECUTE_VISIBLE and self._orders:
            for order in self._priced_better(message.side, message.price):
                if unfilled == 0:
                    break
                fill = self._fill_resting(order, min(unfilled, order.leaves))
                unfilled -= fill.qty
                fills.append(fill)
        for order in list(self._orders.values()):  # in arrival order
            if order.side is not message.side or order.price != message.price:
                continue
            born = self._born.get(message.order_id, -1)  # -1: there before the file began
            if event in _TAKES_FROM_QUEUE:
                if born < order.arrival_seq:
                    order.ahead = max(order.ahead - message.qty, 0)
                continue
            overflow = unfilled - order.ahead
            order.ahead = max(order.ahead - message.qty, 0)
            if overflow > 0:
                fill = self._fill_resting(order, min(overflow, order.leaves))
                unfilled -= fill.qty
                fills.append(fill)
        return fills

    def _priced_better(self, side: Side, price: int) -> list[AgentOrder]:
        """The agent's resting orders on ``side`` priced better than ``price``, best price
        first, then in arrival order: a taker who traded at ``price`` met them first."""
        sign = 1 if side is Side.SELL else -1  # a lower ask, a higher bid is better
        better = [o for o in self._orders.values()
                  if o.side is side and sign * o.price < sign * price]
        return sorted(better, key=lambda o: sign * o.price)

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
        """Consumption is remembered only while the level still holds that much."""
        for key in list(self._consumed):
            side, price = key
            held = self._level_qty(side, price)
            if held <= 0:
                del self._consumed[key]
            elif self._consumed[key] > held:
                self._consumed[key] = held


class ViewedReplayMarket(ReplayMarket):
    """A replay whose agent sees, matches against and queues in a view of each recorded row
    (shifted by its own impact, distorted by an injected event) rather than the row itself.

    The recorded row is kept as it is (:attr:`raw`); a subclass says what the view is
    (:meth:`view_of`) and what besides the row it depends on (:meth:`view_key`), and the view
    is made once per row and key, however often the book is read between two events.
    """

    def __init__(self, sample: LobsterSample, start_ns: int | None = None,
                 tick_size: Decimal = Decimal("0.01"),
                 hidden: HiddenLevels | Literal["estimated"] | None = "estimated") -> None:
        self._raw: BookRow | None = None
        self._view: tuple[int, int, BookRow] | None = None  # (id of the row, key, view)
        super().__init__(sample, start_ns, tick_size, hidden)

    @property
    def book(self) -> BookRow:
        raw, key = self._raw, self.view_key()
        assert raw is not None
        view = self._view
        if view is None or view[0] != id(raw) or view[1] != key:
            view = (id(raw), key, self.view_of(raw))
            self._view = view
        return view[2]

    @book.setter
    def book(self, row: BookRow) -> None:
        self._raw = row

    @property
    def raw(self) -> BookRow:
        """The recorded row, as recorded."""
        assert self._raw is not None
        return self._raw

    def view_key(self) -> int:
        """What the view depends on besides the recorded row."""
        raise NotImplementedError

    def view_of(self, raw: BookRow) -> BookRow:
        """The row the agent sees for the recorded ``raw``."""
        raise NotImplementedError
