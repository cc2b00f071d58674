"""An in-process simulated exchange in event time: the venue backtests and training trade with.

Why besides the FIX venue (:mod:`gateways.venue`): that one runs in accelerated *wall-clock*
time behind a real FIX session, so where the service's orders land in the crowd's flow varies
from run to run. Evaluating policies needs paired, reproducible episodes, thousands of them, as
fast as the CPU allows. This exchange runs the same matching book and the same order flow in
*event time*: given a seed and the same orders, every run is identical.

It speaks the shared domain types: it takes :class:`~core.domain.NewOrder`,
:class:`~core.domain.CancelOrder` and :class:`~core.domain.ReplaceOrder` intents (it is an
``OrderSender`` for the engine) and answers with :class:`~core.domain.ExecutionReport` and
:class:`~core.domain.CancelReject`, exactly as the FIX gateway hands them to the engine, and
it publishes every book change and print as :class:`~core.domain.MarketData`.

Assumptions, named:
- One agent (every order sent here belongs to it); crowd orders come from the ``OrderFlow``.
- An order reaches the book ``latency_ns`` of event time after it was sent, and reports come
  back at once; an order due at the same time as a flow event goes first.
- A replace follows the FIX venue's rules: the new quantity is the total (filled included), a
  decrease at the same price keeps queue priority, anything else requeues.
- The public tape shows every trade, the agent's included, with the taker as aggressor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.domain import (
    BookUpdate,
    CancelOrder,
    CancelReject,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
    Trade,
)
from sim.agent_orders import AgentOrder, AgentOrders, ExchangeEvent, PendingIntents
from sim.flow import OrderFlow
from sim.matching import Fill, OrderBook

AGENT = "agent"
SNAPSHOT_LEVELS = 50



@dataclass(frozen=True, slots=True)
class AgentFill:
    """One of the agent's fills, as the exchange saw it (for transaction-cost analysis)."""

    ts_ns: int
    price: int
    qty: int
    passive: bool


class Exchange(Protocol):
    """What backtests and the training environment drive: a market in event time that the
    agent's orders interact with. :class:`SimExchange` (stochastic crowd flow) and the LOBSTER
    replay exchange both provide it."""

    symbol: str
    now_ns: int
    fills: list[AgentFill]

    def snapshot(self) -> MarketData:
        """The visible book now, as one snapshot message."""
        ...

    def next_event_ns(self) -> int | None:
        """Event time of the next event, or None when the market has no more (a replay's end)."""
        ...

    def step(self) -> list[ExchangeEvent]:
        """Apply the next event; the agent's reports first, then the market-data message."""
        ...

    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        """Queue an agent order message (the engine's ``OrderSender``)."""
        ...


@dataclass(slots=True)
class SimExchange:
    """One symbol's book, its crowd flow, and the agent's orders, stepped one event at a time."""

    symbol: str
    flow: OrderFlow
    start_ns: int
    latency_ns: int = 0
    book: OrderBook = field(init=False)
    now_ns: int = field(init=False)
    fills: list[AgentFill] = field(default_factory=list, init=False)
    _pending: PendingIntents = field(default_factory=PendingIntents, init=False)
    _orders: AgentOrders = field(init=False)
    _in_book: dict[str, AgentOrder] = field(default_factory=dict, init=False)  # by book id

    def __post_init__(self) -> None:
        self._orders = AgentOrders(self.symbol, "S", lambda: self.now_ns)
        self.book = OrderBook(self.symbol)
        self.now_ns = self.start_ns
        self.flow.seed_book(self.book, self.start_ns)
        self.book.take_level_changes()

    # --- the market ---------------------------------------------------------------------------
    def snapshot(self) -> MarketData:
        """The whole visible book (top :data:`SNAPSHOT_LEVELS` per side) as one message."""
        updates = tuple(
            BookUpdate(self.symbol, side, price, qty, self.now_ns)
            for side in (Side.BUY, Side.SELL)
            for price, qty in self.book.depth(side, SNAPSHOT_LEVELS)
        )
        return MarketData(self.symbol, self.now_ns, updates, (), snapshot=True)

    def next_event_ns(self) -> int:
        flow_ns = self.flow.next_time_ns()
        return min(flow_ns, self._pending.next_due_ns()) if self._pending else flow_ns

    def step(self) -> list[ExchangeEvent]:
        """Apply the next event (an agent order falling due, else the crowd's next one) and
        return what it caused: execution reports first, then the market-data message."""
        if self._pending and self._pending.next_due_ns() <= self.flow.next_time_ns():
            due, intent = self._pending.pop()
            self.now_ns = max(self.now_ns, due)
            events = self._handle(intent)
        else:
            self.now_ns = max(self.now_ns, self.flow.next_time_ns())
            fills = self.flow.apply_next(self.book)
            events = self._own_fills(fills)
            market = self._market_data(fills)
            if market is not None:
                events.append(market)
        return events

    def _market_data(self, fills: list[Fill]) -> MarketData | None:
        changes = self.book.take_level_changes()
        if not changes and not fills:
            return None
        now = self.now_ns
        updates = tuple(BookUpdate(self.symbol, side, price, qty, now)
                        for side, price, qty in changes)
        trades = tuple(Trade(self.symbol, f.price, f.qty, f.maker_side.opposite, now)
                       for f in fills)
        return MarketData(self.symbol, now, updates, trades)

    # --- the agent (OrderSender) ----------------------------------------------------------------
    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        """Queue an order message; it reaches the book ``latency_ns`` after ``now_ns``."""
        self._pending.push(max(now_ns, self.now_ns) + self.latency_ns, intent)
        return True

    def working_qty(self) -> int:
        """The agent's open quantity in the book."""
        return sum(order.leaves for order in self._in_book.values())

    def _handle(self, intent: OrderIntent) -> list[ExchangeEvent]:
        fills: list[Fill] = []
        if isinstance(intent, NewOrder):
            events = self._new(intent, fills)
        elif isinstance(intent, CancelOrder):
            events = self._cancel(intent)
        else:
            events = self._replace(intent, fills)
        market = self._market_data(fills)
        if market is not None:
            events.append(market)
        return events

    def _new(self, intent: NewOrder, fills: list[Fill]) -> list[ExchangeEvent]:
        order, report = self._orders.open(intent)
        events: list[ExchangeEvent] = [report]
        if order is None:
            return events
        order.book_id = order.order_id
        self._in_book[order.order_id] = order
        if intent.ord_type is OrdType.MARKET or intent.price is None:
            fills += self.book.add_market(order.order_id, intent.side, intent.qty, self.now_ns,
                                          owner=AGENT)
        else:
            fills += self.book.add_limit(order.order_id, intent.side, intent.price, intent.qty,
                                         self.now_ns, owner=AGENT,
                                         ioc=intent.tif is TimeInForce.IOC)
        events.extend(self._own_fills(fills))
        if not order.status.is_terminal and self.book.get(order.order_id) is None:
            del self._in_book[order.order_id]
            events.append(self._orders.expired_remainder(order))
        return events

    def _cancel(self, intent: CancelOrder) -> list[ExchangeEvent]:
        order = self._orders.target(intent)
        if isinstance(order, CancelReject):
            return [order]
        self.book.cancel(order.order_id)
        del self._in_book[order.order_id]
        return [self._orders.cancelled(order, intent)]

    def _replace(self, intent: ReplaceOrder, fills: list[Fill]) -> list[ExchangeEvent]:
        order = self._orders.target(intent)
        if isinstance(order, CancelReject):
            return [order]
        events: list[ExchangeEvent] = [self._orders.replaced(order, intent)]
        fills += self.book.replace(order.order_id, intent.qty - order.cum_qty, intent.price,
                                   self.now_ns)
        events.extend(self._own_fills(fills))
        return events

    def _own_fills(self, fills: list[Fill]) -> list[ExchangeEvent]:
        reports: list[ExchangeEvent] = []
        for fill in fills:
            passive = fill.maker_owner == AGENT
            if not passive and fill.taker_owner != AGENT:
                continue
            order_id = str(fill.maker_id if passive else fill.taker_id)
            order = self._in_book[order_id]
            reports.append(self._orders.filled(order, fill.qty, fill.price))
            if order.status is OrdStatus.FILLED:
                del self._in_book[order_id]
            self.fills.append(AgentFill(self.now_ns, fill.price, fill.qty, passive))
        return reports
