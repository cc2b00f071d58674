"""A running service's API wired to its engine: ready once trading can start, and a kill
through the API cancels the working child orders at the venue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from gateways.venue.config import VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.app import Service
from service.config import (
    ApiConfig,
    FixConfig,
    InstrumentConfig,
    PolicyConfig,
    RiskConfig,
    ServiceConfig,
)
from service.domain import Side
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "k" * 20


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Service, SimulatedVenue]]:
    port = free_port()
    symbol = VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"), start_price=Decimal("580.01"))
    venue = SimulatedVenue(VenueConfig(port=port, symbols=[symbol], speed=1.0,
                                       state_dir=tmp_path / "venue"),
                           flows={"GOOG": ScriptedFlow(bid=58000, ask=58002)})
    config = ServiceConfig(
        instruments=[InstrumentConfig(symbol="GOOG", tick_size=Decimal("0.01"))],
        fix=FixConfig(port=port, state_dir=tmp_path / "fix"),
        policy=PolicyConfig(name="twap_passive", slice_seconds=30.0),
        risk=RiskConfig(limits_path=ROOT / "deploy" / "risk" / "limits.demo.yaml"),
        api=ApiConfig(port=0, tokens=SecretStr(f"ops=trade:{TOKEN}")))
    venue.start()
    running = Service(config)
    try:
        await running.start()
        await running.wait_ready()
        yield running, venue
    finally:
        await running.stop()
        venue.stop()


async def test_ready_then_kill_through_the_api_cancels_at_the_venue(
        service: tuple[Service, SimulatedVenue]) -> None:
    running, venue = service
    assert running.api is not None
    url = running.api.url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 200, await response.text()
        running.submit(Side.SELL, 500, "GOOG", 600.0)  # the configured passive TWAP
        for _ in range(200):  # the passive child rests at the venue within a few ticks
            if venue.working_orders():
                break
            await asyncio.sleep(0.05)
        assert venue.working_orders(), "the policy never rested a child order"
        async with http.post(f"{url}/api/v1/risk/kill", json={"reason": "drill"},
                             headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            assert (await response.json())["cancels_sent"] >= 1
        for _ in range(200):
            if not venue.working_orders():
                break
            await asyncio.sleep(0.05)
        assert venue.working_orders() == []
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 503
            assert (await response.json())["checks"]["trading_not_halted"] is False
