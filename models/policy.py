"""The execution-policy interface and the ONNX Runtime policy.

Why an interface: the RL policy and the baselines (TWAP, ...) must run through the same engine,
risk overlay and OMS, so that a comparison between them measures the policies and nothing else.
Each gets a :class:`DecisionContext` per tick and answers an :class:`~models.actions.Action`.

ONNX model contract (what ``execagent export`` writes and :class:`OnnxPolicy` checks):
- one input ``obs``: float32 ``[batch, N_FEATURES]``; one output ``logits``: float32
  ``[batch, n_actions]``, ``n_actions`` the length of the action table (checked at load, on
  the declared shape and on the output of one inference); the deterministic action is the
  argmax, and an output that is not finite (NaN, an infinity) is no action: WAIT, counted;
- metadata ``execagent.feature_spec_id`` and ``execagent.feature_spec_hash`` equal to the running
  code's :mod:`models.features` values, and ``execagent.action_table``: a JSON list of
  ``[action kind name, multiple of the slice quantity]``.
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
from models.features import FEATURE_SPEC_HASH, FEATURE_SPEC_ID, N_FEATURES

log = logging.getLogger(f"execagent.{__name__}")


class ModelError(ValueError):
    """A model file that cannot be used: missing, corrupt, or built for other features."""


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
    # How much more urgent than usual the market makes the parent: a multiplier of a
    # schedule's risk aversion (the dynamic risk posture's, service/posture.py; 1: as usual).
    # Almgren-Chriss reads it; the ONNX policy's observation (feature spec execagent-obs-v1)
    # has no slot for it until a new feature spec is trained with one.
    urgency: float = 1.0


class ExecutionPolicy(Protocol):
    name: str

    def act(self, ctx: DecisionContext) -> Action: ...


class OnnxPolicy:
    """A policy exported to ONNX, run with ONNX Runtime on one intra-op thread.

    One thread because the service decides on one tick at a time and the batch is a single
    observation: more threads only add synchronisation cost (measured in bench/).
    """

    def __init__(self, path: str | Path, name: str = "rl") -> None:
        import onnxruntime as ort

        self.name = name
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} does not exist: train and export one, "
                             "or point policy.model_path at models/artifacts/policy.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            raise ModelError(f"model file {self.path} is not a valid ONNX model: {exc}") from exc
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.action_table = self._check_contract()
        n_actions = len(self.action_table)
        self._check_output_width(n_actions)
        # Outputs that were not finite (each a WAIT); ``on_nonfinite`` is told of each (the
        # engine counts them in execagent_policy_nonfinite_outputs_total).
        self.nonfinite_outputs = 0
        self.on_nonfinite: Callable[[], None] | None = None
        # IO binding to two preallocated buffers: a decision copies the observation in and
        # reads the logits out, and onnxruntime allocates nothing (10.6 -> 5.8 µs a call,
        # bench/bench_tick_to_wire.py). The input binding refers to ``_input``'s memory, so
        # it must never be reallocated.
        self._input = np.zeros((1, N_FEATURES), dtype=np.float32)
        self._logits = np.zeros((1, n_actions), dtype=np.float32)
        self._binding = self._session.io_binding()
        self._binding.bind_cpu_input("obs", self._input)
        self._binding.bind_output("logits", "cpu", 0, np.float32, list(self._logits.shape),
                                  self._logits.ctypes.data)

    def _check_output_width(self, n_actions: int) -> None:
        """``logits`` is one value per action of the table: as declared (when the width is a
        number) and as computed from a zero observation (whatever was declared)."""
        declared = next(o for o in self._session.get_outputs() if o.name == "logits").shape
        if isinstance(declared[-1], int) and declared[-1] != n_actions:
            raise ModelError(f"model {self.path} declares {declared[-1]} logits for an action "
                             f"table of {n_actions}")
        try:
            (probe,) = self._session.run(["logits"],
                                         {"obs": np.zeros((1, N_FEATURES), np.float32)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {self.path} fails on a zero observation: {exc}") from exc
        if np.shape(probe) != (1, n_actions):
            raise ModelError(f"model {self.path} answers logits of shape {np.shape(probe)} "
                             f"for one observation; its action table needs (1, {n_actions})")

    def _check_contract(self) -> list[tuple[ActionKind, float]]:
        meta = self.metadata
        spec_id = meta.get("execagent.feature_spec_id")
        spec_hash = meta.get("execagent.feature_spec_hash")
        if spec_id != FEATURE_SPEC_ID or spec_hash != FEATURE_SPEC_HASH:
            raise ModelError(
                f"model {self.path} was built for feature spec {spec_id!r} (hash {spec_hash!r}) "
                f"but this code computes {FEATURE_SPEC_ID!r} (hash {FEATURE_SPEC_HASH!r}): "
                "retrain and export the model with this version of models/features.py"
            )
        inputs = self._session.get_inputs()
        outputs = [o.name for o in self._session.get_outputs()]
        if len(inputs) != 1 or inputs[0].name != "obs" or inputs[0].shape[-1] != N_FEATURES:
            raise ModelError(f"model {self.path} must take one input 'obs' of width {N_FEATURES}")
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
        index = self.action_index(ctx.obs)
        if index is None:
            return WAIT
        kind, multiple = self.action_table[index]
        return Action(kind, max(round(multiple * ctx.slice_qty), 1)
                      if kind is not ActionKind.WAIT else 0)
