"""Reconnecting with backoff, against a real quickfix acceptor on 127.0.0.1 that goes away and
comes back (gateways/fix/reconnect.py).

What is asserted is behaviour, never speed: the order of events, and that each connection
attempt came no sooner than the wait the backoff prescribes for it (the waits grow, up to the
cap). The test's deadlines only bound a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Instrument, SessionStatus
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.reconnect import Backoff, ReconnectPacer
from gateways.fix.settings import SessionSpec
from service.net import free_port
from tests.support.fix_peer import FixPeer
from tests.support.session import until

pytestmark = pytest.mark.integration

# Small waits so the test is short; growth and the cap both show within five attempts.
BACKOFF = Backoff(initial_s=0.5, max_s=2.0, multiplier=2.0, jitter=0.25)
CONNECTING = "Connecting to"


@dataclass
class Line:
    """The gateway, the session-status events it delivered, and the acceptor's place."""

    tmp_path: Path
    port: int
    gateway: FixOrderGateway
    statuses: list[bool]
    peer: FixPeer | None = None

    @property
    def pacer(self) -> ReconnectPacer:
        assert self.gateway.pacer is not None
        return self.gateway.pacer

    def acceptor_up(self) -> None:
        self.peer = FixPeer(self.tmp_path / "peer", self.port)
        self.peer.start()

    def acceptor_down(self) -> None:
        assert self.peer is not None
        self.peer.stop()
        self.peer = None


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    port = free_port()
    spec = SessionSpec("initiator", "FIX.4.4", "TESTER", "PEER", "127.0.0.1", port,
                       tmp_path / "client", heartbeat_seconds=1)
    statuses: list[bool] = []

    def sink(event: object, _received: int) -> None:
        if isinstance(event, SessionStatus):
            statuses.append(event.logged_on)

    gateway = FixOrderGateway(spec, {"GOOG": Instrument("GOOG", Decimal("0.01"))},
                              asyncio.get_running_loop(), sink, backoff=BACKOFF)
    result = Line(tmp_path, port, gateway, statuses)
    try:
        yield result
    finally:
        gateway.stop()
        if result.peer is not None:
            result.peer.stop()


def _assert_paced(pacer: ReconnectPacer, first: int, last: int) -> None:
    """Attempts ``first``..``last`` (indexes into ``pacer.attempts``) each came after a
    connection end, no sooner than the wait chosen then, and that wait was at least the
    backoff's base for the number of ends in a row."""
    attempts, waits = list(pacer.attempts), list(pacer.waits)
    for index in range(first, last + 1):
        before = [w for w in waits if w.at <= attempts[index]]
        assert before, f"attempt {index} came with no connection end before it"
        wait = before[-1]
        assert attempts[index - 1] <= wait.at, "two attempts without an end between them"
        assert wait.seconds >= BACKOFF.base_s(wait.failures)
        assert attempts[index] >= wait.at + wait.seconds, \
            f"attempt {index} came before its wait of {wait.seconds:.2f} s was over"


async def test_attempts_back_off_while_the_acceptor_is_away_and_reset_after_a_logon(
        line: Line) -> None:
    line.gateway.start()  # nobody listens yet: every attempt is refused
    assert await until(lambda: len(line.pacer.attempts) >= 5, 30)
    assert not line.gateway.logged_on.is_set()
    waits = list(line.pacer.waits)[:4]
    # One end per attempt, counted in a row; the base waits grow to the cap and stay there.
    assert [w.failures for w in waits] == [1, 2, 3, 4]
    assert [BACKOFF.base_s(w.failures) for w in waits] == [0.5, 1.0, 2.0, 2.0]
    assert all(BACKOFF.base_s(w.failures) <= w.seconds
               <= BACKOFF.base_s(w.failures) * (1 + BACKOFF.jitter) for w in waits)
    _assert_paced(line.pacer, 1, 4)

    line.acceptor_up()
    assert await line.gateway.wait_logged_on(30)
    assert line.pacer.failures == 0  # a logon resets the count

    attempts_before_drop = len(line.pacer.attempts)
    ends_before_drop = len(line.pacer.waits)
    line.acceptor_down()  # the logged-on session drops, and nobody listens for a while
    assert await until(lambda: len(line.pacer.attempts) >= attempts_before_drop + 2, 30)
    after_drop = list(line.pacer.waits)[ends_before_drop:]
    assert [w.failures for w in after_drop[:2]] == [1, 2]  # the count starts again at one
    _assert_paced(line.pacer, attempts_before_drop, attempts_before_drop + 1)

    line.acceptor_up()
    assert await line.gateway.wait_logged_on(30)
    assert line.statuses == [True, False, True]

    # The attempts the pacer saw are the ones quickfix made: its own event log agrees (this
    # also pins the event texts the pacer relies on).
    logged = sum(log.read_text().count(CONNECTING)
                 for log in (line.tmp_path / "client" / "log").glob("*.event.current.log"))
    assert logged == len(line.pacer.attempts)


async def test_a_stopped_gateway_does_not_reconnect(line: Line) -> None:
    line.acceptor_up()
    line.gateway.start()
    assert await line.gateway.wait_logged_on(30)
    attempts = len(line.pacer.attempts)
    line.gateway.stop()
    await asyncio.sleep(BACKOFF.max_s * (1 + BACKOFF.jitter) + 1.5)  # past any wait and tick
    assert len(line.pacer.attempts) == attempts
