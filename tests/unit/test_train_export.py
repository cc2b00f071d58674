"""Training to ONNX: small PPO and DQN runs, exported, act the same in ONNX as in torch."""

import json
from pathlib import Path
from typing import get_args

import numpy as np
import onnx
import pytest
import torch

from models.actions import DEFAULT_ACTION_TABLE, ActionKind
from models.export import decision_module, export_onnx, load_sb3
from models.features import (
    FEATURE_SPEC_HASH,
    FEATURE_SPEC_ID,
    FEATURE_SPEC_V3_ID,
    N_FEATURES,
    N_FEATURES_V3,
)
from models.policy import ModelError, OnnxPolicy
from models.train import saved_checkpoints, train
from models.training_config import (
    ActionName,
    TrainConfig,
    TrainConfigError,
    load_train_config,
)
from service.cli import main

TINY = {
    "total_timesteps": 256,
    "n_envs": 2,
    "episode": {"qty": 300, "horizon_seconds": 30, "slice_seconds": 10, "warmup_seconds": 5},
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "dqn": {"buffer_size": 1_000, "batch_size": 32},
    "net_arch": [16, 16],
}


def _train(tmp_path: Path, algorithm: str) -> Path:
    config = TrainConfig.model_validate({**TINY, "algorithm": algorithm, "out_dir": tmp_path})
    return train(config, progress_bar=False)


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_onnx_and_torch_choose_the_same_action_on_10000_observations(
        tmp_path: Path, algorithm: str) -> None:
    run = _train(tmp_path, algorithm)
    info = json.loads((run / "run.json").read_text())
    assert info["algorithm"] == algorithm and info["seed"] == 7
    out = export_onnx(run / "model.zip", tmp_path / "policy.onnx", info)

    obs = np.random.default_rng(1).uniform(-1, 1, (10_000, N_FEATURES)).astype(np.float32)
    with torch.no_grad():
        torch_scores = decision_module(load_sb3(run / "model.zip"))(torch.from_numpy(obs)).numpy()
    policy = OnnxPolicy(out)
    onnx_scores = policy._session.run(["logits"], {"obs": obs})[0]  # noqa: SLF001
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-5, rtol=0)
    assert (onnx_scores.argmax(axis=1) == torch_scores.argmax(axis=1)).all()

    meta = policy.metadata
    assert meta["execagent.feature_spec_id"] == FEATURE_SPEC_ID
    assert meta["execagent.feature_spec_hash"] == FEATURE_SPEC_HASH
    assert len(json.loads(meta["execagent.action_table"])) == len(DEFAULT_ACTION_TABLE)
    assert meta["execagent.seed"] == "7"
    assert "GOOG_2012-06-21" in meta["execagent.training_data"]
    assert meta["execagent.git_commit"] == info["git_commit"]
    trained = policy.trained_range()  # recorded at export: 300 shares over 30 s, sell
    assert trained.source == "execagent.task_range" and trained.sides == ("sell",)
    assert trained.horizon_s == (30.0, 30.0)
    assert trained.participation[0] == pytest.approx(300 / (trained.volume_per_s * 30))


def test_a_task_aware_policy_trains_on_drawn_tasks_and_exports_to_the_runtime(
        tmp_path: Path) -> None:
    signal = Path(__file__).resolve().parents[2] / "models" / "artifacts" / "signal.onnx"
    task = {"sides": ["buy", "sell"], "participation": [0.01, 0.25], "horizon_minutes": [0.5, 1]}
    config = TrainConfig.model_validate({
        **TINY, "out_dir": tmp_path, "observation": FEATURE_SPEC_V3_ID, "signal_model": signal,
        "episode": {**TINY["episode"], "task": task}})
    run = train(config, progress_bar=False)
    info = json.loads((run / "run.json").read_text())
    policy = OnnxPolicy(export_onnx(run / "model.zip", tmp_path / "policy.onnx", info))
    assert policy.feature_spec_id == FEATURE_SPEC_V3_ID
    assert policy.metadata["execagent.signal_model"] == str(signal)
    trained = policy.trained_range()
    assert trained.sides == ("buy", "sell") and trained.horizon_s == (30.0, 60.0)
    obs = np.random.default_rng(1).uniform(-1, 1, (1, N_FEATURES_V3)).astype(np.float32)
    assert policy.action_index(obs[0]) in range(len(DEFAULT_ACTION_TABLE))


def test_the_decision_interval_travels_with_the_model(tmp_path: Path) -> None:
    config = TrainConfig.model_validate({
        **TINY, "out_dir": tmp_path,
        "episode": {**TINY["episode"], "decision_interval_seconds": 1.5}})
    run = train(config, progress_bar=False)
    info = json.loads((run / "run.json").read_text())
    policy = OnnxPolicy(export_onnx(run / "model.zip", tmp_path / "policy.onnx", info))
    assert policy.metadata["execagent.decision_interval_s"] == "1.5"
    assert policy.decision_interval_s == 1.5
    # A run that predates the key decided on every message.
    del info["config"]["episode"]["decision_interval_seconds"]
    old = OnnxPolicy(export_onnx(run / "model.zip", tmp_path / "old.onnx", info))
    assert old.decision_interval_s == 0.0


def test_a_configured_action_table_is_learned_and_travels_with_the_model(
        tmp_path: Path) -> None:
    """A run's action_table sizes the policy's action space; the exported file carries it and
    the runtime acts from it."""
    assert set(get_args(ActionName)) == set(ActionKind.__members__)
    table = [["WAIT", 0], ["REST_NEAR", 2.0], ["REST_NEAR", 4.0], ["CROSS", 1.0]]
    config = TrainConfig.model_validate({**TINY, "out_dir": tmp_path, "action_table": table})
    assert config.actions() == ((ActionKind.WAIT, 0.0), (ActionKind.REST_NEAR, 2.0),
                                (ActionKind.REST_NEAR, 4.0), (ActionKind.CROSS, 1.0))
    run = train(config, progress_bar=False)
    info = json.loads((run / "run.json").read_text())
    policy = OnnxPolicy(export_onnx(run / "model.zip", tmp_path / "policy.onnx", info))
    assert policy.action_table == list(config.actions())
    assert json.loads(policy.metadata["execagent.action_table"]) == [
        ["WAIT", 0.0], ["REST_NEAR", 2.0], ["REST_NEAR", 4.0], ["CROSS", 1.0]]
    obs = np.random.default_rng(1).uniform(-1, 1, (1, N_FEATURES)).astype(np.float32)
    assert policy.action_index(obs[0]) in range(4)
    # Exported with a run.json that names another table, the model does not fit it.
    del info["config"]["action_table"]
    with pytest.raises(ModelError, match="4 actions but its run's action table has 7"):
        export_onnx(run / "model.zip", tmp_path / "other.onnx", info)


def test_exported_model_for_other_features_is_refused(tmp_path: Path) -> None:
    run = _train(tmp_path, "ppo")
    out = export_onnx(run / "model.zip", tmp_path / "policy.onnx")
    proto = onnx.load(str(out))
    for entry in proto.metadata_props:
        if entry.key == "execagent.feature_spec_hash":
            entry.value = "0" * 16
    onnx.save(proto, str(out))
    with pytest.raises(ModelError, match="feature spec"):
        OnnxPolicy(out)


def test_cli_trains_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({**TINY, "out_dir": str(tmp_path / "runs")}))
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    run = tmp_path / "runs" / "ppo-seed7"
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "p.onnx")]) == 0
    assert "feature spec execagent-obs-v1" in capsys.readouterr().out
    assert OnnxPolicy(tmp_path / "p.onnx").action_table


def test_checkpoints_export_a_run_as_it_was_after_those_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({**TINY, "checkpoint_timesteps": 128,
                                  "out_dir": str(tmp_path / "runs")}))
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    run = tmp_path / "runs" / "ppo-seed7"
    assert saved_checkpoints(run) == [128, 256]
    assert json.loads((run / "run.json").read_text())["finished"] is True
    out = tmp_path / "half.onnx"
    assert main(["export", "--run", str(run), "--checkpoint", "128", "--out", str(out)]) == 0
    policy = OnnxPolicy(out)
    assert policy.metadata["execagent.total_timesteps"] == "128"
    final = tmp_path / "final.onnx"
    assert main(["export", "--run", str(run), "--out", str(final)]) == 0
    assert OnnxPolicy(final).metadata["execagent.total_timesteps"] == "256"
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--checkpoint", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint after 100 steps" in err and "saved: 128, 256" in err
    assert err.count("\n") == 1


def test_a_run_stopped_early_still_says_what_it_trained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stable_baselines3 import PPO

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(PPO, "learn", stopped)
    config = TrainConfig.model_validate({**TINY, "out_dir": tmp_path})
    with pytest.raises(KeyboardInterrupt):
        train(config, progress_bar=False)
    info = json.loads((tmp_path / "ppo-seed7" / "run.json").read_text())
    assert info["finished"] is False and info["total_timesteps"] == 256
    assert info["config"]["episode"]["qty"] == 300 and "git_commit" in info


@pytest.mark.parametrize(("document", "message"), [
    ({"algorithm": "a2c"}, "algorithm"),
    ({"learning_rte": 1}, "learning_rte"),
    ({"episode": {"qty": -5}}, "episode.qty"),
    ({"episode": {"slice_seconds": 900, "horizon_seconds": 60}}, "slice_seconds"),
    ({"reward": "pnl"}, "reward"),
    ({"n_envs": 3, "ppo": {"n_steps": 100, "batch_size": 64}}, "batch_size"),
    ({"market_params": "nowhere.json"}, "nowhere.json"),
    ({"episode": {"task": {"sides": ["buy"], "participation": [0.3, 0.1],
                           "horizon_minutes": [5, 60]}}}, "participation"),
    ({"episode": {"task": {"sides": [], "participation": [0.01, 0.25],
                           "horizon_minutes": [5, 60]}}}, "episode.task.sides"),
    ({"episode": {"latency_p99_ms": 5, "latency_ms": 0}}, "latency_p99_ms"),
    ({"episode": {"decision_interval_seconds": 30}}, "decision_interval_seconds"),
    ({"episode": {"decision_interval_seconds": -1}}, "decision_interval_seconds"),
    ({"paired_baseline": "vwap"}, "paired_baseline"),
    ({"risk_aversion_per_share": -1e-5}, "risk_aversion_per_share"),
    ({"checkpoint_timesteps": 0}, "checkpoint_timesteps"),
    ({"observation": "execagent-obs-v3"}, "signal_model"),
    ({"risk": {"limits": "nowhere-limits.yaml"}}, "nowhere-limits.yaml"),
    ({"action_table": [["WAIT", 0], ["HOLD", 1]]}, "action_table.1"),
    ({"action_table": [["WAIT", 0]]}, "action_table"),
    ({"action_table": [["WAIT", 1], ["CROSS", 1]]}, "WAIT has no quantity"),
    ({"action_table": [["WAIT", 0], ["CROSS", 0]]}, "CROSS 0.0 is not a multiple"),
    ({"action_table": [["WAIT", 0], ["CROSS", 21]]}, "CROSS 21.0 is not a multiple"),
    ({"action_table": [["WAIT", 0], ["CROSS", 1], ["CROSS", 1.0]]}, "names an action twice"),
    ({"action_table": [["WAIT", 0, 1], ["CROSS", 1]]}, "action_table.0"),
])
def test_invalid_training_config_is_one_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict,
        message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(document))
    with pytest.raises(TrainConfigError, match=message):
        load_train_config(path)
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_risk_limits_that_do_not_know_the_symbol_are_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text(json.dumps({"risk": {"limits": "deploy/risk/limits.demo.yaml"},
                                "symbol": "SIM"}))
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no entry for 'SIM'" in err and "Traceback" not in err


def test_export_without_a_trained_model_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "p.onnx")]) == 2
    assert "execagent train" in capsys.readouterr().err
    (tmp_path / "model.zip").write_bytes(b"not a model")
    assert main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "p.onnx")]) == 2
    assert "not a Stable-Baselines3" in capsys.readouterr().err


def test_tensorboard_logs_without_tensorboard_are_refused_up_front(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    path = tmp_path / "tb.yaml"
    path.write_text(json.dumps({"tensorboard_log": str(tmp_path / "tb")}))
    with pytest.raises(TrainConfigError, match="tensorboard is not installed"):
        load_train_config(path)
