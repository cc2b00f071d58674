"""The independent pre-trade risk overlay.

It sits between every child order and the gateway and answers each intent with a
:class:`~risk.verdict.Verdict`; a check never raises. Its view of positions and open orders is
its own :class:`~risk.ledger.Ledger`, built from execution reports. Cancels always pass. Times
are nanoseconds from the caller's clock (the engine passes event time), so a replay gives the
same verdicts.

Controls run in a fixed order and the first that fails names the denial; the token bucket is
last, so a denied order never spends a message token. docs/risk.md lists every control, its
limit key and the rule that asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from core.domain import (
    CancelOrder,
    CancelReject,
    ChildOrder,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrderIntent,
    ReplaceOrder,
    Side,
)
from core.windows import SlidingSum, TokenBucket
from risk.ledger import Exposure, Ledger, TrackedOrder
from risk.limits import RiskLimits, SymbolLimits
from risk.state import KillTrigger, TradingState
from risk.verdict import ALLOW, DenyReason, Verdict

log = logging.getLogger(f"execagent.{__name__}")

KillHandler = Callable[[list[CancelOrder], KillTrigger, str], None]


# Enum members bound once, as Final module constants: reading ``Side.BUY`` costs about 0.2 µs
# interpreted, and compiled (native-modules.txt) a Final constant is a C static rather than a
# look-up in the module's dict; the check's budget is 5 µs at p99.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_HALTED: Final = TradingState.HALTED
_REDUCING: Final = TradingState.REDUCING
_R_HALTED: Final = DenyReason.HALTED
_R_REDUCING: Final = DenyReason.REDUCING_ONLY
_R_INVALID: Final = DenyReason.INVALID_ORDER
_R_DUPLICATE: Final = DenyReason.DUPLICATE_CL_ORD_ID
_R_UNKNOWN_ORDER: Final = DenyReason.UNKNOWN_ORDER
_R_RESTRICTED: Final = DenyReason.RESTRICTED_SYMBOL
_R_HELD: Final = DenyReason.SYMBOL_HELD
_R_FEED: Final = DenyReason.FEED_NOT_LIVE
_R_UNKNOWN_SYMBOL: Final = DenyReason.UNKNOWN_SYMBOL
_R_QTY: Final = DenyReason.MAX_ORDER_QTY
_R_REFERENCE: Final = DenyReason.NO_REFERENCE_PRICE
_R_COLLAR: Final = DenyReason.PRICE_COLLAR
_R_NOTIONAL: Final = DenyReason.MAX_ORDER_NOTIONAL
_R_POSITION: Final = DenyReason.MAX_POSITION
_R_OPEN_ORDERS: Final = DenyReason.MAX_OPEN_ORDERS
_R_PARTICIPATION: Final = DenyReason.MAX_PARTICIPATION
_R_THROTTLED: Final = DenyReason.THROTTLED


def _ns(seconds: float, key: str) -> int:
    """``seconds`` in nanoseconds; a ValueError naming ``key`` when no int can hold it."""
    try:
        return int(seconds * 1e9)
    except OverflowError:
        raise ValueError(f"{key}: {seconds:g} s is too long") from None


@dataclass(slots=True)
class _Symbol:
    """Everything one symbol's check reads, behind one dict lookup: its limits as plain
    numbers, its market reference and recent volume, and its exposure in the ledger."""

    exposure: Exposure
    max_order_qty: int
    max_long: int
    max_short: int
    max_open_orders: int
    collar: float  # fraction of the mid
    max_notional: float
    participation_rate: float | None
    bid: int | None = None
    ask: int | None = None
    updated_ns: int | None = None
    volume: SlidingSum | None = None  # market volume, for participation
    ours: SlidingSum | None = None  # our fills, for participation


class RiskOverlay:
    def __init__(
        self,
        limits: RiskLimits,
        instruments: Mapping[str, Instrument],
        on_denial: Callable[[DenyReason], None] | None = None,
        on_state_change: Callable[[TradingState, str], None] | None = None,
        on_kill: KillHandler | None = None,
    ) -> None:
        missing = sorted(set(limits.symbols) - set(instruments))
        if missing:
            raise ValueError(f"risk limits name symbols with no instrument: {missing}")
        self.limits = limits
        self.instruments = dict(instruments)
        self._on_denial = on_denial
        self._on_state_change = on_state_change
        self.on_kill = on_kill  # public: the engine connects its cancel sender here
        # Told the held symbols whenever they change (the service keeps them in the store).
        self.on_holds_change: Callable[[dict[str, str]], None] | None = None
        self._state = TradingState.ACTIVE
        g = limits.global_
        # Symbols held because a fill on them could not be believed, with why (hold_symbol).
        # They join the restricted ones, so that the check's allowed path pays nothing for them.
        self._holds: dict[str, str] = {}
        self._restricted = frozenset(g.restricted_symbols)
        self._max_daily_loss = float(g.max_daily_loss)
        self._max_reference_age_ns = int(g.max_reference_age_seconds * 1e9)
        self._stale_feed_ns = int(g.stale_feed_seconds * 1e9)
        self._throttle = TokenBucket(g.throttle.messages_per_second, g.throttle.burst)
        self._rejects = SlidingSum(g.reject_storm.window_seconds)
        self._max_open_orders = g.max_open_orders
        # Symbols whose feed is not to be trusted now (stale, resyncing), with why: new orders
        # and replaces stop, cancels pass, and it clears by itself (see stop_symbol).
        self._feed_stops: dict[str, str] = {}
        self._expected_stops: set[str] = set()  # stops of a start-up or a shutdown
        self.ledger = Ledger({s: float(self.instruments[s].lot_tick_value)
                              for s in limits.symbols})
        self._symbols = {s: self._new_symbol(lim, self.ledger.exposure[s])
                         for s, lim in limits.symbols.items()}
        self.denials: dict[DenyReason, int] = {}
        self.kills: dict[KillTrigger, int] = {}
        self._kill_ids = 0

    @staticmethod
    def _new_symbol(limits: SymbolLimits, exposure: Exposure) -> _Symbol:
        p = limits.max_participation
        entry = _Symbol(exposure, limits.max_order_qty, limits.max_long_position,
                        limits.max_short_position, limits.max_open_orders,
                        limits.price_collar_bps / 1e4, float(limits.max_order_notional),
                        p.rate if p else None)
        if p is not None:
            entry.volume, entry.ours = SlidingSum(p.window_seconds), SlidingSum(p.window_seconds)
        return entry

    def replace_limits(self, limits: RiskLimits, now_ns: int) -> None:
        """Put ``limits`` in force at once, all or nothing: a ValueError names the problem and
        leaves the old limits in force. What the overlay has seen carries over (positions, open
        orders, quotes, the message bucket's level capped at the new burst, recent rejects and
        traded volume), so a change never forgets exposure. A symbol may leave the limits only
        with no position and no open order, or its exposure would stop being checked and
        marked. Participation switched on starts with no market volume seen: it denies until
        volume trades. A daily loss already past a lowered limit halts at once."""
        missing = sorted(set(limits.symbols) - set(self.instruments))
        if missing:
            raise ValueError(f"risk limits name symbols with no instrument: {missing}")
        held = sorted(s for s in set(self._symbols) - set(limits.symbols)
                      if self.ledger.exposure[s].position or self.ledger.exposure[s].open_orders)
        if held:
            raise ValueError(f"symbols {held} have a position or open orders: keep their "
                             "limits (global.restricted_symbols stops new orders in them)")
        g = limits.global_
        reference_age_ns = _ns(g.max_reference_age_seconds, "global.max_reference_age_seconds")
        stale_feed_ns = _ns(g.stale_feed_seconds, "global.stale_feed_seconds")
        reject_window_ns = _ns(g.reject_storm.window_seconds, "global.reject_storm.window_seconds")
        for symbol, lim in limits.symbols.items():
            if lim.max_participation is not None:
                _ns(lim.max_participation.window_seconds,
                    f"symbols.{symbol}.max_participation.window_seconds")
        exposures = {s: self.ledger.exposure.get(s)
                     or Exposure(float(self.instruments[s].lot_tick_value))
                     for s in limits.symbols}
        symbols = {s: self._new_symbol(lim, exposures[s]) for s, lim in limits.symbols.items()}
        for symbol, entry in symbols.items():
            old = self._symbols.get(symbol)
            if old is None:
                continue
            entry.bid, entry.ask, entry.updated_ns = old.bid, old.ask, old.updated_ns
            if entry.volume is not None and old.volume is not None and old.ours is not None:
                old.volume.window_ns = old.ours.window_ns = entry.volume.window_ns
                entry.volume, entry.ours = old.volume, old.ours
        # Nothing below can fail: the change is whole or not at all.
        self._throttle.refill(now_ns)  # tokens accrued so far, at the old rate
        self._throttle.rate_per_ns = g.throttle.messages_per_second / 1e9
        self._throttle.burst = float(g.throttle.burst)
        self._throttle.tokens = min(self._throttle.tokens, self._throttle.burst)
        self._rejects.window_ns = reject_window_ns
        self._restricted = frozenset(g.restricted_symbols) | frozenset(self._holds)
        self._max_daily_loss = float(g.max_daily_loss)
        self._max_reference_age_ns = reference_age_ns
        self._stale_feed_ns = stale_feed_ns
        self._max_open_orders = g.max_open_orders
        self.ledger.exposure.update(exposures)
        self._symbols = symbols
        self.limits = limits
        self._check_loss(now_ns)

    # --- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self._state

    def position(self, symbol: str) -> int:
        exposure = self.ledger.exposure.get(symbol)
        return exposure.position if exposure else 0

    def pnl(self) -> float:
        return self.ledger.pnl()

    def open_orders(self) -> dict[str, tuple[str, Side, int]]:
        """Open orders by current ClOrdID: (symbol, side, open quantity as counted)."""
        return {o.current_id: (o.symbol, o.side, o.counted)
                for o in self.ledger.open_order_list()}

    def _set_state(self, state: TradingState, reason: str) -> None:
        if state is self._state:
            return
        log.warning("trading state %s -> %s: %s", self._state.value, state.value, reason)
        self._state = state
        if self._on_state_change is not None:
            self._on_state_change(state, reason)

    def engage_kill_switch(self, reason: str, now_ns: int,
                           trigger: KillTrigger = KillTrigger.OPERATOR) -> list[CancelOrder]:
        """HALTED, and a cancel for every working order. The cancels go to ``on_kill`` when one
        is set (the engine sends them) and are returned either way."""
        self._set_state(TradingState.HALTED, f"kill switch ({trigger.value}): {reason}")
        self.kills[trigger] = self.kills.get(trigger, 0) + 1
        cancels = []
        for order in self.ledger.open_order_list():
            self._kill_ids += 1
            cancel_id = f"KILL-{now_ns}-{self._kill_ids}"
            self.ledger.note_cancel(cancel_id)
            cancels.append(CancelOrder(cancel_id, order.current_id, "", order.symbol,
                                       order.side, order.qty))
        log.error("kill switch engaged (%s): %s; cancelling %d orders", trigger.value, reason,
                  len(cancels))
        if self.on_kill is not None:
            self.on_kill(cancels, trigger, reason)
        return cancels

    def resume(self, reason: str, operator: str, now_ns: int) -> None:
        """Back to ACTIVE: only ever an explicit operator action, with a reason. A daily loss
        past its limit halts again at once: that limit holds until the overlay is restarted
        for the next trading day."""
        if not reason.strip() or not operator.strip():
            raise ValueError("resuming trading needs an operator and a reason")
        if self._holds:
            log.warning("symbols %s released by %s: %s", sorted(self._holds), operator, reason)
            self._holds.clear()
            self._restricted = frozenset(self.limits.global_.restricted_symbols)
            self._report_holds()
        self._set_state(TradingState.ACTIVE, f"resumed by {operator}: {reason}")
        self._check_loss(now_ns)

    # --- symbols held for fills that could not be believed ---------------------------------
    def hold_symbol(self, symbol: str, reason: str) -> None:
        """No new orders or replaces on ``symbol`` (cancels pass) until an operator resumes:
        a fill on it failed its checks, so its position is in doubt. Unlike a feed stop it
        never clears by itself; unlike the kill switch it cancels nothing and stops one
        symbol."""
        if symbol in self._holds:
            return
        log.error("new orders on %s held: %s", symbol, reason)
        self._holds[symbol] = reason
        self._restricted = self._restricted | {symbol}
        self._report_holds()

    def held_symbols(self) -> dict[str, str]:
        return dict(self._holds)

    def restore_holds(self, holds: dict[str, str]) -> None:
        """Holds recorded before a restart (the store keeps them: only an operator lifts one)."""
        for symbol, reason in holds.items():
            self.hold_symbol(symbol, reason)

    def _report_holds(self) -> None:
        if self.on_holds_change is not None:
            self.on_holds_change(dict(self._holds))

    def set_reducing(self, reason: str, now_ns: int) -> None:
        if self._state is TradingState.HALTED:
            raise ValueError("trading is halted: resume it before switching to reducing")
        self._set_state(TradingState.REDUCING, reason)

    def restore(self, open_orders: list[ChildOrder],
                fills: list[tuple[str, str, Side, int, int]],
                state: TradingState, reason: str) -> None:
        """Take back, after a restart, what the store recorded: fills (ExecID, symbol, side,
        quantity, price) into positions and the day's P&L, working orders (as unknown until the
        venue answers for them), and the trading state with its reason (a halt survives a
        restart; resuming stays an operator's act). The message throttle and the reject-storm
        window start empty: both span seconds, less than a restart takes."""
        for exec_id, symbol, side, qty, price in fills:
            if symbol in self.ledger.exposure:
                self.ledger.restore_fill(exec_id, symbol, side, qty, price)
        for order in open_orders:
            if order.symbol in self.ledger.exposure:
                self.ledger.restore_order(order)
        self._set_state(state, reason)

    def on_session_lost(self, now_ns: int) -> list[CancelOrder]:
        """The kill switch fires; working orders count as unknown (and keep counting against
        every limit) until execution reports say what became of them."""
        unknown = self.ledger.mark_all_unknown()
        return self.engage_kill_switch(f"FIX session lost with {unknown} orders working",
                                       now_ns, KillTrigger.SESSION_LOST)

    def on_session_restored(self, now_ns: int) -> None:
        """Nothing resumes by itself: an operator must resume after a loss."""

    def unknown_orders(self) -> int:
        return sum(1 for o in self.ledger.open_order_list() if o.unknown)

    # --- per-symbol feed stops ----------------------------------------------------------------
    def stop_symbol(self, symbol: str, reason: str, expected: bool = False) -> None:
        """No new orders or replaces on ``symbol`` until :meth:`clear_symbol_stop`: its feed
        says its book is not the market's (stale, resyncing). Unlike the kill switch this
        cancels nothing and needs no operator: the feed that raised it clears it on recovery.
        Working orders stay (a cancel always passes); if the silence lasts, the stale-feed kill
        switch (``global.stale_feed_seconds``) remains the last resort. ``expected``: the stop
        is the normal course of things (a start-up, whose feed has not been live yet, or the
        service's own shutdown), logged (with the clearance that ends it) at INFO rather than
        as a warning: nothing alarming is logged when nothing is wrong."""
        if symbol not in self._feed_stops:
            log.log(logging.INFO if expected else logging.WARNING,
                    "new orders on %s stopped: %s", symbol, reason)
            if expected:
                self._expected_stops.add(symbol)
        self._feed_stops[symbol] = reason

    def clear_symbol_stop(self, symbol: str) -> None:
        if self._feed_stops.pop(symbol, None) is not None:
            expected = symbol in self._expected_stops
            self._expected_stops.discard(symbol)
            log.log(logging.INFO if expected else logging.WARNING,
                    "new orders on %s allowed again: its feed is live", symbol)

    def largest_order_qty(self, symbol: str, price: int) -> int:
        """The largest quantity one order of ``symbol`` at ``price`` (ticks) may carry under
        ``max_order_qty`` and ``max_order_notional``, as :meth:`check` judges them; 0 for a
        symbol with no limits."""
        entry = self._symbols.get(symbol)
        if entry is None:
            return 0
        qty = entry.max_order_qty
        if price > 0:
            lot_tick = price * entry.exposure.tick_value
            qty = min(qty, int(entry.max_notional // lot_tick))
            while qty > 0 and qty * lot_tick > entry.max_notional:
                qty -= 1
        return qty

    def stopped_symbols(self) -> dict[str, str]:
        """Symbols stopped by their feed, with the reason."""
        return dict(self._feed_stops)

    # --- market data and time --------------------------------------------------------------------
    def on_market_data(self, symbol: str, bid: int | None, ask: int | None, now_ns: int,
                       traded_qty: int = 0) -> None:
        entry = self._symbols.get(symbol)
        if entry is None:
            return
        # The reference is the last two-sided quote: a one-sided or crossed book keeps the
        # previous one, which ages out after max_reference_age like any other.
        if bid is not None and ask is not None and bid < ask:
            entry.bid, entry.ask = bid, ask
            entry.updated_ns = now_ns
            entry.exposure.mark = (bid + ask) / 2
        if entry.volume is not None and traded_qty > 0:
            entry.volume.add(now_ns, traded_qty)
        self._check_loss(now_ns)

    def watch(self, now_ns: int) -> None:
        """Periodic duties: the stale-feed kill. The caller's ``now_ns`` must keep moving when
        no market data arrives (the engine extrapolates event time with the wall clock)."""
        if self._state is _HALTED:
            return
        for symbol, entry in self._symbols.items():
            if entry.exposure.open_orders == 0:
                continue
            if entry.updated_ns is None or now_ns - entry.updated_ns > self._stale_feed_ns:
                self.engage_kill_switch(f"no fresh quote for {symbol} with orders working",
                                        now_ns, KillTrigger.STALE_FEED)
                return

    # --- the check ------------------------------------------------------------------------------
    def check(self, intent: OrderIntent, now_ns: int) -> Verdict:  # noqa: C901 - one function, said why
        """Allow or deny one intent; every control in docs/risk.md's order, in one function.

        One function on purpose: the budget is 5 µs at p99 on a slow 2-core VM, where a Python
        call costs about 0.1 µs and reading an enum member another 0.1 µs, so the controls read
        locals and module constants and a denial only packs its values (see :meth:`_deny`).
        """
        # The fields are read through an untyped name and their types checked before use:
        # compiled (native-modules.txt), reading ``intent.qty`` as the int it is declared to
        # be would raise TypeError on a float or a NumPy integer, and a check never raises.
        fields: Any = intent
        if isinstance(intent, CancelOrder):
            cancel_id: object = fields.cl_ord_id
            if isinstance(cancel_id, str):  # (a malformed one cannot be sent, but it passes)
                self.ledger.note_cancel(cancel_id)
            self._throttle.take(now_ns)  # cancels spend a token when there is one, never wait
            return ALLOW
        state = self._state
        if state is _HALTED:
            return self._deny(intent, _R_HALTED, "trading is halted")
        raw_qty: object = fields.qty
        raw_price: object = fields.price
        raw_symbol: object = fields.symbol
        raw_id: object = fields.cl_ord_id
        raw_orig: object = fields.orig_cl_ord_id if type(intent) is ReplaceOrder else ""
        if not isinstance(raw_qty, int) or (raw_price is not None and
                                            not isinstance(raw_price, int)) \
                or not isinstance(raw_symbol, str) or not isinstance(raw_id, str) \
                or not isinstance(raw_orig, str):
            return self._deny(intent, _R_INVALID, "quantity {!r} and price {!r} must be "
                              "integers (shares, ticks), symbol {!r} and ClOrdID {!r} strings",
                              raw_qty, raw_price, raw_symbol, raw_id)
        qty, price, side, symbol = raw_qty, raw_price, intent.side, raw_symbol
        if qty <= 0 or (price is not None and price <= 0):
            return self._deny(intent, _R_INVALID, "quantity {} and price {} must be positive",
                              qty, price)
        ledger = self.ledger
        if raw_id in ledger.seen_cl_ord_ids:
            return self._deny(intent, _R_DUPLICATE, "ClOrdID {} was used before", raw_id)
        order: TrackedOrder | None = None
        if type(intent) is ReplaceOrder:
            order = ledger.orders.get(raw_orig)
            if order is None or order.pending_id is not None or order.symbol != symbol \
                    or order.side is not side:
                return self._deny(intent, _R_UNKNOWN_ORDER, "{} is not an open order without "
                                  "a replace in flight", intent.orig_cl_ord_id)
        if symbol in self._restricted:
            if symbol in self._holds:
                return self._deny(intent, _R_HELD, "{} is held: {}", symbol,
                                  self._holds[symbol])
            return self._deny(intent, _R_RESTRICTED, "{} is restricted", symbol)
        if symbol in self._feed_stops:
            return self._deny(intent, _R_FEED, "{}'s feed: {}", symbol, self._feed_stops[symbol])
        entry = self._symbols.get(symbol)
        if entry is None:
            return self._deny(intent, _R_UNKNOWN_SYMBOL, "no limits for {}", symbol)
        if qty > entry.max_order_qty:
            return self._deny(intent, _R_QTY, "{} > max_order_qty {}", qty, entry.max_order_qty)
        updated = entry.updated_ns
        if updated is None or now_ns - updated > self._max_reference_age_ns:
            return self._deny(intent, _R_REFERENCE, "no two-sided quote for {} in the last "
                              "{:g} s", symbol, self._max_reference_age_ns / 1e9)
        bid, ask = entry.bid, entry.ask
        assert bid is not None and ask is not None
        mid = (bid + ask) / 2
        if price is None:  # a market order prices at the far touch
            price = ask if side is _BUY else bid
        elif abs(price - mid) > entry.collar * mid:
            return self._deny(intent, _R_COLLAR, "price {} is more than {:g} bps from mid {:g}",
                              price, entry.collar * 1e4, mid)
        exposure = entry.exposure
        notional = qty * price * exposure.tick_value  # lots x ticks x money per lot-tick
        if notional > entry.max_notional:
            return self._deny(intent, _R_NOTIONAL, "notional {:,.2f} > max_order_notional "
                              "{:,.2f}", notional, entry.max_notional)
        if order is None:
            added = qty
        else:
            added = max(qty - order.cum, 0) - order.counted
            if added < 0:
                added = 0
        side_open = (exposure.working_buy if side is _BUY else exposure.working_sell) + added
        position = exposure.position
        if state is _REDUCING:
            reduces = (position > 0 and side is _SELL) or (position < 0 and side is _BUY)
            if not reduces or side_open > abs(position):
                return self._deny(intent, _R_REDUCING,
                                  "only orders that reduce the position are allowed")
        worst = position + side_open if side is _BUY else position - side_open
        if worst > entry.max_long or -worst > entry.max_short:
            return self._deny(intent, _R_POSITION, "position could reach {} (limits +{} / -{})",
                              worst, entry.max_long, entry.max_short)
        if order is None:
            if exposure.open_orders >= entry.max_open_orders:
                return self._deny(intent, _R_OPEN_ORDERS, "{} open in {} (max {})",
                                  exposure.open_orders, symbol, entry.max_open_orders)
            if ledger.open_orders >= self._max_open_orders:
                return self._deny(intent, _R_OPEN_ORDERS, "{} open in all (max {})",
                                  ledger.open_orders, self._max_open_orders)
        rate = entry.participation_rate
        if rate is not None:
            ours_window, market_window = entry.ours, entry.volume
            assert ours_window is not None and market_window is not None
            # SlidingSum.current inlined: most checks fall between two expiries.
            ours = (ours_window.total if now_ns < ours_window.expires_ns
                    else ours_window.expire(now_ns))
            ours += exposure.working_buy + exposure.working_sell + added
            market = (market_window.total if now_ns < market_window.expires_ns
                      else market_window.expire(now_ns))
            if ours > rate * market:
                return self._deny(intent, _R_PARTICIPATION, "{} of our shares against {} "
                                  "traded in the window exceeds {:.0%}", ours, market, rate)
        bucket = self._throttle
        tokens = bucket.refill(now_ns)
        if tokens < 1.0:
            return self._deny(intent, _R_THROTTLED, "more than {:g} messages per second",
                              bucket.rate_per_ns * 1e9)
        bucket.tokens = tokens - 1.0
        # The fields go on as the values already checked: reading them again costs more here
        # than the rest of recording the order.
        if order is None:
            ledger.add_new(raw_id, symbol, side, qty, raw_price)
        else:
            assert raw_price is not None  # a replace is always priced (ReplaceOrder.price)
            ledger.add_replace(raw_id, qty, raw_price, order)
        return ALLOW

    def _deny(self, intent: NewOrder | ReplaceOrder, reason: DenyReason, template: str,
              *values: object) -> Verdict:
        """Count the denial, log its 1st, 2nd, 4th, 8th... occurrence (visible, never a flood)
        and answer with the template and values, formatted only if someone reads them."""
        verdict = Verdict(False, reason, template, values)
        count = self.denials.get(reason, 0) + 1
        self.denials[reason] = count
        if count & (count - 1) == 0:
            fields: Any = intent  # untyped: the ids of an invalid intent may be of any type
            log.warning("risk denied %s %s (%s, %d so far): %s", fields.cl_ord_id,
                        fields.symbol, reason.value, count, verdict.detail)
        if self._on_denial is not None:
            self._on_denial(reason)
        return verdict

    # --- execution reports --------------------------------------------------------------------
    def on_execution_report(self, report: ExecutionReport, now_ns: int) -> None:
        effect = self.ledger.on_execution_report(report)
        entry = self._symbols.get(report.symbol)
        if effect.filled and entry is not None and entry.ours is not None:
            entry.ours.add(now_ns, effect.filled)
        if effect.rejected:
            self._rejects.add(now_ns, 1)
            storm = self.limits.global_.reject_storm
            if self._rejects.total >= storm.max_rejects and \
                    self._state is not _HALTED:
                self.engage_kill_switch(f"{self._rejects.total} venue rejects within "
                                        f"{storm.window_seconds:g} s", now_ns,
                                        KillTrigger.REJECT_STORM)
        if effect.filled:
            self._check_loss(now_ns)

    def on_cancel_reject(self, reject: CancelReject, now_ns: int) -> None:
        self.ledger.on_cancel_reject(reject)

    def mark_unknown(self, cl_ord_id: str) -> None:
        """A report about the order could not be read: unknown until the venue reports on it."""
        self.ledger.mark_unknown(cl_ord_id)

    def on_replace_taken_as_new(self, cl_ord_id: str) -> None:
        """The venue took our replace ``cl_ord_id`` as a new order: the original stays open as
        it was, and the replace is an open order of its own."""
        self.ledger.split_replace(cl_ord_id)

    def _check_loss(self, now_ns: int) -> None:
        if self._state is _HALTED:
            return
        pnl = self.ledger.pnl()
        if -pnl >= self._max_daily_loss:
            self.engage_kill_switch(f"daily loss {-pnl:,.2f} reached max_daily_loss "
                                    f"{self._max_daily_loss:,.2f}", now_ns,
                                    KillTrigger.DAILY_LOSS)
