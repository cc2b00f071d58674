"""The simulated venue's LOBSTER replay (gateways/venue/replay_flow.py): with no client in the
way the replayed book follows the recorded one; a client's order meets the recorded flow."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Side
from gateways.venue.replay_flow import lobster_flow
from sim.lobster import LobsterFormatError, open_sample
from sim.matching import OrderBook

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOG = SHARED / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
TICK = Decimal("0.01")
pytestmark = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")
MESSAGES = 5_000


def test_with_no_client_the_replayed_book_follows_the_recording() -> None:
    flow = lobster_flow("GOOG", GOOG, TICK)
    book = OrderBook("GOOG")
    flow.seed_book(book, 1_000)
    rows = open_sample(GOOG).book_rows(TICK)
    first = next(rows)
    assert (book.depth(Side.BUY, 10), book.depth(Side.SELL, 10)) == \
        (list(first.bids), list(first.asks))
    matching, last_ns = 0, 0
    for _, row in zip(range(MESSAGES), rows, strict=False):
        assert flow.next_time_ns() >= last_ns  # recorded spacing, never backwards
        last_ns = flow.next_time_ns()
        flow.apply_next(book)
        matching += (book.depth(Side.BUY, 5), book.depth(Side.SELL, 5)) == \
            (list(row.bids[:5]), list(row.asks[:5]))
    # Measured: all of the first 5,000 rows; 97.6% of the first 50,000.
    assert matching >= 0.95 * MESSAGES


def test_a_clients_order_inside_the_spread_is_hit_by_the_recorded_flow() -> None:
    flow = lobster_flow("GOOG", GOOG, TICK)
    book = OrderBook("GOOG")
    flow.seed_book(book, 0)
    best_bid = book.best_bid()
    assert best_bid is not None
    book.add_limit("client-1", Side.BUY, best_bid + 1, 100, 0, owner="client")
    client_fills = []
    for _ in range(MESSAGES):
        client_fills += [f for f in flow.apply_next(book) if f.maker_owner == "client"]
        if client_fills:
            break
    assert client_fills and client_fills[0].price == best_bid + 1


def test_a_sample_of_another_symbol_is_refused() -> None:
    with pytest.raises(LobsterFormatError, match="records GOOG, not AAPL"):
        lobster_flow("AAPL", GOOG, TICK)
