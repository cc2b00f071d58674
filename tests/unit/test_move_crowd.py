"""Moving the crowd's orders in the matching engine (``OrderBook.move_crowd``): the owners'
orders keep their prices, a moved order keeps its place in time, and an owner's order the moved
crowd crosses trades as the taker. The property test (test_matching_property.py) checks it
against the naive reference book as well."""

from __future__ import annotations

from core.domain import Side
from sim.matching import OrderBook


def _queue(book: OrderBook, side: Side, price: int) -> list[tuple[object, int]]:
    return [(order.order_id, order.qty) for order in book.queue(side, price)]


def test_moved_orders_keep_their_place_in_time_and_the_owners_their_prices() -> None:
    book = OrderBook("T")
    book.add_limit(1, Side.BUY, 100, 10, 0)  # crowd, before the client's order
    book.add_limit("c", Side.BUY, 101, 5, 0, owner="client")
    book.add_limit(2, Side.BUY, 100, 20, 0)  # crowd, after it
    book.add_limit(3, Side.SELL, 103, 30, 0)
    book.take_level_changes()
    assert book.move_crowd(1, 0) == []
    assert _queue(book, Side.BUY, 101) == [(1, 10), ("c", 5), (2, 20)]
    assert book.depth(Side.BUY, 5) == [(101, 35)]
    assert book.depth(Side.SELL, 5) == [(104, 30)]
    assert book.touches() == (101, 35, 2, 104, 30, 1)
    assert set(book.take_level_changes()) == {(Side.BUY, 100, 0), (Side.BUY, 101, 35),
                                              (Side.SELL, 103, 0), (Side.SELL, 104, 30)}
    assert book.add_market("m", Side.SELL, 12, 0)[1].maker_id == "c"  # after 1's 10 shares


def test_an_owners_order_the_moved_crowd_crosses_trades_as_the_taker() -> None:
    book = OrderBook("T")
    book.add_limit(1, Side.BUY, 100, 10, 0)
    book.add_limit(2, Side.BUY, 99, 10, 0)
    book.add_limit("ask", Side.SELL, 102, 25, 0, owner="client")
    book.add_limit(3, Side.SELL, 103, 10, 0)
    fills = book.move_crowd(3, 7)  # the crowd's bids to 103 and 102
    assert [(f.taker_id, f.taker_owner, f.maker_id, f.price, f.qty, f.ts_ns) for f in fills] == \
        [("ask", "client", 1, 103, 10, 7), ("ask", "client", 2, 102, 10, 7)]
    assert _queue(book, Side.SELL, 102) == [("ask", 5)]  # the rest stays, at its price
    assert book.quote() == (None, 102)
    assert book.depth(Side.SELL, 5) == [(102, 5), (106, 10)]


def test_moving_down_the_crowds_asks_cross_an_owners_bid() -> None:
    book = OrderBook("T")
    book.add_limit("bid", Side.BUY, 100, 5, 0, owner="client")
    book.add_limit(1, Side.SELL, 102, 10, 0)
    fills = book.move_crowd(-2, 0)
    assert [(f.taker_id, f.price, f.qty, f.maker_remaining) for f in fills] == \
        [("bid", 100, 5, 5)]
    assert book.get("bid") is None and _queue(book, Side.SELL, 100) == [(1, 5)]


def test_a_crowd_order_moved_below_one_tick_is_dropped() -> None:
    book = OrderBook("T")
    book.add_limit(1, Side.BUY, 2, 10, 0)
    book.add_limit(2, Side.SELL, 5, 10, 0)
    book.move_crowd(-2, 0)
    assert book.get(1) is None and len(book) == 1 and book.quote() == (None, 3)
