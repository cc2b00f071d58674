"""Almgren-Chriss tilted by the price signal (``almgren_chriss_alpha``): faster when the signal
predicts an adverse move, patient for at most a slice when it predicts a favourable one,
Almgren-Chriss itself otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import BookUpdate, ParentOrder, Side
from models.actions import Action, ActionKind
from models.baselines import AlmgrenChrissPolicy, AlphaAlmgrenChrissPolicy
from models.policy import DecisionContext
from models.registry import make_policy

SECOND = 10**9
QTY, N_SLICES, HORIZON_S = 1000, 10, 100
# The book: bid 10,000, ask 10,010 ticks: a spread of about 10 bps, so the tilt's threshold
# (half the spread) is about 5 bps.
BID, ASK = 10_000, 10_010


def _ctx(now_s: float, signal_bps: float, side: Side = Side.SELL, filled: int = 0,
         book: DepthBook | None = None) -> DecisionContext:
    parent = ParentOrder("P", "GOOG", side, QTY, 0, HORIZON_S * SECOND, "test")
    parent.filled = filled
    if book is None:
        book = DepthBook("GOOG")
        book.apply(BookUpdate("GOOG", Side.BUY, BID, 10, 0))
        book.apply(BookUpdate("GOOG", Side.SELL, ASK, 10, 0))
    return DecisionContext(np.zeros(12, np.float32), parent, book, int(now_s * SECOND),
                           QTY // N_SLICES, N_SLICES, 0, 0, 0, signal_bps)


def test_with_no_or_a_weak_signal_it_is_almgren_chriss() -> None:
    alpha, plain = AlphaAlmgrenChrissPolicy(), AlmgrenChrissPolicy()
    for now in np.arange(0.0, 100.0, 2.5):
        for filled in (0, 50, 100, 300, 700, 990):
            for signal in (0.0, 4.0, -4.0):
                for side in (Side.BUY, Side.SELL):
                    ctx = _ctx(float(now), signal, side, filled)
                    assert alpha.act(ctx) == plain.act(ctx), (now, filled, signal, side)


@pytest.mark.parametrize("side, signal", [(Side.SELL, -8.0), (Side.BUY, 8.0)])
def test_an_adverse_prediction_crosses_the_current_slice_now(side: Side, signal: float) -> None:
    alpha = AlphaAlmgrenChrissPolicy()
    done = alpha.target(_ctx(0, 0.0), 1)  # the first slice done; 15 s in, the second's turn
    left = alpha.target(_ctx(0, 0.0), 2) - done
    assert alpha.act(_ctx(15, 0.0, side, done)) == Action(ActionKind.REST_NEAR, left)
    assert alpha.act(_ctx(15, signal, side, done)) == Action(ActionKind.CROSS, left)
    # Nothing beyond the current slice: once it is done, it waits for the next.
    assert alpha.act(_ctx(15, signal, side, done + left)).kind is ActionKind.WAIT


@pytest.mark.parametrize("side, signal", [(Side.SELL, 8.0), (Side.BUY, -8.0)])
def test_a_favourable_prediction_waits_one_slice_at_most(side: Side, signal: float) -> None:
    alpha = AlphaAlmgrenChrissPolicy()
    first = alpha.target(_ctx(0, 0.0), 1)
    # 15 s in with the first slice undone: plain AC crosses it, the tilt keeps resting.
    assert alpha.act(_ctx(15, 0.0, side)) == Action(ActionKind.CROSS, first)
    patient = alpha.act(_ctx(15, signal, side))
    assert patient == Action(ActionKind.REST_NEAR, alpha.target(_ctx(0, 0.0), 2))
    # Two slices behind, it crosses whatever the signal says.
    assert alpha.act(_ctx(25, signal, side)) == \
        Action(ActionKind.CROSS, alpha.target(_ctx(0, 0.0), 2))


def test_the_threshold_is_a_share_of_the_spread() -> None:
    tight = DepthBook("GOOG")
    tight.apply(BookUpdate("GOOG", Side.BUY, BID, 10, 0))
    tight.apply(BookUpdate("GOOG", Side.SELL, BID + 1, 10, 0))  # 1 bp: threshold 0.5 bp
    alpha = AlphaAlmgrenChrissPolicy()
    assert alpha.act(_ctx(15, -0.8, book=tight)).kind is ActionKind.CROSS
    assert alpha.act(_ctx(15, -0.8)).kind is ActionKind.CROSS  # the first slice is overdue
    assert alpha.act(_ctx(5, -0.8, book=tight)).kind is ActionKind.CROSS
    assert alpha.act(_ctx(5, -0.8)).kind is ActionKind.REST_NEAR  # under half of 10 bps
    one_sided = DepthBook("GOOG")
    one_sided.apply(BookUpdate("GOOG", Side.BUY, BID, 10, 0))
    assert alpha.act(_ctx(5, -80.0, book=one_sided)).kind is ActionKind.REST_NEAR


def test_it_is_built_by_name_and_urgency_tilts_it_too() -> None:
    policy = make_policy("almgren_chriss_alpha")
    assert isinstance(policy, AlphaAlmgrenChrissPolicy) and policy.name == "almgren_chriss_alpha"
    urgent = make_policy("almgren_chriss_alpha", urgency="high")
    assert isinstance(urgent, AlphaAlmgrenChrissPolicy)
    assert urgent.kappa > policy.kappa
    with pytest.raises(ValueError, match="threshold"):
        AlphaAlmgrenChrissPolicy(threshold_spreads=-1.0)
