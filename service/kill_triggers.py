"""Ways to pull the kill switch without the API or its token: a signal and a Redis key.

An operator whose API is unreachable, or who only has a shell on the host or a Redis client,
must still be able to stop trading at once. Both triggers call the same function as
``POST /api/v1/risk/kill`` (:meth:`risk.overlay.RiskOverlay.engage_kill_switch`: HALTED, every
working order cancelled) and are journaled like an API action, with the trigger as the operator:

- ``kill -USR1 <pid>`` (:data:`KILL_SIGNAL`), installed by ``execagent run``;
- ``SET <namespace>:kill "<reason>"`` in the service's Redis: read and deleted in one
  ``GETDEL`` every :data:`POLL_SECONDS`, so one request is one kill, whichever of several
  services sharing the namespace takes it first.

Resuming stays an explicit operator action through the API or CLI, with a reason.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from risk.overlay import RiskOverlay
from service.state.journal import Journal, record_operator_action

log = logging.getLogger(f"execagent.{__name__}")

KILL_SIGNAL = signal.SIGUSR1
POLL_SECONDS = 0.5  # how late a Redis kill request may be seen: the stale-feed watchdog's pace


def kill_key(namespace: str) -> str:
    return f"{namespace}:kill"


class OperatorKill:
    """The kill switch as an operator pulls it outside the API: engaged, logged, journaled."""

    def __init__(self, risk: RiskOverlay, journal: Journal, now_ns: Callable[[], int]) -> None:
        self._risk = risk
        self._journal = journal
        self._now_ns = now_ns

    def __call__(self, reason: str, source: str) -> int:
        """Engage the kill switch for ``reason``; ``source`` names the trigger. Returns the
        number of cancels sent."""
        reason = reason.strip() or "no reason given"
        cancels = self._risk.engage_kill_switch(f"{reason} (by {source})", self._now_ns())
        record_operator_action(self._journal, source, "operator", "kill",
                               f"{reason}; trading state now {self._risk.state.value} "
                               f"cancels={len(cancels)}")
        return len(cancels)


def install_kill_signal(loop: asyncio.AbstractEventLoop, kill: OperatorKill) -> None:
    """``kill -USR1 <pid>`` engages the kill switch (the handler runs on the event loop)."""
    loop.add_signal_handler(KILL_SIGNAL, kill, f"signal {KILL_SIGNAL.name}", "signal")


class RedisKillKey:
    """Watches ``<namespace>:kill`` and engages the kill switch when someone sets it.

    A Redis outage is logged once and waited out: the store guard already halts trading when
    the store is lost (docs/operations.md), so an unreadable key never needs a decision here.
    """

    def __init__(self, url: str, namespace: str, kill: OperatorKill,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.key = kill_key(namespace)
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0)
        self._kill = kill
        self._poll_seconds = poll_seconds
        self._reachable = True

    async def poll_once(self) -> bool:
        """Take a pending request, if any, and act on it; True when the kill switch fired."""
        try:
            value = await self._redis.getdel(self.key)
        except (RedisError, OSError) as exc:
            if self._reachable:
                log.error("cannot read the kill key %s: %s", self.key, exc)
            self._reachable = False
            return False
        self._reachable = True
        if value is None:
            return False
        reason = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        self._kill(reason, f"redis key {self.key}")
        return True

    async def run(self) -> None:
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(self._poll_seconds)
        finally:
            await self._redis.aclose()
