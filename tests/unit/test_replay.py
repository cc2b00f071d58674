"""Replay with interaction: queue position, fills from recorded executions, taking liquidity."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from core.domain import Side
from sim.lobster import open_sample
from sim.replay import AgentFill, ReplayMarket

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
STEM = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"

# At $101.00 (10,100 ticks) two orders rested before the file began: #5 (40) and #6 (60).
ROWS_AND_MESSAGES = [
    ("34200.0,1,4,50,1000000,1", "1010000,100,1000000,100,1020000,200,990000,50"),
    ("34200.1,3,5,40,1010000,-1", "1010000,60,1000000,100,1020000,200,990000,50"),
    ("34200.2,1,7,50,1010000,-1", "1010000,110,1000000,100,1020000,200,990000,50"),
    ("34200.3,4,6,45,1010000,-1", "1010000,65,1000000,100,1020000,200,990000,50"),
    ("34200.4,4,6,15,1010000,-1", "1010000,50,1000000,100,1020000,200,990000,50"),
    ("34200.5,4,7,20,1010000,-1", "1010000,30,1000000,100,1020000,200,990000,50"),
]


def _market(tmp_path: Path) -> ReplayMarket:
    (tmp_path / STEM.format(kind="message")).write_text(
        "\n".join(m for m, _ in ROWS_AND_MESSAGES) + "\n")
    (tmp_path / STEM.format(kind="orderbook")).write_text(
        "\n".join(r for _, r in ROWS_AND_MESSAGES) + "\n")
    return ReplayMarket(open_sample(tmp_path))


def test_resting_order_moves_up_the_queue_and_fills_when_executions_reach_it(
        tmp_path: Path) -> None:
    market = _market(tmp_path)
    order_id, fills = market.submit(Side.SELL, 30, 10_100)  # behind all 100 shares there
    assert fills == [] and market.working()[0].ahead == 100
    aheads, all_fills = [], []
    for _message, step_fills in market.events():
        all_fills += step_fills
        aheads.append(market.working()[0].ahead if market.working() else None)
    # #5 cancelled (ahead), #7 joins and is behind us, #6 executed in two parts, then the
    # execution of #7 (behind us) would have hit us first: 20 of our 30 fill.
    assert aheads == [60, 60, 15, 0, 0]
    assert all_fills == [AgentFill(order_id, 10_100, 20, all_fills[0].ts_ns, passive=True)]
    assert market.working()[0].leaves == 10


def test_an_order_priced_better_than_an_execution_is_hit_first(tmp_path: Path) -> None:
    """Price priority: a sell inside the recorded spread has nothing ahead of it, so the buyer
    who traded at the recorded ask would have met it first; one at the ask keeps its queue."""
    market = _market(tmp_path)
    inside, _ = market.submit(Side.SELL, 30, 10_050)
    at_ask, _ = market.submit(Side.SELL, 40, 10_100)  # behind 100 recorded shares
    fills = [fill for _message, step_fills in market.events() for fill in step_fills]
    # #6's first 45 shares: 30 to the order inside; the queue recorded ahead of the order at
    # the ask (60 once #5 left) is worked off by #6, and #7, which queued behind it, fills it.
    assert [(f.order_id, f.price, f.qty, f.passive) for f in fills] == [
        (inside, 10_050, 30, True), (at_ask, 10_100, 20, True)]
    assert [(o.order_id, o.leaves, o.ahead) for o in market.working()] == [(at_ask, 20, 0)]


def test_marketable_orders_walk_the_book_and_cannot_take_the_same_shares_twice(
        tmp_path: Path) -> None:
    market = _market(tmp_path)
    _, fills = market.submit(Side.BUY, 150)
    assert [(f.price, f.qty, f.passive) for f in fills] == [(10_100, 100, False),
                                                            (10_200, 50, False)]
    _, again = market.submit(Side.BUY, 100, 10_100, ioc=True)
    assert again == []  # the 100 displayed at $101.00 are already ours
    market.step()  # the level shows 60 now: less than we consumed, so nothing is visible
    assert market.submit(Side.BUY, 10, 10_100, ioc=True)[1] == []


def test_bad_agent_orders_are_refused(tmp_path: Path) -> None:
    market = _market(tmp_path)
    with pytest.raises(ValueError, match="positive"):
        market.submit(Side.BUY, 0, 10_100)
    assert market.cancel(999) == 0


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
def test_goog_replay_is_deterministic_and_never_overfills() -> None:
    def run() -> list[AgentFill]:
        market = ReplayMarket(open_sample(GOOG))
        fills: list[AgentFill] = []
        submitted = 0
        for n, (_message, step_fills) in enumerate(itertools.islice(market.events(), 30_000)):
            fills += step_fills
            if n % 3_000 == 0 and market.best(Side.SELL) is not None:
                fills += market.submit(Side.SELL, 100, market.best(Side.SELL))[1]
                submitted += 100
        assert sum(f.qty for f in fills) <= submitted
        return fills

    first = run()
    assert first == run()
    assert any(f.passive for f in first)
