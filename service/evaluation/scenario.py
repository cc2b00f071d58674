"""A replayed day with an injected market event, worked by the live engine with and without the
risk posture: how soon the posture sees the event, what it stops, and what it saves.

Backtest equals live, as in :mod:`service.evaluation.backtest`: the same :class:`Engine`, risk
overlay, OMS and posture gate, against an in-process exchange (:class:`sim.injection.
InjectedExchange`) that replays the LOBSTER day with the event injected at the onset. Each run:

1. the replay starts ``pre_s`` before the onset, so the posture's windows are filled (its model
   stays NORMAL for its warm-up) and the parent order starts ``lead_s`` before the onset;
2. the parent (``side``, ``qty``, ``horizon_s``) is worked by ``policy`` until it finishes or
   its horizon and grace pass;
3. posture on, the gate runs before the overlay; posture off, there is no gate (the overlay's
   hard limits still apply, unchanged).

Measured: time from the onset to the first ELEVATED and to the first STRESSED, event time spent
in each posture after the onset, order messages sent and shares filled while STRESSED, and the
implementation shortfall of both runs (the filled part against the arrival mid, the unfilled
remainder marked at the last mid: :mod:`service.evaluation.backtest`'s definition). The clean
day (no injection) is run through the same engine and gate with no parent, for the time spent in
each posture on an ordinary day.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.domain import (
    CancelOrder,
    ExecutionReport,
    Instrument,
    MarketData,
    OrderIntent,
    ParentOrder,
    SessionStatus,
    Side,
)
from core.tca import cost_in_bps, filled_cost_x2, signed_cost_x2
from models.policy import ExecutionPolicy
from models.posture.levels import Posture
from models.posture.model import PostureParams
from risk.limits import RiskLimits
from risk.overlay import RiskOverlay
from service.clock import EventClock
from service.engine import Engine
from service.metrics import Metrics
from service.posture.config import PostureConfig
from service.posture.gate import PostureGate
from service.state.store import MemoryStore
from sim.injection import InjectedExchange, Injection, scenario_at
from sim.lobster import open_sample
from sim.replay_exchange import ReplayExchange

NS = 1_000_000_000
WATCH_NS = 500_000_000  # the daemon's risk watchdog period, in event time


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    data: Path
    inject: Injection
    onset_ns: int
    symbol: str = "GOOG"
    side: Side = Side.SELL
    qty: int = 2_000
    horizon_s: float = 600.0
    slice_s: float = 30.0
    lead_s: float = 60.0  # the parent starts this long before the onset
    pre_s: float = 300.0  # the replay starts this long before the onset
    grace_s: float = 30.0
    latency_ms: float = 0.0
    max_child_qty: int = 2_000
    tick_size: Decimal = Decimal("0.01")


@dataclass(slots=True)
class RunResult:
    posture_on: bool
    shortfall_bps: float
    filled: int
    child_orders: int
    transitions: list[tuple[int, Posture]] = field(default_factory=list)
    seconds_in: dict[str, float] = field(default_factory=dict)
    orders_sent_stressed: int = 0  # every order message
    new_orders_sent_stressed: int = 0  # of which new orders and replaces (the rest: cancels)
    shares_filled_stressed: int = 0
    posture_denials: dict[str, int] = field(default_factory=dict)
    risk_denials: int = 0


class _Recorder:
    """The exchange as the engine's order sender, remembering each order sent while STRESSED
    (the posture read as the order goes out)."""

    def __init__(self, exchange: ReplayExchange, gate: PostureGate | None, symbol: str) -> None:
        self.exchange = exchange
        self.gate = gate
        self.symbol = symbol
        self.stressed: list[bool] = []  # per order sent while STRESSED: a new order or replace

    def stressed_now(self) -> bool:
        return self.gate is not None and self.gate.posture(self.symbol) is Posture.STRESSED

    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        sent = self.exchange.send(intent, now_ns)
        if sent and self.stressed_now():
            self.stressed.append(not isinstance(intent, CancelOrder))
        return sent


def run(spec: ScenarioSpec, policy: ExecutionPolicy, limits: RiskLimits,
        params: PostureParams | None, config: PostureConfig) -> RunResult:
    """One run of the scenario; ``params`` None: the posture off."""
    sample = open_sample(spec.data)
    scenario = scenario_at(sample, spec.inject, spec.onset_ns)
    start = spec.onset_ns - int(spec.lead_s * NS)
    end = start + int((spec.horizon_s + spec.grace_s + 60.0) * NS)
    exchange = InjectedExchange(sample, spec.symbol, scenario,
                                latency_ns=int(spec.latency_ms * 1e6),
                                start_ns=spec.onset_ns - int(spec.pre_s * NS), end_ns=end)
    instrument = Instrument(spec.symbol, spec.tick_size)
    instruments = {spec.symbol: instrument}
    risk = RiskOverlay(limits.for_symbol(spec.symbol), instruments)
    transitions: list[tuple[int, Posture]] = []
    gate = None
    if params is not None:
        gate = PostureGate(params, config, instruments, risk,
                           on_transition=lambda _s, _b, after, _w: transitions.append(
                               (exchange.now_ns, after)))
    sender = _Recorder(exchange, gate, spec.symbol)
    engine = Engine(instruments, risk, sender, MemoryStore(), Metrics(),
                    clock=EventClock(exchange.now_ns), slice_seconds=spec.slice_s,
                    horizon_grace_seconds=spec.grace_s, max_child_qty=spec.max_child_qty,
                    cl_ord_id_prefix="SC", posture=gate)
    engine.handle(SessionStatus(True), time.perf_counter_ns())
    engine.handle(exchange.snapshot(), time.perf_counter_ns())
    while (next_ns := exchange.next_event_ns()) is not None and next_ns < start:
        _deliver(engine, exchange)
    parent = ParentOrder(f"{policy.name}-scenario", spec.symbol, spec.side, spec.qty,
                         exchange.now_ns, exchange.now_ns + int(spec.horizon_s * NS),
                         policy.name)
    finished = engine.submit(parent, policy)
    last_watch = exchange.now_ns
    filled_stressed = 0
    while not finished.is_set() and exchange.next_event_ns() is not None:
        filled_stressed += _deliver(engine, exchange, sender.stressed_now())
        if exchange.now_ns - last_watch >= WATCH_NS:
            risk.watch(exchange.now_ns)
            last_watch = exchange.now_ns
    if engine.errors:
        raise RuntimeError(f"the engine failed on {engine.errors} events; see the log")
    result = RunResult(params is not None, _shortfall(parent, engine), parent.filled,
                       parent.child_orders_sent, transitions, risk_denials=parent.risk_denials)
    if gate is not None:
        result.seconds_in = _seconds_after(transitions, spec.onset_ns, exchange.now_ns)
        result.posture_denials = dict(gate.denials)
        result.orders_sent_stressed = len(sender.stressed)
        result.new_orders_sent_stressed = sum(sender.stressed)
        result.shares_filled_stressed = filled_stressed
    return result


def _seconds_after(transitions: list[tuple[int, Posture]], onset_ns: int,
                   end_ns: int) -> dict[str, float]:
    spent = dict.fromkeys((p.label for p in Posture), 0.0)
    current, since = Posture.NORMAL, onset_ns
    for at, posture in transitions:
        if at >= onset_ns:
            spent[current.label] += (at - since) / NS
            since = at
        current = posture
    spent[current.label] += max(end_ns - since, 0) / NS
    return {k: round(v, 3) for k, v in spent.items()}


def _deliver(engine: Engine, exchange: ReplayExchange, stressed: bool = False) -> int:
    """Hand the exchange's next events to the engine; the shares filled when ``stressed``."""
    filled = 0
    for event in exchange.step():
        if stressed and isinstance(event, ExecutionReport):
            filled += event.last_qty
        engine.handle(event, time.perf_counter_ns())
    return filled


def _shortfall(parent: ParentOrder, engine: Engine) -> float:
    arrival = parent.arrival_price_x2
    if arrival is None:
        raise RuntimeError("the market never showed a two-sided quote after the parent started")
    cost = filled_cost_x2(parent)
    last_mid = engine.books[parent.symbol].mid_x2() or arrival
    cost += signed_cost_x2(int(parent.side), parent.remaining, last_mid, arrival)
    return cost_in_bps(cost, arrival, parent.qty)


def after_onset(transitions: list[tuple[int, Posture]], onset_ns: int,
                at_least: Posture) -> float | None:
    """Milliseconds from the onset to the first posture at or above ``at_least``."""
    for at, posture in transitions:
        if at >= onset_ns and posture >= at_least:
            return round((at - onset_ns) / 1e6, 3)
    return None


def clean_day(data: Path, symbol: str, limits: RiskLimits, params: PostureParams,
              config: PostureConfig, tick_size: Decimal = Decimal("0.01")) \
        -> tuple[dict[str, float], int]:
    """Seconds spent in each posture over the whole recorded day, through the live engine and
    the gate with no parent order; and the number of transitions."""
    exchange = ReplayExchange(open_sample(data), symbol)
    instruments = {symbol: Instrument(symbol, tick_size)}
    risk = RiskOverlay(limits.for_symbol(symbol), instruments)
    moves: list[Posture] = []
    gate = PostureGate(params, config, instruments, risk,
                       on_transition=lambda _s, _b, after, _w: moves.append(after))
    engine = Engine(instruments, risk, _Recorder(exchange, gate, symbol), MemoryStore(), Metrics(),
                    clock=EventClock(exchange.now_ns), cl_ord_id_prefix="CD", posture=gate)
    engine.handle(exchange.snapshot(), time.perf_counter_ns())
    while exchange.next_event_ns() is not None:
        for event in exchange.step():
            if isinstance(event, MarketData):
                engine.handle(event, time.perf_counter_ns())
    spent = gate.symbols[symbol].time_in
    return {p.label: round(spent[p], 3) for p in Posture}, len(moves)
