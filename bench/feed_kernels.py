"""The market-data feed kernels docs/benchmarks.md compares in instructions, one run each, for
``valgrind --tool=callgrind``: run a kernel over two message counts and divide the difference in
instructions by the difference in counts, so start-up, imports and the data's loading cancel out.

Why: on a shared machine CPU time swings by 2x with the load, and instruction counts do not.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p .venv/bin/python \\
        -m bench.feed_kernels handle 8000      # and with 0: BinanceWsFeed.handle
    .venv/bin/python -m bench.feed_kernels publish 2          # once: the stream (not measured)
    valgrind ... -m bench.feed_kernels redis 9000             # and with 1000
    valgrind ... -m bench.feed_kernels fix 9000               # and with 1000
    valgrind ... -m bench.feed_kernels fix-decode 3000        # and with 1000

``handle``: the capture's first N messages after the snapshot through ``BinanceWsFeed.handle``.
``publish VERSION``: the normalised capture into the stream ``feed-kernel:md:BTCUSDT`` under
schema version 1 or 2. ``redis``: ``RedisStreamFeed`` reads N entries of it in a new consumer
group into a ``DepthBook``. ``fix``: N normalised messages through ``FixMarketData`` and
``service/feeds.py`` into a ``DepthBook``. Data and Redis as for bench/bench_feed.py.
``fix-decode``: the first N of 3,000 incremental refreshes of bench/bench_tick_to_wire.py's
synthetic market (all 3,000 are built whatever N is, so the building cancels out) through
``decode_market_data``, after its snapshot: FIX decoding alone, quickfix's ``toString``
included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid

import redis.asyncio as aioredis

from bench.bench_feed import (
    CAPTURE,
    INSTRUMENT,
    REDIS_URL,
    _consume_fix,
    _normalised,
    _publish,
)
from core.depth_book import DepthBook
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed, ResyncNeeded
from gateways.marketdata.redis_stream import RedisStreamFeed, stream_key
from sim.binance import read_capture_lines

PREFIX = "feed-kernel"
FIX_MESSAGES = 3_000


def handle(count: int) -> None:
    lines = [raw for _path, _no, _ns, raw in read_capture_lines([CAPTURE])]
    at = next(i for i, raw in enumerate(lines) if '"lastUpdateId"' in raw)
    feed = BinanceWsFeed(BinanceWsConfig("http://kernel", "ws://kernel", INSTRUMENT))
    feed.apply_snapshot(json.loads(lines[at]))
    for raw in (lines[:at] + lines[at + 1:])[:count]:
        with contextlib.suppress(ResyncNeeded):  # a real gap of the capture
            feed.handle(raw)


async def publish(version: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    key = stream_key(INSTRUMENT.symbol, PREFIX)
    await client.delete(key, f"{key}:resync")
    await _publish(client, key, _normalised(), version)
    await client.aclose()


async def redis(count: int) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    group = f"kernel-{uuid.uuid4().hex[:8]}"
    feed = RedisStreamFeed(client, INSTRUMENT, group, "c1", PREFIX)
    book = DepthBook(INSTRUMENT.symbol)
    seen = 0
    entries = aiter(feed)
    async for message in entries:
        book.apply_market_data(message)
        seen += 1
        if seen == count:
            break
    await entries.aclose()  # type: ignore[attr-defined]
    await client.xgroup_destroy(stream_key(INSTRUMENT.symbol, PREFIX), group)
    await client.aclose()


def fix_decode(count: int) -> None:
    # Imported here: the tick-to-wire bench loads onnxruntime and quickfix's session code.
    from bench_tick_to_wire import INSTRUMENTS, W, X, _Market

    from gateways.marketdata.fix_md import decode_market_data

    market = _Market(seed=7)
    snapshot = market.snapshot()
    messages = [market.next() for _ in range(FIX_MESSAGES)]
    decode_market_data(snapshot, W, INSTRUMENTS)
    for message in messages[:count]:
        decode_market_data(message, X, INSTRUMENTS)


def main(argv: list[str]) -> None:
    logging.disable(logging.CRITICAL)
    kind, arg = argv
    if kind == "handle":
        handle(int(arg))
    elif kind == "publish":
        asyncio.run(publish(arg))
    elif kind == "redis":
        asyncio.run(redis(int(arg)))
    elif kind == "fix":
        asyncio.run(_consume_fix(_normalised()[:int(arg)]))
    elif kind == "fix-decode":
        fix_decode(int(arg))
    else:
        raise SystemExit(f"unknown kernel {kind!r}: handle, publish, redis, fix or fix-decode")


if __name__ == "__main__":
    main(sys.argv[1:])
