"""The simulated venue driven by a LOBSTER replay, over FIX (real quickfix, loopback): the
client's snapshot is a book the recording shows (the replay has run for as long as the logon
took, at ``speed``), and the recorded flow goes on behind it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Instrument, MarketData, Side
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.replay_flow import lobster_flow
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from sim.lobster import open_sample

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
TICK = Decimal("0.01")
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


async def _next_market_data(events: asyncio.Queue[object]) -> MarketData:
    while True:
        event = await asyncio.wait_for(events.get(), 10)
        if isinstance(event, MarketData):
            return event
