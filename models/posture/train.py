"""``execagent posture train``: the posture model fitted on a replayed LOBSTER day.

Needs the ``train`` extra (hmmlearn, scikit-learn, scipy, arch); the daemon never imports this.

1. **Features**: the day is replayed message by message (:class:`sim.replay_exchange.
   ReplayExchange`, no agent) into the very :class:`~models.posture.market_state.MarketState`
   the engine runs; every message gives one row, and the state at each whole second one sample.
2. **Split in time**: the first ``train_fraction`` of the day (after ``warmup`` seconds, which the
   windows need to fill) is training; an ``embargo`` after it is left out, so that no window
   reaching back into training scores the held-out part; the rest is held out. Every number
   below is fitted on training only; the held-out part only reports.
3. **Fits**: robust centre and scale per feature, and each feature's largest one-sided z-score
   (its *extreme*); the HAR volatility model (non-negative least squares of the next 60 s's
   realised variance rate on the 10 s, 60 s and 600 s ones, once a second) and, for comparison
   only, a GARCH(1,1) on one-second returns with the ``arch`` package, both scored out of sample
   by QLIKE against the same realised variance; the Gaussian HMM (hmmlearn, 3 states, diagonal
   covariances) on the per-second clipped z-scores.
4. **Thresholds**: ELEVATED's anomaly threshold is the lowest of a grid whose posture, run by
   :class:`~models.posture.machine.PostureMachine` over the training ticks, stays ELEVATED under
   ``target_elevated`` of the time and never STRESSED; STRESSED's is ``stress_margin`` times the
   training extremes.
5. **Reference histograms** of every feature and of the anomaly score, for drift monitoring.

The report (in the file's ``metadata``) gives the time spent in each posture on the training
part, the held-out part and the whole day, and the volatility models' out-of-sample losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.depth_book import DepthBook
from core.domain import MarketData
from models.drift import continuous_reference
from models.posture.levels import Posture
from models.posture.machine import PostureMachine, Thresholds
from models.posture.market_state import POSTURE_FEATURES, MarketState
from models.posture.model import DIRECTIONS, PostureParams, PostureScorer, hmm_observation
from sim.lobster import open_sample
from sim.replay_exchange import ReplayExchange

NS = 1_000_000_000
ELEVATED_GRID = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)
REGIME_GRID = (0.99, 0.999, 0.9999, 1.01)  # 1.01: the regime never proposes ELEVATED
VOL_GRID = (3.0, 4.0, 6.0, 8.0, 1e9)  # 1e9: the volatility never proposes ELEVATED
HAR_HORIZON_S = 60


@dataclass(frozen=True, slots=True)
class TrainOptions:
    train_fraction: float = 0.55
    embargo_s: float = 900.0
    warmup_s: float = 120.0
    target_elevated: float = 0.005  # share of training time
    stress_margin: float = 1.25
    states: int = 3
    seed: int = 0


@dataclass(slots=True)
class DayFeatures:
    """Every message's features and variances, and the state at each whole second."""

    ts: np.ndarray  # ns, per message
    values: np.ndarray  # [messages, features]
    variances: np.ndarray  # [messages, 3]
    second_ts: np.ndarray  # ns, per second
    second_index: np.ndarray  # the message row in force at each second
    mid_bps: np.ndarray  # log mid x 1e4 at each second


def replay_features(data: Path, symbol: str = "GOOG") -> DayFeatures:
    exchange = ReplayExchange(open_sample(data), symbol)
    book = DepthBook(symbol)
    book.apply_market_data(exchange.snapshot())
    state = MarketState()
    ts: list[int] = []
    rows: list[list[float]] = []
    variances: list[tuple[float, float, float]] = []
    second_ts: list[int] = []
    second_index: list[int] = []
    mids: list[float] = []
    next_second = 0
    while exchange.next_event_ns() is not None:
        for event in exchange.step():
            if not isinstance(event, MarketData):
                continue
            book.apply_market_data(event)
            state.update(book, event)
            if next_second == 0:
                next_second = (event.ts_ns // NS + 1) * NS
            while event.ts_ns >= next_second and rows:
                mid = book.mid_x2()
                second_ts.append(next_second)
                second_index.append(len(rows) - 1)
                mids.append(math.log(mid / 2) * 1e4 if mid else math.nan)
                next_second += NS
            ts.append(event.ts_ns)
            rows.append(list(state.values))
            variances.append(state.variances())
    if len(rows) < 1_000:
        raise ValueError(f"{data}: {len(rows)} market-data messages are too few to fit on")
    return DayFeatures(np.array(ts), np.array(rows), np.array(variances), np.array(second_ts),
                       np.array(second_index), np.array(mids))


def _robust(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    median = np.median(x, axis=0)
    mad = np.median(np.abs(x - median), axis=0) * 1.4826
    return median, np.maximum(mad, 1e-3)


def _har(day: DayFeatures, seconds: np.ndarray, train: np.ndarray, test: np.ndarray) \
        -> tuple[tuple[float, float, float, float], dict[str, Any]]:
    """HAR coefficients by NNLS on training seconds; out-of-sample QLIKE of HAR, of the 60 s
    rate alone, and of a GARCH(1,1) fitted on training returns."""
    from scipy.optimize import nnls

    r = np.diff(day.mid_bps, prepend=day.mid_bps[0])
    r = np.nan_to_num(r)
    r2 = r * r
    csum = np.concatenate([[0.0], np.cumsum(r2)])
    n = len(seconds)
    horizon = HAR_HORIZON_S
    future = np.full(n, np.nan)
    future[: n - horizon] = (csum[horizon + 1: n + 1] - csum[1: n - horizon + 1]) / horizon
    v = day.variances[day.second_index]
    design = np.column_stack([np.ones(n), v])
    usable = ~np.isnan(future)
    fit_rows = train & usable
    coefficients, _ = nnls(design[fit_rows], future[fit_rows])
    coefficients[0] = max(coefficients[0], 1e-4)  # a floor: never a zero variance forecast
    forecast = design @ coefficients
    test_rows = test & usable

    def qlike(predicted: np.ndarray) -> float:
        p = np.maximum(predicted[test_rows], 1e-6)
        realised = np.maximum(future[test_rows], 1e-6)
        return float(np.mean(realised / p - np.log(realised / p) - 1.0))

    report: dict[str, Any] = {"har_qlike": qlike(forecast), "rv60_qlike": qlike(v[:, 1]),
                              "test_seconds": int(test_rows.sum())}
    try:
        from arch import arch_model

        train_returns = r[train]
        scaled = arch_model(train_returns, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
        fitted = scaled.fit(disp="off")
        full = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
        fixed = full.fix(fitted.params)
        garch = np.asarray(fixed.forecast(horizon=horizon, start=0, reindex=True)
                           .variance.to_numpy().mean(axis=1))
        report["garch_qlike"] = qlike(np.nan_to_num(garch, nan=float(np.nanmean(garch))))
        report["garch_params"] = {k: float(val) for k, val in fitted.params.items()}
    except (ImportError, ValueError, np.linalg.LinAlgError) as exc:
        report["garch_error"] = f"{type(exc).__name__}: {exc}"
    c = [float(x) for x in coefficients]
    return (c[0], c[1], c[2], c[3]), report


def _hmm(z_seconds: np.ndarray, options: TrainOptions) -> dict[str, Any]:
    from hmmlearn.hmm import GaussianHMM

    observed = np.array([hmm_observation(list(row)) for row in z_seconds])
    model = GaussianHMM(n_components=options.states, covariance_type="diag", n_iter=100,
                        random_state=options.seed, min_covar=1e-3)
    model.fit(observed)
    means = np.asarray(model.means_)
    turbulent = int(np.argmax(np.clip(means, 0.0, None).sum(axis=1)))
    covars = np.asarray(model.covars_)
    variances = np.array([np.diag(c) if c.ndim == 2 else c for c in covars])
    return {"startprob": [float(p) for p in model.startprob_],
            "transmat": [[float(p) for p in row] for row in model.transmat_],
            "means": [[float(m) for m in row] for row in means],
            "variances": [[float(v) for v in row] for row in variances],
            "turbulent": turbulent, "log_likelihood": float(model.score(observed))}


def _scores(day: DayFeatures, params: PostureParams) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """Per message: anomaly, volatility ratio and turbulent probability, as served."""
    scorer = PostureScorer(params)
    state = MarketState()
    anomaly = np.empty(len(day.ts))
    vol = np.empty(len(day.ts))
    turbulent = np.empty(len(day.ts))
    warm_ns = int(day.ts[0]) + int(params.warmup_s * NS)
    for i in range(len(day.ts)):
        state.values = list(day.values[i])
        state.var_short, state.var_mid, state.var_long = (float(x) for x in day.variances[i])
        # The variances are bias-corrected already: past the warm-up, no correction.
        state.elapsed_s = 1e12 if day.ts[i] >= warm_ns else 0.0
        scorer.score(state, int(day.ts[i]))
        anomaly[i], vol[i], turbulent[i] = scorer.anomaly, scorer.vol_ratio, scorer.turbulent
    return anomaly, vol, turbulent


def time_in_postures(ts: np.ndarray, anomaly: np.ndarray, vol: np.ndarray,
                     turbulent: np.ndarray, thresholds: Thresholds, start_ns: int,
                     end_ns: int) -> dict[str, float]:
    """Seconds in each posture between ``start_ns`` and ``end_ns``, running the machine over
    every message from the first (so it enters the window in the state it would be in)."""
    machine = PostureMachine(thresholds)
    spent = dict.fromkeys(Posture, 0.0)
    previous = int(ts[0])
    for i in range(len(ts)):
        now = int(ts[i])
        lo, hi = max(previous, start_ns), min(now, end_ns)
        if hi > lo:
            spent[machine.posture] += (hi - lo) / 1e9
        machine.update(now, float(anomaly[i]), float(vol[i]), float(turbulent[i]))
        previous = now
    return {p.label: round(seconds, 3) for p, seconds in spent.items()}


def fit(day: DayFeatures, options: TrainOptions, data_name: str) -> PostureParams:
    first = int(day.ts[0])
    last = int(day.ts[-1])
    begin = first + int(options.warmup_s * NS)
    split = begin + int((last - begin) * options.train_fraction)
    held_out = split + int(options.embargo_s * NS)
    train_rows = (day.ts >= begin) & (day.ts < split)
    median, scale = _robust(day.values[train_rows])
    directions = np.array([DIRECTIONS[name] for name, _ in POSTURE_FEATURES])
    z = directions * (day.values - median) / scale
    extreme = np.maximum(z[train_rows].max(axis=0), 1.0)
    seconds = day.second_ts
    train_s = (seconds >= begin) & (seconds < split)
    test_s = seconds >= held_out
    har, vol_report = _har(day, seconds, train_s, test_s)
    hmm = _hmm(z[day.second_index][train_s], options)
    v = day.variances[train_rows]
    forecast = np.sqrt(np.maximum(har[0] + v @ np.array(har[1:]), 0.0))
    params = PostureParams(
        median=tuple(float(x) for x in median), scale=tuple(float(x) for x in scale),
        extreme=tuple(float(x) for x in extreme), har=har,
        vol_median=float(max(np.median(forecast), 1e-3)),
        startprob=tuple(hmm["startprob"]),
        transmat=tuple(tuple(row) for row in hmm["transmat"]),
        means=tuple(tuple(row) for row in hmm["means"]),
        variances=tuple(tuple(row) for row in hmm["variances"]),
        turbulent=hmm["turbulent"], thresholds=Thresholds(stressed=options.stress_margin),
        warmup_s=options.warmup_s, reference={}, metadata={})
    anomaly, vol, turbulent = _scores(day, params)
    thresholds = _calibrate(day, anomaly, vol, turbulent, options, begin, split)
    params = replace(params, thresholds=thresholds)
    reference = {"features": {name: continuous_reference(day.values[train_rows, i].tolist())
                              for i, (name, _) in enumerate(POSTURE_FEATURES)},
                 "outputs": {"anomaly": continuous_reference(anomaly[train_rows].tolist())}}
    report = {
        "train": time_in_postures(day.ts, anomaly, vol, turbulent, thresholds, begin, split),
        "held_out": time_in_postures(day.ts, anomaly, vol, turbulent, thresholds, held_out,
                                     last),
        "whole_day": time_in_postures(day.ts, anomaly, vol, turbulent, thresholds, first, last),
    }
    metadata = {
        "training_data": data_name,
        "split": {"train": [_clock(begin), _clock(split)], "embargo_seconds": options.embargo_s,
                  "held_out": [_clock(held_out), _clock(last)]},
        "seed": options.seed, "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "posture_time_seconds": report, "volatility": vol_report,
        "hmm_log_likelihood_per_sample": hmm["log_likelihood"] / max(int(train_s.sum()), 1),
        "messages": len(day.ts),
    }
    return replace(params, reference=reference, metadata=metadata)


def _calibrate(day: DayFeatures, anomaly: np.ndarray, vol: np.ndarray, turbulent: np.ndarray,
               options: TrainOptions, begin: int, split: int) -> Thresholds:
    """The most sensitive thresholds (lowest anomaly, then regime, then volatility) whose
    posture stays ELEVATED under the target share of training time and never STRESSED."""
    span = (split - begin) / 1e9
    for elevated in ELEVATED_GRID:
        for regime in REGIME_GRID:
            for vol_elevated in VOL_GRID:
                thresholds = Thresholds(elevated=elevated, stressed=options.stress_margin,
                                        clear=min(0.5, elevated), vol_elevated=vol_elevated,
                                        regime_elevated=regime)
                spent = time_in_postures(day.ts, anomaly, vol, turbulent, thresholds, begin,
                                         split)
                if spent["stressed"] == 0.0 and spent["elevated"] <= options.target_elevated \
                        * span:
                    return thresholds
    raise ValueError("no threshold keeps the training day out of STRESSED and under the "
                     f"ELEVATED target {options.target_elevated:.1%}: the day is not calm enough "
                     "to calibrate on, or the margin is too small")


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="seconds")
