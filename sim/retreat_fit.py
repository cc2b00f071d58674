"""The one flow parameter found by simulation: how much the side a market order hit retreats.

After a market order the makers on the side it hit cancel faster and those on the other side
slower (GOOG: touch cancels per share on the hit side 1.3 to 1.5 times the other side's over
the 30 s after a trade). How far that carries the price depends on the whole book's shape (how
many orders stand at the touch, how far the next level is), so the rate is not read off the data
but set so that the flow's response to one trade is the data's: the touch cancel rate is
``cancel_touch`` times ``r`` on the hit side and ``1 / r`` on the other (an assumption: one
factor and its inverse, so the two sides' mean rate stays near the measured one), and ``r`` is
where a line fitted to the simulated response across factors meets the measured one (the
method of simulated moments).

The response matched is causal: an order of the propagator's reference size (the day's median
market order) put into the flow at a random time, and the mid over the next two minutes
(:data:`LAGS_S`) against the same flow, same seed, without it (:func:`causal_response`); the
data's is the propagator's bare impact at the same lags (:mod:`sim.impact_fit`: the price
response net of the orders that followed in the same direction), the impact the agent's own
trades have in the replay. Matching the raw drift after the crowd's trades instead would charge
every trade, the agent's included, with the bursts and the persistence that follow the crowd's
own; matching the response at one lag only lets it drift away from the propagator's at the
others, over the minutes a parent order is worked.
The seeds are the same for every ``r`` (common random numbers), which makes the simulated
response a smoother, rising function of it.
"""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np

from core.domain import Side
from sim.flow import FlowParams, StochasticFlow
from sim.matching import OrderBook

# The factors measured: no retreat, to three times the touch rate on the hit side.
GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)
TRIALS = 1_000  # paired runs per response: a standard error of about 0.4 ticks on GOOG
WARMUP_NS = 60 * 10**9  # market before the order, so the book has its usual shape
# The lags the response is averaged over: the first two minutes after an order, the time a
# child order's impact acts on the rest of a parent worked over minutes.
LAGS_S = (10, 20, 30, 45, 60, 90, 120)


def with_retreat(params: FlowParams, factor: float) -> FlowParams:
    return dataclasses.replace(params, cancel_hit_side=factor, cancel_other_side=1.0 / factor)


def _mids_after(params: FlowParams, seed: int, side: Side, qty: int) -> list[float] | None:
    """The mid at each of :data:`LAGS_S` after ``qty`` shares (0: none) were taken on
    ``side`` at ``WARMUP_NS`` into the flow with ``seed``; None if a side of the book was
    empty at one of them."""
    flow = StochasticFlow(params, seed=seed)
    book = OrderBook("SIM")
    flow.seed_book(book, 0)
    while flow.next_time_ns() < WARMUP_NS:
        flow.apply_next(book)
    if qty:
        book.add_market("agent", side, qty, WARMUP_NS, owner="agent")
    mids = []
    for lag_s in LAGS_S:
        while flow.next_time_ns() < WARMUP_NS + lag_s * 10**9:
            flow.apply_next(book)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        mids.append((bid + ask) / 2)
    return mids


def causal_response(params: FlowParams, qty: int, trials: int = TRIALS) -> float:
    """The mid's move, in ticks and in the order's direction, after a market order of ``qty``
    shares, against the same flow without it, averaged over :data:`LAGS_S` and the trials;
    buys and sells alternate."""
    moves = []
    for trial in range(trials):
        side = Side.BUY if trial % 2 else Side.SELL
        without = _mids_after(params, trial, side, 0)
        with_order = _mids_after(params, trial, side, qty)
        if without is not None and with_order is not None:
            sign = 1 if side is Side.BUY else -1
            moves.append(statistics.fmean(sign * (a - b) for a, b in zip(with_order, without,
                                                                         strict=True)))
    return statistics.fmean(moves) if moves else 0.0


def fit_retreat(params: FlowParams, qty: int, target_ticks: float,
                trials: int = TRIALS) -> tuple[float, float]:
    """The factor ``r`` whose flow responds to an order of ``qty`` shares with
    ``target_ticks`` (:func:`causal_response`), and the response the fitted line gives there:
    the response is measured at every factor of :data:`GRID` and a straight line fitted
    through them by least squares, which averages the noise of single measurements (a
    bisection on them can be led astray by one). Capped at the grid's ends."""
    responses = [causal_response(with_retreat(params, factor), qty, trials) for factor in GRID]
    slope, intercept = np.polyfit(GRID, responses, 1)
    if slope <= 0:  # no retreat the data asks for makes the flow answer more
        factor = GRID[0] if target_ticks <= statistics.fmean(responses) else GRID[-1]
    else:
        factor = min(max((target_ticks - intercept) / slope, GRID[0]), GRID[-1])
    return float(factor), float(intercept + slope * factor)
