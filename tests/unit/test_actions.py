"""Desired working state to intents: only the difference is ever sent."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import (
    BookUpdate,
    CancelOrder,
    ChildOrder,
    NewOrder,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from models.actions import WAIT, Action, ActionKind, horizon_action, translate


def _book(bid: int = 58000, ask: int = 58002) -> DepthBook:
    book = DepthBook("GOOG")
    book.apply(BookUpdate("GOOG", Side.BUY, bid, 500, 1))
    book.apply(BookUpdate("GOOG", Side.SELL, ask, 400, 1))
    return book


def _parent(qty: int = 1000, side: Side = Side.SELL, limit: int | None = None) -> ParentOrder:
    return ParentOrder("P", "GOOG", side, qty, 0, 10**12, "test", limit)


def _ids():  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    return lambda: f"C{next(counter)}"


def _resting(price: int, qty: int, cum: int = 0, status: OrdStatus = OrdStatus.NEW) -> ChildOrder:
    return ChildOrder("R1", "P", "GOOG", Side.SELL, qty, price, OrdType.LIMIT, TimeInForce.DAY,
                      status, cum)


def test_rest_near_sends_one_new_order_at_the_near_touch() -> None:
    intents = translate(Action(ActionKind.REST_NEAR, 100), _parent(), _book(), [], _ids())
    assert intents == [NewOrder("C1", "P", "GOOG", Side.SELL, 100, 58002)]


def test_same_desired_state_sends_nothing() -> None:
    working = [_resting(58002, 100)]
    assert translate(Action(ActionKind.REST_NEAR, 100), _parent(), _book(), working, _ids()) == []


def test_price_change_becomes_a_replace_with_total_quantity() -> None:
    working = [_resting(58003, 100, cum=30, status=OrdStatus.PARTIALLY_FILLED)]
    intents = translate(Action(ActionKind.REST_NEAR, 50), _parent(), _book(), working, _ids())
    assert intents == [ReplaceOrder("C1", "R1", "P", "GOOG", Side.SELL, 80, 58002)]


def test_same_price_is_only_ever_reduced() -> None:
    working = [_resting(58002, 100)]
    assert translate(Action(ActionKind.REST_NEAR, 300), _parent(), _book(), working, _ids()) == []
    smaller = translate(Action(ActionKind.REST_NEAR, 40), _parent(), _book(), working, _ids())
    assert smaller == [ReplaceOrder("C1", "R1", "P", "GOOG", Side.SELL, 40, 58002)]


def test_rest_inside_improves_by_one_tick_when_the_spread_allows() -> None:
    intents = translate(Action(ActionKind.REST_INSIDE, 10), _parent(), _book(), [], _ids())
    assert intents[0].price == 58001  # type: ignore[union-attr]
    one_tick = translate(Action(ActionKind.REST_INSIDE, 10), _parent(), _book(58000, 58001),
                         [], _ids())
    assert one_tick[0].price == 58001  # type: ignore[union-attr]


def test_cross_cancels_what_rests_before_taking() -> None:
    working = [_resting(58002, 100)]
    intents = translate(Action(ActionKind.CROSS, 200), _parent(), _book(), working, _ids())
    assert intents == [CancelOrder("C1", "R1", "P", "GOOG", Side.SELL, 100)]
    assert translate(Action(ActionKind.CROSS, 200), _parent(), _book(), [], _ids()) == [
        NewOrder("C1", "P", "GOOG", Side.SELL, 200, 58000, OrdType.LIMIT, TimeInForce.IOC)]


def test_no_second_ioc_while_one_is_in_flight() -> None:
    ioc = ChildOrder("I1", "P", "GOOG", Side.SELL, 100, 58000, OrdType.LIMIT, TimeInForce.IOC)
    assert translate(Action(ActionKind.CROSS, 100), _parent(), _book(), [ioc], _ids()) == []


def test_wait_cancels_what_rests() -> None:
    intents = translate(WAIT, _parent(), _book(), [_resting(58002, 100)], _ids())
    assert intents == [CancelOrder("C1", "R1", "P", "GOOG", Side.SELL, 100)]


def test_nothing_is_sent_while_a_cancel_or_replace_is_pending() -> None:
    pending = _resting(58003, 100)
    pending.pending_cl_ord_id = "X"
    assert translate(Action(ActionKind.REST_NEAR, 100), _parent(), _book(), [pending],
                     _ids()) == []


def test_quantity_never_exceeds_what_the_parent_still_needs() -> None:
    parent = _parent(qty=1000)
    parent.filled = 950
    intents = translate(Action(ActionKind.CROSS, 500), parent, _book(), [], _ids())
    assert intents[0].qty == 50


def test_limit_price_is_respected() -> None:
    parent = _parent(limit=58001)  # sell no lower than 580.01
    assert translate(Action(ActionKind.CROSS, 100), parent, _book(), [], _ids()) == []
    rest = translate(Action(ActionKind.REST_NEAR, 100), parent, _book(), [], _ids())
    assert rest[0].price == 58002  # type: ignore[union-attr]


def test_a_replace_that_would_outgrow_the_order_cap_cancels_instead() -> None:
    """The replace's quantity is the new total, filled included: 80 filled plus 50 to rest is
    130, over a cap of 100, so the order is cancelled; the next tick rests 50 anew."""
    working = [_resting(58003, 100, cum=80, status=OrdStatus.PARTIALLY_FILLED)]
    capped = translate(Action(ActionKind.REST_NEAR, 50), _parent(), _book(), working, _ids(),
                       lambda _price: 100)
    assert capped == [CancelOrder("C1", "R1", "P", "GOOG", Side.SELL, 100)]
    uncapped = translate(Action(ActionKind.REST_NEAR, 50), _parent(), _book(), working, _ids())
    assert uncapped == [ReplaceOrder("C1", "R1", "P", "GOOG", Side.SELL, 130, 58002)]
    assert translate(Action(ActionKind.REST_NEAR, 50), _parent(), _book(), [], _ids(),
                     lambda _price: 100) == [NewOrder("C1", "P", "GOOG", Side.SELL, 50, 58002)]


def test_new_orders_are_cut_to_the_order_cap_at_their_price() -> None:
    prices: list[int] = []

    def cap(price: int) -> int:
        prices.append(price)
        return 120

    rest = translate(Action(ActionKind.REST_NEAR, 300), _parent(), _book(), [], _ids(), cap)
    cross = translate(Action(ActionKind.CROSS, 300), _parent(), _book(), [], _ids(), cap)
    assert rest == [NewOrder("C1", "P", "GOOG", Side.SELL, 120, 58002)]
    assert cross == [NewOrder("C1", "P", "GOOG", Side.SELL, 120, 58000, OrdType.LIMIT,
                              TimeInForce.IOC)]
    assert prices == [58002, 58000]


def test_horizon_forces_the_remainder_through_the_book() -> None:
    parent = _parent(qty=1000)
    parent.filled = 300
    assert horizon_action(parent, parent.end_ns - 1) is None
    assert horizon_action(parent, parent.end_ns) == Action(ActionKind.CROSS, 700)


_ORDERS = st.builds(
    lambda n, price, qty, cum, ioc, pending: _child(n, price, qty, cum, ioc, pending),
    st.integers(0, 10**6), st.integers(57990, 58010), st.integers(1, 500), st.integers(0, 500),
    st.booleans(), st.booleans())


def _child(n: int, price: int, qty: int, cum: int, ioc: bool, pending: bool) -> ChildOrder:
    cum = min(cum, qty - 1)
    order = ChildOrder(f"W{n}", "P", "GOOG", Side.SELL, qty, price, OrdType.LIMIT,
                       TimeInForce.IOC if ioc else TimeInForce.DAY,
                       OrdStatus.PARTIALLY_FILLED if cum else OrdStatus.NEW, cum)
    order.pending_cl_ord_id = "X" if pending else None
    return order


@given(st.sampled_from(list(ActionKind)), st.integers(0, 3000), st.integers(0, 2000),
       st.lists(_ORDERS, max_size=4, unique_by=lambda o: o.cl_ord_id),
       st.integers(57995, 58005), st.integers(1, 5), st.none() | st.integers(0, 1000))
def test_translate_can_never_overfill_the_parent(kind: ActionKind, qty: int, filled: int,
                                                  working: list[ChildOrder], bid: int,
                                                  spread: int, cap: int | None) -> None:
    """Nor, given an order cap, send an order or a replace larger than it."""
    parent = _parent(qty=2000)
    parent.filled = filled
    working_leaves = sum(o.leaves_qty for o in working)
    if working_leaves > parent.remaining:
        return  # an already overcommitted start is not a state translate can reach
    intents = translate(Action(kind, qty), parent, _book(bid, bid + spread), working, _ids(),
                        None if cap is None else lambda _price: cap)
    if cap is not None:
        assert all(i.qty <= cap for i in intents if isinstance(i, NewOrder | ReplaceOrder))
    by_id = {o.cl_ord_id: o for o in working}
    added = 0
    for intent in intents:
        if isinstance(intent, NewOrder):
            added += intent.qty
        elif isinstance(intent, ReplaceOrder):
            old = by_id[intent.orig_cl_ord_id]
            added += max(0, intent.qty - old.cum_qty - old.leaves_qty)
    assert working_leaves + added <= parent.remaining
    cancels = any(isinstance(i, CancelOrder) for i in intents)
    assert not (cancels and added), "a tick that cancels must not add"
