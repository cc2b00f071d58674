"""The execution-policy interface and the ONNX Runtime policy.

Why an interface: the RL policy and the baselines (TWAP, ...) must run through the same engine,
risk overlay and OMS, so that a comparison between them measures the policies and nothing else.
Each gets a :class:`DecisionContext` per tick and answers an :class:`~models.actions.Action`.

ONNX model contract (what ``execagent export`` writes and :class:`OnnxPolicy` checks):
- one input ``obs``: float32 ``[batch, width]``; one output ``logits``: float32
  ``[batch, n_actions]``, ``n_actions`` the length of the action table (checked at load, on
  the declared shape and on the output of one inference); the deterministic action is the
  argmax, and an output that is not finite (NaN, an infinity) is no action: WAIT, counted;
- metadata ``execagent.feature_spec_id`` naming an observation version this code builds
  (:data:`models.features.OBSERVATION_SPECS`: ``execagent-obs-v1``, ``execagent-obs-v2``
  with the price signal, or ``execagent-obs-v3`` with the signal and the parent's task) and
  ``execagent.feature_spec_hash`` equal to the running code's hash of that version, the
  input's width that version's, and ``execagent.action_table``: a JSON list of ``[action kind
  name, multiple of the slice quantity]``;
- the parents it may work: ``execagent.task_range`` (:class:`models.task.TrainedRange`), or,
  for a file exported before that key existed, what its ``execagent.training_config`` implies
  (:func:`models.task.range_from_metadata`); read when first asked for, or at load for an
  ``execagent-obs-v3`` model, whose observation sizes the parent by the range's volume rate;
- how often it decides: ``execagent.decision_interval_s``, seconds of event time between two
  decisions (the training episode's ``decision_interval_seconds``); absent (a file exported
  before the key existed) or 0, on every tick.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.depth_book import DepthBook
from core.domain import ParentOrder
from models.actions import WAIT, Action, ActionKind
from models.features import FEATURE_SPEC_ID, FEATURE_SPEC_V3_ID, OBSERVATION_SPECS
from models.names import RL_NAME
from models.onnx_session import InvalidOnnxModel, single_thread_session
from models.task import TrainedRange, range_from_metadata

log = logging.getLogger(f"execagent.{__name__}")


class ModelError(ValueError):
    """A model file that cannot be used: missing, corrupt, or built for other features."""


class OutsideTrainedRange(ModelError):
    """A parent the model was not trained for (side, participation or horizon)."""


@dataclass(slots=True)
class DecisionContext:
    """What a policy sees on one tick. ``obs`` is the shared feature vector."""

    obs: np.ndarray
    parent: ParentOrder
    book: DepthBook
    now_ns: int
    slice_qty: int
    n_slices: int
    resting_qty: int  # open quantity of the parent's resting child order
    ioc_in_flight: int  # open quantity of its IOC child orders not yet answered
    # Shares printed on the market since the parent started (POV's yardstick). Defaults to 0
    # for callers that do not track it, so the positional constructors elsewhere keep working.
    market_volume: int = 0
    # The symbol's price signal now (models.signal): the mid's predicted change over the
    # signal's horizon, bps, > 0 up; 0.0 when the engine runs no signal model.
    signal_bps: float = 0.0
    # How much more urgent than usual the market makes the parent: a multiplier of a
    # schedule's risk aversion (the dynamic risk posture's, service/posture/gate.py; 1: as usual).
    # Almgren-Chriss reads it; the ONNX policy's observation has no slot for it.
    urgency: float = 1.0


class ExecutionPolicy(Protocol):
    name: str

    def act(self, ctx: DecisionContext) -> Action: ...


DECISION_INTERVAL_KEY = "execagent.decision_interval_s"


def slice_multiple_shares(multiple: float, slice_qty: int) -> int:
    """Shares an action asking for ``multiple`` slices of ``slice_qty`` works: rounded, at least
    one. The model's table, the training environment and the rule baseline size alike."""
    return max(round(multiple * slice_qty), 1)


def decision_interval_ns(policy: ExecutionPolicy) -> int:
    """How long ``policy`` lets pass between two of its decisions, ns of event time: what an
    ONNX policy's file says; 0 (every tick) for a policy that says nothing, as the baselines,
    which decide on every tick."""
    return int(getattr(policy, "decision_interval_s", 0.0) * 1e9)


def reads_signal(policy: ExecutionPolicy) -> bool:
    """Whether ``policy`` decides on the price signal (``DecisionContext.signal_bps``): what the
    policy says (``reads_signal``); False for one that says nothing, as the baselines but the
    alpha-aware one."""
    return bool(getattr(policy, "reads_signal", False))


class OnnxPolicy:
    """A policy exported to ONNX, run with ONNX Runtime on one thread
    (:mod:`models.onnx_session`)."""

    def __init__(self, path: str | Path, name: str = RL_NAME) -> None:
        self.name = name
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} does not exist: train and export one, "
                             "or point policy.model_path at models/artifacts/policy.onnx")
        try:
            self._session = single_thread_session(self.path)
        except InvalidOnnxModel as exc:
            raise ModelError(f"model file {self.path} is not a valid ONNX model: {exc}") from exc
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.feature_spec_id = FEATURE_SPEC_ID
        self.action_table = self._check_contract()
        self.decision_interval_s = self._decision_interval_s()
        n_features = OBSERVATION_SPECS[self.feature_spec_id][1]
        self._trained_range: TrainedRange | None = None
        if self.feature_spec_id == FEATURE_SPEC_V3_ID:
            self.trained_range()  # its volume rate sizes the observed participation
        n_actions = len(self.action_table)
        self._check_output_width(n_actions, n_features)
        # Outputs that were not finite (each a WAIT); ``on_nonfinite`` is told of each (the
        # engine counts them in execagent_policy_nonfinite_outputs_total).
        self.nonfinite_outputs = 0
        self.on_nonfinite: Callable[[], None] | None = None
        # IO binding to two preallocated buffers: a decision copies the observation in and
        # reads the logits out, and onnxruntime allocates nothing (10.6 -> 5.8 µs a call,
        # bench/bench_tick_to_wire.py). The input binding refers to ``_input``'s memory, so
        # it must never be reallocated.
        self._input = np.zeros((1, n_features), dtype=np.float32)
        self._logits = np.zeros((1, n_actions), dtype=np.float32)
        self._binding = self._session.io_binding()
        self._binding.bind_cpu_input("obs", self._input)
        self._binding.bind_output("logits", "cpu", 0, np.float32, list(self._logits.shape),
                                  self._logits.ctypes.data)

    def _check_output_width(self, n_actions: int, n_features: int) -> None:
        """``logits`` is one value per action of the table: as declared (when the width is a
        number) and as computed from a zero observation (whatever was declared)."""
        declared = next(o for o in self._session.get_outputs() if o.name == "logits").shape
        if isinstance(declared[-1], int) and declared[-1] != n_actions:
            raise ModelError(f"model {self.path} declares {declared[-1]} logits for an action "
                             f"table of {n_actions}")
        try:
            (probe,) = self._session.run(["logits"],
                                         {"obs": np.zeros((1, n_features), np.float32)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {self.path} fails on a zero observation: {exc}") from exc
        if np.shape(probe) != (1, n_actions):
            raise ModelError(f"model {self.path} answers logits of shape {np.shape(probe)} "
                             f"for one observation; its action table needs (1, {n_actions})")

    def _check_contract(self) -> list[tuple[ActionKind, float]]:
        meta = self.metadata
        spec_id = meta.get("execagent.feature_spec_id")
        spec_hash = meta.get("execagent.feature_spec_hash")
        if spec_id not in OBSERVATION_SPECS:
            raise ModelError(
                f"model {self.path} was built for feature spec {spec_id!r}, which this code "
                f"does not build (it builds {', '.join(OBSERVATION_SPECS)}): retrain and export "
                "the model with this version of models/features.py")
        expected_hash, n_features = OBSERVATION_SPECS[spec_id]
        if spec_hash != expected_hash:
            raise ModelError(
                f"model {self.path} was built for feature spec {spec_id!r} (hash {spec_hash!r}) "
                f"but this code computes {spec_id!r} with hash {expected_hash!r}: "
                "retrain and export the model with this version of models/features.py"
            )
        self.feature_spec_id = spec_id
        inputs = self._session.get_inputs()
        outputs = [o.name for o in self._session.get_outputs()]
        if len(inputs) != 1 or inputs[0].name != "obs" or inputs[0].shape[-1] != n_features:
            raise ModelError(f"model {self.path} must take one input 'obs' of width "
                             f"{n_features} ({spec_id})")
        if "logits" not in outputs:
            raise ModelError(f"model {self.path} has no output named 'logits' (has {outputs})")
        try:
            table = [(ActionKind[kind], float(mult))
                     for kind, mult in json.loads(meta["execagent.action_table"])]
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"model {self.path} has no valid execagent.action_table metadata: "
                             f"{exc}") from exc
        if not table:
            raise ModelError(f"model {self.path} has an empty action table")
        return table

    def _decision_interval_s(self) -> float:
        text = self.metadata.get(DECISION_INTERVAL_KEY, "0")
        try:
            interval = float(text)
        except ValueError:
            interval = math.nan
        if not 0 <= interval < math.inf:
            raise ModelError(f"model {self.path} has {DECISION_INTERVAL_KEY} {text!r}: not a "
                             "number of seconds >= 0")
        return interval

    def trained_range(self) -> TrainedRange:
        """The parents the model was trained for; a ModelError when its file does not say."""
        if self._trained_range is None:
            try:
                self._trained_range = range_from_metadata(self.metadata)
            except ValueError as exc:
                raise ModelError(f"model {self.path} does not say which parents it was trained "
                                 f"for: {exc}") from exc
        return self._trained_range

    def check_parent(self, side: int, qty: int, horizon_s: float,
                     volume_per_s: float | None = None) -> None:
        """OutsideTrainedRange (one line, naming the way out) unless the model was trained for
        such a parent; ``volume_per_s`` as :meth:`models.task.TrainedRange.refusal` takes it."""
        reason = self.trained_range().refusal(side, qty, horizon_s, volume_per_s)
        if reason is not None:
            raise OutsideTrainedRange(f"policy onnx ({self.path.name}) refuses this parent: "
                                      f"{reason}; name a baseline policy to work it")

    def action_index(self, obs: np.ndarray) -> int | None:
        """The chosen action's index in the table, or None when the output was not finite
        (counted, told to ``on_nonfinite``, logged at the 1st, 2nd, 4th... occurrence)."""
        self._input[0] = obs
        self._session.run_with_iobinding(self._binding)
        # One pass in Python floats: their sum is finite exactly when every logit is (NaN and
        # infinities propagate; float32 values summed as doubles cannot overflow), and the
        # index of the first maximum is numpy's argmax. About 1.2 µs, against 0.7 for argmax.
        values = self._logits[0].tolist()
        if not math.isfinite(sum(values)):
            self._nonfinite(values)
            return None
        return values.index(max(values))

    def _nonfinite(self, values: list[float]) -> None:
        self.nonfinite_outputs += 1
        count = self.nonfinite_outputs
        if count & (count - 1) == 0:
            log.error("model %s output %s: not finite, so no action (WAIT); %d so far",
                      self.path, values, count)
        if self.on_nonfinite is not None:
            self.on_nonfinite()

    def act(self, ctx: DecisionContext) -> Action:
        return self.action_for(self.action_index(ctx.obs), ctx.slice_qty)

    def action_for(self, index: int | None, slice_qty: int) -> Action:
        """The table's action ``index`` at a slice of ``slice_qty`` (WAIT for no index: an
        output that was not finite)."""
        if index is None:
            return WAIT
        kind, multiple = self.action_table[index]
        return Action(kind, slice_multiple_shares(multiple, slice_qty)
                      if kind is not ActionKind.WAIT else 0)
