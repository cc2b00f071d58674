"""How fast market data gets into a book: the Binance websocket feed (its own work, and end to end
over loopback) and the Redis Streams feed.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_feed [handle|websocket|
websocket-service|redis|redis-v1|fix]``; all but ``redis-v1`` and ``fix`` by default);
needs the BTCUSDT capture in ``../shared/data`` and, for the Redis part, the Redis on
127.0.0.1:6379 that ``make test`` starts. Goal: at least 50,000 messages per second
into the book for the websocket feed over loopback and for Redis Streams; the script exits 1
when one is missed.

- ``handle``: the capture's lines through ``BinanceWsFeed.handle`` exactly as they arrive on the
  socket (JSON, U/u sequencing, decimal to ticks, the feed's own book and its checks), without
  the network: the feed's own share of the budget.
- ``websocket``: the test exchange (``execagent feed-server``'s server) replays the whole
  capture flat out in a child process (an exchange is another machine; here it gets the other
  core); the feed connects over 127.0.0.1, takes its snapshot, and every message it emits is
  applied to a consumer ``DepthBook`` (the engine's book). Timed from the snapshot to the last
  message of the capture.
- ``redis``: the capture, normalised, published beforehand into a fresh stream (not timed) under
  the stream schema's version 2 (``redis-v1``: version 1); then ``RedisStreamFeed`` reads it in
  its consumer group into a consumer ``DepthBook``.
- ``fix``: the same normalised messages delivered one at a time to ``FixMarketData`` (as the
  FIX gateway's sink does) and through ``service/feeds.py`` into a book: what the feed plumbing
  costs FIX market data (decoding FIX is bench/bench_tick_to_wire.py's).
The consumers run on asyncio's own event loop, as ``execagent run`` does;
``BENCH_LOOP=uvloop`` runs them on uvloop instead (a dependency the service does not use).
The test exchange's process always runs on uvloop: it stands for another machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
import uvloop
from redis.utils import HIREDIS_AVAILABLE

from core.depth_book import DepthBook
from core.domain import Instrument, MarketData
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed, ResyncNeeded
from gateways.marketdata.feed import FeedHealth
from gateways.marketdata.fix_feed import FixMarketData
from gateways.marketdata.redis_stream import RedisStreamFeed, encode, stream_key
from gateways.venue.binance_exchange import BinanceTestExchange, ExchangeConfig
from risk.limits import load_limits
from risk.overlay import RiskOverlay
from service.feeds import ServiceFeeds
from service.metrics import Metrics
from sim.binance import BinanceCapture, read_capture_lines

CAPTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / \
    "binance_spot_btcusdt_20240808.gz"
INSTRUMENT = Instrument("BTCUSDT", Decimal("0.01"), Decimal("0.000001"))
REDIS_URL = "redis://127.0.0.1:6379/0"
LIMITS = Path(__file__).resolve().parents[1] / "deploy" / "risk" / "limits.demo.yaml"
GOAL_PER_S = 50_000
T = TypeVar("T")
RUNS = 3


def _freeze_heap() -> None:
    """Move what exists now out of the collector's reach, as the service does once started
    (service/app.py). Why here: the bench holds the whole capture (the lines, or the messages it
    publishes), which the service never does; without it a full collection scanned them in the
    middle of a timed run (the third Redis run of three took 24 µs an entry against 19)."""
    gc.collect()
    gc.freeze()


def _run(main: Coroutine[Any, Any, T]) -> T:
    """The consumer's event loop: asyncio's, or uvloop with ``BENCH_LOOP=uvloop``."""
    if os.environ.get("BENCH_LOOP") == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)


def bench_handle() -> list[float]:
    lines = [raw for _path, _no, _ns, raw in read_capture_lines([CAPTURE])]
    snapshot_at = next(i for i, raw in enumerate(lines) if '"lastUpdateId"' in raw)
    # Binance's procedure: diffs received before the snapshot are buffered and applied after it
    # (those it already covers are dropped), so every line but the snapshot goes through.
    messages = lines[:snapshot_at] + lines[snapshot_at + 1:]
    rates, cpus = [], []
    for _ in range(RUNS):
        feed = BinanceWsFeed(BinanceWsConfig("http://bench", "ws://bench", INSTRUMENT))
        feed.apply_snapshot(json.loads(lines[snapshot_at]))
        _freeze_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        for raw in messages:
            # A real gap in the capture raises ResyncNeeded: nothing to resync from offline.
            with contextlib.suppress(ResyncNeeded):
                feed.handle(raw)
        rates.append(len(messages) / (time.perf_counter() - started))
        cpus.append((time.process_time() - cpu_started) / len(messages))
    print(f"handle: BinanceWsFeed.handle on {len(messages):,} capture messages: "
          + ", ".join(f"{rate:,.0f}" for rate in rates) + " msgs/s; CPU per message: "
          + ", ".join(f"{cpu * 1e6:.1f}" for cpu in cpus) + " µs")
    _load()
    return rates


# --- websocket over loopback -----------------------------------------------------------------
def _serve(port_out: multiprocessing.Queue[int]) -> None:
    """The child process: one exchange, flat out, each connection held until its snapshot."""
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # the client's reconnect at the end

    async def serve() -> None:
        exchange = BinanceTestExchange(ExchangeConfig([CAPTURE], speed=0.0,
                                                      start_on_snapshot=True))
        await exchange.start()
        port_out.put(exchange.port)
        while not exchange.finished:  # noqa: ASYNC110 - the exchange signals nothing else
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await exchange.stop()
    uvloop.run(serve())


async def _consume_websocket(port: int, through_service: bool) -> tuple[int, float, float]:
    """(messages, messages per second of wall time, client CPU seconds per message)."""
    base = f"127.0.0.1:{port}"
    feed = BinanceWsFeed(BinanceWsConfig(f"http://{base}", f"ws://{base}", INSTRUMENT))
    book = DepthBook(INSTRUMENT.symbol)
    last = [0.0, 0.0]

    def apply(message: MarketData, _received_ns: int = 0) -> None:
        book.apply_market_data(message)
        last[0], last[1] = time.perf_counter(), time.process_time()

    async def consume() -> None:
        async for message in feed:
            apply(message)

    service: ServiceFeeds | None = None
    if through_service:  # watchdog, gate, latency histogram, conflating queue, drain task
        overlay = RiskOverlay(load_limits(LIMITS), {INSTRUMENT.symbol: INSTRUMENT,
                                                    "GOOG": Instrument("GOOG", Decimal("0.01"))})
        service = ServiceFeeds({"binance_ws:BTCUSDT": feed}, overlay, Metrics(),
                               [INSTRUMENT.symbol], stale_seconds=5.0,
                               measure_latency=frozenset({"binance_ws:BTCUSDT"}))
        await service.start(apply)
        task = None
    else:
        task = asyncio.create_task(consume())
    # From the snapshot (the exchange starts its replay when it is asked for) to the last
    # message applied; the exchange closes the stream at the capture's end, and the feed's
    # next reconnect says so. Polling every millisecond costs the consumer little.
    while feed.health is not FeedHealth.LIVE:  # noqa: ASYNC110 - polled, as the comment says
        await asyncio.sleep(0.001)
    _freeze_heap()
    started, cpu_started = time.perf_counter(), time.process_time()
    first, reconnects = feed.counters.messages, feed.counters.reconnects
    while feed.counters.reconnects == reconnects:  # noqa: ASYNC110 - a counter, polled
        await asyncio.sleep(0.01)
    if service is not None:
        await service.stop()
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await feed.close()
    messages = feed.counters.messages - first
    return messages, messages / (last[0] - started), (last[1] - cpu_started) / messages


def _websocket_once(through_service: bool) -> tuple[int, float, float]:
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=60)
        return _run(_consume_websocket(port, through_service))
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


def bench_websocket(through_service: bool = False) -> list[float]:
    results = [_websocket_once(through_service) for _ in range(RUNS)]
    path = "through the service's feed plumbing" if through_service else "straight"
    print(f"websocket: capture over loopback into a book, {path} ({results[0][0]:,} messages "
          "after the snapshot): " + ", ".join(f"{rate:,.0f}" for _, rate, _ in results)
          + " msgs/s; the consumer's CPU per message: "
          + ", ".join(f"{cpu * 1e6:.1f}" for _, _, cpu in results) + " µs (what one core "
          f"could take: {1 / min(cpu for _, _, cpu in results):,.0f} msgs/s)")
    _load()
    return [rate for _, rate, _ in results]


def _load() -> None:
    """Other processes share this machine's cores: say how busy it was, and on which loop."""
    print(f"  load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"event loop: {os.environ.get('BENCH_LOOP', 'asyncio')}")


# --- Redis Streams ----------------------------------------------------------------------------
def _normalised() -> list[MarketData]:
    events = [e for e in BinanceCapture([CAPTURE]).events() if isinstance(e, MarketData)]
    first = next(i for i, e in enumerate(events) if e.snapshot)
    return events[first:]


async def _publish(client: aioredis.Redis, key: str, messages: list[MarketData],
                   version: str) -> None:
    for start in range(0, len(messages), 1000):
        pipe = client.pipeline(transaction=False)
        for seq, message in enumerate(messages[start:start + 1000], start=start + 1):
            pipe.xadd(key, encode(message, INSTRUMENT, seq, version))  # type: ignore[arg-type]
        await pipe.execute()


async def _consume_redis(messages: list[MarketData], version: str) -> tuple[float, float]:
    """(entries per second of wall time, client CPU seconds per entry)."""
    client = aioredis.Redis.from_url(REDIS_URL)  # bytes replies, as the service's client
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    key = stream_key(INSTRUMENT.symbol, prefix)
    try:
        await _publish(client, key, messages, version)
        feed = RedisStreamFeed(client, INSTRUMENT, "bench", "c1", prefix)
        book = DepthBook(INSTRUMENT.symbol)
        count = 0
        _freeze_heap()
        started, cpu_started = time.perf_counter(), time.process_time()
        entries = aiter(feed)
        async for message in entries:
            book.apply_market_data(message)
            count += 1
            if count == len(messages):
                break
        rate = count / (time.perf_counter() - started)
        cpu = (time.process_time() - cpu_started) / count
        await entries.aclose()  # type: ignore[attr-defined]  # acknowledges the last batch
        return rate, cpu
    finally:
        await client.delete(key, f"{key}:resync")
        await client.aclose()


def bench_redis(version: str = "2") -> list[float]:
    messages = _normalised()
    results = [_run(_consume_redis(messages, version)) for _ in range(RUNS)]
    rates = [rate for rate, _ in results]
    levels = sum(len(m.updates) for m in messages)
    print(f"redis: {len(messages):,} entries ({levels:,} book levels, schema version {version}, "
          f"{parser()}) from a stream "
          "into a book: " + ", ".join(f"{rate:,.0f}" for rate in rates)
          + " msgs/s; the consumer's CPU per entry: "
          + ", ".join(f"{cpu * 1e6:.1f}" for _, cpu in results) + " µs (what one core could "
          f"take: {1 / min(cpu for _, cpu in results):,.0f} msgs/s)")
    _load()
    return rates


# --- FIX market data through the service's feed plumbing ---------------------------------------
async def _consume_fix(messages: list[MarketData]) -> tuple[float, float]:
    """(messages per second, CPU seconds per message) through what the service's FIX sink does
    on the loop with each decoded message (service/app.py): ``FixMarketData.deliver`` (the
    feed's own book check, which reports to ``ServiceFeeds.passed``: the watchdog and the
    gate), then the engine's book. FIX market data is inline: no task hand-off, no conflating
    queue."""
    symbol = INSTRUMENT.symbol
    fix = FixMarketData([symbol])
    overlay = RiskOverlay(load_limits(LIMITS), {symbol: INSTRUMENT,
                                                "GOOG": Instrument("GOOG", Decimal("0.01"))})
    feed = fix.feeds[symbol]
    service = ServiceFeeds({feed.name: feed}, overlay, Metrics(), [symbol],
                           stale_seconds=5.0)
    fix.on_passed = service.passed
    book = DepthBook(symbol)
    await service.start(lambda _message, _received_ns: None)  # pumps nothing: FIX is inline
    _freeze_heap()
    started, cpu_started = time.perf_counter(), time.process_time()
    for message in messages:
        passed = fix.deliver(message)
        if passed is not None:
            book.apply_market_data(passed)
    rate = len(messages) / (time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / len(messages)
    await service.stop()
    return rate, cpu


def bench_fix() -> list[float]:
    messages = _normalised()
    results = [_run(_consume_fix(messages)) for _ in range(RUNS)]
    print(f"fix: {len(messages):,} decoded messages through the FIX feed and the service's feed "
          "plumbing into a book: " + ", ".join(f"{rate:,.0f}" for rate, _ in results)
          + " msgs/s; CPU per message: " + ", ".join(f"{cpu * 1e6:.1f}" for _, cpu in results)
          + " µs (decoding FIX is not in it: bench/bench_tick_to_wire.py)")
    _load()
    return [rate for rate, _ in results]


def parser() -> str:
    """Which RESP parser redis-py uses: hiredis (C) when installed, else its pure-Python one."""
    return "hiredis parser" if HIREDIS_AVAILABLE else "pure-Python parser"


BENCHES: dict[str, tuple[Callable[[], list[float]], str]] = {
    "handle": (bench_handle, "feed work, no network"),
    "websocket": (bench_websocket, "websocket over loopback into the book"),
    "websocket-service": (lambda: bench_websocket(True),
                          "websocket over loopback through service/feeds.py into the book"),
    "redis": (bench_redis, "Redis Streams into the book"),
    "redis-v1": (lambda: bench_redis("1"), "Redis Streams, schema version 1, into the book"),
    "fix": (bench_fix, "FIX market data through the feed plumbing into the book"),
}


def main(argv: list[str]) -> int:
    if not CAPTURE.exists():
        print(f"{CAPTURE} is not here: the feed benchmark needs the BTCUSDT capture")
        return 1
    # redis-v1: for comparison; fix: the plumbing's own cost, not a goal of its own
    chosen = argv or [name for name in BENCHES if name not in ("redis-v1", "fix")]
    missed = []
    for name in chosen:
        bench, what = BENCHES[name]
        best = max(bench())
        met = best >= GOAL_PER_S
        print(f"  goal ({what}): >= {GOAL_PER_S:,} msgs/s -> "
              f"{'met' if met else 'MISSED'} (best {best:,.0f})")
        if not met:
            missed.append(name)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
