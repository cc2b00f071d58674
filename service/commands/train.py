"""``execagent train --config FILE``: train the RL execution policy (needs the ``train`` extra).

Exit codes: 0 trained, 2 an invalid configuration or a missing extra (the message says which).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.commands.output import output_console, print_error

TRAIN_EXTRA_HINT = "install the training extra: .venv/bin/pip install -e '.[train]'"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("train", help="train the RL policy with Stable-Baselines3")
    p.add_argument("--config", type=Path, required=True, help="training YAML (see configs/)")
    p.add_argument("--timesteps", type=int, default=None,
                   help="override total_timesteps (a quick try of a configuration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from models.training_config import TrainConfigError, load_train_config
    except ImportError as exc:  # pragma: no cover - only without the extra
        print_error(f"execagent train: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    try:
        config = load_train_config(args.config)
        if args.timesteps is not None:
            if args.timesteps <= 0:
                raise TrainConfigError("--timesteps must be positive")
            config = config.model_copy(update={"total_timesteps": args.timesteps})
        from models.train import train
    except TrainConfigError as exc:
        print_error(f"execagent train: {exc}")
        return 2
    except ImportError as exc:
        print_error(f"execagent train: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    out = train(config, progress_bar=not args.no_progress)
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    output_console().print(
        f"trained {config.algorithm} for {config.total_timesteps:,} steps in "
        f"{summary['wall_seconds']:.0f} s; last episodes' mean shortfall "
        f"{summary['mean_shortfall_bps']} bps; model {out / 'model.zip'}; next: "
        f"execagent export --run {out}")
    return 0
