"""``execagent signal train|evaluate``: the short-horizon price model (needs the ``train`` extra).

    execagent signal train --data PATH [--data PATH ...] --horizon 5s [--levels 10|1]
                           --out models/artifacts/signal.onnx
    execagent signal evaluate --model PATH --data PATH [--json OUT]

Exit codes: 0 done, 2 bad input (a file that is not a LOBSTER sample, a horizon longer than the
data, too few rows for the split, a model built for other features), 1 a run that failed
(the exported model differs from the native one).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.commands.output import output_console, print_error
from service.commands.train import TRAIN_EXTRA_HINT

DEFAULT_OUT = Path("models/artifacts/signal.onnx")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("signal", help="train or evaluate the short-horizon price signal")
    actions = p.add_subparsers(dest="signal_command", metavar="ACTION")
    actions.required = True
    train = actions.add_parser("train", help="train the signal on LOBSTER days, export ONNX")
    train.add_argument("--data", type=Path, action="append", required=True,
                       help="a LOBSTER sample (zip or folder); repeat for several days")
    train.add_argument("--horizon", default="5s", help="prediction horizon (default 5s)")
    train.add_argument("--levels", type=int, choices=(1, 10), default=10,
                       help="book levels the model may read: 10 (default) or 1 (touch only, "
                            "for level-1 feeds)")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--out", type=Path, default=DEFAULT_OUT,
                       help=f"where to write the ONNX model (default {DEFAULT_OUT})")
    train.set_defaults(func=run_train)
    evaluate = actions.add_parser("evaluate", help="score a signal model out of sample")
    evaluate.add_argument("--model", type=Path, required=True, help="a signal ONNX file")
    evaluate.add_argument("--data", type=Path, required=True,
                          help="a LOBSTER sample: its test part if the model trained on it, "
                               "else the whole file")
    evaluate.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    try:
        from models.signal_data import SignalDataError, parse_horizon
        from models.signal_eval import evaluate
        from models.signal_train import SignalTrainingError, train
    except ImportError as exc:
        print_error(f"execagent signal train: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    from models.signal import SignalModelError

    console = output_console()
    try:
        horizon_s = parse_horizon(args.horizon)
        console.print(f"reading {len(args.data)} day(s) and computing features...")
        trained = train(args.data, horizon_s, args.out, args.levels, args.seed)
    except (SignalDataError, SignalModelError) as exc:
        print_error(f"execagent signal train: {exc}")
        return 2
    except SignalTrainingError as exc:
        print_error(f"execagent signal train: {exc}")
        return 1
    console.print(f"wrote {trained.out}: {trained.trees} trees, {trained.train_rows:,} training "
                  f"and {trained.validation_rows:,} validation rows; ONNX equals LightGBM to "
                  f"{trained.max_onnx_difference_bps:.2g} bps")
    for day, _ in trained.days:
        result = evaluate(trained.out, day.source, day)
        console.print(_summary(result), markup=False, highlight=False)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    try:
        from models.signal_data import SignalDataError
        from models.signal_eval import evaluate
    except ImportError as exc:
        print_error(f"execagent signal evaluate: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    from models.signal import SignalModelError

    try:
        result = evaluate(args.model, args.data)
    except (SignalDataError, SignalModelError) as exc:
        print_error(f"execagent signal evaluate: {exc}")
        return 2
    output_console().print(_summary(result), markup=False, highlight=False)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _summary(result: dict[str, object]) -> str:
    vs = result["vs_baseline"]
    assert isinstance(vs, dict)
    return (f"{result['ticker']} {result['date']} ({result['rows']}), {result['samples']:,} rows, "
            f"{result['horizon_s']:g} s horizon, one day of one stock:\n"
            f"  model      AUC {result['auc']:.4f}  IC {result['ic']:.4f}  top-decile hit rate "
            f"{result['hit_rate_top_decile']:.4f}\n"
            f"  linear     AUC {result['linear_auc']:.4f}  IC {result['linear_ic']:.4f}  "
            f"top-decile hit rate {result['linear_hit_rate_top_decile']:.4f}\n"
            f"  imbalance  AUC {result['baseline_auc']:.4f}  IC {result['baseline_ic']:.4f}  "
            f"top-decile hit rate {result['baseline_hit_rate_top_decile']:.4f}\n"
            f"  model - imbalance: AUC {vs['auc']['diff']:+.4f} {vs['auc']['ci95']}, "
            f"IC {vs['ic']['diff']:+.4f} {vs['ic']['ci95']} (95% block-bootstrap intervals)")
