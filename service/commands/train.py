"""``execagent train --config FILE [--sweep SWEEP.yaml [--ray-address ADDRESS]]``: train the RL
execution policy (needs the ``train`` extra).

Without ``--sweep``: one Stable-Baselines3 run. With it: a Ray Tune sweep of that configuration
(:mod:`models.sweep`), on a local Ray or the cluster at ``--ray-address``; the best trial, by
its held-out validation score, is exported to ONNX with the sweep in its metadata. When the
configuration's ``risk`` section names a limits file, the live risk overlay judges every order
message in training (:mod:`service.commands.training_risk`).

Exit codes: 0 trained, 2 an invalid configuration or sweep file, a Ray that does not answer, or
a missing extra (the message says which), 1 a sweep whose trials failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from service.commands.output import output_console, print_error

if TYPE_CHECKING:
    from models.pretrade import PreTradeFactory
    from models.training_config import TrainConfig

TRAIN_EXTRA_HINT = "install the training extra: .venv/bin/pip install -e '.[train]'"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("train", help="train the RL policy with Stable-Baselines3")
    p.add_argument("--config", type=Path, required=True, help="training YAML (see configs/)")
    p.add_argument("--timesteps", type=int, default=None,
                   help="override total_timesteps (a quick try of a configuration)")
    p.add_argument("--sweep", type=Path, default=None,
                   help="a sweep YAML: run a Ray Tune sweep of the configuration (see "
                        "configs/sweep.yaml)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="with --sweep: join the Ray cluster at HOST:PORT (or ray://HOST:PORT, "
                        "or auto) instead of starting a local Ray")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from models.training_config import TrainConfigError, load_train_config
        from risk.limits import RiskConfigError
        from service.commands.training_risk import overlay_factory
    except ImportError as exc:  # pragma: no cover - only without the extra
        print_error(f"execagent train: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    if args.ray_address is not None and args.sweep is None:
        print_error("execagent train: --ray-address needs --sweep")
        return 2
    try:
        config = load_train_config(args.config)
        if args.timesteps is not None:
            if args.timesteps <= 0:
                raise TrainConfigError("--timesteps must be positive")
            config = config.model_copy(update={"total_timesteps": args.timesteps})
        pre_trade = overlay_factory(config)
        from models.train import train
    except (TrainConfigError, RiskConfigError) as exc:
        print_error(f"execagent train: {exc}")
        return 2
    except ValueError as exc:  # limits that do not name the configuration's symbol
        print_error(f"execagent train: training config {args.config}: {exc}")
        return 2
    except ImportError as exc:
        print_error(f"execagent train: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    if args.sweep is not None:
        return _sweep(args, config, pre_trade)
    out = train(config, progress_bar=not args.no_progress, pre_trade=pre_trade)
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    output_console().print(
        f"trained {config.algorithm} for {config.total_timesteps:,} steps in "
        f"{summary['wall_seconds']:.0f} s; last episodes' mean shortfall "
        f"{summary['mean_shortfall_bps']} bps; model {out / 'model.zip'}; next: "
        f"execagent export --run {out}")
    return 0


def _sweep(args: argparse.Namespace, config: TrainConfig,
           pre_trade: PreTradeFactory | None) -> int:
    try:
        from models.export import export_onnx
        from models.policy import ModelError
        from models.sweep import SweepError, load_sweep, run_sweep
    except ImportError as exc:
        print_error(f"execagent train: {exc}; {TRAIN_EXTRA_HINT} (Ray Tune comes with it)")
        return 2
    try:
        sweep, text = load_sweep(args.sweep, config)
        result = run_sweep(config, sweep, text, address=args.ray_address, pre_trade=pre_trade)
    except SweepError as exc:
        print_error(f"execagent train: {exc}")
        return 2
    except RuntimeError as exc:
        print_error(f"execagent train: sweep {sweep.name}: {exc}")
        return 1
    info = json.loads((result.best_run / "run.json").read_text(encoding="utf-8"))
    try:
        onnx = export_onnx(result.best_run / "model.zip", result.best_run / "policy.onnx", info)
    except ModelError as exc:
        print_error(f"execagent train: exporting the best trial: {exc}")
        return 1
    summary = result.summary
    console = output_console()
    for trial in summary["trials"]:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in trial["scores"].items())
        console.print(f"{trial['trial']}: {json.dumps(trial['params'])}: {scores}")
    console.print(f"sweep {sweep.name}: {len(summary['trials'])} trials in "
                  f"{summary['wall_seconds']:.0f} s; best {summary['best_trial']} by "
                  f"{summary['metric']} on {sweep.validation_episodes} validation episodes "
                  f"({summary['best_scores'][summary['metric']]:.4g}); exported {onnx} "
                  f"(its run: {result.best_run})")
    return 0
