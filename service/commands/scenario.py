"""``execagent scenario``: a replayed day with an injected event, the posture on and off.

``execagent scenario --data LOBSTER --inject flash-crash --at 12:00:00 [--json OUT]`` works one
parent order through the live engine over the replayed day with the event injected at ``--at``
(New York time), once with the risk posture and once without, and reports how soon the posture
moved, what it held back, and the shortfall of both; then the time the posture spends in each
state on the clean day (``--no-clean-day`` skips that replay of the whole day).
docs/risk.md ("Scenarios") defines the events. Results are on one day of one stock.

Exit codes: 0 done, 2 a usage or data problem, 1 a run that failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.domain import Side
from models.policy import ModelError
from models.posture.levels import Posture
from models.posture.model import PostureModelError, load_posture_model
from models.registry import make_policy
from risk.limits import load_limits
from service.commands.output import output_console, print_error
from service.evaluation import scenario as scenarios
from service.posture.config import PostureConfig
from sim.injection import Injection
from sim.lobster import LobsterFormatError, open_sample


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("scenario", help="a replayed day with an injected market event: "
                              "the risk posture on and off")
    p.add_argument("--data", type=Path, required=True, help="a LOBSTER sample (zip or folder)")
    p.add_argument("--inject", required=True, choices=[i.value for i in Injection])
    p.add_argument("--at", required=True, metavar="HH:MM:SS",
                   help="the onset, New York time on the sample's day")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--policy", default="almgren_chriss",
                   help="the policy working the parent (a baseline; default almgren_chriss)")
    p.add_argument("--side", choices=("buy", "sell"), default="sell")
    p.add_argument("--qty", type=int, default=2_000)
    p.add_argument("--horizon", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--lead", type=float, default=60.0,
                   help="the parent starts this many seconds before the onset (default 60)")
    p.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.demo.yaml"))
    p.add_argument("--posture-model", type=Path, default=Path("models/artifacts/posture.json"))
    p.add_argument("--no-clean-day", action="store_true",
                   help="skip the clean day's replay (a minute of CPU)")
    p.set_defaults(func=run)


def _onset(data: Path, at: str) -> int:
    try:
        hours, minutes, seconds = (int(part) for part in at.split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60):
            raise ValueError
    except ValueError:
        raise ValueError(f"--at {at!r} is not HH:MM:SS") from None
    sample = open_sample(data)
    onset = sample.midnight_ns() + (hours * 3600 + minutes * 60 + seconds) * 10**9
    first = next(sample.messages()).ts_ns
    if onset - 300 * 10**9 < first:
        raise ValueError(f"--at {at} leaves less than the 300 s of market the posture needs "
                         "before the onset")
    return onset


def run(args: argparse.Namespace) -> int:
    try:
        if args.qty <= 0 or args.horizon <= 0 or args.lead < 0:
            raise ValueError("--qty and --horizon must be positive, --lead not negative")
        onset = _onset(args.data, args.at)
        limits = load_limits(args.limits)
        params = load_posture_model(args.posture_model)
        policy_on = make_policy(args.policy)
        policy_off = make_policy(args.policy)
    except (ValueError, OSError, LobsterFormatError, PostureModelError, ModelError,
            StopIteration) as exc:
        print_error(f"execagent scenario: {exc}")
        return 2
    spec = scenarios.ScenarioSpec(args.data, Injection(args.inject), onset,
                                  side=Side.BUY if args.side == "buy" else Side.SELL,
                                  qty=args.qty, horizon_s=args.horizon, lead_s=args.lead)
    config = PostureConfig(enabled=True)
    console = output_console()
    try:
        on = scenarios.run(spec, policy_on, limits, params, config)
        off = scenarios.run(spec, policy_off, limits, None, config)
        clean = None if args.no_clean_day else scenarios.clean_day(
            args.data, spec.symbol, limits, params, config)
    except (RuntimeError, ValueError, LobsterFormatError) as exc:
        print_error(f"execagent scenario: the run failed: {exc}")
        return 1
    result = summary(spec, args, on, off, clean)
    for key, value in result.items():
        if not isinstance(value, dict):
            console.print(f"{key}: {value}")
    if clean is not None:
        console.print(f"clean day: {clean[0]} ({clean[1]} transitions)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def summary(spec: scenarios.ScenarioSpec, args: argparse.Namespace, on: scenarios.RunResult,
            off: scenarios.RunResult, clean: tuple[dict[str, float], int] | None) \
        -> dict[str, object]:
    result: dict[str, object] = {
        "data": args.data.name, "inject": spec.inject.value, "at": args.at,
        "policy": args.policy, "side": args.side, "qty": spec.qty, "horizon_s": spec.horizon_s,
        "elevated_after_ms": scenarios.after_onset(on.transitions, spec.onset_ns,
                                                   Posture.ELEVATED),
        "stressed_after_ms": scenarios.after_onset(on.transitions, spec.onset_ns,
                                                   Posture.STRESSED),
        "stressed_seconds": on.seconds_in.get("stressed", 0.0),
        "elevated_seconds": on.seconds_in.get("elevated", 0.0),
        "orders_sent_stressed": on.orders_sent_stressed,
        "new_orders_sent_stressed": on.new_orders_sent_stressed,
        "shares_filled_stressed": on.shares_filled_stressed,
        "is_bps_posture_on": round(on.shortfall_bps, 4),
        "is_bps_posture_off": round(off.shortfall_bps, 4),
        "filled_posture_on": on.filled, "filled_posture_off": off.filled,
        "child_orders_posture_on": on.child_orders, "child_orders_posture_off": off.child_orders,
        "posture_denials": on.posture_denials,
        "note": "one day of one stock (LOBSTER sample); events as defined in docs/risk.md",
    }
    if clean is not None:
        seconds, moves = clean
        total = sum(seconds.values()) or 1.0
        result["clean_day_seconds"] = seconds
        result["clean_day_transitions"] = moves
        result["clean_day_elevated_share"] = round(seconds["elevated"] / total, 6)
        result["clean_day_stressed_seconds"] = seconds["stressed"]
    return result
