"""One quantity model, from feed to FIX: every quantity inside is a whole number of the
instrument's lots, and the wire carries lots x lot_size exactly. Binance's BTCUSDT sizes are
decimals read as lots of 0.000001 BTC: a 2,000-lot child is 0.002 BTC on the wire and about
$123 to the risk overlay at 61,686.00, not 2,000 BTC and $123M. An equity's lot is one share,
and its messages are what they always were (test_fix_codec.py checks them field by field)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import quickfix as fix
from hypothesis import given
from hypothesis import strategies as st

from core.domain import (
    CancelOrder,
    ExecType,
    Instrument,
    NewOrder,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from gateways.fix.codec import FixParseError, decode_execution_report, encode_intent
from gateways.marketdata import fix_md_wire
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed
from gateways.venue.messages import build_snapshot
from models.actions import Action, ActionKind
from models.policy import DecisionContext
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from risk.verdict import DenyReason
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import limits_with
from tests.support.sending import RecordingSender

BTC = Instrument("BTCUSDT", Decimal("0.01"), Decimal("0.000001"))
GOOG = Instrument("GOOG", Decimal("0.01"))
NOW = 1_723_075_200 * 10**9
PRICE = 6_168_600  # 61,686.00


@given(st.integers(-10**15, 10**15))
def test_lots_and_wire_quantities_convert_exactly_both_ways(lots: int) -> None:
    assert BTC.to_lots(BTC.to_quantity(lots)) == lots
    assert GOOG.to_quantity(lots) == str(lots)


def test_a_quantity_off_the_lot_grid_is_refused() -> None:
    assert (BTC.to_quantity(2_000), BTC.to_quantity(1), BTC.to_quantity(10**6)) == \
        ("0.002", "0.000001", "1")
    with pytest.raises(ValueError, match=r"not a whole number of 0\.000001 lots"):
        BTC.to_lots("0.0000005")
    with pytest.raises(ValueError, match="lot size of X must be positive"):
        Instrument("X", Decimal("0.01"), Decimal(0))


def test_orders_go_out_in_exact_decimal_quantities() -> None:
    intents = [NewOrder("C1", "P", "BTCUSDT", Side.BUY, 2_000, PRICE, OrdType.LIMIT,
                        TimeInForce.IOC),
               ReplaceOrder("C2", "C1", "P", "BTCUSDT", Side.BUY, 1_500, PRICE),
               CancelOrder("C3", "C2", "P", "BTCUSDT", Side.BUY, 1_500)]
    sent = [encode_intent(intent, BTC, NOW) for intent in intents]
    assert [message.getField(38) for message in sent] == ["0.002", "0.0015", "0.0015"]
    assert sent[0].getField(44) == "61686.00"


def _report(**fields: str) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(35, "8")
    values = {37: "O1", 11: "C1", 17: "E1", 150: "F", 39: "1", 55: "BTCUSDT", 54: "1",
              14: "0.0005", 151: "0.0015", 32: "0.0005", 31: "61686.00",
              60: "20240808-00:00:00.000"}
    values.update({int(tag[1:]): value for tag, value in fields.items()})
    for tag, value in values.items():
        message.setField(tag, value)
    return message


def test_fills_come_back_in_lots_and_a_fraction_of_a_lot_is_refused() -> None:
    report = decode_execution_report(_report(), {"BTCUSDT": BTC})
    assert (report.last_qty, report.cum_qty, report.leaves_qty, report.last_px) == \
        (500, 500, 1_500, PRICE)
    assert report.exec_type is ExecType.TRADE
    with pytest.raises(FixParseError, match=r"tag 32: quantity 0\.0000005 of BTCUSDT is not "
                                            "a whole number"):
        decode_execution_report(_report(t32="0.0000005"), {"BTCUSDT": BTC})


def test_fix_market_data_sizes_are_read_as_lots() -> None:
    raw = build_snapshot("md", "BTCUSDT", [(PRICE, 500_000)], [(PRICE + 1, 250_000)], BTC,
                         NOW).toString()
    assert "271=0.5" in raw  # the venue writes sizes as exact decimals too
    message = fix_md_wire.decode(raw, True, {"BTCUSDT": BTC})
    assert [(u.price, u.qty) for u in message.updates] == [(PRICE, 500_000),
                                                           (PRICE + 1, 250_000)]
    with pytest.raises(FixParseError, match="271"):
        fix_md_wire.decode(raw.replace("271=0.5", "271=0.5000005"), True, {"BTCUSDT": BTC})


def _btc_overlay() -> RiskOverlay:
    limits = limits_with(**{"symbols.GOOG.max_order_notional": 1_000,  # $
                            "symbols.GOOG.max_order_qty": 10_000_000,  # 10 BTC in lots
                            "symbols.GOOG.max_long_position": 10_000_000})
    limits["symbols"] = {"BTCUSDT": limits["symbols"]["GOOG"]}
    limits["global"]["restricted_symbols"] = []
    return RiskOverlay(parse_limits(limits), {"BTCUSDT": BTC})


def test_the_overlay_prices_lots_as_what_they_are() -> None:
    overlay = _btc_overlay()
    overlay.on_market_data("BTCUSDT", PRICE - 1, PRICE + 1, NOW)
    assert overlay.check(NewOrder("C1", "P", "BTCUSDT", Side.BUY, 2_000, PRICE), NOW).allowed
    verdict = overlay.check(NewOrder("C2", "P", "BTCUSDT", Side.BUY, 20_000, PRICE), NOW)
    assert verdict.reason is DenyReason.MAX_ORDER_NOTIONAL
    assert "notional 1,233.72 > max_order_notional 1,000.00" in verdict.detail


class _Cross:
    name = "cross"

    def act(self, ctx: DecisionContext) -> Action:
        return Action(ActionKind.CROSS, 2_000)


def test_a_binance_book_to_a_fix_order_in_one_unit() -> None:
    feed = BinanceWsFeed(BinanceWsConfig("http://x", "ws://x", BTC))
    snapshot = feed.apply_snapshot({"lastUpdateId": 1, "bids": [["61685.99", "0.5"]],
                                    "asks": [["61686.00", "0.25"]]})
    sender = RecordingSender()
    engine = Engine({"BTCUSDT": BTC}, _btc_overlay(), sender, MemoryStore(), Metrics())
    snapshot.ts_ns = NOW
    engine.submit(ParentOrder("P", "BTCUSDT", Side.BUY, 2_000, NOW, NOW + 600 * 10**9,
                              "cross"), _Cross())
    engine.on_market_data(snapshot, time.perf_counter_ns())
    book = engine.books["BTCUSDT"]
    assert (book.best_ask(), book.depth(Side.SELL, 1)[0][1]) == (PRICE, 250_000)  # 0.25 BTC
    (order,) = sender.sent
    assert isinstance(order, NewOrder) and order.qty == 2_000 and order.price == PRICE
    assert engine.risk.denials == {}
    assert encode_intent(order, BTC, NOW).getField(38) == "0.002"
