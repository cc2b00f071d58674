"""Reconciliation with the venue: what the store cannot know, asked of the venue.

After a restart the store holds every order as it last wrote it; after a reconnect the service
holds what was working when the session dropped. Either way, what happened at the venue
meanwhile (fills, cancels, an order written ahead of a send that never went) is unknown. So
every order held as working is asked about with an OrderStatusRequest once the FIX session is
up, and the answers are applied as execution reports. Until every answer is in, no parent
order trades (:attr:`Reconciler.in_progress`); an answer that cannot be squared with our
record, or the venue's silence past a deadline, halts trading through the kill switch with
the difference named, for an operator to check at the venue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core.domain import ChildOrder, ExecType, ExecutionReport, OrdStatus
from core.oms import OrderManager
from risk.overlay import RiskOverlay
from risk.state import KillTrigger
from service.clock import EventClock
from service.metrics import Metrics
from service.state.journal import Journal

log = logging.getLogger(f"execagent.{__name__}")

# Sends an OrderStatusRequest for a child order; False when the session cannot take it.
StatusRequester = Callable[[ChildOrder], bool]


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
    the common case. Without a usable AvgPx, at the answer's LastPx when its LastQty is
    exactly what is missing (the venue's own word for that fill), else at the order's limit
    price. None when nothing is missing (or no price is there and the order has no limit
    price to stand in)."""
    missing = report.cum_qty - order.cum_qty
    if missing <= 0:
        return None
    if report.avg_px_ticks is not None and report.avg_px_ticks > 0:
        price = round((report.avg_px_ticks * report.cum_qty - order.notional_ticks) / missing)
    elif report.last_qty == missing and report.last_px is not None and report.last_px > 0:
        price = report.last_px
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


class Reconciler:
    """Drives one :class:`Reconciliation` at a time for the engine: opened at logon with the
    orders held as working (or, after a restart, the restored ones), fed the order-status
    answers, closed when every answer is in or the deadline passes."""

    def __init__(self, oms: OrderManager, risk: RiskOverlay, metrics: Metrics,
                 clock: EventClock, journal: Journal | None,
                 request_status: StatusRequester | None, timeout_s: float,
                 apply_report: Callable[[ExecutionReport], None],
                 resuming: Callable[[], int],
                 on_problem: Callable[[ChildOrder, str], None] | None = None,
                 on_answered: Callable[[ChildOrder], None] | None = None) -> None:
        self.oms = oms
        self.risk = risk
        self.metrics = metrics
        self.clock = clock
        self.journal = journal
        self._request_status = request_status
        self.timeout_ns = int(timeout_s * 1e9)
        self._apply_report = apply_report  # the engine's: state machine, fills, store, metrics
        self._resuming = resuming  # how many parent orders resume once it squares
        # An answer outside a reconciliation (an order asked about because a report on it could
        # not be read) that cannot be squared: the engine stops the order's parent.
        self._on_problem = on_problem
        self._on_answered = on_answered  # any answer for an order: its state is known again
        self.current: Reconciliation | None = None

    @property
    def in_progress(self) -> bool:
        return self.current is not None

    def expect(self, cl_ord_ids: list[str]) -> None:
        """After a restart: these restored orders are to be asked about at logon."""
        if cl_ord_ids:
            self.current = Reconciliation(cl_ord_ids)
        self.metrics.reconciliation_pending.set(len(cl_ord_ids))

    def start(self) -> None:
        """Ask the venue about every order we hold as working (the session is up)."""
        if self.current is None:
            working = [o.cl_ord_id for o in self.oms.all_orders() if not o.status.is_terminal]
            if not working:
                return
            self.current = Reconciliation(working)
        reconciliation = self.current
        reconciliation.requested_mono_ns = time.monotonic_ns()
        if self._request_status is None:
            reconciliation.problems.append("this venue connection cannot send order-status "
                                           "requests")
            self._finish()
            return
        for cl_ord_id in sorted(reconciliation.awaiting):
            order = self.oms.get(cl_ord_id)
            if order is None or not self._request_status(order):
                reconciliation.problems.append(f"could not ask the venue about {cl_ord_id}")
        self.metrics.reconciliation_pending.set(len(reconciliation.awaiting))
        if reconciliation.problems:
            self._finish()

    def on_status_answer(self, report: ExecutionReport) -> None:
        """An order-status answer: fills it reveals are booked first (as recovered fills),
        then its status applies as any execution report's would. What cannot be squared with
        our record (the venue knows less than we booked, or does not know an order it had
        acknowledged) goes to the reconciliation's problems, which halt trading."""
        order = self.oms.get(report.cl_ord_id) or self.oms.get(report.orig_cl_ord_id or "")
        reconciliation = self.current
        if order is not None:
            if reconciliation is not None:
                reconciliation.answered(order)
            if self._on_answered is not None:
                self._on_answered(order)
            self._judge(order, report, reconciliation)
        self._apply_report(report)
        if reconciliation is not None:
            self.metrics.reconciliation_pending.set(len(reconciliation.awaiting))
            if reconciliation.done:
                self._finish()

    def _judge(self, order: ChildOrder, report: ExecutionReport,
               reconciliation: Reconciliation | None) -> None:
        """Book the fill the answer reveals, or say what cannot be squared: to the open
        reconciliation, else to ``on_problem`` (the engine stops the order's parent)."""
        problem, missed = judge_status_answer(order, report)
        if problem:
            log.error("reconciliation: %s", problem)
            if reconciliation is not None:
                reconciliation.problems.append(problem)
            elif self._on_problem is not None:
                self._on_problem(order, problem)
        elif missed is not None:
            log.warning("order %s: %d filled at the venue that no execution report "
                        "brought; booked at %s ticks from AvgPx", order.cl_ord_id,
                        missed.last_qty, missed.last_px)
            self.metrics.recovered_fills.inc()
            if reconciliation is not None:
                reconciliation.recovered_fills += 1
            self._apply_report(missed)

    def check_deadline(self) -> None:
        """The venue's silence past the timeout halts (from the engine's watch loop)."""
        reconciliation = self.current
        if reconciliation is not None and \
                reconciliation.overdue(time.monotonic_ns(), self.timeout_ns):
            self._finish()

    def _finish(self) -> None:
        """Trading resumes where the answers squared with our records; otherwise the kill
        switch halts it, saying what differs (an operator checks at the venue and resumes)."""
        reconciliation = self.current
        assert reconciliation is not None
        self.current = None
        self.metrics.reconciliation_pending.set(0)
        if self.journal is not None:
            self.journal.record("reconciliation", self.clock.now_ns(), {
                "outcome": "halted" if reconciliation.problems else "squared",
                "orders": reconciliation.asked, "recovered_fills": reconciliation.recovered_fills,
                "detail": "; ".join(reconciliation.problems)})
        if reconciliation.problems:
            self.metrics.reconciliation_failures.inc()
            self.risk.engage_kill_switch(
                "reconciliation with the venue: " + "; ".join(reconciliation.problems[:5]),
                self.clock.now_ns(), KillTrigger.RECOVERY)
        else:
            log.info("reconciled with the venue: %d parent orders resume", self._resuming())
