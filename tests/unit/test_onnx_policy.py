"""The ONNX runtime policy: a small network exported in the test proves the path end to end."""

import json
from pathlib import Path

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import ParentOrder, Side
from models.actions import DEFAULT_ACTION_TABLE, WAIT, Action, ActionKind
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


@pytest.mark.parametrize("n_logits", [len(DEFAULT_ACTION_TABLE) - 2, len(DEFAULT_ACTION_TABLE) + 1])
def test_logits_wider_or_narrower_than_the_action_table_are_refused(tmp_path: Path,
                                                                    n_logits: int) -> None:
    table = json.dumps([[kind.name, mult] for kind, mult in DEFAULT_ACTION_TABLE])
    path = linear_policy(tmp_path / "w.onnx", np.zeros((N_FEATURES, n_logits)),
                         np.zeros(n_logits), {"execagent.action_table": table})
    with pytest.raises(ModelError, match=f"declares {n_logits} logits for an action table of "
                                         f"{len(DEFAULT_ACTION_TABLE)}"):
        OnnxPolicy(path)


def test_logits_of_an_undeclared_width_are_checked_on_an_inference(tmp_path: Path) -> None:
    n_actions = len(DEFAULT_ACTION_TABLE)
    n_logits = n_actions - 1
    path = linear_policy(tmp_path / "u.onnx", np.zeros((N_FEATURES, n_actions)),
                         np.zeros(n_actions), keep=n_logits)
    with pytest.raises(ModelError, match=rf"logits of shape \(1, {n_logits}\)"):
        OnnxPolicy(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_output_is_a_wait_and_counted(tmp_path: Path, bad: float) -> None:
    cross = DEFAULT_ACTION_TABLE.index((ActionKind.CROSS, 2.0))
    weights = np.zeros((N_FEATURES, len(DEFAULT_ACTION_TABLE)))
    weights[0, cross] = 1.0  # logit of CROSS x2 = obs[0]
    bias = np.zeros(len(DEFAULT_ACTION_TABLE))
    bias[cross] = 0.5
    policy = OnnxPolicy(linear_policy(tmp_path / "n.onnx", weights, bias))
    told: list[int] = []
    policy.on_nonfinite = lambda: told.append(1)
    obs = np.zeros(N_FEATURES, np.float32)
    assert policy.act(_ctx(obs)) == Action(ActionKind.CROSS, 200)
    obs[0] = bad
    assert policy.act(_ctx(obs)) == WAIT
    assert policy.act(_ctx(obs)) == WAIT
    assert (policy.nonfinite_outputs, len(told)) == (2, 2)
    obs[0] = 1.0
    assert policy.act(_ctx(obs)) == Action(ActionKind.CROSS, 200)


def test_the_decision_interval_is_read_from_the_file_and_absent_means_every_tick(
        tmp_path: Path) -> None:
    weights = np.zeros((N_FEATURES, len(DEFAULT_ACTION_TABLE)))
    bias = np.zeros(len(DEFAULT_ACTION_TABLE))
    paced = linear_policy(tmp_path / "paced.onnx", weights, bias,
                          {"execagent.decision_interval_s": "2.5"})
    assert OnnxPolicy(paced).decision_interval_s == 2.5
    assert OnnxPolicy(linear_policy(tmp_path / "old.onnx", weights, bias)).decision_interval_s \
        == 0.0
    for bad in ("soon", "-1", "nan", "inf"):
        path = linear_policy(tmp_path / "bad.onnx", weights, bias,
                             {"execagent.decision_interval_s": bad})
        with pytest.raises(ModelError, match=r"execagent\.decision_interval_s"):
            OnnxPolicy(path)
