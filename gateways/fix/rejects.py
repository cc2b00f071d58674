"""Tie a venue's Reject (35=3) or BusinessMessageReject (35=j) back to the order it refused.

Why: a venue that refuses one of our order messages at the session or business level sends no
ExecutionReport and no OrderCancelReject. Without this, a refused NewOrderSingle would stay
PendingNew for ever (and hold its share of the risk limits), and a refused cancel or replace
would stay "in flight", so the engine would never touch the order again. The gateway therefore
turns such a reject into the domain event the rest of the service already understands: a
rejected ExecutionReport for a NewOrderSingle, an OrderCancelReject for a cancel or replace.

How the reject names the message: a session Reject carries RefSeqNum(45), the MsgSeqNum of
the refused message; a BusinessMessageReject carries BusinessRejectRefID(379) (by convention
the refused message's ClOrdID) and usually RefSeqNum too. So this keeps a bounded memory of
the order messages sent, by MsgSeqNum and by ClOrdID.

Assumption, named: the memory lives in the process. A reject that refers to a message sent
before a restart (a resend across restarts) is not tied back; it is counted and logged, and the
order is left to the reconciliation after logon (the OrderStatusRequest per working order).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

import quickfix as fix

from core.domain import (
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderIntent,
    OrdStatus,
    ReplaceOrder,
    Side,
    UnreadableReport,
)
from gateways.fix.codec import (
    CL_ORD_ID,
    ORIG_CL_ORD_ID,
    SIDE,
    SYMBOL,
    TEXT,
    fields_of,
    unreadable_report,
)

REF_SEQ_NUM, REF_MSG_TYPE, BUSINESS_REJECT_REF_ID = 45, 372, 379
REF_TAG_ID, SESSION_REJECT_REASON, BUSINESS_REJECT_REASON = 371, 373, 380
ORDER_MESSAGES = frozenset({fix.MsgType_NewOrderSingle, fix.MsgType_OrderCancelRequest,
                            fix.MsgType_OrderCancelReplaceRequest})
# CxlRejReason(102) "Other": the venue refused the request without saying it was too late or
# that it did not know the order.
CXL_REJ_OTHER = "99"


@dataclass(slots=True, frozen=True)
class SentOrderMessage:
    """What a later reject needs to know about one order message we sent."""

    msg_type: str
    cl_ord_id: str
    orig_cl_ord_id: str | None
    symbol: str
    side: Side

    @classmethod
    def of(cls, intent: OrderIntent) -> SentOrderMessage:
        """Taken from the intent rather than read back from the encoded message: reading a
        field of a quickfix message is a call into C++ (a few microseconds each, on the path
        of every order to the wire); the intent holds the same values as Python objects."""
        if isinstance(intent, NewOrder):
            return cls(fix.MsgType_NewOrderSingle, intent.cl_ord_id, None, intent.symbol,
                       intent.side)
        kind = (fix.MsgType_OrderCancelReplaceRequest if isinstance(intent, ReplaceOrder)
                else fix.MsgType_OrderCancelRequest)
        return cls(kind, intent.cl_ord_id, intent.orig_cl_ord_id, intent.symbol, intent.side)

    @classmethod
    def read(cls, message: fix.Message, kind: str) -> SentOrderMessage | None:
        """The same, read from an order message sent some other way than from an intent
        (field by field: the slow way); None for a message that is not an order message."""
        if kind not in ORDER_MESSAGES:
            return None
        orig = message.getField(ORIG_CL_ORD_ID) if message.isSetField(ORIG_CL_ORD_ID) else None
        return cls(kind, message.getField(CL_ORD_ID), orig, message.getField(SYMBOL),
                   Side.from_fix(message.getField(SIDE)))


class SentOrderMessages:
    """The last ``capacity`` order messages sent, by MsgSeqNum and by ClOrdID.

    Written by the gateway's ``toApp`` (on the sending thread, once quickfix has given the
    message its MsgSeqNum) and read by ``fromApp``/``fromAdmin`` (quickfix's thread): the lock
    keeps it consistent across the two."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._by_seq: OrderedDict[int, SentOrderMessage] = OrderedDict()
        self._by_cl_ord_id: dict[str, SentOrderMessage] = {}
        self._lock = threading.Lock()

    def record(self, sent: SentOrderMessage, seq: int) -> None:
        """Remember ``sent``, which went out as MsgSeqNum ``seq``."""
        with self._lock:
            self._by_seq[seq] = sent
            self._by_cl_ord_id[sent.cl_ord_id] = sent
            while len(self._by_seq) > self._capacity:
                _, oldest = self._by_seq.popitem(last=False)
                if self._by_cl_ord_id.get(oldest.cl_ord_id) is oldest:
                    del self._by_cl_ord_id[oldest.cl_ord_id]

    def find(self, ref_seq: int | None, ref_id: str | None,
             ref_msg_type: str = "") -> SentOrderMessage | None:
        """The refused message: by ClOrdID first, else by sequence number. A reject that names
        another message type is not about the order message found: an OrderStatusRequest
        carries the order's ClOrdID too, and a refused status request must not end the order."""
        with self._lock:
            found = self._by_cl_ord_id.get(ref_id) if ref_id else None
            if found is None and ref_seq is not None:
                found = self._by_seq.get(ref_seq)
        if found is not None and ref_msg_type and ref_msg_type != found.msg_type:
            return None
        return found


@dataclass(slots=True, frozen=True)
class VenueReject:
    """A parsed Reject (35=3) or BusinessMessageReject (35=j)."""

    kind: str  # "session" or "business"
    ref_seq: int | None
    ref_id: str | None
    ref_msg_type: str
    reason: str
    text: str

    def describe(self) -> str:
        return (f"{self.kind} reject of {self.ref_msg_type or '?'} (RefSeqNum "
                f"{self.ref_seq}, reason {self.reason or '?'}): {self.text or 'no text'}")


def _field(message: fix.Message, tag: int) -> str:
    return message.getField(tag) if message.isSetField(tag) else ""


def parse_reject(message: fix.Message, kind: str) -> VenueReject:
    """Read a Reject or BusinessMessageReject; tolerant: every field is optional here."""
    ref_seq_raw = _field(message, REF_SEQ_NUM)
    business = kind == fix.MsgType_BusinessMessageReject
    return VenueReject(
        "business" if business else "session",
        int(ref_seq_raw) if ref_seq_raw.isdigit() else None,
        (_field(message, BUSINESS_REJECT_REF_ID) or None) if business else None,
        _field(message, REF_MSG_TYPE),
        _field(message, BUSINESS_REJECT_REASON if business else SESSION_REJECT_REASON),
        _field(message, TEXT))


def reject_event(sent: SentOrderMessage, reject: VenueReject) -> ExecutionReport | CancelReject:
    """The domain event that ends the refused request: a refused NewOrderSingle is a rejected
    order; a refused cancel or replace is an OrderCancelReject (the order stays as it was).
    The ExecID is derived from the ClOrdID, so the same reject seen twice changes nothing."""
    text = f"venue {reject.describe()}"
    if sent.msg_type == fix.MsgType_NewOrderSingle:
        return ExecutionReport(sent.cl_ord_id, f"reject:{sent.cl_ord_id}", ExecType.REJECTED,
                               OrdStatus.REJECTED, sent.symbol, sent.side, 0, 0, text=text)
    return CancelReject(sent.cl_ord_id, sent.orig_cl_ord_id or "", None, CXL_REJ_OTHER, text)


_SEQ_NUM = re.compile("\x0134=([0-9]{1,18})\x01")


class RecentReports:
    """The last ``capacity`` execution reports received, as text, by MsgSeqNum.

    Why: quickfix validates a message after its log has seen it, and refuses one that breaks
    the data dictionary with a session Reject, without handing it to the application. The
    gateway's message log keeps each report here as it arrives (``keep``, on quickfix's thread)
    and, when quickfix sends a Reject naming one (:func:`refused_report`, from ``toAdmin`` on
    the same thread), the report is delivered raw rather than lost. A handful suffices: the
    Reject follows its message at once, or after the few queued behind a sequence gap."""

    def __init__(self, capacity: int = 64) -> None:
        self._reports: deque[tuple[int, str]] = deque(maxlen=capacity)

    def keep(self, text: str) -> None:
        found = _SEQ_NUM.search(text)
        if found is not None:
            self._reports.append((int(found.group(1)), text))

    def find(self, seq: int) -> str | None:
        for kept_seq, text in reversed(self._reports):
            if kept_seq == seq:
                return text
        return None


def refused_report(reject: fix.Message, recent: RecentReports) -> UnreadableReport | None:
    """The execution report an outgoing session Reject refuses, raw, with quickfix's reason;
    None when the Reject is about another message type. A report no longer kept is still
    reported (its raw text unknown), so that it is counted and its order asked about."""
    fields = fields_of(reject)
    if fields.get(REF_MSG_TYPE) != "8":
        return None
    seq_raw = fields.get(REF_SEQ_NUM, "")
    raw = recent.find(int(seq_raw)) if seq_raw.isdigit() else None
    tag, why = fields.get(REF_TAG_ID, "?"), fields.get(SESSION_REJECT_REASON, "?")
    reason = (f"refused by quickfix's data dictionary: {fields.get(TEXT) or 'no text'} "
              f"(tag {tag}, reason {why})")
    if raw is None:
        return UnreadableReport(f"(report MsgSeqNum {seq_raw or '?'} no longer kept)", reason)
    return unreadable_report(raw, reason)
