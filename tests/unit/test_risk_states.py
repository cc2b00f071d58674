"""Trading states, the kill switch and what fires it by itself."""

from __future__ import annotations

import logging

import pytest

from core.domain import CancelOrder, ExecType, OrdStatus, Side
from risk.state import KillTrigger, TradingState
from risk.verdict import DenyReason
from tests.support.risk import (
    SECOND,
    SYMBOL,
    cancel,
    fill,
    limits_with,
    make_overlay,
    new,
    report,
    roomy,
)


class KillRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[CancelOrder], KillTrigger, str]] = []

    def __call__(self, cancels: list[CancelOrder], trigger: KillTrigger, reason: str) -> None:
        self.calls.append((cancels, trigger, reason))


def test_kill_switch_halts_and_cancels_every_working_order() -> None:
    kills = KillRecorder()
    overlay = make_overlay(on_kill=kills)
    orders = [new(Side.BUY, 10), new(Side.SELL, 20)]
    for order in orders:
        overlay.check(order, 0)
    cancels = overlay.engage_kill_switch("operator pressed it", 0)
    assert overlay.state is TradingState.HALTED
    assert sorted(c.orig_cl_ord_id for c in cancels) == sorted(o.cl_ord_id for o in orders)
    assert kills.calls == [(cancels, KillTrigger.OPERATOR, "operator pressed it")]
    assert overlay.check(new(Side.BUY, 1), 0).reason is DenyReason.HALTED
    assert overlay.check(cancel(orders[0]), 0).allowed


def test_resume_needs_an_operator_and_a_reason() -> None:
    overlay = make_overlay()
    overlay.engage_kill_switch("test", 0)
    with pytest.raises(ValueError, match="operator and a reason"):
        overlay.resume(" ", "alice", 0)
    with pytest.raises(ValueError, match="operator and a reason"):
        overlay.resume("checked", "", 0)
    overlay.resume("checked the venue", "alice", 0)
    assert overlay.state is TradingState.ACTIVE
    assert overlay.check(new(Side.BUY, 1), 0).allowed


def test_reducing_allows_only_orders_that_reduce_the_position() -> None:
    overlay = make_overlay(roomy())
    bought = new(Side.BUY, 300)
    overlay.check(bought, 0)
    overlay.on_execution_report(fill(bought, 300, 58_000), 0)
    overlay.set_reducing("end of day", 0)
    assert overlay.check(new(Side.BUY, 1), 0).reason is DenyReason.REDUCING_ONLY
    assert overlay.check(new(Side.SELL, 301), 0).reason is DenyReason.REDUCING_ONLY
    assert overlay.check(new(Side.SELL, 200), 0).allowed
    assert overlay.check(new(Side.SELL, 100), 0).allowed  # 300 in flight: exactly flat
    assert overlay.check(new(Side.SELL, 1), 0).reason is DenyReason.REDUCING_ONLY


def test_reducing_cannot_be_entered_from_halted() -> None:
    overlay = make_overlay()
    overlay.engage_kill_switch("test", 0)
    with pytest.raises(ValueError, match="halted"):
        overlay.set_reducing("later", 0)


def test_daily_loss_breach_fires_the_kill_switch() -> None:
    # Bought 1,000 at $580.00; the mid falls to $570.01 ($9,990 down), then to $570.00: a
    # $10,000 loss, the limit.
    kills = KillRecorder()
    overlay = make_overlay(roomy(),
                           on_kill=kills)
    bought = new(Side.BUY, 1_000)
    overlay.check(bought, 0)
    overlay.on_execution_report(fill(bought, 1_000, 58_000), 0)
    overlay.on_market_data(SYMBOL, 57_000, 57_002, SECOND)
    assert overlay.state is TradingState.ACTIVE
    assert overlay.pnl() == pytest.approx(-9_990)
    overlay.on_market_data(SYMBOL, 56_999, 57_001, 2 * SECOND)
    assert overlay.state is TradingState.HALTED
    assert kills.calls[0][1] is KillTrigger.DAILY_LOSS


def test_realised_loss_counts_too() -> None:
    overlay = make_overlay(roomy(**{"symbols.GOOG.price_collar_bps": 10_000}))
    bought, sold = new(Side.BUY, 1_000, 58_000), new(Side.SELL, 1_000, 57_000)
    overlay.check(bought, 0)
    overlay.on_execution_report(fill(bought, 1_000, 58_000), 0)
    overlay.check(sold, 0)
    overlay.on_execution_report(fill(sold, 1_000, 57_000), 0)
    assert overlay.position(SYMBOL) == 0
    assert overlay.pnl() == pytest.approx(-10_000)
    assert overlay.state is TradingState.HALTED


@pytest.mark.parametrize("spacing_s, halted", [(4, True), (6, False)])
def test_reject_storm(spacing_s: int, halted: bool) -> None:
    overlay = make_overlay(limits_with(**{"global.max_reference_age_seconds": 30}))
    for i in range(3):  # 3 rejects within 10 s engage it; 6 s apart they do not
        order = new(Side.BUY, 1)
        overlay.check(order, i * spacing_s * SECOND)
        overlay.on_execution_report(report(order, ExecType.REJECTED, OrdStatus.REJECTED, 0, 0),
                                    i * spacing_s * SECOND)
    assert (overlay.state is TradingState.HALTED) is halted
    assert (KillTrigger.REJECT_STORM in overlay.kills) is halted


def test_stale_feed_fires_only_with_orders_working() -> None:
    overlay = make_overlay()
    overlay.watch(60 * SECOND)
    assert overlay.state is TradingState.ACTIVE  # nothing working: nothing at risk
    overlay.check(new(Side.BUY, 1), 0)
    overlay.watch(30 * SECOND)
    assert overlay.state is TradingState.ACTIVE
    overlay.watch(30 * SECOND + 1)
    assert overlay.state is TradingState.HALTED
    assert overlay.kills == {KillTrigger.STALE_FEED: 1}


def test_lost_session_halts_and_orders_stay_counted_until_reported() -> None:
    overlay = make_overlay(roomy())
    order = new(Side.BUY, 1_500)
    overlay.check(order, 0)
    cancels = overlay.on_session_lost(SECOND)
    assert overlay.state is TradingState.HALTED and len(cancels) == 1
    assert overlay.unknown_orders() == 1
    overlay.on_session_restored(2 * SECOND)
    assert overlay.state is TradingState.HALTED  # never resumes by itself
    overlay.resume("session back, orders reconciled", "alice", 3 * SECOND)
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 3 * SECOND)
    assert overlay.check(new(Side.BUY, 501), 3 * SECOND).reason is DenyReason.MAX_POSITION
    overlay.on_execution_report(report(order, ExecType.CANCELED, OrdStatus.CANCELED, 0, 0), 0)
    assert overlay.unknown_orders() == 0
    assert overlay.check(new(Side.BUY, 501), 3 * SECOND).allowed


def test_denials_are_counted_by_reason_through_the_hook() -> None:
    seen: list[DenyReason] = []
    overlay = make_overlay(on_denial=seen.append)
    overlay.check(new(Side.BUY, 10_000), 0)
    overlay.check(new(Side.BUY, 1, 99_000), 0)
    assert seen == [DenyReason.MAX_ORDER_QTY, DenyReason.PRICE_COLLAR]
    assert overlay.denials == {DenyReason.MAX_ORDER_QTY: 1, DenyReason.PRICE_COLLAR: 1}


def test_state_changes_are_reported() -> None:
    changes: list[TradingState] = []
    overlay = make_overlay(on_state_change=lambda state, _reason: changes.append(state))
    overlay.set_reducing("close out", 0)
    overlay.engage_kill_switch("test", 0)
    overlay.resume("ok", "bob", 0)
    assert changes == [TradingState.REDUCING, TradingState.HALTED, TradingState.ACTIVE]


def test_a_feed_stop_is_a_warning_only_when_unexpected(
        caplog: pytest.LogCaptureFixture) -> None:
    overlay = make_overlay()
    with caplog.at_level(logging.INFO, logger="execagent.risk.overlay"):
        overlay.stop_symbol(SYMBOL, "feed fix:GOOG is connecting", expected=True)
        assert not overlay.check(new(Side.BUY, 10), 0).allowed  # stopped all the same
        overlay.clear_symbol_stop(SYMBOL)
        overlay.stop_symbol(SYMBOL, "feed fix:GOOG is stale")
        overlay.clear_symbol_stop(SYMBOL)
    levels = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records
              if r.getMessage().startswith("new orders")]
    assert levels == [("INFO", "new orders on GOOG stopped"),
                      ("INFO", "new orders on GOOG allowed again"),
                      ("WARNING", "new orders on GOOG stopped"),
                      ("WARNING", "new orders on GOOG allowed again")]
