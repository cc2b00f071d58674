"""The bursts' estimator: it recovers the excitation of market orders a flow with a known one
made, and finds none in a flow without."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import Side
from sim.excitation_fit import fit_excitation
from sim.flow import FlowParams, StochasticFlow
from sim.matching import OrderBook


def _orders(params: FlowParams, seed: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    flow = StochasticFlow(params, seed=seed)
    book = OrderBook("SIM")
    flow.seed_book(book, 0)
    times, signs = [], []
    while flow.next_time_ns() < seconds * 1e9:
        ts = flow.next_time_ns()
        fills = flow.apply_next(book)
        if fills:
            times.append(ts)
            signs.append(1.0 if fills[0].maker_side is Side.SELL else -1.0)
    return np.array(times, dtype=np.int64), np.array(signs)


def test_recovers_three_time_scales_of_bursts() -> None:
    truth = ((0.3, 0.001, 0.95), (0.2, 0.05, 1.0), (0.2, 2.0, 0.8))
    params = FlowParams(start_price=10_000, market_rate=0.5, excitation=truth,
                        sign_persistence=0.0)
    fit = fit_excitation(*_orders(params, 3, 20_000))
    assert not fit["explosive"]
    for (n, decay, same), (true_n, true_decay, true_same) in zip(fit["excitation"], truth,
                                                                 strict=True):
        assert n == pytest.approx(true_n, abs=0.08)
        assert decay == pytest.approx(true_decay, rel=0.5)
        assert same == pytest.approx(true_same, abs=0.12)
    # Background: what starts bursts, (1 - 0.7) of the rate.
    assert fit["background_per_s"] == pytest.approx(0.5 * 0.3, rel=0.2)


def test_a_flow_without_bursts_shows_little_excitation() -> None:
    # Orders at a constant rate, on a fair coin's side: nothing to excite.
    params = FlowParams(start_price=10_000, market_rate=0.5, imbalance_lean=0.0)
    fit = fit_excitation(*_orders(params, 4, 20_000))
    assert sum(c[0] for c in fit["excitation"]) < 0.1
    assert fit["sign_persistence"] == pytest.approx(0.0, abs=0.1)
