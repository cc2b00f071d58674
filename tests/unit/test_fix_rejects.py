"""Rejects tied back to our orders, and secrets kept out of quickfix's message log."""

from __future__ import annotations

import quickfix as fix

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrdStatus,
    ReplaceOrder,
    Side,
)
from gateways.fix.redacting_log import redact
from gateways.fix.rejects import SentOrderMessage, SentOrderMessages, VenueReject, reject_event


def _sent(msg_type: str, cl_ord_id: str, orig: str | None = None) -> SentOrderMessage:
    return SentOrderMessage(msg_type, cl_ord_id, orig, "GOOG", Side.SELL)


REJECT = VenueReject("business", None, None, "D", "0", "throttled")


def test_a_reject_finds_its_message_by_cl_ord_id_or_sequence_number() -> None:
    sent = SentOrderMessages()
    sent.record(_sent("D", "C1"), 7)
    sent.record(_sent("F", "C2", "C1"), 8)
    assert sent.find(None, "C1") is not None and sent.find(None, "C1").msg_type == "D"  # type: ignore[union-attr]
    found = sent.find(8, None)
    assert found is not None and (found.cl_ord_id, found.orig_cl_ord_id) == ("C2", "C1")
    assert sent.find(9, None) is None and sent.find(99, "unknown") is None
    # A refused OrderStatusRequest names the order's ClOrdID too: it is not the order's reject.
    assert sent.find(None, "C1", "H") is None and sent.find(None, "C1", "D") is not None


def test_what_a_reject_needs_is_taken_from_the_intent() -> None:
    new = NewOrder("C1", "P", "GOOG", Side.BUY, 100, 58_000)
    replace = ReplaceOrder("C2", "C1", "P", "GOOG", Side.BUY, 200, 58_001)
    cancel = CancelOrder("C3", "C2", "P", "GOOG", Side.BUY, 200)
    assert [SentOrderMessage.of(i) for i in (new, replace, cancel)] == [
        SentOrderMessage("D", "C1", None, "GOOG", Side.BUY),
        SentOrderMessage("G", "C2", "C1", "GOOG", Side.BUY),
        SentOrderMessage("F", "C3", "C2", "GOOG", Side.BUY)]


def test_an_order_message_sent_another_way_is_read_field_by_field() -> None:
    message = fix.Message()
    message.getHeader().setField(35, "F")
    for tag, value in ((11, "C2"), (41, "C1"), (55, "GOOG"), (54, "2")):
        message.setField(tag, value)
    assert SentOrderMessage.read(message, "F") == \
        SentOrderMessage("F", "C2", "C1", "GOOG", Side.SELL)
    assert SentOrderMessage.read(message, "H") is None  # a status request: not remembered


def test_the_memory_is_bounded() -> None:
    sent = SentOrderMessages(capacity=2)
    for seq in range(1, 4):
        sent.record(_sent("D", f"C{seq}"), seq)
    assert sent.find(1, "C1") is None and sent.find(3, "C3") is not None


def test_a_refused_new_order_becomes_a_rejected_report_and_a_refused_cancel_a_cancel_reject(
        ) -> None:
    sent = SentOrderMessages()
    sent.record(_sent("D", "C1"), 1)
    sent.record(_sent("F", "C2", "C1"), 2)
    rejected = reject_event(sent.find(1, None), REJECT)  # type: ignore[arg-type]
    assert isinstance(rejected, ExecutionReport)
    assert (rejected.exec_type, rejected.ord_status, rejected.side) == \
        (ExecType.REJECTED, OrdStatus.REJECTED, Side.SELL)
    assert "throttled" in rejected.text and rejected.exec_id == "reject:C1"
    refused = reject_event(sent.find(2, None), REJECT)  # type: ignore[arg-type]
    assert isinstance(refused, CancelReject)
    assert (refused.cl_ord_id, refused.orig_cl_ord_id, refused.reason) == ("C2", "C1", "99")


def test_passwords_are_blanked_in_the_message_log() -> None:
    raw = "8=FIX.4.4\x019=70\x0135=A\x01553=desk\x01554=s3cret\x01925=n3w\x0110=000\x01"
    assert redact(raw) == \
        "8=FIX.4.4\x019=70\x0135=A\x01553=desk\x01554=***\x01925=***\x0110=000\x01"
    assert redact("8=FIX.4.4\x0135=D\x011554=keep\x01") == "8=FIX.4.4\x0135=D\x011554=keep\x01"
