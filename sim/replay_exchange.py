"""The real recorded market as an :class:`~sim.exchange.Exchange`: LOBSTER data the agent trades in.

Why: :class:`~sim.exchange.SimExchange` runs a stochastic crowd, which is only as good as its
calibration (docs/simulator.md says how far that is from GOOG's real book). Replaying the recorded
book gives the same engine, OMS and risk overlay the real market's prices, spreads and queues, in
event time and as fast as the data can be read, behind the same protocol, so a backtest or the
training environment can switch between the two without knowing which one it drives.

The agent's orders meet the recorded book through :class:`sim.replay.ReplayMarket`, and keep its
assumptions (see that module): pure replay, no permanent impact (with ``impact``, the transient
impact of :mod:`sim.impact_replay` shifts the whole book); what the agent takes is
consumed and not offered again; resting orders join the back of the queue and fill once the
recorded executions have used up the volume ahead.

What this adds, named:
- **Intents and reports as at the FIX venue and in SimExchange.** New (limit, IOC, market),
  cancel and replace (``qty`` is the new total, filled included); a replace that lowers the open
  quantity at the same price keeps the queue place, anything else requeues. Reports are built
  field for field as :class:`~sim.exchange.SimExchange` builds them, so the engine's OMS takes
  them the same way; a cancel or replace of an unknown or finished order gets a CancelReject.
- **Latency.** An intent reaches the book ``latency_ns`` of event time after it was sent, and
  its reports come back at once; an intent due at the same time as a recorded message goes
  first.
- **Market data is the agent's view of the recorded book**: each order-book row, minus what the
  agent has consumed (a level it emptied is removed), plus the agent's own resting orders at
  their prices (an exchange displays them, and the policy's queue features read the level size
  as "ahead of me plus mine"). With no agent activity this is exactly the LOBSTER row. It is
  sent as a level diff against the previous message (one BookUpdate per changed level, quantity
  0 removes), only when something visible changed; :meth:`ReplayExchange.snapshot` gives the
  whole view.
- **The tape** prints every recorded execution: visible ones (type 4) and hidden ones (type 5,
  which never touch the book) with the aggressor opposite to the side of the order that was hit,
  and auction crosses (type 6) with no aggressor. A hidden execution between ticks (midpoint
  orders) prints at the tick below, as the loader gives it. The agent's own taking fills print
  too, with the agent as aggressor (SimExchange's tape shows the agent's trades as well); its
  passive fills are carved out of a recorded execution that already printed, so they add none.
- **The window** is ``[start_ns, end_ns)`` in event time (ns since the epoch, as
  :mod:`sim.lobster` computes it). The book starts as it stood just before ``start_ns``, reached
  without emitting anything; :meth:`ReplayExchange.next_event_ns` is None at ``end_ns`` or at
  the end of the file. Intents due before ``end_ns`` are still handled after the last recorded
  message; with no ``end_ns``, the market closes with its last message, and :meth:`send` returns
  False for an intent that can no longer reach it.
- Halts (type 7) change nothing here: the sample files hold none, and the recorded book shows
  what a halt did to the crowd anyway.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

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
from sim.exchange import AgentFill
from sim.impact_replay import ImpactReplayMarket
from sim.lobster import EventType, LobsterMessage, LobsterSample
from sim.lobster_prices import EMPTY
from sim.propagator import ImpactParams
from sim.replay import AgentFill as ReplayFill
from sim.replay import ReplayMarket

_PRINTS = frozenset({EventType.EXECUTE_VISIBLE, EventType.EXECUTE_HIDDEN, EventType.CROSS_TRADE})
_SIDES = (Side.BUY, Side.SELL)
_IDLE = ReplayMarket.IDLE_FOOTPRINT


class ReplayExchange:
    """One LOBSTER sample replayed as a market the agent's orders interact with (an
    :class:`~sim.exchange.Exchange`)."""

    def __init__(self, sample: LobsterSample, symbol: str, latency_ns: int = 0,
                 start_ns: int | None = None, end_ns: int | None = None,
                 market: ReplayMarket | None = None, impact: ImpactParams | None = None,
                 tick_size: Decimal = Decimal("0.01")) -> None:
        """``market``: the replay to trade in, when not the sample's own from ``start_ns``
        (an injected event, :mod:`sim.injection`); ``impact``: the agent's transient impact
        (:mod:`sim.impact_replay`), none by default: the day as recorded; ``tick_size``: the
        sample's prices' tick."""
        if latency_ns < 0:
            raise ValueError(f"latency_ns must not be negative, got {latency_ns}")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            raise ValueError(f"the window is empty: end_ns {end_ns} <= start_ns {start_ns}")
        self.symbol = symbol
        self.latency_ns = latency_ns
        self.end_ns = end_ns
        self._sample = sample
        self._tick_size = tick_size
        if market is None:
            market = ReplayMarket(sample, start_ns, tick_size) if impact is None or impact.is_none \
                else ImpactReplayMarket(sample, impact, start_ns, tick_size)
        self.market = market
        self.now_ns = self.market.now_ns if start_ns is None else \
            max(start_ns, self.market.now_ns)
        self.fills: list[AgentFill] = []
        self._pending = PendingIntents()
        self._orders = AgentOrders(symbol, "R", lambda: self.now_ns)
        self._by_replay_id: dict[int, AgentOrder] = {}  # the ones still in the book
        self._shown: dict[Side, dict[int, int]] = {side: self.market.view(side) for side in _SIDES}
        book = self.market.book
        self._shown_rows = {Side.BUY: book.bids, Side.SELL: book.asks}
        self._shown_footprint = self.market.footprint()
        self._prints: list[Trade] = []  # the agent's taking fills, for the next market data

    # --- the market ---------------------------------------------------------------------------
    def snapshot(self) -> MarketData:
        """The whole current view of the book (see the module docstring) as one message."""
        updates = tuple(
            BookUpdate(self.symbol, side, price, qty, self.now_ns)
            for side in _SIDES
            for price, qty in sorted(self._shown[side].items(), reverse=side is Side.BUY))
        return MarketData(self.symbol, self.now_ns, updates, (), snapshot=True)

    def recorded_mid_x2(self, ts_ns: int) -> int | None:
        """The recorded day's mid at ``ts_ns``, in doubled ticks: the book after the last
        recorded message at or before it, whatever the agent did (no impact, no own orders);
        None before the first message or while a side of the recorded book is empty."""
        data = self._sample.read(self._tick_size)
        row = int(np.searchsorted(data.messages.ts_ns, ts_ns, side="right")) - 1
        if row < 0:
            return None
        ask, bid = int(data.book.ask_price[row, 0]), int(data.book.bid_price[row, 0])
        if ask == EMPTY or bid == -EMPTY:
            return None
        return ask + bid

    def next_event_ns(self) -> int | None:
        """Event time of the next recorded message or due intent; None when the window ends."""
        message_ns = self._next_message_ns()
        if self._pending:
            due = self._pending.next_due_ns()
            if message_ns is not None:
                return min(due, message_ns)
            if self.end_ns is not None and due < self.end_ns:
                return due
        return message_ns

    def step(self) -> list[ExchangeEvent]:
        """Apply the next event (an intent falling due, else the next recorded message) and
        return what it caused: execution reports first, then the market-data message. Nothing
        once the window has ended."""
        next_ns = self.next_event_ns()
        if next_ns is None:
            return []
        self.now_ns = max(self.now_ns, next_ns)
        if self._pending and self._pending.next_due_ns() == next_ns:
            _, intent = self._pending.pop()
            events = self._handle(intent)
            market = self._market_data(())
        else:
            stepped = self.market.step()
            assert stepped is not None  # next_event_ns saw a message (a missing row raises)
            message, replay_fills = stepped
            events = self._own_fills(replay_fills)
            market = self._market_data(self._recorded_prints(message))
        if market is not None:
            events.append(market)
        return events

    def _next_message_ns(self) -> int | None:
        message_ns = self.market.next_ts_ns
        if message_ns is None or (self.end_ns is not None and message_ns >= self.end_ns):
            return None
        return message_ns

    def _recorded_prints(self, message: LobsterMessage) -> tuple[Trade, ...]:
        if message.event not in _PRINTS:
            return ()
        aggressor = None if message.event is EventType.CROSS_TRADE else message.side.opposite
        return (Trade(self.symbol, message.price, message.qty, aggressor, self.now_ns),)

    def _market_data(self, recorded: tuple[Trade, ...]) -> MarketData | None:
        trades = recorded + tuple(self._prints) if self._prints else recorded
        self._prints.clear()
        updates = self._book_updates()
        if not updates and not trades:
            return None
        return MarketData(self.symbol, self.now_ns, tuple(updates), trades)

    def _book_updates(self) -> list[BookUpdate]:
        """The levels whose shown quantity changed since the last message. A side's view is
        rebuilt only when its recorded row or the agent's footprint changed (most messages
        touch one side, and the agent acts on few of them)."""
        market = self.market
        footprint = market.footprint()
        same_footprint = footprint == self._shown_footprint
        self._shown_footprint = footprint
        book = market.book
        updates: list[BookUpdate] = []
        for side, row in ((Side.BUY, book.bids), (Side.SELL, book.asks)):
            if same_footprint and row == self._shown_rows[side]:
                continue
            self._shown_rows[side] = row
            new = market.view(side) if footprint != _IDLE else dict(row)
            old = self._shown[side]
            if new == old:
                continue
            for price, qty in new.items() - old.items():  # set views: the diff runs in C
                updates.append(BookUpdate(self.symbol, side, price, qty, self.now_ns))
            for price in old.keys() - new.keys():
                updates.append(BookUpdate(self.symbol, side, price, 0, self.now_ns))
            self._shown[side] = new
        return updates

    # --- the agent (OrderSender) --------------------------------------------------------------
    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        """Queue an order message; it reaches the book ``latency_ns`` after ``now_ns``. False
        when the market will have closed by then (the intent is dropped)."""
        due = max(now_ns, self.now_ns) + self.latency_ns
        if self.end_ns is not None:
            if due >= self.end_ns:
                return False
        elif self._next_message_ns() is None:
            return False
        self._pending.push(due, intent)
        return True

    def working_qty(self) -> int:
        """The agent's open quantity in the book."""
        return sum(order.leaves for order in self._by_replay_id.values())

    def _handle(self, intent: OrderIntent) -> list[ExchangeEvent]:
        if isinstance(intent, NewOrder):
            return self._new(intent)
        if isinstance(intent, CancelOrder):
            return self._cancel(intent)
        return self._replace(intent)

    def _new(self, intent: NewOrder) -> list[ExchangeEvent]:
        order, report = self._orders.open(intent)
        events: list[ExchangeEvent] = [report]
        if order is None:
            return events
        market_order = intent.ord_type is OrdType.MARKET or intent.price is None
        limit = None if market_order else intent.price
        replay_id, replay_fills = self.market.submit(
            intent.side, intent.qty, limit, ioc=intent.tif is TimeInForce.IOC)
        order.book_id = replay_id
        self._by_replay_id[replay_id] = order
        events.extend(self._own_fills(replay_fills))
        if not order.status.is_terminal and self.market.order(replay_id) is None:
            del self._by_replay_id[replay_id]
            events.append(self._orders.expired_remainder(order))
        return events

    def _cancel(self, intent: CancelOrder) -> list[ExchangeEvent]:
        order = self._orders.target(intent)
        if isinstance(order, CancelReject):
            return [order]
        replay_id = int(order.book_id)
        self.market.cancel(replay_id)
        del self._by_replay_id[replay_id]
        return [self._orders.cancelled(order, intent)]

    def _replace(self, intent: ReplaceOrder) -> list[ExchangeEvent]:
        order = self._orders.target(intent)
        if isinstance(order, CancelReject):
            return [order]
        events: list[ExchangeEvent] = [self._orders.replaced(order, intent)]
        replay_fills = self.market.replace(int(order.book_id), intent.qty - order.cum_qty,
                                           intent.price)
        events.extend(self._own_fills(replay_fills))
        return events

    def _own_fills(self, replay_fills: list[ReplayFill]) -> list[ExchangeEvent]:
        reports: list[ExchangeEvent] = []
        for fill in replay_fills:
            order = self._by_replay_id[fill.order_id]
            reports.append(self._orders.filled(order, fill.qty, fill.price))
            if order.status is OrdStatus.FILLED:
                del self._by_replay_id[fill.order_id]
            self.fills.append(AgentFill(self.now_ns, fill.price, fill.qty, fill.passive))
            if not fill.passive:
                self._prints.append(Trade(self.symbol, fill.price, fill.qty, order.side,
                                          self.now_ns))
        return reports
