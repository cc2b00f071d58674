"""``execagent posture train``: fit the risk posture's model on a LOBSTER day.

``execagent posture train --data LOBSTER --out models/artifacts/posture.json`` replays the day,
fits on its first part in time and reports on the held-out rest (models/posture/train.py says
how); the file is what ``posture.model_path`` loads. Needs the ``train`` extra.

Exit codes: 0 written, 2 a usage or data problem (or the extra missing), 1 a fit that failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.commands.output import output_console, print_error
from sim.lobster import LobsterFormatError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("posture", help="the dynamic risk posture's model")
    actions = p.add_subparsers(dest="posture_command", metavar="ACTION")
    actions.required = True
    t = actions.add_parser("train", help="fit the posture model on a LOBSTER day")
    t.add_argument("--data", type=Path, required=True, help="a LOBSTER sample (zip or folder)")
    t.add_argument("--out", type=Path, default=Path("models/artifacts/posture.json"))
    t.add_argument("--symbol", default="GOOG")
    t.add_argument("--train-fraction", type=float, default=0.55,
                   help="the first share of the day (after the warm-up) fitted on")
    t.add_argument("--embargo", type=float, default=900.0,
                   help="seconds left out between training and the held-out part")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    try:
        from models.posture.train import TrainOptions, fit, replay_features
    except ImportError as exc:
        print_error(f"execagent posture train: needs the train extra (pip install -e "
                    f"'.[train]'): {exc}")
        return 2
    if not 0.1 <= args.train_fraction <= 0.9 or args.embargo < 0:
        print_error("execagent posture train: --train-fraction must be within [0.1, 0.9] and "
                    "--embargo not negative")
        return 2
    options = TrainOptions(train_fraction=args.train_fraction, embargo_s=args.embargo,
                           seed=args.seed)
    console = output_console()
    try:
        day = replay_features(args.data, args.symbol)
    except (OSError, ValueError, LobsterFormatError) as exc:
        print_error(f"execagent posture train: {exc}")
        return 2
    try:
        params = fit(day, options, args.data.name)
    except (ValueError, ArithmeticError) as exc:
        print_error(f"execagent posture train: the fit failed: {exc}")
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(params.to_json(), indent=1) + "\n")
    report = params.metadata["posture_time_seconds"]
    console.print(f"posture model written to {args.out}")
    console.print(f"thresholds: {params.thresholds}")
    for part, spent in report.items():
        console.print(f"{part}: {spent}")
    console.print(f"volatility (held-out QLIKE): {params.metadata['volatility']}")
    return 0
