"""The floors' NewOrderSingle: built with quickfix as it comes, a message and a ``setField`` per
field.

Why the benches keep it: a floor is what quickfix costs used plainly (the round-trip goal's "a
bare quickfix ping-pong"; the tick-to-wire goal's "building a NewOrderSingle with quickfix").
The service writes its order messages as one text (``encode_intent``), which is its own work to
be measured against this, not a change to the floor. The bytes sent are the same
(tests/unit/test_fix_codec.py).
"""

from __future__ import annotations

import quickfix as fix

from core.domain import Instrument, NewOrder, OrdType
from gateways.fix.codec import (
    CL_ORD_ID,
    HANDL_INST,
    MSG_TYPE,
    ORD_TYPE,
    ORDER_QTY,
    PRICE,
    SIDE,
    SYMBOL,
    TIME_IN_FORCE,
    TRANSACT_TIME,
    format_utc,
)


def plain_new_order_single(order: NewOrder, instrument: Instrument, now_ns: int) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(MSG_TYPE, fix.MsgType_NewOrderSingle)
    message.setField(HANDL_INST, "1")
    message.setField(ORD_TYPE, order.ord_type.value)
    message.setField(TIME_IN_FORCE, order.tif.value)
    if order.ord_type is OrdType.LIMIT:
        assert order.price is not None, "a limit order needs a price"
        message.setField(PRICE, str(instrument.to_price(order.price)))
    message.setField(CL_ORD_ID, order.cl_ord_id)
    message.setField(SYMBOL, order.symbol)
    message.setField(SIDE, order.side.fix)
    message.setField(ORDER_QTY, str(order.qty))
    message.setField(TRANSACT_TIME, format_utc(now_ns))
    return message
