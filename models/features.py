"""The policy's observation: the one definition the training environment and the live engine share.

Three versions live here. ``execagent-obs-v1`` (:func:`observe`): the book, the market's recent
statistics and the parent's own state, 12 features; the shipped policy was trained on it.
``execagent-obs-v2`` (:func:`observe_v2`): v1's 12 features, then the short-horizon price
signal (:mod:`models.signal`), 13 in all. ``execagent-obs-v3`` (:func:`observe_v3`): v2's 13,
then the parent's task (:func:`models.task_features.task_descriptors`: side, participation of the
expected volume, horizon), 16 in all, so that one policy can work buys and sales of any size
and horizon. A policy's metadata names its version, and the engine builds that observation
for it (:data:`OBSERVATION_SPECS`), so policies of every version run side by side. v1's hash
covers exactly what it did before v2 existed, v2's what it did before v3.

Why one module: a policy trained on one set of features and fed another in production fails
silently. Both sides call :func:`observe`, and a model file carries the :data:`FEATURE_SPEC_ID` and
:data:`FEATURE_SPEC_HASH` it was trained with; the runtime refuses a model whose hash differs
from the running code's (see :mod:`models.policy`). The hash covers the feature table and the
source of the functions below, so any edit here changes it: retrain, or bump nothing and keep the
code as it was.

Every feature is normalised to roughly [-1, 1] (clipped), computed in event time, and written
into a caller-owned float32 buffer so the per-tick path allocates nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import models.task_features
from core.depth_book import DepthBook
from core.domain import ChildOrder, MarketData, ParentOrder, Side, TimeInForce
from models.signal_features import SIGNAL_SPEC_HASH, SIGNAL_SPEC_ID
from models.spec_hash import source_of, spec_hash
from models.task_features import (
    HORIZON_SCALE_S,
    PARTICIPATION_CEILING,
    PARTICIPATION_FLOOR,
    TASK_FEATURES,
    task_descriptors,
)

FEATURE_SPEC_ID = "execagent-obs-v1"

# (name, meaning). Order is the vector's order.
FEATURES: tuple[tuple[str, str], ...] = (
    ("time_remaining", "fraction of the horizon left, 1 at start, 0 at the end"),
    ("inventory_remaining", "fraction of the parent quantity still to trade"),
    ("schedule_deviation", "inventory_remaining - time_remaining: > 0 behind the linear schedule"),
    ("spread", "bid-ask spread in ticks / 10, clipped to 1"),
    ("imbalance_touch", "(bid qty - ask qty) / (bid qty + ask qty) at the touch, signed for "
                        "the parent's side"),
    ("imbalance_5", "the same over the top 5 levels"),
    ("mid_return", "EWMA(10 s) of mid log-returns in bps / 10, signed for the parent's "
                   "side"),
    ("volatility", "EWMA(60 s) realised volatility of mid in bps per sqrt(second) / 10"),
    ("trade_flow", "EWMA(10 s) signed traded quantity / slice quantity, signed for the "
                   "parent's side"),
    ("working_distance", "resting child's distance from the near touch in ticks / 10 (0 if none)"),
    ("working_qty", "resting child's open quantity / slice quantity, clipped to 4 then / 4"),
    ("queue_ahead", "displayed quantity at the resting child's price, excluding it, / slice "
                    "quantity / 4"),
)
N_FEATURES = len(FEATURES)

_RETURN_TAU_S = 10.0
_VOL_TAU_S = 60.0
_FLOW_TAU_S = 10.0


def _clip(value: float, bound: float = 1.0) -> float:
    return -bound if value < -bound else bound if value > bound else value


class MarketTracker:
    """Short-horizon statistics of one symbol's market, updated once per feed message."""

    __slots__ = ("_last_ts_ns", "_last_mid_x2", "mid_return_bps", "variance_bps2_per_s",
                 "signed_flow")

    def __init__(self) -> None:
        self._last_ts_ns = 0
        self._last_mid_x2: int | None = None
        self.mid_return_bps = 0.0
        self.variance_bps2_per_s = 0.0
        self.signed_flow = 0.0

    def update(self, book: DepthBook, message: MarketData) -> None:
        """Fold in ``message``; ``book`` must already have it applied."""
        dt_s = max((message.ts_ns - self._last_ts_ns) / 1e9, 0.0) if self._last_ts_ns else 0.0
        self._last_ts_ns = max(self._last_ts_ns, message.ts_ns)
        decay_ret = math.exp(-dt_s / _RETURN_TAU_S)
        decay_vol = math.exp(-dt_s / _VOL_TAU_S)
        decay_flow = math.exp(-dt_s / _FLOW_TAU_S)
        self.signed_flow *= decay_flow
        for trade in message.trades:
            aggressor = trade.aggressor
            if aggressor is None and self._last_mid_x2 is not None:
                # Feeds that do not say who initiated (FIX 4.4 market data): the quote rule
                # against the mid before this message.
                aggressor = Side.BUY if 2 * trade.price >= self._last_mid_x2 else Side.SELL
            if aggressor is not None:
                self.signed_flow += int(aggressor) * trade.qty
        mid_x2 = book.mid_x2()
        if mid_x2 is None:
            return
        previous = self._last_mid_x2
        self._last_mid_x2 = mid_x2
        if previous is None or previous <= 0:
            return
        ret_bps = math.log(mid_x2 / previous) * 1e4
        self.mid_return_bps = decay_ret * self.mid_return_bps + (1 - decay_ret) * ret_bps
        # Variance per second: squared return spread over the elapsed time (floor 1 ms).
        inst_var = ret_bps * ret_bps / max(dt_s, 1e-3)
        self.variance_bps2_per_s = decay_vol * self.variance_bps2_per_s + (1 - decay_vol) * inst_var


def observe(
    out: np.ndarray,
    book: DepthBook,
    parent: ParentOrder,
    working: Sequence[ChildOrder],
    tracker: MarketTracker,
    now_ns: int,
    slice_qty: int,
) -> np.ndarray:
    """Write the observation of ``parent`` at ``now_ns`` into ``out`` (float32, N_FEATURES)."""
    sign = 1.0 if parent.side is Side.BUY else -1.0
    horizon = parent.end_ns - parent.start_ns
    time_remaining = _clip((parent.end_ns - now_ns) / horizon, 1.0)
    time_remaining = time_remaining if time_remaining > 0.0 else 0.0
    inventory_remaining = parent.remaining / parent.qty
    slice_qty = max(slice_qty, 1)

    bid, ask = book.best_bid(), book.best_ask()
    spread = 0.0 if bid is None or ask is None else _clip((ask - bid) / 10.0)
    bid_q = book.qty_at(Side.BUY, bid) if bid is not None else 0
    ask_q = book.qty_at(Side.SELL, ask) if ask is not None else 0
    imbalance_touch = (bid_q - ask_q) / (bid_q + ask_q) if bid_q + ask_q else 0.0
    bid5, ask5 = book.total_qty(Side.BUY, 5), book.total_qty(Side.SELL, 5)
    imbalance_5 = (bid5 - ask5) / (bid5 + ask5) if bid5 + ask5 else 0.0

    distance = working_qty = queue_ahead = 0.0
    near = bid if parent.side is Side.BUY else ask
    for order in working:
        if order.tif is TimeInForce.IOC or order.status.is_terminal or order.price is None:
            continue
        if near is not None:
            distance = _clip(sign * (near - order.price) / 10.0)
        leaves = order.leaves_qty
        working_qty = min(leaves / slice_qty, 4.0) / 4.0
        ahead = max(book.qty_at(parent.side, order.price) - leaves, 0)
        queue_ahead = min(ahead / slice_qty, 4.0) / 4.0
        break

    out[0] = time_remaining
    out[1] = inventory_remaining
    out[2] = inventory_remaining - time_remaining
    out[3] = spread
    out[4] = sign * imbalance_touch
    out[5] = sign * imbalance_5
    out[6] = _clip(sign * tracker.mid_return_bps / 10.0)
    out[7] = _clip(math.sqrt(tracker.variance_bps2_per_s) / 10.0)
    out[8] = _clip(sign * tracker.signed_flow / slice_qty)
    out[9] = distance
    out[10] = working_qty
    out[11] = queue_ahead
    return out


def new_observation_buffer() -> np.ndarray:
    return np.zeros(N_FEATURES, dtype=np.float32)


# Read for the hash (models/spec_hash.py): the compiled module carries no source.
_SOURCE = Path(__file__).with_name("features.py")


def _spec_hash() -> str:
    definition = {
        "id": FEATURE_SPEC_ID,
        "features": FEATURES,
        "source": source_of(_SOURCE, ("_clip", "MarketTracker", "observe")),
    }
    return spec_hash(definition)


FEATURE_SPEC_HASH = _spec_hash()


FEATURE_SPEC_V2_ID = "execagent-obs-v2"
FEATURES_V2: tuple[tuple[str, str], ...] = (
    *FEATURES,
    ("signal", "the price signal's predicted mid change over its horizon (models.signal), bps "
               "/ 10, clipped to 1, signed for the parent's side: > 0 the price is expected to "
               "move against it (up for a buy, down for a sale)"),
)
N_FEATURES_V2 = len(FEATURES_V2)


def observe_v2(
    out: np.ndarray,
    book: DepthBook,
    parent: ParentOrder,
    working: Sequence[ChildOrder],
    tracker: MarketTracker,
    now_ns: int,
    slice_qty: int,
    signal_bps: float,
) -> np.ndarray:
    """``execagent-obs-v2`` into ``out`` (float32, N_FEATURES_V2): :func:`observe`'s 12
    features, then the signal, signed so that > 0 means an adverse move for the parent."""
    observe(out, book, parent, working, tracker, now_ns, slice_qty)
    sign = 1.0 if parent.side is Side.BUY else -1.0
    out[N_FEATURES] = _clip(sign * signal_bps / 10.0)
    return out


def _spec_v2_hash() -> str:
    definition = {
        "id": FEATURE_SPEC_V2_ID,
        "features": FEATURES_V2,
        "source": source_of(_SOURCE, ("_clip", "MarketTracker", "observe", "observe_v2")),
        "signal_spec": [SIGNAL_SPEC_ID, SIGNAL_SPEC_HASH],
    }
    return spec_hash(definition)


FEATURE_SPEC_V2_HASH = _spec_v2_hash()


FEATURE_SPEC_V3_ID = "execagent-obs-v3"
# v1 already carries the time and inventory remaining (its first two features), and every
# side-dependent feature of v1 and v2 is signed for the parent's side: a buy and a sale in
# mirrored markets look alike but for the side descriptor.
FEATURES_V3: tuple[tuple[str, str], ...] = (*FEATURES_V2, *TASK_FEATURES)
N_FEATURES_V3 = len(FEATURES_V3)


def observe_v3(
    out: np.ndarray,
    book: DepthBook,
    parent: ParentOrder,
    working: Sequence[ChildOrder],
    tracker: MarketTracker,
    now_ns: int,
    slice_qty: int,
    signal_bps: float,
    participation: float,
) -> np.ndarray:
    """``execagent-obs-v3`` into ``out`` (float32, N_FEATURES_V3): :func:`observe_v2`'s 13
    features, then the parent's side, ``participation`` (its quantity over the volume expected
    over its horizon, :func:`models.task.participation_of`) and horizon, normalised."""
    observe_v2(out, book, parent, working, tracker, now_ns, slice_qty, signal_bps)
    task_descriptors(out, N_FEATURES_V2, int(parent.side), participation,
                     (parent.end_ns - parent.start_ns) / 1e9)
    return out


# Read for the hash: the task descriptors are written by models/task_features.py.
_TASK_SOURCE = Path(models.task_features.__file__).with_name("task_features.py")


def _spec_v3_hash() -> str:
    definition = {
        "id": FEATURE_SPEC_V3_ID,
        "features": FEATURES_V3,
        "source": source_of(_SOURCE, ("_clip", "MarketTracker", "observe", "observe_v2",
                                      "observe_v3")),
        "signal_spec": [SIGNAL_SPEC_ID, SIGNAL_SPEC_HASH],
        "task_source": source_of(_TASK_SOURCE, ("_unit", "task_descriptors")),
        "task_scales": [PARTICIPATION_FLOOR, PARTICIPATION_CEILING, HORIZON_SCALE_S],
    }
    return spec_hash(definition)


FEATURE_SPEC_V3_HASH = _spec_v3_hash()

OBSERVATION_SPECS: dict[str, tuple[str, int]] = {
    FEATURE_SPEC_ID: (FEATURE_SPEC_HASH, N_FEATURES),
    FEATURE_SPEC_V2_ID: (FEATURE_SPEC_V2_HASH, N_FEATURES_V2),
    FEATURE_SPEC_V3_ID: (FEATURE_SPEC_V3_HASH, N_FEATURES_V3),
}
"""Observation version -> (its hash, its width): the versions this code can build."""
OBSERVATION_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    FEATURE_SPEC_ID: FEATURES,
    FEATURE_SPEC_V2_ID: FEATURES_V2,
    FEATURE_SPEC_V3_ID: FEATURES_V3,
}
"""Observation version -> its features (name, description), in the observation's order."""
WITH_SIGNAL: frozenset[str] = frozenset({FEATURE_SPEC_V2_ID, FEATURE_SPEC_V3_ID})
"""The versions that hold the price signal: a policy on one needs the signal model."""


def new_observation_buffer_for(spec_id: str) -> np.ndarray:
    return np.zeros(OBSERVATION_SPECS[spec_id][1], dtype=np.float32)
