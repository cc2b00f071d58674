"""Every risk control at its limit, one over and one under (mid 580.00, $0.01 tick)."""

from __future__ import annotations

import pytest

from core.domain import ExecType, OrdStatus, Side
from risk.limits import RiskConfigError, load_limits, parse_limits
from risk.verdict import DenyReason
from tests.support.risk import (
    SECOND,
    SYMBOL,
    cancel,
    fill,
    limits_with,
    make_overlay,
    new,
    replace,
    report,
    roomy,
)


def _reason(overlay, intent, now: int = 0):  # type: ignore[no-untyped-def]
    return overlay.check(intent, now).reason


@pytest.mark.parametrize("qty, allowed", [(999, True), (1_000, True), (1_001, False)])
def test_max_order_qty(qty: int, allowed: bool) -> None:
    overlay = make_overlay(limits_with(**{"symbols.GOOG.max_order_notional": 10**9}))
    assert _reason(overlay, new(Side.BUY, qty)) == (None if allowed else DenyReason.MAX_ORDER_QTY)


@pytest.mark.parametrize("qty, allowed", [(399, True), (400, True), (401, False)])
def test_max_order_notional(qty: int, allowed: bool) -> None:
    # 400 shares at $1,000.00 (100,000 ticks) is exactly the $400,000 limit; collar widened.
    overlay = make_overlay(limits_with(**{"symbols.GOOG.price_collar_bps": 10_000}),
                           bid=99_999, ask=100_001)
    assert _reason(overlay, new(Side.BUY, qty, 100_000)) == \
        (None if allowed else DenyReason.MAX_ORDER_NOTIONAL)


@pytest.mark.parametrize("price", [58_000, 58_001, 100_000, 57_143, 1])
def test_the_largest_order_qty_is_the_largest_the_check_allows(price: int) -> None:
    """Size and notional together, as the check judges them: one share more is denied."""
    overlay = make_overlay(limits_with(**{"symbols.GOOG.price_collar_bps": 10_000}),
                           bid=price - 1, ask=price + 1)
    largest = overlay.largest_order_qty(SYMBOL, price)
    assert 0 < largest <= 1_000
    assert _reason(overlay, new(Side.BUY, largest, price)) is None
    assert _reason(overlay, new(Side.BUY, largest + 1, price)) in (
        DenyReason.MAX_ORDER_QTY, DenyReason.MAX_ORDER_NOTIONAL)
    assert overlay.largest_order_qty("MSFT", price) == 0


def test_market_orders_are_valued_at_the_far_touch() -> None:
    overlay = make_overlay(limits_with(**{"symbols.GOOG.max_order_notional": 58_001}))
    assert _reason(overlay, new(Side.BUY, 100, None)) is None  # 100 x $580.01 = $58,001
    assert _reason(overlay, new(Side.BUY, 101, None)) is DenyReason.MAX_ORDER_NOTIONAL


@pytest.mark.parametrize("price, allowed", [(58_289, True), (58_290, True), (58_291, False),
                                            (57_710, True), (57_709, False)])
def test_price_collar_is_50_bps_either_side_of_the_mid(price: int, allowed: bool) -> None:
    overlay = make_overlay()  # mid 58,000 ticks; 50 bps = 290 ticks
    assert _reason(overlay, new(Side.SELL, 1, price)) == \
        (None if allowed else DenyReason.PRICE_COLLAR)


@pytest.mark.parametrize("age_s, allowed", [(4, True), (5, True), (6, False)])
def test_reference_must_be_fresh(age_s: int, allowed: bool) -> None:
    overlay = make_overlay()
    assert _reason(overlay, new(Side.BUY, 1), age_s * SECOND) == \
        (None if allowed else DenyReason.NO_REFERENCE_PRICE)


def test_no_reference_without_a_two_sided_quote() -> None:
    overlay = make_overlay()
    overlay.on_market_data(SYMBOL, None, 58_001, SECOND)
    assert _reason(overlay, new(Side.BUY, 1), 10 * SECOND) is DenyReason.NO_REFERENCE_PRICE


def test_a_one_sided_book_keeps_the_last_two_sided_quote_as_reference() -> None:
    # A book whose bid side empties for a moment (the simulated flow's can) must not break the
    # check: the market order is valued at the last two-sided quote's ask, 58,001.
    overlay = make_overlay(limits_with(**{"symbols.GOOG.max_order_notional": 58_001}))
    overlay.on_market_data(SYMBOL, None, 60_000, SECOND)
    assert _reason(overlay, new(Side.BUY, 100, None), 2 * SECOND) is None
    assert _reason(overlay, new(Side.BUY, 101, None), 2 * SECOND) is DenyReason.MAX_ORDER_NOTIONAL


@pytest.mark.parametrize("side, working, extra, allowed", [
    (Side.BUY, 1_000, 999, True), (Side.BUY, 1_000, 1_000, True), (Side.BUY, 1_000, 1_001, False),
    (Side.SELL, 1_000, 499, True), (Side.SELL, 1_000, 500, True), (Side.SELL, 1_000, 501, False),
])
def test_max_position_counts_orders_in_flight(side: Side, working: int, extra: int,
                                              allowed: bool) -> None:
    overlay = make_overlay(roomy())
    assert _reason(overlay, new(side, working)) is None  # unacknowledged, still counted
    assert _reason(overlay, new(side, extra)) == (None if allowed else DenyReason.MAX_POSITION)


def test_max_position_counts_fills() -> None:
    overlay = make_overlay(roomy())
    first = new(Side.BUY, 1_000)
    overlay.check(first, 0)
    overlay.on_execution_report(fill(first, 1_000, 58_000), 0)
    assert overlay.position(SYMBOL) == 1_000
    assert _reason(overlay, new(Side.BUY, 1_000)) is None
    assert _reason(overlay, new(Side.BUY, 1)) is DenyReason.MAX_POSITION


@pytest.mark.parametrize("open_before, allowed", [(4, True), (5, False)])
def test_max_open_orders_per_symbol(open_before: int, allowed: bool) -> None:
    overlay = make_overlay()
    for _ in range(open_before):
        assert _reason(overlay, new(Side.BUY, 1)) is None
    assert _reason(overlay, new(Side.BUY, 1)) == (None if allowed else DenyReason.MAX_OPEN_ORDERS)


def test_max_open_orders_global() -> None:
    overlay = make_overlay(limits_with(**{"global.max_open_orders": 5,
                                          "symbols.GOOG.max_open_orders": 5}))
    for _ in range(5):
        overlay.check(new(Side.BUY, 1), 0)
    assert _reason(overlay, new(Side.SELL, 1)) is DenyReason.MAX_OPEN_ORDERS


def test_closed_orders_free_their_slot_and_quantity() -> None:
    overlay = make_overlay()
    orders = [new(Side.BUY, 400) for _ in range(5)]
    for order in orders:
        overlay.check(order, 0)
    overlay.on_execution_report(report(orders[0], ExecType.CANCELED, OrdStatus.CANCELED, 0, 0,
                                       cl_ord_id="X", orig=orders[0].cl_ord_id), 0)
    assert overlay.open_orders()[orders[1].cl_ord_id] == (SYMBOL, Side.BUY, 400)
    assert _reason(overlay, new(Side.BUY, 400)) is None


@pytest.mark.parametrize("sent, allowed", [(19, True), (20, False)])
def test_throttle_burst(sent: int, allowed: bool) -> None:
    overlay = make_overlay(limits_with(**{"global.max_open_orders": 100,
                                          "symbols.GOOG.max_open_orders": 100}))
    for _ in range(sent):
        assert overlay.check(cancel(new(Side.BUY, 1)), 0).allowed  # cancels use tokens...
    verdict = overlay.check(new(Side.BUY, 1), 0)
    assert verdict.reason == (None if allowed else DenyReason.THROTTLED)
    assert overlay.check(cancel(new(Side.BUY, 1)), 0).allowed  # ...and always pass


def test_throttle_refills_at_the_configured_rate() -> None:
    overlay = make_overlay(limits_with(**{"global.max_open_orders": 100,
                                          "symbols.GOOG.max_open_orders": 100}))
    for _ in range(20):
        overlay.check(cancel(new(Side.BUY, 1)), 0)
    assert _reason(overlay, new(Side.BUY, 1), SECOND // 10 - 1) is DenyReason.THROTTLED
    assert _reason(overlay, new(Side.BUY, 1), SECOND // 10) is None  # 10/s: one token per 0.1 s


def test_duplicate_cl_ord_id_is_denied_even_after_the_order_closed() -> None:
    overlay = make_overlay()
    first = new(Side.BUY, 10, cl_ord_id="SAME")
    assert _reason(overlay, first) is None
    overlay.on_execution_report(fill(first, 10, 58_000), 0)
    assert _reason(overlay, new(Side.BUY, 10, cl_ord_id="SAME")) is DenyReason.DUPLICATE_CL_ORD_ID


def test_restricted_and_unknown_symbols() -> None:
    overlay = make_overlay()
    assert _reason(overlay, new(Side.BUY, 1, symbol="BANNED")) is DenyReason.RESTRICTED_SYMBOL
    assert _reason(overlay, new(Side.BUY, 1, symbol="OTHER")) is DenyReason.UNKNOWN_SYMBOL


@pytest.mark.parametrize("qty, price", [(0, 58_000), (-5, 58_000), (5, 0), (5, -1)])
def test_invalid_orders(qty: int, price: int) -> None:
    assert _reason(make_overlay(), new(Side.BUY, qty, price)) is DenyReason.INVALID_ORDER


@pytest.mark.parametrize("window_volume, allowed", [(3_999, False), (4_000, True)])
def test_max_participation(window_volume: int, allowed: bool) -> None:
    overlay = make_overlay(roomy(**{"symbols.GOOG.max_participation": {
        "rate": 0.25, "window_seconds": 60}}))
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 0, traded_qty=window_volume)
    assert _reason(overlay, new(Side.SELL, 1_000)) == \
        (None if allowed else DenyReason.MAX_PARTICIPATION)


def test_participation_window_forgets_old_volume() -> None:
    overlay = make_overlay(roomy(**{"symbols.GOOG.max_participation": {
        "rate": 0.25, "window_seconds": 60}}))
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 0, traded_qty=4_000)
    overlay.on_market_data(SYMBOL, 57_999, 58_001, 60 * SECOND)
    assert _reason(overlay, new(Side.SELL, 1_000), 60 * SECOND) is DenyReason.MAX_PARTICIPATION


def test_replace_counts_the_larger_of_old_and_new_until_acknowledged() -> None:
    overlay = make_overlay(roomy())
    order = new(Side.BUY, 1_000)
    overlay.check(order, 0)
    bigger = replace(order, 1_000, 58_001)
    assert _reason(overlay, bigger) is None
    assert overlay.open_orders()[order.cl_ord_id][2] == 1_000
    assert _reason(overlay, new(Side.BUY, 1_001)) is DenyReason.MAX_POSITION
    overlay.on_execution_report(report(bigger, ExecType.REPLACED, OrdStatus.NEW, 0, 1_000,
                                       orig=order.cl_ord_id), 0)
    assert _reason(overlay, new(Side.BUY, 1_000)) is None


def test_replace_of_an_unknown_order_is_denied() -> None:
    overlay = make_overlay()
    assert _reason(overlay, replace(new(Side.BUY, 5), 5, 58_000)) is DenyReason.UNKNOWN_ORDER


def test_rejected_replace_restores_the_old_quantity() -> None:
    from core.domain import CancelReject

    overlay = make_overlay(roomy())
    order = new(Side.BUY, 500)
    overlay.check(order, 0)
    bigger = replace(order, 1_500, 58_000)
    assert _reason(overlay, bigger) is None
    assert _reason(overlay, new(Side.BUY, 600)) is DenyReason.MAX_POSITION
    overlay.on_cancel_reject(CancelReject(bigger.cl_ord_id, order.cl_ord_id, OrdStatus.NEW,
                                          "1", "too late"), 0)
    assert _reason(overlay, new(Side.BUY, 600)) is None  # 500 + 600 <= 2,000 again


def test_duplicate_execution_reports_are_applied_once() -> None:
    overlay = make_overlay(roomy())
    order = new(Side.BUY, 100)
    overlay.check(order, 0)
    execution = fill(order, 100, 58_000)
    overlay.on_execution_report(execution, 0)
    overlay.on_execution_report(execution, 0)
    assert overlay.position(SYMBOL) == 100


def test_limits_file_errors_name_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RiskConfigError, match=r"symbols\.GOOG\.max_participation"):
        parse_limits(limits_with(**{"symbols.GOOG": {k: v for k, v in limits_with()[
            "symbols"]["GOOG"].items() if k != "max_participation"}}))
    with pytest.raises(RiskConfigError, match=r"global\.throttle\.burst"):
        parse_limits(limits_with(**{"global.throttle.burst": 0}))
    with pytest.raises(RiskConfigError, match="stale_feed_seconds"):
        parse_limits(limits_with(**{"global.stale_feed_seconds": 1}))
    with pytest.raises(RiskConfigError, match="does not exist"):
        load_limits(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("global: [")
    with pytest.raises(RiskConfigError, match="not valid YAML"):
        load_limits(bad)


def test_shipped_limit_files_are_valid() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "deploy" / "risk"
    for path in sorted(root.glob("*.yaml")):
        assert load_limits(path).symbols, path
