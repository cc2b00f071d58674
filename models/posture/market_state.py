"""The posture's view of one symbol's market: a handful of numbers updated on every feed message.

The one definition training (``execagent posture train``) and serving (the engine) share: both
feed a :class:`MarketState` the same book and messages, and a posture model file carries the
:data:`POSTURE_SPEC_ID` and :data:`POSTURE_SPEC_HASH` it was fitted on; the runtime refuses a
file whose hash differs from the running code's (the hash covers the source of this class, as
:mod:`models.features` does for the policy's observation).

What it measures, each over exponentially weighted windows in event time (``tau`` seconds):

- ``spread``: log of the bid-ask spread's ratio to its own recent average (``tau`` 60 s): a
  spread that opened up within seconds, whatever the time of day;
- ``depth``: the displayed quantity over the top :data:`DEPTH_LEVELS` levels of each side, as
  the log of its ratio to that side's own recent level (``tau`` 60 s), of the *thicker* side:
  0 as usual, -3 when both sides have lost 95%. Why the thicker side: on a book as thin as
  GOOG's, one side losing 90% is an everyday event (one large order cancelled: the thinner
  side's ratio is below -2.2 on 1% of the sample day's messages), both sides at once is not;
- ``jump``: how far the mid is from its own recent average (``tau`` 2 s), in units of the
  usual volatility over 2 s (the 600 s realised variance): a price that moved within seconds
  more than the market's own recent wandering explains;
- ``message_rate``: log of the ratio of the message rate over the last second to the usual one
  (``tau`` 600 s);
- ``cancel_rate``: the share of the usual displayed book withdrawn per second without trading
  (``tau`` 1 s), as ``log(1 + share)``. Why not the cancel-to-trade *ratio*: on an L2 feed of a
  stock like GOOG nearly every message is a cancel or a new quote, so the ratio sits near 1 all
  day and says nothing; the withdrawn share of the book is what jumps when liquidity is pulled
  or quotes are stuffed;
- realised variance rates of the mid over 10 s, 60 s and 600 s (bps^2 per second), the inputs
  of the volatility forecast (:mod:`models.posture.model`).

While the service's posture is not NORMAL it holds the *usual* levels (``hold_baselines``): the
recent spread, depth, message rate and 600 s variance stand still, so "back to normal" means
back to the market before the event, not to a new normal learned during it.

Assumptions, named: the withdrawn quantity of a message is the fall of the top levels' total not
explained by its trades (a level entering or leaving the top levels as the price moves adds
noise to both directions); one-sided or crossed books leave the book features as they were.
Plain class, ``Final`` constants, no allocation per message: compiled by mypyc
(native-modules.txt).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

from core.depth_book import DepthBook
from core.domain import MarketData, Side
from models.spec_hash import source_of, spec_hash

POSTURE_SPEC_ID: Final = "execagent-posture-v1"

# (name, meaning), in the order of MarketState.values.
POSTURE_FEATURES: Final = (
    ("spread", "log ratio of the bid-ask spread to its own 60 s average"),
    ("depth", "log ratio of the thicker side's top-5 depth to its own 60 s average"),
    ("jump", "|mid / its 2 s average - 1| in units of the usual 2 s volatility"),
    ("message_rate", "log ratio of the 1 s message rate to the 600 s one"),
    ("cancel_rate", "log(1 + share of the usual top-5 book withdrawn per second, 1 s)"),
)
N_POSTURE_FEATURES: Final = 5
DEPTH_LEVELS: Final = 5
# Added to twice the usual variance rate before the square root that scales ``jump``: a market
# that has not moved for minutes must not make a one-tick move look like a crash (0.25 bps^2:
# half a basis point).
JUMP_FLOOR_BPS2: Final = 0.25

_BUY: Final = Side.BUY
_SELL: Final = Side.SELL


class MarketState:
    """The posture's features of one symbol, updated once per feed message."""

    __slots__ = ("_last_mid", "_last_ts_ns", "_started", "ask_base", "bid_base",
                 "cancel_per_s", "elapsed_s", "hold_baselines", "last_total", "mid_ref",
                 "rate_fast", "rate_slow", "spread_base", "values", "var_long", "var_mid",
                 "var_short")

    def __init__(self) -> None:
        self.values = [0.0] * N_POSTURE_FEATURES
        self.hold_baselines = False
        self.elapsed_s = 0.0  # event time since the first message
        self.rate_fast = 0.0  # messages per second, tau 1 s
        self.rate_slow = 0.0  # messages per second, tau 600 s
        self.bid_base = -1.0  # top-5 depth's recent level, per side (-1: none yet)
        self.ask_base = -1.0
        self.last_total = -1  # top-5 depth of both sides after the previous message
        self.cancel_per_s = 0.0  # shares withdrawn per second, tau 1 s
        self.spread_base = 0.0  # the spread's recent average, ticks (0: none yet)
        self.mid_ref = 0.0  # the mid's recent average, ticks
        self.var_short = 0.0  # realised variance of the mid, bps^2 per second, tau 10 s
        self.var_mid = 0.0  # tau 60 s
        self.var_long = 0.0  # tau 600 s
        self._last_mid = 0.0
        self._last_ts_ns = 0
        self._started = False

    def update(self, book: DepthBook, message: MarketData, own_bid: int = 0,
               own_ask: int = 0) -> None:
        """Fold in ``message``; ``book`` must already have it applied. ``own_bid`` and
        ``own_ask``: our own open quantity on each side, left out of the depth (our resting
        order must not hide the market's withdrawal)."""
        dt = self._advance(message.ts_ns)
        d1 = math.exp(-dt)
        hold = self.hold_baselines
        self.rate_fast = self.rate_fast * d1 + 1.0
        if not hold:
            self.rate_slow = self.rate_slow * math.exp(-dt / 600.0) + 1.0 / 600.0
        # Bias-corrected for the first minutes: the weight the window has seen so far.
        seen_slow = 1.0 - math.exp(-self.elapsed_s / 600.0)
        usual_rate = self.rate_slow / seen_slow if seen_slow > 1e-9 else self.rate_fast
        self.values[3] = math.log((self.rate_fast + 1.0) / (usual_rate + 1.0))
        bid = book.best_bid()
        ask = book.best_ask()
        if bid is None or ask is None or ask <= bid:
            self.cancel_per_s *= d1
            return
        traded = 0
        for trade in message.trades:
            traded += trade.qty
        d60 = math.exp(-dt / 60.0)
        self._book(book, d1, d60, traded, own_bid, own_ask)
        self._mid(bid, ask, dt, d60)

    def _advance(self, ts_ns: int) -> float:
        """Event time moves to ``ts_ns`` (never back); the seconds it moved."""
        dt = 0.0
        if self._started:
            if ts_ns > self._last_ts_ns:
                dt = (ts_ns - self._last_ts_ns) / 1e9
                self._last_ts_ns = ts_ns
        else:
            self._started = True
            self._last_ts_ns = ts_ns
        self.elapsed_s += dt
        return dt

    def _book(self, book: DepthBook, d1: float, d60: float, traded: int, own_bid: int,
              own_ask: int) -> None:
        """Spread, depth and withdrawals of a two-sided book."""
        hold = self.hold_baselines
        bid5 = book.total_qty(_BUY, DEPTH_LEVELS) - own_bid
        ask5 = book.total_qty(_SELL, DEPTH_LEVELS) - own_ask
        bid5 = bid5 if bid5 > 0 else 0
        ask5 = ask5 if ask5 > 0 else 0
        if self.bid_base < 0.0:
            self.bid_base = float(bid5)
            self.ask_base = float(ask5)
        elif not hold:
            self.bid_base = self.bid_base * d60 + (1.0 - d60) * bid5
            self.ask_base = self.ask_base * d60 + (1.0 - d60) * ask5
        total = bid5 + ask5
        withdrawn = 0
        if self.last_total >= 0:
            withdrawn = self.last_total - total - traded
            if withdrawn < 0:
                withdrawn = 0
        self.last_total = total
        self.cancel_per_s = self.cancel_per_s * d1 + withdrawn
        bid = book.best_bid()
        ask = book.best_ask()
        assert bid is not None and ask is not None
        spread = float(ask - bid)
        if self.spread_base <= 0.0:
            self.spread_base = spread
        elif not hold:
            self.spread_base = self.spread_base * d60 + (1.0 - d60) * spread
        values = self.values
        values[0] = math.log(spread / self.spread_base)
        bid_ratio = math.log((bid5 + 1.0) / (self.bid_base + 1.0))
        ask_ratio = math.log((ask5 + 1.0) / (self.ask_base + 1.0))
        values[1] = bid_ratio if bid_ratio > ask_ratio else ask_ratio
        values[4] = math.log1p(self.cancel_per_s / (self.bid_base + self.ask_base + 1.0))

    def _mid(self, bid: int, ask: int, dt: float, d60: float) -> None:
        """The jump and the realised variances of the mid."""
        d2 = math.exp(-dt / 2.0)
        mid = (bid + ask) / 2.0
        if self.mid_ref <= 0.0:
            self.mid_ref = mid
            self._last_mid = mid
        self.mid_ref = self.mid_ref * d2 + (1.0 - d2) * mid
        previous = self._last_mid
        self._last_mid = mid
        r = math.log(mid / previous) * 1e4 if mid != previous else 0.0
        r2 = r * r
        self.var_short = self.var_short * math.exp(-dt / 10.0) + r2 / 10.0
        self.var_mid = self.var_mid * d60 + r2 / 60.0
        if not self.hold_baselines:
            self.var_long = self.var_long * math.exp(-dt / 600.0) + r2 / 600.0
        usual = _unbiased(self.var_long, self.elapsed_s, 600.0)
        self.values[2] = abs(mid / self.mid_ref - 1.0) * 1e4 / math.sqrt(
            2.0 * usual + JUMP_FLOOR_BPS2)

    def variances(self) -> tuple[float, float, float]:
        """Realised variance rates of the mid (bps^2 per second) over 10 s, 60 s and 600 s,
        bias-corrected for a window not yet filled."""
        t = self.elapsed_s
        return (_unbiased(self.var_short, t, 10.0), _unbiased(self.var_mid, t, 60.0),
                _unbiased(self.var_long, t, 600.0))


def _unbiased(value: float, elapsed_s: float, tau_s: float) -> float:
    seen = 1.0 - math.exp(-elapsed_s / tau_s)
    return value / seen if seen > 1e-9 else 0.0


def _spec_hash() -> str:
    """Of the feature table and the source of :class:`MarketState` and :func:`_unbiased`, read
    from the file (compiled, they carry no source; see :mod:`models.features`)."""
    parts = source_of(Path(__file__).with_name("market_state.py"), ("MarketState", "_unbiased"))
    return spec_hash({"id": POSTURE_SPEC_ID, "features": POSTURE_FEATURES, "source": parts})


POSTURE_SPEC_HASH: Final = _spec_hash()
