"""Static schedules the RL policy is measured against, behind the same interface.

TWAP splits the horizon into ``n_slices`` equal slices and aims to have traded ``k/n`` of the
parent by the end of slice ``k``:
- aggressive: at the start of each slice it crosses the spread for whatever the schedule says
  should be done by the end of that slice;
- passive: during each slice it rests the slice's quantity at the near touch, and when a slice
  ends it crosses whatever the previous slices left undone.

VWAP and Almgren-Chriss keep passive TWAP's mechanics and change only the schedule (the
cumulative share of the parent due by the end of each slice), so a comparison between the three
measures the schedule and nothing else. POV has no schedule in time: it follows the market's
volume. Front-loaded passive has none either: it keeps a fixed multiple of the slice resting
at the touch from the start and leaves the remainder to the horizon.

Every quantity "done" counts the parent's fills and its IOC orders still in flight, so the
policy never asks twice for the same shares while the venue is answering.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from core.domain import ParentOrder, Side
from models.actions import WAIT, Action, ActionKind
from models.policy import DecisionContext, slice_multiple_shares
from sim.profile import VolumeProfile

NS = 1_000_000_000
# Slack when a fractional schedule is floored to whole shares, so that a fraction meant to be
# exactly k/n (e.g. 0.3 computed as 0.29999999999999993) still gives qty * k // n shares.
_SHARE_EPSILON = 1e-6


def _slices_started(ctx: DecisionContext) -> int:
    parent = ctx.parent
    elapsed = ctx.now_ns - parent.start_ns
    slice_ns = (parent.end_ns - parent.start_ns) / ctx.n_slices
    return min(int(elapsed // slice_ns) + 1, ctx.n_slices) if elapsed >= 0 else 0


def _scheduled(ctx: DecisionContext, slices: int) -> int:
    """Quantity the linear schedule wants done after ``slices`` slices (integer shares)."""
    return ctx.parent.qty * slices // ctx.n_slices


def _shares(qty: int, fraction: float) -> int:
    """Whole shares of ``qty`` for a fraction of it, floored and kept within ``[0, qty]``."""
    return min(qty, max(0, math.floor(qty * fraction + _SHARE_EPSILON)))


class TwapPolicy:
    """Time-weighted average price schedule; ``passive=True`` rests before it crosses."""

    def __init__(self, passive: bool = False) -> None:
        self.passive = passive
        self.name = "twap_passive" if passive else "twap"

    def act(self, ctx: DecisionContext) -> Action:
        started = _slices_started(ctx)
        done_or_going = ctx.parent.filled + ctx.ioc_in_flight
        if not self.passive:
            behind = _scheduled(ctx, started) - done_or_going
            return Action(ActionKind.CROSS, behind) if behind > 0 else WAIT
        overdue = _scheduled(ctx, started - 1) - done_or_going
        if overdue > 0:
            return Action(ActionKind.CROSS, overdue)
        to_rest = _scheduled(ctx, started) - done_or_going
        return Action(ActionKind.REST_NEAR, to_rest) if to_rest > 0 else WAIT


class _RestThenCross:
    """Passive TWAP's mechanics on any schedule: during a slice, rest at the near touch what the
    schedule wants done by the slice's end; once a slice has ended, cross what it left undone.

    Subclasses give :meth:`fraction_due`, the cumulative share of the parent due a given time
    into the horizon; the schedule is read only at slice boundaries, like TWAP's.
    """

    name: str

    def fraction_due(self, ctx: DecisionContext, elapsed_s: float, horizon_s: float) -> float:
        raise NotImplementedError

    def target(self, ctx: DecisionContext, slices: int) -> int:
        """Shares the schedule wants done by the end of slice ``slices`` (0: none yet)."""
        if slices <= 0:
            return 0
        if slices >= ctx.n_slices:
            return ctx.parent.qty
        horizon_s = (ctx.parent.end_ns - ctx.parent.start_ns) / NS
        return _shares(ctx.parent.qty,
                       self.fraction_due(ctx, horizon_s * slices / ctx.n_slices, horizon_s))

    def act(self, ctx: DecisionContext) -> Action:
        started = _slices_started(ctx)
        done_or_going = ctx.parent.filled + ctx.ioc_in_flight
        overdue = self.target(ctx, started - 1) - done_or_going
        if overdue > 0:
            return Action(ActionKind.CROSS, overdue)
        to_rest = self.target(ctx, started) - done_or_going
        return Action(ActionKind.REST_NEAR, to_rest) if to_rest > 0 else WAIT


class VwapPolicy(_RestThenCross):
    """Volume-weighted average price: the parent follows the market's usual intraday volume.

    The share due ``t`` into the horizon is the profile's volume from the parent's start to
    ``t`` over its volume across the whole horizon (see :mod:`sim.profile` for how a bucket's
    volume is spread), so heavy buckets (the open, the close) get more of the parent.

    With no profile (``profile=None``), or when the horizon lies entirely outside the
    profile's day (no volume to weigh by), the schedule is flat and this policy is exactly
    passive TWAP.
    """

    def __init__(self, profile: VolumeProfile | None = None) -> None:
        self.profile = profile
        self.name = "vwap"

    def target(self, ctx: DecisionContext, slices: int) -> int:
        if self.profile is None:
            return _scheduled(ctx, max(0, min(slices, ctx.n_slices)))
        return super().target(ctx, slices)

    def fraction_due(self, ctx: DecisionContext, elapsed_s: float, horizon_s: float) -> float:
        profile = self.profile
        if profile is None:
            return elapsed_s / horizon_s
        start = profile.time_of_day(ctx.parent.start_ns)
        total = profile.share(start, start + horizon_s)
        if total <= 0.0:
            return elapsed_s / horizon_s
        return profile.share(start, start + elapsed_s) / total


# Defaults, each a named assumption:
# - sigma: 0.63 bps per sqrt(second), the realised volatility of the mid of the GOOG LOBSTER
#   sample (2012-06-21) from one-minute log returns (about 1% a 6.5-hour day);
# - eta: 0.1 bps per (share/second): trading at the sample's own executed rate (about 21
#   shares a second) costs about 2 bps of temporary impact, roughly GOOG's half spread then;
# - risk aversion: 1e-6 per (bps x share), which gives kappa of about 1/500 per second with the
#   two above: a 20-minute parent is about 2.4 / kappa long, visibly front-loaded.
DEFAULT_SIGMA_BPS = 0.63
DEFAULT_ETA_BPS = 0.1
DEFAULT_RISK_AVERSION = 1e-6
# Below this kappa x T the trajectory differs from the straight line by less than
# (kappa T)^2 / 6 of the parent (under one share for any realistic order): use the line itself.
_LINEAR_KAPPA_T = 1e-6


@dataclass(frozen=True, slots=True)
class AlmgrenChrissParams:
    """Almgren-Chriss model parameters, time in seconds and prices in basis points.

    ``sigma``: price volatility, bps per sqrt(second); ``eta``: temporary impact, bps of price
    per (share/second) of trading rate; ``risk_aversion``: lambda, per (bps x share), the weight
    of the variance of the cost (in (bps x share)^2) against its expectation.
    """

    sigma: float = DEFAULT_SIGMA_BPS
    eta: float = DEFAULT_ETA_BPS
    risk_aversion: float = DEFAULT_RISK_AVERSION

    def __post_init__(self) -> None:
        for name in ("sigma", "eta", "risk_aversion"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Almgren-Chriss {name} must be a finite number >= 0, "
                                 f"got {value!r}")
        if self.eta == 0:
            raise ValueError("Almgren-Chriss eta must be positive: with no temporary impact "
                             "the optimum is to trade everything at once")

    @property
    def kappa(self) -> float:
        """Urgency, per second: ``sqrt(lambda sigma^2 / eta)``."""
        return math.sqrt(self.risk_aversion * self.sigma * self.sigma / self.eta)

    @classmethod
    def from_calibration(cls, path: Path | str, eta: float = DEFAULT_ETA_BPS,
                         risk_aversion: float = DEFAULT_RISK_AVERSION) -> AlmgrenChrissParams:
        """Parameters from a file ``execagent calibrate`` wrote (``sim/params/*.json``).

        Such a file holds the order-flow model's parameters (:class:`sim.flow.FlowParams`:
        rates, sizes, placement) and no price volatility, and nothing in it identifies the
        impact coefficient or a risk appetite. So sigma comes from the file only when it has
        one: ``sigma_bps_per_sqrt_s`` (top level or in ``params``), or
        ``sigma_ticks_per_sqrt_s`` converted to bps at ``params.start_price``; otherwise the
        documented default. ``eta`` and ``risk_aversion`` are the caller's choice.
        """
        source = Path(path)
        try:
            document = json.loads(source.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{source}: cannot read a calibration file: {exc}") from exc
        if not isinstance(document, dict):
            raise ValueError(f"{source}: a calibration file is a JSON object")
        params = document.get("params", {})
        if not isinstance(params, dict):
            raise ValueError(f"{source}: 'params' must be a JSON object")
        sigma = document.get("sigma_bps_per_sqrt_s", params.get("sigma_bps_per_sqrt_s"))
        ticks = params.get("sigma_ticks_per_sqrt_s")
        try:
            if sigma is not None:
                sigma = float(sigma)
            elif ticks is not None:
                sigma = float(ticks) / float(params["start_price"]) * 10_000
            else:
                sigma = DEFAULT_SIGMA_BPS
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"{source}: unusable volatility in calibration: {exc!r}") from exc
        return cls(sigma=sigma, eta=eta, risk_aversion=risk_aversion)


def almgren_chriss_fraction(kappa: float, elapsed_s: float, horizon_s: float) -> float:
    """Share of the parent done ``elapsed_s`` into a horizon of ``horizon_s`` seconds on the
    optimal trajectory ``x(t) = X sinh(kappa (T - t)) / sinh(kappa T)`` (x: shares left).

    Written as ``exp(-kappa t) expm1(-2 kappa (T - t)) / expm1(-2 kappa T)``, the same ratio of
    sinh's, which neither overflows for large ``kappa T`` nor loses precision for small; at
    ``kappa T`` near 0 it is the straight line (TWAP).
    """
    t = min(max(elapsed_s, 0.0), horizon_s)
    kappa_t = kappa * horizon_s
    if kappa_t < _LINEAR_KAPPA_T:
        return t / horizon_s
    left = math.exp(-kappa * t) * math.expm1(-2 * kappa * (horizon_s - t)) / math.expm1(
        -2 * kappa_t)
    return 1.0 - left


class AlmgrenChrissPolicy(_RestThenCross):
    """Almgren-Chriss (2000) optimal liquidation schedule, with passive TWAP's mechanics.

    Assumptions of the model, named: the price is an arithmetic Brownian motion without drift
    (volatility ``sigma``); trading at rate ``v`` costs a temporary impact linear in ``v``
    (``eta``) that does not persist; permanent impact is linear, so it adds a cost independent
    of the schedule and is left out; trading is continuous; the trader minimises expected cost
    plus ``risk_aversion`` times its variance. A buy is the mirror image of a sale, so the
    same trajectory serves both sides. The closed form is the continuous-time one (not the
    discrete-slice ``kappa~``), read at slice boundaries.

    Positive risk aversion front-loads the parent (hold less while the price wanders); as
    kappa goes to 0 the schedule becomes the straight line and this policy is passive TWAP.
    """

    def __init__(self, params: AlmgrenChrissParams | None = None) -> None:
        self.params = params or AlmgrenChrissParams()
        self.kappa = self.params.kappa
        self.name = "almgren_chriss"

    def urgent_kappa(self, ctx: DecisionContext) -> float:
        """Kappa with the context's urgency: risk aversion times ``ctx.urgency``, so kappa
        times its square root (a riskier market, a schedule that trades sooner)."""
        urgency = ctx.urgency
        if urgency == 1.0 or not math.isfinite(urgency) or urgency <= 0.0:
            return self.kappa
        return self.kappa * math.sqrt(urgency)

    def target(self, ctx: DecisionContext, slices: int) -> int:
        horizon_s = (ctx.parent.end_ns - ctx.parent.start_ns) / NS
        if self.urgent_kappa(ctx) * horizon_s < _LINEAR_KAPPA_T:
            return _scheduled(ctx, max(0, min(slices, ctx.n_slices)))
        return super().target(ctx, slices)

    def fraction_due(self, ctx: DecisionContext, elapsed_s: float, horizon_s: float) -> float:
        return almgren_chriss_fraction(self.urgent_kappa(ctx), elapsed_s, horizon_s)


# The alpha tilt's threshold, in spreads: a predicted adverse move larger than half the
# spread (what crossing costs against the mid) makes waiting dearer than crossing now. An
# assumption of scale, not a calibrated value.
DEFAULT_ALPHA_THRESHOLD_SPREADS = 0.5
# How long a tilt, once taken, is held (seconds of event time). A change of tilt costs at most
# two messages (a cancel and a new order) and a tilt-and-back cycle lasts at least the dwell,
# so whatever the signal does its toggling adds at most about four messages a second per
# parent, well under the throttle (50 a second in the demo and training limits, 20 in the
# example's); and a second is a fifth of the shipped signal's 5 s horizon, so most of the move
# a prediction is acted on for is still ahead while the tilt is held.
DEFAULT_ALPHA_MIN_DWELL_S = 1.0

_NO_TILT, _ADVERSE, _FAVOURABLE = 0, 1, -1


@dataclass(slots=True)
class _HeldTilt:
    """The tilt one parent is working under, and since when (event time, ns)."""

    parent: ParentOrder
    tilt: int
    since_ns: int


class AlphaAlmgrenChrissPolicy(AlmgrenChrissPolicy):
    """Almgren-Chriss whose trading rate tilts with the price signal (``ctx.signal_bps``,
    :mod:`models.signal`): the strongest heuristic holding the information the RL policy's
    ``execagent-obs-v2`` observation holds.

    On the Almgren-Chriss schedule and passive TWAP's mechanics, with a threshold of
    ``threshold_spreads`` times the current spread in bps:
    - **adverse** prediction above it (the price expected to rise for a buy, to fall for a
      sale): faster, crossing now what the schedule wants done by the end of the current slice;
    - **favourable** prediction above it: patient, resting what the last slice left undone
      instead of crossing it, for at most one slice more (two slices behind, it crosses
      whatever the signal says);
    - otherwise: Almgren-Chriss as it is.

    A tilt is taken on the tick the prediction first passes the threshold, and then held for
    at least ``min_dwell_s`` seconds of event time whatever the signal does (a minimum dwell;
    going back from no tilt to a tilt is never delayed). Without it the tilt flickers: the
    signal's features read the book at the touch, where this parent's own order rests, so
    resting the order can push the prediction over the threshold and cancelling it for the
    cross pull it back under (on the GOOG replay: 1.14 bps with the order resting, 0.79 once
    cancelled, a threshold of 1.06), and the working state toggled on every message, a cancel
    and a new order each time, until the risk overlay's message throttle denied them. Holding
    the tilt bounds the messages it adds (see :data:`DEFAULT_ALPHA_MIN_DWELL_S`); 0 turns the
    dwell off.

    Without a signal (0.0: the engine runs no signal model) it is exactly Almgren-Chriss.
    """

    reads_signal = True  # models.policy.reads_signal

    def __init__(self, params: AlmgrenChrissParams | None = None,
                 threshold_spreads: float = DEFAULT_ALPHA_THRESHOLD_SPREADS,
                 min_dwell_s: float = DEFAULT_ALPHA_MIN_DWELL_S) -> None:
        super().__init__(params)
        if not (math.isfinite(threshold_spreads) and threshold_spreads >= 0):
            raise ValueError(f"the alpha threshold must be a finite number >= 0 spreads, got "
                             f"{threshold_spreads!r}")
        if not (math.isfinite(min_dwell_s) and min_dwell_s >= 0):
            raise ValueError(f"the alpha tilt's minimum dwell must be a finite number >= 0 "
                             f"seconds, got {min_dwell_s!r}")
        self.threshold_spreads = threshold_spreads
        self.min_dwell_s = min_dwell_s
        self._min_dwell_ns = int(min_dwell_s * NS)
        # One policy may work several parents (the shadow's, an evaluation's episodes).
        self._held: dict[str, _HeldTilt] = {}
        self.name = "almgren_chriss_alpha"

    def signal_tilt(self, ctx: DecisionContext) -> int:
        """The tilt the prediction on this tick alone asks for: adverse, favourable or none."""
        adverse = ctx.signal_bps if ctx.parent.side is Side.BUY else -ctx.signal_bps
        if abs(adverse) <= _spread_bps(ctx) * self.threshold_spreads:
            return _NO_TILT
        return _ADVERSE if adverse > 0 else _FAVOURABLE

    def held_tilt(self, ctx: DecisionContext) -> int:
        """The tilt to work under: the signal's, unless the one taken is younger than the
        minimum dwell."""
        parent, now = ctx.parent, ctx.now_ns
        held = self._held.get(parent.parent_id)
        if held is None or held.parent is not parent:
            self._forget_ended(now)
            held = self._held[parent.parent_id] = _HeldTilt(parent, _NO_TILT, now)
        wanted = self.signal_tilt(ctx)
        if wanted != held.tilt and (held.tilt == _NO_TILT
                                    or now - held.since_ns >= self._min_dwell_ns):
            held.tilt, held.since_ns = wanted, now
        return held.tilt

    def _forget_ended(self, now_ns: int) -> None:
        self._held = {key: held for key, held in self._held.items()
                      if held.parent.remaining > 0 and not held.parent.done
                      and now_ns <= held.parent.end_ns}

    def act(self, ctx: DecisionContext) -> Action:
        started = _slices_started(ctx)
        done_or_going = ctx.parent.filled + ctx.ioc_in_flight
        tilt = self.held_tilt(ctx) if started > 0 else _NO_TILT
        if tilt == _ADVERSE:
            ahead = self.target(ctx, started) - done_or_going
            if ahead > 0:
                return Action(ActionKind.CROSS, ahead)
        overdue = self.target(ctx, started - 1) - done_or_going
        if overdue > 0 and not (tilt == _FAVOURABLE
                                and self.target(ctx, started - 2) - done_or_going <= 0):
            return Action(ActionKind.CROSS, overdue)
        to_rest = self.target(ctx, started) - done_or_going
        return Action(ActionKind.REST_NEAR, to_rest) if to_rest > 0 else WAIT


def _spread_bps(ctx: DecisionContext) -> float:
    """The bid-ask spread in bps of the mid; infinite (no tilt) without a two-sided book."""
    bid, ask = ctx.book.best_bid(), ctx.book.best_ask()
    if bid is None or ask is None or bid + ask <= 0:
        return math.inf
    return (ask - bid) * 2e4 / (bid + ask)


DEFAULT_POV_RATE = 0.1


class PovPolicy:
    """Percentage of volume: have done ``rate`` of the market volume traded since the parent
    started (``ctx.market_volume``, the engine's count of printed trades).

    The shortfall rests at the near touch; more than one slice behind (a burst of volume that
    resting alone would not catch up with), it is crossed. The target is capped at the parent's
    quantity, and nothing in time drives it: in a thin market the parent may be unfinished at
    its end, where the engine crosses the remainder (:func:`models.actions.horizon_action`).

    Assumption: ``rate`` is of all printed volume, our own fills included when the feed prints
    them (the usual desk definition); it is not the rate of the others' volume.
    """

    def __init__(self, rate: float = DEFAULT_POV_RATE) -> None:
        if not (math.isfinite(rate) and 0 < rate <= 1):
            raise ValueError(f"POV rate must be in (0, 1], got {rate!r}")
        self.rate = rate
        self.name = "pov"

    def target(self, ctx: DecisionContext) -> int:
        """Shares the participation rate wants done by now."""
        wanted = math.floor(self.rate * ctx.market_volume + _SHARE_EPSILON)
        return min(ctx.parent.qty, max(0, wanted))

    def act(self, ctx: DecisionContext) -> Action:
        if ctx.now_ns < ctx.parent.start_ns:
            return WAIT
        shortfall = self.target(ctx) - ctx.parent.filled - ctx.ioc_in_flight
        if shortfall <= 0:
            return WAIT
        if shortfall > ctx.slice_qty:
            return Action(ActionKind.CROSS, shortfall)
        return Action(ActionKind.REST_NEAR, shortfall)


DEFAULT_FRONT_MULTIPLE = 4.0


class PassiveFrontPolicy:
    """Front-loaded passive: from the parent's start, keep ``multiple`` slices resting at the
    near touch (capped at what is left), never cross; the engine crosses any remainder at the
    horizon (:func:`models.actions.horizon_action`).

    It is the rule the desk's RL runs learned and chose at every decision (docs/results.md,
    "Deciding four times a second": rest four times the slice at the touch), written by hand so
    that a comparison can ask what a model adds to it. Assumption: the default of four slices is
    that run's, not a value tuned here. It decides on every message, as the other baselines do.
    """

    def __init__(self, multiple: float = DEFAULT_FRONT_MULTIPLE) -> None:
        if not (math.isfinite(multiple) and multiple > 0):
            raise ValueError(f"passive_front's multiple must be positive, got {multiple!r}")
        self.multiple = multiple
        self.name = "passive_front"

    def act(self, ctx: DecisionContext) -> Action:
        if ctx.now_ns < ctx.parent.start_ns:
            return WAIT
        return Action(ActionKind.REST_NEAR, slice_multiple_shares(self.multiple, ctx.slice_qty))
