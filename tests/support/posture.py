"""A small posture model made in the test (no artifact needed): every feature centred at 0 with
scale 1 and extreme 10, a flat volatility forecast, a two-state HMM, quartile references."""

from __future__ import annotations

from models.posture.machine import Thresholds
from models.posture.market_state import N_POSTURE_FEATURES, POSTURE_FEATURES
from models.posture.model import PostureParams

N = N_POSTURE_FEATURES
# Quartiles of a standard normal: a reference any centred feature roughly matches.
QUARTILES = {"edges": [-0.674, 0.0, 0.674], "probs": [0.25, 0.25, 0.25, 0.25]}
REFERENCE = {"features": {name: QUARTILES for name, _ in POSTURE_FEATURES},
             "outputs": {"anomaly": {"edges": [0.05, 0.1, 0.2], "probs": [0.25] * 4}}}


def small_params(thresholds: Thresholds | None = None, warmup_s: float = 0.0) -> PostureParams:
    return PostureParams(
        median=(0.0,) * N, scale=(1.0,) * N, extreme=(10.0,) * N, har=(0.25, 0.0, 0.0, 0.0),
        vol_median=0.5, startprob=(0.9, 0.1), transmat=((0.95, 0.05), (0.1, 0.9)),
        means=((0.0,) * N, (3.0,) * N), variances=((1.0,) * N, (4.0,) * N), turbulent=1,
        thresholds=thresholds or Thresholds(), warmup_s=warmup_s, reference=REFERENCE,
        metadata={})
