"""The book past a file's depth: an order that takes every level a file shows finds the hidden
levels behind them, the agent's side of the book never empties by its own hand, what it took
there is not there twice, and a book the agent has not touched shows exactly the file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from core.domain import Side
from sim.hidden_levels import HiddenLevels, hidden_levels
from sim.lobster import open_sample
from sim.replay import ReplayMarket
from tests.support.lobster_files import AAPL, GOOG, write_sample

# A touch-only file: asks at $100.10 (10,010 ticks), bids at $100.00 (10,000 ticks).
MESSAGES = ["34200.0,1,1,200,1001000,-1", "34201.0,1,2,50,1000000,1",
            "34202.0,1,3,300,1001000,-1", "34203.0,3,3,300,1001000,-1"]
BOOKS = ["1001000,200,1000000,100", "1001000,200,1000000,150",
         "1001000,500,1000000,150", "1001000,200,1000000,150"]
# The deepest (here the only) level's median size, both sides pooled: 100, 150, 150, 150,
# 200, 200, 200, 500.
HIDDEN_QTY = 175
# What the LOBSTER samples give (docs/simulator.md): GOOG's two deepest levels are a median 3
# ticks apart, and both files' deepest level holds a median 100 shares.
GOOG_GAP, GOOG_QTY, AAPL_QTY = 3, 100, 100


def _touch_only(tmp_path: Path, hidden: bool = True) -> ReplayMarket:
    sample = open_sample(write_sample(tmp_path, 1, MESSAGES, BOOKS))
    return ReplayMarket(sample) if hidden else ReplayMarket(sample, hidden=None)


def test_a_touch_only_file_has_a_one_tick_gap_and_its_median_touch_size(
        tmp_path: Path) -> None:
    sample = open_sample(write_sample(tmp_path, 1, MESSAGES, BOOKS))
    assert hidden_levels(sample) == HiddenLevels(gap_ticks=1, qty=HIDDEN_QTY)


def test_taking_the_only_level_leaves_the_hidden_one_in_view(tmp_path: Path) -> None:
    market = _touch_only(tmp_path)
    assert market.view(Side.SELL) == {10_010: 200}  # untouched: the file as recorded
    _, fills = market.submit(Side.BUY, 200, 10_020)
    assert [(f.price, f.qty) for f in fills] == [(10_010, 200)]
    assert market.view(Side.SELL) == {10_011: HIDDEN_QTY}
    assert market.view(Side.BUY) == {10_000: 100}


def test_without_hidden_levels_the_same_order_empties_the_side(tmp_path: Path) -> None:
    market = _touch_only(tmp_path, hidden=False)
    market.submit(Side.BUY, 200, 10_020)
    assert market.view(Side.SELL) == {}


def test_an_order_walks_into_the_hidden_levels_up_to_its_limit(tmp_path: Path) -> None:
    market = _touch_only(tmp_path)
    order_id, fills = market.submit(Side.BUY, 600, 10_012)
    assert [(f.price, f.qty, f.passive) for f in fills] == [
        (10_010, 200, False), (10_011, HIDDEN_QTY, False), (10_012, HIDDEN_QTY, False)]
    resting = market.order(order_id)
    assert resting is not None and resting.leaves == 600 - 200 - 2 * HIDDEN_QTY
    # A market order walks as far as it must: the agent alone never empties the side.
    _, fills = market.submit(Side.SELL, 10_000)
    assert sum(f.qty for f in fills) == 10_000
    # 100 at the touch, 56 hidden levels whole (9,800), 100 of the 57th, whose 75 are left.
    assert [f.price for f in fills] == list(range(10_000, 10_000 - 58, -1))
    assert market.view(Side.BUY) == {10_000 - 57: 75, 10_012: 50}  # its own resting buy too


def test_hidden_shares_taken_stay_taken_while_the_book_behind_them_stands(
        tmp_path: Path) -> None:
    market = _touch_only(tmp_path)
    market.submit(Side.BUY, 200 + HIDDEN_QTY, 10_011)
    market.step()  # a bid arrives: the asks are as they were
    assert market.view(Side.SELL) == {10_012: HIDDEN_QTY}
    _, fills = market.submit(Side.BUY, 10, 10_011, ioc=True)
    assert fills == []  # nothing left at 10,011 to take again
    market.step()  # 300 more join the ask: the touch shows what the agent did not take
    assert market.view(Side.SELL) == {10_010: 300}


def test_a_side_not_at_full_depth_has_nothing_behind_it(tmp_path: Path) -> None:
    books = ["1001000,200,-9999999999,0", *BOOKS[1:]]
    sample = open_sample(write_sample(tmp_path, 1, MESSAGES, books))
    market = ReplayMarket(sample)
    assert list(market.book_levels(Side.BUY)) == []
    _, fills = market.submit(Side.SELL, 50)
    assert fills == []


def test_hidden_levels_go_on_behind_the_asks_and_stop_short_of_a_zero_bid() -> None:
    hidden = HiddenLevels(gap_ticks=2, qty=5)
    assert list(hidden.behind(Side.BUY, 5)) == [(3, 5), (1, 5)]
    assert list(itertools.islice(hidden.behind(Side.SELL, 5), 4)) == \
        [(7, 5), (9, 5), (11, 5), (13, 5)]
    assert [hidden.qty_at(Side.SELL, 5, p) for p in (3, 5, 6, 7, 9)] == [0, 0, 0, 5, 5]
    assert [hidden.qty_at(Side.BUY, 5, p) for p in (7, 5, 4, 3, 1, -1)] == [0, 0, 0, 5, 5, 0]


@pytest.mark.parametrize("gap, qty", [(0, 1), (1, 0), (-1, 5)])
def test_hidden_levels_need_a_positive_gap_and_size(gap: int, qty: int) -> None:
    with pytest.raises(ValueError, match="positive gap and size"):
        HiddenLevels(gap, qty)


@pytest.mark.skipif(not GOOG.exists() or not AAPL.exists(),
                    reason="shared market data not found")
def test_the_estimates_on_the_lobster_samples() -> None:
    """GOOG's ten levels give the spacing of its two deepest; AAPL's touch only one tick."""
    assert hidden_levels(open_sample(GOOG)) == HiddenLevels(gap_ticks=GOOG_GAP, qty=GOOG_QTY)
    assert hidden_levels(open_sample(AAPL)) == HiddenLevels(gap_ticks=1, qty=AAPL_QTY)


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
def test_a_ten_level_book_shows_ten_levels_and_the_hidden_one_only_when_one_is_taken() -> None:
    market = ReplayMarket(open_sample(GOOG), start_ns=None)
    for _ in range(2_000):
        market.step()
    asks = market.book.asks
    assert len(asks) == 10 and market.view(Side.SELL) == dict(asks)
    best, qty = asks[0]
    market.submit(Side.BUY, qty, best)
    hidden = hidden_levels(open_sample(GOOG))
    assert market.view(Side.SELL) == dict(asks[1:]) | {asks[-1][0] + hidden.gap_ticks:
                                                        hidden.qty}
