"""The main job, ``execagent demo``: the whole service against a simulated venue, end to end.

For each policy it starts a fresh simulated FIX venue on a free loopback port (same seed, so
every policy meets the same crowd flow; the venue runs it in accelerated wall-clock time, so
where the service's orders land in it varies a little from run to run), connects a service to
it over FIX, submits the parent order, shows its progress, and collects the execution report.
One metrics endpoint serves all runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.domain import Side
from core.tca import ExecutionSummary, summarise
from gateways.venue.config import VenueConfig, VenueSymbol
from gateways.venue.flows import CALIBRATED_PARAMS, FlowFactory, calibrated_flow
from gateways.venue.venue import SimulatedVenue
from models.names import BASELINE_NAMES
from models.registry import make_policy
from service.api.server import ApiServer, build_app
from service.app import Service
from service.config import (
    ApiConfig,
    FixConfig,
    InstrumentConfig,
    PolicyConfig,
    RiskConfig,
    ServiceConfig,
)
from service.metrics import Metrics
from service.net import free_port
from sim.calibrate import load_flow_params

DEMO_POLICIES = ("rl", *BASELINE_NAMES)


def participation_rate(qty: int, minutes: float) -> float:
    """POV's rate in the demo: what completes ``qty`` over the horizon at the calibrated
    market's average volume (at most 1)."""
    params = load_flow_params(CALIBRATED_PARAMS)
    expected = params.market_rate * params.mean_market_size * minutes * 60
    return min(1.0, qty / expected)


@dataclass(slots=True)
class DemoOptions:
    symbol: str = "GOOG"
    tick_size: Decimal = Decimal("0.01")
    start_price: Decimal = Decimal("580.00")
    side: Side = Side.SELL
    qty: int = 2_000
    minutes: float = 10.0
    speed: float = 60.0
    seed: int = 7
    policies: list[str] = field(default_factory=lambda: list(DEMO_POLICIES))
    model_path: Path = Path("models/artifacts/policy.onnx")
    limits_path: Path = Path("deploy/risk/limits.demo.yaml")
    slice_seconds: float = 30.0
    metrics_port: int = 0
    flow_factory: FlowFactory = calibrated_flow
    order_latency_ms: float = 0.0


async def run_policy(options: DemoOptions, policy_name: str, metrics: Metrics, workdir: Path,
                     progress: Progress | None = None) -> ExecutionSummary:
    """One policy run: fresh venue, fresh service, one parent order, its summary."""
    venue_symbol = VenueSymbol(symbol=options.symbol, tick_size=options.tick_size,
                               start_price=options.start_price, seed=options.seed)
    port = free_port()
    venue = SimulatedVenue(
        VenueConfig(port=port, symbols=[venue_symbol], speed=options.speed,
                    order_latency_ms=options.order_latency_ms,
                    state_dir=workdir / f"venue-{policy_name}"),
        flows={options.symbol: options.flow_factory(venue_symbol)})
    config = ServiceConfig(
        instruments=[InstrumentConfig(symbol=options.symbol, tick_size=options.tick_size)],
        fix=FixConfig(port=port, state_dir=workdir / f"fix-{policy_name}"),
        policy=PolicyConfig(name=policy_name if policy_name != "rl" else "onnx",
                            model_path=options.model_path, slice_seconds=options.slice_seconds),
        risk=RiskConfig(limits_path=options.limits_path),
        api=ApiConfig(port=0))
    policy = make_policy(config.policy.name, options.model_path,
                         pov_rate=participation_rate(options.qty, options.minutes))
    venue.start()
    service = Service(config, metrics=metrics, serve_api=False)
    try:
        await service.start()
        await service.wait_ready()
        parent, finished = service.submit(options.side, options.qty, options.symbol,
                                          options.minutes * 60, policy)
        task = progress.add_task(policy.name, total=options.qty) if progress else None
        wall_budget = options.minutes * 60 / options.speed * 3 + 30
        deadline = time.monotonic() + wall_budget
        while not finished.is_set() and time.monotonic() < deadline:
            if progress is not None and task is not None:
                progress.update(task, completed=parent.filled)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), 0.1)
        if progress is not None and task is not None:
            progress.update(task, completed=parent.filled)
        return summarise(parent, service.instruments[options.symbol])
    finally:
        await service.stop()
        venue.stop()


async def run_demo(options: DemoOptions, console: Console | None = None) \
        -> list[ExecutionSummary]:
    console = console or Console()
    metrics = Metrics()
    api = ApiServer(build_app(metrics), "127.0.0.1", options.metrics_port)
    await api.start()
    console.print(f"metrics: {api.url}/metrics   health: {api.url}/healthz")
    console.print(f"{options.side.name.lower()} {options.qty:,} {options.symbol} over "
                  f"{options.minutes:g} market minutes, simulated venue at {options.speed:g}x "
                  f"real time, seed {options.seed}")
    summaries = []
    try:
        with tempfile.TemporaryDirectory(prefix="execagent-demo-") as tmp, Progress(
            TextColumn("{task.description:>14}"), BarColumn(), TextColumn(
                "{task.completed:>7,.0f}/{task.total:,.0f}"), TimeElapsedColumn(),
            console=console, transient=False,
        ) as progress:
            for name in options.policies:
                summaries.append(await run_policy(options, name, metrics, Path(tmp), progress))
    finally:
        await api.stop()
    return summaries
