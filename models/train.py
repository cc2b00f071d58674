"""``execagent train``: Stable-Baselines3 PPO (or DQN) on the execution environment.

Reproducible by construction: the configuration's seed fixes SB3's and torch's generators and
the environments' episode seeds, and torch runs on one thread per process (on a 2-core machine
more threads only fight the environments for the CPU). What a run writes, under
``out_dir/<algorithm>-seed<seed>/``:
- ``model.zip``: the SB3 model, which ``execagent export`` turns into ONNX;
- ``run.json``: the configuration, the market(s) it trained on (``data``: the simulated flow's
  parameters and randomisation, the replayed day, window and impact, and their shares), the
  git commit, the date, the wall time, and the mean episode return and shortfall over the last
  episodes seen. Written when the run starts too, with ``finished: false`` and what is known
  then, so that a run stopped early still says what it trained;
- ``checkpoints/model_<STEPS>_steps.zip`` with ``checkpoint_timesteps``: the model every that
  many steps (Stable-Baselines3's ``CheckpointCallback``).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.baselines import AlmgrenChrissParams
from models.env import ExchangeFactory, ExecutionEnv
from models.policy import ExecutionPolicy
from models.pretrade import PreTradeFactory
from models.registry import make_policy
from models.signal import SignalModel
from models.task import TaskSampler
from models.training_config import TrainConfig
from models.training_market import task_volume_per_s, training_market

CHECKPOINTS = "checkpoints"


def make_env(config: TrainConfig, pre_trade: PreTradeFactory | None = None,
             market: ExchangeFactory | None = None) -> ExecutionEnv:
    """The environment one training worker runs (the same for every worker; seeds differ).
    ``pre_trade``: the risk overlay's factory when ``config.risk`` puts it in the loop;
    ``market``: the episodes' market, when already built (by default
    :func:`models.training_market.training_market` of ``config``)."""
    episode = config.episode
    volume_per_s = task_volume_per_s(config)
    sampler = None
    if episode.task is not None:
        task = episode.task
        sampler = TaskSampler(tuple(1 if side == "buy" else -1 for side in task.sides),
                              task.participation,
                              (60.0 * task.horizon_minutes[0], 60.0 * task.horizon_minutes[1]),
                              volume_per_s)
    return ExecutionEnv(
        market if market is not None else training_market(config)[0],
        side=episode.side_sign, qty=episode.qty, horizon_s=episode.horizon_seconds,
        slice_s=episode.slice_seconds, warmup_s=episode.warmup_seconds,
        horizon_grace_s=episode.horizon_grace_seconds, max_child_qty=episode.max_child_qty,
        reward=config.reward, message_cost_bps=config.message_cost_bps,
        observation=config.observation,
        signal_model=SignalModel(config.signal_model) if config.signal_model else None,
        latency_ms=episode.latency_ms, latency_p99_ms=episode.latency_p99_ms,
        pre_trade=pre_trade if config.risk is not None else None,
        denial_cost_bps=config.risk.denial_cost_bps if config.risk is not None else 0.0,
        paired_baseline=paired_baseline(config), task_sampler=sampler,
        volume_per_s=volume_per_s,
        paired_replay_only=config.replay is not None and 0 < config.replay.share < 1,
        decision_interval_s=episode.decision_interval_seconds,
        risk_aversion=config.risk_aversion,
        risk_aversion_per_share=config.risk_aversion_per_share,
        action_table=config.actions())


def paired_baseline(config: TrainConfig) -> ExecutionPolicy | None:
    """The baseline the reward is paired with (Almgren-Chriss with the market's volatility)."""
    if config.paired_baseline is None:
        return None
    return make_policy(config.paired_baseline,
                       ac_params=AlmgrenChrissParams.from_calibration(config.market_params))


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_dir(config: TrainConfig) -> Path:
    return config.out_dir / f"{config.algorithm}-seed{config.seed}"


def train(config: TrainConfig, progress_bar: bool = True,
          pre_trade: PreTradeFactory | None = None, out: Path | None = None) -> Path:
    """Train as ``config`` says; returns the run directory (``out``, by default
    :func:`run_dir`). ``pre_trade``: see :func:`make_env`."""
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    out = out or run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    keywords = ("shortfall_bps", "steps", "messages", "denials")
    market, data = training_market(config)  # built once: a replay reads its day once
    vec_env = DummyVecEnv([lambda: Monitor(make_env(config, pre_trade, market),
                                           info_keywords=keywords)
                           for _ in range(config.n_envs)])
    vec_env.seed(config.seed)
    policy_kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
    tensorboard = str(config.tensorboard_log) if config.tensorboard_log else None
    model: PPO | DQN
    if config.algorithm == "ppo":
        p = config.ppo
        model = PPO("MlpPolicy", vec_env, learning_rate=p.learning_rate, n_steps=p.n_steps,
                    batch_size=p.batch_size, n_epochs=p.n_epochs, gamma=p.gamma,
                    gae_lambda=p.gae_lambda, ent_coef=p.ent_coef, clip_range=p.clip_range,
                    policy_kwargs=policy_kwargs, seed=config.seed, device="cpu",
                    tensorboard_log=tensorboard, verbose=0)
    else:
        d = config.dqn
        model = DQN("MlpPolicy", vec_env, learning_rate=d.learning_rate,
                    buffer_size=d.buffer_size, batch_size=d.batch_size, gamma=d.gamma,
                    exploration_fraction=d.exploration_fraction,
                    target_update_interval=d.target_update_interval,
                    policy_kwargs=policy_kwargs, seed=config.seed, device="cpu",
                    tensorboard_log=tensorboard, verbose=0)
    run: dict[str, Any] = {
        "algorithm": config.algorithm,
        "seed": config.seed,
        "total_timesteps": config.total_timesteps,
        "finished": False,
        "data": data,
        # the rate the tasks' participation was drawn against: the trained range's (export)
        "task_volume_per_second": task_volume_per_s(config),
        "git_commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": json.loads(config.model_dump_json()),
    }
    _write_run(out, run)
    callback = None if config.checkpoint_timesteps is None else CheckpointCallback(
        max(config.checkpoint_timesteps // config.n_envs, 1), str(out / CHECKPOINTS),
        name_prefix="model")
    started = time.monotonic()
    model.learn(total_timesteps=config.total_timesteps, callback=callback,
                progress_bar=progress_bar)
    wall_s = time.monotonic() - started
    model.save(out / "model.zip")
    episodes = list(model.ep_info_buffer or [])
    _write_run(out, {**run, "finished": True, "wall_seconds": round(wall_s, 1),
                     "last_episodes": len(episodes),
                     "mean_return_bps": _mean([e["r"] for e in episodes]),
                     "mean_shortfall_bps": _mean([e["shortfall_bps"] for e in episodes]),
                     "mean_messages": _mean([e["messages"] for e in episodes]),
                     "mean_denials": _mean([e["denials"] for e in episodes])})
    vec_env.close()
    return out


def checkpoint_path(run: Path, steps: int) -> Path:
    """Where a run's checkpoint after ``steps`` steps is (``checkpoint_timesteps``)."""
    return run / CHECKPOINTS / f"model_{steps}_steps.zip"


def saved_checkpoints(run: Path) -> list[int]:
    """The steps after which ``run`` saved a checkpoint, in order."""
    steps = (path.stem.removeprefix("model_").removesuffix("_steps")
             for path in (run / CHECKPOINTS).glob("model_*_steps.zip"))
    return sorted(int(n) for n in steps if n.isdigit())


def _write_run(out: Path, run: dict[str, Any]) -> None:
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]  # None: an episode with no fill
    return round(sum(finite) / len(finite), 4) if finite else None
