"""The short-horizon price signal's features: one definition for training and for live.

Why one module, as for the policy's observation (:mod:`models.features`): a model trained on one
set of features and served another fails silently. Training (:mod:`models.signal_data`, which
replays a LOBSTER day through :class:`sim.replay_exchange.ReplayExchange`), the Gymnasium
environment and the live engine all feed the same :class:`SignalTracker` the same
:class:`~core.domain.MarketData` messages, after the same :class:`~core.depth_book.DepthBook` has
applied them. A model file carries :data:`SIGNAL_SPEC_ID`, :data:`SIGNAL_SPEC_HASH` and the
feature names; :mod:`models.signal` refuses one whose spec differs, naming the difference. The
hash covers the feature table and the source of :class:`SignalTracker`, so any edit to either
changes it: retrain the signal.

Every statistic is updated incrementally, once per feed message, in event time (the messages'
timestamps): exponentially decayed sums whose decay is ``exp(-dt / tau)``. Sizes are divided by
a slowly moving average of the touch depth, and prices are in basis points of the mid, so that
a model trained on one stock reads another's features on the same scale. Signs: positive means
pressure upward (more bids than asks, buyers lifting the ask, the mid rising).

Levels: the imbalances over 2, 3, 5 and 10 levels read what the book shows. A book of one level
(a level-1 feed, LOBSTER's 1-level files) gives them the touch imbalance's value; a model meant
for such data is trained without them (``execagent signal train --levels 1``), every other
feature needs the touch only.

Compiled with mypyc (native-modules.txt): plain class, ``Final`` constants.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np

from core.depth_book import DepthBook
from core.domain import MarketData, Side
from models.spec_hash import source_of, spec_hash

SIGNAL_SPEC_ID: Final = "execagent-signal-v1"

# (name, meaning). Order is the vector's order.
SIGNAL_FEATURES: tuple[tuple[str, str], ...] = (
    ("imbalance_1", "(bid qty - ask qty) / (bid qty + ask qty) at the touch"),
    ("imbalance_2", "the same over the top 2 levels of each side"),
    ("imbalance_3", "the same over the top 3 levels"),
    ("imbalance_5", "the same over the top 5 levels"),
    ("imbalance_10", "the same over the top 10 levels"),
    ("microprice_dev", "microprice minus mid, bps of the mid"),
    ("spread", "best ask minus best bid, bps of the mid"),
    ("ofi_1s", "order-flow imbalance at the touch (Cont, Kukanov and Stoikov 2014), decayed "
               "sum with tau 1 s, / average touch depth"),
    ("ofi_10s", "the same with tau 10 s"),
    ("trade_flow_1s", "signed traded quantity (+ buyer-initiated), decayed sum with tau 1 s, "
                      "/ average touch depth"),
    ("trade_flow_10s", "the same with tau 10 s"),
    ("volatility", "realised volatility of the mid, bps per sqrt(second), from a decayed sum "
                   "of squared mid log-returns with tau 10 s"),
    ("bid_depletion", "shares leaving the best bid at an unchanged price (cancels and "
                      "executions), decayed sum with tau 1 s, / average touch depth"),
    ("ask_depletion", "the same at the best ask"),
    ("mid_change_1s", "mid log-returns in bps, decayed sum with tau 1 s"),
    ("mid_change_10s", "the same with tau 10 s"),
    ("event_rate", "log(1 + feed messages per second), decayed count with tau 1 s"),
)
SIGNAL_FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in SIGNAL_FEATURES)
N_SIGNAL_FEATURES: Final = len(SIGNAL_FEATURES)
# The features that need more than the touch: left out of a level-1 model.
DEEP_FEATURES: tuple[str, ...] = ("imbalance_2", "imbalance_3", "imbalance_5", "imbalance_10")

_FAST_TAU_S: Final = 1.0
_SLOW_TAU_S: Final = 10.0
_DEPTH_TAU_S: Final = 60.0
_MAX_LEVELS: Final = 10
_BOUND: Final = 1000.0  # every feature is clipped to +-this: a bad tick cannot poison a model


class SignalTracker:
    """The running statistics of one symbol's market that the signal's features read."""

    def __init__(self) -> None:
        self.last_ts_ns = 0
        self.last_mid_x2 = 0  # 0: no two-sided book seen yet
        self.bid = 0
        self.ask = 0
        self.bid_qty = 0
        self.ask_qty = 0
        self.avg_depth = 0.0
        self.ofi_fast = 0.0
        self.ofi_slow = 0.0
        self.flow_fast = 0.0
        self.flow_slow = 0.0
        self.sq_returns = 0.0
        self.bid_depletion = 0.0
        self.ask_depletion = 0.0
        self.ret_fast = 0.0
        self.ret_slow = 0.0
        self.events = 0.0

    def update(self, book: DepthBook, message: MarketData) -> None:
        """Fold in ``message``; ``book`` must already have it applied."""
        ts = message.ts_ns
        dt_s = (ts - self.last_ts_ns) / 1e9 if self.last_ts_ns and ts > self.last_ts_ns else 0.0
        if ts > self.last_ts_ns:
            self.last_ts_ns = ts
        fast = math.exp(-dt_s / _FAST_TAU_S)
        slow = math.exp(-dt_s / _SLOW_TAU_S)
        depth_decay = math.exp(-dt_s / _DEPTH_TAU_S)
        self.ofi_fast *= fast
        self.ofi_slow *= slow
        self.flow_fast *= fast
        self.flow_slow *= slow
        self.sq_returns *= slow
        self.bid_depletion *= fast
        self.ask_depletion *= fast
        self.ret_fast *= fast
        self.ret_slow *= slow
        self.events = self.events * fast + 1.0
        signed = self._signed_volume(message)
        bid = book.best_bid()
        ask = book.best_ask()
        if bid is None or ask is None:
            return
        bid_qty = book.qty_at(Side.BUY, bid)
        ask_qty = book.qty_at(Side.SELL, ask)
        depth = 0.5 * (bid_qty + ask_qty)
        if self.avg_depth <= 0.0:
            self.avg_depth = depth
        else:
            self.avg_depth = depth_decay * self.avg_depth + (1.0 - depth_decay) * depth
        norm = self.avg_depth if self.avg_depth > 1.0 else 1.0
        self.flow_fast += signed / norm
        self.flow_slow += signed / norm
        if self.last_mid_x2:
            self._touch_flow(bid, ask, bid_qty, ask_qty, norm)
        self.bid, self.ask, self.bid_qty, self.ask_qty = bid, ask, bid_qty, ask_qty
        self.last_mid_x2 = bid + ask

    def _signed_volume(self, message: MarketData) -> float:
        """The message's traded quantity, + buyer-initiated, - seller-initiated."""
        signed = 0.0
        for trade in message.trades:
            aggressor = trade.aggressor
            if aggressor is None and self.last_mid_x2:
                # Feeds that do not say who initiated: the quote rule against the mid before.
                aggressor = Side.BUY if 2 * trade.price >= self.last_mid_x2 else Side.SELL
            if aggressor is not None:
                signed += int(aggressor) * trade.qty
        return signed

    def _touch_flow(self, bid: int, ask: int, bid_qty: int, ask_qty: int, norm: float) -> None:
        """Order-flow imbalance, queue depletion and the mid's return from the touch before
        this message to the touch after it."""
        ofi = 0.0
        if bid >= self.bid:
            ofi += bid_qty
        if bid <= self.bid:
            ofi -= self.bid_qty
        if ask <= self.ask:
            ofi -= ask_qty
        if ask >= self.ask:
            ofi += self.ask_qty
        self.ofi_fast += ofi / norm
        self.ofi_slow += ofi / norm
        if bid == self.bid and bid_qty < self.bid_qty:
            self.bid_depletion += (self.bid_qty - bid_qty) / norm
        if ask == self.ask and ask_qty < self.ask_qty:
            self.ask_depletion += (self.ask_qty - ask_qty) / norm
        mid_x2 = bid + ask
        if mid_x2 != self.last_mid_x2 and self.last_mid_x2 > 0 and mid_x2 > 0:
            ret_bps = math.log(mid_x2 / self.last_mid_x2) * 1e4
            self.ret_fast += ret_bps
            self.ret_slow += ret_bps
            self.sq_returns += ret_bps * ret_bps

    def ready(self) -> bool:
        """True once a two-sided book has been seen."""
        return self.last_mid_x2 > 0

    def write(self, out: np.ndarray, book: DepthBook) -> np.ndarray:
        """The feature vector now into ``out`` (float32, N_SIGNAL_FEATURES); zeros before a
        two-sided book."""
        mid_x2 = self.last_mid_x2
        if mid_x2 <= 0:
            out[:] = 0.0
            return out
        bids = book.depth(Side.BUY, _MAX_LEVELS)
        asks = book.depth(Side.SELL, _MAX_LEVELS)
        bid_cum = 0
        ask_cum = 0
        column = 0
        for level in range(_MAX_LEVELS):
            if level < len(bids):
                bid_cum += bids[level][1]
            if level < len(asks):
                ask_cum += asks[level][1]
            if level == 0 or level == 1 or level == 2 or level == 4 or level == 9:
                total = bid_cum + ask_cum
                out[column] = (bid_cum - ask_cum) / total if total > 0 else 0.0
                column += 1
        bid_qty = self.bid_qty
        ask_qty = self.ask_qty
        touch = bid_qty + ask_qty
        spread = self.ask - self.bid
        # microprice - mid = spread / 2 * imbalance_1, in ticks; mid = mid_x2 / 2 ticks
        micro_ticks = 0.5 * spread * (bid_qty - ask_qty) / touch if touch > 0 else 0.0
        out[5] = _bounded(micro_ticks * 2e4 / mid_x2)
        out[6] = _bounded(spread * 2e4 / mid_x2)
        out[7] = _bounded(self.ofi_fast)
        out[8] = _bounded(self.ofi_slow)
        out[9] = _bounded(self.flow_fast)
        out[10] = _bounded(self.flow_slow)
        out[11] = _bounded(math.sqrt(self.sq_returns / _SLOW_TAU_S))
        out[12] = _bounded(self.bid_depletion)
        out[13] = _bounded(self.ask_depletion)
        out[14] = _bounded(self.ret_fast)
        out[15] = _bounded(self.ret_slow)
        out[16] = math.log1p(self.events / _FAST_TAU_S)
        return out


def _bounded(value: float) -> float:
    return -_BOUND if value < -_BOUND else _BOUND if value > _BOUND else value


def new_signal_buffer() -> np.ndarray:
    return np.zeros(N_SIGNAL_FEATURES, dtype=np.float32)


def _spec_hash() -> str:
    definition = {
        "id": SIGNAL_SPEC_ID,
        "features": SIGNAL_FEATURES,
        "source": source_of(Path(__file__).with_name("signal_features.py"),
                            ("SignalTracker", "_bounded")),
        "constants": [_FAST_TAU_S, _SLOW_TAU_S, _DEPTH_TAU_S, _MAX_LEVELS, _BOUND],
    }
    return spec_hash(definition)


SIGNAL_SPEC_HASH: Final = _spec_hash()
