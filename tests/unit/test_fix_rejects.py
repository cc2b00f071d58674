"""Rejects tied back to our orders, and secrets kept out of quickfix's message log."""

from __future__ import annotations

import quickfix as fix

from gateways.fix.redacting_log import redact
from gateways.fix.rejects import SentOrderMessages, VenueReject, reject_event
from service.domain import CancelReject, ExecType, ExecutionReport, OrdStatus, Side


def _sent(seq: int, msg_type: str, cl_ord_id: str, orig: str | None = None) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(35, msg_type)
    message.getHeader().setField(34, str(seq))
    for tag, value in ((11, cl_ord_id), (41, orig), (55, "GOOG"), (54, "2")):
        if value is not None:
            message.setField(tag, value)
    return message


REJECT = VenueReject("business", None, None, "D", "0", "throttled")


def test_a_reject_finds_its_message_by_cl_ord_id_or_sequence_number() -> None:
    sent = SentOrderMessages()
    sent.record(_sent(7, "D", "C1"), "D")
    sent.record(_sent(8, "F", "C2", "C1"), "F")
    sent.record(_sent(9, "0", "heartbeat"), "0")  # not an order message: not remembered
    assert sent.find(None, "C1") is not None and sent.find(None, "C1").msg_type == "D"  # type: ignore[union-attr]
    found = sent.find(8, None)
    assert found is not None and (found.cl_ord_id, found.orig_cl_ord_id) == ("C2", "C1")
    assert sent.find(9, None) is None and sent.find(99, "unknown") is None
    # A refused OrderStatusRequest names the order's ClOrdID too: it is not the order's reject.
    assert sent.find(None, "C1", "H") is None and sent.find(None, "C1", "D") is not None


def test_the_memory_is_bounded() -> None:
    sent = SentOrderMessages(capacity=2)
    for seq in range(1, 4):
        sent.record(_sent(seq, "D", f"C{seq}"), "D")
    assert sent.find(1, "C1") is None and sent.find(3, "C3") is not None


def test_a_refused_new_order_becomes_a_rejected_report_and_a_refused_cancel_a_cancel_reject(
        ) -> None:
    sent = SentOrderMessages()
    sent.record(_sent(1, "D", "C1"), "D")
    sent.record(_sent(2, "F", "C2", "C1"), "F")
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
