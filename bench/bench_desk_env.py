"""The desk training configuration's environment speed, paired baseline's twin run included.

``python -m bench.bench_desk_env [CONFIG] [--episodes N]``: the environment ``execagent train``
builds from CONFIG (by default configs/train-desk.yaml: drawn tasks, the GOOG replay with impact
mixed with the randomised simulation, the live risk overlay in the loop, one decision a second,
the reward paired with passive TWAP on replayed episodes), worked by a fixed policy (rest one
slice at the touch) on episode seeds 1..N.

What is counted, in CPU time: the resets, split between episodes with a twin run (a replayed
episode: the paired baseline works the same window first, deciding on every message) and
episodes without; the steps (one a decision); and the environment's CPU for the configuration's
``total_timesteps`` at this rate (PPO's own updates not included). The baseline column is the
paired episodes' mean baseline shortfall: a fixed seed gives the same number whatever the
code's speed, so two runs are comparable only when it matches.

For information: no goal (how long a training takes is the training's own wall time, in its
run.json). Without the data the configuration replays it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from models.train import make_env
from models.training_config import load_train_config
from service.commands.training_risk import overlay_factory

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "train-desk.yaml"
DEFAULT_DATA = Path("../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip")
EPISODES = 40
REST = 1  # models.actions.DEFAULT_ACTION_TABLE: rest one slice at the near touch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_desk_env",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--episodes", type=int, default=EPISODES)
    args = parser.parse_args(argv)
    console = Console(width=100)
    if args.config == DEFAULT_CONFIG and not DEFAULT_DATA.exists():
        console.print(f"no data at {DEFAULT_DATA}: nothing measured")
        return 0
    config = load_train_config(args.config)
    env = make_env(config, overlay_factory(config) if config.risk is not None else None)
    paired_s: list[float] = []
    unpaired_s: list[float] = []
    baselines: list[float] = []
    steps, step_s = 0, 0.0
    for seed in range(1, args.episodes + 1):
        started = time.process_time()
        env.reset(seed=seed)
        spent = time.process_time() - started
        if env.baseline is not None:
            paired_s.append(spent)
            baselines.append(env.baseline.final_bps)
        else:
            unpaired_s.append(spent)
        started = time.process_time()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(REST)
            steps += 1
            done = terminated or truncated
        step_s += time.process_time() - started
    reset_s = sum(paired_s) + sum(unpaired_s)
    table = Table(title=f"{args.config.name}: {args.episodes} episodes, rest one slice")
    for column in ("episodes", "with twin", "reset CPU s", "of which twin eps.", "steps",
                   "step CPU s", "steps/CPU s", "baseline bps"):
        table.add_column(column, justify="right")
    table.add_row(f"{args.episodes}", f"{len(paired_s)}", f"{reset_s:.2f}",
                  f"{sum(paired_s):.2f}", f"{steps:,}", f"{step_s:.2f}",
                  f"{steps / (reset_s + step_s):,.0f}",
                  f"{statistics.mean(baselines):.4f}" if baselines else "-")
    console.print(table)
    per_step_s = (reset_s + step_s) / steps
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    console.print(f"mean reset: {_mean_ms(paired_s)} with a twin run, {_mean_ms(unpaired_s)} "
                  f"without; the environment's CPU for {config.total_timesteps:,} steps: "
                  f"{per_step_s * config.total_timesteps / 60:.0f} min; load average {load}")
    return 0


def _mean_ms(values: list[float]) -> str:
    return f"{1000 * statistics.mean(values):.0f} ms" if values else "-"


if __name__ == "__main__":
    sys.exit(main())
