"""How market orders come in bursts: the self-excitation of :class:`sim.flow.StochasticFlow`
estimated from a day's market orders.

Two steps, timing first and sides second:
1. **When** orders come: a Hawkes process with a constant background rate ``mu`` and
   ``COMPONENTS`` exponential kernels, each order raising the intensity of further orders by
   ``a * exp(-t / decay)``, fitted by maximum likelihood to the orders' times alone
   (Nelder-Mead over the logarithms of the parameters; the log-likelihood's sum over orders is
   the usual recursion over exponential kernels). Per component the flow takes ``branching =
   a * decay`` (further orders one order brings) and ``decay``.
2. **Which side** an excited order takes: ``same_side`` per component, by maximum likelihood
   given the timing, with EM over the unknown parents (each earlier order within reach weighed
   by its kernel's contribution to the later order's intensity and by how likely the two
   sides are under the current estimate).
Why timing first: a two-sided fit of both at once reads sign persistence with no clustering in
time (a trader who keeps buying at a calm pace) as a slow same-side burst, which clusters in
time too, and the persistence measured between bursts then breaks down (tested on a flow with
persistence and no bursts).

Three components because GOOG's bursts have three time scales: orders under a millisecond
apart (a sweep split across timestamps), about ten milliseconds apart (an algorithm's next
child order) and a couple of seconds apart (a trader working an order); one kernel fits only
the first. Decays are searched up to :data:`MAX_DECAY_S`. Named assumptions: the background
rate is constant over the day and over the book's state (the flow modulates it by the spread
bucket; the estimate ignores that and the intraday profile, both of which make bursts look a
little stronger than they are); only market orders excite market orders; the background's
orders take a fair side when the sides are estimated.

Sign persistence between bursts, what :class:`~sim.flow.FlowParams`'s ``sign_persistence``
means once bursts carry their own side, is ``2 P(same side) - 1`` over consecutive market
orders more than :data:`PERSISTENCE_GAP` slowest decay times apart (the burst's own excitation
spent by then); :mod:`sim.calibrate` estimates the imbalance lean, which also applies only to
a burst's first order, on the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize

COMPONENTS = 3
START_DECAYS_S = (0.001, 0.2, 5.0)  # where the search starts, seconds
PERSISTENCE_GAP = 5.0  # slowest decay times between orders for them to be in different bursts
MAX_BRANCHING = 0.95  # a fit at or above this is explosive or degenerate: no excitation
PARENT_REACH = 20.0  # decay times back an earlier order still counts as a possible parent
EM_STEPS = 20
# The slowest decay searched: clustering slower than this is the day's changing activity (an
# intraday profile, which the flow does not have), not a trader's burst.
MAX_DECAY_S = 10.0


def log_likelihood(times_s: np.ndarray, mu: float, kernels: list[tuple[float, float]]) -> float:
    """The log-likelihood of orders at ``times_s`` (seconds from the first, sorted) under
    background ``mu`` and ``kernels`` of ``(a, rate)`` (rate = 1 / decay)."""
    span = float(times_s[-1]) + 1e-9
    excitation = [0.0] * len(kernels)  # sum of exp(-rate * age) over earlier orders
    total = 0.0
    last = 0.0
    for t in times_s.tolist():
        intensity = mu
        for k, (a, rate) in enumerate(kernels):
            excitation[k] *= math.exp(-rate * (t - last))
            intensity += a * excitation[k]
            excitation[k] += 1.0
        total += math.log(intensity)
        last = t
    compensator = mu * span + sum(a / rate * float(np.sum(1.0 - np.exp(-rate * (span - times_s))))
                                  for a, rate in kernels)
    return total - compensator


def same_side_shares(times_s: np.ndarray, signs: np.ndarray, mu: float,
                     kernels: list[tuple[float, float]]) -> list[float]:
    """Per kernel, the probability that an order it brought is on its parent's side: the
    maximum-likelihood estimate given the fitted timing, by EM over the unknown parents. Each
    earlier order within :data:`PARENT_REACH` decay times is a possible parent, weighed by its
    kernel's contribution to the later order's intensity times the probability of the two
    sides under the current estimate (the background: a fair side)."""
    reach = PARENT_REACH / min(rate for _, rate in kernels)
    times, sides = times_s.tolist(), signs.tolist()
    # Per order: the background's intensity, then (kernel, contribution, same side) per pair.
    orders: list[list[tuple[int, float, bool]]] = []
    first = 0
    for i, t in enumerate(times):
        while times[first] < t - reach:
            first += 1
        orders.append([(k, a * math.exp(-rate * (t - times[j])), sides[j] == sides[i])
                       for j in range(first, i) for k, (a, rate) in enumerate(kernels)])
    shares = [0.75] * len(kernels)
    for _ in range(EM_STEPS):
        same = [0.0] * len(kernels)
        weight = [0.0] * len(kernels)
        for pairs in orders:
            likelihood = [part * (shares[k] if agrees else 1.0 - shares[k])
                          for k, part, agrees in pairs]
            total = mu * 0.5 + sum(likelihood)
            for (k, _, agrees), value in zip(pairs, likelihood, strict=True):
                weight[k] += value / total
                if agrees:
                    same[k] += value / total
        shares = [min(max(s / w, 0.0), 1.0) if w > 0 else 0.5
                  for s, w in zip(same, weight, strict=True)]
    return shares


def fit_excitation(times_ns: np.ndarray, signs: np.ndarray) -> dict[str, Any]:
    """The flow's ``excitation`` components and ``sign_persistence`` from market orders'
    times (ns, sorted) and signs (+1 a buy), with the gap in seconds past which an order
    starts a burst (``apart_s``), the background rate and the fit's log-likelihood; no
    components when the fit is explosive (``branching`` summing to :data:`MAX_BRANCHING` or
    more)."""
    times_s = (times_ns - times_ns[0]) / 1e9
    rate = len(times_s) / max(float(times_s[-1]), 1e-9)
    start = [rate * 0.5] + [0.2 / decay for decay in START_DECAYS_S] \
        + [1.0 / decay for decay in START_DECAYS_S]

    def kernels_of(values: np.ndarray) -> list[tuple[float, float]]:
        return [(float(values[1 + k]), float(values[1 + COMPONENTS + k]))
                for k in range(COMPONENTS)]

    def negative(theta: np.ndarray) -> float:
        values = np.exp(theta)
        return -log_likelihood(times_s, float(values[0]), kernels_of(values))

    bounds = [(None, None)] * (1 + COMPONENTS) + [(math.log(1.0 / MAX_DECAY_S), None)] \
        * COMPONENTS
    result = minimize(negative, np.log(start), method="Nelder-Mead", bounds=bounds,
                      options={"maxfev": 6000, "xatol": 1e-3, "fatol": 1e-2})
    values = np.exp(result.x)
    kernels = sorted(kernels_of(values), key=lambda kernel: -kernel[1])  # fastest first
    shares = same_side_shares(times_s, signs, float(values[0]), kernels)
    components = [(round(a / rate, 4), float(f"{1.0 / rate:.4g}"), round(share, 4))
                  for (a, rate), share in zip(kernels, shares, strict=True)]
    branching = sum(c[0] for c in components)
    explosive = not math.isfinite(branching) or branching >= MAX_BRANCHING
    apart_s = PERSISTENCE_GAP * components[-1][1]
    apart = np.diff(times_s) > apart_s
    same = signs[1:][apart] == signs[:-1][apart]
    persistence = max(0.0, 2 * float(np.mean(same)) - 1) if apart.any() else 0.0
    return {
        "excitation": [] if explosive else [list(c) for c in components],
        "sign_persistence": round(persistence, 4),
        "apart_s": apart_s,
        "background_per_s": round(float(values[0]), 6),
        "log_likelihood": round(-float(result.fun), 3),
        "explosive": explosive,
    }
