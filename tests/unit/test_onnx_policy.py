"""The ONNX runtime policy: a small network exported in the test proves the path end to end."""

from pathlib import Path

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import ParentOrder, Side
from models.actions import DEFAULT_ACTION_TABLE, Action, ActionKind
from models.features import N_FEATURES
from models.policy import DecisionContext, ModelError, OnnxPolicy
from tests.support.onnx_models import constant_action_policy, linear_policy


def _ctx(obs: np.ndarray) -> DecisionContext:
    parent = ParentOrder("P", "GOOG", Side.SELL, 1000, 0, 10**9, "rl")
    return DecisionContext(obs, parent, DepthBook("GOOG"), 0, 100, 10, 0, 0)


def test_onnx_policy_matches_numpy_on_random_observations(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(N_FEATURES, len(DEFAULT_ACTION_TABLE)))
    bias = rng.normal(size=len(DEFAULT_ACTION_TABLE))
    policy = OnnxPolicy(linear_policy(tmp_path / "p.onnx", weights, bias))
    for _ in range(500):
        obs = rng.uniform(-1, 1, N_FEATURES).astype(np.float32)
        expected = int(np.argmax(obs @ weights.astype(np.float32) + bias.astype(np.float32)))
        assert policy.action_index(obs) == expected


def test_action_is_scaled_by_the_slice_quantity(tmp_path: Path) -> None:
    cross_2x = DEFAULT_ACTION_TABLE.index((ActionKind.CROSS, 2.0))
    policy = OnnxPolicy(constant_action_policy(tmp_path / "c.onnx", cross_2x))
    assert policy.act(_ctx(np.zeros(N_FEATURES, np.float32))) == Action(ActionKind.CROSS, 200)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        OnnxPolicy(tmp_path / "nope.onnx")


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        OnnxPolicy(bad)


def test_model_built_for_other_features_is_refused(tmp_path: Path) -> None:
    path = linear_policy(tmp_path / "old.onnx", np.zeros((N_FEATURES, 3)), np.zeros(3),
                         {"execagent.feature_spec_hash": "0123456789abcdef"})
    with pytest.raises(ModelError, match="feature spec"):
        OnnxPolicy(path)


def test_model_with_wrong_input_width_is_refused(tmp_path: Path) -> None:
    path = linear_policy(tmp_path / "w.onnx", np.zeros((5, 3)), np.zeros(3), n_features=5)
    with pytest.raises(ModelError, match="width"):
        OnnxPolicy(path)


def test_model_without_action_table_is_refused(tmp_path: Path) -> None:
    path = linear_policy(tmp_path / "t.onnx", np.zeros((N_FEATURES, 3)), np.zeros(3),
                         {"execagent.action_table": "[[\"JUMP\", 1]]"})
    with pytest.raises(ModelError, match="action_table"):
        OnnxPolicy(path)
