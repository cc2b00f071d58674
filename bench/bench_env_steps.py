"""Training-environment speed: the calibrated simulation against the GOOG replay with impact.

``python -m bench.bench_env_steps [PATH] [--policy rest-cross|wait]``: one ExecutionEnv
configuration (a 2,000-share sell over 10 minutes in 30 s slices, 30 s of warm-up and of grace,
the task the shipped policy learns) worked by one fixed policy on three markets, the same
episodes (seeds 1..EPISODES) on each:

- the simulation: the stochastic flow calibrated to GOOG (``models.env.simulated_market`` with
  sim/params/GOOG_2012-06-21.json; its flow and book are compiled modules, so build them first:
  ``make native``, which ``make bench`` runs);
- the GOOG replay (``models.env.replay_market`` on the LOBSTER day) with the calibrated impact
  of the same file;
- for information, the same replay without impact (the day as recorded).

What is counted: environment steps (``env.step`` calls: decisions, one per market-data message
the agent sees) per second of CPU time, resets included (building the episode's market: for a
replay, finding its window in the day). Not exchange events: the agent's order messages
falling due are exchange events without a decision. The policy: ``rest-cross`` (the default)
rests one slice at the near touch and crosses one every fourth decision, so there are resting
orders to queue and marketable ones to make impact; ``wait`` never sends an order, until the
horizon forces the remainder through the book. Episodes run alternately, one of each market in
turn, so a change in the machine's speed falls on all three alike.

Goal: the replay with impact at least half the simulation's rate (column "vs sim"), judged
with the default policy; exits 1 when missed. The episode column is the episodes' mean length
in event time (from the parent's start to its last step); the shortfall column, their mean,
is their result: a fixed seed gives the same numbers whatever the code's speed. Without the
data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from models.env import ExchangeFactory, ExecutionEnv, replay_market, simulated_market
from sim.calibrate import load_flow_params
from sim.impact_fit import load_impact_params
from sim.propagator import ImpactParams

DEFAULT_DATA = Path("../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip")
PARAMS = Path(__file__).resolve().parents[1] / "sim" / "params" / "GOOG_2012-06-21.json"
EPISODES = 20
GOAL_RATIO = 0.5  # the replay with impact against the simulation
EPISODE_S = 700.0  # a replay window: the 10-minute horizon, the warm-up, the grace and margin
WAIT, REST, CROSS = 0, 1, 5  # models.actions.DEFAULT_ACTION_TABLE: wait, rest a slice, cross one
POLICIES: dict[str, Callable[[int], int]] = {
    "rest-cross": lambda step: CROSS if step % 4 == 0 else REST,
    "wait": lambda step: WAIT,
}
DEFAULT_POLICY = "rest-cross"
SIMULATION, IMPACT, RECORDED = "simulation", "replay with impact", "replay without"


@dataclass
class Tally:
    """One market's episodes so far."""

    env: ExecutionEnv
    steps: int = 0
    cpu_s: float = 0.0
    shortfalls: list[float] = field(default_factory=list)
    lengths_s: list[float] = field(default_factory=list)  # event time from the parent's start

    @property
    def rate(self) -> float:
        return self.steps / self.cpu_s


def markets(path: Path) -> dict[str, ExchangeFactory]:
    return {
        SIMULATION: simulated_market(load_flow_params(PARAMS), symbol="GOOG"),
        IMPACT: replay_market(path, "GOOG", EPISODE_S, impact=load_impact_params(PARAMS)),
        RECORDED: replay_market(path, "GOOG", EPISODE_S, impact=ImpactParams.none()),
    }


def episode(tally: Tally, seed: int, policy: Callable[[int], int]) -> None:
    """Work episode ``seed`` to its end, adding its steps, CPU time and shortfall."""
    env, steps = tally.env, 0
    started = time.process_time()
    env.reset(seed=seed)
    start_ns = env.exchange.now_ns
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(policy(steps))
        steps += 1
        done = terminated or truncated
    tally.cpu_s += time.process_time() - started
    tally.steps += steps
    tally.shortfalls.append(info["shortfall_bps"] or 0.0)
    tally.lengths_s.append((env.exchange.now_ns - start_ns) / 1e9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_env_steps",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_DATA,
                        help="the LOBSTER GOOG sample (zip or folder)")
    parser.add_argument("--policy", choices=sorted(POLICIES), default=DEFAULT_POLICY)
    args = parser.parse_args(argv)
    console = Console(width=100)  # the table on one line a row, in a pipe too
    if not args.path.exists():
        console.print(f"no data at {args.path}: nothing measured")
        return 0
    tallies = {name: Tally(ExecutionEnv(make, side=-1, qty=2_000, horizon_s=600.0,
                                        slice_s=30.0, warmup_s=30.0, horizon_grace_s=30.0))
               for name, make in markets(args.path).items()}
    policy = POLICIES[args.policy]
    for seed in range(1, EPISODES + 1):
        for tally in tallies.values():
            episode(tally, seed, policy)
    sim_rate = tallies[SIMULATION].rate
    table = Table(title=f"ExecutionEnv, {EPISODES} episodes a market, policy {args.policy}")
    for column in ("market", "steps", "CPU s", "steps/s", "vs sim", "episode s",
                   "shortfall bps"):
        table.add_column(column, justify="left" if column == "market" else "right")
    for name, tally in tallies.items():
        table.add_row(name, f"{tally.steps:,}", f"{tally.cpu_s:.2f}", f"{tally.rate:,.0f}",
                      f"{tally.rate / sim_rate:.2f}", f"{statistics.mean(tally.lengths_s):.0f}",
                      f"{statistics.mean(tally.shortfalls):.4f}")
    console.print(table)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    console.print(f"CPU time, resets included; load average {load}")
    ratio = tallies[IMPACT].rate / sim_rate
    if args.policy != DEFAULT_POLICY:
        console.print(f"no goal with this policy (it is judged with {DEFAULT_POLICY}): "
                      f"replay with impact {ratio:.2f} x the simulation's steps/s")
        return 0
    met = ratio >= GOAL_RATIO
    console.print(f"goal: replay with impact >= {GOAL_RATIO} x the simulation's steps/s -> "
                  f"{'met' if met else 'MISSED'} ({ratio:.2f})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
