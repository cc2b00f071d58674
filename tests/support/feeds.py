"""A feed the test drives by hand: messages pushed into it come out of its iterator, in order;
its health is whatever the test sets. A real :class:`Feed` (not a mock): the service treats it
exactly like the websocket or Redis feeds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from core.domain import MarketData
from gateways.marketdata.feed import Feed, FeedCounters, FeedHealth


class ScriptedFeed(Feed):
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.health = FeedHealth.CONNECTING
        self.counters = FeedCounters()
        self._queue: asyncio.Queue[MarketData | None] = asyncio.Queue()

    def push(self, *messages: MarketData) -> None:
        for message in messages:
            self._queue.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[MarketData]:
        return self._run()

    async def _run(self) -> AsyncIterator[MarketData]:
        try:
            while (message := await self._queue.get()) is not None:
                self.counters.messages += 1
                yield message
        finally:
            self.health = FeedHealth.STOPPED

    async def close(self) -> None:
        """The iterator ends after the messages already pushed."""
        self._queue.put_nowait(None)


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until nothing is left to do (a few loop iterations)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
