"""The task a parent order sets a policy: side, size as participation, and horizon.

Three things live here, each small:
- :class:`TaskSampler` draws a parent per training episode from configured ranges (buy and/or
  sell, a participation of the volume expected over the horizon, a horizon in minutes);
- :func:`models.task_features.task_descriptors` (its own module, which the compiled
  observation imports) writes the task, normalised, into an observation buffer: the part the
  task-aware observation ``execagent-obs-v3`` (:mod:`models.features`) appends to v2's
  features. Side, participation and horizon only: the time and inventory remaining are
  ``execagent-obs-v1``'s first two features already, and every side-dependent market feature
  there is signed for the parent's side, so the side descriptor is all that tells a buy from a
  sale;
- :class:`TrainedRange` is what a model was trained for, as its ONNX metadata says (or, for a
  model exported before the metadata had it, as its stored training configuration implies), and
  says in one line why a parent falls outside it.

Named assumptions:
- **Expected volume** over a horizon is a constant rate times its length: the market's average
  traded shares per second (for the calibrated flow ``market_rate * mean_market_size``, about
  19.5 shares/s on GOOG 2012-06-21), with no intraday profile. Participation is the parent's
  quantity over that volume.
- **Participation is drawn log-uniformly** (a 1% parent is as common in training as a 20% one;
  uniform draws would give the small sizes almost no episodes), horizons uniformly.
- **A parent within** :data:`RANGE_TOLERANCE` **of a trained range's ends is inside it**: the
  quantity is rounded to shares and the volume estimate is no better than that; a model trained
  on one fixed task (a point range) thereby accepts near-identical parents.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import calibrate
from sim.calibrate import load_flow_params
from sim.flow import FlowParams

RANGE_TOLERANCE = 0.10
TASK_RANGE_KEY = "execagent.task_range"
TRAINING_CONFIG_KEY = "execagent.training_config"  # the run's configuration, as JSON

def market_volume_per_s(params: FlowParams) -> float:
    """Average shares traded per second on the calibrated flow (the volume assumption)."""
    return params.market_rate * params.mean_market_size


def participation_of(qty: int, horizon_s: float, volume_per_s: float) -> float:
    """``qty`` as a share of the volume expected over ``horizon_s``."""
    expected = volume_per_s * horizon_s
    return qty / expected if expected > 0 else math.inf


@dataclass(frozen=True, slots=True)
class Task:
    side: int  # +1 buy, -1 sell
    qty: int
    horizon_s: float
    participation: float


@dataclass(frozen=True, slots=True)
class TaskSampler:
    """Parents drawn per episode: a side from ``sides``, a participation log-uniform in
    ``participation``, a horizon uniform in ``horizon_s``; the quantity follows from the
    volume rate."""

    sides: tuple[int, ...]
    participation: tuple[float, float]
    horizon_s: tuple[float, float]
    volume_per_s: float

    def __post_init__(self) -> None:
        low, high = self.participation
        if not self.sides or any(side not in (1, -1) for side in self.sides):
            raise ValueError(f"sides must be +1 (buy) and/or -1 (sell), got {self.sides}")
        if not 0 < low <= high <= 1:
            raise ValueError(f"participation range must lie in (0, 1], got {self.participation}")
        if not 0 < self.horizon_s[0] <= self.horizon_s[1]:
            raise ValueError(f"horizon range must be positive, got {self.horizon_s}")
        if not self.volume_per_s > 0:
            raise ValueError(f"volume per second must be positive, got {self.volume_per_s}")

    def draw(self, rng: random.Random) -> Task:
        side = self.sides[rng.randrange(len(self.sides))]
        low, high = self.participation
        wanted = math.exp(rng.uniform(math.log(low), math.log(high)))
        horizon = rng.uniform(*self.horizon_s)
        qty = max(1, round(wanted * self.volume_per_s * horizon))
        return Task(side, qty, horizon, participation_of(qty, horizon, self.volume_per_s))


def _pair(value: object, name: str) -> tuple[float, float]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a [low, high] pair, got {value!r}")
    low, high = (float(v) for v in value)
    if not 0 < low <= high or not math.isfinite(high):
        raise ValueError(f"{name} must be a positive [low, high] pair, got {value!r}")
    return low, high


@dataclass(frozen=True, slots=True)
class TrainedRange:
    """The parents a model was trained on; :meth:`refusal` says why one falls outside."""

    sides: tuple[str, ...]  # "buy" and/or "sell"
    participation: tuple[float, float]
    horizon_s: tuple[float, float]
    volume_per_s: float  # the training market's volume rate, the default for participation
    source: str  # where the range was read from, for the operator

    def as_json(self) -> str:
        return json.dumps({"sides": list(self.sides), "participation": list(self.participation),
                           "horizon_seconds": list(self.horizon_s),
                           "volume_per_second": self.volume_per_s}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> TrainedRange:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("the task range must be a JSON object")
        sides = tuple(document.get("sides", ()))
        if not sides or any(side not in ("buy", "sell") for side in sides):
            raise ValueError(f"sides must list buy and/or sell, got {sides!r}")
        volume = float(document["volume_per_second"])
        if not volume > 0:
            raise ValueError(f"volume_per_second must be positive, got {volume!r}")
        return cls(sides, _pair(document.get("participation"), "participation"),
                   _pair(document.get("horizon_seconds"), "horizon_seconds"), volume, source)

    def refusal(self, side: int, qty: int, horizon_s: float,
                volume_per_s: float | None = None, whose: str = "the model's trained") \
            -> str | None:
        """None when the parent is inside the range, else the one-line reason it is not.
        ``volume_per_s``: the symbol's expected volume rate (default: the training market's);
        ``whose``: what the range is called in the reason."""
        rate = self.volume_per_s if volume_per_s is None else volume_per_s
        name = "buy" if side > 0 else "sell"
        if name not in self.sides:
            return f"{whose} sides are {' and '.join(self.sides)} only, not {name}"
        low, high = self.horizon_s
        if not low * (1 - RANGE_TOLERANCE) <= horizon_s <= high * (1 + RANGE_TOLERANCE):
            return (f"a horizon of {horizon_s / 60:g} min is outside {whose} "
                    f"{_span(low / 60, high / 60, ' min')}")
        share = participation_of(qty, horizon_s, rate)
        low, high = self.participation
        if not low * (1 - RANGE_TOLERANCE) <= share <= high * (1 + RANGE_TOLERANCE):
            return (f"{qty:,} shares over {horizon_s / 60:g} min is {share:.1%} of the volume "
                    f"expected ({rate:g} shares/s), outside {whose} "
                    f"{_span(100 * low, 100 * high, '%')} participation")
        return None


def _span(low: float, high: float, unit: str) -> str:
    return f"{low:.3g}{unit}" if math.isclose(low, high) else f"{low:.3g}-{high:.3g}{unit}"


def trained_range(config: Mapping[str, Any], volume_per_s: float, source: str) -> TrainedRange:
    """The range a training configuration (``TrainConfig`` as JSON) trains on."""
    episode = config.get("episode", {})
    task = episode.get("task")
    if task:
        return TrainedRange(tuple(task["sides"]), _pair(task["participation"], "participation"),
                            (60.0 * task["horizon_minutes"][0], 60.0 * task["horizon_minutes"][1]),
                            volume_per_s, source)
    side, qty = str(episode.get("side", "sell")), int(episode.get("qty", 2_000))
    horizon = float(episode.get("horizon_seconds", 600.0))
    share = participation_of(qty, horizon, volume_per_s)
    return TrainedRange((side,), (share, share), (horizon, horizon), volume_per_s, source)


def range_from_metadata(metadata: Mapping[str, str]) -> TrainedRange:
    """The model's trained range: its ``execagent.task_range`` metadata, or for a model
    exported without one, derived from its ``execagent.training_config`` and the volume rate of
    the market file that configuration names (found as written, or by name among the
    calibrations shipped in ``sim/params``). A ValueError says what is missing."""
    if TASK_RANGE_KEY in metadata:
        return TrainedRange.from_json(metadata[TASK_RANGE_KEY], TASK_RANGE_KEY)
    if TRAINING_CONFIG_KEY not in metadata:
        raise ValueError(f"the model has neither {TASK_RANGE_KEY} nor {TRAINING_CONFIG_KEY}")
    try:
        config = json.loads(metadata[TRAINING_CONFIG_KEY])
    except ValueError as exc:
        raise ValueError(f"the model has no {TASK_RANGE_KEY}, and its {TRAINING_CONFIG_KEY} is "
                         f"not JSON: {exc}") from exc
    market_params = config.get("market_params") if isinstance(config, dict) else None
    if not isinstance(market_params, str):
        raise ValueError(f"the model has no {TASK_RANGE_KEY}, and its {TRAINING_CONFIG_KEY} "
                         "names no market_params file")
    market = Path(market_params)
    shipped = Path(calibrate.__file__).with_name("params") / market.name
    path = market if market.is_file() else shipped
    try:
        volume = market_volume_per_s(load_flow_params(path))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the model's training market {market} cannot be read to derive its "
                         f"trained range: {exc}") from exc
    return trained_range(config, volume, f"derived from execagent.training_config ({market})")
