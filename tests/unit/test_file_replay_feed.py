"""File replay feeds from small hand-made LOBSTER samples and Binance captures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core.depth_book import DepthBook
from core.domain import BookUpdate, MarketData, Side, Trade
from gateways.marketdata.feed import FeedHealth
from gateways.marketdata.file_replay import FileReplayFeed
from sim.lobster import open_sample

NAME = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"
MIDNIGHT = int(dt.datetime(2012, 6, 21, tzinfo=dt.UTC).timestamp()) * 10**9
T0 = MIDNIGHT + 34_200 * 10**9


def _lobster(folder: Path) -> Path:
    messages = ["34200.0,1,11,100,5851200,1",  # bid 585.12 x100
                "34200.5,4,11,40,5851200,1",  # 40 of it executed: a sell hit the bid
                "34201.0,3,12,10,5851300,-1",  # ask 585.13 deleted
                "34203.0,7,0,0,-1,-1",  # halt: the book does not change
                "34205.0,1,13,7,5851100,1"]  # bid 585.11 x7
    books = ["5851300,10,5851200,100,5851400,5,-9999999999,0",
             "5851300,10,5851200,60,5851400,5,-9999999999,0",
             "5851400,5,5851200,60,9999999999,0,-9999999999,0",
             "5851400,5,5851200,60,9999999999,0,-9999999999,0",
             "5851400,5,5851200,60,9999999999,0,5851100,7"]
    (folder / NAME.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / NAME.format(kind="orderbook")).write_text("\n".join(books) + "\n")
    return folder


class FakeTime:
    """A monotonic clock that only moves when the feed sleeps."""

    def __init__(self) -> None:
        self.now = 5_000_000_000
        self.sleeps: list[float] = []

    def monotonic_ns(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += int(seconds * 1e9)


async def _all(feed: FileReplayFeed) -> list[MarketData]:
    return [message async for message in feed]


async def test_lobster_rows_become_a_snapshot_then_level_changes_and_trades(
        tmp_path: Path) -> None:
    feed = FileReplayFeed.lobster(open_sample(_lobster(tmp_path)), speed=0,
                                  utc_offset_hours=0)
    messages = await _all(feed)
    assert messages[0] == MarketData("AAA", T0, (
        BookUpdate("AAA", Side.BUY, 58_512, 100, T0),
        BookUpdate("AAA", Side.SELL, 58_513, 10, T0),
        BookUpdate("AAA", Side.SELL, 58_514, 5, T0)), snapshot=True)
    t1, t2, t5 = T0 + 500_000_000, T0 + 10**9, T0 + 5 * 10**9
    assert messages[1:] == [
        MarketData("AAA", t1, (BookUpdate("AAA", Side.BUY, 58_512, 60, t1),),
                   (Trade("AAA", 58_512, 40, Side.SELL, t1),)),
        MarketData("AAA", t2, (BookUpdate("AAA", Side.SELL, 58_513, 0, t2),)),
        MarketData("AAA", t5, (BookUpdate("AAA", Side.BUY, 58_511, 7, t5),)),
    ]
    book = DepthBook("AAA")
    for message in messages:
        book.apply_market_data(message)
    assert book.depth(Side.BUY, 5) == [(58_512, 60), (58_511, 7)]
    assert book.depth(Side.SELL, 5) == [(58_514, 5)]
    assert feed.health is FeedHealth.STOPPED
    assert feed.counters.messages == 4


@pytest.mark.parametrize("speed, expected", [(1.0, [0.5, 0.5, 4.0]), (2.0, [0.25, 0.25, 2.0]),
                                             (0.0, [])])
async def test_event_time_gaps_are_divided_by_speed(tmp_path: Path, speed: float,
                                                    expected: list[float]) -> None:
    fake = FakeTime()
    feed = FileReplayFeed.lobster(open_sample(_lobster(tmp_path)), speed=speed,
                                  utc_offset_hours=0, monotonic_ns=fake.monotonic_ns,
                                  sleep=fake.sleep)
    assert len(await _all(feed)) == 4
    assert fake.sleeps == pytest.approx(expected)


async def test_a_slow_consumer_catches_up_instead_of_drifting(tmp_path: Path) -> None:
    fake = FakeTime()
    feed = FileReplayFeed.lobster(open_sample(_lobster(tmp_path)), speed=1.0,
                                  utc_offset_hours=0, monotonic_ns=fake.monotonic_ns,
                                  sleep=fake.sleep)
    async for message in feed:
        if message.ts_ns == T0:
            fake.now += 2 * 10**9  # the consumer took 2 s over the first message
    # +0.5 s and +1 s were already past: no wait; +5 s was 3 s ahead.
    assert fake.sleeps == pytest.approx([3.0])


def test_negative_speed_is_refused() -> None:
    with pytest.raises(ValueError, match="speed"):
        FileReplayFeed("X", list, speed=-1)


def _snapshot(last_id: int, bid: str = "100.00") -> dict[str, object]:
    return {"lastUpdateId": last_id, "bids": [[bid, "1.5"]], "asks": [["100.02", "2"]]}


def _depth(first: int, final: int) -> dict[str, object]:
    return {"stream": "x@depth@100ms", "data": {"e": "depthUpdate", "E": 1_723_000_000_000,
                                                 "s": "BTCUSDT", "U": first, "u": final,
                                                 "b": [["100.01", "0.5"]], "a": []}}


async def test_binance_capture_replays_book_messages_and_reports_gaps(tmp_path: Path) -> None:
    ticker = {"u": 12, "s": "BTCUSDT", "b": "100.01", "B": "0.5", "a": "100.02", "A": "2"}
    payloads = [_snapshot(10), _depth(11, 12), ticker, _depth(15, 16), _snapshot(20, "99.99"),
                _depth(21, 22)]
    path = tmp_path / "capture.txt"
    path.write_text("".join(f"{1_000 + i} {json.dumps(p)}\n" for i, p in enumerate(payloads)))
    feed = FileReplayFeed.binance([path], speed=0)
    healths: list[FeedHealth] = []
    messages = []
    async for message in feed:
        messages.append(message)
        healths.append(feed.health)
    assert [m.snapshot for m in messages] == [True, False, True, False]
    assert feed.counters.gaps == 1 and feed.counters.resyncs == 1
    assert healths == [FeedHealth.LIVE] * 4
    book = DepthBook("BTCUSDT")
    for message in messages:
        book.apply_market_data(message)
    assert (book.best_bid(), book.best_ask()) == (10_001, 10_002)
    assert book.depth(Side.BUY, 5) == [(10_001, 500_000), (9_999, 1_500_000)]
