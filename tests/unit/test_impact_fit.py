"""Estimating the propagator: the bare kernel through correlated signs, the decay fit, the GOOG
estimate, and the calibration file's impact section."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sim.impact_fit import bare_kernel, decay_fit, fit_impact, load_impact_params
from sim.lobster import open_sample
from sim.propagator import ImpactParams

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sim" / "params" / "GOOG_2012-06-21.json"
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


def test_the_bare_kernel_is_recovered_through_persistent_signs() -> None:
    rng = np.random.default_rng(7)
    n, truth = 200_000, np.array([3.0, -0.5, -0.3, -0.2, -0.1])
    signs = np.empty(n)
    signs[0] = 1.0
    for i in range(1, n):  # the previous sign kept with probability 0.8: strong persistence
        signs[i] = signs[i - 1] if rng.random() < 0.8 else rng.choice((-1.0, 1.0))
    changes = np.convolve(signs, truth)[:n] + rng.normal(0.0, 1.0, n)
    kernel = bare_kernel(signs, changes, 10)
    assert kernel[:5] == pytest.approx(truth, abs=0.05)
    assert np.abs(kernel[5:]).max() < 0.05
    naive = float(np.mean(signs[:-3] * changes[3:]))
    assert naive > 0.5  # g(3) is -0.2: the drift of later same-signed orders shows instead


def test_the_decay_fit_recovers_a_power_law() -> None:
    t = 4.0 * np.arange(1, 51)
    amplitude, decay_s, beta = decay_fit(3.5 * (1 + t / 8.0) ** -0.4, 4.0)
    assert amplitude == pytest.approx(3.5, rel=0.05)
    assert decay_s == pytest.approx(8.0, rel=0.1)
    assert beta == pytest.approx(0.4, abs=0.02)


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
def test_goog_gives_finite_positive_parameters_in_a_sane_range() -> None:
    params, source = fit_impact(open_sample(GOOG))
    values = params.to_json().values()
    assert all(math.isfinite(v) and v >= 0 for v in values)
    assert 1.0 < params.g0_ticks < 20.0  # GOOG's spread averaged 27 ticks
    assert 0.0 < params.size_exponent <= 1.0
    assert 0.0 < params.decay_exponent <= 2.0 and 0.1 <= params.decay_s <= 3_600.0
    assert params.reference_qty == 91.0
    assert source["market_orders"] > 5_000
    # Bare of the crowd's persistence, a trade's response no longer grows as GOOG's raw
    # response does (9 ticks 10 s later): it stays near its first value.
    assert max(source["bare_response_ticks"]) < 5.0


def test_the_shipped_parameters_hold_the_impact_and_a_file_without_it_means_none(
        tmp_path: Path) -> None:
    impact = load_impact_params(SHIPPED)
    assert not impact.is_none and impact.g0_ticks > 0
    document = json.loads(SHIPPED.read_text())
    del document["impact"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(document))
    assert load_impact_params(older) == ImpactParams.none()
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**document, "impact": {"g0_ticks": -2}}))
    with pytest.raises(ValueError, match=r"broken\.json: invalid impact"):
        load_impact_params(broken)


def _propagator_day(folder: Path, truth: ImpactParams, orders: int, gap_s: float) -> Path:
    """A one-level LOBSTER day whose mid follows ``truth``'s propagator: a market order every
    ``gap_s`` (signs kept with probability 0.7, sizes 25 to 400 shares), and between two, a
    submission whose book row shows the mid the orders so far made, plus a random walk, in
    whole ticks (a spread of 2)."""
    rng = np.random.default_rng(5)
    signs = np.empty(orders)
    signs[0] = 1.0
    for i in range(1, orders):
        signs[i] = signs[i - 1] if rng.random() < 0.7 else rng.choice((-1.0, 1.0))
    sizes = rng.choice([25, 50, 100, 200, 400], orders, p=[0.15, 0.2, 0.3, 0.2, 0.15])
    times = gap_s * np.arange(orders)
    noise = np.cumsum(rng.normal(0.0, 0.7, orders))
    messages, rows = ["34200.0,1,1,100,1000000,1"], ["1000200,100,1000000,100"]
    window = 400
    for n in range(orders):
        k = np.arange(max(0, n - window), n)
        impact = float(np.sum(signs[k] * truth.g0_ticks * (sizes[k] / truth.reference_qty)
                              ** truth.size_exponent * (1 + (times[n] - times[k])
                                                        / truth.decay_s) ** -truth.decay_exponent))
        bid = 10_000 + round(impact + noise[n])
        ts = 34_200 + gap_s + times[n]  # the first submission after the opening row
        messages.append(f"{ts - gap_s / 2:.3f},1,{n + 2},100,{bid * 100},1")
        rows.append(f"{(bid + 2) * 100},100,{bid * 100},100")
        price, direction = (bid + 2, -1) if signs[n] > 0 else (bid, 1)
        messages.append(f"{ts:.3f},4,1,{sizes[n]},{price * 100},{direction}")
        rows.append(f"{(bid + 2) * 100},100,{bid * 100},100")
    stem = "AAA_2012-06-21_34200000_57600000_{kind}_1.csv"
    (folder / stem.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / stem.format(kind="orderbook")).write_text("\n".join(rows) + "\n")
    return folder


def test_the_estimate_recovers_the_propagator_that_made_the_data(tmp_path: Path) -> None:
    truth = ImpactParams(g0_ticks=3.0, size_exponent=0.5, reference_qty=100.0, decay_s=20.0,
                         decay_exponent=0.6)
    params, source = fit_impact(open_sample(_propagator_day(tmp_path, truth, 12_000, 4.0)))
    assert source["market_orders"] == 12_000 and source["mean_gap_s"] == 4.0
    assert params.reference_qty == 100.0
    assert params.g0_ticks == pytest.approx(truth.g0_ticks, rel=0.1)
    assert params.size_exponent == pytest.approx(truth.size_exponent, abs=0.15)
    for age_s in (4.0, 40.0, 200.0):  # the kernel's shape where the data shows it
        assert params.kernel(100, int(age_s * 1e9)) == \
            pytest.approx(truth.kernel(100, int(age_s * 1e9)), rel=0.1)
