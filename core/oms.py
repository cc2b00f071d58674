"""Order management: the child orders' lifecycle, as the venue reports it.

Why a strict state machine: an execution report that would move an order somewhere FIX 4.4 does
not allow (a fill on a rejected order, a filled order becoming new again) means the counterparty
and we disagree about the world. Such a report is refused, counted and logged; the order keeps
the state it had. One exception, named: a *fill* that passes its checks (core/fill_rules.py:
side, price, limit, mid band, the order's and the parent's quantities) is believed, and a
believed fill with an ExecID not seen before always counts toward the parent's filled quantity,
even when the status it claims is refused (the position must follow the money). A fill that
fails them is returned with its doubts and booked nowhere: the engine records it as stated.

Reports are matched to an order by their ClOrdID only (one we sent: the current, a pending or a
kept earlier one); one naming any other ClOrdID is an unknown report, never matched to another
order through its OrigClOrdID. A New or a fill under a pending replace's ClOrdID means the venue
took the replace as a new order: the order is split in two, as the venue holds them.

Idempotency: fills are keyed by ExecID; a duplicate ExecID (a PossDup resend, a replayed
message) changes nothing. The ExecIDs of trades (fills, busts, corrections) are kept all day:
one per trade, and counting a trade twice moves the position. Those of the other reports
(acknowledgements, cancels, replaces: most of a busy day's reports) are kept for the last
RECENT_EXEC_IDS only, so that memory does not grow with every order message. Named assumption:
a duplicate of such a report arrives within that many reports of the original (a resend
follows a gap or a reconnect, not thousands of messages later); an older one is applied
again, and a status it would move backwards is refused by the state machine below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from core.domain import (
    CancelOrder,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    busted_id,
    busted_trade,
)
from core.fill_rules import DEFAULT_FILL_BAND_BPS, Doubt, FillClaim, check_fill, fill_claim
from core.windows import RecentIds

log = logging.getLogger(f"execagent.{__name__}")

RECENT_EXEC_IDS = 8_192

S = OrdStatus
# Allowed OrdStatus transitions (FIX 4.4 order state change matrices). A report that restates
# the current status (an order-status answer, a duplicate) is always accepted.
TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    S.PENDING_NEW: frozenset({S.NEW, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED,
                              S.EXPIRED, S.PENDING_CANCEL, S.PENDING_REPLACE}),
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE,
                      S.CANCELED, S.EXPIRED, S.DONE_FOR_DAY, S.SUSPENDED, S.STOPPED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
                                   S.EXPIRED, S.DONE_FOR_DAY, S.SUSPENDED, S.STOPPED}),
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.NEW, S.PARTIALLY_FILLED, S.FILLED}),
    S.PENDING_REPLACE: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED,
                                  S.PENDING_CANCEL}),
    S.SUSPENDED: frozenset({S.NEW, S.PARTIALLY_FILLED, S.CANCELED, S.PENDING_CANCEL,
                            S.EXPIRED}),
    S.STOPPED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.DONE_FOR_DAY: frozenset(),
}


# Reports that amend an earlier trade rather than report a new one (FIX 4.4 ExecType H and G).
TRADE_AMENDMENTS = frozenset({ExecType.TRADE_CANCEL, ExecType.TRADE_CORRECT})


# What a venue answers a new order with: under a replace's ClOrdID, before a Replaced or
# PendingReplace, they mean the venue took the replace as a new order (OrderManager._split).
_NEW_ORDER_ANSWERS = frozenset({ExecType.NEW, ExecType.PENDING_NEW, ExecType.TRADE,
                                ExecType.PARTIAL_FILL_42, ExecType.FILL_42})


def transition_allowed(current: OrdStatus, new: OrdStatus) -> bool:
    return new is current or new in TRANSITIONS.get(current, frozenset())


@dataclass(slots=True, frozen=True)
class FillEvent:
    """A new fill: believed (``doubts`` empty: booked on the order and its parent, for the
    engine, the risk overlay and the store to book too), or not (kept as what the venue said,
    never booked; core/fill_rules.py)."""

    parent_id: str
    first_cl_ord_id: str  # the order's key in the store: stable across its replaces
    exec_id: str
    qty: int
    price: int  # ticks (0 when the venue's price was off the grid: see ``claim``)
    claim: FillClaim | None = None
    doubts: tuple[Doubt, ...] = ()


class OrderManager:
    """Child orders by ClOrdID, their parents, and the fills already counted."""

    def __init__(self, on_rejected_transition: Callable[[str], None] | None = None,
                 fill_band_bps: Mapping[str, float] | None = None) -> None:
        self.parents: dict[str, ParentOrder] = {}
        # Orders by every ClOrdID they are known by (ChildOrder.previous_cl_ord_ids, the current
        # one and one in flight).
        self._orders: dict[str, ChildOrder] = {}
        self._by_parent: dict[str, list[ChildOrder]] = {}
        # Per parent, the orders that may still be open: pruned of finished ones as it is read,
        # so that the engine's every-tick ``working`` costs the open orders, not the day's.
        self._open: dict[str, list[ChildOrder]] = {}
        self._trade_exec_ids: set[str] = set()
        self._recent_exec_ids = RecentIds(RECENT_EXEC_IDS)
        self._fills: dict[str, tuple[int, int]] = {}  # ExecID -> (qty, price): what a bust undoes
        # Signed fill records that busts and corrections produced, for the engine to persist
        # (a bust is stored as the negative of the trade under ``<ExecID>:busted``), so that
        # recovery, which sums the stored fills, sees the amended quantities.
        self.adjustments: list[FillEvent] = []
        # Replaces the venue took as new orders, (the order, the new one), for the engine.
        self.splits: list[tuple[ChildOrder, ChildOrder]] = []
        self._bands = dict(fill_band_bps or {})  # symbol -> the fills' mid band, bps
        self._on_rejected_transition = on_rejected_transition
        self.rejected_transitions = 0
        self.unknown_reports = 0

    def add_parent(self, parent: ParentOrder) -> None:
        if parent.parent_id in self.parents:
            raise ValueError(f"parent order {parent.parent_id} already exists")
        self.parents[parent.parent_id] = parent
        self._by_parent[parent.parent_id] = []

    def get(self, cl_ord_id: str) -> ChildOrder | None:
        return self._orders.get(cl_ord_id)

    def children(self, parent_id: str) -> list[ChildOrder]:
        return self._by_parent.get(parent_id, [])

    def working(self, parent_id: str) -> list[ChildOrder]:
        """The parent's orders not in a terminal status (a new list; the caller may keep it)."""
        candidates = self._open.get(parent_id)
        if not candidates:
            return []
        still_open = [o for o in candidates if not o.status.is_terminal]
        if len(still_open) != len(candidates):
            self._open[parent_id] = still_open
        return list(still_open)

    def _track_open(self, order: ChildOrder) -> None:
        candidates = self._open.setdefault(order.parent_id, [])
        if not any(o is order for o in candidates):
            candidates.append(order)

    def all_orders(self) -> Iterable[ChildOrder]:
        return {id(o): o for o in self._orders.values()}.values()

    def on_sent(self, intent: OrderIntent) -> ChildOrder | None:
        """Record an intent that passed risk and is about to be sent."""
        if isinstance(intent, NewOrder):
            order = ChildOrder(intent.cl_ord_id, intent.parent_id, intent.symbol, intent.side,
                               intent.qty, intent.price, intent.ord_type, intent.tif)
            self._orders[intent.cl_ord_id] = order
            self._by_parent.setdefault(intent.parent_id, []).append(order)
            self._open.setdefault(intent.parent_id, []).append(order)  # new: not there yet
            parent = self.parents.get(intent.parent_id)
            if parent is not None:
                parent.child_orders_sent += 1
            return order
        target = self._orders.get(intent.orig_cl_ord_id)
        if target is None:
            return None
        target.pending_cl_ord_id = intent.cl_ord_id
        self._orders[intent.cl_ord_id] = target
        if isinstance(intent, ReplaceOrder):
            target.pending_qty, target.pending_price = intent.qty, intent.price
        else:
            assert isinstance(intent, CancelOrder)
            target.pending_qty = target.pending_price = None
        return target

    def on_execution_report(self, report: ExecutionReport,
                            reference: float | None = None) -> FillEvent | None:
        """Apply a report; returns the fill it carries when that fill is new, believed or not
        (``FillEvent.doubts``). ``reference``: the symbol's mid in ticks, for the fill's price
        band (core/fill_rules.py). A report naming a ClOrdID we never sent (or forgot) changes
        nothing: it is never matched to another order by its OrigClOrdID."""
        if report.exec_type in TRADE_AMENDMENTS:
            self.on_trade_amendment(report)
            return None
        order = self._orders.get(report.cl_ord_id)
        if order is None:
            self.unknown_reports += 1
            log.warning("execution report for unknown ClOrdID %s ignored", report.cl_ord_id)
            return None
        if report.cl_ord_id == order.pending_cl_ord_id and order.pending_qty is not None and \
                report.exec_type in _NEW_ORDER_ANSWERS:
            order = self._split(order, report)
        if report.order_id:
            order.order_id = report.order_id

        fill: FillEvent | None = None
        if self._seen(report.exec_id):
            return None
        claim = fill_claim(order, report) if report.exec_type.is_fill else None
        if claim is not None:
            self._trade_exec_ids.add(report.exec_id)
            parent = self.parents.get(order.parent_id)
            doubts = check_fill(claim, order, parent, reference,
                                self._bands.get(order.symbol, DEFAULT_FILL_BAND_BPS))
            fill = FillEvent(order.parent_id, order.first_cl_ord_id, report.exec_id, claim.qty,
                             claim.price if claim.price is not None else 0, claim, doubts)
            if not doubts:
                self._fills[report.exec_id] = (claim.qty, fill.price)
                _add_fill(order, parent, claim.qty, fill.price)
        else:
            self._recent_exec_ids.add(report.exec_id)

        self._apply_status(order, report)
        return fill

    def _split(self, order: ChildOrder, report: ExecutionReport) -> ChildOrder:
        """The venue answered our replace of ``order`` as a new order (a New or a fill under
        the replace's ClOrdID, where a Replaced or PendingReplace was due): it now works two
        orders, the original and one of the replace's quantity and price. Record the second
        as the venue has it, a child of the same parent, so that what we hold matches the
        venue; :attr:`splits` tells the engine, which stops the parent."""
        assert order.pending_cl_ord_id is not None and order.pending_qty is not None
        taken = ChildOrder(order.pending_cl_ord_id, order.parent_id, order.symbol, order.side,
                           order.pending_qty, order.pending_price, OrdType.LIMIT, order.tif)
        order.pending_cl_ord_id = order.pending_qty = order.pending_price = None
        self._orders[taken.cl_ord_id] = taken
        self._by_parent.setdefault(taken.parent_id, []).append(taken)
        self._open.setdefault(taken.parent_id, []).append(taken)
        parent = self.parents.get(taken.parent_id)
        if parent is not None:
            parent.child_orders_sent += 1
        self.splits.append((order, taken))
        log.error("order %s: the venue took replace %s as a new order; both are working there",
                  order.cl_ord_id, taken.cl_ord_id)
        return taken

    def mark_unknown(self, order: ChildOrder) -> None:
        """A report about ``order`` could not be read: its state is unknown until an
        order-status answer (or any later report with its CumQty) says."""
        order.unknown = True

    def _seen(self, exec_id: str) -> bool:
        return exec_id in self._trade_exec_ids or exec_id in self._recent_exec_ids

    def seen(self, exec_id: str) -> bool:
        """Was a report with this ExecID applied already (a duplicate changes nothing)?"""
        return self._seen(exec_id)

    def on_trade_amendment(self, report: ExecutionReport) -> ChildOrder | None:
        """A TradeCancel (a bust) or TradeCorrect: take the amended trade (ExecRefID) out of
        the order's and the parent's filled quantity and notional, and put a correction's
        LastQty at LastPx back in. Returns the order it amended, None when unknown or a
        duplicate.

        Named assumptions: the venue's OrdStatus after an amendment is taken as it comes (a bust
        can reopen a filled order; the state machine's matrices do not cover amendments); an
        amendment of a trade this process never counted (an ExecRefID from before a restart)
        changes no quantity here, and is counted in ``unknown_reports`` and logged.
        """
        order = self._orders.get(report.cl_ord_id) or \
            self._orders.get(report.orig_cl_ord_id or "")
        if order is None:
            self.unknown_reports += 1
            return None
        if self._seen(report.exec_id):
            return None
        self._trade_exec_ids.add(report.exec_id)
        parent = self.parents.get(order.parent_id)
        amended = self._fills.pop(report.exec_ref_id or "", None)
        if amended is None:
            self.unknown_reports += 1
            log.warning("order %s: %s of unknown trade %s; quantities left as they were",
                        order.cl_ord_id, report.exec_type.name, report.exec_ref_id)
        else:
            _add_fill(order, parent, -amended[0], amended[1])
            self.adjustments.append(FillEvent(order.parent_id, order.first_cl_ord_id,
                                              busted_id(report.exec_ref_id or ""), -amended[0],
                                              amended[1]))
            if report.exec_type is ExecType.TRADE_CORRECT and report.last_qty > 0 and \
                    report.last_px is not None:
                self._fills[report.exec_id] = (report.last_qty, report.last_px)
                _add_fill(order, parent, report.last_qty, report.last_px)
                self.adjustments.append(FillEvent(order.parent_id, order.first_cl_ord_id,
                                                  report.exec_id, report.last_qty,
                                                  report.last_px))
        order.status = report.ord_status
        if not order.status.is_terminal:
            self._track_open(order)  # a bust can reopen a filled order
        return order

    def _apply_status(self, order: ChildOrder, report: ExecutionReport) -> None:
        new_status = report.ord_status
        if report.exec_type is ExecType.ORDER_STATUS and order.pending_cl_ord_id is not None:
            self._settle_pending_by_status(order, report)
        if report.exec_type is ExecType.REPLACED:
            self._complete_replace(order, report)
            if new_status is OrdStatus.REPLACED:  # FIX 4.2 reports the replaced order so
                new_status = OrdStatus.PARTIALLY_FILLED if order.cum_qty else OrdStatus.NEW
        elif report.exec_type is ExecType.CANCELED or new_status.is_terminal:
            order.pending_cl_ord_id = order.pending_qty = order.pending_price = None
        if not transition_allowed(order.status, new_status):
            self.rejected_transitions += 1
            log.warning("order %s: refused OrdStatus transition %s -> %s (ExecType %s)",
                        order.cl_ord_id, order.status.name, new_status.name,
                        report.exec_type.name)
            if self._on_rejected_transition is not None:
                self._on_rejected_transition(order.status.name.lower())
            return
        order.status = new_status

    def _settle_pending_by_status(self, order: ChildOrder, report: ExecutionReport) -> None:
        """An order-status answer (reconciliation) settles a cancel or replace we had in
        flight: the venue names the order by the ClOrdID it accepted last. Under the pending
        ClOrdID, the request took effect (a replace completes here; a cancel shows a terminal
        status); under the old one, it never did, and nothing is in flight any more (the
        status request went after it on the same session, and order messages are never
        resent), so the order is free for a new cancel or replace."""
        if report.cl_ord_id == order.pending_cl_ord_id:
            if order.pending_qty is not None:
                self._complete_replace(order, report)
        else:
            order.pending_cl_ord_id = order.pending_qty = order.pending_price = None

    def _complete_replace(self, order: ChildOrder, report: ExecutionReport) -> None:
        if order.pending_cl_ord_id is not None:
            forgotten = order.replaced_by(report.cl_ord_id)
            if forgotten is not None and self._orders.get(forgotten) is order:
                del self._orders[forgotten]
        if order.pending_qty is not None:
            order.qty = order.pending_qty
        if order.pending_price is not None:
            order.price = order.pending_price
        order.pending_cl_ord_id = order.pending_qty = order.pending_price = None
        self._orders[report.cl_ord_id] = order

    def restore(self, parents: Iterable[ParentOrder], children: Iterable[ChildOrder],
                fills: Iterable[tuple[str, int, int]]) -> None:
        """Take back state recovered from the store after a restart: the parents, their child
        orders under every ClOrdID they were known by, and the stored fills (ExecID, quantity,
        price): their ExecIDs are counted already (a resent fill is not counted twice), and
        the trades not busted can still be amended."""
        for parent in parents:
            self.parents[parent.parent_id] = parent
            self._by_parent.setdefault(parent.parent_id, [])
        for order in children:
            for cl_ord_id in (*order.previous_cl_ord_ids, order.cl_ord_id,
                              order.pending_cl_ord_id):
                if cl_ord_id is not None:
                    self._orders[cl_ord_id] = order
            self._by_parent.setdefault(order.parent_id, []).append(order)
            if not order.status.is_terminal:
                self._track_open(order)
        for exec_id, qty, price in fills:  # sorted: a reversal comes after its trade
            self._trade_exec_ids.add(exec_id)
            undone = busted_trade(exec_id)
            if undone is not None:
                self._fills.pop(undone, None)
            elif qty > 0:
                self._fills[exec_id] = (qty, price)

    def on_cancel_reject(self, reject: CancelReject) -> ChildOrder | None:
        """The venue refused a cancel or replace: the order stays as it was."""
        order = self._orders.get(reject.orig_cl_ord_id) or self._orders.get(reject.cl_ord_id)
        if order is None:
            self.unknown_reports += 1
            return None
        order.pending_cl_ord_id = order.pending_qty = order.pending_price = None
        if reject.ord_status is not None and transition_allowed(order.status, reject.ord_status):
            order.status = reject.ord_status
        return order

    def on_send_failed(self, intent: OrderIntent) -> None:
        """The gateway could not send ``intent`` (no session): undo what :meth:`on_sent` did."""
        order = self._orders.get(intent.cl_ord_id)
        if order is None:
            return
        if isinstance(intent, NewOrder):
            order.status = OrdStatus.REJECTED
        else:
            order.pending_cl_ord_id = order.pending_qty = order.pending_price = None
            del self._orders[intent.cl_ord_id]


def _add_fill(order: ChildOrder, parent: ParentOrder | None, qty: int, price: int) -> None:
    """Move ``qty`` at ``price`` (negative: a bust) into the order's and the parent's totals."""
    order.cum_qty += qty
    order.notional_ticks += qty * price
    if parent is not None:
        parent.filled += qty
        parent.notional_ticks += qty * price
