"""Stateful property test: no order leaves the overlay that would breach a limit.

Hypothesis drives random sequences of intents, venue answers (acknowledgements, partial and full
fills, cancels, rejects, replace acks and replace rejects), price moves with trades, clock
advances, operator actions and the watchdog. The test is the venue: it keeps the ground truth of
every order the overlay let out, independently of the overlay's own ledger, and checks every
allowed intent against that truth *before* applying it:
- nothing but cancels leaves in HALTED, and in REDUCING only what reduces the position;
- quantity, price collar (against a fresh reference), notional, open-order counts (symbol and
  global), the token bucket's bound, participation and ClOrdID uniqueness;
- the worst-case position, counting every order in flight at its largest possible size (a
  replace in flight at the larger of its old and new open quantity), stays within the limits;
and, after every fill and price move, that a loss at the daily limit has halted trading.
The test function runs the machine until at least 100,000 intents have been checked.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from risk.state import KillTrigger, TradingState
from tests.support.risk import INSTRUMENTS, SECOND, SYMBOL, limits_with

MIN_INTENTS = 100_000
TICK = 0.01
LIMITS_CHANGES = {
    "global.max_open_orders": 8,
    "global.max_daily_loss": 3_000,
    "global.throttle": {"messages_per_second": 5, "burst": 4},
    "global.reject_storm": {"max_rejects": 6, "window_seconds": 5},
    "symbols.GOOG.max_order_qty": 300,
    "symbols.GOOG.max_order_notional": 150_000,  # binds above ~258 shares
    "symbols.GOOG.price_collar_bps": 20,
    "symbols.GOOG.max_long_position": 900,
    "symbols.GOOG.max_short_position": 700,
    "symbols.GOOG.max_open_orders": 6,
    "symbols.GOOG.max_participation": {"rate": 0.9, "window_seconds": 300},
}
LIMITS = limits_with(**LIMITS_CHANGES)
RULES = parse_limits(LIMITS)
RULES_NO_PARTICIPATION = parse_limits(limits_with(**{
    **LIMITS_CHANGES, "symbols.GOOG.max_participation": None}))
G, S = RULES.global_, RULES.symbols[SYMBOL]
PARTICIPATION = S.max_participation
assert PARTICIPATION is not None
intents_checked = 0


@dataclass
class TrueOrder:
    """The venue's view of one order the overlay allowed."""

    side: Side
    qty: int
    price: int | None
    cum: int = 0
    pending: ReplaceOrder | None = None
    cancel_id: str | None = None

    @property
    def leaves(self) -> int:
        return self.qty - self.cum

    @property
    def worst_open(self) -> int:
        if self.pending is None:
            return self.leaves
        return max(self.leaves, self.pending.qty - self.cum)


class OverlayMachine(RuleBasedStateMachine):
    @initialize(participation=st.booleans())
    def start(self, participation: bool) -> None:
        """Half the runs without the participation cap, which otherwise denies most orders
        and leaves the other controls less to check."""
        self.now = 0
        self.participation = participation
        self.kill_cancels: list[CancelOrder] = []
        self.overlay = RiskOverlay(
            RULES if participation else RULES_NO_PARTICIPATION, INSTRUMENTS,
            on_kill=lambda cancels, _t, _r: self.kill_cancels.extend(cancels))
        self.orders: dict[str, TrueOrder] = {}  # by current ClOrdID
        self.used_ids: set[str] = set()
        self.position = 0
        self.cash = 0.0
        self.bid, self.ask = 57_999, 58_001
        self.mark = 58_000.0  # the last two-sided mid, as the overlay marks positions
        # The overlay's price reference: the last two-sided quote (a locked book keeps it).
        self.ref_bid, self.ref_ask = self.bid, self.ask
        self.quote_ns: int | None = None
        self.trades: deque[tuple[int, int]] = deque()
        self.our_fills: deque[tuple[int, int]] = deque()
        self.sent: deque[int] = deque()  # times of allowed new and replace messages
        self.next_id = 0
        self.exec_ids = 0
        self._quote(0)

    # --- helpers -------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}{self.next_id}"

    def _exec_id(self) -> str:
        self.exec_ids += 1
        return f"E{self.exec_ids}"

    def _quote(self, traded: int) -> None:
        if self.bid < self.ask:
            self.quote_ns, self.mark = self.now, self._mid()
            self.ref_bid, self.ref_ask = self.bid, self.ask
        if traded:
            self.trades.append((self.now, traded))
        self.overlay.on_market_data(SYMBOL, self.bid, self.ask, self.now, traded)

    def _window(self, items: deque[tuple[int, int]]) -> int:
        cutoff = self.now - int(PARTICIPATION.window_seconds * 1e9)
        return sum(qty for ts, qty in items if ts > cutoff)

    def _mid(self) -> float:
        return (self.bid + self.ask) / 2

    def _pnl(self) -> float:
        return self.cash + self.position * self.mark * TICK

    def _report(self, cl_ord_id: str, order: TrueOrder, exec_type: ExecType, status: OrdStatus,
                last_qty: int = 0, orig: str | None = None, leaves: int | None = None) -> None:
        self.overlay.on_execution_report(ExecutionReport(
            cl_ord_id, self._exec_id(), exec_type, status, SYMBOL, order.side, order.cum,
            order.leaves if leaves is None else leaves, last_qty,
            order.price if last_qty else None, orig_cl_ord_id=orig), self.now)

    # --- intents -------------------------------------------------------------------------------
    @rule(seed=st.integers(0, 2**32), count=st.integers(1, 60))
    def send_intents(self, seed: int, count: int) -> None:
        global intents_checked
        rng = random.Random(seed)
        for _ in range(count):
            self.now += rng.choice((0, 0, 10, 100)) * 1_000_000  # a burst, spread a little
            intent = self._random_intent(rng)
            state_before = self.overlay.state
            verdict = self.overlay.check(intent, self.now)
            intents_checked += 1
            if isinstance(intent, CancelOrder):
                assert verdict.allowed, "cancels always pass"
                self.orders[intent.orig_cl_ord_id].cancel_id = intent.cl_ord_id
                self.used_ids.add(intent.cl_ord_id)
                continue
            if verdict.allowed:
                self._assert_may_leave(intent, state_before)
                self._apply_allowed(intent)

    def _random_intent(self, rng: random.Random) -> OrderIntent:
        roll = rng.random()
        open_ids = sorted(self.orders)
        if open_ids and roll < 0.15:
            target = self.orders[orig := rng.choice(open_ids)]
            return CancelOrder(self._id("C"), orig, "P", SYMBOL, target.side, target.qty)
        if open_ids and roll < 0.35:
            target = self.orders[orig := rng.choice(open_ids)]
            return ReplaceOrder(self._id("R"), orig, "P", SYMBOL, target.side,
                                target.cum + rng.randint(-20, 320),
                                round(self._mid()) + rng.randint(-150, 150))
        side = rng.choice((Side.BUY, Side.SELL))
        price: int | None = round(self._mid()) + rng.randint(-150, 150)
        if rng.random() < 0.1:
            price = None
        cl_ord_id = self._id("N")
        if self.used_ids and rng.random() < 0.02:
            cl_ord_id = rng.choice(sorted(self.used_ids))
        return NewOrder(cl_ord_id, "P", SYMBOL, side, rng.randint(-5, 330), price,
                        OrdType.MARKET if price is None else OrdType.LIMIT, TimeInForce.DAY)

    def _assert_may_leave(self, intent: NewOrder | ReplaceOrder, state: TradingState) -> None:
        assert state is not TradingState.HALTED, "only cancels leave in HALTED"
        assert intent.cl_ord_id not in self.used_ids, "duplicate ClOrdID left"
        assert 0 < intent.qty <= S.max_order_qty
        assert self.quote_ns is not None
        assert self.now - self.quote_ns <= G.max_reference_age_seconds * 1e9, "stale reference"
        mid = (self.ref_bid + self.ref_ask) / 2
        price = intent.price
        if price is None:
            price = self.ref_ask if intent.side is Side.BUY else self.ref_bid
        else:
            assert price > 0
            assert abs(price - mid) <= S.price_collar_bps / 1e4 * mid, "outside the collar"
        assert intent.qty * price * TICK <= float(S.max_order_notional)
        previous = self.orders.get(intent.orig_cl_ord_id) \
            if isinstance(intent, ReplaceOrder) else None
        if isinstance(intent, ReplaceOrder):
            assert previous is not None and previous.pending is None
        same_side = sum(o.worst_open for o in self.orders.values() if o.side is intent.side)
        after = same_side - (previous.worst_open if previous else 0) + max(
            previous.leaves if previous else 0,
            intent.qty - (previous.cum if previous else 0))
        worst = self.position + int(intent.side) * after
        assert -S.max_short_position <= worst <= S.max_long_position, f"worst case {worst}"
        if state is TradingState.REDUCING:
            reduces = self.position * int(intent.side) < 0
            assert reduces and after <= abs(self.position), "REDUCING let an increase out"
        if previous is None:
            assert len(self.orders) + 1 <= min(S.max_open_orders, G.max_open_orders)
        if self.participation:
            working = sum(o.worst_open for o in self.orders.values())
            ours = self._window(self.our_fills) + working + max(
                intent.qty - (previous.cum + previous.worst_open if previous else 0), 0)
            assert ours <= PARTICIPATION.rate * self._window(self.trades) + 1e-9
        # Token bucket bound: at most burst + rate x W messages in any window of W seconds.
        while self.sent and self.sent[0] <= self.now - SECOND:
            self.sent.popleft()
        for window_ns in (0, SECOND // 10, SECOND // 2, SECOND - 1):
            recent = sum(1 for t in self.sent if t >= self.now - window_ns) + 1
            bound = G.throttle.burst + G.throttle.messages_per_second * window_ns / 1e9
            assert recent <= bound, f"throttle: {recent} messages in {window_ns} ns"

    def _apply_allowed(self, intent: NewOrder | ReplaceOrder) -> None:
        self.used_ids.add(intent.cl_ord_id)
        self.sent.append(self.now)
        if isinstance(intent, NewOrder):
            self.orders[intent.cl_ord_id] = TrueOrder(intent.side, intent.qty, intent.price)
        else:
            self.orders[intent.orig_cl_ord_id].pending = intent

    # --- the venue -----------------------------------------------------------------------------
    @rule(seed=st.integers(0, 2**32), count=st.integers(1, 8))
    def venue_answers(self, seed: int, count: int) -> None:
        rng = random.Random(seed)
        self._cancel_for_kills()
        for _ in range(count):
            if not self.orders:
                return
            cl_ord_id = rng.choice(sorted(self.orders))
            order = self.orders[cl_ord_id]
            action = rng.choice(("fill", "fill", "fill_all", "cancel", "replace", "reject"))
            if action in ("fill", "fill_all") and order.price is not None:
                qty = order.leaves if action == "fill_all" else rng.randint(1, order.leaves)
                self._fill(cl_ord_id, order, qty)
            elif action == "cancel" and order.cancel_id is not None:
                self._close(cl_ord_id, order, ExecType.CANCELED, OrdStatus.CANCELED,
                            order.cancel_id)
            elif action == "replace" and order.pending is not None:
                self._answer_replace(cl_ord_id, order, accept=rng.random() < 0.7)
            elif action == "reject" and order.cum == 0 and order.pending is None:
                self._close(cl_ord_id, order, ExecType.REJECTED, OrdStatus.REJECTED, cl_ord_id)

    def _cancel_for_kills(self) -> None:
        for cancel in self.kill_cancels:
            order = self.orders.get(cancel.orig_cl_ord_id)
            if order is not None:
                order.cancel_id = cancel.cl_ord_id
        self.kill_cancels.clear()

    def _fill(self, cl_ord_id: str, order: TrueOrder, qty: int) -> None:
        assert order.price is not None
        order.cum += qty
        self.position += int(order.side) * qty
        self.cash -= int(order.side) * qty * order.price * TICK
        self.our_fills.append((self.now, qty))
        status = OrdStatus.FILLED if order.leaves == 0 else OrdStatus.PARTIALLY_FILLED
        self._report(cl_ord_id, order, ExecType.TRADE, status, qty)
        if order.leaves == 0:
            del self.orders[cl_ord_id]
        self._assert_loss_limit()

    def _close(self, cl_ord_id: str, order: TrueOrder, exec_type: ExecType, status: OrdStatus,
               report_id: str) -> None:
        self._report(report_id, order, exec_type, status, orig=cl_ord_id, leaves=0)
        del self.orders[cl_ord_id]

    def _answer_replace(self, cl_ord_id: str, order: TrueOrder, accept: bool) -> None:
        pending = order.pending
        assert pending is not None
        order.pending = None
        if accept and pending.qty > order.cum:
            order.qty, order.price = pending.qty, pending.price
            status = OrdStatus.PARTIALLY_FILLED if order.cum else OrdStatus.NEW
            self._report(pending.cl_ord_id, order, ExecType.REPLACED, status, orig=cl_ord_id)
            del self.orders[cl_ord_id]
            self.orders[pending.cl_ord_id] = order
            return
        self.overlay.on_cancel_reject(CancelReject(pending.cl_ord_id, cl_ord_id, OrdStatus.NEW,
                                                   "0", "replace refused"), self.now)

    # --- the market, the clock and the operator -------------------------------------------------
    @rule(step=st.integers(-3, 3), spread=st.integers(0, 3), traded=st.integers(0, 3_000))
    def market_moves(self, step: int, spread: int, traded: int) -> None:
        mid = self.bid + step
        self.bid, self.ask = mid, mid + spread  # spread 0: a locked book, no fresh reference
        self._quote(traded)
        self._assert_loss_limit()

    @rule(ms=st.integers(0, 4_000))
    def clock_advances(self, ms: int) -> None:
        self.now += ms * 1_000_000

    @rule()
    def watchdog(self) -> None:
        self.overlay.watch(self.now)

    @rule(action=st.sampled_from(("kill", "resume", "reduce")))
    def operator(self, action: str) -> None:
        if action == "kill":
            self.overlay.engage_kill_switch("operator", self.now, KillTrigger.OPERATOR)
        elif action == "resume":
            self.overlay.resume("checked", "tester", self.now)
            self._assert_loss_limit()  # a resume past the loss limit halts again at once
        elif self.overlay.state is not TradingState.HALTED:
            self.overlay.set_reducing("closing out", self.now)

    # --- invariants ------------------------------------------------------------------------------
    def _assert_loss_limit(self) -> None:
        if -self._pnl() >= float(G.max_daily_loss) + 1e-6:
            assert self.overlay.state is TradingState.HALTED, "a loss past the limit"

    @invariant()
    def ledger_matches_the_venue(self) -> None:
        if not hasattr(self, "overlay"):
            return
        assert self.overlay.position(SYMBOL) == self.position
        assert len(self.overlay.open_orders()) == len(self.orders)


def test_no_order_escapes_the_overlay() -> None:
    runs = 0
    while intents_checked < MIN_INTENTS:
        runs += 1
        OverlayMachine.TestCase.settings = settings(
            max_examples=100, stateful_step_count=60, deadline=None, database=None,
            suppress_health_check=list(HealthCheck))
        OverlayMachine.TestCase().runTest()
        assert runs < 50, "the machine checks too few intents per run"
    assert intents_checked >= MIN_INTENTS
