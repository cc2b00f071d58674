"""How much a reward paired with a baseline cuts the variance of the episode return.

A fixed policy (an ONNX file, deterministic) works the same episodes once with the plain reward
and once paired with each baseline (models/env.py); the script prints the variance of the
episode return across episodes for each. Run from the project root:

    .venv/bin/python scripts/paired_variance.py --sim sim/params/GOOG_2012-06-21.json
    .venv/bin/python scripts/paired_variance.py \\
        --data ../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip --episodes 30

The parent is configs/train.yaml's (sell 2,000 over 10 minutes). Simulated episodes use seeds
from 2^32 (never drawn in training); replayed ones random windows of the day.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from models.env import ExecutionEnv, replay_market, simulated_market
from models.policy import OnnxPolicy
from models.registry import make_policy
from models.training_config import PAIRED_BASELINES, VALIDATION_SEED_BASE, load_train_config
from sim.calibrate import load_flow_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    market = parser.add_mutually_exclusive_group(required=True)
    market.add_argument("--sim", type=Path, help="calibrated flow parameters (JSON)")
    market.add_argument("--data", type=Path, help="a LOBSTER sample (zip or folder)")
    parser.add_argument("--policy", type=Path, default=Path("models/artifacts/policy.onnx"))
    parser.add_argument("--config", type=Path, default=Path("configs/train.yaml"))
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args()
    episode = load_train_config(args.config).episode
    if args.sim is not None:
        make_exchange = simulated_market(load_flow_params(args.sim), symbol="GOOG")
        first_seed = VALIDATION_SEED_BASE
    else:
        length = episode.warmup_seconds + episode.horizon_seconds + \
            episode.horizon_grace_seconds + 60
        make_exchange = replay_market(args.data, "GOOG", episode_s=length)
        first_seed = 0
    policy = OnnxPolicy(args.policy)
    for baseline in (None, *PAIRED_BASELINES):
        env = ExecutionEnv(make_exchange, side=episode.side_sign, qty=episode.qty,
                           horizon_s=episode.horizon_seconds, slice_s=episode.slice_seconds,
                           warmup_s=episode.warmup_seconds,
                           horizon_grace_s=episode.horizon_grace_seconds,
                           max_child_qty=episode.max_child_qty,
                           decision_interval_s=policy.decision_interval_s,
                           paired_baseline=make_policy(baseline) if baseline else None)
        started = time.monotonic()
        returns = []
        for k in range(args.episodes):
            obs, _ = env.reset(options={"episode_seed": first_seed + k})
            total, done = 0.0, False
            while not done:
                index = policy.action_index(obs)
                if index is None:  # a non-finite output: the shipped model never gives one
                    raise SystemExit(f"{args.policy}: the model's output is not finite")
                obs, reward, terminated, truncated, _ = env.step(index)
                total += reward
                done = terminated or truncated
            returns.append(total)
        print(f"{baseline or 'plain':>15}: return variance {statistics.variance(returns):8.3f}"
              f", mean {statistics.fmean(returns):+.3f} bps ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
