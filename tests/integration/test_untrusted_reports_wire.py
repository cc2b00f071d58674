"""Property, over a real quickfix session: whatever a counterparty writes in an execution report
(legacy values, missing fields, absurd values, values quickfix's data dictionary refuses), no
fill is lost and no impossible fill is booked as true.

The venue's truth in each example: it filled ``qty`` of the service's child at a believable
price. What it writes is that report, mangled by hypothesis. A scriptable acceptor
(tests/support/fix_peer.py) sends it to the service's gateway; the engine takes whatever
arrives (a report, or the raw text of one it cannot read); when the engine asks about the order
(an OrderStatusRequest), the venue answers with the truth. Then:
- nothing impossible is booked: every fill booked is on the order's side, on the grid, at or
  better than the limit, within the band of the mid, never beyond the order; the position is
  exactly what the booked fills say;
- nothing is lost: the fill is booked, or it is recorded as the venue stated it, not believed,
  and its parent stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from core.domain import (
    BookUpdate,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    SessionStatus,
    Side,
    UnreadableReport,
)
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec
from models.baselines import TwapPolicy
from service.engine import Engine
from service.metrics import Metrics
from service.net import free_port
from service.state.store import MemoryStore
from tests.support.fix_peer import FixPeer, app_message
from tests.support.risk import make_overlay, roomy
from tests.support.sending import RecordingSender

pytestmark = pytest.mark.integration

GOOG = Instrument("GOOG", Decimal("0.01"))
BID, ASK = 57_999, 58_001  # the child rests at the ask: its limit
SECOND = 10**9
WAIT_S = 10.0


@dataclass
class Wire:
    peer: FixPeer
    gateway: FixOrderGateway
    events: queue.Queue[object]


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    """One session for every example: the gateway's loop runs on a thread of its own, so each
    example can wait for what the gateway delivers."""
    tmp = Path(tmp_path_factory.mktemp("wire"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = free_port()
    peer = FixPeer(tmp / "peer", port)
    peer.start()
    events: queue.Queue[object] = queue.Queue()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "PEER", "127.0.0.1", port,
                       tmp / "client", heartbeat_seconds=5, reconnect_seconds=1)
    gateway = FixOrderGateway(spec, {"GOOG": GOOG}, loop, lambda e, _t: events.put(e))
    loop.call_soon_threadsafe(gateway.start)
    try:
        assert gateway.logged_on.wait(WAIT_S), "no logon"
        assert events.get(timeout=WAIT_S) == SessionStatus(True)
        yield Wire(peer, gateway, events)
    finally:
        gateway.stop()
        peer.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


_ids = itertools.count(1)
# What the venue may write instead of each field: FIX 4.2's values, nothing, absurd values,
# values quickfix's dictionary refuses, and values of the wrong type. Quantities are never
# replaced by another plausible quantity (a consistent lie about a smaller fill cannot be told
# from the truth by anyone but the venue).
ABSENT = None
MANGLES: dict[int, list[str | None]] = {
    150: ["1", "2", "0", "4", "I", "Z", "", ABSENT],  # ExecType
    39: ["1", "2", "5", "Q", "", ABSENT],  # OrdStatus
    54: ["1", "7", "", ABSENT],  # Side: a BUY fill on the SELL child, nonsense
    32: ["0", "-5", "1e20", "abc", "", "{ten_times}", ABSENT],  # LastQty
    31: ["-580.00", "0", "99999999999.99", "580.015", "abc", "1e400", "", ABSENT],  # LastPx
    14: ["0", "-1", "abc", "", "{ten_times}", ABSENT],  # CumQty
    6: ["0", "-580.00", "abc", ABSENT],  # AvgPx
    37: ["", ABSENT],  # OrderID
    151: ["abc", ABSENT],  # LeavesQty
    17: ["", ABSENT],  # ExecID
    11: ["", ABSENT],  # ClOrdID
}
mangles = st.dictionaries(st.sampled_from(sorted(MANGLES)), st.integers(0, 7), max_size=2)


def _engine() -> tuple[Engine, RecordingSender, NewOrder]:
    venue = RecordingSender()
    engine = Engine({"GOOG": GOOG}, make_overlay(roomy()), venue, MemoryStore(), Metrics(),
                    slice_seconds=10.0, request_status=venue.request_status,
                    cl_ord_id_prefix=f"W{next(_ids)}")
    engine.submit(ParentOrder("P1", "GOOG", Side.SELL, 1_000, 0, 100 * SECOND, "twap"),
                  TwapPolicy(passive=True))
    engine.handle(MarketData("GOOG", SECOND, (BookUpdate("GOOG", Side.BUY, BID, 500, SECOND),
                                              BookUpdate("GOOG", Side.SELL, ASK, 500, SECOND))),
                  time.perf_counter_ns())
    child = venue.sent[-1]
    assert isinstance(child, NewOrder)
    return engine, venue, child


def _report(child: NewOrder, exec_id: str, qty: int, px: int,
            changes: dict[int, int]) -> fix.Message:
    price = str(GOOG.to_price(px))
    fields: dict[int, str | None] = {
        37: f"O-{child.cl_ord_id}", 11: child.cl_ord_id, 17: exec_id, 150: "F",
        39: "2" if qty == child.qty else "1", 55: "GOOG", 54: "2", 38: str(child.qty),
        151: str(child.qty - qty), 14: str(qty), 6: price, 32: str(qty), 31: price,
        60: "20261123-15:00:00.000000"}
    for tag, choice in changes.items():
        options = MANGLES[tag]
        value = options[choice % len(options)]
        fields[tag] = value.format(ten_times=child.qty * 10) if value is not None else None
    return app_message("8", **{f"t{tag}": value for tag, value in fields.items()})


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=mangles, qty_share=st.integers(1, 100), px_ticks_above=st.integers(0, 3))
@example(changes={150: 4, 6: 0}, qty_share=1, px_ticks_above=1)
def test_no_fill_is_lost_and_no_impossible_fill_is_booked(
        wire: Wire, changes: dict[int, int], qty_share: int, px_ticks_above: int) -> None:
    engine, venue, child = _engine()
    qty = max(1, child.qty * qty_share // 100)  # the truth: qty filled at px
    px = ASK + px_ticks_above
    exec_id = f"X{next(_ids)}"
    assert wire.peer.send(_report(child, exec_id, qty, px, changes))
    arrived = wire.events.get(timeout=WAIT_S)  # exactly one event per report, never none
    assert isinstance(arrived, ExecutionReport | UnreadableReport)
    assert wire.events.empty()
    engine.handle(arrived, time.perf_counter_ns())
    if venue.asked:  # the venue answers the status request with the truth
        engine.handle(ExecutionReport(
            child.cl_ord_id, f"S{exec_id}", ExecType.ORDER_STATUS,
            OrdStatus.FILLED if qty == child.qty else OrdStatus.PARTIALLY_FILLED, "GOOG",
            Side.SELL, qty, child.qty - qty, avg_px_ticks=float(px)), time.perf_counter_ns())

    parent = engine.oms.parents["P1"]
    order = engine.oms.get(child.cl_ord_id)
    assert order is not None
    # Nothing impossible booked: each stored fill is believable, the position is theirs.
    fills = engine.store.fills()  # type: ignore[attr-defined]
    for _cl, booked_qty, booked_px in fills.values():
        assert 0 < booked_qty <= child.qty and ASK <= booked_px <= ASK * 1.05
    assert order.cum_qty == sum(q for _, q, _ in fills.values()) <= child.qty
    assert parent.filled == order.cum_qty
    assert engine.risk.position("GOOG") == -parent.filled
    # Nothing lost: booked as it was, or kept as stated, not believed, the parent stopped.
    suspects = [f for f in engine.suspect_fills if f.cl_ord_id in (child.cl_ord_id, "")]
    event(f"{type(arrived).__name__}; asked: {bool(venue.asked)}; "
          f"{'not believed' if suspects else 'booked'}")
    if parent.filled != qty:
        assert suspects and parent.stopped, (arrived, parent.filled, qty)
    else:
        assert parent.notional_ticks == qty * px
