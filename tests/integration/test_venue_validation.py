"""The simulated venue refuses what it must, says why, and stays up (real quickfix, loopback).

The client is the service's gateway; where a test needs a message the gateway would never
build (an off-tick price, an invalid OrdType), it edits one the gateway's codec built and sends
it on the gateway's session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix

from core.domain import ExecType, ExecutionReport, Instrument, NewOrder, Side
from gateways.fix.codec import encode_intent
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.integration

GOOG = Instrument("GOOG", Decimal("0.01"))
ZZZZ = Instrument("ZZZZ", Decimal("0.01"))  # configured in the client, unknown to the venue
WAIT_S = 10.0


@dataclass
class Session:
    venue: SimulatedVenue
    gateway: FixOrderGateway
    events: asyncio.Queue[object]
    received: list[str] = field(default_factory=list)  # MsgTypes the gateway received

    def send_raw(self, message: fix.Message) -> None:
        assert self.gateway.session_id is not None
        assert fix.Session.sendToTarget(message, self.gateway.session_id)

    def new_order(self, cl_ord_id: str, symbol: str = "GOOG", price: int = 58010) -> fix.Message:
        instrument = GOOG if symbol == "GOOG" else ZZZZ
        return encode_intent(NewOrder(cl_ord_id, "P", symbol, Side.SELL, 100, price),
                             instrument, time.time_ns())

    async def report(self, predicate: Callable[[ExecutionReport], bool]) -> ExecutionReport:
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT_S)
            if isinstance(event, ExecutionReport) and predicate(event):
                return event

    async def until_received(self, msg_type: str) -> None:
        for _ in range(int(WAIT_S / 0.01)):
            if msg_type in self.received:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {msg_type} received; got {self.received}")


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    port = free_port()
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="TESTER")],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))],
                    state_dir=tmp_path / "venue"),
        flows={"GOOG": ScriptedFlow(58000, 58002)})
    venue.start()
    events: asyncio.Queue[object] = asyncio.Queue()
    received: list[str] = []
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1, reconnect_seconds=30)
    gateway = FixOrderGateway(
        spec, {"GOOG": GOOG, "ZZZZ": ZZZZ}, asyncio.get_running_loop(),
        lambda e, _t: events.put_nowait(e), ["ZZZZ"],
        on_message=lambda direction, kind: received.append(kind) if direction == "in" else None)
    gateway.start()
    try:
        assert await gateway.wait_logged_on(WAIT_S)
        yield Session(venue, gateway, events, received)
    finally:
        gateway.stop()
        venue.stop()


async def test_market_data_for_an_unknown_symbol_is_refused(session: Session) -> None:
    await session.until_received(fix.MsgType_MarketDataRequestReject)
    assert session.gateway.logged_on.is_set()


async def test_orders_the_venue_cannot_take_are_rejected_with_the_reason(
        session: Session) -> None:
    session.send_raw(session.new_order("U1", symbol="ZZZZ"))
    unknown = await session.report(lambda r: r.cl_ord_id == "U1")
    assert unknown.exec_type is ExecType.REJECTED and "unknown symbol" in unknown.text

    off_tick = session.new_order("T1")
    off_tick.setField(44, "580.015")
    session.send_raw(off_tick)
    rejected = await session.report(lambda r: r.cl_ord_id == "T1")
    assert rejected.exec_type is ExecType.REJECTED and "Price(44)" in rejected.text


async def test_an_invalid_message_gets_a_session_reject_tied_to_the_order(
        session: Session) -> None:
    invalid = session.new_order("V1")
    invalid.setField(40, "Z")  # no such OrdType: the venue's quickfix refuses it
    session.send_raw(invalid)
    rejected = await session.report(lambda r: r.cl_ord_id == "V1")
    assert rejected.exec_type is ExecType.REJECTED and "session reject" in rejected.text
    assert session.gateway.venue_rejects == 1


async def test_an_unsupported_message_gets_a_business_reject_and_the_venue_carries_on(
        session: Session) -> None:
    status = fix.Message()
    status.getHeader().setField(35, "h")  # TradingSessionStatus: valid FIX, not for a venue
    status.setField(336, "DAY")
    status.setField(340, "2")
    session.send_raw(status)
    await session.until_received(fix.MsgType_BusinessMessageReject)
    session.send_raw(session.new_order("OK1"))
    accepted = await session.report(lambda r: r.cl_ord_id == "OK1")
    assert accepted.exec_type is ExecType.NEW and session.venue.errors == 0


async def test_a_disconnect_cancels_the_clients_orders(session: Session) -> None:
    session.send_raw(session.new_order("R1"))
    await session.report(lambda r: r.cl_ord_id == "R1" and r.exec_type is ExecType.NEW)
    assert len(session.venue.working_orders()) == 1
    session.gateway.stop()
    for _ in range(int(WAIT_S / 0.01)):
        if not session.venue.working_orders():
            break
        await asyncio.sleep(0.01)
    assert session.venue.working_orders() == []
