"""``execagent fidelity``: the simulation's costs and stylised facts against the replayed day.

Every baseline works the training configuration's parent order in the calibrated simulation
(``--params``'s flow, the evaluation's seeds) and on the LOBSTER day replayed with the agent's
transient impact (``--params``'s impact section, or estimated from the day when it has none),
through the live engine as ``execagent evaluate`` runs them, on the same number of episodes;
then the ratios simulated / replayed of mean shortfall and of its standard deviation, each
with a bootstrap 95% interval, and the stylised facts side by side
(:mod:`service.evaluation.fidelity`).

Both sides by default, on the same episodes, pooled: the simulated flow has no drift, while
one recorded day has a direction, which adds to one side's cost what it takes from the
other's; pooled, the day's direction leaves the mean and what is compared is the cost of
trading. ``--side buy`` or ``--side sell`` compares one side alone.

Exit codes: 0 done, 2 a usage problem (no such file, bad arguments, a defective data file), 1
a run that failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models.names import BASELINE_NAMES
from models.policy import ModelError
from models.signal import SignalModel
from models.training_config import TrainConfigError
from service.commands import evaluate
from service.commands.output import output_console, print_error
from service.evaluation.compare import EpisodeResult, policy_stats, run_evaluation
from service.evaluation.fidelity import (
    baseline_fidelity,
    baselines_table,
    facts_table,
    fidelity_json,
    ratio_intervals,
)
from service.evaluation.results_page import write_json
from sim.calibrate import load_flow_params
from sim.lobster import open_sample
from sim.stylised import flow_facts, lobster_facts

DEFAULT_PARAMS = Path("sim/params/GOOG_2012-06-21.json")
FACTS_SEED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("fidelity", help="the simulation's costs and facts against the "
                                               "replayed day")
    p.add_argument("--data", type=Path, required=True, metavar="PATH",
                   help="a LOBSTER sample (zip or folder): the real book")
    p.add_argument("--params", type=Path, default=DEFAULT_PARAMS,
                   help=f"the calibrated flow and impact (JSON, default {DEFAULT_PARAMS})")
    p.add_argument("--episodes", type=int, default=30,
                   help="episodes per market and side (default 30)")
    p.add_argument("--side", default="buy,sell",
                   help="the parent's sides, pooled (comma-separated; default buy,sell)")
    p.add_argument("--config", type=Path, default=Path("configs/train.yaml"),
                   help="training config whose episode section defines the parent order")
    p.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.training.yaml"),
                   help="risk limits the overlay enforces (default: the training limits, "
                        "which allow a parent on either side)")
    p.add_argument("--signal", type=Path, default=evaluate.DEFAULT_SIGNAL,
                   help="the price-signal model ('none' for no signal)")
    p.add_argument("--json", type=Path, default=None, help="write the report JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        if args.episodes <= 0:
            raise evaluate.UsageError("--episodes must be positive")
        sides = _sides(args.side)
        signal_model = None if str(args.signal) == "none" else SignalModel(args.signal)
        common = ["--episodes", str(args.episodes), "--config", str(args.config), "--limits",
                  str(args.limits), "--policies", ",".join(BASELINE_NAMES)]
        plans = {side: (
            evaluate.plan_evaluation(_evaluate_args(
                ["--sim", str(args.params), "--side", side, *common])),
            evaluate.plan_evaluation(_evaluate_args(
                ["--data", str(args.data), "--impact", "calibrated", "--params",
                 str(args.params), "--side", side, *common])))
            for side in sides}
        real_facts = lobster_facts(open_sample(args.data))
        simulated_facts = flow_facts(load_flow_params(args.params), FACTS_SEED,
                                     real_facts["seconds"])
    except (evaluate.UsageError, ModelError, TrainConfigError, OSError, ValueError) as exc:
        print_error(f"execagent fidelity: {exc}")
        return 2
    simulated: list[dict[str, list[EpisodeResult]]] = []
    replayed: list[dict[str, list[EpisodeResult]]] = []
    for side, (simulated_plan, replayed_plan) in plans.items():
        with console.status(f"simulated episodes, {side}"):
            simulated.append(_results(simulated_plan, signal_model))
        with console.status(f"replayed episodes, {side}"):
            replayed.append(_results(replayed_plan, signal_model))
    baselines = baseline_fidelity(
        [policy_stats(name, _pooled(simulated, name)) for name in simulated[0]],
        [policy_stats(name, _pooled(replayed, name)) for name in replayed[0]],
        {name: ratio_intervals(_by_episode(simulated, name), _by_episode(replayed, name))
         for name in simulated[0] if name in replayed[0]})
    data = " | ".join(f"{simulated_plan[-1]} | {replayed_plan[-1]}"
                      for simulated_plan, replayed_plan in plans.values())
    document = fidelity_json(baselines, simulated_facts, real_facts, args.episodes, data, sides)
    console.print(baselines_table(baselines, f"simulated / replayed, {args.episodes} episodes "
                                             f"each, {' and '.join(sides)} pooled"))
    console.print(facts_table(document))
    if args.json is not None:
        write_json(args.json, document)
    return 0


def _sides(text: str) -> list[str]:
    sides = [part.strip() for part in text.split(",")]
    if not sides or any(side not in ("buy", "sell") for side in sides) \
            or len(set(sides)) != len(sides):
        raise evaluate.UsageError(f"--side must list buy and/or sell once each, not {text!r}")
    return sides


def _pooled(by_side: list[dict[str, list[EpisodeResult]]], name: str) -> list[EpisodeResult]:
    """A policy's episodes on every side, one side after the other."""
    return [row for results in by_side for row in results[name]]


def _by_episode(by_side: list[dict[str, list[EpisodeResult]]], name: str) -> list[list[float]]:
    """A policy's shortfall per episode (in order) and side: the same episode on each side
    is the same seed or window."""
    return [[row.shortfall_bps for row in rows]
            for rows in zip(*(results[name] for results in by_side), strict=True)]


def _evaluate_args(argv: list[str]) -> argparse.Namespace:
    """``execagent evaluate``'s arguments for ``argv``, its defaults filled in."""
    parser = argparse.ArgumentParser(prog="execagent")
    evaluate.register(parser.add_subparsers())
    return parser.parse_args(["evaluate", *argv])


def _results(plan: evaluate.Plan,
             signal_model: SignalModel | None) -> dict[str, list[EpisodeResult]]:
    policies, exchange_for, episodes, spec, instrument, limits, _data = plan
    return run_evaluation(policies, exchange_for, episodes, spec, instrument, limits,
                          signal_model=signal_model)
