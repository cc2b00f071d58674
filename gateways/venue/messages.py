"""The simulated venue's side of the wire: client requests in, reports and market data out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44

from core.domain import ExecType, Instrument, OrdStatus, OrdType, Side, TimeInForce
from gateways.fix.codec import (
    AVG_PX,
    CL_ORD_ID,
    CUM_QTY,
    CXL_REJ_REASON,
    CXL_REJ_RESPONSE_TO,
    EXEC_ID,
    EXEC_TYPE,
    LAST_PX,
    LAST_QTY,
    LEAVES_QTY,
    ORD_REJ_REASON,
    ORD_STATUS,
    ORD_TYPE,
    ORDER_ID,
    ORDER_QTY,
    ORIG_CL_ORD_ID,
    PRICE,
    SIDE,
    SOH,
    SYMBOL,
    TEXT,
    TIME_IN_FORCE,
    TRANSACT_TIME,
    FixParseError,
    format_utc,
    message_of_text,
    msg_type,
)
from gateways.fix.settings import data_dictionary
from gateways.marketdata.fix_md import (
    ACTION_CHANGE,
    ACTION_DELETE,
    ACTION_NEW,
    BID,
    MD_ENTRY_DATE,
    MD_ENTRY_PX,
    MD_ENTRY_SIZE,
    MD_ENTRY_TIME,
    MD_ENTRY_TYPE,
    MD_REQ_ID,
    MD_REQ_REJ_REASON,
    MD_UPDATE_ACTION,
    NO_MD_ENTRIES,
    OFFER,
    TRADE,
    format_entry_time,
)
from sim.matching import Fill


@dataclass(slots=True)
class OrderRequest:
    """A client's order message, validated and converted to ticks, waiting for the worker."""

    kind: str
    session_key: str  # SessionID.toString(); quickfix's SessionID objects are not kept
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    ord_type: OrdType
    tif: TimeInForce
    orig_cl_ord_id: str | None = None


@dataclass(slots=True)
class ClientOrder:
    """The venue's record of a client order."""

    order_id: str
    cl_ord_id: str
    session_key: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    ord_type: OrdType
    tif: TimeInForce
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    notional_ticks: int = 0
    orig_cl_ord_id: str | None = None


# Why the helpers below read and write messages as text: every call across quickfix's binding
# costs a few microseconds, and a report built field by field (~17 setField calls) or a request
# read field by field (~16 isSetField/getField calls) made the venue's order path several times
# slower than quickfix itself (docs/benchmarks.md). One call each way instead.


def _clean(value: str) -> str:
    """A value from outside the venue (a client's ClOrdID, a symbol, a reason's text) as a
    field value: it cannot carry the field separator. The venue's own values (numbers, codes,
    its OrderIDs and ExecIDs) cannot contain one."""
    return value.replace(SOH, " ")


def _whole_qty(raw: str | None) -> int:
    """OrderQty(38) as a positive whole number; raises :class:`FixParseError`. Digits alone
    (the usual form) are read without a Decimal; "100.0" is accepted too, as it always was."""
    if raw and raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        qty = Decimal(raw or "")
    except ArithmeticError as exc:
        raise FixParseError(f"OrderQty(38)={raw!r} is not a number") from exc
    if qty <= 0 or qty != qty.to_integral_value():
        raise FixParseError(f"OrderQty(38)={raw} must be a positive whole number")
    return int(qty)


def parse_order_request(kind: str, fields: dict[int, str], session_key: str,
                        instruments: dict[str, Instrument]) -> OrderRequest:
    """Validate a client message (its ``fields_of``); raises :class:`FixParseError` naming
    what is wrong."""
    _get = fields.get
    cl_ord_id = _get(CL_ORD_ID)
    if not cl_ord_id:
        raise FixParseError("ClOrdID(11) missing")
    symbol = _get(SYMBOL) or ""
    instrument = instruments.get(symbol)
    if instrument is None:
        raise FixParseError(f"unknown symbol {symbol!r}")
    try:
        side = Side.from_fix(_get(SIDE) or "")
    except ValueError as exc:
        raise FixParseError(str(exc)) from exc
    qty = 0 if kind == fix.MsgType_OrderStatusRequest else _whole_qty(_get(ORDER_QTY))
    ord_type_raw = _get(ORD_TYPE) or OrdType.LIMIT.value
    try:
        ord_type = OrdType(ord_type_raw)
    except ValueError as exc:
        raise FixParseError(f"OrdType(40)={ord_type_raw!r} not supported (1 market, 2 limit)") \
            from exc
    tif_raw = _get(TIME_IN_FORCE) or TimeInForce.DAY.value
    try:
        tif = TimeInForce(tif_raw)
    except ValueError as exc:
        raise FixParseError(f"TimeInForce(59)={tif_raw!r} not supported (0 day, 3 IOC)") from exc
    price = None
    price_raw = _get(PRICE)
    if price_raw is not None:
        try:
            price = instrument.to_ticks(price_raw)
        except ValueError as exc:
            raise FixParseError(f"Price(44): {exc}") from exc
        if price <= 0:
            raise FixParseError(f"Price(44)={price_raw} must be positive")
    if kind == fix.MsgType_NewOrderSingle and ord_type is OrdType.LIMIT and price is None:
        raise FixParseError("limit order without Price(44)")
    orig = _get(ORIG_CL_ORD_ID)
    if kind in (fix.MsgType_OrderCancelRequest, fix.MsgType_OrderCancelReplaceRequest) \
            and not orig:
        raise FixParseError("OrigClOrdID(41) missing")
    return OrderRequest(kind, session_key, cl_ord_id, symbol, side, qty, price, ord_type, tif,
                        orig)


def build_execution_report(order: ClientOrder, exec_id: str, exec_type: str,
                           last_qty: int | None, last_px: int | None,
                           instrument: Instrument | None, now_ns: int, text: str = "") \
        -> fix.Message:
    """An ExecutionReport of ``order`` as it stands, written as one text (one f-string; the
    field values that come from outside are cleaned): it is built twice per client order, on
    the path of the order acknowledgement, and a list of fields joined field by field took
    half of its time."""
    orig = ""
    if order.orig_cl_ord_id and exec_type in ("4", "5"):
        orig = f"{ORIG_CL_ORD_ID}={_clean(order.orig_cl_ord_id)}{SOH}"
    price = ""
    if order.price is not None and instrument is not None:
        price = f"{PRICE}={instrument.to_price(order.price)!s}{SOH}"
    leaves = 0 if order.status.is_terminal else max(order.qty - order.cum_qty, 0)
    avg_px = "0"
    if order.cum_qty and instrument is not None:
        avg = instrument.to_price(order.notional_ticks) / order.cum_qty
        avg_px = str(avg.quantize(Decimal("0.000001")))
    last = ""
    if last_qty is not None and last_px is not None and instrument is not None:
        last = f"{LAST_QTY}={last_qty}{SOH}{LAST_PX}={instrument.to_price(last_px)!s}{SOH}"
    note = f"{TEXT}={_clean(text)}{SOH}" if text else ""
    return message_of_text(fix.MsgType_ExecutionReport, (
        f"{ORDER_ID}={order.order_id}{SOH}{CL_ORD_ID}={_clean(order.cl_ord_id)}{SOH}{orig}"
        f"{EXEC_ID}={exec_id}{SOH}{EXEC_TYPE}={exec_type}{SOH}"
        f"{ORD_STATUS}={order.status.value}{SOH}{SYMBOL}={_clean(order.symbol)}{SOH}"
        f"{SIDE}={order.side.fix}{SOH}{ORDER_QTY}={order.qty}{SOH}"
        f"{ORD_TYPE}={order.ord_type.value}{SOH}{price}"
        f"{LEAVES_QTY}={leaves}{SOH}{CUM_QTY}={order.cum_qty}{SOH}{AVG_PX}={avg_px}{SOH}{last}"
        f"{TRANSACT_TIME}={format_utc(now_ns)}{SOH}{note}"))


def build_unknown_order_status(req: OrderRequest, exec_id: str, now_ns: int) -> fix.Message:
    """The FIX 4.4 answer to an OrderStatusRequest for an order the venue never received:
    an ExecutionReport with ExecType I (order status), OrdStatus 8 (rejected) and
    OrdRejReason 5 (unknown order). A client recovering from a crash learns from it that an
    order it had persisted never reached the venue."""
    unknown = ClientOrder("NONE", req.cl_ord_id, req.session_key, req.symbol, req.side, 0, None,
                          req.ord_type, req.tif, status=OrdStatus.REJECTED)
    message = build_execution_report(unknown, exec_id, "I", None, None, None, now_ns,
                                     "unknown order")
    message.setField(ORD_REJ_REASON, "5")
    return message


def build_cancel_reject(cl_ord_id: str, orig_cl_ord_id: str, request_kind: str, reason: str,
                        text: str) -> fix.Message:
    """OrderCancelReject; ``reason`` is CxlRejReason(102): 1 unknown order, 99 other."""
    message = fix44.OrderCancelReject()
    message.setField(ORDER_ID, "NONE")
    message.setField(CL_ORD_ID, cl_ord_id)
    message.setField(ORIG_CL_ORD_ID, orig_cl_ord_id)
    message.setField(ORD_STATUS, OrdStatus.REJECTED.value)
    message.setField(CXL_REJ_RESPONSE_TO,
                     "2" if request_kind == fix.MsgType_OrderCancelReplaceRequest else "1")
    message.setField(CXL_REJ_REASON, reason)
    message.setField(TEXT, text)
    return message


def build_md_reject(req_id: str, text: str) -> fix.Message:
    message = fix44.MarketDataRequestReject()
    message.setField(MD_REQ_ID, req_id)
    message.setField(MD_REQ_REJ_REASON, "0")  # unknown symbol
    message.setField(TEXT, text)
    return message


_FIX44: list[fix.DataDictionary] = []  # loaded on first use, once per process


def fix44_dictionary() -> fix.DataDictionary:
    """The FIX 4.4 data dictionary, loaded once per process: what parses a market-data message's
    entries as the repeating group they are."""
    if not _FIX44:
        _FIX44.append(fix.DataDictionary(str(data_dictionary("FIX.4.4"))))
    return _FIX44[0]


def _market_data(msg_type: str, body: str) -> fix.Message:
    """A snapshot or incremental refresh from its text, parsed with the FIX 4.4 dictionary (its
    entries are a repeating group). Why text: with the entries built as quickfix groups, a
    ``setField`` per field, an incremental refresh of four entries took 100 µs, this way 10 µs
    (``timeit``; docs/benchmarks.md has the command); the venue publishes one per
    book change, and the tick-to-wire bench builds its market with it.
    tests/unit/test_venue_messages.py checks that both ways give the same message."""
    return message_of_text(msg_type, body, fix44_dictionary())


def _entry(entry_type: str, price: int, qty: int, instrument: Instrument, stamp: str,
           symbol: str | None = None) -> str:
    """One entry's type, symbol (an incremental refresh names it per entry), price, size, date
    and time (``stamp``: the last two as text), in the dictionary's order."""
    named = f"{SYMBOL}={symbol}{SOH}" if symbol is not None else ""
    return (f"{MD_ENTRY_TYPE}={entry_type}{SOH}{named}{MD_ENTRY_PX}="
            f"{instrument.to_price(price)}{SOH}{MD_ENTRY_SIZE}={instrument.to_quantity(qty)}"
            f"{SOH}{stamp}")


def _stamp(now_ns: int) -> str:
    date, clock = format_entry_time(now_ns)
    return f"{MD_ENTRY_DATE}={date}{SOH}{MD_ENTRY_TIME}={clock}{SOH}"


def _entries(entries: list[str]) -> str:
    """NoMDEntries and the entries; nothing at all for none (as quickfix writes no count for
    a group with no entries)."""
    return f"{NO_MD_ENTRIES}={len(entries)}{SOH}{''.join(entries)}" if entries else ""


def build_snapshot(req_id: str, symbol: str, bids: list[tuple[int, int]],
                   asks: list[tuple[int, int]], instrument: Instrument, now_ns: int) \
        -> fix.Message:
    stamp = _stamp(now_ns)
    entries = [_entry(entry_type, price, qty, instrument, stamp)
               for entry_type, levels in ((BID, bids), (OFFER, asks)) for price, qty in levels]
    return _market_data(fix.MsgType_MarketDataSnapshotFullRefresh,
                        f"{SYMBOL}={_clean(symbol)}{SOH}{MD_REQ_ID}={_clean(req_id)}{SOH}"
                        f"{_entries(entries)}")


def build_incremental(req_id: str, symbol: str, changes: list[tuple[Side, int, int]],
                      fills: list[Fill], instrument: Instrument, now_ns: int) -> fix.Message:
    """Level changes (new total size; 0 deletes) and trades of one venue event."""
    stamp = _stamp(now_ns)
    symbol = _clean(symbol)
    entries = [f"{MD_UPDATE_ACTION}={ACTION_DELETE if qty == 0 else ACTION_CHANGE}{SOH}"
               + _entry(BID if side is Side.BUY else OFFER, price, qty, instrument, stamp, symbol)
               for side, price, qty in changes]
    entries += [f"{MD_UPDATE_ACTION}={ACTION_NEW}{SOH}"
                + _entry(TRADE, fill.price, fill.qty, instrument, stamp, symbol)
                for fill in fills]
    return _market_data(fix.MsgType_MarketDataIncrementalRefresh,
                        f"{MD_REQ_ID}={_clean(req_id)}{SOH}{_entries(entries)}")


EXEC_TRANS_TYPE = 20
_FILL_42 = {OrdStatus.FILLED.value: "2"}  # ExecType of a fill that completes the order


def as_fix42(message: fix.Message) -> fix.Message:
    """Rewrite a FIX 4.4 ExecutionReport built above into FIX 4.2's dialect, in place.

    Why here and not in every builder: the venue speaks 4.4 everywhere; a 4.2 session differs
    only in the ExecutionReport. 4.2 requires ExecTransType(20) (0 new, 3 status), reports a
    fill with ExecType 1 (partial) or 2 (filled) instead of F, and answers a status request
    with ExecTransType 3 and the order's status as its ExecType instead of ExecType I. Every
    other message the venue sends (cancel rejects, market data) reads the same in 4.2; quickfix
    writes the BeginString of the session it sends on.
    """
    if msg_type(message) != fix.MsgType_ExecutionReport:
        return message
    exec_type = message.getField(EXEC_TYPE)
    status = message.getField(ORD_STATUS)
    trans_type = "0"
    if exec_type == ExecType.TRADE.value:
        exec_type = _FILL_42.get(status, "1")
    elif exec_type == ExecType.ORDER_STATUS.value:
        trans_type, exec_type = "3", status
    message.setField(EXEC_TRANS_TYPE, trans_type)
    message.setField(EXEC_TYPE, exec_type)
    return message
