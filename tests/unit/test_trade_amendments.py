"""Trade busts and corrections: decoded from FIX 4.4 (ExecType H/G) and 4.2 (ExecTransType 1/2),
and applied by the OMS to the order's and the parent's filled quantity and notional."""

from __future__ import annotations

from decimal import Decimal

import pytest
import quickfix as fix

from core.domain import (
    ExecType,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
)
from core.oms import OrderManager
from gateways.fix.codec import FixParseError, decode_execution_report

INSTRUMENTS = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
REPORT = {37: "O1", 11: "C1", 17: "E2", 150: "H", 39: "0", 55: "GOOG", 54: "2", 14: "0",
          151: "300", 32: "300", 31: "580.10", 19: "E1"}


def _message(fields: dict[int, str]) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(35, "8")
    for tag, value in fields.items():
        message.setField(tag, value)
    return message


def test_a_fix44_bust_names_the_trade_it_cancels() -> None:
    report = decode_execution_report(_message(REPORT), INSTRUMENTS)
    assert (report.exec_type, report.exec_ref_id) == (ExecType.TRADE_CANCEL, "E1")


def test_an_amendment_without_exec_ref_id_is_refused() -> None:
    fields = {k: v for k, v in REPORT.items() if k != 19}
    with pytest.raises(FixParseError, match="ExecRefID"):
        decode_execution_report(_message(fields), INSTRUMENTS)


@pytest.mark.parametrize(("trans_type", "exec_type"), [
    ("1", ExecType.TRADE_CANCEL), ("2", ExecType.TRADE_CORRECT), ("3", ExecType.ORDER_STATUS),
    ("0", ExecType.PARTIAL_FILL_42)])
def test_fix42_exec_trans_type_says_what_the_report_is(trans_type: str,
                                                       exec_type: ExecType) -> None:
    fields = {**REPORT, 150: "1", 39: "1", 20: trans_type}
    assert decode_execution_report(_message(fields), INSTRUMENTS).exec_type is exec_type


def _oms_with_a_fill() -> OrderManager:
    oms = OrderManager()
    oms.add_parent(ParentOrder("P", "GOOG", Side.SELL, 1_000, 0, 10**12, "test"))
    oms.on_sent(NewOrder("C1", "P", "GOOG", Side.SELL, 300, 58010))
    oms.on_execution_report(ExecutionReport("C1", "E1", ExecType.TRADE, OrdStatus.FILLED,
                                            "GOOG", Side.SELL, 300, 0, 300, 58010))
    return oms


def _amend(exec_id: str, exec_type: ExecType, status: OrdStatus, ref: str,
           last: tuple[int, int | None] = (0, None)) -> ExecutionReport:
    return ExecutionReport("C1", exec_id, exec_type, status, "GOOG", Side.SELL, last[0], 0,
                           last[0], last[1], exec_ref_id=ref)


def test_a_bust_takes_the_trade_back_once() -> None:
    oms = _oms_with_a_fill()
    assert oms.working("P") == []
    bust = _amend("E2", ExecType.TRADE_CANCEL, OrdStatus.NEW, "E1")
    assert oms.on_execution_report(bust) is None
    assert oms.on_execution_report(bust) is None  # the duplicate changes nothing
    order, parent = oms.get("C1"), oms.parents["P"]
    assert order is not None and (order.cum_qty, order.status) == (0, OrdStatus.NEW)
    assert (parent.filled, parent.notional_ticks) == (0, 0)
    assert oms.working("P") == [order]  # reopened: the engine works it again


def test_a_correction_replaces_quantity_and_price_and_can_itself_be_busted() -> None:
    oms = _oms_with_a_fill()
    oms.on_execution_report(_amend("E2", ExecType.TRADE_CORRECT, OrdStatus.PARTIALLY_FILLED,
                                   "E1", (200, 58004)))
    parent = oms.parents["P"]
    assert (parent.filled, parent.notional_ticks) == (200, 200 * 58004)
    oms.on_execution_report(_amend("E3", ExecType.TRADE_CANCEL, OrdStatus.NEW, "E2"))
    assert (parent.filled, parent.notional_ticks) == (0, 0)


def test_a_bust_of_an_unknown_trade_changes_no_quantity_and_is_counted() -> None:
    oms = _oms_with_a_fill()
    oms.on_execution_report(_amend("E2", ExecType.TRADE_CANCEL, OrdStatus.NEW, "NOT-OURS"))
    assert oms.parents["P"].filled == 300 and oms.unknown_reports == 1
