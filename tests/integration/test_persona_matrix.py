"""The persona matrix: the service against every counterparty persona of the simulated venue
(gateways/venue/personas.py), real quickfix on both sides over 127.0.0.1, one venue per persona.

Each run works one parent (sell 800 GOOG) with a scripted policy (tests/support/
scripted_policy.py) that sends a new order, replaces it, cancels it, crosses more than the
touch holds (a partial fill) and crosses again (a fill). At the end, either the service's
record equals the venue's exactly (every order the venue holds, by OrderID: the same filled
quantity, finished or not alike; the parent's filled quantity their sum), or the parent was
stopped and the difference is named (the fills not believed, the replace taken as a new
order). Never is more than the parent believed filled. The table of outcomes is written to
``persona-matrix.md`` in pytest's base temporary directory and printed (``pytest -s``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Side
from gateways.venue.config import VenueConfig, VenueSymbol
from gateways.venue.personas import PERSONAS
from gateways.venue.venue import SimulatedVenue
from service.config import PolicyConfig
from service.engine import ParentOutcome
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow
from tests.support.scripted_policy import ScriptedPolicy
from tests.support.session import running_service, service_config

pytestmark = pytest.mark.integration

# The example executor a user first met: all three at once.
EXAMPLE_EXECUTOR = "fill-at-limit,fix42-values,replace-as-new"
# Personas that show the service something it must not believe: it stops the parent.
STOPPING = {"rogue", "replace-as-new"}
SPEED = 2.0  # market seconds per wall second
QTY, REST, FIRST_CROSS = 800, 200, 600


@dataclass
class Row:
    persona: str
    sent: dict[str, int]  # order messages by type
    partial_fill: bool
    fill: bool
    outcome: ParentOutcome
    equal: bool

    def cells(self) -> list[str]:
        o = self.outcome
        seen = [kind for kind in ("new", "replace", "cancel") if self.sent.get(kind)]
        seen += ["partial fill"] * self.partial_fill + ["fill"] * self.fill
        return [self.persona, ", ".join(seen), o.outcome, f"{o.filled}/{o.qty}",
                str(len(o.suspect_fills)), "equal" if self.equal else "differs",
                o.stopped[:90] or "-"]


def _venue(tmp_path: Path, port: int, persona: str) -> SimulatedVenue:
    symbol = VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"), start_price=Decimal("580.01"))
    venue = SimulatedVenue(VenueConfig(port=port, symbols=[symbol], speed=SPEED,
                                       state_dir=tmp_path / "venue", persona=persona),
                           flows={"GOOG": ScriptedFlow(bid=58_000, ask=58_002)})
    if "unsolicited-cancel" in persona:
        venue.persona.cancel_chance = 0.3  # often enough to meet a resting order here
    return venue


def _write_row(table: Path, row: Row) -> None:
    if not table.exists():
        table.write_text("| persona | scenarios seen | outcome | filled | not believed | "
                         "record vs venue | stopped because |\n|---|---|---|---|---|---|---|\n")
    with table.open("a") as handle:
        handle.write("| " + " | ".join(row.cells()) + " |\n")
    print("| " + " | ".join(row.cells()) + " |")  # the matrix, shown with pytest -s


@pytest.mark.parametrize("persona", [*PERSONAS, EXAMPLE_EXECUTOR])
async def test_the_service_against_a_counterparty_persona(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, persona: str) -> None:
    port = free_port()
    venue = _venue(tmp_path, port, persona)
    config = service_config(tmp_path, port, policy=PolicyConfig(
        name="twap", horizon_grace_seconds=2.0, settle_seconds=3.0))
    async with running_service(venue, config) as service:
        engine = service.engine
        assert engine is not None
        parent, finished = service.submit(Side.SELL, QTY, "GOOG", 20.0,
                                          ScriptedPolicy(REST, FIRST_CROSS, step_seconds=0.6))
        await asyncio.wait_for(finished.wait(), 60)
        outcome = engine.outcome(parent.parent_id)
        children = engine.oms.children(parent.parent_id)
        sent = {kind: engine.metrics.orders_sent.labels(kind).value
                for kind in ("new", "replace", "cancel")}
    # Each side's record, by the venue's OrderID: filled quantity, and whether it is finished.
    ours = {c.order_id: (c.cum_qty, c.status.is_terminal) for c in children
            if c.order_id not in (None, "NONE")}
    theirs = {o.order_id: (o.cum_qty, o.status.is_terminal) for o in venue.client_orders()}
    equal = ours == theirs and parent.filled == sum(cum for cum, _ in theirs.values())
    row = Row(persona, sent, any(0 < c.cum_qty < c.qty for c in children),
              any(c.cum_qty == c.qty for c in children), outcome, equal)
    _write_row(tmp_path_factory.getbasetemp() / "persona-matrix.md", row)

    assert parent.done and outcome.outcome in ("filled", "stopped", "expired")
    assert parent.filled <= parent.qty  # never more believed filled than the parent
    if persona in STOPPING:
        assert outcome.stopped, "the parent went on against a counterparty it cannot believe"
        assert outcome.suspect_fills or "new order" in outcome.stopped
    else:
        assert not outcome.stopped and not outcome.in_doubt, outcome
        assert equal, (ours, theirs)
