"""The conflating queue: bounded depth, and the same books as without conflation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import BookUpdate, MarketData, Side, Trade
from gateways.marketdata.conflation import ConflatingQueue, merge, pump

SYMBOLS = ("AAA", "BBB", "CCC")


@st.composite
def messages(draw: st.DrawFn) -> list[MarketData]:
    out = []
    ts = 0
    for _ in range(draw(st.integers(0, 40))):
        ts += draw(st.integers(0, 3))
        symbol = draw(st.sampled_from(SYMBOLS))
        updates = tuple(
            BookUpdate(symbol, side, price, qty, ts) for side, price, qty in draw(st.lists(
                st.tuples(st.sampled_from(Side), st.integers(95, 105), st.integers(0, 5)),
                max_size=6)))
        trades = tuple(Trade(symbol, price, qty, None, ts) for price, qty in draw(st.lists(
            st.tuples(st.integers(95, 105), st.integers(1, 9)), max_size=2)))
        out.append(MarketData(symbol, ts, updates, trades, draw(st.booleans())
                              if draw(st.integers(0, 9)) == 0 else False))
    return out


def _books(stream: list[MarketData]) -> dict[str, tuple[object, ...]]:
    books = {s: DepthBook(s) for s in SYMBOLS}
    trades: dict[str, list[Trade]] = {s: [] for s in SYMBOLS}
    for message in stream:
        books[message.symbol].apply_market_data(message)
        trades[message.symbol].extend(message.trades)
    return {s: (b.depth(Side.BUY, 50), b.depth(Side.SELL, 50), b.last_trade_price,
                b.last_update_ns, trades[s]) for s, b in books.items()}


@settings(max_examples=120, deadline=None)
@given(messages(), st.integers(1, 5), st.lists(st.integers(0, 4), max_size=80))
def test_conflated_messages_build_the_same_books(stream: list[MarketData], max_depth: int,
                                                 drains: list[int]) -> None:
    """Whatever the interleaving of puts and gets, the engine's books (and every trade, in
    order per symbol) are as if nothing had been conflated, and the depth stays bounded."""
    queue = ConflatingQueue(max_depth)
    out: list[MarketData] = []
    pattern = iter(drains)
    for i, message in enumerate(stream):
        queue.put(message, i)
        assert queue.depth <= max_depth + len(SYMBOLS)
        for _ in range(next(pattern, 0)):
            if queue.depth:
                out.append(queue.get_nowait()[0])
    while queue.depth:
        out.append(queue.get_nowait()[0])
    assert _books(out) == _books(stream)
    assert len(out) + queue.conflated == len(stream)


def test_a_burst_is_conflated_to_one_message_per_symbol() -> None:
    queue = ConflatingQueue(max_depth=2)
    for i in range(1_000):
        symbol = SYMBOLS[i % 3]
        queue.put(MarketData(symbol, i, (BookUpdate(symbol, Side.BUY, 100 + i % 7, i, i),)), i)
    assert queue.depth <= 2 + len(SYMBOLS)
    assert queue.conflated == 1_000 - queue.depth
    first, received = queue.get_nowait()
    assert received == 0  # the merged entry keeps its first receipt time
    assert first.symbol == "AAA" and len(first.updates) == 7  # one update per level, latest
    book = DepthBook("AAA")
    book.apply_market_data(first)
    for level in range(7):  # each level holds the size of the last AAA message that set it
        latest = max(i for i in range(0, 1_000, 3) if i % 7 == level)
        assert book.qty_at(Side.BUY, 100 + level) == latest


def test_consecutive_messages_of_one_symbol_merge_even_below_the_bound() -> None:
    queue = ConflatingQueue(max_depth=10)
    queue.put(MarketData("AAA", 1, trades=(Trade("AAA", 100, 1, Side.BUY, 1),)), 1)
    queue.put(MarketData("AAA", 2, trades=(Trade("AAA", 101, 2, Side.SELL, 2),)), 2)
    queue.put(MarketData("BBB", 3), 3)
    queue.put(MarketData("AAA", 4), 4)
    assert queue.depth == 3 and queue.conflated == 1
    message, received = queue.get_nowait()
    assert [t.price for t in message.trades] == [100, 101] and received == 1


def test_a_snapshot_replaces_what_was_waiting() -> None:
    old = MarketData("AAA", 1, (BookUpdate("AAA", Side.BUY, 99, 5, 1),),
                     (Trade("AAA", 99, 1, None, 1),))
    snap = MarketData("AAA", 2, (BookUpdate("AAA", Side.SELL, 101, 3, 2),), snapshot=True)
    merged = merge(old, snap)
    assert merged.snapshot and merged.updates == snap.updates and merged.trades == old.trades
    with pytest.raises(ValueError, match="cannot merge"):
        merge(old, MarketData("BBB", 3))


async def test_get_waits_for_a_message_and_pump_feeds_the_queue() -> None:
    queue = ConflatingQueue(max_depth=4)

    async def feed() -> AsyncIterator[MarketData]:
        for i in range(3):
            yield MarketData(SYMBOLS[i], i)

    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    ticks = iter(range(100, 200))
    await pump(feed(), queue, lambda: next(ticks))
    assert await waiter == (MarketData("AAA", 0), 100)
    assert [queue.get_nowait()[1] for _ in range(2)] == [101, 102]
    with pytest.raises(ValueError):
        ConflatingQueue(0)
