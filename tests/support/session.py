"""The pieces every end-to-end test of a running service starts from: a simulated FIX venue with
a scripted, static book (bids from 580.00 down, asks from 580.02 up), and a service
configuration pointed at it. Tests change only what they are about."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from tests.support.scripted_flow import ScriptedFlow

ROOT = Path(__file__).resolve().parents[2]
DEMO_LIMITS = ROOT / "deploy" / "risk" / "limits.demo.yaml"


def scripted_venue(tmp_path: Path, port: int, speed: float = 1.0,
                   flow: ScriptedFlow | None = None,
                   cancel_on_disconnect: bool = True) -> SimulatedVenue:
    symbol = VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"), start_price=Decimal("580.01"))
    return SimulatedVenue(VenueConfig(port=port, symbols=[symbol], speed=speed,
                                      state_dir=tmp_path / "venue",
                                      cancel_on_disconnect=cancel_on_disconnect),
                          flows={"GOOG": flow or ScriptedFlow(bid=58000, ask=58002)})


@contextlib.asynccontextmanager
async def running_service(venue: SimulatedVenue, config: ServiceConfig) \
        -> AsyncIterator[Service]:
    """The venue started, then the service connected and ready; both stopped afterwards,
    whatever the test did."""
    venue.start()
    running = Service(config)
    try:
        await running.start()
        await running.wait_ready()
        yield running
    finally:
        await running.stop()
        venue.stop()


async def until(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    """Poll ``condition`` every 20 ms for up to ``seconds``: whether it came true (the waits of
    the end-to-end tests; the deadline bounds a failure, it asserts no speed)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


def service_config(tmp_path: Path, port: int, **sections: Any) -> ServiceConfig:
    """GOOG, FIX to ``port``, passive TWAP, the demo limits, the API on a free port; any
    section given replaces its default."""
    defaults: dict[str, Any] = {
        "instruments": [InstrumentConfig(symbol="GOOG", tick_size=Decimal("0.01"))],
        "fix": FixConfig(port=port, state_dir=tmp_path / "fix"),
        "policy": PolicyConfig(name="twap_passive", slice_seconds=30.0),
        "risk": RiskConfig(limits_path=DEMO_LIMITS),
        "api": ApiConfig(port=0),
    }
    return ServiceConfig(**{**defaults, **sections})
