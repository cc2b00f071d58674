"""Stylised facts: the same measurements on a hand-made event stream and a hand-made LOBSTER day."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from sim.flow import FlowParams
from sim.lobster import open_sample
from sim.stylised import FactsRecorder, flow_facts, lobster_facts

S = 10**9


def test_spread_is_time_weighted_and_the_response_is_read_10_s_later() -> None:
    recorder = FactsRecorder()
    recorder.record(0, "limit", None, 10, 0, (100, 110), (101, 110))  # spread 9 for 1 s
    recorder.record(1 * S, "cancel", 0, 10, 0, (101, 110), (101, 112))  # 11 for 2 s
    recorder.record(3 * S, "market", 0, 60, 1, (101, 112), (101, 115))  # 14 for 9 s
    recorder.record(12 * S, "limit", None, 10, 0, (101, 115), (103, 115))  # 12 for 2 s
    recorder.record(14 * S, "limit", 2, 10, 0, (103, 115), (103, 115))
    facts = recorder.summary()
    assert facts["seconds"] == 14
    assert facts["spread_share"] == {"9": pytest.approx(1 / 14), "11": pytest.approx(2 / 14),
                                     "12": pytest.approx(2 / 14), "14": pytest.approx(9 / 14)}
    assert facts["spread_mean"] == pytest.approx((9 + 22 + 126 + 24) / 14)
    assert facts["rates_per_s"]["limit"]["inside"] == pytest.approx(2 / 14)
    assert facts["rates_per_s"]["limit"]["3"] == pytest.approx(1 / 14)
    assert facts["rates_per_s"]["cancel"]["1"] == pytest.approx(1 / 14)
    assert facts["rates_per_s"]["market"]["1"] == pytest.approx(1 / 14)
    # A 60-share buy: the mid went 106.5 -> 108 at once, and was 109 ten seconds later.
    assert facts["response_now"]["51-100"] == pytest.approx(1.5)
    assert facts["response_10s"]["51-100"] == pytest.approx(2.5)
    assert facts["market_orders"] == {"1-50": 0, "51-100": 1, "101-200": 0, "201-500": 0,
                                      ">500": 0}
    # The mid on the 1-s grid: 105.5 (t=0, 1), 106.5 (2, 3), 108 (4-12), 109 (13, 14).
    changes = [0, 1, 0, 1.5] + [0] * 8 + [1, 0]
    assert facts["mid_change_std"]["1s"] == pytest.approx(statistics.stdev(changes))
    assert facts["mid_change_std"]["60s"] is None  # too short for two changes


STEM = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"
BOOK = "1010000,100,1000000,100,1011000,200,999000,200"


def test_lobster_executions_at_one_instant_are_one_market_order(tmp_path: Path) -> None:
    messages = [
        "34200,1,1,100,1000000,1",      # the starting book: not an event here
        "34201,1,2,100,999000,1",       # a bid at the second level
        "34202,4,8,30,1010000,-1",      # one market buy of 80 sweeping two asks ...
        "34202,4,9,50,1010000,-1",      # ... in one instant
        "34203,5,0,40,1005000,1",       # a hidden execution: not a visible event
        "34204,3,2,100,999000,1",       # a delete at the second level
    ]
    (tmp_path / STEM.format(kind="message")).write_text("\n".join(messages) + "\n")
    (tmp_path / STEM.format(kind="orderbook")).write_text("\n".join([BOOK] * 6) + "\n")
    facts = lobster_facts(open_sample(tmp_path))
    assert facts["seconds"] == 3
    rates = facts["rates_per_s"]
    assert rates["limit"]["2"] == rates["cancel"]["2"] == rates["market"]["1"] == \
        pytest.approx(1 / 3)
    assert sum(sum(by_level.values()) for by_level in rates.values()) == pytest.approx(1.0)
    assert facts["market_orders"]["51-100"] == 1
    assert facts["response_now"]["51-100"] == 0.0  # the book row never changed
    assert facts["spread_mean"] == pytest.approx(100)


def test_the_simulated_side_counts_each_kind_of_event() -> None:
    facts = flow_facts(FlowParams(start_price=10_000), seed=3, seconds=120)
    rates = facts["rates_per_s"]
    assert facts["seconds"] == pytest.approx(120, abs=1)
    for kind in ("limit", "cancel", "market"):
        assert sum(rates[kind].values()) > 0
    assert sum(rates["market"].values()) == rates["market"]["1"]  # markets hit the touch
    assert rates["cancel"]["inside"] == 0.0  # nothing rests inside the spread
