"""Real quickfix on both sides over 127.0.0.1: the service's gateway against the simulated venue."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    SessionStatus,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.integration

GOOG = Instrument("GOOG", Decimal("0.01"))
BID, ASK = 58000, 58002
WAIT_S = 10.0


@dataclass
class Harness:
    venue: SimulatedVenue
    gateway: FixOrderGateway
    events: asyncio.Queue[object]
    oms: OrderManager
    ids: itertools.count  # type: ignore[type-arg]

    def send(self, intent: OrderIntent) -> None:
        self.oms.on_sent(intent)
        assert self.gateway.send(intent, self.venue.clock.now_ns())

    def next_id(self) -> str:
        return f"T{next(self.ids)}"

    async def next_of(self, kind: type, predicate=lambda e: True):  # type: ignore[no-untyped-def]
        """The next event of ``kind`` matching ``predicate``; execution reports feed the OMS."""
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT_S)
            if isinstance(event, ExecutionReport):
                self.oms.on_execution_report(event)
            elif isinstance(event, CancelReject):
                self.oms.on_cancel_reject(event)
            if isinstance(event, kind) and predicate(event):
                return event


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    port = free_port()
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="TESTER", password="s3cret")],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))],
                    speed=10.0, state_dir=tmp_path / "venue"),
        flows={"GOOG": ScriptedFlow(BID, ASK)})
    venue.start()
    events: asyncio.Queue[object] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1, reconnect_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": GOOG}, loop, lambda e, _t: events.put_nowait(e),
                              ["GOOG"])
    import os

    os.environ["EXECAGENT_FIX_PASSWORD"] = "s3cret"
    gateway.start()
    try:
        assert await gateway.wait_logged_on(WAIT_S), "no logon"
        oms = OrderManager()
        from core.domain import ParentOrder

        oms.add_parent(ParentOrder("P", "GOOG", Side.SELL, 10**6, 0, 10**20, "test"))
        yield Harness(venue, gateway, events, oms, itertools.count(1))
    finally:
        os.environ.pop("EXECAGENT_FIX_PASSWORD", None)
        gateway.stop()
        venue.stop()


async def test_logon_and_market_data_snapshot(harness: Harness) -> None:
    await harness.next_of(SessionStatus, lambda s: s.logged_on)
    snapshot = await harness.next_of(MarketData, lambda m: m.snapshot)
    bids = sorted((u.price for u in snapshot.updates if u.side is Side.BUY), reverse=True)
    asks = sorted(u.price for u in snapshot.updates if u.side is Side.SELL)
    assert (bids[0], asks[0]) == (BID, ASK)
    incremental = await harness.next_of(MarketData, lambda m: not m.snapshot)
    assert incremental.ts_ns >= snapshot.ts_ns


async def test_order_new_partial_fill_then_fill(harness: Harness) -> None:
    cl = harness.next_id()
    # Sell 700 IOC at the best bid: 500 there, the rest is not marketable at 580.00.
    harness.send(NewOrder(cl, "P", "GOOG", Side.SELL, 700, BID, OrdType.LIMIT, TimeInForce.IOC))
    await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.NEW)
    fill = await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.TRADE)
    assert (fill.last_qty, fill.last_px) == (500, BID)
    await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.CANCELED)
    order = harness.oms.get(cl)
    assert order is not None and order.cum_qty == 500 and order.status is OrdStatus.CANCELED

    cl2 = harness.next_id()
    harness.send(NewOrder(cl2, "P", "GOOG", Side.SELL, 300, BID - 1, OrdType.LIMIT,
                          TimeInForce.IOC))
    done = await harness.next_of(ExecutionReport,
                                 lambda r: r.cl_ord_id == cl2 and r.ord_status is OrdStatus.FILLED)
    assert done.cum_qty == 300 and harness.oms.get(cl2).status is OrdStatus.FILLED  # type: ignore[union-attr]
    assert harness.oms.parents["P"].filled == 800
    assert harness.venue.client_filled_qty == 800


async def test_rest_replace_then_cancel(harness: Harness) -> None:
    cl = harness.next_id()
    harness.send(NewOrder(cl, "P", "GOOG", Side.SELL, 200, ASK + 10))
    await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.NEW)
    assert len(harness.venue.working_orders()) == 1

    cl_replace = harness.next_id()
    harness.send(ReplaceOrder(cl_replace, cl, "P", "GOOG", Side.SELL, 150, ASK + 5))
    await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.REPLACED)
    order = harness.oms.get(cl_replace)
    assert order is not None and (order.qty, order.price) == (150, ASK + 5)
    assert order.status is OrdStatus.NEW

    harness.send(CancelOrder(harness.next_id(), cl_replace, "P", "GOOG", Side.SELL, 150))
    await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.CANCELED)
    assert order.status is OrdStatus.CANCELED and order.leaves_qty == 0
    assert harness.venue.working_orders() == []


async def test_cancel_of_unknown_order_is_rejected_with_reason_1(harness: Harness) -> None:
    harness.send(CancelOrder(harness.next_id(), "NEVER-SENT", "P", "GOOG", Side.SELL, 1))
    reject = await harness.next_of(CancelReject)
    assert reject.reason == "1" and reject.orig_cl_ord_id == "NEVER-SENT"


async def test_invalid_order_is_rejected_and_the_session_survives(harness: Harness) -> None:
    cl = harness.next_id()
    harness.send(NewOrder(cl, "P", "GOOG", Side.SELL, 0, ASK))
    rejected = await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.REJECTED)
    assert "OrderQty(38)" in rejected.text and "positive" in rejected.text
    assert harness.oms.get(cl).status is OrdStatus.REJECTED  # type: ignore[union-attr]
    assert harness.gateway.logged_on.is_set()


async def test_an_order_whose_id_holds_the_separator_is_not_sent(harness: Harness) -> None:
    # Written as text, such a ClOrdID would split into fields of its own: the gateway refuses it.
    assert not harness.gateway.send(NewOrder("T-bad\x01id", "P", "GOOG", Side.SELL, 100,
                                             ASK + 10), harness.venue.clock.now_ns())
    cl = harness.next_id()
    harness.send(NewOrder(cl, "P", "GOOG", Side.SELL, 100, ASK + 10))
    new = await harness.next_of(ExecutionReport, lambda r: r.exec_type is ExecType.NEW)
    assert new.cl_ord_id == cl
    assert [order.cl_ord_id for order in harness.venue.working_orders()] == [cl]


async def test_unknown_compid_is_refused(tmp_path: Path, harness: Harness) -> None:
    loop = asyncio.get_running_loop()
    spec = SessionSpec("initiator", "FIX.4.4", "INTRUDER", "SIMVENUE", "127.0.0.1",
                       harness.venue.config.port, tmp_path / "intruder", reconnect_seconds=30)
    intruder = FixOrderGateway(spec, {"GOOG": GOOG}, loop, lambda e, _t: None)
    intruder.start()
    try:
        assert not await intruder.wait_logged_on(2.0)
        assert [s for s in harness.venue.sessions_logged_on if "INTRUDER" in s] == []
    finally:
        intruder.stop()
