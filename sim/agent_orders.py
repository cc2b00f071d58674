"""The agent's side of an in-process venue: its orders, the checks a venue makes before touching
its book, and the FIX-shaped answers.

Why shared: the simulated exchange (:mod:`sim.exchange`) and the LOBSTER replay exchange
(:mod:`sim.replay_exchange`) differ in their book, not in how a venue treats an order. Both
answer with the same :class:`~core.domain.ExecutionReport` and
:class:`~core.domain.CancelReject` the FIX gateway hands the engine, so the engine's OMS takes
a backtest's answers exactly as live ones; keeping those rules in one place keeps the two
exchanges from drifting apart.

Rules, as at the FIX venue: a duplicate ClOrdID, a non-positive quantity or a limit order
without a positive price is rejected; a cancel or replace of an unknown or finished order gets
a CancelReject (reason 1); a replace's quantity is the new total, filled included, and must
exceed what is filled (else reason 99).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)

ExchangeEvent = MarketData | ExecutionReport | CancelReject


@dataclass(slots=True)
class AgentOrder:
    order_id: str  # the venue's OrderID
    cl_ord_id: str  # the ClOrdID it is currently known by
    side: Side
    qty: int  # total, filled included (FIX OrderQty)
    price: int | None
    tif: TimeInForce = TimeInForce.DAY
    status: OrdStatus = OrdStatus.NEW
    cum_qty: int = 0
    book_id: int | str = 0  # its id in the exchange's book

    @property
    def leaves(self) -> int:
        return 0 if self.status.is_terminal else self.qty - self.cum_qty


class AgentOrders:
    """Every order the agent sent, by each ClOrdID it had, and the reports about them."""

    def __init__(self, symbol: str, id_prefix: str, now_ns: Callable[[], int]) -> None:
        self.symbol = symbol
        self._prefix = id_prefix
        self._now_ns = now_ns
        self._by_cl_ord_id: dict[str, AgentOrder] = {}
        self._exec_ids = itertools.count(1)
        self._order_ids = itertools.count(1)

    def open(self, intent: NewOrder) -> tuple[AgentOrder | None, ExecutionReport]:
        """The new order and its NEW report, or None and its REJECTED report."""
        order = AgentOrder(f"{self._prefix}{next(self._order_ids)}", intent.cl_ord_id,
                           intent.side, intent.qty, intent.price, intent.tif)
        problem = ""
        if intent.cl_ord_id in self._by_cl_ord_id:
            problem = f"duplicate ClOrdID {intent.cl_ord_id}"
        elif intent.qty <= 0:
            problem = "quantity must be positive"
        elif intent.ord_type is OrdType.LIMIT and (intent.price is None or intent.price <= 0):
            problem = "limit order needs a positive price"
        if problem:
            order.status = OrdStatus.REJECTED
            return None, self.report(order, ExecType.REJECTED, text=problem)
        self._by_cl_ord_id[intent.cl_ord_id] = order
        return order, self.report(order, ExecType.NEW)

    def target(self, intent: CancelOrder | ReplaceOrder) -> AgentOrder | CancelReject:
        """The working order a cancel or replace is about, or the CancelReject it gets."""
        order = self._by_cl_ord_id.get(intent.orig_cl_ord_id)
        if order is None or order.status.is_terminal:
            return CancelReject(intent.cl_ord_id, intent.orig_cl_ord_id, None, "1",
                                "unknown order")
        if isinstance(intent, ReplaceOrder) and (intent.qty <= order.cum_qty
                                                 or intent.price <= 0):
            return CancelReject(intent.cl_ord_id, order.cl_ord_id, order.status, "99",
                                "new quantity must exceed the filled quantity")
        return order

    def cancelled(self, order: AgentOrder, intent: CancelOrder) -> ExecutionReport:
        order.status = OrdStatus.CANCELED
        return self.report(order, ExecType.CANCELED, orig=self._rename(order, intent.cl_ord_id))

    def replaced(self, order: AgentOrder, intent: ReplaceOrder) -> ExecutionReport:
        orig = self._rename(order, intent.cl_ord_id)
        order.qty, order.price = intent.qty, intent.price
        return self.report(order, ExecType.REPLACED, orig=orig)

    def filled(self, order: AgentOrder, qty: int, price: int) -> ExecutionReport:
        order.cum_qty += qty
        order.status = (OrdStatus.FILLED if order.cum_qty >= order.qty
                        else OrdStatus.PARTIALLY_FILLED)
        return self.report(order, ExecType.TRADE, qty, price)

    def expired_remainder(self, order: AgentOrder) -> ExecutionReport:
        """An IOC or market order's unfilled remainder, which the book did not keep."""
        order.status = OrdStatus.CANCELED
        return self.report(order, ExecType.CANCELED)

    def report(self, order: AgentOrder, exec_type: ExecType, last_qty: int = 0,
               last_px: int | None = None, orig: str | None = None,
               text: str = "") -> ExecutionReport:
        return ExecutionReport(
            order.cl_ord_id, f"X{next(self._exec_ids)}", exec_type, order.status, self.symbol,
            order.side, order.cum_qty, order.leaves, last_qty, last_px, order.order_id, orig,
            text, self._now_ns())

    def _rename(self, order: AgentOrder, cl_ord_id: str) -> str:
        orig, order.cl_ord_id = order.cl_ord_id, cl_ord_id
        self._by_cl_ord_id[cl_ord_id] = order
        return orig


class PendingIntents:
    """Order messages on their way to the book: each is due ``latency_ns`` after it was sent,
    in the order sent when two fall due together."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, OrderIntent]] = []
        self._seq = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, due_ns: int, intent: OrderIntent) -> None:
        heapq.heappush(self._heap, (due_ns, next(self._seq), intent))

    def next_due_ns(self) -> int:
        return self._heap[0][0]

    def pop(self) -> tuple[int, OrderIntent]:
        due, _, intent = heapq.heappop(self._heap)
        return due, intent
