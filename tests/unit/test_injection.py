"""Injected market events: their shapes in time, and a replay whose book and fills follow them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.depth_book import DepthBook
from core.domain import MarketData, NewOrder, OrdType, Side, TimeInForce
from sim.injection import (
    STUFFING_QTY,
    InjectedExchange,
    Injection,
    Scenario,
    scenario_at,
)
from sim.lobster import open_sample

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOG = DATA / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
NS = 1_000_000_000


def test_flash_crash_shape() -> None:
    crash = Scenario(Injection.FLASH_CRASH, 100 * NS)
    assert crash.at(99 * NS).changes_book is False
    half = crash.at(101 * NS)
    assert half.bid_shift == pytest.approx(-0.015) and half.bid_depth == pytest.approx(0.55)
    bottom = crash.at(102 * NS)
    assert bottom.ask_shift == pytest.approx(-0.03) and bottom.bid_depth == pytest.approx(0.1)
    assert crash.at(252 * NS).bid_shift == pytest.approx(-0.015)  # half recovered
    assert crash.at(402 * NS).changes_book is False
    assert crash.next_change_ns(100 * NS) == 100 * NS + 50_000_000
    assert crash.next_change_ns(500 * NS) is None


def test_drain_blowout_and_stuffing_shapes() -> None:
    drain = Scenario(Injection.LIQUIDITY_DRAIN, 0).at(60 * NS)
    assert (drain.bid_depth, drain.ask_depth, drain.bid_shift) == (pytest.approx(0.05),
                                                                   pytest.approx(0.05), 0.0)
    assert Scenario(Injection.LIQUIDITY_DRAIN, 0).next_change_ns(10 * NS) == int(120.25 * NS)
    blowout = Scenario(Injection.SPREAD_BLOWOUT, 0, spread_ratio=0.001).at(30 * NS)
    assert blowout.ask_shift - blowout.bid_shift == pytest.approx(0.009)  # 9 more spreads
    assert Scenario(Injection.QUOTE_STUFFING, 0).at(10 * NS).stuffing_per_s == 2_000.0
    assert Scenario(Injection.QUOTE_STUFFING, 0).at(31 * NS).stuffing_per_s == 0.0


@pytest.mark.skipif(not GOOG.exists(), reason="the LOBSTER sample is not in ../shared/data")
def test_a_crash_moves_the_book_and_fills_at_the_crashed_price() -> None:
    sample = open_sample(GOOG)
    onset = sample.midnight_ns() + 12 * 3600 * NS
    exchange = InjectedExchange(sample, "GOOG", scenario_at(sample, Injection.FLASH_CRASH,
                                                            onset),
                                start_ns=onset - 5 * NS, end_ns=onset + 3 * NS)
    book = DepthBook("GOOG")
    book.apply_market_data(exchange.snapshot())
    before = None
    while (next_ns := exchange.next_event_ns()) is not None:
        for event in exchange.step():
            if isinstance(event, MarketData):
                book.apply_market_data(event)
        if before is None and next_ns >= onset:
            before = book.best_bid()
        if next_ns >= onset + 2 * NS:
            break
    assert before is not None
    bid = book.best_bid()
    assert bid is not None and bid < before * 0.975  # down 3%, give or take the day's move
    exchange.send(NewOrder("S1", "P", "GOOG", Side.SELL, 10, bid, OrdType.LIMIT,
                           TimeInForce.IOC), exchange.now_ns)
    while not exchange.fills and exchange.next_event_ns() is not None:
        exchange.step()
    assert exchange.fills and exchange.fills[0].price <= bid


@pytest.mark.skipif(not GOOG.exists(), reason="the LOBSTER sample is not in ../shared/data")
def test_stuffed_quotes_net_to_nothing() -> None:
    sample = open_sample(GOOG)
    onset = sample.midnight_ns() + 12 * 3600 * NS
    exchange = InjectedExchange(sample, "GOOG", scenario_at(sample, Injection.QUOTE_STUFFING,
                                                            onset),
                                start_ns=onset - NS, end_ns=onset + NS // 2)
    plain = InjectedExchange(open_sample(GOOG), "GOOG", Scenario(Injection.NONE, onset),
                             start_ns=onset - NS, end_ns=onset + NS // 2)
    books, messages = [], 0
    for ex in (exchange, plain):
        book = DepthBook("GOOG")
        book.apply_market_data(ex.snapshot())
        while ex.next_event_ns() is not None:
            for event in ex.step():
                if isinstance(event, MarketData):
                    book.apply_market_data(event)
                    messages += ex is exchange
        books.append((book.depth(Side.BUY, 10), book.depth(Side.SELL, 10)))
    assert messages > 900  # 2,000 a second for half a second, and the recorded ones
    (stuffed_bids, stuffed_asks), (bids, asks) = books
    assert stuffed_asks == asks and stuffed_bids[1:] == bids[1:]
    # The window may end with a stuffed quote showing: then exactly its 100 shares more.
    assert stuffed_bids[0][1] - bids[0][1] in (0, STUFFING_QTY)
