"""The websocket feed's per-message rules, without a network: what is emitted, dropped, counted,
and what forces a resync."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from core.domain import Instrument, Side
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed, ResyncNeeded
from gateways.marketdata.feed import FeedHealth


def _feed() -> BinanceWsFeed:
    btc = Instrument("BTCUSDT", Decimal("0.01"), Decimal("0.000001"))
    feed = BinanceWsFeed(BinanceWsConfig("http://x", "ws://x", btc))
    feed.apply_snapshot({"lastUpdateId": 100, "bids": [["100.00", "1.5"], ["99.99", "1"]],
                         "asks": [["100.02", "2"], ["100.03", "1"]]})
    feed.health = FeedHealth.LIVE
    return feed


def _depth(first: Any, final: Any, bids: list[list[str]] | None = None,
           asks: list[list[str]] | None = None) -> str:
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1_723_000_000_000, "s": "BTCUSDT", "U": first, "u": final,
        "b": bids if bids is not None else [["100.01", "0.5"]], "a": asks or []}})


def test_a_bridging_diff_is_applied_and_emitted() -> None:
    feed = _feed()
    event = feed.handle(_depth(95, 103))
    assert event is not None and [u.price for u in event.updates] == [10_001]
    assert feed.book.best_bid() == 10_001 and feed.last_update_id == 103
    assert feed.handle(_depth(104, 104, bids=[["100.01", "0"]])) is not None
    assert feed.book.best_bid() == 10_000


def test_diffs_already_in_the_snapshot_and_duplicates_are_dropped() -> None:
    feed = _feed()
    assert feed.handle(_depth(90, 100)) is None
    assert feed.handle(_depth(101, 105)) is not None
    assert feed.handle(_depth(101, 105)) is None
    assert feed.counters.duplicates == 2 and feed.counters.gaps == 0


@pytest.mark.parametrize("sequence", [[(101, 105), (107, 110)], [(103, 105)],
                                      [(101, 105), (111, 112), (106, 110)]])
def test_a_missing_or_reordered_diff_forces_a_resync(sequence: list[tuple[int, int]]) -> None:
    feed = _feed()
    with pytest.raises(ResyncNeeded):
        for first, final in sequence:
            feed.handle(_depth(first, final))
    assert feed.counters.gaps == 1


@pytest.mark.parametrize("bids, asks", [
    ([["100.02", "1"]], []),  # locked: bid at the ask
    ([["100.05", "1"]], []),  # crossed
    ([["100.005", "1"]], []),  # off the 0.01 grid
    ([["100.01", "-1"]], []),  # negative size
    ([], [["100.03", "0.0000001"]]),  # off the lot grid
])
def test_an_absurd_diff_is_not_emitted_and_forces_a_resync(
        bids: list[list[str]], asks: list[list[str]]) -> None:
    feed = _feed()
    with pytest.raises(ResyncNeeded):
        feed.handle(_depth(101, 105, bids=bids, asks=asks))
    assert feed.counters.invalid_book == 1 and feed.counters.malformed == 0


@pytest.mark.parametrize("text", [
    "{not json", "[1, 2]", '"text"', "null",
    '{"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1}}',
    _depth("101", "105"),  # ids as strings
    '{"stream": "btcusdt@trade", "data": {"e": "trade", "T": 1, "p": "1.00", "m": true}}',
    '{"stream": "btcusdt@trade", "data": {"e": "trade", "T": 1, "p": "x", "q": "1", "m": true}}',
    '{"stream": "btcusdt@bookTicker", "data": "nonsense"}',
    '{"stream": "x", "data": {"e": "kline"}}',
])
def test_malformed_messages_are_counted_and_leave_the_book_alone(text: str) -> None:
    feed = _feed()
    assert feed.handle(text) is None
    assert feed.counters.malformed == 1
    assert feed.book.depth(Side.BUY, 5) == [(10_000, 1_500_000), (9_999, 1_000_000)]
    assert feed.handle(_depth(101, 105)) is not None  # the sequence was not disturbed


def test_a_unreadable_level_in_a_sequenced_diff_forces_a_resync() -> None:
    feed = _feed()
    with pytest.raises(ResyncNeeded):
        feed.handle(_depth(101, 105, bids=[["100.01"]]))
    assert feed.counters.malformed == 1


def test_trades_are_emitted_with_the_aggressor() -> None:
    feed = _feed()
    event = feed.handle(json.dumps({"stream": "btcusdt@trade", "data": {
        "e": "trade", "E": 2, "T": 1_723_000_000_001, "p": "100.01", "q": "0.5", "m": True}}))
    assert event is not None and len(event.trades) == 1
    trade = event.trades[0]
    assert (trade.price, trade.qty, trade.aggressor) == (10_001, 500_000, Side.SELL)


def test_a_book_ticker_that_disagrees_at_the_same_update_id_forces_a_resync() -> None:
    feed = _feed()
    agree = {"u": 100, "s": "BTCUSDT", "b": "100.00", "B": "1", "a": "100.02", "A": "1"}
    assert feed.handle(json.dumps({"stream": "btcusdt@bookTicker", "data": agree})) is None
    later = dict(agree, u=150, b="100.01")  # the book has not reached it: not comparable
    assert feed.handle(json.dumps({"stream": "btcusdt@bookTicker", "data": later})) is None
    with pytest.raises(ResyncNeeded):
        feed.handle(json.dumps({"stream": "btcusdt@bookTicker", "data": dict(agree, b="99.99")}))
    assert feed.counters.invalid_book == 1
