"""The gateway against a counterparty that is not careful (real quickfix on both sides, loopback).

The counterparty is a scriptable acceptor (tests/support/fix_peer.py) that sends what each test
needs: every FIX 4.4 ExecType, duplicate ExecIDs, trade busts and corrections, rejects at the
session and the business level, unknown and malformed messages, and execution reports sent
while the client was away (recovered by quickfix's resend on the next logon). The gateway's
events go to an OrderManager, as in the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix

from core.domain import (
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
    UnreadableReport,
)
from core.oms import OrderManager
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from tests.support.fix_peer import Fields, FixPeer, app_message, execution_report
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.integration

GOOG = Instrument("GOOG", Decimal("0.01"))
WAIT_S = 10.0
Script = Callable[[Fields], list[fix.Message]]


@dataclass
class Client:
    """The service's side: a gateway, its events and an OMS fed from them."""

    peer: FixPeer
    spec: SessionSpec
    events: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    oms: OrderManager = field(default_factory=OrderManager)
    gateway: FixOrderGateway | None = None

    def __post_init__(self) -> None:
        self.oms.add_parent(ParentOrder("P", "GOOG", Side.SELL, 10_000, 0, 10**20, "test"))

    async def connect(self) -> FixOrderGateway:
        self.gateway = FixOrderGateway(self.spec, {"GOOG": GOOG}, asyncio.get_running_loop(),
                                       lambda e, _t: self.events.put_nowait(e))
        self.gateway.start()
        assert await self.gateway.wait_logged_on(WAIT_S), "no logon"
        return self.gateway

    def disconnect(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None

    def send_new(self, cl_ord_id: str, qty: int = 300, price: int = 58010) -> None:
        assert self.gateway is not None
        intent = NewOrder(cl_ord_id, "P", "GOOG", Side.SELL, qty, price)
        self.oms.on_sent(intent)
        assert self.gateway.send(intent, time.time_ns())

    async def until(self, predicate: Callable[[object], bool]) -> object:
        """Feed events to the OMS until one matches ``predicate``; returns it."""
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT_S)
            if isinstance(event, ExecutionReport):
                self.oms.on_execution_report(event)
            elif isinstance(event, CancelReject):
                self.oms.on_cancel_reject(event)
            if predicate(event):
                return event

    def order(self, cl_ord_id: str) -> ChildOrder:
        order = self.oms.get(cl_ord_id)
        assert order is not None
        return order


def _report_for(exec_id: str) -> Callable[[object], bool]:
    return lambda e: isinstance(e, ExecutionReport) and e.exec_id == exec_id


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    port = free_port()
    peer = FixPeer(tmp_path / "peer", port)
    peer.start()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "PEER", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1, reconnect_seconds=1)
    result = Client(peer, spec)
    try:
        yield result
    finally:
        result.disconnect()
        peer.stop()


def _scripted(scripts: dict[str, Callable[[str, int], list[fix.Message]]]) -> Script:
    """Answer each NewOrderSingle with the script for its ClOrdID's prefix."""
    def respond(order: Fields) -> list[fix.Message]:
        if order[35] != fix.MsgType_NewOrderSingle:
            return []
        cl_ord_id = order[11]
        return scripts[cl_ord_id.split("-")[0]](cl_ord_id, int(order[34]))
    return respond


def er(cl: str, exec_id: str, exec_type: str, status: str, cum: int = 0,
       last: tuple[int, str] | None = None, symbol: str = "GOOG",
       **extra: str) -> fix.Message:
    return execution_report(cl, exec_id, exec_type, status, qty=300, cum_qty=cum,
                            last_qty=last[0] if last else None,
                            last_px=last[1] if last else None, symbol=symbol, **extra)


async def test_every_fix44_exec_type_moves_the_order_as_the_venue_says(client: Client) -> None:
    client.peer.respond = _scripted({
        # PendingNew, New, a partial fill, a restatement, PendingCancel, Canceled.
        "PN": lambda cl, _s: [er(cl, f"{cl}.1", "A", "A"), er(cl, f"{cl}.2", "0", "0"),
                              er(cl, f"{cl}.3", "F", "1", 100, (100, "580.10")),
                              er(cl, f"{cl}.4", "D", "1", 100),
                              er(cl, f"{cl}.5", "6", "6", 100),
                              er(cl, f"{cl}.6", "4", "4", 100)],
        # A fill with no New before it.
        "FN": lambda cl, _s: [er(cl, f"{cl}.1", "F", "2", 300, (300, "580.10"))],
        "EX": lambda cl, _s: [er(cl, f"{cl}.1", "0", "0"), er(cl, f"{cl}.2", "C", "C")],
        # A fill, then its bust: the order is open again with nothing filled.
        "TC": lambda cl, _s: [er(cl, f"{cl}.1", "0", "0"),
                              er(cl, f"{cl}.2", "F", "2", 300, (300, "580.10")),
                              er(cl, f"{cl}.3", "H", "0", 0, (300, "580.10"),
                                 t19=f"{cl}.2")],
        # A fill, then its correction to 200 at 580.04.
        "CO": lambda cl, _s: [er(cl, f"{cl}.1", "F", "2", 300, (300, "580.10")),
                              er(cl, f"{cl}.2", "G", "1", 200, (200, "580.04"),
                                 t19=f"{cl}.1")],
    })
    await client.connect()
    parent = client.oms.parents["P"]

    client.send_new("PN-1")
    await client.until(_report_for("PN-1.6"))
    order = client.order("PN-1")
    assert (order.status, order.cum_qty, order.leaves_qty) == (OrdStatus.CANCELED, 100, 0)

    client.send_new("FN-1")
    await client.until(_report_for("FN-1.1"))
    assert (client.order("FN-1").status, client.order("FN-1").cum_qty) == (OrdStatus.FILLED, 300)

    client.send_new("EX-1")
    await client.until(_report_for("EX-1.2"))
    assert client.order("EX-1").status is OrdStatus.EXPIRED
    assert client.order("EX-1").leaves_qty == 0
    assert (parent.filled, parent.notional_ticks) == (400, 400 * 58010)

    client.send_new("TC-1")
    await client.until(_report_for("TC-1.3"))
    busted = client.order("TC-1")
    assert (busted.status, busted.cum_qty, busted.leaves_qty) == (OrdStatus.NEW, 0, 300)
    assert (parent.filled, parent.notional_ticks) == (400, 400 * 58010)

    client.send_new("CO-1")
    await client.until(_report_for("CO-1.2"))
    corrected = client.order("CO-1")
    assert (corrected.status, corrected.cum_qty) == (OrdStatus.PARTIALLY_FILLED, 200)
    assert (parent.filled, parent.notional_ticks) == (600, 400 * 58010 + 200 * 58004)
    assert client.oms.rejected_transitions == 0
    assert client.gateway is not None and client.gateway.malformed == 0


def _without(message: fix.Message, *tags: int, avg_px: str = "") -> fix.Message:
    for tag in tags:
        message.removeField(tag)
    if avg_px:
        message.setField(6, avg_px)
    return message


async def test_what_counterparties_send_in_the_wild_reaches_the_oms_as_meant(
        client: Client) -> None:
    client.peer.respond = _scripted({
        # FIX 4.2's ExecType 1 and 2 on this 4.4 session, no OrderID; the second fill with
        # neither LastQty nor LastPx, only CumQty and AvgPx (300 at 580.11 on average: the 200
        # more went at 580.115, rounded to the tick, 580.12).
        "LG": lambda cl, _s: [_without(er(cl, f"{cl}.1", "1", "1", 100, (100, "580.10")), 37),
                              _without(er(cl, f"{cl}.2", "2", "2", 300, (200, "580.12")),
                                       31, 32, avg_px="580.1133333")],
        # Done for day.
        "DD": lambda cl, _s: [er(cl, f"{cl}.1", "0", "0"), er(cl, f"{cl}.2", "3", "3")],
    })
    gateway = await client.connect()
    client.send_new("LG-1")
    await client.until(_report_for("LG-1.2"))
    order = client.order("LG-1")
    assert (order.status, order.cum_qty) == (OrdStatus.FILLED, 300)
    assert order.notional_ticks == 100 * 58_010 + 200 * 58_012
    client.send_new("DD-1")
    await client.until(_report_for("DD-1.2"))
    assert client.order("DD-1").status is OrdStatus.DONE_FOR_DAY
    assert gateway.malformed == 0 and client.peer.of_type("3") == []  # nothing refused


async def test_a_duplicate_exec_id_changes_nothing(client: Client) -> None:
    client.peer.respond = _scripted({
        "D": lambda cl, _s: [er(cl, "N1", "0", "0"),
                             er(cl, "F1", "F", "1", 100, (100, "580.10")),
                             er(cl, "F1", "F", "1", 100, (100, "580.10")),  # the duplicate
                             er(cl, "F2", "F", "1", 150, (50, "580.10"))]})
    await client.connect()
    client.send_new("D-1")
    fills: list[ExecutionReport] = []
    while len(fills) < 3:
        event = await client.until(lambda e: isinstance(e, ExecutionReport) and
                                   e.exec_type is ExecType.TRADE)
        assert isinstance(event, ExecutionReport)
        fills.append(event)
    assert [f.exec_id for f in fills] == ["F1", "F1", "F2"]  # both copies reached the OMS
    assert client.order("D-1").cum_qty == 150 and client.oms.parents["P"].filled == 150


async def test_reports_sent_while_away_are_recovered_by_resend(client: Client) -> None:
    client.peer.respond = _scripted({"R": lambda cl, _s: [er(cl, "N1", "0", "0")]})
    await client.connect()
    client.send_new("R-1")
    await client.until(_report_for("N1"))
    client.disconnect()
    for _ in range(200):
        if not client.peer.logged_on.is_set():
            break
        await asyncio.sleep(0.01)
    # The fill happens while the client is away: quickfix stores it under the next sequence
    # number; the client's next logon sees the gap and asks for a resend.
    client.peer.send(er("R-1", "F1", "F", "2", 300, (300, "580.10")))
    await client.connect()
    fill = await client.until(_report_for("F1"))
    assert isinstance(fill, ExecutionReport) and fill.poss_dup
    await client.peer.wait_for("2")  # the ResendRequest
    assert client.order("R-1").status is OrdStatus.FILLED
    assert client.oms.parents["P"].filled == 300


async def test_rejects_that_name_an_order_end_it(client: Client) -> None:
    def business(cl: str, seq: int) -> list[fix.Message]:
        return [app_message("j", t45=seq, t372="D", t379=cl, t380="0", t58="throttled")]

    def session(cl: str, seq: int) -> list[fix.Message]:
        reject = app_message("3", t45=seq, t372="D", t373="5", t58="bad value")
        return [reject]

    client.peer.respond = _scripted({"BR": business, "SR": session})
    gateway = await client.connect()
    client.send_new("BR-1")
    rejected = await client.until(lambda e: isinstance(e, ExecutionReport))
    assert isinstance(rejected, ExecutionReport) and "throttled" in rejected.text
    assert client.order("BR-1").status is OrdStatus.REJECTED
    client.send_new("SR-1")
    rejected = await client.until(lambda e: isinstance(e, ExecutionReport))
    assert isinstance(rejected, ExecutionReport) and "bad value" in rejected.text
    assert client.order("SR-1").status is OrdStatus.REJECTED
    assert gateway.venue_rejects == 2

    # A reject that names nothing we sent is counted and changes nothing.
    client.peer.send(app_message("3", t45=99_999, t373="0", t58="stray"))
    client.send_new("BR-2")
    await client.until(lambda e: isinstance(e, ExecutionReport) and e.cl_ord_id == "BR-2")
    assert gateway.venue_rejects == 4 and gateway.logged_on.is_set()


async def test_unknown_and_malformed_messages_are_answered_and_the_session_stays_up(
        client: Client) -> None:
    gateway = await client.connect()
    peer = client.peer
    peer.send(app_message("h", t336="DAY", t340="2"))  # TradingSessionStatus: valid, unused
    reject = await peer.wait_for("j")
    assert reject[372] == "h" and reject[380] == "3"  # BusinessMessageReject: unsupported

    peer.send(app_message("U9", t58="not in the dictionary"))
    await peer.wait_for("3", lambda f: f.get(372) == "U9")  # session Reject: invalid MsgType

    # An execution report that cannot be read is never dropped: it reaches the service raw.
    no_exec_id = er("M-1", "unused", "0", "0")
    no_exec_id.removeField(17)
    peer.send(no_exec_id)
    unreadable = await client.until(lambda e: isinstance(e, UnreadableReport))
    assert isinstance(unreadable, UnreadableReport)
    assert unreadable.cl_ord_id == "M-1" and "tag 17" in unreadable.reason

    # One that even the tolerant dictionary refuses (an ExecType no FIX version has) gets
    # quickfix's session Reject, and still reaches the service raw.
    peer.send(er("M-2", "X0", "Z", "0"))
    await peer.wait_for("3", lambda f: f.get(371) == "150")
    refused = await client.until(lambda e: isinstance(e, UnreadableReport))
    assert isinstance(refused, UnreadableReport) and refused.cl_ord_id == "M-2"
    assert "data dictionary" in refused.reason and "\x01150=Z\x01" in refused.raw

    # Valid FIX that the gateway cannot use: counted and logged, delivered raw, no answer.
    before = gateway.malformed
    peer.send(er("M-3", "X1", "F", "2", 300, (300, "580.10"), symbol="ZZZZ"))
    no_price = execution_report("M-4", "X2", "F", "2", qty=300, cum_qty=300, last_qty=300)
    no_price.removeField(6)
    peer.send(no_price)  # a fill without LastPx or AvgPx: nothing says at what price
    peer.send(er("M-5", "X3", "0", "0"))  # a well-formed report: the session is still fine
    await client.until(_report_for("X3"))
    assert gateway.malformed == before + 2
    assert gateway.logged_on.is_set() and peer.callback_errors == 0


async def test_logon_credentials_come_from_the_environment_and_are_not_logged(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    os.environ["EXECAGENT_FIX_USERNAME"] = "desk7"
    os.environ["EXECAGENT_FIX_PASSWORD"] = "pw-hunter2"
    try:
        await client.connect()
    finally:
        del os.environ["EXECAGENT_FIX_USERNAME"], os.environ["EXECAGENT_FIX_PASSWORD"]
    logon = await client.peer.wait_for("A")
    assert (logon[553], logon[554]) == ("desk7", "pw-hunter2")
    assert "pw-hunter2" not in caplog.text
    # Not in the message log, nor in the message store (which keeps the Logon it sent), nor
    # anywhere else in the state directory; and that directory is the service user's alone.
    files = [p for p in client.spec.state_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".body" for p in files) and any("log" in p.parts for p in files)
    assert not any(b"pw-hunter2" in p.read_bytes() for p in files)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    dirs = [client.spec.state_dir, *(p for p in client.spec.state_dir.rglob("*") if p.is_dir())]
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in dirs)


def _junk_logon(sender: str, password: str, junk_chars: int) -> bytes:
    """A Logon as bytes on the wire, with a Text(58) of ``junk_chars`` characters."""
    body = (f"35=A\x0134=1\x0149={sender}\x0152=20261123-15:00:00.000\x0156=SIMVENUE\x01"
            f"98=0\x01108=5\x01554={password}\x0158={'X' * junk_chars}\x01")
    head = f"8=FIX.4.4\x019={len(body)}\x01{body}"
    return f"{head}10={sum(head.encode()) % 256:03d}\x01".encode()


async def test_the_venue_refuses_a_wrong_password_and_keeps_no_secret_and_no_junk(
        tmp_path: Path) -> None:
    port = free_port()
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="TESTER", password="pw-right-7f3")],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))],
                    state_dir=tmp_path / "venue"),
        flows={"GOOG": ScriptedFlow(58000, 58002)})
    venue.start()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", reconnect_seconds=30)
    gateway = FixOrderGateway(spec, {"GOOG": GOOG}, asyncio.get_running_loop(),
                              lambda e, _t: None)
    os.environ["EXECAGENT_FIX_PASSWORD"] = "pw-wrong-9c1"
    try:
        gateway.start()
        assert not await gateway.wait_logged_on(2.0)
        assert venue.rejected_logons >= 1 and venue.sessions_logged_on == set()
        # Megabytes of junk in a Logon from a CompID it does not know (its global log) and
        # from one it knows (the session's log).
        for sender in ("NOBODY", "TESTER"):
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(_junk_logon(sender, "pw-junk-4d2", 2_000_000))
                await asyncio.sleep(0.5)
    finally:
        del os.environ["EXECAGENT_FIX_PASSWORD"]
        gateway.stop()
        venue.stop()
    # The service's side keeps no trace of the (wrong) password it sent either.
    assert not any(b"pw-wrong-9c1" in p.read_bytes()
                   for p in (tmp_path / "client").rglob("*") if p.is_file())
    files = [p for p in (tmp_path / "venue").rglob("*") if p.is_file()]
    assert any(p.name.startswith("GLOBAL") and p.stat().st_size > 0 for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(secret in data for secret in (b"pw-right-7f3", b"pw-wrong-9c1",
                                                     b"pw-junk-4d2")), path
        assert path.stat().st_size < 64 * 1024, path  # each message's text bounded
        assert path.stat().st_mode & 0o777 == 0o600, path
