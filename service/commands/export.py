"""``execagent export --run DIR [--checkpoint STEPS]``: a trained model (its final one, or the
checkpoint saved after STEPS steps) to ONNX (needs the ``train`` extra).

Exit codes: 0 written (and loaded back by the runtime's own checks), 2 no usable model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.commands.output import output_console, print_error
from service.commands.train import TRAIN_EXTRA_HINT

DEFAULT_OUT = Path("models/artifacts/policy.onnx")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("export", help="export a trained policy to ONNX")
    p.add_argument("--run", type=Path, required=True,
                   help="the training run's directory (holds model.zip and run.json)")
    p.add_argument("--checkpoint", type=int, metavar="STEPS",
                   help="export the run's checkpoint after STEPS steps (checkpoint_timesteps; "
                        "checkpoints/model_STEPS_steps.zip) instead of its final model")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"where to write the ONNX file (default {DEFAULT_OUT})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from models.export import export_onnx
        from models.policy import ModelError, OnnxPolicy
        from models.train import checkpoint_path, saved_checkpoints
    except ImportError as exc:
        print_error(f"execagent export: {exc}; {TRAIN_EXTRA_HINT}")
        return 2
    run_json = args.run / "run.json"
    try:
        info = json.loads(run_json.read_text(encoding="utf-8")) if run_json.is_file() else {}
    except (OSError, ValueError) as exc:
        print_error(f"execagent export: cannot read {run_json}: {exc}")
        return 2
    model = args.run / "model.zip"
    if args.checkpoint is not None:
        model = checkpoint_path(args.run, args.checkpoint)
        if not model.is_file():
            saved = ", ".join(map(str, saved_checkpoints(args.run))) or "none"
            print_error(f"execagent export: no checkpoint after {args.checkpoint} steps in "
                        f"{model.parent}; saved: {saved}")
            return 2
        info = {**info, "total_timesteps": args.checkpoint}  # what this model trained
    try:
        out = export_onnx(model, args.out, info)
        policy = OnnxPolicy(out)  # the live runtime's own contract checks
    except ModelError as exc:
        print_error(f"execagent export: {exc}")
        return 2
    output_console().print(f"wrote {out}: feature spec "
                           f"{policy.metadata['execagent.feature_spec_id']} "
                           f"({policy.metadata['execagent.feature_spec_hash']}), "
                           f"{len(policy.action_table)} actions")
    return 0
