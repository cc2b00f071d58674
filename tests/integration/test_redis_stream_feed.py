"""The Redis Streams feed end to end against the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from core.depth_book import DepthBook
from core.domain import BookUpdate, Instrument, MarketData, Side, Trade
from gateways.marketdata.feed import FeedHealth
from gateways.marketdata.redis_stream import (
    RedisStreamFeed,
    RedisStreamPublisher,
    resync_key,
    stream_key,
)
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

REDIS_URL = "redis://127.0.0.1:6379/0"
SYM = "BTCUSDT"
INSTRUMENTS = {SYM: Instrument(SYM, Decimal("0.01"))}


@pytest.fixture
async def env() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-md-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        await client.delete(stream_key(SYM, prefix), resync_key(SYM, prefix))
        await client.aclose()


def snapshot(ts: int) -> MarketData:
    return MarketData(SYM, ts, (BookUpdate(SYM, Side.BUY, 10_000, 5, ts),
                                BookUpdate(SYM, Side.BUY, 9_999, 7, ts),
                                BookUpdate(SYM, Side.SELL, 10_002, 3, ts)), snapshot=True)


def update(ts: int, price: int, qty: int, side: Side = Side.SELL) -> MarketData:
    return MarketData(SYM, ts, (BookUpdate(SYM, side, price, qty, ts),))


def trade(ts: int) -> MarketData:
    return MarketData(SYM, ts, trades=(Trade(SYM, 10_002, 2, Side.BUY, ts),
                                       Trade(SYM, 10_001, 1, None, ts + 1)))


async def take(feed: RedisStreamFeed, n: int) -> list[MarketData]:
    out: list[MarketData] = []
    iterator = aiter(feed)
    try:
        async with asyncio.timeout(20):  # a guard against a hang, not a timing assertion
            async for message in iterator:
                out.append(message)
                if len(out) == n:
                    break
    finally:
        await iterator.aclose()  # type: ignore[attr-defined]
    return out


async def test_published_messages_arrive_unchanged(env: tuple[aioredis.Redis, str]) -> None:
    client, prefix = env
    published = [snapshot(1_000), update(2_000, 10_001, 4), trade(3_000),
                 update(4_000, 10_000, 0, Side.BUY)]
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    for message in published:
        await publisher.publish(message)
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix)
    received = await take(feed, len(published))
    assert received == published
    assert feed.health is FeedHealth.STOPPED  # closed
    assert feed.counters.gaps == feed.counters.malformed == 0
    book = DepthBook(SYM)
    for message in received:
        book.apply_market_data(message)
    assert (book.best_bid(), book.best_ask()) == (9_999, 10_001)
    # At least once: the last message was handed on but the caller never asked for the next,
    # so it is not known to be handled and stays pending for the next start.
    assert (await client.xpending(stream_key(SYM, prefix), "g"))["pending"] == 1


async def test_restart_continues_where_the_group_left_off(
        env: tuple[aioredis.Redis, str]) -> None:
    client, prefix = env
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    first = [snapshot(1_000), update(2_000, 10_001, 4), update(3_000, 10_003, 1)]
    for message in first:
        await publisher.publish(message)
    # The first consumer takes two messages and stops: the second is not known to be handled
    # and the third was read in the same batch but never handed on, so both stay pending.
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix)
    assert await take(feed, 2) == first[:2]
    assert (await client.xpending(stream_key(SYM, prefix), "g"))["pending"] == 2
    later = [trade(4_000), snapshot(5_000), update(6_000, 10_004, 9)]
    for message in later:
        await publisher.publish(message)
    resyncs: list[tuple[str, str]] = []
    restarted = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix,
                                on_resync=lambda s, r: resyncs.append((s, r)))
    received = await take(restarted, 3)
    # The pending updates come first but cannot be applied to an empty book: it is withheld
    # and a snapshot requested; the trade passes; from the snapshot on, everything passes.
    assert received == later
    assert restarted.reclaimed == 2
    assert restarted.counters.messages == 5  # the acknowledged snapshot did not come again
    assert restarted.withheld == 2
    assert [s for s, _ in resyncs] == [SYM]
    assert await client.xlen(resync_key(SYM, prefix)) == 1
    assert (await client.xpending(stream_key(SYM, prefix), "g"))["pending"] == 1


async def test_entries_read_ahead_but_not_handed_on_come_again_after_a_restart(
        env: tuple[aioredis.Redis, str]) -> None:
    """A full batch makes the feed ask for the next one before handing this one on (read
    ahead). Stopping then leaves the read-ahead entries pending, never acknowledged, and the
    next start of the same consumer reads them again, in order, none lost."""
    client, prefix = env
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    published = [snapshot(1_000)] + [trade(1_000 + 10 * n) for n in range(1, 12)]
    for message in published:
        await publisher.publish(message)
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix, batch=5)
    assert await take(feed, 3) == published[:3]
    restarted = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix, batch=5)
    # Trades pass while the restarted feed waits for a snapshot, so every message shows.
    received = await take(restarted, len(published) - 2)
    assert received == published[2:]  # the third again (handed on, not known handled), then on
    # Pending at the restart: the first batch's last three, and the read-ahead batch when Redis
    # had delivered it before the stop cancelled the read (either way nothing is lost).
    assert restarted.reclaimed in (3, 8)
    assert (await client.xpending(stream_key(SYM, prefix), "g"))["pending"] == 1


async def test_malformed_entries_are_counted_and_skipped(
        env: tuple[aioredis.Redis, str]) -> None:
    client, prefix = env
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    key = stream_key(SYM, prefix)
    await publisher.publish(snapshot(1_000))
    good = {"v": "1", "symbol": SYM, "ts_ns": "2000", "snapshot": "0", "trades": "[]"}
    bad_entries = [
        {"garbage": "x"},
        {**good, "seq": "2", "bids": '[["100.005","1"]]'},  # off the tick grid
        {**good, "seq": "2", "asks": "not json"},
        {**good, "seq": "2", "asks": '[["100.02","-1"]]'},  # negative size
        {**good, "seq": "2", "symbol": "ETHUSDT"},
        {**good, "seq": "x"},
    ]
    for fields in bad_entries:
        await client.xadd(key, fields)  # type: ignore[arg-type]
    after = update(3_000, 10_001, 4)
    await publisher.publish(after)  # seq 2: the malformed entries did not count as messages
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix)
    received = await take(feed, 2)
    assert received == [snapshot(1_000), after]
    assert feed.counters.malformed == len(bad_entries)
    assert feed.counters.gaps == 0
    assert (await client.xpending(key, "g"))["pending"] == 1  # only the last one handed on


async def test_gap_requests_resync_and_withholds_levels_until_snapshot(
        env: tuple[aioredis.Redis, str]) -> None:
    client, prefix = env
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    await publisher.publish(snapshot(1_000))
    await publisher.publish(update(2_000, 10_001, 4))
    await publisher.publish(update(3_000, 10_003, 4), seq=5)  # 3 and 4 lost
    await publisher.publish(update(4_000, 10_000, 0, Side.BUY))
    await publisher.publish(update(4_500, 10_001, 4), seq=2)  # late duplicate
    await publisher.publish(snapshot(5_000), seq=7)
    resyncs: list[str] = []
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix,
                           on_resync=lambda s, r: resyncs.append(r))
    received = await take(feed, 3)
    assert received == [snapshot(1_000), update(2_000, 10_001, 4), snapshot(5_000)]
    assert feed.counters.gaps == 1
    assert feed.counters.duplicates == 1
    assert feed.withheld == 2
    assert resyncs == ["gap: expected seq 3, got 5"]


@pytest.mark.parametrize(("bad", "why"), [
    (update(2_000, 10_002, 4, Side.BUY), "bid 10002 >= ask 10002"),  # locks the book
    (update(2_000, 9_999, 4), "bid 10000 >= ask 9999"),  # an ask under the bid: crossed
])
async def test_a_crossed_or_locked_book_is_withheld_and_resynced(
        env: tuple[aioredis.Redis, str], bad: MarketData, why: str) -> None:
    client, prefix = env
    publisher = RedisStreamPublisher(client, INSTRUMENTS, prefix)
    await publisher.publish(snapshot(1_000))
    await publisher.publish(bad)
    await publisher.publish(trade(2_500))  # prints still pass while the book is in doubt
    await publisher.publish(update(2_600, 10_003, 1))  # withheld: no snapshot yet
    await publisher.publish(snapshot(3_000))
    await publisher.publish(update(4_000, 10_001, 4))
    resyncs: list[str] = []
    feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", prefix,
                           on_resync=lambda s, r: resyncs.append(r))
    received = await take(feed, 4)
    assert received == [snapshot(1_000), trade(2_500), snapshot(3_000),
                        update(4_000, 10_001, 4)]
    assert feed.counters.invalid_book == 1 and feed.withheld == 2
    assert resyncs == [f"seq 2 leaves the book crossed or locked: {why}"]


async def test_reconnects_after_redis_restarts_and_waits_for_a_new_snapshot() -> None:
    """A Redis that comes back empty (no persistence) lost the group: the feed reconnects,
    creates it again and passes levels only from the next snapshot."""
    server = RedisServer().start()
    client = aioredis.Redis.from_url(server.url)
    try:
        publisher = RedisStreamPublisher(client, INSTRUMENTS, "r")
        await publisher.publish(snapshot(1_000))
        feed = RedisStreamFeed(client, INSTRUMENTS[SYM], "g", "c1", "r",
                               backoff=(0.01, 0.05))
        iterator = aiter(feed)
        async with asyncio.timeout(20):  # a guard against a hang, not a timing assertion
            assert await anext(iterator) == snapshot(1_000)
            server.stop()
            reading = asyncio.ensure_future(anext(iterator))
            await until(lambda: feed.counters.reconnects > 0)
            assert feed.health is FeedHealth.CONNECTING
            server.start()
            fresh = RedisStreamPublisher(client, INSTRUMENTS, "r")
            # the feed re-created its group (a Redis query: polled, nothing signals it)
            while not await client.exists(stream_key(SYM, "r")):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await fresh.publish(update(2_000, 10_001, 4))  # seq 1 again: levels withheld
            await fresh.publish(snapshot(3_000))
            assert await reading == snapshot(3_000)
        await iterator.aclose()  # type: ignore[attr-defined]
        assert feed.withheld == 1
        assert feed.counters.reconnects >= 1
    finally:
        await client.aclose()
        server.stop()
