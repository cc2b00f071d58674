"""Domain objects to FIX messages and back.

Prices cross the wire as exact decimal strings built from integer ticks (never through a binary
float), and quantities as exact decimals built from integer lots (``Instrument.to_quantity``:
with lots of 1, the count itself, so an equity's messages are what they always were). Parsing
is strict: anything missing or malformed raises :class:`FixParseError` with the tag and what
was wrong, so the gateway can count and log it without ever letting an exception reach
quickfix.
"""

from __future__ import annotations

import calendar
import datetime
import time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

import quickfix as fix

from core.domain import (
    CancelOrder,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    UnreadableReport,
)

# Tags used by name, so the code reads as the spec sheet does.
CL_ORD_ID, ORIG_CL_ORD_ID, ORDER_ID, EXEC_ID = 11, 41, 37, 17
SYMBOL, SIDE, ORDER_QTY, PRICE, ORD_TYPE, TIME_IN_FORCE, TRANSACT_TIME = 55, 54, 38, 44, 40, 59, 60
EXEC_TYPE, ORD_STATUS, CUM_QTY, LEAVES_QTY, LAST_QTY, LAST_PX, AVG_PX = 150, 39, 14, 151, 32, 31, 6
TEXT, CXL_REJ_REASON, CXL_REJ_RESPONSE_TO, HANDL_INST, POSS_DUP, MSG_TYPE = 58, 102, 434, 21, 43, 35
ORD_REJ_REASON, SENDING_TIME, EXEC_REF_ID, EXEC_TRANS_TYPE = 103, 52, 19, 20
SOH = "\x01"  # the field separator
# FIX 4.2 says with ExecTransType(20) what 4.4 says with an ExecType: 1 cancels a trade,
# 2 corrects one, 3 answers a status request (whose ExecType then restates the order's status).
_EXEC_TRANS_TYPES_42 = {"1": ExecType.TRADE_CANCEL, "2": ExecType.TRADE_CORRECT,
                        "3": ExecType.ORDER_STATUS}


class FixParseError(ValueError):
    """An inbound FIX message that cannot be turned into a domain object."""


# The whole-second part of the last timestamp formatted, as (epoch second, text): messages come
# many to a second, and gmtime + strftime was most of the formatting's cost. One tuple,
# replaced whole, so threads formatting at once read either the old pair or the new one.
_last_second: tuple[int, str] = (-1, "")
_EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()


def format_utc(ts_ns: int) -> str:
    """FIX UTCTimestamp with microseconds: YYYYMMDD-HH:MM:SS.ffffff."""
    global _last_second
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    cached_seconds, text = _last_second
    if cached_seconds != seconds:
        text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return f"{text}.{nanos // 1000:06d}"


def parse_utc(value: str) -> int:
    """Inverse of :func:`format_utc`; accepts 0 to 9 fractional digits."""
    try:
        main, _, frac = value.partition(".")
        seconds = _utc_seconds(main)
        if frac and not frac.isdigit():
            raise ValueError(frac)
        nanos = int((frac + "000000000")[:9]) if frac else 0
    except ValueError as exc:
        raise FixParseError(f"bad UTCTimestamp {value!r}") from exc
    return seconds * 1_000_000_000 + nanos


def _utc_seconds(main: str) -> int:
    """Epoch seconds of YYYYMMDD-HH:MM:SS; raises ValueError. The fixed-width form (what
    every counterparty sends) is read by slicing: ``time.strptime`` cost ~10 µs, a fifth of
    decoding an ExecutionReport. Anything else is left to ``strptime``, which accepts what it
    always did (fields of one digit, digits of other scripts) and rejects the rest."""
    if len(main) == 17 and main[8] == "-" and main[11] == ":" and main[14] == ":":
        digits = main[:8] + main[9:11] + main[12:14] + main[15:]
        if digits.isascii() and digits.isdigit():
            hour, minute, second = int(main[9:11]), int(main[12:14]), int(main[15:])
            if hour < 24 and minute < 60 and second < 62:  # strptime's ranges (leap seconds)
                # date() rejects what strptime does: month 0 or 13, 31 April, 29 February 2026
                day = datetime.date(int(main[:4]), int(main[4:6]), int(main[6:8])).toordinal()
                return (day - _EPOCH_DAY) * 86_400 + hour * 3_600 + minute * 60 + second
    return calendar.timegm(time.strptime(main, "%Y%m%d-%H:%M:%S"))


def _header(msg_type: str) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(MSG_TYPE, msg_type)
    return message


def message_of_text(msg_type: str, body: str,
                    dictionary: fix.DataDictionary | None = None) -> fix.Message:
    """A message from its body as text (``tag=value`` fields, each ended by the separator), in
    one call into quickfix instead of a ``setField`` per field. quickfix writes the header of
    the session it is sent on (the BeginString here is replaced, the CompIDs, MsgSeqNum and
    SendingTime added) and computes BodyLength and CheckSum when it sends; it keeps the body's
    fields in tag order whichever way they were added, so the bytes on the wire are the same.
    A body with a repeating group needs the ``dictionary`` that defines it: without one,
    quickfix files every field by its tag, and the group's entries come apart."""
    text = f"8=FIX.4.4{SOH}9=0{SOH}35={msg_type}{SOH}{body}10=000{SOH}"
    if dictionary is None:
        return fix.Message(text, False)
    return fix.Message(text, dictionary, False)


def _field_value(value: str, name: str) -> str:
    """``value`` as it may go into a message written as text: a value holding the separator
    would split into fields of its own, and an empty one would not parse."""
    if not value or SOH in value:
        raise ValueError(f"{name} {value!r} cannot be sent: empty, or holds the FIX separator")
    return value


def encode_intent(intent: OrderIntent, instrument: Instrument, now_ns: int) -> fix.Message:
    """The FIX message for ``intent``: NewOrderSingle, OrderCancelRequest or cancel/replace.

    Written as one text (``message_of_text``): this is on the tick's way to the wire, and a
    NewOrderSingle built with a ``setField`` per field cost 11.1 µs against 4.1 µs this way
    (``python -m timeit``, hot; docs/benchmarks.md has the command);
    tests/unit/test_fix_codec.py checks that the two give the same message. Raises
    ``ValueError`` for a ClOrdID, OrigClOrdID or symbol that is empty or holds the separator
    (``FixOrderGateway.send`` then refuses the intent)."""
    cl_ord_id = _field_value(intent.cl_ord_id, "ClOrdID")
    # Lots of 1 (an equity) go out as the count itself, without a call on the tick's path.
    qty = intent.qty if instrument.whole_lots else instrument.to_quantity(intent.qty)
    tail = (f"{SIDE}={intent.side.fix}{SOH}{SYMBOL}={_field_value(intent.symbol, 'Symbol')}"
            f"{SOH}{TRANSACT_TIME}={format_utc(now_ns)}{SOH}")
    if isinstance(intent, NewOrder):
        price = ""
        if intent.ord_type is OrdType.LIMIT:
            assert intent.price is not None, "a limit order needs a price"
            price = f"{PRICE}={instrument.to_price(intent.price)}{SOH}"
        return message_of_text(fix.MsgType_NewOrderSingle, (
            f"{CL_ORD_ID}={cl_ord_id}{SOH}{HANDL_INST}=1{SOH}"
            f"{ORDER_QTY}={qty}{SOH}"
            f"{ORD_TYPE}={intent.ord_type.value}{SOH}{price}{tail}"
            f"{TIME_IN_FORCE}={intent.tif.value}{SOH}"))
    orig = _field_value(intent.orig_cl_ord_id, "OrigClOrdID")
    if isinstance(intent, ReplaceOrder):
        return message_of_text(fix.MsgType_OrderCancelReplaceRequest, (
            f"{CL_ORD_ID}={cl_ord_id}{SOH}{HANDL_INST}=1{SOH}"
            f"{ORDER_QTY}={qty}{SOH}"
            f"{ORD_TYPE}={OrdType.LIMIT.value}{SOH}{ORIG_CL_ORD_ID}={orig}{SOH}"
            f"{PRICE}={instrument.to_price(intent.price)}{SOH}{tail}"))
    assert isinstance(intent, CancelOrder)
    return message_of_text(fix.MsgType_OrderCancelRequest, (
        f"{CL_ORD_ID}={cl_ord_id}{SOH}{ORDER_QTY}={qty}{SOH}"
        f"{ORIG_CL_ORD_ID}={orig}{SOH}{tail}"))


def encode_status_request(order: ChildOrder) -> fix.Message:
    """OrderStatusRequest (35=H) for ``order`` under the ClOrdID the venue knows it by."""
    message = _header(fix.MsgType_OrderStatusRequest)
    message.setField(CL_ORD_ID, order.cl_ord_id)
    if order.order_id:
        message.setField(ORDER_ID, order.order_id)
    message.setField(SYMBOL, order.symbol)
    message.setField(SIDE, order.side.fix)
    return message


def fields_of(message: fix.Message) -> dict[int, str]:
    """Every tag of ``message`` (header, body, trailer) with its value, in one call into
    quickfix. Why: each ``isSetField``/``getField`` is a call across the binding (a few
    microseconds each, and a chance for another thread to take the interpreter lock); reading
    an ExecutionReport field by field took ~35 of them. A tag that occurs more than once (only
    inside repeating groups) keeps its last value: read only tags that occur once. A data
    field (RawData and the like) may hold the separator itself: its pieces that do not start
    with a tag number are skipped, so this never raises (the venue calls it before any guard)."""
    return fields_of_text(message.toString())


def fields_of_text(text: str) -> dict[int, str]:
    """:func:`fields_of` for a message as text (as quickfix's log sees it)."""
    return {int(tag): value for tag, _, value in
            (item.partition("=") for item in text.split(SOH) if item)
            if tag.isascii() and tag.isdigit() and len(tag) < 10}


# How much of an unreadable report is kept (the journal's entry): a report is a few hundred
# characters; a counterparty's junk may be megabytes.
MAX_RAW_KEPT = 4_096


def unreadable_report(raw: str, reason: str) -> UnreadableReport:
    """What can be picked out of an execution report that cannot be read: its ClOrdID,
    OrigClOrdID and symbol when they are there, to find its order by."""
    fields = fields_of_text(raw)
    return UnreadableReport(raw[:MAX_RAW_KEPT], reason, fields.get(CL_ORD_ID) or None,
                            fields.get(ORIG_CL_ORD_ID) or None, fields.get(SYMBOL) or None)


def _required(fields: dict[int, str], tag: int) -> str:
    value = fields.get(tag)
    if not value:
        raise FixParseError(f"required tag {tag} missing or empty")
    return value


# Above this many digits before the point, a quantity or a price is not a number any market
# trades in (and converting it would cost time): the report is unreadable.
_MOST_DIGITS = 15


def _lots(value: str, tag: int, instrument: Instrument) -> int:
    """A quantity of the wire in the instrument's lots; whole lots of 1 as :func:`_int`."""
    if instrument.whole_lots:
        return _int(value, tag)
    try:
        lots = instrument.to_lots(value)
    except ValueError as exc:
        raise FixParseError(f"tag {tag}: {exc}") from exc
    except ArithmeticError as exc:  # beyond Decimal's precision: 1e30 lots
        raise FixParseError(f"tag {tag}={value!r} is out of range") from exc
    if lots < 0:
        raise FixParseError(f"tag {tag}={value!r} is not a non-negative quantity")
    return lots


def _int(value: str, tag: int) -> int:
    if value.isascii() and value.isdigit() and len(value) <= _MOST_DIGITS:  # the usual form
        return int(value)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise FixParseError(f"tag {tag}={value!r} is not a number") from exc
    if not number.is_finite() or number.adjusted() >= _MOST_DIGITS or \
            number != number.to_integral_value() or number < 0:
        raise FixParseError(f"tag {tag}={value!r} is not a non-negative whole quantity")
    return int(number)


def _decimal(raw: str, tag: int) -> Decimal:
    """A finite decimal of at most _MOST_DIGITS digits before the point; else unreadable."""
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise FixParseError(f"tag {tag}={raw!r} is not a number") from exc
    if not value.is_finite() or value.adjusted() >= _MOST_DIGITS:
        raise FixParseError(f"tag {tag}={raw!r} is not a price")
    return value


_E = TypeVar("_E", bound=Enum)


def _enum(enum_type: type[_E], value: str, tag: int) -> _E:
    try:
        return enum_type(value)
    except ValueError as exc:
        raise FixParseError(f"tag {tag}={value!r} is not a valid {enum_type.__name__}") from exc


def decode_execution_report(message: fix.Message, instruments: dict[str, Instrument]) \
        -> ExecutionReport:
    """Parse an ExecutionReport (35=8); raises :class:`FixParseError`."""
    fields = fields_of(message)
    symbol = _required(fields, SYMBOL)
    instrument = instruments.get(symbol)
    if instrument is None:
        raise FixParseError(f"execution report for unconfigured symbol {symbol!r}")
    try:
        side = Side.from_fix(_required(fields, SIDE))
    except ValueError as exc:
        raise FixParseError(str(exc)) from exc
    exec_type = _enum(ExecType, _required(fields, EXEC_TYPE), EXEC_TYPE)
    trans_type = fields.get(EXEC_TRANS_TYPE)
    if trans_type in _EXEC_TRANS_TYPES_42:
        exec_type = _EXEC_TRANS_TYPES_42[trans_type]
    ord_status = _enum(OrdStatus, _required(fields, ORD_STATUS), ORD_STATUS)
    last_qty_raw = fields.get(LAST_QTY)
    last_qty = _lots(last_qty_raw, LAST_QTY, instrument) if last_qty_raw is not None else 0
    last_px, last_px_text = _last_px(fields.get(LAST_PX), last_qty, instrument)
    avg_px_ticks = _avg_px(fields.get(AVG_PX), instrument)
    if exec_type.is_fill and last_px is None and not last_px_text and avg_px_ticks is None:
        # Without LastPx the fill is priced from AvgPx (core/fill_rules.py); without either,
        # nothing says at what price it traded.
        raise FixParseError(f"fill without a LastPx({LAST_PX}) or an AvgPx({AVG_PX})")
    if exec_type is ExecType.TRADE_CORRECT and last_qty > 0 and last_px is None:
        raise FixParseError(f"trade correction without a LastPx({LAST_PX}) on the tick grid")
    exec_ref_id = fields.get(EXEC_REF_ID)
    if exec_type in (ExecType.TRADE_CANCEL, ExecType.TRADE_CORRECT) and not exec_ref_id:
        raise FixParseError(f"{exec_type.name} without the ExecRefID({EXEC_REF_ID}) it amends")
    transact = fields.get(TRANSACT_TIME)
    poss_dup = fields.get(POSS_DUP) == "Y"  # a header field
    return ExecutionReport(
        cl_ord_id=_required(fields, CL_ORD_ID),
        exec_id=_required(fields, EXEC_ID),
        exec_type=exec_type,
        ord_status=ord_status,
        symbol=symbol,
        side=side,
        cum_qty=_lots(_required(fields, CUM_QTY), CUM_QTY, instrument),
        leaves_qty=_lots(fields.get(LEAVES_QTY) or "0", LEAVES_QTY, instrument),
        last_qty=last_qty,
        last_px=last_px,
        order_id=fields.get(ORDER_ID),
        orig_cl_ord_id=fields.get(ORIG_CL_ORD_ID),
        text=fields.get(TEXT) or "",
        ts_ns=parse_utc(transact) if transact else 0,
        poss_dup=poss_dup,
        avg_px_ticks=avg_px_ticks,
        exec_ref_id=exec_ref_id,
        last_px_text=last_px_text,
    )


def _last_px(raw: str | None, last_qty: int, instrument: Instrument) -> tuple[int | None, str]:
    """LastPx(31) of a report with ``last_qty``: (ticks, "") on the grid, (None, the text) for a
    number off it (kept as the venue wrote it, to be flagged rather than rounded), (None, "")
    when absent or when nothing traded. Not a number at all: :class:`FixParseError`."""
    if raw is None or last_qty <= 0:
        return None, ""
    value = _decimal(raw, LAST_PX)
    try:
        return instrument.to_ticks(value), ""
    except ValueError:
        return None, raw


def _avg_px(raw: str | None, instrument: Instrument) -> float | None:
    """AvgPx(6) in ticks (fractional: an average need not sit on the grid); None when absent."""
    if raw is None:
        return None
    avg_px = _decimal(raw, AVG_PX)
    if avg_px < 0:
        raise FixParseError(f"tag {AVG_PX}={raw!r} is not a price")
    return float(avg_px / instrument.tick_size)


def decode_cancel_reject(message: fix.Message) -> CancelReject:
    """Parse an OrderCancelReject (35=9)."""
    fields = fields_of(message)
    status_raw = fields.get(ORD_STATUS)
    return CancelReject(
        cl_ord_id=_required(fields, CL_ORD_ID),
        orig_cl_ord_id=_required(fields, ORIG_CL_ORD_ID),
        ord_status=_enum(OrdStatus, status_raw, ORD_STATUS) if status_raw else None,
        reason=fields.get(CXL_REJ_REASON) or "",
        text=fields.get(TEXT) or "",
    )


def msg_type(message: fix.Message) -> str:
    return message.getHeader().getField(MSG_TYPE)
