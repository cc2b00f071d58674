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
