"""Reconnecting with backoff: growing, jittered waits between the initiator's connection attempts.

Why: quickfix's initiator retries a lost connection every ``ReconnectInterval`` seconds, a fixed
interval. A counterparty that is down for maintenance, or that refuses our logon, then sees an
attempt every couple of seconds for as long as it lasts; brokers limit connection attempts, and
many clients retrying in lockstep after an outage is how a recovering venue is knocked over again.

How, with what quickfix allows: an initiator connects only sessions that are *enabled*
(``Session::logon()`` enables, ``Session::logout()`` disables: a flag, nothing is sent while the
session is disconnected). Each time a connection ends (quickfix logs the session event
``Disconnecting``: a refused connect, a refused or timed-out logon, a logged-on session that
dropped) the pacer disables the session on quickfix's own thread, inside that callback, so
quickfix cannot retry before the wait is over; the event loop enables it again after the wait,
and quickfix connects at its next timer tick (the generated settings set ``ReconnectInterval=1``,
so within about a second; the gap between attempts is the wait plus that tick, never less than
the wait). A logon resets the count. Attempts are seen in the same log as ``Connecting to ...``
events and kept (``attempts``) with the waits chosen (``waits``), for operators and tests.

The wait after the n-th consecutive connection that ended without a logon (a logged-on session
that drops starts the count at 1):
``base(n) = min(max_s, initial_s * multiplier ** (n - 1))``, plus a jitter of up to
``jitter * base(n)`` drawn uniformly, so that many clients do not retry in step.

Assumption, named: the event texts ``Connecting to`` and ``Disconnecting`` are quickfix's
(1.15 and 1.16); tests/integration/test_fix_reconnect.py fails if a version changes them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import quickfix as fix

log = logging.getLogger(f"execagent.{__name__}")

CONNECTING, DISCONNECTING = "Connecting to", "Disconnecting"
HISTORY = 64  # attempts and waits remembered


@dataclass(frozen=True, slots=True)
class Backoff:
    """The schedule of waits (see the module docstring)."""

    initial_s: float
    max_s: float
    multiplier: float
    jitter: float  # a fraction of the base wait, added at random

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.multiplier >= 1
                and 0 <= self.jitter <= 1):
            raise ValueError(f"invalid reconnect backoff {self}: need 0 < initial <= max, "
                             "multiplier >= 1 and 0 <= jitter <= 1")

    def base_s(self, failures: int) -> float:
        """The wait before the next attempt after ``failures`` (>= 1) ends in a row, before
        jitter: the least the pacer waits."""
        return min(self.max_s, self.initial_s * self.multiplier ** (failures - 1))

    def wait_s(self, failures: int, draw: float) -> float:
        """``base_s`` plus ``draw`` (uniform in [0, 1)) times the jitter share of it."""
        return self.base_s(failures) * (1 + self.jitter * draw)


@dataclass(frozen=True, slots=True)
class Wait:
    """One wait the pacer chose: after ``failures`` ends in a row, ``seconds`` from ``at``
    (``time.monotonic``)."""

    at: float
    failures: int
    seconds: float


class ReconnectPacer:
    """Paces one initiator session's connection attempts by the ``backoff``.

    ``on_event`` and ``on_logon`` are called on quickfix's thread; the waits end on ``loop``.
    """

    def __init__(self, backoff: Backoff, loop: asyncio.AbstractEventLoop,
                 session_id: Callable[[], fix.SessionID | None],
                 draw: Callable[[], float] = random.random) -> None:
        self.backoff = backoff
        self._loop = loop
        self._session_id = session_id
        self._draw = draw
        self.failures = 0  # connections ended since the last logon
        self.attempts: deque[float] = deque(maxlen=HISTORY)  # time.monotonic of each attempt
        self.waits: deque[Wait] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()  # failures: quickfix's thread and the loop
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # --- quickfix's thread --------------------------------------------------------------------
    def on_event(self, text: str) -> None:
        """A session event from quickfix's log; never raises (it runs inside quickfix)."""
        try:
            if text.startswith(CONNECTING):
                self.attempts.append(time.monotonic())
            elif text == DISCONNECTING:
                self._connection_ended()
        except Exception:
            log.exception("reconnect pacing failed on event %r", text)

    def on_logon(self) -> None:
        with self._lock:
            self.failures = 0

    def _connection_ended(self) -> None:
        if self._closed:  # the gateway is stopping: this end is its own doing
            return
        with self._lock:
            self.failures += 1
            failures = self.failures
        wait = Wait(time.monotonic(), failures, self.backoff.wait_s(failures, self._draw()))
        self.waits.append(wait)
        session = self._session()
        if session is None:
            return
        session.logout()  # disabled: quickfix does not connect it until enabled again
        log.info("FIX connection ended (%d in a row without a logon); next attempt in %.1f s",
                 failures, wait.seconds)
        try:
            self._loop.call_soon_threadsafe(self._start_wait, wait)
        except RuntimeError:
            log.debug("event loop closed; the session stays disabled")

    # --- the event loop -----------------------------------------------------------------------
    def _start_wait(self, wait: Wait) -> None:
        if self._closed:
            return
        remaining = wait.at + wait.seconds - time.monotonic()
        self._timer = self._loop.call_later(max(remaining, 0.0), self._enable)

    def _enable(self) -> None:
        self._timer = None
        session = None if self._closed else self._session()
        if session is not None:
            session.logon()  # enabled: quickfix connects at its next tick

    def close(self) -> None:
        """The gateway stops (on the loop thread): no wait ends in enabling the session."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _session(self) -> fix.Session | None:
        session_id = self._session_id()
        return fix.Session.lookupSession(session_id) if session_id is not None else None
