"""The price signal's features (models/signal_features.py): what each one reads from the book
and the messages, on hand-built books whose answers are known."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import BookUpdate, MarketData, Side, Trade
from models.signal_features import (
    N_SIGNAL_FEATURES,
    SIGNAL_FEATURE_NAMES,
    SIGNAL_SPEC_HASH,
    SignalTracker,
    new_signal_buffer,
)

SECOND = 10**9
T0 = 1_700_000_000 * SECOND
COL = {name: i for i, name in enumerate(SIGNAL_FEATURE_NAMES)}


def _message(ts: int, levels: list[tuple[Side, int, int]],
             trades: tuple[Trade, ...] = (), snapshot: bool = False) -> MarketData:
    return MarketData("GOOG", ts, tuple(BookUpdate("GOOG", side, price, qty, ts)
                                        for side, price, qty in levels), trades, snapshot)


def _feed(tracker: SignalTracker, book: DepthBook, message: MarketData) -> np.ndarray:
    book.apply_market_data(message)
    tracker.update(book, message)
    return tracker.write(new_signal_buffer(), book)


def _two_level_book() -> list[tuple[Side, int, int]]:
    return [(Side.BUY, 10_000, 300), (Side.BUY, 9_999, 500),
            (Side.SELL, 10_002, 100), (Side.SELL, 10_003, 100)]


def test_zeros_until_a_two_sided_book() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    out = _feed(tracker, book, _message(T0, [(Side.BUY, 10_000, 300)], snapshot=True))
    assert not tracker.ready()
    assert not out.any()


def test_imbalances_microprice_and_spread_read_the_book() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    out = _feed(tracker, book, _message(T0, _two_level_book(), snapshot=True))
    assert out[COL["imbalance_1"]] == np.float32((300 - 100) / 400)
    assert out[COL["imbalance_2"]] == np.float32((800 - 200) / 1000)
    # Deeper than the book: everything shown counts.
    assert out[COL["imbalance_10"]] == out[COL["imbalance_2"]]
    mid = 10_001.0
    assert out[COL["spread"]] == np.float32(2 / mid * 1e4)
    micro = (10_000 * 100 + 10_002 * 300) / 400
    assert math.isclose(out[COL["microprice_dev"]], (micro - mid) / mid * 1e4, rel_tol=1e-5)


def test_a_level_one_book_gives_the_deep_imbalances_the_touch_value() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    out = _feed(tracker, book, _message(T0, [(Side.BUY, 10_000, 300), (Side.SELL, 10_002, 100)],
                                        snapshot=True))
    for name in ("imbalance_2", "imbalance_3", "imbalance_5", "imbalance_10"):
        assert out[COL[name]] == out[COL["imbalance_1"]]


def test_order_flow_imbalance_depletion_and_trade_flow_carry_their_signs() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    _feed(tracker, book, _message(T0, _two_level_book(), snapshot=True))
    # Bids added at the touch: buying pressure (OFI > 0), nothing depleted.
    out = _feed(tracker, book, _message(T0 + 1, [(Side.BUY, 10_000, 500)]))
    assert out[COL["ofi_1s"]] > 0 and out[COL["ofi_10s"]] > 0
    assert out[COL["bid_depletion"]] == 0
    # The ask queue eaten by a buyer: depletion on the ask, OFI up again, trade flow up.
    out = _feed(tracker, book, _message(T0 + 2, [(Side.SELL, 10_002, 40)],
                                        (Trade("GOOG", 10_002, 60, Side.BUY, T0 + 2),)))
    assert out[COL["ask_depletion"]] > 0 and out[COL["bid_depletion"]] == 0
    assert out[COL["trade_flow_1s"]] > 0
    flow = out[COL["trade_flow_1s"]]
    # One second later with nothing new, a 1 s decayed sum has fallen to 1/e.
    out = _feed(tracker, book, _message(T0 + 2 + SECOND, []))
    assert math.isclose(out[COL["trade_flow_1s"]], flow / math.e, rel_tol=1e-5)


def test_mid_moves_show_in_returns_and_volatility() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    _feed(tracker, book, _message(T0, _two_level_book(), snapshot=True))
    out = _feed(tracker, book, _message(T0 + SECOND // 10, [(Side.BUY, 10_001, 100)]))
    assert out[COL["mid_change_1s"]] > 0 and out[COL["mid_change_10s"]] > 0
    assert out[COL["volatility"]] > 0


def test_a_trade_without_an_aggressor_is_signed_by_the_quote_rule() -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    _feed(tracker, book, _message(T0, _two_level_book(), snapshot=True))
    out = _feed(tracker, book, _message(T0 + 1, [], (Trade("GOOG", 10_000, 50, None, T0 + 1),)))
    assert out[COL["trade_flow_1s"]] < 0  # at the bid, below the mid: a seller


levels = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(9_990, 10_010),
                   st.integers(0, 5_000))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * SECOND), st.lists(levels, max_size=6),
                          st.lists(st.tuples(st.integers(9_990, 10_010), st.integers(1, 900),
                                             st.sampled_from([Side.BUY, Side.SELL, None])),
                                   max_size=2)), max_size=60))
def test_any_message_sequence_gives_finite_bounded_features(steps: list) -> None:
    tracker, book = SignalTracker(), DepthBook("GOOG")
    ts = T0
    for gap, updates, prints in steps:
        ts += gap
        trades = tuple(Trade("GOOG", price, qty, side, ts) for price, qty, side in prints)
        out = _feed(tracker, book, _message(ts, updates, trades))
        assert out.shape == (N_SIGNAL_FEATURES,)
        assert np.isfinite(out).all()
        assert (np.abs(out) <= 1000).all()


def test_the_spec_hash_is_a_hash_of_the_definition() -> None:
    assert len(SIGNAL_SPEC_HASH) == 16 and int(SIGNAL_SPEC_HASH, 16) >= 0
