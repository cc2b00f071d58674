"""Imbalance and microprice: hand-computed values, and both books agree on the same levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import BookUpdate, Side
from sim.matching import OrderBook


def _books(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) \
        -> tuple[OrderBook, DepthBook]:
    l3, l2 = OrderBook("T"), DepthBook("T")
    for n, (side, levels) in enumerate(((Side.BUY, bids), (Side.SELL, asks))):
        for i, (price, qty) in enumerate(levels):
            l3.add_limit(f"{n}-{i}", side, price, qty, 0)
            l2.apply(BookUpdate("T", side, price, l3.level_qty(side, price), 0))
    return l3, l2


def test_hand_computed_values() -> None:
    for book in _books([(100, 300), (99, 100)], [(102, 100), (103, 500)]):
        assert book.imbalance() == pytest.approx((300 - 100) / 400)
        assert book.imbalance(2) == pytest.approx((400 - 600) / 1000)
        # (100 x 100 + 102 x 300) / 400: a thin ask pulls the microprice toward it.
        assert book.microprice() == pytest.approx(101.5)


def test_empty_and_one_sided_books() -> None:
    for book in _books([], []):
        assert book.imbalance() is None and book.microprice() is None
    for book in _books([(100, 5)], []):
        assert book.imbalance() == 1.0 and book.microprice() is None


_SIDE_LEVELS = st.dictionaries(st.integers(1, 50), st.integers(1, 1_000), max_size=8)


@given(_SIDE_LEVELS, _SIDE_LEVELS, st.integers(1, 10))
def test_both_books_agree(bid_levels: dict[int, int], ask_levels: dict[int, int],
                          depth: int) -> None:
    asks = [(price + 50, qty) for price, qty in ask_levels.items()]  # never crossing the bids
    l3, l2 = _books(list(bid_levels.items()), asks)
    assert l3.imbalance(depth) == l2.imbalance(depth)
    assert l3.microprice() == l2.microprice()
    value = l3.imbalance(depth)
    assert value is None or -1.0 <= value <= 1.0
    micro = l3.microprice()
    if micro is not None:
        assert l3.best_bid() <= micro <= l3.best_ask()  # type: ignore[operator]
