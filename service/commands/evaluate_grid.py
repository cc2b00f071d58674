"""``execagent evaluate-grid``: the RL policy's verdict on every parent of a grid.

Every (side, size) parent of ``--side buy,sell`` and ``--participation 0.02,0.08,0.2`` (or
``--qty``) runs as ``execagent evaluate`` runs one, on the same market, horizon and episodes
(the same seeds, or the same windows of the replayed day, for every parent); then per parent
the verdict against the product goal (:mod:`service.evaluation.verdict`), each criterion
passed or failed on its own; and what rl did there (:mod:`service.evaluation.decisions`: its
decisions by action, the parent done by each part of the horizon). The market's arguments are
``evaluate``'s
(:func:`service.commands.evaluate.add_market_arguments`).

Exit codes: 0 done (whatever the verdict), 2 a usage problem (one line: an unknown side, a
size outside its range, an empty list, ``--policies`` without rl or a baseline, or any of
``evaluate``'s), 1 an evaluation that failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from models.names import ALL_BASELINE_NAMES
from models.policy import ModelError
from models.signal import SignalModel
from models.training_config import TrainConfigError
from service.commands.evaluate import (
    MarketPlan,
    Parent,
    UsageError,
    add_market_arguments,
    plan_market,
    plan_parent,
    policy_names,
    progress_bar,
    reproducing_command,
    results_key,
)
from service.commands.output import output_console, print_error
from service.evaluation.compare import (
    paired_difference,
    paired_std_difference,
    policy_stats,
    run_evaluation,
)
from service.evaluation.decisions import RecordingPolicy
from service.evaluation.grid import (
    GridCell,
    decision_table,
    grid_json,
    grid_markdown,
    grid_table,
)
from service.evaluation.results_page import upsert_section, write_json
from service.evaluation.verdict import judge

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("evaluate-grid", help="the RL policy's verdict on every side and "
                                                    "size of a grid")
    p.add_argument("--side", default=None, metavar="buy,sell",
                   help="the parents' sides, comma-separated (default: the training "
                        "configuration's)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--qty", default=None, metavar="N,N,...",
                      help="the parents' quantities in shares, comma-separated")
    size.add_argument("--participation", default=None, metavar="FRACTION,...",
                      help="the parents' quantities as fractions of the volume expected over "
                           "the horizon, comma-separated, e.g. 0.02,0.08,0.2 (default: the "
                           "configuration's quantity)")
    add_market_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        parents = grid_parents(args)
        names = policy_names(args.policies)
        if "rl" not in names or not set(names) & set(ALL_BASELINE_NAMES):
            raise UsageError("--policies must name rl and at least one baseline")
        market = plan_market(args)
        plans = [plan_parent(args, market, parent, RecordingPolicy) for parent in parents]
        signal_model = None if str(args.signal) == "none" else SignalModel(args.signal)
    except (UsageError, ModelError, TrainConfigError, OSError, ValueError) as exc:
        print_error(f"execagent evaluate-grid: {exc}")
        return 2
    cells = []
    with progress_bar(console) as progress:
        task = progress.add_task("parents x episodes x policies",
                                 total=len(plans) * len(market.episodes) * len(market.names))
        for policies, spec, data in plans:
            rl = next(p for p in policies if isinstance(p, RecordingPolicy))
            results = run_evaluation(policies, market.exchange_for, market.episodes, spec,
                                     market.instrument, market.limits,
                                     on_episode=lambda _name, _result: progress.advance(task),
                                     signal_model=signal_model)
            stats = [policy_stats(name, rows) for name, rows in results.items()]
            diffs = [paired_difference(results["rl"], results[base]) for base in results
                     if base != "rl"]
            std_diffs = [paired_std_difference(results["rl"], results[base])
                         for base in results if base != "rl" and len(market.episodes) > 1]
            verdict = judge(next(s for s in stats if s.name == "rl"),
                            [s for s in stats if s.name != "rl"], diffs, std_diffs)
            cells.append(GridCell(spec.side.name.lower(), _share(spec.qty, spec.horizon_s, market),
                                  spec.qty, data, len(market.episodes), stats, diffs, verdict,
                                  rl.record()))
    command = reproducing_command(args, "evaluate-grid")
    console.print(f"{market.data}: {len(market.episodes)} episodes per parent")
    console.print(grid_table(cells))
    console.print(decision_table(cells))
    if args.json is not None:
        write_json(args.json, grid_json(cells, market.data, command))
    if args.results is not None:
        upsert_section(args.results, f"grid-{results_key(args)}",
                       grid_markdown(cells, market.data, command))
        console.print(f"results written to {args.results}")
    return 0


def grid_parents(args: argparse.Namespace) -> list[Parent]:
    """Every (side, size) pair of the command line's lists, sides first."""
    sides: list[str | None] = [None]
    if args.side is not None:
        sides = list(_items("--side", args.side, _side))
    if args.qty is not None:
        return [Parent(side, qty=qty) for side in sides for qty in _items("--qty", args.qty, _qty)]
    if args.participation is not None:
        return [Parent(side, participation=share) for side in sides
                for share in _items("--participation", args.participation, _participation)]
    return [Parent(side) for side in sides]


def _items(flag: str, text: str, parse: Callable[[str], T]) -> list[T]:
    words = [word.strip() for word in text.split(",")]
    if not any(words):
        raise UsageError(f"{flag} needs at least one value")
    if not all(words):
        raise UsageError(f"{flag} has an empty entry in {text!r}")
    if len(set(words)) < len(words):
        raise UsageError(f"{flag} names a value twice in {text!r}")
    return [parse(word) for word in words]


def _side(word: str) -> str:
    if word not in ("buy", "sell"):
        raise UsageError(f"--side: unknown side {word!r}; choose from buy, sell")
    return word


def _qty(word: str) -> int:
    if not word.isdigit() or int(word) <= 0:
        raise UsageError(f"--qty: {word!r} is not a positive number of shares")
    return int(word)


def _participation(word: str) -> float:
    try:
        share = float(word)
    except ValueError:
        raise UsageError(f"--participation: {word!r} is not a number") from None
    if not 0 < share <= 1:
        raise UsageError(f"--participation: {word} is not a fraction in (0, 1], e.g. 0.08")
    return share


def _share(qty: int, horizon_s: float, market: MarketPlan) -> float:
    expected = market.volume_per_s * horizon_s
    return qty / expected if expected > 0 else float("nan")
