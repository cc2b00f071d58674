"""Training-environment speed on the GOOG replay, with and without the agent's impact.

``python -m bench.bench_replay_impact [PATH]``: the same episodes (seeds 1..EPISODES, a 2,000-share
sell over 10 minutes, the task the shipped policy learns) worked by one fixed policy that rests
at the near touch and crosses one slice every fourth decision (so the impact has trades to
come from), on the day as recorded and with the propagator in sim/params/GOOG_2012-06-21.json.
Prints environment steps (decisions) per second of CPU time for each, and the mean shortfall.
No goal: it says what the impact costs in speed. Without the data it says so and exits 0.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from models.env import ExecutionEnv, replay_market
from sim.impact_fit import load_impact_params
from sim.propagator import ImpactParams

DEFAULT_DATA = Path("../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip")
PARAMS = Path("sim/params/GOOG_2012-06-21.json")
EPISODES = 6
REST, CROSS = 1, 5  # models.actions.DEFAULT_ACTION_TABLE: rest one slice, cross one slice


def run(path: Path, impact: ImpactParams) -> tuple[int, float, float]:
    """Steps, CPU seconds and mean shortfall (bps) over the episodes."""
    env = ExecutionEnv(replay_market(path, "GOOG", episode_s=700.0, impact=impact), side=-1,
                       qty=2_000, horizon_s=600.0, slice_s=30.0, warmup_s=30.0,
                       horizon_grace_s=30.0)
    steps, shortfalls = 0, []
    started = time.process_time()
    for seed in range(1, EPISODES + 1):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(CROSS if steps % 4 == 0 else REST)
            steps += 1
            done = terminated or truncated
        shortfalls.append(info["shortfall_bps"] or 0.0)
    return steps, time.process_time() - started, statistics.mean(shortfalls)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not path.exists():
        Console().print(f"no data at {path}: nothing measured")
        return
    table = Table(title=f"ExecutionEnv on the replay of {path.name}, {EPISODES} episodes")
    for column in ("impact", "steps", "CPU s", "steps/s", "mean shortfall bps"):
        table.add_column(column, justify="left" if column == "impact" else "right")
    for name, impact in (("none", ImpactParams.none()), ("calibrated", load_impact_params(PARAMS))):
        steps, seconds, shortfall = run(path, impact)
        table.add_row(name, f"{steps:,}", f"{seconds:.2f}", f"{steps / seconds:,.0f}",
                      f"{shortfall:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
