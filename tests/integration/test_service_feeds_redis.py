"""A Redis stream configured as a symbol's market data, end to end against the real Redis on
127.0.0.1:6379: entries published under the documented schema reach the engine's book and its
policy; a sequence gap stops new orders on the symbol until the publisher's snapshot; a
malformed entry is counted per feed and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from core.domain import (
    BookUpdate,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
    Trade,
)
from gateways.marketdata.redis_stream import RedisStreamPublisher, resync_key, stream_key
from models.actions import Action, ActionKind
from models.policy import DecisionContext
from risk.verdict import DenyReason
from service.config import MarketDataConfig, RedisStreamFeedConfig
from service.engine import Engine
from service.feeds import ServiceFeeds
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import SECOND, make_overlay, roomy
from tests.support.sending import RecordingSender
from tests.support.waiting import until

REDIS_URL = "redis://127.0.0.1:6379/0"
GOOG = "GOOG"
INSTRUMENTS = {GOOG: Instrument(GOOG, Decimal("0.01"))}
FEED = "redis_stream:GOOG"


class Taker:
    """Takes 10 at the far touch on every tick: every tick the overlay lets through is an
    order, so the orders sent show which ticks were allowed."""

    name = "taker"

    def act(self, ctx: DecisionContext) -> Action:
        return Action(ActionKind.CROSS, 10)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    name = f"test-svc-md-{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        await client.delete(stream_key(GOOG, name), resync_key(GOOG, name))
        await client.aclose()


def book(ts_s: float, snapshot: bool = False, ask: int = 58_001) -> MarketData:
    ts = int(ts_s * SECOND)
    return MarketData(GOOG, ts, (BookUpdate(GOOG, Side.BUY, 57_999, 500, ts),
                                 BookUpdate(GOOG, Side.SELL, ask, 500, ts)), (), snapshot)


def print_(ts_s: float) -> MarketData:
    ts = int(ts_s * SECOND)
    return MarketData(GOOG, ts, (), (Trade(GOOG, 58_001, 5, Side.BUY, ts),))


@pytest.mark.parametrize("query", ["", "?protocol=3"])  # RESP3 replies have another shape
async def test_a_redis_stream_feeds_the_engine_and_a_gap_stops_the_symbol_until_a_snapshot(
        prefix: str, query: str) -> None:
    metrics, sender = Metrics(), RecordingSender()
    engine = Engine(INSTRUMENTS, make_overlay(roomy()), sender, MemoryStore(), metrics)
    engine.submit(ParentOrder("P", GOOG, Side.BUY, 10_000, 0, 600 * SECOND, "taker"), Taker())
    config = MarketDataConfig(feeds=[RedisStreamFeedConfig(
        source="redis_stream", symbol=GOOG, redis_url=SecretStr(REDIS_URL + query), prefix=prefix,
        group="svc", consumer="engine")])
    feeds = ServiceFeeds.from_config(config, INSTRUMENTS, engine.risk, metrics)
    publisher_client = aioredis.Redis.from_url(REDIS_URL)
    publisher = RedisStreamPublisher(publisher_client, INSTRUMENTS, prefix)
    await feeds.start(engine.handle)
    try:
        await publisher.publish(book(1, snapshot=True))
        await until(lambda: len(sender.sent) == 1)
        assert engine.books[GOOG].best_ask() == 58_001 and not feeds.stopped(GOOG)
        first = sender.sent[0]
        assert isinstance(first, NewOrder) and first.price == 58_001
        # The venue's answer to the IOC: nothing filled, the rest cancelled.
        engine.handle(ExecutionReport(first.cl_ord_id, "E1", ExecType.CANCELED,
                                      OrdStatus.CANCELED, GOOG, Side.BUY, 0, 0), 0)

        await publisher_client.xadd(stream_key(GOOG, prefix), {"v": "1", "seq": "x"})
        await publisher.publish(print_(2), seq=4)  # 2 and 3 lost: a gap; its trade still passes
        await until(lambda: feeds.stopped(GOOG))
        await until(lambda: engine.risk.denials.get(DenyReason.FEED_NOT_LIVE) == 1)
        assert len(sender.sent) == 1  # the tick the trade made was denied
        assert metrics.registry.get_sample_value("execagent_feed_gaps_total",
                                                 {"feed": FEED}) == 1.0
        assert metrics.registry.get_sample_value("execagent_feed_malformed_total",
                                                 {"feed": FEED}) == 1.0
        assert metrics.registry.get_sample_value("execagent_symbol_stopped",
                                                 {"symbol": GOOG}) == 1.0
        requests: list[tuple[bytes, dict[bytes, bytes]]] = \
            await publisher_client.xrange(resync_key(GOOG, prefix))  # type: ignore[assignment]
        assert [fields[b"reason"] for _id, fields in requests] == \
            [b"gap: expected seq 2, got 4"]

        await publisher.publish(book(3, snapshot=True, ask=58_002))  # the publisher answers
        await until(lambda: len(sender.sent) == 2)
        assert not feeds.stopped(GOOG) and engine.books[GOOG].best_ask() == 58_002
        assert metrics.registry.get_sample_value("execagent_feed_messages_total",
                                                 {"feed": FEED}) == 4.0
    finally:
        await feeds.stop()
        await publisher_client.aclose()
