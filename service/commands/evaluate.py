"""``execagent evaluate``: the RL policy against TWAP, VWAP, Almgren-Chriss and POV.

Every policy runs through the live engine, risk overlay and OMS
(:mod:`service.evaluation.backtest`) on the same held-out episodes: seeds training never draws
(``--sim``), or evenly spaced windows of a LOBSTER day (``--data``). The episode (side,
quantity, horizon, slices, latency) comes from the training configuration, so the policy is
evaluated on the task it was trained for. A replay is the day as recorded (``--impact none``,
the default) or with the agent's own transient impact (``--impact calibrated``: the propagator
in ``--params``, or estimated from the replayed file; :mod:`sim.impact_replay`).

The instrument comes from the data: with ``--data`` the symbol is the LOBSTER file name's
ticker and the tick size ``--tick-size`` (0.01 by default); the risk limits must name that
symbol. The data is read and checked whole before the first episode.

Exit codes: 0 done, 2 a usage problem (no such file, unreadable data: one line naming file and
line, a model that does not match the features, no episode fits the data's window, no risk
limits for the symbol), 1 an evaluation that failed.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.domain import Instrument, Side
from models.names import ALL_BASELINE_NAMES, BASELINE_NAMES, RULE_BASELINE_NAMES, is_book
from models.policy import ExecutionPolicy, ModelError, OnnxPolicy
from models.policy_book import PolicyBook
from models.registry import make_policy
from models.signal import SignalModel
from models.trained_hours import in_sample
from models.training_config import (
    EVALUATION_SEED_BASE,
    EpisodeConfig,
    TrainConfigError,
    load_train_config,
)
from risk.limits import RiskLimits, load_limits
from service.commands import impact_args, instrument_args
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
from sim.day_window import window_ns
from sim.exchange import SimExchange
from sim.flow import StochasticFlow
from sim.lobster import LobsterSample, open_sample
from sim.profile import VolumeProfile, executed_per_second, volume_profile
from sim.propagator import ImpactParams
from sim.replay_exchange import ReplayExchange

BASELINES = BASELINE_NAMES
DEFAULT_SIGNAL = Path("models/artifacts/signal.onnx")
SIM_START_NS = 1_340_280_000 * 10**9  # 2012-06-21 12:00 UTC: a date, not a market fact
SIM_SYMBOL = "GOOG"  # the simulated market's name when neither --symbol nor the params say


class UsageError(ValueError):
    """Bad arguments or files: exit code 2 with the message."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("evaluate", help="compare the RL policy with the baselines")
    p.add_argument("--side", choices=("buy", "sell"), default=None,
                   help="the parent's side (default: the training configuration's)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--qty", type=int, default=None,
                      help="the parent's quantity in shares (default: the configuration's)")
    size.add_argument("--participation", type=float, default=None, metavar="FRACTION",
                      help="the parent's quantity as a fraction of the volume expected over "
                           "the horizon, e.g. 0.08")
    add_market_arguments(p)
    p.set_defaults(func=run)


def add_market_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments every parent of a run shares: the policy, the market and its episodes,
    the horizon, the limits and the outputs (``evaluate`` and ``evaluate-grid`` take them)."""
    p.add_argument("--policy", type=Path, default=Path("models/artifacts/policy.onnx"),
                   help="the ONNX policy, or a policy book (.yaml) that picks one per parent "
                        "(default models/artifacts/policy.onnx)")
    market = p.add_mutually_exclusive_group(required=True)
    market.add_argument("--sim", type=Path, metavar="PARAMS",
                        help="simulated episodes on the flow calibrated in PARAMS (JSON)")
    market.add_argument("--data", type=Path, metavar="PATH",
                        help="replay episodes from a LOBSTER sample (zip or folder)")
    p.add_argument("--impact", default="none", metavar="none|calibrated",
                   help="replay only: none (the day as recorded, the default) or calibrated "
                        "(the agent's trades move later prices by the propagator in --params, "
                        "or estimated from the --data file)")
    p.add_argument("--params", type=Path, default=None, metavar="PARAMS",
                   help="with --impact calibrated: the calibration file whose impact section "
                        "to use (a file without one means no impact)")
    p.add_argument("--episodes", type=int, default=50, help="episodes (default 50)")
    p.add_argument("--config", type=Path, default=Path("configs/train.yaml"),
                   help="training config whose episode section defines the parent order")
    p.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.demo.yaml"),
                   help="risk limits the overlay enforces during the backtest")
    p.add_argument("--minutes", type=float, default=None,
                   help="the parent's horizon in minutes (default: the configuration's)")
    instrument_args.add_arguments(p, "the LOBSTER file name's ticker with --data; with --sim "
                                     f"the params file's symbol, else {SIM_SYMBOL}")
    p.add_argument("--window", default=None, metavar="HH:MM-HH:MM",
                   help="replay only: episodes lie inside this window (New York time)")
    p.add_argument("--policies", default=",".join(("rl", *BASELINES)),
                   help="comma-separated policies to run (default: rl and every schedule "
                        f"baseline; also {', '.join(RULE_BASELINE_NAMES)})")
    p.add_argument("--signal", type=Path, default=DEFAULT_SIGNAL,
                   help=f"the price-signal model the engine runs on every tick (default "
                        f"{DEFAULT_SIGNAL}; 'none' for no signal: almgren_chriss_alpha is then "
                        "plain Almgren-Chriss)")
    p.add_argument("--json", type=Path, default=None, help="write the summary JSON here")
    p.add_argument("--results", type=Path, default=None,
                   help="write the table and plots into this markdown page (docs/results.md)")


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        plan = plan_evaluation(args)
        signal_model = None if str(args.signal) == "none" else SignalModel(args.signal)
    except (UsageError, ModelError, TrainConfigError, OSError, ValueError) as exc:
        print_error(f"execagent evaluate: {exc}")
        return 2
    policies, exchange_for, episodes, spec, instrument, limits, data = plan
    total = len(episodes) * len(policies)
    with progress_bar(console) as progress:
        task = progress.add_task("episodes x policies", total=total)
        results = run_evaluation(policies, exchange_for, episodes, spec, instrument, limits,
                                 on_episode=lambda _name, _result: progress.advance(task),
                                 signal_model=signal_model)
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
        key = results_key(args)
        plots = write_plots(results, args.results.parent / "results", key)
        command = reproducing_command(args, "evaluate")
        upsert_section(args.results, key,
                       results_markdown(stats, diffs, data, command, plots, args.results))
        console.print(f"results written to {args.results}")
    return 0


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=True)


def results_key(args: argparse.Namespace) -> str:
    """The results page's section for this market: each market has its own section and plots."""
    return "sim" if args.data is None else "replay" if args.impact == "none" else "replay-impact"


def reproducing_command(args: argparse.Namespace, subcommand: str) -> str:
    """The command line that reproduces this run, for the results page."""
    parts = ["execagent", subcommand, "--policy", str(args.policy)]
    parts += ["--sim", str(args.sim)] if args.sim is not None else ["--data", str(args.data)]
    parts += ["--episodes", str(args.episodes), "--config", str(args.config), "--limits",
              str(args.limits)]
    for flag in ("side", "qty", "participation", "minutes"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag}", str(getattr(args, flag))]
    if args.symbol is not None:
        parts += ["--symbol", args.symbol]
    parts += ["--tick-size", str(args.tick_size)]
    if args.window is not None:
        parts += ["--window", args.window]
    if args.data is not None:
        parts += ["--impact", args.impact]
        if args.params is not None:
            parts += ["--params", str(args.params)]
    parts += ["--policies", args.policies, "--signal", str(args.signal)]
    for flag in ("json", "results"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag}", str(getattr(args, flag))]
    return " ".join(shlex.quote(part) for part in parts)


Plan = tuple[list[ExecutionPolicy], ExchangeForEpisode, list[int], EpisodeSpec, Instrument,
             RiskLimits, str]


@dataclass(frozen=True, slots=True)
class MarketPlan:
    """What every parent of a run shares: the policies' names, the market and its episodes
    (the same seeds or windows whatever the parent's side and size), the horizon and the
    limits. ``base`` is the configuration's parent at the run's horizon."""

    names: list[str]
    exchange_for: ExchangeForEpisode
    episodes: list[int]
    base: EpisodeSpec
    episode: EpisodeConfig
    instrument: Instrument
    limits: RiskLimits
    volume_per_s: float
    profile: VolumeProfile | None
    data: str
    book: PolicyBook | None  # rl's policy book (--policy a .yaml), read once for every parent


@dataclass(frozen=True, slots=True)
class Parent:
    """One parent's side and size; None takes the training configuration's."""

    side: str | None = None
    qty: int | None = None
    participation: float | None = None


def plan_evaluation(args: argparse.Namespace) -> Plan:
    """One parent (``--side``, ``--qty`` or ``--participation``) on the market."""
    market = plan_market(args)
    policies, spec, data = plan_parent(args, market,
                                       Parent(args.side, args.qty, args.participation))
    return policies, market.exchange_for, market.episodes, spec, market.instrument, \
        market.limits, data


def plan_market(args: argparse.Namespace) -> MarketPlan:
    if args.episodes <= 0:
        raise UsageError("--episodes must be positive")
    names = policy_names(args.policies)
    impact_args.check(args.impact, args.params)
    config = load_train_config(args.config)
    limits = load_limits(args.limits)
    exchange_for: ExchangeForEpisode
    if args.sim is not None:
        if args.window is not None:
            raise UsageError("--window applies to --data replays only")
        if args.impact != "none":
            raise UsageError("--impact applies to --data replays only (the simulated flow's "
                             "crowd reacts to the agent's trades itself)")
        params = load_flow_params(args.sim)
        symbol = args.symbol or _params_symbol(args.sim)
        _check_limits(limits, symbol, args.limits)
        volume_per_s = params.market_rate * params.mean_market_size
        base = _base_spec(args, config.episode, symbol)
        episodes = list(range(args.episodes))
        latency_ns = 0 if base.latency_p99_ms is not None else int(base.latency_ms * 1e6)

        def exchange_for(k: int) -> SimExchange:
            return SimExchange(symbol, StochasticFlow(params, seed=EVALUATION_SEED_BASE + k),
                               SIM_START_NS, latency_ns)

        data = (f"simulated flow calibrated in {args.sim} (seeds {EVALUATION_SEED_BASE}+k, "
                "never drawn in training)")
        profile = None
    else:
        sample = open_sample(args.data)
        first, last, volume_per_s = _scan(sample, args.tick_size)
        symbol = instrument_args.symbol_of(args, sample)
        _check_limits(limits, symbol, args.limits)
        base = _base_spec(args, config.episode, symbol)
        exchange_for, episodes, data, profile = _replay_plan(args, sample, base, first, last)
    book = PolicyBook(args.policy) if "rl" in names and is_book(args.policy) else None
    return MarketPlan(names, exchange_for, episodes, base, config.episode,
                      Instrument(symbol, args.tick_size), limits, volume_per_s, profile, data,
                      book)


def policy_names(text: str) -> list[str]:
    """``--policies``' names, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - {"rl", *ALL_BASELINE_NAMES})
    if unknown or not names:
        raise UsageError(f"unknown policies {unknown}; choose from rl, "
                         f"{', '.join(ALL_BASELINE_NAMES)}")
    return names


def plan_parent(args: argparse.Namespace, market: MarketPlan, parent: Parent,
                onnx_policy: type[OnnxPolicy] = OnnxPolicy,
                ) -> tuple[list[ExecutionPolicy], EpisodeSpec, str]:
    """The policies, the episode spec and the data text for ``parent`` on ``market``; rl is
    an ``onnx_policy`` (a subclass that records its decisions, for the grid) of ``--policy``,
    or of the model a policy book (:mod:`models.policy_book`) picks for the parent."""
    spec = _parent_spec(market.base, market.episode, parent, market.volume_per_s)
    pov_rate = _pov_rate(spec, market.volume_per_s)
    data = f"{market.data}; {task_text(spec, market.volume_per_s)}"
    model = args.policy
    if market.book is not None:
        model = market.book.model_for(int(spec.side), spec.qty, spec.horizon_s,
                                      market.volume_per_s)
        data = f"{data}; rl: {model.name} of the policy book {args.policy.name}"
    policies = [_policy(name, model, market.profile, pov_rate, onnx_policy)
                for name in market.names]
    for policy in policies:
        if isinstance(policy, OnnxPolicy):
            _note_range(policy, spec, market.volume_per_s)
            overlap = _training_overlap(policy, args)
            if overlap is not None:
                data = f"{data}; {overlap}"
    return policies, spec, data


def _params_symbol(path: Path) -> str:
    """The symbol a params file says it was calibrated on (files written before it said so
    name none: the simulated market is then called SIM_SYMBOL)."""
    document = json.loads(path.read_text())
    return str(document.get("symbol") or SIM_SYMBOL)


def _check_limits(limits: RiskLimits, symbol: str, path: Path) -> None:
    if symbol not in limits.symbols:
        raise UsageError(f"{path} has no risk limits for {symbol} (it names "
                         f"{', '.join(sorted(limits.symbols))}): give --limits a file with a "
                         f"symbols.{symbol} section, or --symbol")


def _note_range(policy: OnnxPolicy, spec: EpisodeSpec, volume_per_s: float) -> None:
    """One line when the parent is outside what the model was trained for (or it does not
    say); the evaluation goes on, as measuring such parents is one of its uses."""
    try:
        reason = policy.trained_range().refusal(int(spec.side), spec.qty, spec.horizon_s,
                                                volume_per_s)
    except ModelError as exc:
        reason = str(exc)
    if reason is not None:
        print_error(f"execagent evaluate: note: rl is evaluated outside its trained range: "
                    f"{reason}")


def _training_overlap(policy: OnnxPolicy, args: argparse.Namespace) -> str | None:
    """One line (printed, and returned for the results' data text) when a replay evaluates
    hours of the day the model trained on."""
    if args.data is None:
        return None
    overlap = in_sample(policy.metadata, args.data.name, args.window)
    if overlap is not None:
        print_error(f"execagent evaluate: note: {overlap}")
    return overlap


def _base_spec(args: argparse.Namespace, episode: EpisodeConfig, symbol: str) -> EpisodeSpec:
    """The configuration's parent at the command line's horizon."""
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError("--minutes must be positive")
    horizon_s = 60.0 * args.minutes if args.minutes is not None else episode.horizon_seconds
    if episode.slice_seconds > horizon_s:
        raise UsageError(f"--minutes {args.minutes:g} is shorter than one slice "
                         f"({episode.slice_seconds:g} s in {args.config})")
    side = Side.BUY if episode.side == "buy" else Side.SELL
    return EpisodeSpec(symbol, side, episode.qty, horizon_s, episode.slice_seconds,
                       episode.warmup_seconds, episode.horizon_grace_seconds,
                       episode.max_child_qty, episode.latency_ms, episode.latency_p99_ms)


def _parent_spec(base: EpisodeSpec, episode: EpisodeConfig, parent: Parent,
                 volume_per_s: float) -> EpisodeSpec:
    """``base`` with the parent's side and size; a participation is of the volume expected
    over the horizon at the market's volume rate."""
    if parent.qty is not None and parent.qty <= 0:
        raise UsageError("--qty must be a positive number of shares")
    if parent.participation is not None and not 0 < parent.participation <= 1:
        raise UsageError("--participation must be a fraction in (0, 1], e.g. 0.08")
    qty = parent.qty if parent.qty is not None else episode.qty
    if parent.participation is not None:
        qty = max(1, round(parent.participation * volume_per_s * base.horizon_s))
    side = Side.BUY if (parent.side or episode.side) == "buy" else Side.SELL
    return replace(base, side=side, qty=qty)


def task_text(spec: EpisodeSpec, volume_per_s: float) -> str:
    share = spec.qty / (volume_per_s * spec.horizon_s) if volume_per_s > 0 else float("nan")
    return (f"{spec.side.name.lower()} {spec.qty:,} over {spec.horizon_s / 60:g} min "
            f"({share:.1%} of the volume expected at {volume_per_s:.1f} shares/s)")


def _pov_rate(spec: EpisodeSpec, volume_per_s: float) -> float:
    """The participation rate that completes the parent over its horizon at the market's
    average volume (assumed: the same average volume in every episode); at most 1."""
    expected = volume_per_s * spec.horizon_s
    return min(1.0, spec.qty / expected) if expected > 0 else 1.0


def _policy(name: str, model_path: Path, profile: VolumeProfile | None,
            pov_rate: float, onnx_policy: type[OnnxPolicy]) -> ExecutionPolicy:
    if name == "rl":
        return onnx_policy(model_path, name="rl")
    return make_policy(name, volume_profile=profile, pov_rate=pov_rate)


def _scan(sample: LobsterSample, tick_size: Decimal) -> tuple[int, int, float]:
    """The data's first and last event times, and its executed shares per second
    (:func:`sim.profile.executed_per_second`). Reads and checks both files: a defect is
    reported before any episode."""
    messages = sample.read(tick_size).messages
    if not len(messages):
        raise UsageError(f"{sample.source} holds no messages")
    return int(messages.ts_ns[0]), int(messages.ts_ns[-1]), executed_per_second(messages)


def _replay_plan(args: argparse.Namespace, sample: LobsterSample, spec: EpisodeSpec, first: int,
                 last: int) -> tuple[ExchangeForEpisode, list[int], str, VolumeProfile]:
    lo, hi = first, last
    if args.window is not None:
        try:
            lo, hi = window_ns(args.window, first, last)
        except ValueError as exc:
            raise UsageError(f"--window {exc}") from exc
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
    latency_ns = 0 if spec.latency_p99_ms is not None else int(spec.latency_ms * 1e6)
    impact, impact_text = _impact(args, sample)

    def exchange_for(k: int) -> ReplayExchange:
        start = starts[k] - warmup_ns
        return ReplayExchange(sample, spec.symbol, latency_ns=latency_ns, start_ns=start,
                              end_ns=start + warmup_ns + need_ns, impact=impact,
                              tick_size=args.tick_size)

    overlap = " (windows overlap)" if step < need_ns else ""
    span = f"the window {args.window}" if args.window is not None else "the day"
    data = (f"replay of {args.data.name}, {count} windows evenly spaced over {span}"
            f"{overlap}, {impact_text}; one day of one stock")
    return exchange_for, list(range(count)), data, volume_profile(sample)


def _impact(args: argparse.Namespace, sample: LobsterSample) -> tuple[ImpactParams, str]:
    """The replay's impact and how the results name it."""
    if args.impact == "none":
        return ImpactParams.none(), "no impact (the day as recorded)"
    impact, source = impact_args.calibrated_impact(args.params, sample, args.tick_size)
    return impact, f"the agent's transient impact {source}"
