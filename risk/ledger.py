"""The overlay's own book of record: open orders, positions and P&L, from execution reports.

Independent of the OMS on purpose: a bug in the strategy's bookkeeping must not loosen a limit.
An order counts from the moment the overlay allows it (in flight), not from its acknowledgement,
and a replace in flight counts as the larger of the old and the new open quantity until the
venue answers. Aggregates (open quantity per side, open-order counts) are kept incrementally so
that a check costs the same with one order open or a thousand.

Memory is bounded by what is open, not by the day: an open order keeps its latest ClOrdIDs
(core.domain.KEPT_PREVIOUS_CL_ORD_IDS), the duplicate-ClOrdID check remembers the last
RECENT_CL_ORD_IDS ClOrdIDs and the duplicate-report check the ExecIDs of the last
RECENT_EXEC_IDS reports that were not trades (a trade's ExecID is kept all day: counting a
trade twice moves the position). Named assumption: a duplicate arrives within that many
messages of the original; the engine's own ClOrdIDs are unique by construction
(service/engine.py), so the check stands guard against a bug close behind, not against one
from hours ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.domain import (
    KEPT_PREVIOUS_CL_ORD_IDS,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    OrdStatus,
    Side,
    busted_id,
    busted_trade,
)
from core.windows import RecentIds

RECENT_CL_ORD_IDS: Final = 8_192
RECENT_EXEC_IDS: Final = 8_192
# An open order's ClOrdIDs: the kept earlier ones, the current one and a replace in flight.
_KEPT_IDS: Final = KEPT_PREVIOUS_CL_ORD_IDS + 2


class TrackedOrder:
    """One order the overlay allowed, under every ClOrdID it is known by.

    A plain class, not a dataclass: every allowed order builds one inside the check's budget,
    and in the compiled module (native-modules.txt) a dataclass's generated ``__init__`` runs
    interpreted, about half of an allowed check's instructions; this one compiles.
    """

    __slots__ = (
        "cum",
        "ids",
        "leaves",
        "pending_id",
        "pending_leaves",
        "pending_price",
        "pending_qty",
        "price",
        "qty",
        "side",
        "symbol",
        "unknown",
    )

    def __init__(self, symbol: str, side: Side, qty: int, price: int | None, leaves: int,
                 cum: int, ids: list[str], unknown: bool = False) -> None:
        self.symbol = symbol
        self.side = side
        self.qty = qty  # FIX OrderQty: the order's total, filled included
        self.price = price
        self.leaves = leaves
        self.cum = cum
        self.ids = ids  # the ClOrdIDs it is known by, oldest first (at most _KEPT_IDS)
        self.pending_id: str | None = None  # a replace in flight
        self.pending_qty = 0
        self.pending_price: int | None = None
        self.pending_leaves = 0
        self.unknown = unknown  # the session was lost: unknown until the venue reports

    @property
    def current_id(self) -> str:
        """The last ClOrdID the venue accepted (not a replace still in flight)."""
        return next(i for i in reversed(self.ids) if i != self.pending_id)

    @property
    def counted(self) -> int:
        """Open quantity as the limits see it: the worst of before and after a replace."""
        return max(self.leaves, self.pending_leaves) if self.pending_id else self.leaves


@dataclass(slots=True)
class Exposure:
    """One symbol's position, open quantity (lots) and cash flow (quote currency)."""

    tick_value: float  # one lot moving one tick, quote currency (Instrument.lot_tick_value)
    position: int = 0
    working_buy: int = 0
    working_sell: int = 0
    open_orders: int = 0
    cash: float = 0.0
    mark: float | None = None  # ticks, possibly fractional (a mid)

    def working(self, side: Side) -> int:
        return self.working_buy if side is Side.BUY else self.working_sell

    def pnl(self) -> float:
        """Realised plus unrealised: cash flow plus the position at the mark."""
        if self.position == 0 or self.mark is None:
            return self.cash
        return self.cash + self.position * self.mark * self.tick_value


@dataclass(slots=True, frozen=True)
class ReportEffect:
    filled: int = 0
    rejected: bool = False


_NOTHING: Final = ReportEffect()
_AMENDMENTS: Final = frozenset({ExecType.TRADE_CANCEL, ExecType.TRADE_CORRECT})
_BUY: Final = Side.BUY  # bound once: enum member lookups are slow on the check's hot path


class Ledger:
    def __init__(self, tick_values: dict[str, float]) -> None:
        self.exposure = {symbol: Exposure(value) for symbol, value in tick_values.items()}
        self.orders: dict[str, TrackedOrder] = {}  # by every ClOrdID an open order is known by
        self.open_orders = 0
        self.seen_cl_ord_ids = RecentIds(RECENT_CL_ORD_IDS)
        self._trade_exec_ids: set[str] = set()
        self._recent_exec_ids = RecentIds(RECENT_EXEC_IDS)
        # ExecID -> (symbol, side, qty, price) of every trade counted: what a bust undoes.
        self._trades: dict[str, tuple[str, Side, int, int]] = {}

    # --- reads ------------------------------------------------------------------------------
    def pnl(self) -> float:
        return sum(e.pnl() for e in self.exposure.values())

    def open_order_list(self) -> list[TrackedOrder]:
        return list({id(o): o for o in self.orders.values()}.values())

    # --- what the overlay allowed -------------------------------------------------------------
    def add_new(self, cl_ord_id: str, symbol: str, side: Side, qty: int,
                price: int | None) -> None:
        # Every allowed order runs this inside the check's budget: the check passes the
        # intent's fields it has already read and type-checked.
        self.orders[cl_ord_id] = TrackedOrder(symbol, side, qty, price, qty, 0, [cl_ord_id])
        self.seen_cl_ord_ids.add(cl_ord_id)
        exposure = self.exposure[symbol]
        exposure.open_orders += 1
        self.open_orders += 1
        # _shift(order, 0) inlined, for the same reason.
        if side is _BUY:
            exposure.working_buy += qty
        else:
            exposure.working_sell += qty

    def add_replace(self, cl_ord_id: str, qty: int, price: int, order: TrackedOrder) -> None:
        """A replace of ``order`` to ``qty`` (the new total) at ``price``, in flight."""
        before = order.counted
        order.pending_id = cl_ord_id
        order.pending_qty = qty
        order.pending_price = price
        order.pending_leaves = max(qty - order.cum, 0)
        ids = order.ids
        ids.append(cl_ord_id)
        if len(ids) > _KEPT_IDS:
            forgotten = ids.pop(0)
            if self.orders.get(forgotten) is order:
                del self.orders[forgotten]
        self.orders[cl_ord_id] = order
        self.seen_cl_ord_ids.add(cl_ord_id)
        self._shift(order, before)

    def note_cancel(self, cl_ord_id: str) -> None:
        self.seen_cl_ord_ids.add(cl_ord_id)

    # --- what the venue said -----------------------------------------------------------------
    def on_execution_report(self, report: ExecutionReport) -> ReportEffect:
        exec_id = report.exec_id
        if exec_id in self._trade_exec_ids or exec_id in self._recent_exec_ids:
            return _NOTHING  # a resend (PossDup) or a replay after reconnect
        exposure = self.exposure.get(report.symbol)
        filled = 0
        if report.exec_type in _AMENDMENTS:
            self._trade_exec_ids.add(exec_id)
            filled = self._amend(report)
        elif report.exec_type.is_fill and report.last_qty > 0 and exposure is not None:
            self._trade_exec_ids.add(exec_id)
            filled = report.last_qty
            self._book(exec_id, report.symbol, report.side, filled, report.last_px)
        else:
            self._recent_exec_ids.add(exec_id)
        order = self.orders.get(report.cl_ord_id) or \
            self.orders.get(report.orig_cl_ord_id or "")
        if order is None:
            return ReportEffect(filled, report.exec_type is ExecType.REJECTED)
        before = order.counted
        order.unknown = False
        order.cum += filled
        rejected = report.exec_type is ExecType.REJECTED
        if order.pending_id is not None:
            if report.exec_type is ExecType.REPLACED or (
                    report.exec_type is ExecType.ORDER_STATUS
                    and report.cl_ord_id == order.pending_id):
                order.qty, order.price = order.pending_qty, order.pending_price
                order.pending_id = None
            elif report.exec_type is ExecType.ORDER_STATUS:
                self._drop_pending(order)  # the venue never took the replace (reconciliation)
        order.leaves = 0 if rejected else report.leaves_qty
        done = rejected or (report.ord_status.is_terminal and
                            report.ord_status is not OrdStatus.REPLACED)
        if done or (order.leaves == 0 and order.pending_id is None):
            self._close(order, before)
        else:
            self._shift(order, before)
        return ReportEffect(filled, rejected)

    def on_cancel_reject(self, reject: CancelReject) -> None:
        """A rejected replace leaves the order as it was; a rejected cancel changes nothing."""
        order = self.orders.get(reject.cl_ord_id)
        if order is None or order.pending_id != reject.cl_ord_id:
            return
        before = order.counted
        self._drop_pending(order)
        self._shift(order, before)

    def _drop_pending(self, order: TrackedOrder) -> None:
        assert order.pending_id is not None
        self.orders.pop(order.pending_id, None)
        order.ids.remove(order.pending_id)
        order.pending_id = None

    def _book(self, exec_id: str, symbol: str, side: Side, qty: int, price: int | None) -> None:
        """A trade (negative ``qty``: one undone) into the position and the cash flow."""
        exposure = self.exposure[symbol]
        exposure.position += int(side) * qty
        if price is not None:
            exposure.cash -= int(side) * qty * price * exposure.tick_value
            if exposure.mark is None:
                exposure.mark = float(price)
            if qty > 0:
                self._trades[exec_id] = (symbol, side, qty, price)

    def _amend(self, report: ExecutionReport) -> int:
        """A bust takes the trade it names (ExecRefID) back out of the position and cash; a
        correction then books its LastQty at LastPx. Returns the net quantity moved. A trade
        the ledger never counted changes nothing (the OMS counts and logs it)."""
        amended = self._trades.pop(report.exec_ref_id or "", None)
        if amended is None:
            return 0
        symbol, side, qty, price = amended
        self._book(busted_id(report.exec_ref_id or ""), symbol, side, -qty, price)
        moved = -qty
        if report.exec_type is ExecType.TRADE_CORRECT and report.last_qty > 0 and \
                report.last_px is not None:
            self._book(report.exec_id, symbol, side, report.last_qty, report.last_px)
            moved += report.last_qty
        return moved

    # --- recovery after a restart ---------------------------------------------------------------
    def restore_fill(self, exec_id: str, symbol: str, side: Side, qty: int, price: int) -> None:
        """A fill recovered from the store (negative: a busted trade's reversal): into the
        position and the cash flow, once."""
        if exec_id in self._trade_exec_ids:
            return
        self._trade_exec_ids.add(exec_id)
        self._book(exec_id, symbol, side, qty, price)
        undone = busted_trade(exec_id)
        if undone is not None:  # a reversal: the trade it undoes cannot be amended again
            self._trades.pop(undone, None)

    def restore_order(self, order: ChildOrder) -> None:
        """An order the store holds as working. It counts against every limit, as unknown,
        until the venue's answer to an order-status request says what became of it."""
        ids = [*order.previous_cl_ord_ids, order.cl_ord_id]
        tracked = TrackedOrder(order.symbol, order.side, order.qty, order.price,
                               max(order.qty - order.cum_qty, 0), order.cum_qty, ids,
                               unknown=True)
        for cl_ord_id in ids:
            self.seen_cl_ord_ids.add(cl_ord_id)
        if order.pending_cl_ord_id is not None:
            self.seen_cl_ord_ids.add(order.pending_cl_ord_id)
            if order.pending_qty is not None:  # a replace in flight
                tracked.pending_id = order.pending_cl_ord_id
                tracked.pending_qty = order.pending_qty
                tracked.pending_price = order.pending_price
                tracked.pending_leaves = max(order.pending_qty - order.cum_qty, 0)
                tracked.ids.append(order.pending_cl_ord_id)
        for cl_ord_id in tracked.ids:
            self.orders[cl_ord_id] = tracked
        self.exposure[order.symbol].open_orders += 1
        self.open_orders += 1
        self._shift(tracked, 0)

    def mark_unknown(self, cl_ord_id: str) -> None:
        order = self.orders.get(cl_ord_id)
        if order is not None:
            order.unknown = True

    def split_replace(self, cl_ord_id: str) -> None:
        """The replace ``cl_ord_id`` in flight on an order became an order of its own at the
        venue (it took the replace as a new order): the original counts as before the
        replace, and the new one counts its whole quantity."""
        order = self.orders.get(cl_ord_id)
        if order is None or order.pending_id != cl_ord_id:
            return
        before = order.counted
        qty, price = order.pending_qty, order.pending_price
        self._drop_pending(order)
        self._shift(order, before)
        self.add_new(cl_ord_id, order.symbol, order.side, qty, price)

    def mark_all_unknown(self) -> int:
        orders = self.open_order_list()
        for order in orders:
            order.unknown = True
        return len(orders)

    # --- plumbing -------------------------------------------------------------------------------
    def _shift(self, order: TrackedOrder, before: int) -> None:
        delta = order.counted - before
        exposure = self.exposure[order.symbol]
        if order.side is Side.BUY:
            exposure.working_buy += delta
        else:
            exposure.working_sell += delta

    def _close(self, order: TrackedOrder, before: int) -> None:
        order.leaves = 0
        order.pending_id = None
        self._shift(order, before)
        for cl_ord_id in order.ids:
            self.orders.pop(cl_ord_id, None)
        self.exposure[order.symbol].open_orders -= 1
        self.open_orders -= 1
