"""The venue's LOBSTER replay with the clients' transient impact (gateways/venue/impact_flow.py)
on a cut of the GOOG day: zero impact is the plain replay exactly, clients in the way; a
client's buy that takes liquidity raises the later book by the propagator's shift, which
decays, more for a larger order; a client's order the moved book crosses trades as the taker.

The clients' orders are placed as the venue places them (``OrderBook.add_limit`` /
``add_market`` with an owner), and a marketable one is reported to the flow as the venue
reports it (``client_traded`` with its fills' total)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Side
from gateways.venue.impact_flow import ImpactReplayFlow
from gateways.venue.replay_flow import LobsterReplayFlow, open_replay
from sim.impact_fit import load_impact_params
from sim.matching import Fill, OrderBook
from sim.propagator import ImpactParams

ROOT = Path(__file__).resolve().parents[2]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
CALIBRATED = load_impact_params(ROOT / "sim" / "params" / "GOOG_2012-06-21.json")
TICK = Decimal("0.01")
START_NS = 10**18
pytestmark = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")


def _plain() -> tuple[LobsterReplayFlow, OrderBook]:
    flow, book = LobsterReplayFlow(open_replay("GOOG", GOOG), TICK), OrderBook("GOOG")
    flow.seed_book(book, START_NS)
    return flow, book


def _moved(impact: ImpactParams) -> tuple[ImpactReplayFlow, OrderBook]:
    flow, book = ImpactReplayFlow(open_replay("GOOG", GOOG), TICK, impact), OrderBook("GOOG")
    flow.seed_book(book, START_NS)
    return flow, book


def _client_order(flow: LobsterReplayFlow, book: OrderBook, k: int) -> list[Fill]:
    """The k-th client order of a script that takes, rests, improves and cancels, placed as
    the venue places it; its fills, and those of the move its impact makes."""
    bid, ask = book.quote()
    assert bid is not None and ask is not None
    ts_ns = flow.next_time_ns()
    order_id, owner = f"c{k}", f"client{k % 2}"
    kind = k % 4
    if kind == 0:
        fills = book.add_limit(order_id, Side.BUY, ask, 60, ts_ns, owner=owner, ioc=True)
    elif kind == 1:
        fills = book.add_market(order_id, Side.SELL, 40, ts_ns, owner=owner)
    elif kind == 2:
        fills = book.add_limit(order_id, Side.SELL, ask - 1 if ask - bid > 1 else ask + 2, 50,
                               ts_ns, owner=owner)
    else:
        book.cancel(f"c{k - 1}")
        fills = book.add_limit(order_id, Side.BUY, bid, 30, ts_ns, owner=owner)
    side = Side.SELL if kind in (1, 2) else Side.BUY
    if isinstance(flow, ImpactReplayFlow) and fills:
        fills = fills + flow.client_traded(book, side, sum(f.qty for f in fills), ts_ns)
    return fills


def _published(flow: LobsterReplayFlow, book: OrderBook, messages: int) -> list[object]:
    """What the venue would publish, message by message: the fills and the level changes,
    with a client order every 250 messages."""
    out: list[object] = []
    for i in range(messages):
        fills = _client_order(flow, book, i // 250) if i % 250 == 0 else []
        fills += flow.apply_next(book)
        out.append(([(f.price, f.qty, f.maker_id, f.taker_id, f.maker_owner, f.taker_owner,
                      f.maker_remaining, f.ts_ns) for f in fills], book.take_level_changes()))
    return out


def test_zero_impact_is_the_plain_venue_replay_exactly() -> None:
    plain = _published(*_plain(), 20_000)
    moved_flow, moved_book = _moved(ImpactParams.none())
    assert _published(moved_flow, moved_book, 20_000) == plain
    assert moved_flow.shift == 0
    # The clients traded all along (80 orders), as makers and as takers.
    assert sum(1 for fills, _ in plain for fill in fills if fill[4]) > 10
    assert sum(1 for fills, _ in plain for fill in fills if fill[5]) > 30


def _bids(book: OrderBook, shift: int = 0) -> list[tuple[int, int]]:
    return [(price + shift, qty) for price, qty in book.depth(Side.BUY, 10)]


def _after_a_buy(qty: int, seconds: float) -> list[int]:
    """The shift at every message for ``seconds`` after a client's market buy of ``qty``
    (after 2,000 messages), checking the moved book's bids (the buy took asks) against the
    plain replay's, raised by that shift."""
    plain_flow, plain_book = _plain()
    flow, book = _moved(CALIBRATED)
    for _ in range(2_000):
        plain_flow.apply_next(plain_book)
        flow.apply_next(book)
    ts_ns = flow.next_time_ns()
    taken = sum(f.qty for f in book.add_market("buy", Side.BUY, qty, ts_ns, owner="client"))
    assert taken == qty
    assert flow.client_traded(book, Side.BUY, qty, ts_ns) == []  # no client order in the way
    shifts = [flow.shift]
    assert _bids(book) == _bids(plain_book, flow.shift)
    while flow.next_time_ns() < ts_ns + seconds * 1e9:
        plain_flow.apply_next(plain_book)
        flow.apply_next(book)
        assert flow.shift == flow.propagator.shift_ticks(flow.next_time_ns()) or \
            flow.shift == shifts[-1]  # evaluated at the message just applied
        assert _bids(book) == _bids(plain_book, flow.shift)
        shifts.append(flow.shift)
    return shifts


def test_a_clients_buy_raises_the_later_book_by_the_propagators_shift_which_decays() -> None:
    shifts = _after_a_buy(91, 70.0)
    # 4.70 ticks just after an order of 91 shares (the reference size), decaying as
    # (1 + t / 5.28 s)^-0.12: 4.5 ticks (rounded to 4) after 2.4 s, 3.5 (to 3) after 57 s.
    assert round(CALIBRATED.kernel(91, 0)) == shifts[0] == 5
    assert shifts == sorted(shifts, reverse=True) and shifts[-1] == 3
    assert set(shifts) == {5, 4, 3}


def test_a_larger_order_moves_the_book_more() -> None:
    small, large = _after_a_buy(91, 1.0), _after_a_buy(4 * 91, 1.0)
    assert large[0] == round(CALIBRATED.kernel(4 * 91, 0)) == 9 > small[0]


def test_a_clients_resting_order_the_moved_book_crosses_trades_as_the_taker() -> None:
    flow, book = _moved(CALIBRATED)
    for _ in range(2_000):
        flow.apply_next(book)
    bid, ask = book.quote()
    assert bid is not None and ask is not None
    ts_ns = flow.next_time_ns()
    book.add_limit("resting", Side.SELL, bid + 4, 500, ts_ns, owner="other")
    best_ask = book.best_ask()
    assert best_ask is not None
    taken = sum(f.qty for f in book.add_limit("buy", Side.BUY, best_ask, 91, ts_ns,
                                              owner="client", ioc=True))
    fills = flow.client_traded(book, Side.BUY, taken, ts_ns)
    shift = flow.shift
    assert shift >= 5  # the crowd's best bid is now bid + shift, above the resting ask
    assert fills and all(f.taker_id == "resting" and f.taker_owner == "other" and
                         f.maker_owner is None and f.price >= bid + 4 for f in fills)
    assert fills[0].price == bid + shift
    best_bid = book.best_bid()
    assert best_bid is not None and best_bid < bid + 4  # uncrossed
