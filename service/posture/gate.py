"""The dynamic risk posture, applied: NORMAL / ELEVATED / STRESSED per symbol, one way only.

On every tick the engine hands the symbol's book and message to :meth:`PostureGate.update`
(and, once a price signal exists, its value): the market state (:mod:`models.posture.
market_state`) moves, the model scores it (:mod:`models.posture.model`) and the hysteresis
machine (:mod:`models.posture.machine`) sets the posture. What a posture does:

- **NORMAL**: nothing. The gate passes every intent without looking at it.
- **ELEVATED**: a narrower price collar, a smaller largest order (and child order), a lower
  participation cap and message rate, each the configured factor of the limit in force
  (``posture.elevated``); Almgren-Chriss gets more urgency.
- **STRESSED**: tighter still (``posture.stressed``), and no order that would increase the
  symbol's position (in-flight orders counted, as the overlay's REDUCING does) goes out: the
  parent pauses, is not cancelled, and carries on once the posture lifts itself (after the
  cool-down with the book back to normal). "Pause, not stop".

**One way only, and outside the hard limits.** The gate runs *before* the risk overlay, with
denial reasons of its own (``execagent_posture_denials_total{reason}``); every intent it lets
through still goes through ``RiskOverlay.check`` unchanged, against the configured limits, which
the posture never touches. The tightened view (:func:`tighten`) is derived from the limits in
force on each use and is never above them, whatever the factors or the forecasts
(tests/unit/test_posture_property.py). Cancels always pass.

Named assumptions: the tightened message rate is a token bucket per symbol at the factor of the
global throttle; the tightened participation counts our fills in the configured window plus
everything working, as the overlay does; the posture's collar is measured from the mid of the
book the engine keeps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from core.depth_book import DepthBook
from core.domain import (
    Instrument,
    MarketData,
    NewOrder,
    OrderIntent,
    ReplaceOrder,
    Side,
)
from core.windows import SlidingSum, TokenBucket
from models.posture.levels import Posture
from models.posture.machine import PostureMachine
from models.posture.market_state import POSTURE_FEATURES, MarketState
from models.posture.model import PostureParams, PostureScorer
from risk.limits import RiskLimits
from risk.overlay import RiskOverlay
from service.posture.config import PostureConfig, Tightening

log = logging.getLogger(f"execagent.{__name__}")

# The closed set of the gate's denial reasons: the reason label of
# execagent_posture_denials_total.
DENY_STRESSED: Final = "posture_stressed"  # STRESSED: the order would increase the position
DENY_COLLAR: Final = "posture_collar"
DENY_ORDER_QTY: Final = "posture_order_qty"
DENY_PARTICIPATION: Final = "posture_participation"
DENY_THROTTLED: Final = "posture_throttled"
DENY_REASONS: Final = (DENY_STRESSED, DENY_COLLAR, DENY_ORDER_QTY, DENY_PARTICIPATION,
                       DENY_THROTTLED)
_NORMAL: Final = Posture.NORMAL
_STRESSED: Final = Posture.STRESSED
_DEFAULT_WINDOW_S: Final = 60.0  # participation window when the limits configure none


def _factor(value: float) -> float:
    """A factor as applied: within [0, 1]; anything else (NaN, above 1) tightens nothing."""
    if not math.isfinite(value) or value >= 1.0:
        return 1.0
    return max(value, 0.0)


@dataclass(frozen=True, slots=True)
class TightenedLimits:
    """What a posture allows on one symbol; each value at most the configured one."""

    collar: float  # fraction of the mid
    max_order_qty: int
    participation: float | None  # rate, None: no participation cap configured
    window_s: float
    messages_per_second: float
    burst: int


def tighten(limits: RiskLimits, symbol: str, tightening: Tightening | None) -> TightenedLimits:
    """The limits in force on ``symbol`` under ``tightening`` (None: as configured). Never
    looser than the configuration: every value is the configured one times a factor that
    :func:`_factor` keeps within [0, 1], and the order quantity is floored."""
    sym = limits.symbols[symbol]
    throttle = limits.global_.throttle
    p = sym.max_participation
    collar = sym.price_collar_bps / 1e4
    if tightening is None:
        return TightenedLimits(collar, sym.max_order_qty, p.rate if p else None,
                               p.window_seconds if p else _DEFAULT_WINDOW_S,
                               throttle.messages_per_second, throttle.burst)
    qty = max(1, math.floor(sym.max_order_qty * _factor(tightening.child_qty)))
    return TightenedLimits(
        collar * _factor(tightening.collar), min(qty, sym.max_order_qty),
        p.rate * _factor(tightening.participation) if p else None,
        p.window_seconds if p else _DEFAULT_WINDOW_S,
        throttle.messages_per_second * _factor(tightening.messages),
        max(1, math.floor(throttle.burst * _factor(tightening.messages))))


class SymbolPosture:
    """One symbol's market state, scores, posture and its tightened controls."""

    def __init__(self, symbol: str, params: PostureParams, config: PostureConfig) -> None:
        self.symbol = symbol
        self.state = MarketState()
        self.scorer = PostureScorer(params)
        self.machine = PostureMachine(params.thresholds)
        self.config = config
        self.posture = Posture.NORMAL
        self.bid: int | None = None
        self.ask: int | None = None
        self.signal: float | None = None
        self.market_volume: SlidingSum | None = None
        self.our_fills: SlidingSum | None = None
        self.bucket: TokenBucket | None = None
        self.limits: TightenedLimits | None = None
        self._limits_key: tuple[int, Posture] | None = None
        self.time_in: dict[Posture, float] = dict.fromkeys(Posture, 0.0)
        self.last_ns: int | None = None  # event time of its last tick

    def tightening(self) -> Tightening | None:
        if self.posture is _NORMAL:
            return None
        return self.config.stressed if self.posture is _STRESSED else self.config.elevated

    def current(self, limits: RiskLimits) -> TightenedLimits:
        """The tightened view for the posture and the limits in force (rebuilt when either
        changed, with a fresh message bucket: a posture entered starts with its own burst)."""
        key = (id(limits), self.posture)
        if self._limits_key != key or self.limits is None:
            view = tighten(limits, self.symbol, self.tightening())
            window = view.window_s
            if self.market_volume is None or self.market_volume.window_ns != int(window * 1e9):
                self.market_volume = SlidingSum(window)
                self.our_fills = SlidingSum(window)
            self.bucket = TokenBucket(view.messages_per_second, view.burst)
            self.limits = view
            self._limits_key = key
        return self.limits


Transition = Callable[[str, Posture, Posture, str], None]


class PostureGate:
    """Every configured symbol's posture, and the check the engine runs before the overlay."""

    def __init__(self, params: PostureParams, config: PostureConfig,
                 instruments: Mapping[str, Instrument], risk: RiskOverlay,
                 on_transition: Transition | None = None) -> None:
        self.params = params
        self.config = config
        self.risk = risk
        self.symbols = {s: SymbolPosture(s, params, config) for s in instruments}
        self.on_transition = on_transition
        self.denials: dict[str, int] = dict.fromkeys(DENY_REASONS, 0)
        self.on_denial: Callable[[str], None] | None = None

    # --- the tick -----------------------------------------------------------------------------
    def update(self, symbol: str, book: DepthBook, message: MarketData, now_ns: int,
               signal: float | None = None) -> Posture:
        """Fold in one tick of ``symbol`` (``book`` with ``message`` applied); ``signal``: a
        price signal's forecast move in bps for the symbol, when the engine has one. Returns
        the posture now."""
        sp = self.symbols.get(symbol)
        if sp is None:
            return _NORMAL
        if sp.last_ns is not None and now_ns > sp.last_ns:
            sp.time_in[sp.posture] += (now_ns - sp.last_ns) / 1e9
        sp.last_ns = now_ns
        exposure = self.risk.ledger.exposure.get(symbol)
        if exposure is None:
            sp.state.update(book, message)
        else:
            sp.state.update(book, message, exposure.working_buy, exposure.working_sell)
        sp.bid, sp.ask = book.best_bid(), book.best_ask()
        if sp.market_volume is not None:
            for trade in message.trades:
                sp.market_volume.add(now_ns, trade.qty)
        scorer = sp.scorer
        scorer.score(sp.state, now_ns)
        anomaly = scorer.anomaly
        threshold = self.config.signal_elevated_bps
        sp.signal = signal
        if signal is not None and threshold is not None and abs(signal) >= threshold:
            anomaly = max(anomaly, self.params.thresholds.elevated)
        changed = sp.machine.update(now_ns, anomaly, scorer.vol_ratio, scorer.turbulent)
        if changed is not None:
            self._moved(sp, changed)
        return sp.posture

    def _moved(self, sp: SymbolPosture, posture: Posture) -> None:
        before = sp.posture
        sp.posture = posture
        sp.state.hold_baselines = posture is not _NORMAL
        why = (f"anomaly {sp.scorer.anomaly:.2f} ({POSTURE_FEATURES[sp.scorer.driver][0]}), "
               f"volatility "
               f"{sp.scorer.vol_ratio:.2f}x usual, turbulent regime "
               f"{sp.scorer.turbulent:.2f}")
        log.warning("%s posture %s -> %s: %s", sp.symbol, before.label, posture.label, why)
        if self.on_transition is not None:
            self.on_transition(sp.symbol, before, posture, why)

    def posture(self, symbol: str) -> Posture:
        sp = self.symbols.get(symbol)
        return sp.posture if sp is not None else _NORMAL

    # --- what the engine asks -----------------------------------------------------------------
    def max_child_qty(self, symbol: str, configured: int) -> int:
        """The largest child order the engine may make now: the configured one, times the
        posture's factor."""
        sp = self.symbols.get(symbol)
        tightening = sp.tightening() if sp is not None else None
        if tightening is None:
            return configured
        return min(configured, max(1, math.floor(configured * _factor(tightening.child_qty))))

    def urgency(self, symbol: str) -> float:
        sp = self.symbols.get(symbol)
        tightening = sp.tightening() if sp is not None else None
        return 1.0 if tightening is None else tightening.urgency

    def on_fill(self, symbol: str, qty: int, now_ns: int) -> None:
        sp = self.symbols.get(symbol)
        if sp is not None and sp.our_fills is not None and qty > 0:
            sp.our_fills.add(now_ns, qty)

    def check(self, intent: OrderIntent, now_ns: int) -> str | None:
        """None to let ``intent`` on to the risk overlay, else the denial reason (counted).
        Cancels and every intent in NORMAL pass untouched."""
        if not isinstance(intent, NewOrder | ReplaceOrder):
            return None  # a cancel
        sp = self.symbols.get(intent.symbol)
        if sp is None or sp.posture is _NORMAL:
            return None
        reason = self._judge(sp, intent, now_ns)
        if reason is not None:
            self.denials[reason] += 1
            if self.on_denial is not None:
                self.on_denial(reason)
        return reason

    def _judge(self, sp: SymbolPosture, intent: NewOrder | ReplaceOrder,
               now_ns: int) -> str | None:
        view = sp.current(self.risk.limits)
        qty = intent.qty
        added = qty
        if isinstance(intent, ReplaceOrder):
            # What the replace adds to the open quantity, as the overlay counts it.
            order = self.risk.ledger.orders.get(intent.orig_cl_ord_id)
            if order is not None:
                added = max(max(qty - order.cum, 0) - order.counted, 0)
        if sp.posture is _STRESSED and self._increases_position(intent.symbol, intent.side,
                                                                added):
            return DENY_STRESSED
        if qty > view.max_order_qty:
            return DENY_ORDER_QTY
        price = intent.price
        if price is not None and sp.bid is not None and sp.ask is not None and sp.ask > sp.bid:
            mid = (sp.bid + sp.ask) / 2
            if abs(price - mid) > view.collar * mid:
                return DENY_COLLAR
        if view.participation is not None and sp.market_volume is not None and \
                sp.our_fills is not None:
            exposure = self.risk.ledger.exposure.get(intent.symbol)
            working = exposure.working_buy + exposure.working_sell if exposure else 0
            ours = sp.our_fills.expire(now_ns) + working + added
            if ours > view.participation * sp.market_volume.expire(now_ns):
                return DENY_PARTICIPATION
        assert sp.bucket is not None
        if not sp.bucket.take(now_ns):
            return DENY_THROTTLED
        return None

    def _increases_position(self, symbol: str, side: Side, added: int) -> bool:
        """Would the position, with everything in flight on the order's side and the order,
        be further from flat than it is? (The overlay's REDUCING rule.)"""
        exposure = self.risk.ledger.exposure.get(symbol)
        if exposure is None:
            return True
        position = exposure.position
        if side is Side.BUY:
            return position >= 0 or exposure.working_buy + added > -position
        return position <= 0 or exposure.working_sell + added > position
