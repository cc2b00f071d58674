"""Tick to wire: from a FIX market-data message's arrival to the NewOrderSingle handed to quickfix,
with a parent order active and the shipped ONNX policy deciding on every tick.

What runs: the service's FixOrderGateway (a quickfix initiator) logged on over loopback to the
simulated venue (gateways/venue) on a still book, in a process of its own (as
bench/bench_fix_roundtrip.py runs it, so its threads do not share this process's interpreter
lock) and on a CPU of its own, this process keeping to the others (it stands for another
machine; sharing the engine's core it preempted the engine inside ``sendToTarget``:
``split_cpus`` there says by how much), which acknowledges, cancels, replaces and fills the
orders; its execution reports go through the engine between ticks (not timed); the service's
Engine with the real risk overlay (limits wide enough never to deny), the OMS and the in-memory
store; the shipped policy ``models/artifacts/policy.onnx``, and the shipped price signal
``models/artifacts/signal.onnx`` on every tick (``--no-signal`` runs without it, to measure what
it costs). The market the policy sees is
synthetic and named so: a seeded random walk of a 10-level GOOG book ($0.01 tick), one FIX
incremental refresh per tick (three to seven level changes, a price move one tick in twenty, a
trade one tick in four), 1 ms apart in event time, fed at ``--rate`` ticks per wall second
(2,000 by default) so that the venue's answers are handled between ticks, as at a market's pace.

Measured in one run, each as p50/p99/p99.9 of per-call ``time.perf_counter_ns``:
- **tick to wire**: clock read before the FIX message is decoded, to the return of
  ``Session.sendToTarget`` for the order it caused (only ticks that caused an order count;
  the others are the "no change" ticks of a policy that acts on change);
- **the floor**: one ONNX inference of the shipped policy + building a NewOrderSingle with
  quickfix as it comes (a ``setField`` per field, bench/_plain_fix.py; the service writes its
  own as one text) + ``sendToTarget`` on the same logged-on session, each timed and summed per
  iteration;
- **per stage**: feature building, inference, risk check, OMS update, store write (memory; the
  Redis round trip is in bench/bench_store.py);
- **throughput**: ticks per second through decode, book and policy, back to back, a decision
  on every tick (the rate at which the engine's queue would start to grow if every tick had to
  be decided on);
- **sustained through the engine's queue**: rates offered (``SUSTAINED_RATES``) the way the
  service takes FIX market data, decoded on arrival and put on the engine's queue, the engine's
  own ``run`` deciding on each symbol's newest tick when ticks wait (``Engine.handle_batch``):
  the highest rate it kept up with, and at each rate the decisions a second and the orders'
  tick to wire, counted from the first tick a decision answers;
- **memory**: resident set size over a run at 10,000 ticks per second (``--memory-minutes``,
  10 by default; 0 skips it), the market continued in a process of its own on the venue's CPU
  (``_MarketProcess``) and parsed here by quickfix as it would arrive on a session, then
  through the engine's queue as in the sustained runs.

Writes docs/benchmarks.json (``tick_to_wire_us``, ``floor_us``, ``throughput_ticks_per_s``,
``sustained_ticks_per_s`` and ``sustained``, ``rss_growth_pct``, per-stage numbers) and exits
non-zero when a goal is missed: tick-to-wire p50 <= 1.5x the floor's, p99 <= 3x; >= 50,000
ticks/s deciding on every tick (``throughput_ticks_per_s``: the goal is judged on it, not on the
sustained rate, which decides on fewer); RSS growth < 5%.

    .venv/bin/python -m bench.bench_tick_to_wire [--ticks 100000] [--memory-minutes 10]
    .venv/bin/python -m bench.bench_tick_to_wire --profile [throughput|memory|sustained]

``--profile`` prints where the time goes instead (pyinstrument; it slows everything about 2x,
so for proportions): in the throughput run, in ``--memory-minutes`` of the memory run, or in
``--sustained-seconds`` of 50,000 ticks a second offered through the engine's queue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

import quickfix as fix

from bench._plain_fix import plain_new_order_single
from bench._timing import percentile, report
from bench.bench_fix_roundtrip import serving
from core.domain import (
    Instrument,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.marketdata.fix_md import decode_market_data
from gateways.venue.messages import (
    build_incremental,
    build_snapshot,
    fix44_dictionary,
)
from models.features import new_observation_buffer, observe
from models.policy import DecisionContext
from models.registry import make_policy
from models.signal import SignalModel
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from sim.matching import Fill

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "artifacts" / "policy.onnx"
SIGNAL = ROOT / "models" / "artifacts" / "signal.onnx"
OUT = ROOT / "docs" / "benchmarks.json"
GOOG = Instrument("GOOG", Decimal("0.01"))
INSTRUMENTS = {"GOOG": GOOG}
TICK_NS = 1_000_000  # 1 ms of event time between ticks
FLOOR_PREFIX = "FLOOR-"
# The rates offered through the engine's queue (``sustained_ladder``), ticks per second.
SUSTAINED_RATES = (10_000, 20_000, 30_000, 50_000, 70_000, 100_000, 150_000)
START_NS = 1_700_000_000 * 10**9
W, X = fix.MsgType_MarketDataSnapshotFullRefresh, fix.MsgType_MarketDataIncrementalRefresh
WIDE_LIMITS = {
    "global": {"max_open_orders": 10**6, "max_daily_loss": 10**12,
               "throttle": {"messages_per_second": 10**9, "burst": 10**9},
               "reject_storm": {"max_rejects": 10**6, "window_seconds": 1},
               "max_reference_age_seconds": 3600, "stale_feed_seconds": 3600,
               "restricted_symbols": []},
    "symbols": {"GOOG": {"max_order_qty": 10**9, "max_order_notional": 10**15,
                         "price_collar_bps": 10_000, "max_long_position": 10**12,
                         "max_short_position": 10**12, "max_open_orders": 10**6,
                         "max_participation": None}},
}


class _TimedSender:
    """The engine's sender: the real gateway, with the time its send returned."""

    def __init__(self, gateway: FixOrderGateway) -> None:
        self.gateway = gateway
        self.sent = 0
        self.last_sent_ns = 0

    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        ok = self.gateway.send(intent, now_ns)
        self.last_sent_ns = time.perf_counter_ns()
        self.sent += ok
        return ok


class _Market:
    """A seeded random walk of a 10-level book with a one-tick spread, as FIX messages built
    ahead of the timing. Each tick changes the size at both touches and at one deeper level; one
    tick in twenty moves the price a tick (the touch on one side is taken out and the book
    shifts, keeping 10 levels a side); one in four carries a trade."""

    LEVELS = 10

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.bid = 58_000  # best bid; the best ask is one tick above
        self.now = START_NS

    def snapshot(self) -> fix.Message:
        bids = [(self.bid - i, 300 + 100 * i) for i in range(self.LEVELS)]
        asks = [(self.bid + 1 + i, 300 + 100 * i) for i in range(self.LEVELS)]
        return build_snapshot("md", "GOOG", bids, asks, GOOG, self.now)

    def next(self) -> fix.Message:
        self.now += TICK_NS
        rand = self.random
        bid, levels = self.bid, self.LEVELS
        changes: list[tuple[Side, int, int]] = []
        if rand.random() < 0.05:
            if rand.random() < 0.5:  # up: the best ask is taken out, a new bid level on top
                changes += [(Side.SELL, bid + 1, 0), (Side.SELL, bid + 1 + levels, 500),
                            (Side.BUY, bid + 1, 300), (Side.BUY, bid + 1 - levels, 0)]
                self.bid = bid = bid + 1
            else:  # down: the mirror image
                changes += [(Side.BUY, bid, 0), (Side.BUY, bid - levels, 500),
                            (Side.SELL, bid, 300), (Side.SELL, bid + levels, 0)]
                self.bid = bid = bid - 1
        depth = rand.randint(1, levels - 1)
        deeper = (Side.BUY, bid - depth) if rand.random() < 0.5 else (Side.SELL, bid + 1 + depth)
        changes += [(Side.BUY, bid, rand.randint(100, 900)),
                    (Side.SELL, bid + 1, rand.randint(100, 900)),
                    (*deeper, rand.randint(100, 900))]
        fills = []
        if rand.random() < 0.25:
            fills.append(Fill(bid, rand.randint(1, 200), 0, 0, Side.BUY, None, None, 0,
                              self.now))
        return build_incremental("md", "GOOG", changes, fills, GOOG, self.now)


class _Reports:
    """Execution reports from the venue, held until the bench hands them to the engine (those
    for the floor's own orders are dropped: the engine never sent them)."""

    def __init__(self) -> None:
        self.events: list[tuple[object, int]] = []
        self.floor_answers = 0
        # While set (``sustained``), the answers go straight to it, as the service's FIX sink
        # puts them on the engine's queue, in the session's order with the market data.
        self.sink: Callable[[object, int], None] | None = None

    def __call__(self, event: object, received_ns: int) -> None:
        if getattr(event, "cl_ord_id", "").startswith(FLOOR_PREFIX):
            self.floor_answers += 1
        elif self.sink is not None:
            self.sink(event, received_ns)
        else:
            self.events.append((event, received_ns))

    async def drain(self, engine: Engine) -> None:
        await asyncio.sleep(0)  # run the callbacks quickfix's threads queued on the loop
        events, self.events = self.events, []
        for event, received_ns in events:
            engine.handle(event, received_ns)

    async def settle(self, engine: Engine, timeout_s: float = 0.05) -> None:
        """Until the venue has answered every order message in flight: the next timed tick
        then shares the process with no answer being parsed on quickfix's thread."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            await self.drain(engine)
            if not any(o.status is OrdStatus.PENDING_NEW or o.pending_cl_ord_id is not None
                       for o in engine.oms.all_orders() if not o.status.is_terminal):
                return
            await asyncio.sleep(0.0002)


async def _session(port: int, workdir: Path, reports: _Reports) -> FixOrderGateway:
    gateway = FixOrderGateway(
        SessionSpec("initiator", "FIX.4.4", "BENCH", "SIMVENUE", "127.0.0.1", port,
                    workdir / "initiator"),
        INSTRUMENTS, asyncio.get_running_loop(), reports)
    gateway.start()
    if not await gateway.wait_logged_on(10):
        raise RuntimeError("the loopback FIX session did not log on")
    return gateway


def _engine(sender: _TimedSender, signal: bool = True) -> Engine:
    """The engine with the shipped policy working one parent, and the shipped price signal
    on every tick unless ``signal`` is False (``--no-signal``: what the signal costs)."""
    risk = RiskOverlay(parse_limits(WIDE_LIMITS), INSTRUMENTS)
    engine = Engine(INSTRUMENTS, risk, sender, MemoryStore(), Metrics(), slice_seconds=60.0,
                    max_child_qty=5_000, request_status=sender.gateway.request_status,
                    signal_model=SignalModel(SIGNAL) if signal else None)
    parent = ParentOrder("P-bench", "GOOG", Side.SELL, 10**8, START_NS,
                         START_NS + 10**6 * 10**9, "onnx")
    engine.submit(parent, make_policy("onnx", MODEL))
    return engine


async def _paced(count: int, rate: float) -> AsyncIterator[int]:
    """0 .. count-1, one every 1/rate s of wall time; the venue's answers and the event loop's
    callbacks run in the gaps, not inside a timed tick (as they would at a market's pace)."""
    interval = 1 / rate
    due = time.perf_counter()
    for n in range(count):
        due += interval
        yield n
        await asyncio.sleep(max(0.0, due - time.perf_counter()))


async def tick_to_wire(engine: Engine, sender: _TimedSender, reports: _Reports,
                       market: _Market, ticks: int, rate: float) -> list[int]:
    """Ticks whose decision sent an order: arrival (before decoding) to sendToTarget's return."""
    engine.handle(decode_market_data(market.snapshot(), W, INSTRUMENTS), time.perf_counter_ns())
    samples = []
    async for _ in _paced(ticks, rate):
        message = market.next()  # built outside the timing, one at a time (no backlog held)
        before = sender.sent
        arrived = time.perf_counter_ns()
        engine.handle(decode_market_data(message, X, INSTRUMENTS), arrived)
        if sender.sent != before:
            samples.append(sender.last_sent_ns - arrived)
            await reports.settle(engine)
        else:
            await reports.drain(engine)
    return samples


class FloorIteration:
    """One iteration of the floor: one inference of the working parent's policy, one
    NewOrderSingle built, one ``sendToTarget`` on the gateway's session; the four clock reads
    around them. The order is an IOC buy far below the market: the venue acknowledges and
    cancels it, and trades nothing."""

    def __init__(self, gateway: FixOrderGateway, engine: Engine) -> None:
        working = next(iter(engine._by_parent.values()))  # noqa: SLF001 - the bench reads it
        self._policy = working.policy
        self._ctx = DecisionContext(working.observation.buffer, working.parent,
                                    engine.books["GOOG"], engine.clock.now_ns(),
                                    working.parent.qty // working.n_slices, working.n_slices, 0, 0)
        self._session_id = gateway.session_id
        self._numbers = itertools.count()

    def __call__(self) -> tuple[int, int, int, int]:
        t0 = time.perf_counter_ns()
        self._policy.act(self._ctx)
        t1 = time.perf_counter_ns()
        message = plain_new_order_single(
            NewOrder(f"{FLOOR_PREFIX}{next(self._numbers)}", "P-bench", "GOOG", Side.BUY, 100,
                     50_000, OrdType.LIMIT, TimeInForce.IOC), GOOG, t1)
        t2 = time.perf_counter_ns()
        fix.Session.sendToTarget(message, self._session_id)
        return t0, t1, t2, time.perf_counter_ns()


async def floor(gateway: FixOrderGateway, engine: Engine, reports: _Reports, iterations: int,
                rate: float) -> dict[str, list[int]]:
    """``FloorIteration`` each timed, and their sum, at the ticks' pace, waiting after each
    for the venue's New and Canceled as the ticks wait for their answers."""
    once = FloorIteration(gateway, engine)
    out: dict[str, list[int]] = {"inference": [], "build NewOrderSingle": [],
                                 "sendToTarget": [], "floor (sum)": []}
    async for n in _paced(iterations, rate):
        t0, t1, t2, t3 = once()
        deadline = time.perf_counter() + 0.05
        while reports.floor_answers < 2 * (n + 1) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.0002)  # New and Canceled: quiet again, as for the ticks
        out["inference"].append(t1 - t0)
        out["build NewOrderSingle"].append(t2 - t1)
        out["sendToTarget"].append(t3 - t2)
        out["floor (sum)"].append(t3 - t0)
    return out


def stages(engine: Engine, iterations: int) -> dict[str, list[int]]:
    """The tick's stages one at a time, on the book and parent the run left behind; the orders
    go to a fresh risk overlay and OMS (never sent, they must not burden the engine's)."""
    working = next(iter(engine._by_parent.values()))  # noqa: SLF001
    book, parent = engine.books["GOOG"], working.parent
    children = engine.oms.working(parent.parent_id)
    tracker = engine.trackers["GOOG"]
    risk = RiskOverlay(parse_limits(WIDE_LIMITS), INSTRUMENTS)
    risk.on_market_data("GOOG", book.best_bid(), book.best_ask(), engine.clock.now_ns())
    oms = OrderManager()
    obs = new_observation_buffer()
    ctx = DecisionContext(obs, parent, book, engine.clock.now_ns(),
                          parent.qty // working.n_slices, working.n_slices, 0, 0)
    store = MemoryStore()
    out: dict[str, list[int]] = {name: [] for name in (
        "feature building", "inference", "risk check", "OMS update", "store write (memory)")}
    signal = engine.signals.get("GOOG")
    if signal is not None:
        out["price signal (features + model)"] = []
    now = engine.clock.now_ns()
    for n in range(iterations):
        intent = NewOrder(f"S{n}", parent.parent_id, "GOOG", Side.SELL, 100, book.best_ask(),
                          OrdType.LIMIT, TimeInForce.DAY)
        t0 = time.perf_counter_ns()
        observe(obs, book, parent, children, tracker, now, ctx.slice_qty)
        t1 = time.perf_counter_ns()
        working.policy.act(ctx)
        t2 = time.perf_counter_ns()
        risk.check(intent, now)
        t3 = time.perf_counter_ns()
        order = oms.on_sent(intent)
        t4 = time.perf_counter_ns()
        assert order is not None
        store.save_child(order)
        t5 = time.perf_counter_ns()
        for name, took in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=False):
            out[name].append(took)
        if signal is not None:
            t6 = time.perf_counter_ns()
            signal.predict(book, now)
            out["price signal (features + model)"].append(time.perf_counter_ns() - t6)
    return out


async def throughput(engine: Engine, reports: _Reports, market: _Market, ticks: int) -> float:
    """Ticks per second through decode, book, features, policy, risk and send, back to back
    (the venue's reports handled in between, on the same thread, as the engine would); the
    market messages are built ahead in batches of 5,000, outside the timing."""
    elapsed = 0.0
    for start in range(0, ticks, 5_000):
        messages = [market.next() for _ in range(min(5_000, ticks - start))]
        started = time.perf_counter()
        for message in messages:
            engine.handle(decode_market_data(message, X, INSTRUMENTS), time.perf_counter_ns())
            await reports.drain(engine)
        elapsed += time.perf_counter() - started
    return ticks / elapsed


@dataclass
class Sustained:
    """One offered rate through the engine's queue (``sustained``)."""

    rate: int
    kept_up: bool
    seconds: float  # from the first tick offered to the queue's last event handled
    decided: int  # ticks decided on (the others were superseded by a newer one waiting)
    deepest: int  # the queue's largest depth seen between two of the engine's batches
    # Each order's tick to wire, from the arrival of the first tick its decision answers.
    wire_ns: list[int]

    @property
    def decided_per_s(self) -> float:
        return self.decided / self.seconds

    def summary(self) -> dict[str, object]:
        return {"rate": self.rate, "kept_up": self.kept_up, "seconds": round(self.seconds, 3),
                "decided_per_s": round(self.decided_per_s), "orders": len(self.wire_ns),
                "deepest_queue": self.deepest,
                "tick_to_wire_us": _us(self.wire_ns, 50, 99) if self.wire_ns else None}


@contextlib.asynccontextmanager
async def _through_queue(engine: Engine, reports: _Reports) -> AsyncIterator[None]:
    """A run through the engine's queue, as the service runs: the venue's answers go onto it
    and the engine's own ``run`` consumes it. On the way out the consumer stops, the answers
    go back to the bench's own hands, and what still waited is handled now, in order (the
    other runs call ``Engine.handle`` themselves)."""
    reports.sink = engine.deliver
    consumer = asyncio.create_task(engine.run())
    try:
        yield
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        reports.sink = None
        waiting = []
        while not engine.queue.empty():
            waiting.append(engine.queue.get_nowait())
        if waiting:
            engine.handle_batch(waiting)


def _superseded(engine: Engine) -> int:
    """GOOG's ticks superseded so far (applied without a decision: ``Engine.handle_batch``)."""
    return engine.metrics.ticks_superseded.labels("GOOG").value


async def sustained(engine: Engine, reports: _Reports, market: _Market, rate: int,
                    seconds: float) -> Sustained:
    """``rate`` ticks a second offered for ``seconds`` the way the service takes FIX market
    data: each message decoded when its time comes (the gateway does it as it arrives) and put
    on the engine's queue, the venue's answers put there too, and the engine's own ``run``
    taking what waits (``Engine.handle_batch``: when it is behind, each symbol is decided on
    its newest tick). Kept up when everything offered was handled within 2% (or 20 ms) of
    the offering's own length: a queue that grew would still be draining. The messages are
    built ahead, outside the timing; decoding them is inside it, on this thread, as quickfix's
    thread would hold the interpreter for it."""
    ticks = int(rate * seconds)
    messages = [market.next() for _ in range(ticks)]
    handled = engine.metrics.ticks.labels("GOOG")
    handled_before, superseded_before = handled.value, _superseded(engine)
    wire_ns: list[int] = []
    tick_to_order = engine.metrics.tick_to_order
    observe = tick_to_order.observe
    tick_to_order.observe = lambda seconds: (wire_ns.append(int(seconds * 1e9)), observe(seconds))
    deepest = offered = 0
    try:
        async with _through_queue(engine, reports):
            started = time.perf_counter()
            while offered < ticks:
                due = min(ticks, int((time.perf_counter() - started) * rate) + 1)
                while offered < due:
                    engine.deliver(decode_market_data(messages[offered], X, INSTRUMENTS),
                                   time.perf_counter_ns())
                    offered += 1
                deepest = max(deepest, engine.queue.qsize())
                await asyncio.sleep(0)
            # yields the loop to the engine's task until it has handled every tick
            while engine.queue.qsize() or handled.value - handled_before < ticks:  # noqa: ASYNC110
                await asyncio.sleep(0)
            took = time.perf_counter() - started
    finally:
        tick_to_order.observe = observe
    decided = ticks - (_superseded(engine) - superseded_before)
    return Sustained(rate, took <= max(seconds * 1.02, seconds + 0.02), took, decided, deepest,
                     wire_ns)


async def sustained_ladder(engine: Engine, reports: _Reports, market: _Market,
                           rates: tuple[int, ...], seconds: float) -> list[Sustained]:
    """``sustained`` at each rate in turn, up to the first the engine did not keep up with."""
    out = []
    for rate in rates:
        out.append(await sustained(engine, reports, market, rate, seconds))
        await reports.settle(engine)
        if not out[-1].kept_up:
            break
    return out


async def profile(run: Awaitable[object]) -> str:
    """pyinstrument's text profile of ``run`` (a run of the bench not yet started)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001)
    profiler.start()
    await run
    profiler.stop()
    return str(profiler.output_text(unicode=False, color=False))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _produce(market: _Market, batch: int, cpus: set[int], conn: Connection) -> None:
    """The memory run's market, in a process of its own on the venue's CPU (it stands for the
    exchange, as the venue does): a batch of FIX texts for each request, until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    conn.send(True)  # started: the run's clock starts now, not before the imports
    while conn.recv():
        conn.send([market.next().toString() for _ in range(batch)])


def _venue_cpus() -> set[int]:
    """The CPUs this process keeps off while the pinned venue runs (``serving(..., pin=True)``
    moved it to the others): where the producer goes. Empty when it keeps off none; the
    producer then runs wherever the scheduler puts it."""
    return set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)


class _MarketProcess:
    """``market`` continued in a producer process (``_produce``), one batch always being built
    ahead while this process handles the one before: building a message costs about three
    times what decoding it does, so the memory run, building its own, sustained at most 8,923
    of the 10,000 ticks a second asked (docs/benchmarks.md, "The memory run's market"). Each
    text is parsed here by quickfix with the FIX 4.4 dictionary, as quickfix parses what
    arrives on a session."""

    def __init__(self, market: _Market, batch: int) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of quickfix's threads
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_produce, daemon=True,
                                        args=(market, batch, _venue_cpus(), child_end))
        self._process.start()
        self._conn.recv()
        self._conn.send(True)

    def next_batch(self) -> list[fix.Message]:
        texts = self._conn.recv()
        self._conn.send(True)  # the next batch is built while this one is handled
        dictionary = fix44_dictionary()
        return [fix.Message(text, dictionary, False) for text in texts]

    def close(self) -> None:
        self._conn.send(False)
        self._process.join(timeout=10)


async def memory(engine: Engine, sender: _TimedSender, reports: _Reports, market: _Market,
                 minutes: float, rate: int,
                 progress: Callable[[str], None]) -> tuple[int, int, float, int, int]:
    """RSS after the first minute and at the end of ``minutes`` at ``rate`` ticks/s, taken the
    way the service takes FIX market data (as ``sustained`` does): each message, when its time
    comes, parsed and decoded and put on the engine's queue, the venue's answers put there too,
    the engine's own ``run`` taking what waits (the loop spins through the event loop until the
    next message is due, so the engine runs in between). The market is built just ahead, in
    batches of 1/100 s, by ``_MarketProcess``. Returns also the rate achieved, the order
    messages sent meanwhile and the ticks decided on (the others were superseded by a newer
    one waiting)."""
    producer = _MarketProcess(market, rate // 100)
    deadline = time.monotonic() + minutes * 60
    first_minute = time.monotonic() + 60
    baseline = ticks = 0
    sent_before, superseded_before = sender.sent, _superseded(engine)
    started = time.perf_counter()
    try:
        async with _through_queue(engine, reports):
            while time.monotonic() < deadline:
                for message in producer.next_batch():
                    ticks += 1
                    while (time.perf_counter() - started) * rate < ticks:  # noqa: ASYNC110
                        await asyncio.sleep(0)  # not yet due: the engine's turn
                    engine.deliver(decode_market_data(message, X, INSTRUMENTS),
                                   time.perf_counter_ns())
                if not baseline and time.monotonic() >= first_minute:
                    baseline = rss_bytes()
                    progress(f"RSS after the first minute: {baseline / 2**20:.1f} MiB")
    finally:
        producer.close()
    return (baseline or rss_bytes(), rss_bytes(), ticks / (time.perf_counter() - started),
            sender.sent - sent_before, ticks - (_superseded(engine) - superseded_before))


def _us(samples: list[int], *qs: float) -> dict[str, float]:
    ordered = sorted(samples)
    return {f"p{q:g}".replace(".", ""): round(percentile(ordered, q) / 1000, 2) for q in qs}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--memory-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=2_000,
                        help="ticks per wall second in the tick-to-wire and floor runs")
    parser.add_argument("--sustained-seconds", type=float, default=2.0,
                        help="length of each offered rate through the engine's queue")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-signal", action="store_true",
                        help="run the engine without the price signal (models/artifacts/"
                             "signal.onnx), to measure what the signal costs a tick")
    parser.add_argument("--profile", nargs="?", const="throughput",
                        choices=("throughput", "memory", "sustained"),
                        help="only profile with pyinstrument and print it as text (what "
                             "docs/benchmarks.md shows): 20,000 ticks back to back "
                             "(throughput, the default), --memory-minutes of the memory run, "
                             "or --sustained-seconds of 50,000 ticks/s offered through the "
                             "engine's queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="execagent-t2w-") as workdir, \
            serving("venue", Path(workdir), pin=True) as port:
        reports = _Reports()
        gateway = await _session(port, Path(workdir), reports)
        try:
            sender = _TimedSender(gateway)
            engine = _engine(sender, signal=not args.no_signal)
            market = _Market(args.seed)
            if args.profile:
                await tick_to_wire(engine, sender, reports, market, 2_000, args.rate)  # warm up
                runs = {
                    "throughput": lambda: throughput(engine, reports, market, 20_000),
                    "memory": lambda: memory(engine, sender, reports, market,
                                             args.memory_minutes, 10_000, print),
                    "sustained": lambda: sustained(engine, reports, market, 50_000,
                                                   args.sustained_seconds)}
                print(await profile(runs[args.profile]()))
                return 0
            wire = await tick_to_wire(engine, sender, reports, market, args.ticks, args.rate)
            floor_parts = await floor(gateway, engine, reports, 20_000, args.rate)
            per_stage = stages(engine, 20_000)
            rate = await throughput(engine, reports, market, 50_000)
            rss: tuple[int, int, float, int, int] = (0, 0, 0.0, 0, 0)
            if args.memory_minutes > 0:
                rss = await memory(engine, sender, reports, market, args.memory_minutes, 10_000,
                                   print)
            # Last: the messages it builds ahead (up to 300,000) leave the resident set about
            # 1 GiB larger, which the memory run would start from.
            ladder = await sustained_ladder(engine, reports, market, SUSTAINED_RATES,
                                            args.sustained_seconds)
        finally:
            gateway.stop()
    report(f"tick to wire: {len(wire):,} orders from {args.ticks:,} ticks",
           {"tick to wire": wire})
    report("the floor, same run", floor_parts)
    report("per stage", per_stage)
    for step in ladder:
        wire_us = step.summary()["tick_to_wire_us"] or {}
        print(f"offered {step.rate:>7,} ticks/s through the queue: "
              f"{'kept up' if step.kept_up else 'fell behind'} ({step.seconds:.2f} s to handle "
              f"{args.sustained_seconds:g} s of ticks), "
              f"{step.decided_per_s:,.0f} decisions/s, {len(step.wire_ns):,} orders, tick to "
              f"wire p50/p99 {wire_us.get('p50', 'n/a')} / {wire_us.get('p99', 'n/a')} µs, "
              f"deepest queue {step.deepest:,}")
    kept = [step.rate for step in ladder if step.kept_up]
    t2w = _us(wire, 50, 99, 99.9)
    fl = _us(floor_parts["floor (sum)"], 50, 99)
    growth = 100 * (rss[1] - rss[0]) / rss[0] if rss[0] else None
    goals = {
        "tick_to_wire_p50_within_1.5x_floor": t2w["p50"] <= 1.5 * fl["p50"],
        "tick_to_wire_p99_within_3x_floor": t2w["p99"] <= 3 * fl["p99"],
        "throughput_at_least_50000": rate >= 50_000,
        "rss_growth_under_5pct": growth is not None and growth < 5,
    }
    result = {
        "tick_to_wire_us": t2w, "floor_us": fl,
        "floor_parts_us": {k: _us(v, 50, 99) for k, v in floor_parts.items()},
        "stages_us": {k: _us(v, 50, 99) for k, v in per_stage.items()},
        "throughput_ticks_per_s": round(rate),
        "sustained_ticks_per_s": max(kept, default=0),
        "sustained": [step.summary() for step in ladder],
        "sustained_seconds": args.sustained_seconds,
        "rss_growth_pct": None if growth is None else round(growth, 2),
        "rss_mib": {"after_first_minute": round(rss[0] / 2**20, 1),
                    "end": round(rss[1] / 2**20, 1)},
        "memory_run_minutes": args.memory_minutes,
        "memory_run_ticks_per_s": round(rss[2]),
        "memory_run_orders_sent": rss[3],
        "memory_run_ticks_decided": rss[4],
        "ticks": args.ticks, "orders": len(wire), "seed": args.seed, "rate": args.rate,
        "signal": not args.no_signal,
        "market": "synthetic seeded random walk, 10-level GOOG book, 1 ms per tick",
        "goals_met": goals,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"throughput: {rate:,.0f} ticks/s deciding on every tick, "
          f"{max(kept, default=0):,} through the engine's queue; RSS growth: "
          f"{'n/a' if growth is None else f'{growth:.2f}%'} (memory run at {rss[2]:,.0f} "
          f"ticks/s, {rss[4]:,} decided on, {rss[3]:,} order messages)")
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
    print(f"written to {args.out}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
