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


def constant_action_policy(path: Path, action_index: int) -> Path:
    """A model whose argmax is always ``action_index`` (bias only)."""
    n_actions = len(DEFAULT_ACTION_TABLE)
    bias = np.zeros(n_actions, np.float32)
    bias[action_index] = 1.0
    return linear_policy(path, np.zeros((N_FEATURES, n_actions), np.float32), bias)
