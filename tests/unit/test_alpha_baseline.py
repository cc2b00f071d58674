"""Almgren-Chriss tilted by the price signal (``almgren_chriss_alpha``): faster when the signal
predicts an adverse move, patient for at most a slice when it predicts a favourable one,
Almgren-Chriss itself otherwise; a tilt, once taken, held for a minimum dwell."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import (
    BookUpdate,
    CancelOrder,
    ChildOrder,
    NewOrder,
    OrdStatus,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from models.actions import Action, ActionKind, translate
from models.baselines import AlmgrenChrissPolicy, AlphaAlmgrenChrissPolicy
from models.policy import DecisionContext
from models.registry import make_policy

SECOND = 10**9
QTY, N_SLICES, HORIZON_S = 1000, 10, 100
# The book: bid 10,000, ask 10,010 ticks: a spread of about 10 bps, so the tilt's threshold
# (half the spread) is about 5 bps.
BID, ASK = 10_000, 10_010


def _book() -> DepthBook:
    book = DepthBook("GOOG")
    book.apply(BookUpdate("GOOG", Side.BUY, BID, 10, 0))
    book.apply(BookUpdate("GOOG", Side.SELL, ASK, 10, 0))
    return book


def _parent(side: Side = Side.SELL) -> ParentOrder:
    return ParentOrder("P", "GOOG", side, QTY, 0, HORIZON_S * SECOND, "test")


def _ctx(now_s: float, signal_bps: float, side: Side = Side.SELL, filled: int = 0,
         book: DepthBook | None = None, parent: ParentOrder | None = None) -> DecisionContext:
    if parent is None:
        parent = _parent(side)
        parent.filled = filled
    return DecisionContext(np.zeros(12, np.float32), parent, book or _book(),
                           int(now_s * SECOND), QTY // N_SLICES, N_SLICES, 0, 0, 0, signal_bps)


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
    with pytest.raises(ValueError, match="dwell"):
        AlphaAlmgrenChrissPolicy(min_dwell_s=math.nan)


# A signal either side of the threshold (about 5 bps against a sale), as when resting the
# parent's own order at the touch pushes the prediction over and cancelling it pulls it back.
ADVERSE_TO_A_SALE, UNDER_THE_THRESHOLD = -6.0, -4.0


def _messages_while_the_signal_flickers(policy: AlphaAlmgrenChrissPolicy) -> int:
    """Intents ``translate`` sends over two seconds of ticks 10 ms apart whose signal crosses
    the threshold on every tick, against a venue that answers each message at once (an IOC
    fills whole, a cancel cancels)."""
    book, parent = _book(), _parent()
    parent.filled = AlphaAlmgrenChrissPolicy().target(_ctx(0, 0.0), 1)  # 15 s in: slice 2's turn
    working: list[ChildOrder] = []
    ids = iter(range(1_000_000))
    sent = 0
    for tick in range(200):
        signal = UNDER_THE_THRESHOLD if tick % 2 == 0 else ADVERSE_TO_A_SALE
        action = policy.act(_ctx(15 + tick / 100, signal, parent=parent, book=book))
        intents = translate(action, parent, book, working, lambda: f"C{next(ids)}")
        sent += len(intents)
        for intent in intents:
            if isinstance(intent, CancelOrder):
                working = [o for o in working if o.cl_ord_id != intent.orig_cl_ord_id]
            elif isinstance(intent, NewOrder) and intent.tif is TimeInForce.IOC:
                parent.filled += intent.qty
            elif isinstance(intent, NewOrder):
                working.append(ChildOrder(intent.cl_ord_id, parent.parent_id, "GOOG",
                                          parent.side, intent.qty, intent.price, intent.ord_type,
                                          intent.tif, OrdStatus.NEW))
            else:
                assert isinstance(intent, ReplaceOrder)
                working[0].qty, working[0].price = intent.qty, intent.price
    return sent


def test_a_signal_flickering_round_the_threshold_does_not_flicker_the_orders() -> None:
    # Without the dwell every tick toggles resting and crossing: a cancel, a new order, ...
    assert _messages_while_the_signal_flickers(AlphaAlmgrenChrissPolicy(min_dwell_s=0.0)) >= 190
    # With it the tilt is held: the slice rests, is cancelled and crossed, once.
    assert _messages_while_the_signal_flickers(AlphaAlmgrenChrissPolicy()) <= 3


def test_a_tilt_is_taken_at_once_and_held_for_the_dwell() -> None:
    alpha = AlphaAlmgrenChrissPolicy(min_dwell_s=1.0)
    parent = _parent()
    parent.filled = alpha.target(_ctx(0, 0.0), 1)
    assert alpha.act(_ctx(15.0, 0.0, parent=parent)).kind is ActionKind.REST_NEAR
    assert alpha.act(_ctx(15.1, ADVERSE_TO_A_SALE, parent=parent)).kind is ActionKind.CROSS
    assert alpha.act(_ctx(16.0, 0.0, parent=parent)).kind is ActionKind.CROSS  # 0.9 s held
    assert alpha.act(_ctx(16.1, 0.0, parent=parent)).kind is ActionKind.REST_NEAR
    # Another parent worked by the same policy starts untilted.
    assert alpha.act(_ctx(15.1, ADVERSE_TO_A_SALE, filled=parent.filled)).kind is \
        ActionKind.CROSS
    assert alpha.act(_ctx(15.2, 0.0, filled=parent.filled)).kind is ActionKind.REST_NEAR
