"""The short-horizon price signal at run time: an ONNX model beside the policy, on every tick.

What it says: the mid's expected change over the model's horizon (5 s for the shipped
``models/artifacts/signal.onnx``), in basis points of the mid; positive means up. Trained by
``execagent signal train`` (:mod:`models.signal_train`, docs/signal-card.md).

ONNX model contract (what the training writes and :class:`SignalModel` checks):
- one input ``features``: float32 ``[batch, N_SIGNAL_FEATURES]``
  (:mod:`models.signal_features`); one output ``signal``: float32 ``[batch, 1]``;
- metadata ``execagent.signal_spec_id``, ``execagent.signal_spec_hash`` and
  ``execagent.signal_features`` (the names, in order) equal to the running code's, and
  ``execagent.signal_horizon_s``. A model built for other features is refused with a message
  naming the difference.

:class:`SignalRuntime` is one symbol's signal in the engine (and in the Gymnasium environment,
which computes it the same way): :meth:`~SignalRuntime.update` folds in every feed message,
:meth:`~SignalRuntime.predict` runs the model on the features now. It also keeps the signal's
realised accuracy: a prediction is sampled at most every :data:`ACCURACY_SAMPLE_S` of event time
and, once its horizon has passed, scored as a hit when the mid moved the way its sign said;
the share of hits over the last :data:`ACCURACY_WINDOW` scored predictions (those whose mid
moved) is what operators watch (``execagent_signal_realised_accuracy``).
"""

from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path

import numpy as np

from core.depth_book import DepthBook
from core.domain import MarketData
from models.onnx_session import InvalidOnnxModel, single_thread_session
from models.signal_features import (
    N_SIGNAL_FEATURES,
    SIGNAL_FEATURE_NAMES,
    SIGNAL_SPEC_HASH,
    SIGNAL_SPEC_ID,
    SignalTracker,
)

INPUT_NAME = "features"
OUTPUT_NAME = "signal"
ACCURACY_SAMPLE_S = 0.1
ACCURACY_WINDOW = 500


class SignalModelError(ValueError):
    """A signal model file that cannot be used: missing, corrupt, or built for other features."""


def spec_difference(meta: dict[str, str]) -> str | None:
    """What differs between the feature spec a model's metadata names and the running code's,
    in words; None when they agree."""
    spec_id = meta.get("execagent.signal_spec_id")
    spec_hash = meta.get("execagent.signal_spec_hash")
    try:
        names = tuple(json.loads(meta.get("execagent.signal_features", "null")) or ())
    except ValueError:
        names = ()
    differences = []
    if spec_id != SIGNAL_SPEC_ID:
        differences.append(f"spec id {spec_id!r} where this code computes {SIGNAL_SPEC_ID!r}")
    if names != SIGNAL_FEATURE_NAMES:
        missing = [n for n in SIGNAL_FEATURE_NAMES if n not in names]
        extra = [n for n in names if n not in SIGNAL_FEATURE_NAMES]
        if missing or extra:
            differences.append("features " + "; ".join(
                part for part in (f"the code has, the model lacks: {', '.join(missing)}"
                                  if missing else "",
                                  f"the model has, the code lacks: {', '.join(extra)}"
                                  if extra else "") if part))
        else:
            differences.append("the same features in another order")
    if spec_hash != SIGNAL_SPEC_HASH:
        differences.append(f"spec hash {spec_hash!r} where this code's is {SIGNAL_SPEC_HASH!r}"
                           + (" (the same names: a feature's definition changed)"
                              if names == SIGNAL_FEATURE_NAMES else ""))
    return "; ".join(differences) or None


class SignalModel:
    """A signal model exported to ONNX, run with ONNX Runtime on one thread (as the policy)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SignalModelError(f"signal model {self.path} does not exist: train one with "
                                   "`execagent signal train`, or point signal.model_path at "
                                   "models/artifacts/signal.onnx")
        try:
            self._session = single_thread_session(self.path)
        except InvalidOnnxModel as exc:
            raise SignalModelError(f"signal model {self.path} is not a valid ONNX model: "
                                   f"{exc}") from exc
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        difference = spec_difference(self.metadata)
        if difference is not None:
            raise SignalModelError(f"signal model {self.path} was built for other features: "
                                   f"{difference}; retrain it with `execagent signal train`")
        inputs = self._session.get_inputs()
        outputs = [o.name for o in self._session.get_outputs()]
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME or \
                inputs[0].shape[-1] != N_SIGNAL_FEATURES:
            raise SignalModelError(f"signal model {self.path} must take one input "
                                   f"{INPUT_NAME!r} of width {N_SIGNAL_FEATURES}")
        if OUTPUT_NAME not in outputs:
            raise SignalModelError(f"signal model {self.path} has no output {OUTPUT_NAME!r} "
                                   f"(has {outputs})")
        try:
            self.horizon_s = float(self.metadata["execagent.signal_horizon_s"])
        except (KeyError, ValueError) as exc:
            raise SignalModelError(f"signal model {self.path} has no valid "
                                   f"execagent.signal_horizon_s metadata: {exc}") from exc
        if not (math.isfinite(self.horizon_s) and self.horizon_s > 0):
            raise SignalModelError(f"signal model {self.path} has a horizon of "
                                   f"{self.horizon_s!r} s")

    def predict_batch(self, features: np.ndarray) -> np.ndarray:
        """Predictions for rows of features, float32 ``[n]``."""
        out = self._session.run([OUTPUT_NAME], {INPUT_NAME: features.astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def binding(self) -> tuple[np.ndarray, np.ndarray, object]:
        """A preallocated input row, output cell and IO binding for one-row calls that
        allocate nothing (as :class:`models.policy.OnnxPolicy` does)."""
        features = np.zeros((1, N_SIGNAL_FEATURES), dtype=np.float32)
        out = np.zeros((1, 1), dtype=np.float32)
        binding = self._session.io_binding()
        binding.bind_cpu_input(INPUT_NAME, features)
        binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, [1, 1], out.ctypes.data)
        return features, out, binding

    def run(self, binding: object) -> None:
        self._session.run_with_iobinding(binding)


class SignalRuntime:
    """One symbol's signal: the features, kept up to date on every message, and the model."""

    def __init__(self, model: SignalModel) -> None:
        self.model = model
        self.tracker = SignalTracker()
        self._features, self._out, self._binding = model.binding()
        self._row = self._features[0]
        self.value = 0.0  # the last prediction, bps over the horizon; 0 before the first
        self.predictions = 0
        self._horizon_ns = int(model.horizon_s * 1e9)
        self._sample_ns = int(ACCURACY_SAMPLE_S * 1e9)
        self._next_sample_ns = 0
        self._pending: deque[tuple[int, int, int]] = deque()  # (due ns, sign, mid_x2 then)
        self._scored: deque[int] = deque(maxlen=ACCURACY_WINDOW)  # 1 hit, 0 miss
        self._hits = 0

    def update(self, book: DepthBook, message: MarketData) -> None:
        """Fold in ``message`` (``book`` has it applied); scores the predictions whose horizon
        ended before it with the mid they ended on."""
        if self._pending:
            self._score(message.ts_ns - 1)
        self.tracker.update(book, message)
        if self._pending:
            self._score(message.ts_ns)

    def predict(self, book: DepthBook, now_ns: int) -> float:
        """The model's prediction on the features now (0.0 before a two-sided book)."""
        tracker = self.tracker
        if not tracker.ready():
            return 0.0
        tracker.write(self._row, book)
        self.model.run(self._binding)
        value = float(self._out[0, 0])
        self.value = value
        self.predictions += 1
        if now_ns >= self._next_sample_ns and value != 0.0:
            self._next_sample_ns = now_ns + self._sample_ns
            self._pending.append((now_ns + self._horizon_ns, 1 if value > 0 else -1,
                                  tracker.last_mid_x2))
        return value

    def _score(self, until_ns: int) -> None:
        pending, mid_x2 = self._pending, self.tracker.last_mid_x2
        while pending and pending[0][0] <= until_ns:
            _, sign, then_x2 = pending.popleft()
            if mid_x2 == then_x2:
                continue  # the mid did not move: no direction to be right about
            if len(self._scored) == ACCURACY_WINDOW:
                self._hits -= self._scored[0]
            hit = 1 if (mid_x2 > then_x2) == (sign > 0) else 0
            self._scored.append(hit)
            self._hits += hit

    @property
    def scored(self) -> int:
        """Predictions scored in the accuracy window (at most ACCURACY_WINDOW)."""
        return len(self._scored)

    def realised_accuracy(self) -> float:
        """Share of hits over the scored window; NaN before the first."""
        return self._hits / len(self._scored) if self._scored else math.nan
