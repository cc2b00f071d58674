"""Small ONNX models built in tests with the onnx helper API: a linear layer obs -> logits.

They prove the ONNX path (load, contract checks, inference) without torch: the trained policy
is exported by the training pipeline, which needs the [train] extra.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.actions import DEFAULT_ACTION_TABLE
from models.features import FEATURE_SPEC_HASH, FEATURE_SPEC_ID, N_FEATURES
from models.task import TASK_RANGE_KEY


def linear_policy(path: Path, weights: np.ndarray, bias: np.ndarray,
                  metadata: dict[str, str] | None = None, n_features: int = N_FEATURES,
                  keep: int | None = None) -> Path:
    """``keep``: output only the first ``keep`` logits, through a Compress whose output
    width no shape inference can know: the model declares its width symbolic."""
    n_actions = weights.shape[1]
    nodes = [helper.make_node("MatMul", ["obs", "W"], ["h"]),
             helper.make_node("Add", ["h", "B"], ["logits" if keep is None else "all"])]
    initializers = [numpy_helper.from_array(weights.astype(np.float32), "W"),
                    numpy_helper.from_array(bias.astype(np.float32), "B")]
    if keep is not None:
        nodes.append(helper.make_node("Compress", ["all", "kept"], ["logits"], axis=1))
        initializers.append(numpy_helper.from_array(np.arange(n_actions) < keep, "kept"))
    graph = helper.make_graph(
        nodes, "linear_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       ["batch", n_actions if keep is None else "n_actions"])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "execagent.feature_spec_id": FEATURE_SPEC_ID,
        "execagent.feature_spec_hash": FEATURE_SPEC_HASH,
        "execagent.action_table": json.dumps(
            [[kind.name, mult] for kind, mult in DEFAULT_ACTION_TABLE][:n_actions]),
    }
    meta.update(metadata or {})
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def constant_action_policy(path: Path, action_index: int,
                           metadata: dict[str, str] | None = None) -> Path:
    """A model whose argmax is always ``action_index`` (bias only)."""
    n_actions = len(DEFAULT_ACTION_TABLE)
    bias = np.zeros(n_actions, np.float32)
    bias[action_index] = 1.0
    return linear_policy(path, np.zeros((N_FEATURES, n_actions), np.float32), bias, metadata)


def linear_signal_model(path: Path, weights: np.ndarray | None = None, bias: float = 0.0,
                        horizon_s: float = 1.0,
                        metadata: dict[str, str] | None = None) -> Path:
    """A price-signal model (models/signal.py's contract) that is a linear function of the
    features: ``features @ weights + bias``; all-zero weights make it a constant."""
    from models.signal_features import (
        N_SIGNAL_FEATURES,
        SIGNAL_FEATURE_NAMES,
        SIGNAL_SPEC_HASH,
        SIGNAL_SPEC_ID,
    )

    w = np.zeros((N_SIGNAL_FEATURES, 1), np.float32) if weights is None else \
        weights.astype(np.float32).reshape(N_SIGNAL_FEATURES, 1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["h"]),
         helper.make_node("Add", ["h", "B"], ["signal"])],
        "linear_signal",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                       ["batch", N_SIGNAL_FEATURES])],
        [helper.make_tensor_value_info("signal", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(w, "W"),
         numpy_helper.from_array(np.array([bias], np.float32), "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "execagent.signal_spec_id": SIGNAL_SPEC_ID,
        "execagent.signal_spec_hash": SIGNAL_SPEC_HASH,
        "execagent.signal_features": json.dumps(list(SIGNAL_FEATURE_NAMES)),
        "execagent.signal_horizon_s": repr(float(horizon_s)),
    }
    meta.update(metadata or {})
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def v2_policy(path: Path, weights: np.ndarray, bias: np.ndarray) -> Path:
    """A linear policy on the execagent-obs-v2 observation (v1 and the price signal)."""
    from models.features import FEATURE_SPEC_V2_HASH, FEATURE_SPEC_V2_ID, N_FEATURES_V2

    return linear_policy(path, weights, bias, n_features=N_FEATURES_V2, metadata={
        "execagent.feature_spec_id": FEATURE_SPEC_V2_ID,
        "execagent.feature_spec_hash": FEATURE_SPEC_V2_HASH})


def v3_policy(path: Path, weights: np.ndarray, bias: np.ndarray,
              task_range: str | None = None) -> Path:
    """A linear policy on the execagent-obs-v3 observation (v2 and the task); ``task_range``:
    its ``execagent.task_range`` JSON, none written when None."""
    from models.features import FEATURE_SPEC_V3_HASH, FEATURE_SPEC_V3_ID, N_FEATURES_V3
    from models.task import TASK_RANGE_KEY

    metadata = {"execagent.feature_spec_id": FEATURE_SPEC_V3_ID,
                "execagent.feature_spec_hash": FEATURE_SPEC_V3_HASH}
    if task_range is not None:
        metadata[TASK_RANGE_KEY] = task_range
    return linear_policy(path, weights, bias, n_features=N_FEATURES_V3, metadata=metadata)


SHIPPED_POLICY = Path(__file__).resolve().parents[2] / "models" / "artifacts" / "policy.onnx"


def buyer_model(path: Path, action_index: int, metadata: dict[str, str] | None = None) -> Path:
    """A buy-only constant model (``action_index`` always) for 1-25% of 20 shares/s over 5-20
    minutes."""
    buy_range = json.dumps({"sides": ["buy"], "participation": [0.01, 0.25],
                            "horizon_seconds": [300.0, 1200.0], "volume_per_second": 20.0})
    return constant_action_policy(path, action_index, {TASK_RANGE_KEY: buy_range,
                                                       **(metadata or {})})


def desk_book(folder: Path) -> Path:
    """A policy book in ``folder``: buys to ``buyer.onnx`` (a buy-only constant model, 1-25%
    of 20 shares/s over 5-20 minutes), sells to ``desk-sell.onnx`` (a copy of the shipped
    model); the book's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "desk-sell.onnx").write_bytes(SHIPPED_POLICY.read_bytes())
    buyer_model(folder / "buyer.onnx", 0)
    book = folder / "book.yaml"
    book.write_text("entries:\n  - model: buyer.onnx\n    sides: [buy]\n"
                    "  - model: desk-sell.onnx\n    sides: [sell]\n")
    return book
