"""Where an order-sending tick's time goes, and what grows in memory: the measurements behind
docs/benchmarks.md, "Tick to wire", that the bench itself does not print. Not run by
``make bench`` (no goal here); the same session as bench/bench_tick_to_wire.py (its market,
engine, gateway and venue).

    .venv/bin/python -m bench.tick_probe stages [--ticks 10000] [--pin none|venue|both]
    .venv/bin/python -m bench.tick_probe memory [--ticks 60000] [--warm-up 20000]
    .venv/bin/python -m bench.tick_probe send [--pairs 4000]

``stages``: paced ticks (2,000 a second, as the bench); for every tick that sent an order, the
time of each step, taken by wrapping the functions the tick calls (the wrappers add about a
microsecond each, so this is for proportions and for comparing settings, not the bench's
figure). Prints the medians over the middle half of those ticks and, for a few of them, when
each part of ``sendToTarget`` ran (our ``toApp``, the message log's ``onOutgoing``) and whether
the venue's answer arrived before ``sendToTarget`` returned. ``--pin``: the venue free to run
anywhere (``none``), on the last CPU (``venue``), or on the last CPU with this process on the
others (``both``, what the bench does).

``send``: whether ``sendToTarget`` costs more inside a tick than in the floor's loop. ``--pairs``
paced ticks alternate with the floor's iterations (``FloorIteration``) on the same session, the
venue pinned as in the bench; prints, for the order-sending ticks and for the floor's
iterations, the median ``sendToTarget`` and when its parts ran (as ``stages`` does).

``memory``: after ``--warm-up`` back-to-back ticks, Python's count of allocated blocks and the
resident set before and after ``--ticks`` more; then ``tracemalloc`` over ``--ticks`` more
again: the allocations made then and still alive at the end, largest first, with where they
were made. A warm-up that sends more
order messages than the bounded memories hold (8,192 recent ExecIDs and ClOrdIDs; the
gateway's last 20,000 order messages: about 600,000 ticks) shows what is left growing once
they are full.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix

import gateways.fix.gateway as gateway_module
import gateways.fix.redacting_log as redacting_log
import service.engine as engine_module
from bench import bench_tick_to_wire as t2w
from bench.bench_fix_roundtrip import answering, split_cpus

Durations = collections.defaultdict[str, int]


def _timed(owner: Any, name: str, label: str, into: Durations) -> None:
    """Replace ``owner.name`` by a wrapper adding its duration to ``into[label]``."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return inner(*args, **kwargs)
        finally:
            into[label] += time.perf_counter_ns() - started

    setattr(owner, name, wrapper)


def _stamped(owner: Any, name: str, label: str, into: dict[str, int]) -> None:
    """Replace ``owner.name`` by a wrapper stamping its entry and exit in ``into``."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        into[f"{label}>"] = time.perf_counter_ns()
        try:
            return inner(*args, **kwargs)
        finally:
            into[f"{label}<"] = time.perf_counter_ns()

    setattr(owner, name, wrapper)


def _instrument(durations: Durations, stamps: dict[str, int]) -> None:
    _timed(t2w, "decode_market_data", "decode the FIX message", durations)
    _timed(engine_module.Engine, "on_market_data", "engine, whole tick", durations)
    _timed(engine_module.Engine, "_route", "route the order", durations)
    _timed(engine_module.Engine, "_save_child", "store write", durations)
    _timed(engine_module, "observe", "features", durations)
    _timed(engine_module, "translate", "translate the action", durations)
    _timed(gateway_module, "encode_intent", "build the NewOrderSingle", durations)
    _timed(fix.Session, "sendToTarget", "sendToTarget", durations)
    _stamped(fix.Session, "sendToTarget", "send", stamps)
    _stamped(gateway_module.FixOrderGateway, "toApp", "toApp", stamps)
    _stamped(gateway_module.FixOrderGateway, "fromApp", "fromApp", stamps)
    _stamped(redacting_log.RedactingLog, "onOutgoing", "log out", stamps)


@dataclass
class _Bench:
    """bench/bench_tick_to_wire.py's parts: its gateway logged on to its venue, its engine
    working its parent, its market (seed 7) with the snapshot applied."""

    reports: t2w._Reports
    gateway: gateway_module.FixOrderGateway
    sender: t2w._TimedSender
    engine: engine_module.Engine
    market: t2w._Market


@contextlib.asynccontextmanager
async def _pinned_bench() -> AsyncIterator[_Bench]:
    """``_Bench`` against the venue pinned as the bench pins it; the gateway stopped after."""
    reports = t2w._Reports()  # noqa: SLF001 - the bench's own harness
    with tempfile.TemporaryDirectory() as workdir, \
            answering("venue", Path(workdir), pin=True) as venue:
        gateway = await t2w._session(venue.port, Path(workdir), reports)  # noqa: SLF001
        sender = t2w._TimedSender(gateway)  # noqa: SLF001
        engine = t2w._engine(sender)  # noqa: SLF001
        market = t2w._Market(7)  # noqa: SLF001
        engine.handle(t2w.decode_market_data(market.snapshot(), t2w.W, t2w.INSTRUMENTS),
                      time.perf_counter_ns())
        try:
            yield _Bench(reports, gateway, sender, engine, market)
        finally:
            gateway.stop()


async def _stages(ticks: int, pin: str) -> None:
    durations: Durations = collections.defaultdict(int)
    stamps: dict[str, int] = {}
    _instrument(durations, stamps)
    rows: list[tuple[int, dict[str, int], dict[str, float]]] = []
    reports = t2w._Reports()  # noqa: SLF001 - the bench's own harness
    with tempfile.TemporaryDirectory() as workdir, \
            answering("venue", Path(workdir), pin=pin == "both") as venue:
        before = os.sched_getaffinity(0)
        if pin == "venue":  # the venue's threads exist now: pin each of them
            venue_cpus = split_cpus()[1]
            for thread in os.listdir(f"/proc/{venue.pid}/task"):
                os.sched_setaffinity(int(thread), venue_cpus)
        gateway = await t2w._session(venue.port, Path(workdir), reports)  # noqa: SLF001
        sender = t2w._TimedSender(gateway)  # noqa: SLF001
        engine = t2w._engine(sender)  # noqa: SLF001
        try:
            for warm_up, seed, count in ((True, 7, 2_000), (False, 8, ticks)):
                market = t2w._Market(seed)  # noqa: SLF001
                engine.handle(t2w.decode_market_data(market.snapshot(), t2w.W, t2w.INSTRUMENTS),
                              time.perf_counter_ns())
                async for _ in t2w._paced(count, 2_000):  # noqa: SLF001
                    message = market.next()
                    sent = sender.sent
                    durations.clear()
                    stamps.clear()
                    arrived = time.perf_counter_ns()
                    engine.handle(t2w.decode_market_data(message, t2w.X, t2w.INSTRUMENTS),
                                  arrived)
                    if sender.sent == sent:
                        await reports.drain(engine)
                        continue
                    if not warm_up:
                        origin = stamps["send>"]
                        rows.append((sender.last_sent_ns - arrived, dict(durations),
                                     {k: (v - origin) / 1e3 for k, v in stamps.items()}))
                    await reports.settle(engine)
        finally:
            gateway.stop()
            os.sched_setaffinity(0, before)
    _print_stages(rows, pin)


async def _send(pairs: int) -> None:
    durations: Durations = collections.defaultdict(int)
    stamps: dict[str, int] = {}
    _instrument(durations, stamps)
    rows: dict[str, list[tuple[int, dict[str, float]]]] = {"tick": [], "floor": []}

    def keep(kind: str) -> None:
        origin = stamps["send>"]
        rows[kind].append((durations["sendToTarget"],
                           {k: (v - origin) / 1e3 for k, v in stamps.items()}))

    async with _pinned_bench() as bench:
        reports, sender, engine = bench.reports, bench.sender, bench.engine
        floor_once: t2w.FloorIteration | None = None
        floor_sent = 0
        async for n in t2w._paced(2 * pairs, 2_000):  # noqa: SLF001
            durations.clear()
            stamps.clear()
            if n % 2 == 0 or floor_once is None:
                sent = sender.sent
                engine.handle(t2w.decode_market_data(bench.market.next(), t2w.X,
                                                     t2w.INSTRUMENTS), time.perf_counter_ns())
                if sender.sent != sent:
                    keep("tick")
                await reports.settle(engine)
                floor_once = floor_once or t2w.FloorIteration(bench.gateway, engine)
                continue
            floor_once()
            floor_sent += 1
            keep("floor")
            deadline = time.perf_counter() + 0.05
            while reports.floor_answers < 2 * floor_sent and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.0002)  # its New and Canceled, as the bench waits
    for kind, kept in rows.items():
        kept = kept[len(kept) // 4:]  # the first quarter warms up
        kept.sort(key=lambda row: row[0])
        print(f"{kind}: {len(kept)} sends, sendToTarget median {kept[len(kept) // 2][0] / 1e3:.1f}"
              " µs; its parts, µs from its start (medians):")
        parts = {k: sorted(row[1][k] for row in kept if k in row[1])
                 for k in ("toApp>", "toApp<", "log out>", "log out<", "send<")}
        print("   ", ", ".join(f"{k} {v[len(v) // 2]:.0f}" for k, v in parts.items() if v))


def _print_stages(rows: list[tuple[int, dict[str, int], dict[str, float]]], pin: str) -> None:
    rows.sort(key=lambda row: row[0])
    middle = rows[len(rows) // 4: 3 * len(rows) // 4]
    print(f"pin {pin}: {len(rows)} order-sending ticks; tick to wire median "
          f"{rows[len(rows) // 2][0] / 1e3:.1f} µs")
    by_step: dict[str, list[int]] = collections.defaultdict(list)
    for _, durations, _ in middle:
        for step, ns in durations.items():
            by_step[step].append(ns)
    for step, values in sorted(by_step.items(), key=lambda kv: -sorted(kv[1])[len(kv[1]) // 2]):
        values.sort()
        print(f"  {step:26s} median {values[len(values) // 2] / 1e3:7.1f} µs")
    print("  inside sendToTarget, µs from its start (three ticks at the median):")
    for _, _, stamps in rows[len(rows) // 2 - 1: len(rows) // 2 + 2]:
        print("   ", ", ".join(f"{k} {v:.0f}" for k, v in sorted(stamps.items(),
                                                               key=lambda kv: kv[1])))


async def _memory(ticks: int, warm_up: int) -> None:
    async with _pinned_bench() as bench:
        reports, sender, engine, market = bench.reports, bench.sender, bench.engine, bench.market

        async def run(count: int) -> None:
            for _ in range(count):
                engine.handle(t2w.decode_market_data(market.next(), t2w.X, t2w.INSTRUMENTS),
                              time.perf_counter_ns())
                await reports.drain(engine)
            await asyncio.sleep(0.5)  # the last answers
            await reports.drain(engine)
            gc.collect()

        await run(warm_up)
        sent, blocks, rss = sender.sent, sys.getallocatedblocks(), t2w.rss_bytes()
        await run(ticks)
        print(f"warm-up: {warm_up:,} ticks, {sent:,} order messages; then {ticks:,} ticks, "
              f"{sender.sent - sent:,} order messages: Python's allocated blocks "
              f"{blocks:,} -> {sys.getallocatedblocks():,}, resident set "
              f"{rss / 2**20:.1f} -> {t2w.rss_bytes() / 2**20:.1f} MiB")
        tracemalloc.start(3)
        first, sent = tracemalloc.take_snapshot(), sender.sent
        await run(ticks)
        growth = tracemalloc.take_snapshot().compare_to(first, "traceback")
    print(f"then {ticks:,} ticks more, {sender.sent - sent:,} order messages, traced: "
          "allocations made then and still alive at the end, largest first (what they "
          "replaced in a bounded memory was allocated before the tracing, and its freeing "
          "does not show):")
    for stat in growth[:10]:
        print(f"{stat.size_diff / 1024:8.1f} KiB in {stat.count_diff:,} blocks, made at")
        for line in stat.traceback.format()[-4:]:
            print("     ", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stages = commands.add_parser("stages")
    stages.add_argument("--ticks", type=int, default=10_000)
    stages.add_argument("--pin", choices=["none", "venue", "both"], default="both")
    memory = commands.add_parser("memory")
    memory.add_argument("--ticks", type=int, default=60_000)
    memory.add_argument("--warm-up", type=int, default=20_000)
    send = commands.add_parser("send")
    send.add_argument("--pairs", type=int, default=4_000)
    args = parser.parse_args()
    probes: dict[str, Callable[[], Any]] = {
        "stages": lambda: _stages(args.ticks, args.pin),
        "memory": lambda: _memory(args.ticks, args.warm_up),
        "send": lambda: _send(args.pairs),
    }
    asyncio.run(probes[args.command]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
