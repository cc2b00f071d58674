"""Crash recovery: what the store says, made consistent, and what the venue must confirm.

Why fills are the source of truth: the engine writes a child order, then its fill, then the
parent, one call after another, and ``kill -9`` can land between any two. A fill is recorded
once per ExecID and never changes, so after a crash every order's filled quantity and notional
are recomputed from the fills, never read from a record that may be one write behind.

What the store cannot know is what happened at the venue while the process was dead or before
its last write: orders that filled, orders a cancel reached, an order written ahead of a send
that never went. So every order the store holds as working is asked about with an
OrderStatusRequest once the FIX session is up (:class:`Reconciliation`), and the answers are
applied as execution reports. Until every answer is in, no parent order trades.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.domain import (
    ChildOrder,
    ExecType,
    ExecutionReport,
    OrdStatus,
    ParentOrder,
    Side,
)
from risk.state import TradingState
from service.state.store import StateStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RecoveredState:
    """The store's content after a restart, consistent with its own fills."""

    parents: list[ParentOrder]
    children: list[ChildOrder]
    fills: list[tuple[str, str, Side, int, int]]  # ExecID, symbol, side, quantity, price
    trading_state: TradingState = TradingState.ACTIVE
    trading_reason: str = "no trading state stored"
    problems: list[str] = field(default_factory=list)  # what could not be made consistent

    @property
    def unfinished(self) -> list[ParentOrder]:
        return [p for p in self.parents if not p.done]

    @property
    def working(self) -> list[ChildOrder]:
        return [c for c in self.children if not c.status.is_terminal]

    @property
    def empty(self) -> bool:
        return not self.parents and not self.children


def load_state(store: StateStore) -> RecoveredState:
    """Read the store and rebuild every order's and parent's fills from the fill records.
    Raises what the store raises (StoreUnavailable, StateFormatError) when it cannot be read."""
    parents = {p.parent_id: p for p in store.parents()}
    children = store.children()
    by_cl_ord_id: dict[str, ChildOrder] = {}
    for order in children:
        for cl_ord_id in (*order.previous_cl_ord_ids, order.cl_ord_id, order.pending_cl_ord_id):
            if cl_ord_id is not None:
                by_cl_ord_id[cl_ord_id] = order
    problems: list[str] = []
    for order in children:
        order.cum_qty = order.notional_ticks = 0
        if order.parent_id not in parents:
            problems.append(f"child order {order.cl_ord_id} belongs to parent "
                            f"{order.parent_id}, which the store does not hold")
    for parent in parents.values():
        parent.filled = parent.notional_ticks = 0
    fills = []
    for exec_id, (cl_ord_id, qty, price) in sorted(store.fills().items()):
        owner = by_cl_ord_id.get(cl_ord_id)
        if owner is None:
            problems.append(f"fill {exec_id} ({qty} @ {price} ticks) is for ClOrdID "
                            f"{cl_ord_id}, which no stored child order has")
            continue
        owner.cum_qty += qty
        owner.notional_ticks += qty * price
        owning_parent = parents.get(owner.parent_id)
        if owning_parent is not None:
            owning_parent.filled += qty
            owning_parent.notional_ticks += qty * price
        fills.append((exec_id, owner.symbol, owner.side, qty, price))
    for order in children:
        if order.cum_qty > order.qty:
            problems.append(f"child order {order.cl_ord_id} has fills for {order.cum_qty} "
                            f"of its {order.qty}")
    state = RecoveredState(list(parents.values()), children, fills, problems=problems)
    stored = store.trading_state()
    if stored is not None:
        try:
            state.trading_state = TradingState(stored[0])
            state.trading_reason = stored[1]
        except ValueError:
            problems.append(f"stored trading state {stored[0]!r} is not one this build knows")
    return state


def judge_status_answer(order: ChildOrder, report: ExecutionReport) \
        -> tuple[str, ExecutionReport | None]:
    """What an order-status answer means for our record of ``order``: a difference that
    cannot be squared (trading must halt, the text says what differs), or a fill no execution
    report brought (to book before the answer's status applies), or neither."""
    if report.ord_status is OrdStatus.REJECTED and order.status is not OrdStatus.PENDING_NEW \
            and not order.status.is_terminal:
        return (f"order {order.cl_ord_id} is {order.status.name} in our records, the venue "
                f"does not know it ({report.text or 'rejected'})"), None
    if report.cum_qty < order.cum_qty:
        return (f"order {order.cl_ord_id}: the venue reports {report.cum_qty} filled, our "
                f"fills add up to {order.cum_qty}"), None
    return "", recovered_fill(order, report)


def recovered_fill(order: ChildOrder, report: ExecutionReport) -> ExecutionReport | None:
    """The fill an order-status answer reveals and no execution report brought: the venue's
    CumQty above ours (reports the venue sent while we were down, or that died in our queue
    with the process). Its ExecID is derived from the order and the CumQty, so a second
    status answer with the same CumQty recovers nothing twice. Priced so that our average
    matches the venue's AvgPx, rounded to the tick; exact when one fill was missed, which is
    the common case. None when nothing is missing (or AvgPx is absent and the order has no
    limit price to stand in)."""
    missing = report.cum_qty - order.cum_qty
    if missing <= 0:
        return None
    if report.avg_px_ticks is not None and report.avg_px_ticks > 0:
        price = round((report.avg_px_ticks * report.cum_qty - order.notional_ticks) / missing)
    elif order.price is not None:
        price = order.price
    else:
        return None
    status = OrdStatus.FILLED if report.cum_qty >= order.qty else OrdStatus.PARTIALLY_FILLED
    return ExecutionReport(
        cl_ord_id=order.cl_ord_id, exec_id=f"{order.order_id or order.cl_ord_id}"
        f":recovered:{report.cum_qty}", exec_type=ExecType.TRADE, ord_status=status,
        symbol=order.symbol, side=order.side, cum_qty=report.cum_qty,
        leaves_qty=max(order.qty - report.cum_qty, 0), last_qty=missing, last_px=price,
        order_id=report.order_id, text="fill recovered from an order-status answer")


class Reconciliation:
    """The order-status requests in flight and what their answers disagreed with."""

    def __init__(self, cl_ord_ids: list[str]) -> None:
        self.awaiting = set(cl_ord_ids)
        self.asked = len(self.awaiting)
        self.requested_mono_ns: int | None = None  # when the requests went (at logon)
        self.problems: list[str] = []
        self.recovered_fills = 0

    @property
    def done(self) -> bool:
        return not self.awaiting

    def overdue(self, now_mono_ns: int, timeout_ns: int) -> bool:
        """Past the deadline since the requests went: the silence becomes a problem."""
        if self.requested_mono_ns is None or now_mono_ns - self.requested_mono_ns <= timeout_ns:
            return False
        unanswered = sorted(self.awaiting)
        self.problems.append(f"no answer within {timeout_ns / 1e9:g} s for {len(unanswered)} "
                             f"orders (e.g. {unanswered[:3]})")
        return True

    def answered(self, order: ChildOrder) -> bool:
        """Is this one of ours? Then it is no longer awaited."""
        ids = {order.cl_ord_id, *order.previous_cl_ord_ids}
        if order.pending_cl_ord_id is not None:
            ids.add(order.pending_cl_ord_id)
        hit = self.awaiting & ids
        self.awaiting -= hit
        return bool(hit)
