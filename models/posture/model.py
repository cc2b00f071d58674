"""The trained posture model, served from its JSON artifact with plain arithmetic.

Three scores per tick, each a number an operator can read:

- **anomaly**: every feature of :mod:`models.posture.market_state` as a one-sided robust
  z-score (``(x - median) / (1.4826 MAD)`` of the training part of the day, in the direction that
  means trouble: a wider spread, less depth, a bigger jump, more messages, more cancels), divided
  by the largest such z-score that feature reached in training; the anomaly is the largest of
  these. 1 means "as unusual as the most unusual moment of the training part of the day".
  Robust z-scores rather than an IsolationForest through ONNX: a score must cost well under the
  posture's 10 µs per tick, and one onnxruntime call costs about 6 µs on its own
  (docs/benchmarks.md, "Tick to wire"); the z-scores also say *which* feature fired.
- **volatility forecast**: a HAR model of the mid's realised variance over the next 60 s from
  its 10 s, 60 s and 600 s realised variance rates, fitted offline (non-negative least squares),
  in bps per square-root second, and its ratio to the training day's median forecast.
- **regime**: a Gaussian hidden Markov model (hmmlearn, diagonal covariances) over the features'
  clipped z-scores sampled once a second, fitted offline; served as its forward filter: on every
  whole second of event time the filtered state probabilities move one step. The *turbulent*
  regime is the state whose mean is the most unusual; its filtered probability is the score.

Every computation is scalar Python over a few numbers: for vectors of five, NumPy's per-call cost
is several times the arithmetic. A file whose feature spec differs from the running code's is
refused (:class:`PostureModelError`), as a policy file is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.posture.machine import Thresholds
from models.posture.market_state import (
    N_POSTURE_FEATURES,
    POSTURE_FEATURES,
    POSTURE_SPEC_HASH,
    POSTURE_SPEC_ID,
    MarketState,
)

FORMAT = "execagent-posture-model-1"
# The direction in which each feature means trouble (+1: high, -1: low), by feature name.
DIRECTIONS = {"spread": 1.0, "depth": -1.0, "jump": 1.0, "message_rate": 1.0,
              "cancel_rate": 1.0}
Z_CLIP = 10.0  # the HMM sees z-scores clipped here (an outlier must not define a regime)
MAX_HMM_STEPS = 60  # a silent feed's gap moves the filter at most this many steps
NS = 1_000_000_000


class PostureModelError(ValueError):
    """A posture model file that cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class PostureParams:
    """What a posture model file holds (``execagent posture train`` writes it)."""

    median: tuple[float, ...]
    scale: tuple[float, ...]  # 1.4826 MAD, floored
    extreme: tuple[float, ...]  # the largest one-sided z-score of each feature in training
    har: tuple[float, float, float, float]  # intercept, 10 s, 60 s, 600 s coefficients
    vol_median: float  # the training median of the forecast, bps per sqrt(s)
    startprob: tuple[float, ...]
    transmat: tuple[tuple[float, ...], ...]
    means: tuple[tuple[float, ...], ...]
    variances: tuple[tuple[float, ...], ...]
    turbulent: int
    thresholds: Thresholds
    warmup_s: float
    reference: dict[str, Any]  # histograms for drift monitoring (models/drift.py)
    metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        th = self.thresholds
        return {
            "format": FORMAT, "posture_spec_id": POSTURE_SPEC_ID,
            "posture_spec_hash": POSTURE_SPEC_HASH,
            "features": [name for name, _ in POSTURE_FEATURES],
            "robust": {"median": list(self.median), "scale": list(self.scale),
                       "extreme": list(self.extreme)},
            "har": {"coefficients": list(self.har), "vol_median_bps": self.vol_median},
            "hmm": {"startprob": list(self.startprob),
                    "transmat": [list(row) for row in self.transmat],
                    "means": [list(row) for row in self.means],
                    "variances": [list(row) for row in self.variances],
                    "turbulent": self.turbulent, "step_seconds": 1.0},
            "thresholds": {name: getattr(th, name) for name in th.__dataclass_fields__},
            "warmup_seconds": self.warmup_s,
            "reference": self.reference,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, doc: Any, source: str) -> PostureParams:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise PostureModelError(f"{source} is not a posture model file ({FORMAT})")
        spec_id, spec_hash = doc.get("posture_spec_id"), doc.get("posture_spec_hash")
        if spec_id != POSTURE_SPEC_ID or spec_hash != POSTURE_SPEC_HASH:
            raise PostureModelError(
                f"posture model {source} was fitted on features {spec_id!r} (hash {spec_hash!r}) "
                f"but this code computes {POSTURE_SPEC_ID!r} (hash {POSTURE_SPEC_HASH!r}): "
                "retrain it with `execagent posture train`")
        try:
            robust, har, hmm = doc["robust"], doc["har"], doc["hmm"]
            params = cls(
                median=_floats(robust["median"]), scale=_floats(robust["scale"]),
                extreme=_floats(robust["extreme"]),
                har=(float(har["coefficients"][0]), float(har["coefficients"][1]),
                     float(har["coefficients"][2]), float(har["coefficients"][3])),
                vol_median=float(har["vol_median_bps"]),
                startprob=_floats(hmm["startprob"]),
                transmat=tuple(_floats(row) for row in hmm["transmat"]),
                means=tuple(_floats(row) for row in hmm["means"]),
                variances=tuple(_floats(row) for row in hmm["variances"]),
                turbulent=int(hmm["turbulent"]),
                thresholds=Thresholds(**doc["thresholds"]),
                warmup_s=float(doc["warmup_seconds"]),
                reference=dict(doc.get("reference", {})), metadata=dict(doc.get("metadata", {})))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PostureModelError(f"posture model {source} is malformed: {exc!r}") from exc
        params.check(source)
        return params

    def check(self, source: str) -> None:
        n, k = N_POSTURE_FEATURES, len(self.startprob)
        shapes_ok = (len(self.median) == len(self.scale) == len(self.extreme) == n
                     and k >= 1 and len(self.transmat) == k
                     and all(len(row) == k for row in self.transmat)
                     and len(self.means) == len(self.variances) == k
                     and all(len(row) == n for row in (*self.means, *self.variances))
                     and 0 <= self.turbulent < k)
        if not shapes_ok:
            raise PostureModelError(f"posture model {source}: parameter shapes do not match "
                                    f"{n} features")
        values = (*self.scale, *self.extreme, *(v for row in self.variances for v in row))
        if not all(math.isfinite(v) and v > 0 for v in values) or self.vol_median <= 0:
            raise PostureModelError(f"posture model {source}: scales, extremes, variances and "
                                    "the median volatility must be positive and finite")


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def load_posture_model(path: str | Path) -> PostureParams:
    source = Path(path)
    if not source.is_file():
        raise PostureModelError(f"posture model file {source} does not exist: train one with "
                                "`execagent posture train` or point posture.model_path at "
                                "models/artifacts/posture.json")
    try:
        doc = json.loads(source.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PostureModelError(f"posture model file {source} cannot be read: {exc}") from exc
    return PostureParams.from_json(doc, str(source))


class PostureScorer:
    """One symbol's scores from its :class:`MarketState`, once per tick."""

    __slots__ = ("_alpha", "_directions", "_last_step_ns", "_lognorm", "_params",
                 "anomaly", "driver", "turbulent", "vol_forecast", "vol_ratio", "z")

    def __init__(self, params: PostureParams) -> None:
        self._params = params
        self._directions = tuple(DIRECTIONS[name] for name, _ in POSTURE_FEATURES)
        self._lognorm = tuple(-0.5 * sum(math.log(2.0 * math.pi * v) for v in row)
                              for row in params.variances)
        self._alpha = list(params.startprob)
        self._last_step_ns = 0
        self.z = [0.0] * N_POSTURE_FEATURES  # one-sided robust z-scores
        self.anomaly = 0.0
        self.driver = 0  # the feature with the largest share of its extreme
        self.vol_forecast = 0.0  # bps per sqrt(second), next 60 s
        self.vol_ratio = 1.0
        self.turbulent = 0.0

    @property
    def regime_probabilities(self) -> list[float]:
        return list(self._alpha)

    def score(self, state: MarketState, now_ns: int) -> None:
        """Score the state after a tick. Until the state has seen ``warmup_s`` of event time its
        windows are not filled: every score stays calm (anomaly 0, the usual volatility)."""
        p = self._params
        if state.elapsed_s < p.warmup_s:
            return
        z = self.z
        best = 0.0
        driver = 0
        values = state.values
        for i in range(N_POSTURE_FEATURES):
            zi = self._directions[i] * (values[i] - p.median[i]) / p.scale[i]
            z[i] = zi
            share = zi / p.extreme[i]
            if share > best:
                best = share
                driver = i
        self.anomaly = best
        self.driver = driver
        v10, v60, v600 = state.variances()
        c0, c1, c2, c3 = p.har
        forecast = c0 + c1 * v10 + c2 * v60 + c3 * v600
        self.vol_forecast = math.sqrt(forecast) if forecast > 0.0 else 0.0
        self.vol_ratio = self.vol_forecast / p.vol_median
        if self._last_step_ns == 0:
            self._last_step_ns = now_ns
        elif now_ns - self._last_step_ns >= NS:
            steps = (now_ns - self._last_step_ns) // NS
            self._last_step_ns += steps * NS
            self._filter(min(steps, MAX_HMM_STEPS))

    def _filter(self, steps: int) -> None:
        """The HMM's forward filter: ``steps`` transitions, then this second's observation."""
        p = self._params
        alpha = self._alpha
        k = len(alpha)
        for _ in range(steps):
            alpha = [sum(alpha[i] * p.transmat[i][j] for i in range(k)) for j in range(k)]
        observed = hmm_observation(self.z)
        logs = []
        for j in range(k):
            mean, var = p.means[j], p.variances[j]
            ll = self._lognorm[j]
            for d in range(N_POSTURE_FEATURES):
                ll -= 0.5 * (observed[d] - mean[d]) * (observed[d] - mean[d]) / var[d]
            logs.append(ll)
        top = max(logs)
        weighted = [alpha[j] * math.exp(logs[j] - top) for j in range(k)]
        total = sum(weighted)
        self._alpha = [w / total for w in weighted] if total > 0.0 else list(p.startprob)
        self.turbulent = self._alpha[p.turbulent]


def hmm_observation(z: list[float]) -> list[float]:
    """What the HMM observes, from one tick's z-scores (training builds its samples with it)."""
    return [min(max(v, -Z_CLIP), Z_CLIP) for v in z]
