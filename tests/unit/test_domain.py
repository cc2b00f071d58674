from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import Instrument, OrdStatus, ParentOrder, Side

GOOG = Instrument("GOOG", Decimal("0.01"))


def test_price_conversion_is_exact() -> None:
    assert GOOG.to_ticks("580.01") == 58001
    assert GOOG.to_price(58001) == Decimal("580.01")


@pytest.mark.parametrize("bad", ["580.005", "abc", "NaN", "Infinity", ""])
def test_off_grid_or_non_numeric_price_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="GOOG"):
        GOOG.to_ticks(bad)


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_ticks_round_trip(ticks: int) -> None:
    assert GOOG.to_ticks(GOOG.to_price(ticks)) == ticks


def test_instrument_refuses_non_positive_tick() -> None:
    with pytest.raises(ValueError, match="tick size"):
        Instrument("X", Decimal("0"))


def test_side_fix_codes_and_sign() -> None:
    assert Side.from_fix("1") is Side.BUY and Side.BUY.fix == "1" and int(Side.BUY) == 1
    assert Side.from_fix("2") is Side.SELL and int(Side.SELL) == -1
    with pytest.raises(ValueError, match="Side"):
        Side.from_fix("5")


def test_parent_order_validates_quantity_and_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        ParentOrder("p", "GOOG", Side.SELL, 0, 0, 1, "twap")
    with pytest.raises(ValueError, match="end after"):
        ParentOrder("p", "GOOG", Side.SELL, 10, 5, 5, "twap")
    parent = ParentOrder("p", "GOOG", Side.SELL, 10, 0, 1, "twap")
    parent.filled = 4
    assert parent.remaining == 6


def test_terminal_statuses() -> None:
    """Exactly the statuses after which an order can no longer trade; every other is live."""
    terminal = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED,
                OrdStatus.DONE_FOR_DAY, OrdStatus.REPLACED}
    assert {status for status in OrdStatus if status.is_terminal} == terminal
