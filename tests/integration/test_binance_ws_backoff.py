"""The websocket feed against a stream that closes right after each snapshot (on loopback): the
feed reconnects ever more slowly, up to its cap, and counts each reconnect; it does not come
back ten times a second, each time with a depth snapshot request."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from aiohttp import web

from core.domain import Instrument
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed
from gateways.marketdata.feed import FeedHealth

pytestmark = pytest.mark.integration


class ClosingExchange:
    """Answers every depth request and closes every stream as soon as it opens."""

    def __init__(self) -> None:
        self.snapshots = 0
        self.connections = 0
        app = web.Application()
        app.router.add_get("/api/v3/depth", self.depth)
        app.router.add_get("/stream", self.stream)
        self.runner = web.AppRunner(app)
        self.url = ""

    async def depth(self, _request: web.Request) -> web.Response:
        self.snapshots += 1
        return web.json_response({"lastUpdateId": 100, "bids": [["61686.00", "0.5"]],
                                  "asks": [["61686.01", "0.25"]]})

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        self.connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    async def __aenter__(self) -> ClosingExchange:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def exchange() -> AsyncIterator[ClosingExchange]:
    async with ClosingExchange() as running:
        yield running


async def test_a_stream_that_closes_after_each_snapshot_is_retried_with_growing_waits(
        exchange: ClosingExchange, caplog: pytest.LogCaptureFixture) -> None:
    instrument = Instrument("BTCUSDT", Decimal("0.01"), Decimal("0.000001"))
    feed = BinanceWsFeed(BinanceWsConfig(exchange.url, exchange.url.replace("http", "ws"),
                                         instrument, backoff_initial_s=0.005,
                                         backoff_max_s=0.04))
    healths = []
    feed.on_health = lambda: healths.append(feed.health)
    snapshots = 0
    with caplog.at_level(logging.WARNING, logger="execagent.gateways.marketdata.binance_ws"):
        async for message in feed:
            assert message.snapshot
            snapshots += 1
            if snapshots == 7:
                break
    await feed.close()
    waits = [float(match) for match in re.findall(r"reconnecting in ([0-9.e-]+) s", caplog.text)]
    assert waits == [0.005, 0.01, 0.02, 0.04, 0.04, 0.04]  # doubling, then capped
    assert feed.counters.reconnects == 6 and exchange.snapshots == 7
    # Each drop is seen as it happens: live with each snapshot, connecting in between.
    assert healths[:4] == [FeedHealth.LIVE, FeedHealth.CONNECTING, FeedHealth.LIVE,
                           FeedHealth.CONNECTING]
