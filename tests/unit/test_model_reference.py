"""``execagent reference`` stamps drift references into a model of every observation version:
the features it observes as live, on parents like those it was trained on."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.actions import DEFAULT_ACTION_TABLE
from models.features import FEATURES, FEATURES_V3, N_FEATURES_V3
from models.policy import OnnxPolicy
from models.training_config import load_train_config
from service.cli import main
from service.commands.model_reference import Recording, reference_parents
from service.oversight.monitor import REFERENCE_KEY, watched_from
from tests.support.onnx_models import constant_action_policy, v3_policy

ROOT = Path(__file__).resolve().parents[2]
DESK = ["--config", str(ROOT / "configs/train-desk.yaml"),
        "--limits", str(ROOT / "deploy/risk/limits.training.yaml"),
        "--sim", str(ROOT / "sim/params/GOOG_2012-06-21.json")]
TASK_RANGE = json.dumps({"sides": ["buy", "sell"], "participation": [0.01, 0.25],
                         "horizon_seconds": [300.0, 1200.0], "volume_per_second": 20.0})
REST_NEAR_X1 = 1


def _desk_model(path: Path, task_range: str | None = TASK_RANGE) -> Path:
    weights = np.zeros((N_FEATURES_V3, len(DEFAULT_ACTION_TABLE)), np.float32)
    return v3_policy(path, weights, np.eye(len(DEFAULT_ACTION_TABLE))[REST_NEAR_X1],
                     task_range)


def _reference(model: Path) -> dict[str, object]:
    reference = json.loads(OnnxPolicy(model).metadata[REFERENCE_KEY])
    assert isinstance(reference, dict)
    return reference


def test_a_desk_model_gets_references_for_its_sixteen_features(tmp_path: Path) -> None:
    model = _desk_model(tmp_path / "desk.onnx")
    assert main(["reference", "--model", str(model), "--episodes", "4", *DESK]) == 0
    reference = _reference(model)
    features = reference["features"]
    assert isinstance(features, dict)
    assert list(features) == [name for name, _ in FEATURES_V3]
    # The drift monitor takes them: one monitor per observed feature, the action kind out.
    watched = watched_from("policy", reference, 100)
    assert len(watched.features) == N_FEATURES_V3
    assert [m.name for m in watched.outputs] == ["action_kind"]


def test_a_desk_models_reference_parents_are_drawn_from_its_trained_range(
        tmp_path: Path) -> None:
    policy = Recording(_desk_model(tmp_path / "desk.onnx"))
    episode = load_train_config(ROOT / "configs/train-desk.yaml").episode
    parents = reference_parents(policy, episode, 40)
    assert {int(p.side) for p in parents} == {1, -1}
    assert all(300.0 <= p.horizon_s <= 1200.0 for p in parents)
    shares = [p.qty / (20.0 * p.horizon_s) for p in parents]
    assert all(0.009 <= share <= 0.251 for share in shares)
    assert len({p.qty for p in parents}) > 30  # drawn, not one parent repeated
    assert reference_parents(policy, episode, 40) == parents  # the same draws every time


def test_a_model_of_one_parent_keeps_the_configurations_parent(tmp_path: Path) -> None:
    model = constant_action_policy(tmp_path / "v1.onnx", REST_NEAR_X1)
    config = ["--config", str(ROOT / "configs/train.yaml"),
              "--limits", str(ROOT / "deploy/risk/limits.demo.yaml")]
    assert main(["reference", "--model", str(model), "--episodes", "2", *config]) == 0
    features = _reference(model)["features"]
    assert isinstance(features, dict) and list(features) == [name for name, _ in FEATURES]
    episode = load_train_config(ROOT / "configs/train.yaml").episode
    (parent,) = set(reference_parents(Recording(model), episode, 3))
    assert (parent.qty, parent.horizon_s) == (episode.qty, episode.horizon_seconds)


@pytest.mark.parametrize(("args", "problem"), [
    (["--signal", "missing-signal.onnx"], "missing-signal.onnx"),
    (["--episodes", "0"], "--episodes must be positive"),
])
def test_what_it_cannot_do_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        problem: str) -> None:
    model = _desk_model(tmp_path / "desk.onnx")
    assert main(["reference", "--model", str(model), *DESK, *args]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert REFERENCE_KEY not in OnnxPolicy(model).metadata


def test_a_desk_model_that_does_not_say_its_parents_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _desk_model(tmp_path / "bare.onnx", task_range=None)
    assert main(["reference", "--model", str(model), *DESK]) == 2
    err = capsys.readouterr().err
    assert "does not say which parents it was trained for" in err
    assert len(err.strip().splitlines()) == 1
