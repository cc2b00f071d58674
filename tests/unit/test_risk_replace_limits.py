"""RiskOverlay.replace_limits: new limits in force at once, all or nothing, and nothing the
overlay has seen forgotten (positions, open orders, quotes, tokens spent, traded volume)."""

from __future__ import annotations

import copy

import pytest

from core.domain import Side
from risk.limits import parse_limits
from risk.state import KillTrigger, TradingState
from risk.verdict import DenyReason
from tests.support.risk import BASE_LIMITS, SECOND, SYMBOL, fill, limits_with, make_overlay, new


def test_a_tighter_limit_applies_at_once_and_the_exposure_carries_over() -> None:
    overlay = make_overlay()
    bought = new(Side.BUY, 500)
    assert overlay.check(bought, 0).reason is None
    overlay.on_execution_report(fill(bought, 500, 58_000), 0)
    resting = new(Side.BUY, 200)
    assert overlay.check(resting, 0).reason is None

    overlay.replace_limits(parse_limits(limits_with(**{
        "symbols.GOOG.max_order_qty": 100, "symbols.GOOG.max_long_position": 790})), 0)

    assert overlay.check(new(Side.BUY, 101), 0).reason is DenyReason.MAX_ORDER_QTY
    # 500 held + 200 resting + 90 = 790: the quote, position and open order all carried over
    assert overlay.check(new(Side.BUY, 90), 0).reason is None
    assert overlay.check(new(Side.BUY, 1), 0).reason is DenyReason.MAX_POSITION
    assert overlay.position(SYMBOL) == 500
    assert overlay.limits.symbols[SYMBOL].max_order_qty == 100


def test_a_symbol_with_no_instrument_is_refused_and_nothing_changes() -> None:
    overlay = make_overlay()
    before = overlay.limits
    unknown = limits_with()
    unknown["symbols"]["AAPL"] = copy.deepcopy(BASE_LIMITS["symbols"][SYMBOL])
    unknown["symbols"][SYMBOL]["max_order_qty"] = 1
    with pytest.raises(ValueError, match=r"no instrument: \['AAPL'\]"):
        overlay.replace_limits(parse_limits(unknown), 0)
    assert overlay.limits is before
    assert overlay.check(new(Side.BUY, 2), 0).reason is None  # the old size limit holds


def test_only_a_flat_symbol_can_leave_the_limits() -> None:
    overlay = make_overlay()
    assert overlay.check(new(Side.BUY, 10), 0).reason is None  # GOOG now has an open order
    without_goog = limits_with()
    del without_goog["symbols"][SYMBOL]
    with pytest.raises(ValueError, match=r"\['GOOG'\] have a position or open orders"):
        overlay.replace_limits(parse_limits(without_goog), 0)

    without_banned = limits_with(**{"global.restricted_symbols": []})
    del without_banned["symbols"]["BANNED"]
    overlay.replace_limits(parse_limits(without_banned), 0)
    assert overlay.check(new(Side.BUY, 1, symbol="BANNED"), 0).reason is \
        DenyReason.UNKNOWN_SYMBOL


def test_a_symbol_added_can_trade_once_quoted() -> None:
    overlay = make_overlay()
    assert overlay.check(new(Side.BUY, 1, symbol="OTHER"), 0).reason is DenyReason.UNKNOWN_SYMBOL
    more = limits_with()
    more["symbols"]["OTHER"] = copy.deepcopy(BASE_LIMITS["symbols"][SYMBOL])
    overlay.replace_limits(parse_limits(more), 0)
    overlay.on_market_data("OTHER", 57_999, 58_001, 0)
    assert overlay.check(new(Side.BUY, 1, symbol="OTHER"), 0).reason is None
    assert overlay.position("OTHER") == 0


def test_a_daily_loss_past_a_lowered_limit_halts_at_once() -> None:
    overlay = make_overlay()
    bought = new(Side.BUY, 100)
    overlay.check(bought, 0)
    overlay.on_execution_report(fill(bought, 100, 58_000), 0)
    overlay.on_market_data(SYMBOL, 56_999, 57_001, SECOND)  # -$1,000 marked
    assert overlay.state is TradingState.ACTIVE
    overlay.replace_limits(parse_limits(limits_with(**{"global.max_daily_loss": 500})), SECOND)
    assert overlay.state is TradingState.HALTED
    assert overlay.kills == {KillTrigger.DAILY_LOSS: 1}


def test_a_smaller_burst_caps_the_tokens_saved_up() -> None:
    overlay = make_overlay(limits_with(**{"symbols.GOOG.max_open_orders": 8}))
    overlay.replace_limits(parse_limits(limits_with(**{
        "symbols.GOOG.max_open_orders": 8, "global.throttle.burst": 2,
        "global.throttle.messages_per_second": 0.001})), 0)
    assert [overlay.check(new(Side.BUY, 1), 0).reason for _ in range(3)] == \
        [None, None, DenyReason.THROTTLED]


@pytest.mark.parametrize("window_after, allowed", [(60, False), (120, True)])
def test_participation_keeps_the_volume_seen_when_its_window_changes(window_after: int,
                                                                     allowed: bool) -> None:
    participation = {"rate": 0.5, "window_seconds": 60}
    overlay = make_overlay(limits_with(**{"symbols.GOOG.max_participation": participation}))
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 0, traded_qty=1_000)
    overlay.replace_limits(parse_limits(limits_with(**{"symbols.GOOG.max_participation": {
        "rate": 0.5, "window_seconds": window_after}})), 0)
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 90 * SECOND)
    # 90 s later the 1,000 traded at 0 are out of a 60 s window and still in a 120 s one
    reason = overlay.check(new(Side.BUY, 500), 90 * SECOND).reason
    assert reason is (None if allowed else DenyReason.MAX_PARTICIPATION)


def test_a_time_too_long_to_count_is_refused_naming_the_key() -> None:
    overlay = make_overlay()
    with pytest.raises(ValueError, match=r"global\.stale_feed_seconds: 1e\+300 s is too long"):
        overlay.replace_limits(parse_limits(limits_with(**{"global.stale_feed_seconds": 1e300})),
                               0)
    assert overlay.limits.global_.stale_feed_seconds == 30


def test_limits_for_one_symbol_keep_its_section_and_the_global_ones() -> None:
    desk = copy.deepcopy(BASE_LIMITS)
    desk["symbols"]["AAPL"] = copy.deepcopy(desk["symbols"][SYMBOL])
    desk["symbols"]["AAPL"]["max_order_qty"] = 7
    limits = parse_limits(desk)
    aapl = limits.for_symbol("AAPL")
    assert set(aapl.symbols) == {"AAPL"} and aapl.symbols["AAPL"].max_order_qty == 7
    assert aapl.global_ == limits.global_
    with pytest.raises(ValueError, match="no section for MSFT \\(they name AAPL, BANNED, GOOG\\)"):
        limits.for_symbol("MSFT")
