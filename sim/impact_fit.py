"""Estimate the propagator (:class:`sim.propagator.ImpactParams`) from a LOBSTER day.

Market orders are the visible executions (type 4) grouped by timestamp and side, as
:mod:`sim.calibrate` counts them; each has a sign ``e_n`` (+1 when it took the ask), a size
``v_n`` and the mid ``m_n`` just before it, in ticks. Three steps:

1. **The bare kernel in trade time** (the transient impact model of Bouchaud et al.): the mid's
   changes between market orders are ``r_n = m_{n+1} - m_n = sum_i g(i) e_{n-i} + noise``. The
   observed response ``S(j) = E[e_n r_{n+j}]`` then equals ``sum_i g(i) C(j - i)``, with ``C``
   the signs' autocorrelation: a Toeplitz system solved for ``g(0..L-1)``. This takes out the
   drift that follows a market order because the next ones tend to have its sign (on GOOG the
   mid goes on moving 9 ticks in 10 s): an agent's own trade does not bring the crowd's. The
   bare response ``l`` orders later is ``G(l) = g(0) + ... + g(l-1)``.
2. **Size**: the part of each change the past orders do not explain,
   ``u_n = r_n - sum_{i>=1} g(i) e_{n-i}``, signed and averaged in size quantile bins, gives
   ``E[e_n u_n | v] ~ (v / V) ** delta``; ``delta`` is the least-squares slope in logs,
   ``V`` the median market-order size. When that slope is below :data:`MIN_SIZE_EXPONENT` the
   data cannot tell sizes apart (on GOOG it cannot: most market orders are sized to the touch
   they take, so a 10-share order moves the mid as much as a 100-share one), and ``delta`` is
   the square-root law's 0.5 (Toth et al., 2011), a choice the output names as not estimated:
   an agent's order is not sized to the touch, and an impact flat in size would make one large
   order as cheap as one share.
3. **Decay in event time**: ``G(l)`` is placed at ``l`` mean gaps between market orders and
   fitted with ``A (1 + t / decay_s) ** -beta`` (a grid over ``decay_s`` and ``beta``, ``A`` by
   least squares); ``g0_ticks`` is ``A`` over the mean size factor, so that it is the impact of an
   order of exactly ``V`` shares.

Named assumptions: trade time maps to event time through the day's mean gap between market
orders (no intraday profile); the kernel is cut at :data:`LAGS` orders; hidden executions
(type 5) are not market orders here (their side is the hidden order's, and they do not touch
the displayed mid); the size factor is estimated on the immediate part and assumed the same
at every lag.
"""

from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from core.domain import Side
from sim.lobster import EventType, LobsterSample
from sim.propagator import ImpactParams

LAGS = 50  # market orders the kernel is estimated over (about 3 minutes on GOOG)
SIZE_BINS = 6
MIN_SIZE_EXPONENT = 0.05
SQUARE_ROOT = 0.5
MIN_ORDERS = 4 * LAGS
_DECAYS_S = np.geomspace(0.1, 3_600.0, 120)
_BETAS = np.linspace(0.0, 2.0, 201)


def market_orders(sample: LobsterSample, tick_size: Decimal = Decimal("0.01")) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each market order's time (ns), sign (+1 took the ask), size and the mid (ticks of
    ``tick_size``) just before it, from one pass over the sample."""
    times: list[int] = []
    signs: list[float] = []
    sizes: list[float] = []
    mids: list[float] = []
    previous = None
    last_key: tuple[int, Side] | None = None
    counted = False  # the current group had a two-sided book before it
    for message, row in zip(sample.messages(tick_size), sample.book_rows(tick_size),
                            strict=True):
        if message.event is EventType.EXECUTE_VISIBLE:
            key = (message.ts_ns, message.side)
            if key == last_key:
                if counted:
                    sizes[-1] += message.qty
            else:
                last_key = key
                counted = previous is not None and bool(previous.bids and previous.asks)
                if counted and previous is not None:
                    times.append(message.ts_ns)
                    signs.append(1.0 if message.side is Side.SELL else -1.0)  # the aggressor
                    sizes.append(float(message.qty))
                    mids.append((previous.bids[0][0] + previous.asks[0][0]) / 2)
        previous = row
    return (np.array(times, dtype=np.int64), np.array(signs), np.array(sizes),
            np.array(mids))


def bare_kernel(signs: np.ndarray, changes: np.ndarray, lags: int) -> np.ndarray:
    """``g(0..lags-1)`` from the signs and the mid's changes between orders (step 1)."""
    n = len(signs)
    corr = np.array([1.0] + [float(np.mean(signs[:n - k] * signs[k:])) for k in range(1, lags)])
    response = np.array([float(np.mean(signs[:n - j] * changes[j:])) for j in range(lags)])
    toeplitz = corr[np.abs(np.subtract.outer(np.arange(lags), np.arange(lags)))]
    return np.linalg.solve(toeplitz, response)


def size_exponent(signs: np.ndarray, sizes: np.ndarray, changes: np.ndarray,
                  kernel: np.ndarray, reference: float) -> float:
    """The slope ``delta`` of the unexplained immediate changes by size quantile (step 2), at
    most 1; 0 when fewer than two bins show a positive response."""
    explained = np.zeros_like(changes)
    for i in range(1, len(kernel)):
        explained[i:] += kernel[i] * signs[:-i]
    signed = signs * (changes - explained)
    edges = np.unique(np.quantile(sizes, np.linspace(0.0, 1.0, SIZE_BINS + 1)))
    xs, ys = [], []
    for lo, hi in itertools.pairwise(edges):
        chosen = (sizes >= lo) & ((sizes < hi) | (hi == edges[-1]))
        mean = float(np.mean(signed[chosen])) if chosen.any() else 0.0
        if mean > 0:
            xs.append(math.log(float(np.median(sizes[chosen])) / reference))
            ys.append(math.log(mean))
    if len(set(xs)) < 2:
        return 0.0
    slope = float(np.polyfit(xs, ys, 1)[0])
    return min(1.0, slope)


def decay_fit(response: np.ndarray, gap_s: float) -> tuple[float, float, float]:
    """``(A, decay_s, beta)`` of ``A (1 + t / decay_s) ** -beta`` fitted to ``response[l-1]``
    at ``t = l * gap_s`` (step 3), by least squares on a grid."""
    t = gap_s * np.arange(1, len(response) + 1)
    shapes = (1.0 + t[None, None, :] / _DECAYS_S[:, None, None]) ** -_BETAS[None, :, None]
    scale = (shapes @ response) / np.einsum("ijk,ijk->ij", shapes, shapes)
    scale = np.maximum(scale, 0.0)
    errors = ((scale[..., None] * shapes - response) ** 2).sum(axis=-1)
    i, j = np.unravel_index(int(np.argmin(errors)), errors.shape)
    return float(scale[i, j]), float(_DECAYS_S[i]), float(_BETAS[j])


def fit_impact(sample: LobsterSample, tick_size: Decimal = Decimal("0.01")) \
        -> tuple[ImpactParams, dict[str, Any]]:
    """The propagator estimated from ``sample`` (in ticks of ``tick_size``), and what it was
    estimated from (the bare response by lag, the orders counted) for the calibration file."""
    times, signs, sizes, mids = market_orders(sample, tick_size)
    if len(times) < MIN_ORDERS:
        raise ValueError(f"{sample.source}: {len(times)} market orders, too few to estimate "
                         f"the impact (needs {MIN_ORDERS})")
    changes = np.diff(mids)
    signs, sizes_used = signs[:-1], sizes[:-1]
    kernel = bare_kernel(signs, changes, LAGS)
    response = np.cumsum(kernel)
    reference = float(np.median(sizes))
    estimated_delta = size_exponent(signs, sizes_used, changes, kernel, reference)
    delta = estimated_delta if estimated_delta >= MIN_SIZE_EXPONENT else SQUARE_ROOT
    gap_s = float(times[-1] - times[0]) / 1e9 / (len(times) - 1)
    amplitude, decay_s, beta = decay_fit(response, gap_s)
    mean_factor = float(np.mean((sizes_used / reference) ** delta))
    params = ImpactParams(amplitude / mean_factor, delta, reference, decay_s, beta)
    source = {"market_orders": len(times), "mean_gap_s": round(gap_s, 3),
              "bare_response_ticks": [round(float(r), 3) for r in response[:10]],
              "size_exponent_estimate": round(estimated_delta, 3),
              "not_estimated": [] if delta == estimated_delta else ["size_exponent"]}
    return params, source


def impact_section(params: ImpactParams, source: dict[str, Any]) -> dict[str, Any]:
    """The ``impact`` section ``execagent calibrate`` writes from what :func:`fit_impact`
    returned: the parameters (6 significant digits) and ``estimated_from``."""
    section: dict[str, Any] = {k: float(f"{v:.6g}") for k, v in params.to_json().items()}
    section["estimated_from"] = source
    return section


def load_impact_params(path: Path | str) -> ImpactParams:
    """The propagator in a file ``execagent calibrate`` wrote. A file without an ``impact``
    section (written before impact was estimated, or from too few market orders) means no
    impact: :meth:`ImpactParams.none`. ValueError (one line) for anything unreadable."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a file `execagent calibrate` wrote")
    if "impact" not in document:
        return ImpactParams.none()
    try:
        return ImpactParams.from_json(document["impact"])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def calibrated_impact(params: Path | None, sample: LobsterSample,
                      tick_size: Decimal = Decimal("0.01")) -> tuple[ImpactParams, str]:
    """The calibrated impact of a replay of ``sample``: the impact section of ``params`` (a
    file without one means none), or, with no ``params``, the propagator estimated from
    ``sample`` as ``execagent calibrate`` estimates it; and where it came from, with its
    parameters, in words."""
    if params is not None:
        impact = load_impact_params(params)
        source = f"calibrated in {params}"
        if impact.is_none:
            source += ", which has no impact section: none"
    else:
        impact, _ = fit_impact(sample, tick_size)
        source = f"estimated from {sample.source.name}"
    return impact, (f"{source} ({impact.g0_ticks:.2f} ticks for {impact.reference_qty:g} "
                    f"shares, size exponent {impact.size_exponent:g}, (1 + t / "
                    f"{impact.decay_s:.3g} s)^-{impact.decay_exponent:.3g})")
