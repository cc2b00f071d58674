"""``execagent evaluate``: the RL policy against TWAP, VWAP, Almgren-Chriss and POV.

Every policy runs through the live engine, risk overlay and OMS
(:mod:`service.evaluation.backtest`) on the same held-out episodes: seeds training never draws
(``--sim``), or evenly spaced windows of a LOBSTER day (``--data``). The episode (side,
quantity, horizon, slices, latency) comes from the training configuration, so the policy is
evaluated on the task it was trained for.

Exit codes: 0 done, 2 a usage problem (no such file, a model that does not match the features,
no episode fits the data's window), 1 an evaluation that failed.
"""

from __future__ import annotations

import argparse
import shlex
from decimal import Decimal
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.domain import Instrument, Side
from models.names import BASELINE_NAMES
from models.policy import ExecutionPolicy, ModelError, OnnxPolicy
from models.registry import make_policy
from models.training_config import EVALUATION_SEED_BASE, TrainConfigError, load_train_config
from risk.limits import RiskLimits, load_limits
from service.commands.output import output_console, print_error
from service.evaluation.backtest import EpisodeSpec
from service.evaluation.compare import (
    ExchangeForEpisode,
    paired_difference,
    policy_stats,
    run_evaluation,
)
from service.evaluation.results_page import (
    results_markdown,
    stats_table,
    summary_json,
    upsert_section,
    write_json,
    write_plots,
)
from sim.calibrate import load_flow_params
from sim.exchange import SimExchange
from sim.flow import StochasticFlow
from sim.profile import VolumeProfile

BASELINES = BASELINE_NAMES
SIM_START_NS = 1_340_280_000 * 10**9  # 2012-06-21 12:00 UTC: a date, not a market fact
TICK = Decimal("0.01")
DAY_NS = 86_400 * 10**9
EXCHANGE_UTC_OFFSET_HOURS = -4  # --window is New York time, as the LOBSTER loader assumes


class UsageError(ValueError):
    """Bad arguments or files: exit code 2 with the message."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("evaluate", help="compare the RL policy with the baselines")
    p.add_argument("--policy", type=Path, default=Path("models/artifacts/policy.onnx"),
                   help="the ONNX policy (default models/artifacts/policy.onnx)")
    market = p.add_mutually_exclusive_group(required=True)
    market.add_argument("--sim", type=Path, metavar="PARAMS",
                        help="simulated episodes on the flow calibrated in PARAMS (JSON)")
    market.add_argument("--data", type=Path, metavar="PATH",
                        help="replay episodes from a LOBSTER sample (zip or folder)")
    p.add_argument("--episodes", type=int, default=50, help="episodes (default 50)")
    p.add_argument("--config", type=Path, default=Path("configs/train.yaml"),
                   help="training config whose episode section defines the parent order")
    p.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.demo.yaml"),
                   help="risk limits the overlay enforces during the backtest")
    p.add_argument("--symbol", default="GOOG", help="symbol of the simulated market")
    p.add_argument("--window", default=None, metavar="HH:MM-HH:MM",
                   help="replay only: episodes lie inside this window (New York time)")
    p.add_argument("--policies", default=",".join(("rl", *BASELINES)),
                   help="comma-separated policies to run (default: rl and every baseline)")
    p.add_argument("--json", type=Path, default=None, help="write the summary JSON here")
    p.add_argument("--results", type=Path, default=None,
                   help="write the table and plots into this markdown page (docs/results.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        plan = _plan(args)
    except (UsageError, ModelError, TrainConfigError, OSError, ValueError) as exc:
        print_error(f"execagent evaluate: {exc}")
        return 2
    policies, exchange_for, episodes, spec, instrument, limits, data = plan
    total = len(episodes) * len(policies)
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("episodes x policies", total=total)
        results = run_evaluation(policies, exchange_for, episodes, spec, instrument, limits,
                                 on_episode=lambda _name, _result: progress.advance(task))
    stats = [policy_stats(name, rows) for name, rows in results.items()]
    diffs = [paired_difference(results["rl"], results[base]) for base in results
             if "rl" in results and base != "rl"]
    console.print(stats_table(stats, f"{data}: {len(episodes)} episodes"))
    for d in diffs:
        console.print(f"rl - {d.baseline}: {d.mean_bps:+.3f} bps, 95% CI "
                      f"[{d.ci_low_bps:+.3f}, {d.ci_high_bps:+.3f}]")
    if args.json is not None:
        write_json(args.json, summary_json(stats, diffs, len(episodes), data))
    if args.results is not None:
        key = "replay" if args.data is not None else "sim"
        plots = write_plots(results, args.results.parent / "results", key)
        command = _command(args)
        upsert_section(args.results, key,
                       results_markdown(stats, diffs, data, command, plots, args.results))
        console.print(f"results written to {args.results}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, for the results page."""
    parts = ["execagent", "evaluate", "--policy", str(args.policy)]
    parts += ["--sim", str(args.sim)] if args.sim is not None else ["--data", str(args.data)]
    parts += ["--episodes", str(args.episodes), "--config", str(args.config), "--limits",
              str(args.limits)]
    if args.sim is not None:
        parts += ["--symbol", args.symbol]
    if args.window is not None:
        parts += ["--window", args.window]
    parts += ["--policies", args.policies]
    if args.json is not None:
        parts += ["--json", str(args.json)]
    parts += ["--results", str(args.results)]
    return " ".join(shlex.quote(part) for part in parts)


Plan = tuple[list[ExecutionPolicy], ExchangeForEpisode, list[int], EpisodeSpec, Instrument,
             RiskLimits, str]


def _plan(args: argparse.Namespace) -> Plan:
    if args.episodes <= 0:
        raise UsageError("--episodes must be positive")
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    unknown = sorted(set(names) - {"rl", *BASELINES})
    if unknown or not names:
        raise UsageError(f"unknown policies {unknown}; choose from rl, {', '.join(BASELINES)}")
    config = load_train_config(args.config)
    episode = config.episode
    limits = load_limits(args.limits)
    symbol = args.symbol
    spec = EpisodeSpec(symbol, Side(episode.side_sign), episode.qty, episode.horizon_seconds,
                       episode.slice_seconds, episode.warmup_seconds,
                       episode.horizon_grace_seconds, episode.max_child_qty)
    latency_ns = int(episode.latency_ms * 1e6)
    exchange_for: ExchangeForEpisode
    if args.sim is not None:
        if args.window is not None:
            raise UsageError("--window applies to --data replays only")
        params = load_flow_params(args.sim)
        episodes = list(range(args.episodes))

        def exchange_for(k: int) -> SimExchange:
            return SimExchange(symbol, StochasticFlow(params, seed=EVALUATION_SEED_BASE + k),
                               SIM_START_NS, latency_ns)

        data = (f"simulated flow calibrated in {args.sim} (seeds {EVALUATION_SEED_BASE}+k, "
                "never drawn in training)")
        profile = None
        volume_per_s = params.market_rate * params.mean_market_size
    else:
        exchange_for, episodes, data, profile, volume_per_s = _replay_plan(args, spec,
                                                                           latency_ns)
    pov_rate = _pov_rate(spec, volume_per_s)
    policies = [_policy(name, args.policy, profile, pov_rate) for name in names]
    return policies, exchange_for, episodes, spec, Instrument(symbol, TICK), limits, data


def _pov_rate(spec: EpisodeSpec, volume_per_s: float) -> float:
    """The participation rate that completes the parent over its horizon at the market's
    average volume (assumed: the same average volume in every episode); at most 1."""
    expected = volume_per_s * spec.horizon_s
    return min(1.0, spec.qty / expected) if expected > 0 else 1.0


def _policy(name: str, model_path: Path, profile: VolumeProfile | None,
            pov_rate: float) -> ExecutionPolicy:
    if name == "rl":
        return OnnxPolicy(model_path, name="rl")
    return make_policy(name, volume_profile=profile, pov_rate=pov_rate)


def _replay_plan(args: argparse.Namespace, spec: EpisodeSpec, latency_ns: int) \
        -> tuple[ExchangeForEpisode, list[int], str, VolumeProfile, float]:
    from sim.lobster import EventType, open_sample
    from sim.profile import volume_profile
    from sim.replay_exchange import ReplayExchange

    sample = open_sample(args.data)
    first = last = None
    executed = 0
    for message in sample.messages():
        first = message.ts_ns if first is None else first
        last = message.ts_ns
        if message.event in (EventType.EXECUTE_VISIBLE, EventType.EXECUTE_HIDDEN):
            executed += message.qty
    if first is None or last is None:
        raise UsageError(f"{args.data} holds no messages")
    offset_ns = EXCHANGE_UTC_OFFSET_HOURS * 3_600 * 10**9
    day_start = (first + offset_ns) // DAY_NS * DAY_NS - offset_ns  # local midnight, in UTC
    lo, hi = first, last
    if args.window is not None:
        lo, hi = _window(args.window, day_start, first, last)
    warmup_ns = int(spec.warmup_s * 1e9)
    need_ns = int((spec.horizon_s + spec.horizon_grace_s + 60) * 1e9)
    earliest, latest = lo + warmup_ns, min(hi, last) - need_ns
    if latest < earliest:
        raise UsageError(f"no episode fits: a {spec.horizon_s:g} s order with "
                         f"{spec.warmup_s:g} s of warm-up needs more data than the window "
                         f"holds in {args.data}")
    count = args.episodes
    step = (latest - earliest) // max(count - 1, 1)
    starts = [earliest + k * step for k in range(count)]

    def exchange_for(k: int) -> ReplayExchange:
        start = starts[k] - warmup_ns
        return ReplayExchange(open_sample(args.data), spec.symbol, latency_ns=latency_ns,
                              start_ns=start, end_ns=start + warmup_ns + need_ns)

    overlap = " (windows overlap)" if step < need_ns else ""
    data = (f"replay of {args.data.name}, {count} windows evenly spaced over the day"
            f"{overlap}; one day of one stock")
    volume_per_s = executed / max((last - first) / 1e9, 1.0)
    return exchange_for, list(range(count)), data, volume_profile(sample), volume_per_s


def _window(text: str, day_start: int, first: int, last: int) -> tuple[int, int]:
    try:
        begin, end = (part.strip() for part in text.split("-"))
        times = []
        for part in (begin, end):
            hours, minutes = (int(x) for x in part.split(":"))
            times.append(day_start + (hours * 3600 + minutes * 60) * 10**9)
    except ValueError as exc:
        raise UsageError(f"--window {text!r} is not HH:MM-HH:MM") from exc
    lo, hi = max(times[0], first), min(times[1], last)
    if hi <= lo:
        raise UsageError(f"--window {text} holds no data (the data covers "
                         f"{_clock(first - day_start)}-{_clock(last - day_start)})")
    return lo, hi


def _clock(ns: int) -> str:
    minutes = ns // 60_000_000_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"

