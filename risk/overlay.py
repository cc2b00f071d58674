"""The independent pre-trade risk overlay.

It sits between every child order and the gateway and answers each intent with a
:class:`~risk.verdict.Verdict`; it never raises on a check. Its view of positions and open
orders is its own, built from execution reports (never from what the strategy believes), and an
allowed order counts against the limits from the moment it is allowed (in flight), not from its
acknowledgement. Cancels always pass. Times are event-time nanoseconds passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from risk.limits import RiskLimits
from risk.state import TradingState
from risk.verdict import ALLOW, DenyReason, Verdict
from service.domain import (
    CancelOrder,
    CancelReject,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrderIntent,
    ReplaceOrder,
    Side,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _OpenOrder:
    symbol: str
    side: Side
    leaves: int


class RiskOverlay:
    def __init__(
        self,
        limits: RiskLimits,
        instruments: Mapping[str, Instrument],
        on_denial: Callable[[DenyReason], None] | None = None,
        on_state_change: Callable[[TradingState, str], None] | None = None,
    ) -> None:
        self.limits = limits
        self.instruments = dict(instruments)
        self._on_denial = on_denial
        self._on_state_change = on_state_change
        self._state = TradingState.ACTIVE
        self._positions: dict[str, int] = {}
        self._open: dict[str, _OpenOrder] = {}  # by every ClOrdID the order is known by
        self._seen_exec_ids: set[str] = set()
        self.denials: dict[DenyReason, int] = {}
        self._kill_ids = 0

    # --- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self._state

    def position(self, symbol: str) -> int:
        return self._positions.get(symbol, 0)

    def open_orders(self) -> dict[str, tuple[str, Side, int]]:
        unique = {id(o): (cl, o) for cl, o in self._open.items()}
        return {cl: (o.symbol, o.side, o.leaves) for cl, o in unique.values()}

    def _set_state(self, state: TradingState, reason: str) -> None:
        if state is self._state:
            return
        log.warning("trading state %s -> %s: %s", self._state.value, state.value, reason)
        self._state = state
        if self._on_state_change is not None:
            self._on_state_change(state, reason)

    def engage_kill_switch(self, reason: str, now_ns: int) -> list[CancelOrder]:
        """HALTED, and a cancel for every working order (the caller sends them)."""
        self._set_state(TradingState.HALTED, reason)
        cancels = []
        for cl_ord_id, (symbol, side, leaves) in self.open_orders().items():
            self._kill_ids += 1
            cancels.append(CancelOrder(f"KILL-{now_ns}-{self._kill_ids}", cl_ord_id, "", symbol,
                                       side, leaves))
        return cancels

    def resume(self, reason: str, operator: str, now_ns: int) -> None:
        if not reason.strip() or not operator.strip():
            raise ValueError("resuming trading needs an operator and a reason")
        self._set_state(TradingState.ACTIVE, f"resumed by {operator}: {reason}")

    def set_reducing(self, reason: str, now_ns: int) -> None:
        self._set_state(TradingState.REDUCING, reason)

    def on_session_lost(self, now_ns: int) -> None:
        self._set_state(TradingState.HALTED, "FIX session lost")

    def on_session_restored(self, now_ns: int) -> None:
        """Nothing resumes by itself: an operator must resume after a loss."""

    def on_market_data(self, symbol: str, bid: int | None, ask: int | None, now_ns: int,
                       traded_qty: int = 0) -> None:
        """Reference prices for controls that need them (none in this thin overlay yet)."""

    # --- the check ------------------------------------------------------------------------------
    def check(self, intent: OrderIntent, now_ns: int) -> Verdict:
        if isinstance(intent, CancelOrder):
            return ALLOW
        verdict = self._evaluate(intent)
        if verdict.allowed:
            self._record(intent)
        else:
            assert verdict.reason is not None
            self.denials[verdict.reason] = self.denials.get(verdict.reason, 0) + 1
            if self._on_denial is not None:
                self._on_denial(verdict.reason)
        return verdict

    def _evaluate(self, intent: NewOrder | ReplaceOrder) -> Verdict:
        if self._state is TradingState.HALTED:
            return Verdict(False, DenyReason.HALTED, "trading is halted")
        limits = self.limits.symbols.get(intent.symbol)
        if limits is None:
            return Verdict(False, DenyReason.UNKNOWN_SYMBOL, f"no limits for {intent.symbol}")
        if intent.qty > limits.max_order_qty:
            return Verdict(False, DenyReason.MAX_ORDER_QTY,
                           f"{intent.qty} > max_order_qty {limits.max_order_qty}")
        added = intent.qty
        if isinstance(intent, ReplaceOrder):
            previous = self._open.get(intent.orig_cl_ord_id)
            added -= previous.leaves if previous is not None else 0
        position = self.position(intent.symbol)
        in_flight = sum(o.leaves for o in self._unique_open()
                        if o.symbol == intent.symbol and o.side is intent.side)
        if self._state is TradingState.REDUCING:
            reduces = (position > 0 and intent.side is Side.SELL) or \
                      (position < 0 and intent.side is Side.BUY)
            if not reduces or in_flight + added > abs(position):
                return Verdict(False, DenyReason.REDUCING_ONLY, "only reducing orders allowed")
        worst = position + int(intent.side) * (in_flight + added)
        if worst > limits.max_long_position or -worst > limits.max_short_position:
            return Verdict(False, DenyReason.MAX_POSITION,
                           f"position could reach {worst} (limits +{limits.max_long_position} / "
                           f"-{limits.max_short_position})")
        return ALLOW

    def _unique_open(self) -> list[_OpenOrder]:
        return list({id(o): o for o in self._open.values()}.values())

    def _record(self, intent: NewOrder | ReplaceOrder) -> None:
        if isinstance(intent, NewOrder):
            self._open[intent.cl_ord_id] = _OpenOrder(intent.symbol, intent.side, intent.qty)
            return
        previous = self._open.get(intent.orig_cl_ord_id)
        if previous is not None:
            # Until the venue answers, count the larger of the old and new open quantity.
            previous.leaves = max(previous.leaves, intent.qty)
            self._open[intent.cl_ord_id] = previous

    # --- execution reports --------------------------------------------------------------------
    def on_execution_report(self, report: ExecutionReport, now_ns: int) -> None:
        if report.exec_id in self._seen_exec_ids:
            return
        self._seen_exec_ids.add(report.exec_id)
        if report.exec_type.is_fill and report.last_qty > 0:
            self._positions[report.symbol] = self.position(report.symbol) + \
                int(report.side) * report.last_qty
        order = self._open.get(report.cl_ord_id) or self._open.get(report.orig_cl_ord_id or "")
        if order is None:
            return
        order.leaves = report.leaves_qty
        self._open[report.cl_ord_id] = order
        if report.ord_status.is_terminal or report.leaves_qty == 0:
            for key in [k for k, v in self._open.items() if v is order]:
                del self._open[key]

    def on_cancel_reject(self, reject: CancelReject, now_ns: int) -> None:
        """The order stays open as it was; a replace that never happened must not linger."""
        self._open.pop(reject.cl_ord_id, None)
