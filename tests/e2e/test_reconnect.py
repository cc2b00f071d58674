"""A FIX session lost in the middle of a parent order: while the service is away its resting
order fills at the venue; on the reconnect the fill comes back by resend, every working order
is asked about (OrderStatusRequest) and squared, and trading waits for an operator, then
finishes the parent with exactly what remains."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import quickfix as fix

from core.domain import Side
from models.baselines import TwapPolicy
from risk.state import KillTrigger, TradingState
from service.net import free_port
from service.state.journal import MemoryJournal
from tests.support.scripted_flow import ScriptedFlow
from tests.support.session import running_service, scripted_venue, service_config, until

pytestmark = pytest.mark.e2e


def _received(venue_dir: Path, msg_type: str) -> int:
    """How many messages of ``msg_type`` the venue's FIX message log shows coming in."""
    needle = f"\x0135={msg_type}\x01"
    return sum(log.read_text(errors="replace").count(needle)
               for log in venue_dir.rglob("*.messages.current.log"))


async def test_a_reconnect_recovers_missed_fills_and_reconciles(tmp_path: Path) -> None:
    port = free_port()
    flow = ScriptedFlow(bid=58_000, ask=58_002)
    venue = scripted_venue(tmp_path, port, speed=20.0, flow=flow, cancel_on_disconnect=False)
    async with running_service(venue, service_config(tmp_path, port)) as running:
        assert isinstance(running.journal, MemoryJournal)
        parent, finished = running.submit(Side.SELL, 1_000, "GOOG", 120.0,
                                          TwapPolicy(passive=True))
        assert await until(lambda: bool(venue.working_orders()))
        [resting] = venue.working_orders()
        venue_session = fix.SessionID("FIX.4.4", "SIMVENUE", "EXECAGENT")

        fix.Session.lookupSession(venue_session).disconnect()  # the line drops
        assert await until(lambda: running.risk.state is TradingState.HALTED)
        assert running.risk.kills == {KillTrigger.SESSION_LOST: 1}
        # While the service is away, the crowd buys and fills the resting sell.
        # The crowd's 500 a level from 580.02 up rest ahead of it (price-time priority).
        flow.crowd_market_order(Side.BUY, 500 * (resting.price - 58_001) + resting.qty)
        assert await until(lambda: not venue.working_orders())
        filled_away = venue.client_filled_qty
        assert filled_away == resting.qty

        assert await until(lambda: running.gateway is not None
                           and running.gateway.logged_on.is_set(), 20)  # reconnect_seconds 2
        assert await until(lambda: any(e["kind"] == "reconciliation"
                                       for e in running.journal.entries))
        [entry] = [e for e in running.journal.entries if e["kind"] == "reconciliation"]
        assert (entry["outcome"], entry["orders"]) == ("squared", "1")
        assert _received(tmp_path / "venue", "H") == 1  # one OrderStatusRequest
        assert parent.filled == filled_away  # the fill came back by resend
        assert running.risk.position("GOOG") == -filled_away
        assert running.engine is not None and running.engine.reconciliation is None

        # Nothing trades until an operator resumes; then the parent finishes exactly.
        sent_before = parent.child_orders_sent
        await asyncio.sleep(0.5)
        assert parent.child_orders_sent == sent_before
        running.risk.resume("session back, orders reconciled", "test", 0)
        await asyncio.wait_for(finished.wait(), 60)
        assert parent.filled == 1_000 == venue.client_filled_qty
