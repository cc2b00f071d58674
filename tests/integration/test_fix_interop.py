"""Interoperability: the service, unchanged, against counterparties it was not written with.

1. A minimal FIX simulator of the common kind, written here: it answers each NewOrderSingle with
   one fully filled ExecutionReport at the limit price and no New before it, and refuses anything
   that is not a limit order (a market order with a rejected ExecutionReport; a cancel or a
   replace, which it does not support, with quickfix's BusinessMessageReject).
2. A FIX 4.2 session: the simulated venue configured for 4.2, which speaks 4.2's dialect of the
   ExecutionReport (ExecTransType, fills as ExecType 1/2, status answers as ExecTransType 3).

Real quickfix on both sides over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix

from core.domain import (
    BookUpdate,
    CancelOrder,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from models.baselines import TwapPolicy
from service.app import Service
from service.config import FixConfig, PolicyConfig
from service.net import free_port
from tests.support.fix_peer import Fields, FixPeer, execution_report
from tests.support.scripted_flow import ScriptedFlow
from tests.support.session import running_service, service_config

pytestmark = pytest.mark.integration

GOOG = Instrument("GOOG", Decimal("0.01"))
BID, ASK = 58000, 58002
WAIT_S = 15.0


class FillAtLimit:
    """The minimal simulator's whole behaviour (the responder of a FixPeer)."""

    def __init__(self) -> None:
        self._exec_ids = itertools.count(1)

    def __call__(self, order: Fields) -> list[fix.Message]:
        if order[35] != fix.MsgType_NewOrderSingle:
            raise fix.UnsupportedMessageType()
        cl_ord_id, qty = order[11], int(order[38])
        exec_id = f"SIM{next(self._exec_ids)}"
        if order.get(40) != "2":
            return [execution_report(cl_ord_id, exec_id, "8", "8", qty=qty, cum_qty=0,
                                     symbol=order[55], side=order[54],
                                     t58="only limit orders are accepted")]
        return [execution_report(cl_ord_id, exec_id, "F", "2", qty=qty, cum_qty=qty,
                                 last_qty=qty, last_px=order[44], symbol=order[55],
                                 side=order[54])]


def _book(ts_ns: int, snapshot: bool) -> MarketData:
    levels = [BookUpdate("GOOG", Side.BUY, BID - n, 500, ts_ns) for n in range(5)] + \
        [BookUpdate("GOOG", Side.SELL, ASK + n, 500, ts_ns) for n in range(5)]
    return MarketData("GOOG", ts_ns, tuple(levels), snapshot=snapshot)


async def _feed_market_data(service: Service, step_ns: int) -> None:
    """Market data from outside the order session (the minimal simulator has none): the same
    book, advancing a market second per message, as a separate feed would deliver it."""
    assert service.engine is not None
    ts = time.time_ns()
    service.engine.deliver(_book(ts, True), time.perf_counter_ns())
    while True:
        await asyncio.sleep(0.02)
        ts += step_ns
        service.engine.deliver(_book(ts, False), time.perf_counter_ns())


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[FixPeer]:
    peer = FixPeer(tmp_path / "sim", free_port(), FillAtLimit(), comp_id="MINISIM",
                   client_comp_id="EXECAGENT")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


async def test_the_service_works_a_parent_order_against_a_fill_at_limit_simulator(
        tmp_path: Path, simulator: FixPeer) -> None:
    config = service_config(
        tmp_path, simulator.spec.port, policy=PolicyConfig(name="twap", slice_seconds=5.0),
        fix=FixConfig(port=simulator.spec.port, target_comp_id="MINISIM", market_data=False,
                      state_dir=tmp_path / "fix"))
    service = Service(config)
    await service.start()
    feed = asyncio.create_task(_feed_market_data(service, 1_000_000_000))
    try:
        await service.wait_ready()
        assert service.engine is not None
        parent, finished = service.submit(Side.SELL, 1_200, "GOOG", 20.0, TwapPolicy())
        await asyncio.wait_for(finished.wait(), WAIT_S)
        children = service.engine.oms.children(parent.parent_id)
    finally:
        feed.cancel()
        await service.stop()
    assert parent.done and parent.filled == 1_200
    assert children and all(c.status is OrdStatus.FILLED for c in children)
    # Each fill is at its order's limit, as the simulator promises.
    assert parent.notional_ticks == sum(c.qty * (c.price or 0) for c in children)
    orders = simulator.of_type(fix.MsgType_NewOrderSingle)
    assert len(orders) == len(children) and all(o[40] == "2" for o in orders)


async def test_market_orders_are_rejected_and_cancels_refused_by_business_reject(
        tmp_path: Path, simulator: FixPeer) -> None:
    events: asyncio.Queue[object] = asyncio.Queue()
    spec = SessionSpec("initiator", "FIX.4.4", "EXECAGENT", "MINISIM", "127.0.0.1",
                       simulator.spec.port, tmp_path / "client", heartbeat_seconds=1,
                       reconnect_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": GOOG}, asyncio.get_running_loop(),
                              lambda e, _t: events.put_nowait(e))
    oms = OrderManager()
    oms.add_parent(ParentOrder("P", "GOOG", Side.SELL, 10_000, 0, 10**20, "test"))

    async def next_event(kind: type) -> object:
        while True:
            event = await asyncio.wait_for(events.get(), WAIT_S)
            if isinstance(event, ExecutionReport):
                oms.on_execution_report(event)
            elif isinstance(event, CancelReject):
                oms.on_cancel_reject(event)
            if isinstance(event, kind):
                return event

    gateway.start()
    try:
        assert await gateway.wait_logged_on(WAIT_S)
        market = NewOrder("M1", "P", "GOOG", Side.SELL, 100, None, OrdType.MARKET,
                          TimeInForce.IOC)
        oms.on_sent(market)
        assert gateway.send(market, time.time_ns())
        rejected = await next_event(ExecutionReport)
        assert isinstance(rejected, ExecutionReport)
        assert rejected.exec_type is ExecType.REJECTED and "limit" in rejected.text
        assert _order(oms, "M1").status is OrdStatus.REJECTED

        limit = NewOrder("L1", "P", "GOOG", Side.SELL, 100, ASK + 3)
        oms.on_sent(limit)
        assert gateway.send(limit, time.time_ns())
        filled = await next_event(ExecutionReport)
        assert isinstance(filled, ExecutionReport) and filled.exec_type is ExecType.TRADE
        assert _order(oms, "L1").status is OrdStatus.FILLED  # no New came before the fill
        assert oms.parents["P"].filled == 100

        replace = ReplaceOrder("R1", "L1", "P", "GOOG", Side.SELL, 200, ASK + 4)
        oms.on_sent(replace)
        assert gateway.send(replace, time.time_ns())
        refused = await next_event(CancelReject)
        assert isinstance(refused, CancelReject)
        assert (refused.cl_ord_id, refused.orig_cl_ord_id) == ("R1", "L1")
        assert "business reject" in refused.text and "reason 3" in refused.text  # unsupported
        order = _order(oms, "L1")
        assert order.pending_cl_ord_id is None and (order.qty, order.price) == (100, ASK + 3)
        assert gateway.venue_rejects == 1 and gateway.logged_on.is_set()

        cancel = CancelOrder("X1", "L1", "P", "GOOG", Side.SELL, 100)
        oms.on_sent(cancel)
        assert gateway.send(cancel, time.time_ns())
        assert isinstance(await next_event(CancelReject), CancelReject)
        assert _order(oms, "L1").pending_cl_ord_id is None
    finally:
        gateway.stop()


def _order(oms: OrderManager, cl_ord_id: str) -> ChildOrder:
    order = oms.get(cl_ord_id)
    assert order is not None
    return order


# --- FIX 4.2 -------------------------------------------------------------------------------------
def _venue_42(tmp_path: Path, port: int, client: str) -> SimulatedVenue:
    return SimulatedVenue(
        VenueConfig(port=port, begin_string="FIX.4.2", clients=[VenueClient(comp_id=client)],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))],
                    speed=30.0, state_dir=tmp_path / "venue"),
        flows={"GOOG": ScriptedFlow(BID, ASK)})


async def test_the_service_works_a_parent_order_over_fix_42(tmp_path: Path) -> None:
    port = free_port()
    config = service_config(tmp_path, port, fix=FixConfig(port=port, begin_string="FIX.4.2",
                                                          state_dir=tmp_path / "fix"))
    async with running_service(_venue_42(tmp_path, port, "EXECAGENT"), config) as service:
        parent, finished = service.submit(Side.SELL, 800, "GOOG", 30.0, TwapPolicy())
        await asyncio.wait_for(finished.wait(), WAIT_S)
        assert service.gateway is not None and service.gateway.malformed == 0
    assert parent.done and parent.filled == 800


@pytest.fixture
async def gateway_42(tmp_path: Path) -> AsyncIterator[tuple[FixOrderGateway, SimulatedVenue,
                                                            asyncio.Queue[object]]]:
    port = free_port()
    venue = _venue_42(tmp_path, port, "TESTER")
    venue.start()
    events: asyncio.Queue[object] = asyncio.Queue()
    spec = SessionSpec("initiator", "FIX.4.2", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1, reconnect_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": GOOG}, asyncio.get_running_loop(),
                              lambda e, _t: events.put_nowait(e), ["GOOG"])
    gateway.start()
    try:
        assert await gateway.wait_logged_on(WAIT_S)
        yield gateway, venue, events
    finally:
        gateway.stop()
        venue.stop()


async def test_fix_42_fill_replace_cancel_and_status(
        gateway_42: tuple[FixOrderGateway, SimulatedVenue, asyncio.Queue[object]]) -> None:
    gateway, venue, events = gateway_42
    oms = OrderManager()
    oms.add_parent(ParentOrder("P", "GOOG", Side.SELL, 10_000, 0, 10**20, "test"))

    async def report(predicate: Callable[[ExecutionReport], bool]) -> ExecutionReport:
        while True:
            event = await asyncio.wait_for(events.get(), WAIT_S)
            if isinstance(event, ExecutionReport):
                oms.on_execution_report(event)
                if predicate(event):
                    return event

    def send(intent: NewOrder | ReplaceOrder | CancelOrder) -> None:
        oms.on_sent(intent)
        assert gateway.send(intent, venue.clock.now_ns())

    send(NewOrder("A1", "P", "GOOG", Side.SELL, 700, BID, OrdType.LIMIT, TimeInForce.IOC))
    fill = await report(lambda r: r.exec_type.is_fill)
    assert fill.exec_type is ExecType.PARTIAL_FILL_42 and (fill.last_qty, fill.last_px) == \
        (500, BID)
    await report(lambda r: r.exec_type is ExecType.CANCELED)
    assert _order(oms, "A1").cum_qty == 500

    send(NewOrder("B1", "P", "GOOG", Side.SELL, 200, ASK + 10))
    await report(lambda r: r.exec_type is ExecType.NEW)
    send(ReplaceOrder("B2", "B1", "P", "GOOG", Side.SELL, 150, ASK + 5))
    await report(lambda r: r.exec_type is ExecType.REPLACED)
    order = _order(oms, "B2")
    assert (order.qty, order.price, order.status) == (150, ASK + 5, OrdStatus.NEW)
    assert gateway.request_status(order)
    status = await report(lambda r: r.exec_type is ExecType.ORDER_STATUS)
    assert (status.cl_ord_id, status.ord_status, status.leaves_qty) == ("B2", OrdStatus.NEW, 150)
    send(CancelOrder("B3", "B2", "P", "GOOG", Side.SELL, 150))
    await report(lambda r: r.exec_type is ExecType.CANCELED)
    assert order.status is OrdStatus.CANCELED

    send(NewOrder("C1", "P", "GOOG", Side.SELL, 300, BID - 1, OrdType.LIMIT, TimeInForce.IOC))
    done = await report(lambda r: r.cl_ord_id == "C1" and r.exec_type.is_fill)
    assert done.exec_type is ExecType.FILL_42 and done.ord_status is OrdStatus.FILLED
    assert oms.parents["P"].filled == 800 and gateway.malformed == 0
