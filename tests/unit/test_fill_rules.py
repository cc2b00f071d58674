"""The fill checks (core/fill_rules.py): what makes a fill believable, each reason not to
believe one, and the fill a report without LastQty/LastPx carries."""

from __future__ import annotations

import pytest

from core.domain import (
    ChildOrder,
    ExecType,
    ExecutionReport,
    OrdStatus,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
)
from core.fill_rules import (
    BAND,
    LIMIT,
    OVERFILL,
    PARENT_OVERFILL,
    PRICE,
    SIDE,
    TICK_GRID,
    FillClaim,
    check_fill,
    fill_claim,
)

MID = 58_001.0  # 580.01, in ticks of $0.01
BAND_BPS = 500.0


def _order(side: Side = Side.SELL, qty: int = 200, price: int | None = 58_002,
           cum: int = 0) -> ChildOrder:
    return ChildOrder("C1", "P1", "GOOG", side, qty, price, OrdType.LIMIT, TimeInForce.DAY,
                      OrdStatus.NEW, cum, cum * (price or 0))


def _parent(qty: int = 1_000, filled: int = 0) -> ParentOrder:
    return ParentOrder("P1", "GOOG", Side.SELL, qty, 0, 10**12, "twap", filled=filled)


def _codes(claim: FillClaim, order: ChildOrder | None = None, parent: ParentOrder | None = None,
           reference: float | None = MID) -> set[str]:
    doubts = check_fill(claim, order or _order(), parent or _parent(), reference, BAND_BPS)
    return {doubt.code for doubt in doubts}


def test_a_fill_at_or_better_than_the_limit_near_the_mid_is_believed() -> None:
    assert _codes(FillClaim(200, 58_002, "", Side.SELL)) == set()
    assert _codes(FillClaim(100, 58_010, "", Side.SELL)) == set()  # a sell above its limit
    assert _codes(FillClaim(100, 57_990, "", Side.BUY), _order(Side.BUY, price=58_000)) == set()


@pytest.mark.parametrize(("claim", "code"), [
    (FillClaim(100, 58_002, "", Side.BUY), SIDE),  # a BUY fill on a SELL order
    (FillClaim(100, -58_000, "", Side.SELL), PRICE),  # -580.00
    (FillClaim(100, 0, "", Side.SELL), PRICE),
    (FillClaim(100, None, "580.005", Side.SELL), TICK_GRID),
    (FillClaim(100, 57_990, "", Side.SELL), LIMIT),  # a sell below its limit of 580.02
    (FillClaim(100, 9_999_999_999_999, "", Side.SELL), BAND),  # 99,999,999,999.99
    (FillClaim(201, 58_002, "", Side.SELL), OVERFILL),
])
def test_each_reason_not_to_believe_a_fill(claim: FillClaim, code: str) -> None:
    assert code in _codes(claim)


def test_a_buy_through_its_limit_and_fills_past_the_parent_are_doubted() -> None:
    assert _codes(FillClaim(100, 58_001, "", Side.BUY), _order(Side.BUY, price=58_000)) == {LIMIT}
    assert _codes(FillClaim(100, 58_002, "", Side.SELL),
                  parent=_parent(qty=1_000, filled=950)) == {PARENT_OVERFILL}


def test_the_order_quantity_caps_the_sum_of_its_fills() -> None:
    # Five fills of 25 under distinct ExecIDs on a 50-share order: the third is one too many.
    order = _order(qty=50, cum=50)
    assert _codes(FillClaim(25, 58_002, "", Side.SELL), order) == {OVERFILL}
    # A 166-share order reported filled 1,660.
    assert OVERFILL in _codes(FillClaim(1_660, 58_002, "", Side.SELL), _order(qty=166))


def test_without_a_book_the_band_is_around_the_orders_limit_and_while_replacing_either_holds(
        ) -> None:
    assert _codes(FillClaim(100, 9_999_999_999_999, "", Side.SELL), reference=None) == {BAND}
    replacing = _order(qty=200, price=58_002)
    replacing.pending_cl_ord_id, replacing.pending_qty, replacing.pending_price = "C2", 300, 57_995
    assert _codes(FillClaim(250, 57_995, "", Side.SELL), replacing) == set()


def _report(cum: int, avg: float | None, last_qty: int = 0,
            last_px: int | None = None) -> ExecutionReport:
    return ExecutionReport("C1", "E1", ExecType.FILL_42, OrdStatus.PARTIALLY_FILLED, "GOOG",
                           Side.SELL, cum, 200 - cum, last_qty, last_px, avg_px_ticks=avg)


def test_a_fill_without_last_qty_is_the_cum_qty_step_priced_by_avg_px() -> None:
    first = fill_claim(_order(), _report(cum=120, avg=58_002.0))
    assert first == FillClaim(120, 58_002, "", Side.SELL, derived=True)
    # A second fill: 80 more, the average now 580.015 over 200, so the 80 went at 580.01.
    second = fill_claim(_order(cum=120, price=58_002), _report(cum=200, avg=58_001.6))
    assert second == FillClaim(80, 58_001, "", Side.SELL, derived=True)
    # Nothing new: no fill.
    assert fill_claim(_order(cum=120), _report(cum=120, avg=58_002.0)) is None


def test_last_qty_without_last_px_is_priced_by_avg_px() -> None:
    claim = fill_claim(_order(), _report(cum=50, avg=58_003.0, last_qty=50))
    assert claim == FillClaim(50, 58_003, "", Side.SELL, derived=True)
    assert fill_claim(_order(), _report(cum=50, avg=None, last_qty=50)) is None
