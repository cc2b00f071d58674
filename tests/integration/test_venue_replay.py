"""The simulated venue driven by a LOBSTER replay, over FIX (real quickfix, loopback): the
client's snapshot is a book the recording shows (the replay has run for as long as the logon
took, at ``speed``), and the recorded flow goes on behind it. With the clients' impact
(gateways/venue/impact_flow.py), a client's market buy raises the book it is published."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import (
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.impact_flow import ImpactReplayFlow
from gateways.venue.replay_flow import lobster_flow, open_replay
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from sim.impact_fit import load_impact_params
from sim.lobster import open_sample

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
TICK = Decimal("0.01")
PARAMS = Path(__file__).resolve().parents[2] / "sim" / "params" / "GOOG_2012-06-21.json"
RECORDED_ROWS = 20_000  # far more than the replay gets through before the snapshot, at 5x


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"shared market data not found at {SAMPLE}")
async def test_a_client_sees_the_recorded_book_and_its_flow(tmp_path: Path) -> None:
    port = free_port()
    symbol = VenueSymbol(symbol="GOOG", tick_size=TICK, start_price=Decimal("580"),
                         replay=SAMPLE)
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="TESTER")], symbols=[symbol],
                    speed=5.0, state_dir=tmp_path / "venue"),
        flows={"GOOG": lobster_flow("GOOG", SAMPLE, TICK)})
    events: asyncio.Queue[object] = asyncio.Queue()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": Instrument("GOOG", TICK)},
                              asyncio.get_running_loop(), lambda e, _t: events.put_nowait(e),
                              ["GOOG"])
    venue.start()
    gateway.start()
    try:
        snapshot = await _next_market_data(events)
        assert snapshot.snapshot
        touch = (max(u.price for u in snapshot.updates if u.side is Side.BUY),
                 min(u.price for u in snapshot.updates if u.side is Side.SELL))
        recorded = {(row.bids[0][0], row.asks[0][0]) for row, _ in
                    zip(open_sample(SAMPLE).book_rows(TICK), range(RECORDED_ROWS), strict=False)}
        assert touch in recorded
        update = await _next_market_data(events)
        assert not update.snapshot and update.ts_ns >= snapshot.ts_ns
    finally:
        gateway.stop()
        venue.stop()
    assert venue.flow_events > 0 and venue.errors == 0


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"shared market data not found at {SAMPLE}")
async def test_a_clients_market_buy_raises_the_published_book_by_its_impact(
        tmp_path: Path) -> None:
    # The recorded market stands still: at a microsecond of it per wall second, its next
    # message (45 ms on) is half a day away. What moves the book is the client's buy.
    port = free_port()
    symbol = VenueSymbol(symbol="GOOG", tick_size=TICK, start_price=Decimal("580"),
                         replay=SAMPLE)
    impact = load_impact_params(PARAMS)
    flow = ImpactReplayFlow(open_replay("GOOG", SAMPLE), TICK, impact)
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="TESTER")], symbols=[symbol],
                    speed=1e-6, state_dir=tmp_path / "venue"), flows={"GOOG": flow})
    events: asyncio.Queue[object] = asyncio.Queue()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "SIMVENUE", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": Instrument("GOOG", TICK)},
                              asyncio.get_running_loop(), lambda e, _t: events.put_nowait(e),
                              ["GOOG"])
    venue.start()
    gateway.start()
    try:
        snapshot = await _next_market_data(events)
        book = {(u.side, u.price): u.qty for u in snapshot.updates}
        bid, ask = _touch(book)
        buy = NewOrder("B1", "P", "GOOG", Side.BUY, 91, None, OrdType.MARKET, TimeInForce.IOC)
        assert gateway.send(buy, venue.clock.now_ns())
        filled, traded = 0, False  # until its fills and the update with its trades are in
        while filled < 91 or not traded:
            event = await asyncio.wait_for(events.get(), 10)
            if isinstance(event, ExecutionReport) and event.exec_type is ExecType.TRADE:
                filled += event.last_qty
                assert event.last_px is not None and event.last_px >= ask
            elif isinstance(event, MarketData):
                book.update({(u.side, u.price): u.qty for u in event.updates})
                traded |= bool(event.trades)
        # 4.70 ticks just after an order of 91 shares (the reference size): 5, the whole book.
        shift = round(impact.kernel(91, 0))
        assert shift == 5 and flow.shift == shift
        moved_bid, moved_ask = _touch(book)
        assert moved_bid == bid + shift  # the bids the buy did not touch, moved up
        assert moved_ask >= ask + shift
        # A resting sell replaced to cross takes 91 shares: its impact takes the shift back.
        assert gateway.send(NewOrder("S1", "P", "GOOG", Side.SELL, 91, ask + 50),
                            venue.clock.now_ns())
        await _report(events, "S1", ExecType.NEW)
        assert flow.shift == shift  # resting: no impact
        assert gateway.send(ReplaceOrder("S2", "S1", "P", "GOOG", Side.SELL, 91, bid),
                            venue.clock.now_ns())
        await _report(events, "S2", ExecType.TRADE)
        assert flow.shift == 0
    finally:
        gateway.stop()
        venue.stop()
    assert venue.errors == 0


async def _report(events: asyncio.Queue[object], cl_ord_id: str,
                  exec_type: ExecType) -> ExecutionReport:
    while True:
        event = await asyncio.wait_for(events.get(), 10)
        if isinstance(event, ExecutionReport) and event.cl_ord_id == cl_ord_id and \
                event.exec_type is exec_type:
            return event


def _touch(book: dict[tuple[Side, int], int]) -> tuple[int, int]:
    return (max(p for (side, p), q in book.items() if side is Side.BUY and q > 0),
            min(p for (side, p), q in book.items() if side is Side.SELL and q > 0))


async def _next_market_data(events: asyncio.Queue[object]) -> MarketData:
    while True:
        event = await asyncio.wait_for(events.get(), 10)
        if isinstance(event, MarketData):
            return event
