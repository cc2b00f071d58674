"""Builders shared by the risk tests: limits as a dict (edited per test), an overlay on GOOG with
a $0.01 tick, and the intents and reports the tests feed it."""

from __future__ import annotations

import copy
import itertools
from decimal import Decimal
from typing import Any

from core.domain import (
    CancelOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from risk.limits import parse_limits
from risk.overlay import RiskOverlay

SYMBOL = "GOOG"
SECOND = 1_000_000_000
BASE_LIMITS: dict[str, Any] = {
    "global": {
        "max_open_orders": 8,
        "max_daily_loss": 10_000,
        "throttle": {"messages_per_second": 10, "burst": 20},
        "reject_storm": {"max_rejects": 3, "window_seconds": 10},
        "max_reference_age_seconds": 5,
        "stale_feed_seconds": 30,
        "restricted_symbols": ["BANNED"],
    },
    "symbols": {
        SYMBOL: {
            "max_order_qty": 1_000,
            "max_order_notional": 400_000,  # $: 689 shares at $580
            "price_collar_bps": 50,  # $2.90 around $580
            "max_long_position": 2_000,
            "max_short_position": 1_500,
            "max_open_orders": 5,
            "max_participation": None,
        },
        "BANNED": {
            "max_order_qty": 1, "max_order_notional": 1, "price_collar_bps": 1,
            "max_long_position": 1, "max_short_position": 1, "max_open_orders": 1,
            "max_participation": None,
        },
    },
}
INSTRUMENTS = {s: Instrument(s, Decimal("0.01")) for s in (SYMBOL, "BANNED", "OTHER")}


def limits_with(**changes: Any) -> dict[str, Any]:
    """BASE_LIMITS with dotted keys replaced: ``limits_with(**{"global.max_open_orders": 2})``."""
    limits = copy.deepcopy(BASE_LIMITS)
    for dotted, value in changes.items():
        node = limits
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    return limits


def roomy(**changes: Any) -> dict[str, Any]:
    """Limits whose size and notional caps stay out of the way of the control under test."""
    return limits_with(**{"symbols.GOOG.max_order_notional": 10**9,
                          "symbols.GOOG.max_order_qty": 10_000, **changes})


def make_overlay(limits: dict[str, Any] | None = None, bid: int = 57_999, ask: int = 58_001,
                 now: int = 0, **kwargs: Any) -> RiskOverlay:
    """An overlay with a fresh two-sided quote (mid 580.00) at ``now``."""
    overlay = RiskOverlay(parse_limits(limits or BASE_LIMITS), INSTRUMENTS, **kwargs)
    overlay.on_market_data(SYMBOL, bid, ask, now)
    return overlay


_ids = itertools.count(1)


def new(side: Side, qty: int, price: int | None = 58_000, symbol: str = SYMBOL,
        cl_ord_id: str | None = None) -> NewOrder:
    ord_type = OrdType.MARKET if price is None else OrdType.LIMIT
    return NewOrder(cl_ord_id or f"N{next(_ids)}", "P", symbol, side, qty, price, ord_type,
                    TimeInForce.DAY)


def replace(order: NewOrder | ReplaceOrder, qty: int, price: int) -> ReplaceOrder:
    return ReplaceOrder(f"R{next(_ids)}", order.cl_ord_id, "P", order.symbol, order.side, qty,
                        price)


def cancel(order: NewOrder | ReplaceOrder) -> CancelOrder:
    return CancelOrder(f"C{next(_ids)}", order.cl_ord_id, "P", order.symbol, order.side,
                       order.qty)


def report(order: NewOrder | ReplaceOrder, exec_type: ExecType, status: OrdStatus, cum: int,
           leaves: int, last_qty: int = 0, last_px: int | None = None,
           cl_ord_id: str | None = None, orig: str | None = None) -> ExecutionReport:
    return ExecutionReport(cl_ord_id or order.cl_ord_id, f"X{next(_ids)}", exec_type, status,
                           order.symbol, order.side, cum, leaves, last_qty, last_px,
                           orig_cl_ord_id=orig)


def fill(order: NewOrder, qty: int, price: int, cum: int | None = None) -> ExecutionReport:
    cum = qty if cum is None else cum
    status = OrdStatus.FILLED if cum >= order.qty else OrdStatus.PARTIALLY_FILLED
    return report(order, ExecType.TRADE, status, cum, order.qty - cum, qty, price)
