"""Replay with impact on the GOOG day: zero impact is today's replay, exactly; a buy raises the
replayed prices, a larger one more, and the shift decays with event time."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from core.domain import Side
from sim.impact_replay import ImpactReplayMarket
from sim.lobster import open_sample
from sim.propagator import ImpactParams
from sim.replay import ReplayMarket
from sim.replay_exchange import ReplayExchange

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
pytestmark = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")

IMPACT = ImpactParams(g0_ticks=4.0, size_exponent=0.5, reference_qty=100.0, decay_s=5.0,
                      decay_exponent=0.5)
START_MESSAGE = 60_000


def _start_ns() -> int:
    return next(itertools.islice(open_sample(GOOG).messages(), START_MESSAGE, None)).ts_ns


def _agent_run(market: ReplayMarket, steps: int) -> list[object]:
    """A busy agent: every 50 events a marketable order alternately bought and sold, a resting
    order at the touch, and a replace or cancel of the oldest resting one; what it saw."""
    seen: list[object] = []
    for k in range(steps):
        stepped = market.step()
        if stepped is None:
            break
        seen.append(stepped)
        if k % 50 == 0:
            side = Side.BUY if k % 100 == 0 else Side.SELL
            seen.append(market.submit(side, 40))
            best = market.best(side)
            if best is not None:
                seen.append(market.submit(side, 30, best))
            working = market.working()
            if working and k % 150 == 0:
                seen.append(market.cancel(working[0].order_id))
            elif working:
                seen.append(market.replace(working[0].order_id, 10, working[0].price))
        seen.append((market.levels(Side.BUY), market.levels(Side.SELL), market.view(Side.BUY),
                     market.view(Side.SELL), [(o.order_id, o.leaves, o.ahead)
                                              for o in market.working()]))
    return seen


def test_zero_impact_is_the_recorded_replay_exactly() -> None:
    start = _start_ns()
    plain = _agent_run(ReplayMarket(open_sample(GOOG), start), 8_000)
    impacted = _agent_run(ImpactReplayMarket(open_sample(GOOG), ImpactParams.none(), start),
                          8_000)
    assert len(plain) > 8_000
    fills = [f for item in plain if isinstance(item, tuple) and len(item) == 2
             and isinstance(item[1], list) for f in item[1]]
    assert any(f.passive for f in fills) and any(not f.passive for f in fills)
    assert impacted == plain


def test_the_exchange_with_no_impact_sends_the_same_stream() -> None:
    start = _start_ns()
    plain = ReplayExchange(open_sample(GOOG), "GOOG", start_ns=start)
    none = ReplayExchange(open_sample(GOOG), "GOOG", start_ns=start,
                          impact=ImpactParams.none())
    assert type(none.market) is ReplayMarket
    for _ in range(3_000):
        assert none.step() == plain.step()


def _after_buy(qty: int, impact: ImpactParams = IMPACT) -> tuple[ImpactReplayMarket, int, int]:
    """A market with a buy of ``qty`` just taken; its best ask before and the shift after."""
    market = ImpactReplayMarket(open_sample(GOOG), impact, _start_ns())
    ask = market.best(Side.SELL)
    assert ask is not None
    market.submit(Side.BUY, qty)
    return market, ask, market.shift


def test_a_buy_raises_every_replayed_price_and_a_larger_one_more() -> None:
    market, _, shift = _after_buy(100)
    assert shift == 4
    raw, book = market.raw, market.book
    assert [p for p, _ in book.asks] == [p + 4 for p, _ in raw.asks]
    assert [p for p, _ in book.bids] == [p + 4 for p, _ in raw.bids]
    assert market.best(Side.BUY) == raw.bids[0][0] + 4
    shifts = [_after_buy(qty)[2] for qty in (25, 100, 400, 1_600)]
    assert shifts == sorted(shifts) and shifts[0] < shifts[-1]
    seller = ImpactReplayMarket(open_sample(GOOG), IMPACT, _start_ns())
    seller.submit(Side.SELL, 100)
    assert seller.shift == -4


def test_the_shift_decays_with_event_time_and_the_recorded_prints_move_with_it() -> None:
    market, _, shift = _after_buy(400)
    bought_ns = market.now_ns
    shifts, printed = [shift], []
    while (stepped := market.step()) is not None and market.now_ns < bought_ns + 600 * 10**9:
        message, _ = stepped
        shifts.append(market.shift)
        raw_price = message.price - market.shift
        printed.append((message.price, raw_price, market.shift))
    assert shifts == sorted(shifts, reverse=True)
    assert shifts[-1] < shifts[0] / 2
    assert all(price == raw + s for price, raw, s in printed)


def test_the_agent_matches_against_the_shifted_book() -> None:
    market, _, shift = _after_buy(400)
    assert shift > 0
    best_ask = min(market.view(Side.SELL))  # what the buy left of the shifted asks
    assert best_ask > market.raw.asks[0][0]
    _, fills = market.submit(Side.BUY, 1, best_ask - 1)  # below the shifted ask: rests
    assert fills == []
    _, fills = market.submit(Side.BUY, 1, best_ask)
    assert [f.price for f in fills] == [best_ask]


def test_orders_in_a_row_walk_down_the_shifted_book_and_never_take_the_same_shares_twice(
) -> None:
    market = ImpactReplayMarket(open_sample(GOOG), IMPACT, _start_ns())
    prices, taken, value = [], 0, 0
    for _ in range(10):  # at the same instant, as a sweep of market orders is sent
        _, fills = market.submit(Side.SELL, 100)
        taken += sum(f.qty for f in fills)
        value += sum(f.qty * f.price for f in fills)
        prices += [f.price for f in fills]
    assert taken == 1_000  # behind the shown levels, the hidden ones
    assert prices == sorted(prices, reverse=True)
    assert prices[-1] < prices[0] - 10  # each sell pushes the bids down before the next
    plain = ReplayMarket(open_sample(GOOG), _start_ns())
    _, fills = plain.submit(Side.SELL, taken)
    assert sum(f.qty for f in fills) == taken
    assert value < sum(f.qty * f.price for f in fills)  # the same sale without impact


def test_a_resting_order_keeps_its_price_and_its_queue_is_what_the_shifted_book_shows() -> None:
    market = ImpactReplayMarket(open_sample(GOOG), IMPACT, _start_ns())
    bid = market.best(Side.BUY)
    assert bid is not None
    order_id, _ = market.submit(Side.BUY, 10, bid)
    market.submit(Side.BUY, 1_600)  # pushes the book up; our bid is now deeper
    order = market.order(order_id)
    assert order is not None and order.price == bid
    assert order.ahead <= market.view(Side.BUY).get(bid, 0)


def test_an_exchange_with_impact_shows_the_shifted_book() -> None:
    start = _start_ns()
    exchange = ReplayExchange(open_sample(GOOG), "GOOG", start_ns=start, impact=IMPACT)
    assert isinstance(exchange.market, ImpactReplayMarket)
    before = exchange.market.best(Side.SELL)
    assert before is not None
    exchange.market.submit(Side.BUY, 100)
    exchange.step()
    snapshot = exchange.snapshot()
    asks = [u.price for u in snapshot.updates if u.side is Side.SELL]
    assert min(asks) >= before + 1
