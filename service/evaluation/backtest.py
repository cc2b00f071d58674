"""One parent order, worked by the live engine against an in-process exchange in event time.

Backtest equals live: this composes the same :class:`~service.engine.Engine`, the same
:class:`~risk.overlay.RiskOverlay` (its limits from a file, as in production) and the same OMS
as the daemon, and only swaps the FIX gateway for an exchange object that answers with the same
domain execution reports. Events are handed to ``Engine.handle`` one by one, in the order the
exchange produces them, exactly as the daemon's queue would deliver them. There is no second
execution loop for research.

Measures, per episode, in basis points of the arrival notional (a cost is positive):
- **implementation shortfall**: the filled part against the arrival mid, plus any unfilled
  remainder marked at the last mid (opportunity cost), over the parent quantity;
- **market impact**: each fill against the mid the market would have shown at that instant
  without the agent (the *unperturbed* path, from running the same seed with no orders), so
  it holds the spread paid and the agent's own price pressure, and not the market's drift;
- the inventory path (fraction left at evenly spaced points of the horizon).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from core.domain import Instrument, MarketData, OrderIntent, ParentOrder, SessionStatus, Side
from core.tca import cost_in_bps, filled_cost_x2, signed_cost_x2
from models.policy import ExecutionPolicy
from models.signal import SignalModel
from risk.limits import RiskLimits
from risk.overlay import RiskOverlay
from service.clock import EventClock
from service.engine import Engine
from service.metrics import Metrics
from service.oversight.monitor import Oversight
from service.state.store import MemoryStore
from sim.exchange import Exchange
from sim.latency import OrderLatency

INVENTORY_POINTS = 21  # the inventory path's samples: start, every 5% of the horizon, end


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    """The parent order of one episode, and the engine's settings that shape how it trades."""

    symbol: str
    side: Side
    qty: int
    horizon_s: float
    slice_s: float
    warmup_s: float = 60.0
    horizon_grace_s: float = 30.0
    max_child_qty: int = 2_000
    # Order latency: fixed at latency_ms (the exchange applies it), or with latency_p99_ms
    # drawn per message as in training (sim/latency.py; the exchange's own latency then 0).
    latency_ms: float = 0.0
    latency_p99_ms: float | None = None


class _DrawnLatency:
    """The engine's order sender: the exchange, each message delayed by a drawn latency."""

    def __init__(self, exchange: Exchange, latency: OrderLatency) -> None:
        self.exchange = exchange
        self.latency = latency

    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        return self.exchange.send(intent, self.latency.due_ns(now_ns))


@dataclass(slots=True)
class EpisodeResult:
    policy: str
    seed: int
    qty: int
    filled: int
    arrival_mid: float  # in ticks
    shortfall_bps: float
    impact_bps: float
    child_orders: int
    risk_denials: int
    inventory: list[float] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        return self.filled / self.qty


MidPath = tuple[list[int], list[int]]  # event times, twice the mid in ticks


def unperturbed_mid_path(exchange: Exchange, until_ns: int) -> MidPath:
    """The mid after every market-data message of a run with no agent orders."""
    from core.depth_book import DepthBook

    book = DepthBook(exchange.symbol)
    book.apply_market_data(exchange.snapshot())
    times: list[int] = []
    mids: list[int] = []
    while True:
        next_ns = exchange.next_event_ns()
        if next_ns is None or next_ns > until_ns:
            break
        for event in exchange.step():
            if isinstance(event, MarketData):
                book.apply_market_data(event)
                mid = book.mid_x2()
                if mid is not None:
                    times.append(exchange.now_ns)
                    mids.append(mid)
    return times, mids


def _mid_at(path: MidPath, ts_ns: int) -> int | None:
    times, mids = path
    index = bisect_right(times, ts_ns) - 1
    return mids[index] if index >= 0 else None


def run_episode(
    policy: ExecutionPolicy,
    exchange: Exchange,
    spec: EpisodeSpec,
    instrument: Instrument,
    limits: RiskLimits,
    metrics: Metrics,
    seed: int,
    unperturbed: MidPath | None = None,
    on_progress: Callable[[ParentOrder], None] | None = None,
    oversight: Oversight | None = None,
    signal_model: SignalModel | None = None,
) -> EpisodeResult:
    """Work one parent order with ``policy`` until it finishes (filled or expired), under
    ``limits``' global section and the section of ``instrument`` (the others name symbols this
    episode does not trade); ``oversight``: drift monitors and a shadow policy watching it, as
    in the daemon; the engine runs ``signal_model`` (the price signal) on every tick when one
    is given, as live."""
    instruments = {instrument.symbol: instrument}
    risk = RiskOverlay(limits.for_symbol(instrument.symbol), instruments,
                       on_denial=lambda reason: metrics.risk_denials.labels(reason.value).inc())
    sender: Exchange | _DrawnLatency = exchange
    if spec.latency_p99_ms is not None:
        sender = _DrawnLatency(exchange, OrderLatency(spec.latency_ms, spec.latency_p99_ms, seed))
    engine = Engine(instruments, risk, sender, MemoryStore(), metrics,
                    clock=EventClock(exchange.now_ns), slice_seconds=spec.slice_s,
                    horizon_grace_seconds=spec.horizon_grace_s,
                    max_child_qty=spec.max_child_qty, cl_ord_id_prefix=f"BT{seed}",
                    oversight=oversight, signal_model=signal_model)
    if oversight is not None:
        oversight.trackers = engine.trackers
    engine.handle(SessionStatus(True), time.perf_counter_ns())
    engine.handle(exchange.snapshot(), time.perf_counter_ns())
    warm_until = exchange.now_ns + int(spec.warmup_s * 1e9)
    while (next_ns := exchange.next_event_ns()) is not None and next_ns < warm_until:
        _deliver(engine, exchange)
    start = exchange.now_ns
    parent = ParentOrder(f"{policy.name}-{seed}", spec.symbol, spec.side, spec.qty, start,
                         start + int(spec.horizon_s * 1e9), policy.name)
    finished = engine.submit(parent, policy)
    grid = [start + int(spec.horizon_s * 1e9 * k / (INVENTORY_POINTS - 1))
            for k in range(INVENTORY_POINTS)]
    inventory: list[float] = []
    last_watch = start
    while not finished.is_set() and exchange.next_event_ns() is not None:
        _deliver(engine, exchange)
        now = exchange.now_ns
        while len(inventory) < len(grid) and now >= grid[len(inventory)]:
            inventory.append(parent.remaining / parent.qty)
        if now - last_watch >= 500_000_000:  # the daemon's watchdog period, in event time
            risk.watch(now)
            last_watch = now
            if on_progress is not None:
                on_progress(parent)
    inventory.extend([parent.remaining / parent.qty] * (len(grid) - len(inventory)))
    if engine.errors:
        raise RuntimeError(f"the engine failed on {engine.errors} events in episode {seed} "
                           f"of {policy.name}; see the log")
    return _result(policy.name, seed, parent, engine, exchange, unperturbed, inventory)


def _deliver(engine: Engine, exchange: Exchange) -> None:
    for event in exchange.step():
        engine.handle(event, time.perf_counter_ns())


def _result(name: str, seed: int, parent: ParentOrder, engine: Engine, exchange: Exchange,
            unperturbed: MidPath | None, inventory: list[float]) -> EpisodeResult:
    arrival_x2 = parent.arrival_price_x2
    if arrival_x2 is None:
        raise RuntimeError(f"episode {seed}: the market never showed a two-sided quote")
    side = int(parent.side)
    cost_x2 = filled_cost_x2(parent)
    last_mid = engine.books[parent.symbol].mid_x2() or arrival_x2
    cost_x2 += signed_cost_x2(side, parent.remaining, last_mid, arrival_x2)  # opportunity cost
    impact_x2 = 0
    if unperturbed is not None:
        for fill in exchange.fills:
            mid = _mid_at(unperturbed, fill.ts_ns) or arrival_x2
            impact_x2 += signed_cost_x2(side, fill.qty, 2 * fill.price, mid)
    return EpisodeResult(
        policy=name, seed=seed, qty=parent.qty, filled=parent.filled,
        arrival_mid=arrival_x2 / 2, shortfall_bps=cost_in_bps(cost_x2, arrival_x2, parent.qty),
        impact_bps=cost_in_bps(impact_x2, arrival_x2, parent.qty),
        child_orders=parent.child_orders_sent,
        risk_denials=parent.risk_denials, inventory=inventory)
