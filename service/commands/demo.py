"""``execagent demo``: the simulated venue and the service, end to end, with a report."""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal
from pathlib import Path

from core.config_errors import ConfigError
from core.domain import Side
from models.names import POLICY_NAMES
from models.policy import ModelError
from service.app import StartupError
from service.commands.output import output_console, print_error
from service.demo import DEMO_POLICIES, DemoOptions, run_demo
from service.evaluation.report import report_table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="run the service against a simulated FIX venue")
    p.add_argument("--side", choices=["buy", "sell"], default="sell")
    p.add_argument("--qty", type=int, default=2_000, help="parent quantity (default 2,000)")
    p.add_argument("--minutes", type=float, default=10.0, help="horizon in market minutes")
    p.add_argument("--speed", type=float, default=60.0,
                   help="market seconds per wall second (default 60)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--policies", default=",".join(DEMO_POLICIES),
                   help=f"comma-separated, from rl, {', '.join(POLICY_NAMES)} (rl is the "
                        "shipped ONNX policy)")
    p.add_argument("--model", type=Path, default=Path("models/artifacts/policy.onnx"))
    p.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.demo.yaml"))
    p.add_argument("--metrics-port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--json", type=Path, help="also write the reports as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    policies = [name.strip() for name in args.policies.split(",") if name.strip()]
    unknown = [name for name in policies if name not in ("rl", *POLICY_NAMES)]
    if unknown or not policies:
        print_error(f"--policies: unknown {unknown}; choose from rl, {', '.join(POLICY_NAMES)}")
        return 2
    if args.qty <= 0 or args.minutes <= 0 or args.speed <= 0:
        print_error("--qty, --minutes and --speed must be positive")
        return 2
    options = DemoOptions(side=Side.BUY if args.side == "buy" else Side.SELL, qty=args.qty,
                          minutes=args.minutes, speed=args.speed, seed=args.seed,
                          policies=policies, model_path=args.model, limits_path=args.limits,
                          metrics_port=args.metrics_port, tick_size=Decimal("0.01"))
    try:
        summaries = asyncio.run(run_demo(options, console))
    except (StartupError, ConfigError, ModelError) as exc:
        print_error(f"execagent demo: {exc}")
        return 2
    except OSError as exc:
        print_error(f"execagent demo: {exc}")
        return 1
    console.print(report_table(summaries, "Execution report (simulated market: stochastic "
                                          "order flow calibrated to LOBSTER GOOG 2012-06-21, "
                                          f"seed {args.seed})"))
    if args.json:
        args.json.write_text(json.dumps([s.as_dict() for s in summaries], indent=2))
    incomplete = [s.policy for s in summaries if s.filled != s.quantity]
    if incomplete:
        print_error(f"parent order not completely filled for: {', '.join(incomplete)}")
        return 1
    return 0
