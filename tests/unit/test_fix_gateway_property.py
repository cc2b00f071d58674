"""Property: whatever execution report arrives, the gateway's callback returns normally (an
exception escaping into quickfix ends the process) and accounts for it: either it reaches the
loop as an event or it is counted as malformed. Real quickfix messages, a real event loop; the
gateway is not connected (its callbacks are what is under test)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import ExecType, Instrument, OrdStatus
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec

REPORT = {37: "O1", 11: "C1", 17: "E1", 150: "F", 39: "1", 55: "GOOG", 54: "2", 38: "100",
          14: "40", 151: "60", 32: "40", 31: "580.01", 6: "580.01",
          60: "20261123-12:00:00.000001"}
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x01",
                                      blacklist_categories=["Cs"]), max_size=12)
# Values a counterparty might plausibly send, mixed with noise: every ExecType and OrdStatus
# (and FIX 4.2's ExecTransType and ExecRefID, which amend trades), numbers of every sign.
VALUE = st.one_of(
    st.none(), TEXT,
    st.sampled_from([e.value for e in ExecType] + [s.value for s in OrdStatus]),
    st.integers(-10**6, 10**12).map(str),
    st.decimals(allow_nan=True, allow_infinity=True, places=4).map(str))
TAGS = [*sorted(REPORT), 19, 20, 43]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FixOrderGateway,
                                                                        asyncio.AbstractEventLoop,
                                                                        list[object]]]:
    loop = asyncio.new_event_loop()
    delivered: list[object] = []
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "PEER", "127.0.0.1", 1,
                       Path(tmp_path_factory.mktemp("gateway")))
    yield (FixOrderGateway(spec, {"GOOG": Instrument("GOOG", Decimal("0.01"))}, loop,
                           lambda event, _t: delivered.append(event)), loop, delivered)
    loop.close()


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(TAGS), VALUE, max_size=len(TAGS)))
def test_any_execution_report_is_delivered_or_counted_never_raised(
        gateway: tuple[FixOrderGateway, asyncio.AbstractEventLoop, list[object]],
        changes: dict[int, str | None]) -> None:
    gw, loop, delivered = gateway
    message = fix.Message()
    message.getHeader().setField(35, "8")
    for tag, value in {**REPORT, **changes}.items():
        if value is not None:
            message.setField(tag, value)
    before = (len(delivered), gw.malformed)
    gw.fromApp(message, fix.SessionID("FIX.4.4", "TESTER", "PEER"))  # must not raise
    loop.run_until_complete(asyncio.sleep(0))  # run what the callback handed to the loop
    assert (len(delivered) - before[0]) + (gw.malformed - before[1]) == 1
