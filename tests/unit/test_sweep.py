"""Ray Tune sweeps: a two-trial sweep on a local Ray, the best trial exported with its sweep,
and every bad input as one line with exit code 2."""

import json
import socket
from pathlib import Path

import pytest

from models.policy import OnnxPolicy
from models.sweep import SweepError, load_sweep
from models.training_config import TrainConfig, load_train_config
from service.cli import main
from service.commands.training_risk import overlay_factory

TINY = {
    "total_timesteps": 64,
    "n_envs": 1,
    "episode": {"qty": 300, "horizon_seconds": 30, "slice_seconds": 10, "warmup_seconds": 5},
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "net_arch": [8],
}
SWEEP = """\
samples: 1
validation_episodes: 2
space:
  seed: {grid: [1, 2]}
  ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
"""


def _files(tmp_path: Path, sweep: str = SWEEP) -> tuple[Path, Path]:
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({**TINY, "out_dir": str(tmp_path / "runs")}))
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(sweep)
    return config, sweep_file


def test_a_two_trial_sweep_on_local_ray_exports_its_best_trial_with_the_sweep(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, sweep_file = _files(tmp_path)
    assert main(["train", "--config", str(config), "--sweep", str(sweep_file)]) == 0
    summary = json.loads((tmp_path / "runs" / "sweep" / "sweep.json").read_text())
    trials = summary["trials"]
    assert sorted(trial["params"]["seed"] for trial in trials) == [1, 2]
    # The best is the lowest held-out validation shortfall, not the training reward.
    best = min(trials, key=lambda trial: trial["scores"]["shortfall_bps"])
    assert summary["best_trial"] == best["trial"] and summary["metric"] == "shortfall_bps"
    assert summary["validation_seed_base"] == 2**32

    policy = OnnxPolicy(tmp_path / "runs" / "sweep" / "best" / "policy.onnx")
    recorded = json.loads(policy.metadata["execagent.sweep"])
    assert recorded["file"] == SWEEP
    assert recorded["best_trial"] == best["trial"]
    assert [t["scores"] for t in recorded["trials"]] == [t["scores"] for t in trials]
    assert policy.metadata["execagent.seed"] == str(best["params"]["seed"])
    assert policy.trained_range().sides == ("sell",)
    assert best["trial"] in capsys.readouterr().out


@pytest.mark.parametrize(("sweep", "message"), [
    ("samples: 1\nspace:\n  ppo.learning_rte: {choice: [0.001]}\n", "ppo.learning_rte"),
    ("samples: 1\nspace:\n  out_dir: {choice: [x]}\n", "out_dir"),
    ("sampels: 2\nspace:\n  seed: {grid: [1]}\n", "sampels"),
    ("space:\n  seed: {gird: [1, 2]}\n", "space.seed"),
    ("space:\n  ppo.learning_rate: {loguniform: [0.0, 0.1]}\n", "loguniform"),
    ("space:\n  ppo.gamma: {uniform: [0.9, 1.5]}\n", "ppo.gamma"),
    ("space:\n  seed: {grid: [1]}\nmetric: reward\n", "metric"),
    ("space: {}\n", "space"),
    ("- a list\n", "mapping"),
])
def test_a_bad_sweep_file_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sweep: str, message: str) -> None:
    config, sweep_file = _files(tmp_path, sweep)
    with pytest.raises(SweepError, match=message):
        load_sweep(sweep_file, TrainConfig.model_validate(TINY))
    assert main(["train", "--config", str(config), "--sweep", str(sweep_file)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_ray_address_that_does_not_answer_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config, sweep_file = _files(tmp_path)
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}", "no-port"):
        assert main(["train", "--config", str(config), "--sweep", str(sweep_file),
                     "--ray-address", address]) == 2
        err = capsys.readouterr().err
        assert address in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--config", str(config), "--ray-address", "auto"]) == 2
    assert "--sweep" in capsys.readouterr().err


def test_the_shipped_sweep_and_desk_configurations_load() -> None:
    sweep, text = load_sweep("configs/sweep.yaml", load_train_config("configs/train.yaml"))
    assert sweep.metric == "shortfall_bps" and "seed" in sweep.space and text
    desk = load_train_config("configs/train-desk.yaml")
    assert desk.episode.task is not None and desk.risk is not None
    factory = overlay_factory(desk)
    assert factory is not None and factory("GOOG").limits.symbols["GOOG"].max_long_position
