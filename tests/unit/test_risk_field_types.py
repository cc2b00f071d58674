"""An intent whose fields have the wrong types is denied as invalid, never raised on.

The check runs compiled (native-modules.txt), where a typed local refuses a value of another
type with TypeError; the interpreted check would compare a float quantity as if it were whole.
Either way, what reaches the overlay from a buggy policy or caller (a float, a NumPy integer, a
string, None) must come back as an ``invalid_order`` denial, counted, and leave the overlay as
it was: the next well-formed order is judged as if the bad one had never come.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import CancelOrder, NewOrder, ReplaceOrder, Side
from risk.verdict import DenyReason, Verdict
from tests.support.risk import SYMBOL, make_overlay, new

ANY_VALUE = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6), st.floats(allow_nan=True),
    st.text(max_size=5), st.none(), st.booleans(),
    st.integers(min_value=-2**31, max_value=2**31).map(np.int64),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
WELL_TYPED_QTY = st.integers(min_value=-10, max_value=2_000)
WELL_TYPED_PRICE = st.one_of(st.none(), st.integers(min_value=-10, max_value=60_000))


def well_typed(qty: object, price: object, symbol: object, cl_ord_id: object) -> bool:
    return (isinstance(qty, int) and (price is None or isinstance(price, int))
            and isinstance(symbol, str) and isinstance(cl_ord_id, str))


@settings(max_examples=400, deadline=None)
@given(qty=st.one_of(WELL_TYPED_QTY, ANY_VALUE), price=st.one_of(WELL_TYPED_PRICE, ANY_VALUE),
       symbol=st.one_of(st.just(SYMBOL), ANY_VALUE),
       cl_ord_id=st.one_of(st.just("BAD-1"), ANY_VALUE),
       side=st.one_of(st.sampled_from(Side), ANY_VALUE))
def test_new_order_fields_of_any_type_never_raise(qty, price, symbol, cl_ord_id, side) -> None:
    overlay = make_overlay()
    verdict = overlay.check(NewOrder(cl_ord_id, "P", symbol, side, qty, price), 1)
    assert isinstance(verdict, Verdict)
    if not well_typed(qty, price, symbol, cl_ord_id):
        assert not verdict.allowed and verdict.reason is DenyReason.INVALID_ORDER
        assert overlay.denials[DenyReason.INVALID_ORDER] == 1
        assert verdict.detail  # the message formats whatever the values
    follow_up = overlay.check(new(Side.BUY, 10, cl_ord_id="GOOD-1"), 2)
    assert follow_up.allowed or follow_up.reason is not DenyReason.INVALID_ORDER


@settings(max_examples=200, deadline=None)
@given(qty=ANY_VALUE, price=ANY_VALUE, orig=ANY_VALUE)
def test_replace_with_fields_of_any_type_never_raises(qty, price, orig) -> None:
    overlay = make_overlay()
    order = new(Side.BUY, 10)
    assert overlay.check(order, 1).allowed
    verdict = overlay.check(ReplaceOrder("R-1", orig, "P", SYMBOL, Side.BUY, qty, price), 2)
    assert isinstance(verdict, Verdict) and not verdict.allowed
    if not (isinstance(qty, int) and isinstance(price, (int, type(None)))
            and isinstance(orig, str)):
        assert verdict.reason is DenyReason.INVALID_ORDER
    assert overlay.open_orders() == {order.cl_ord_id: (SYMBOL, Side.BUY, 10)}


@settings(max_examples=100, deadline=None)
@given(cl_ord_id=ANY_VALUE, orig=ANY_VALUE)
def test_a_malformed_cancel_still_passes(cl_ord_id, orig) -> None:
    overlay = make_overlay()
    verdict = overlay.check(CancelOrder(cl_ord_id, orig, "P", SYMBOL, Side.BUY, 10), 1)
    assert verdict.allowed
