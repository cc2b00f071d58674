"""What the service does when its durable store stops taking writes, and when it comes back.

Why a kill switch: the engine persists every child order before sending it (write-ahead), so
without a store no new order may go out; and a fill that cannot be recorded is a position the
next start would not know. On the first failed write the guard engages the kill switch
(trigger ``store_lost``): HALTED, every working order cancelled (cancels go out even though
they cannot be persisted; the venue's answers are kept in memory). Within a second: the failed
write itself is the detection, and the watchdog below also pings every
``check_interval_s`` so a silent outage with no writes is caught too.

Coming back: the watchdog re-syncs the store (writes the in-memory backlog) as soon as Redis
answers, then calls ``on_resynced`` (the service starts a reconciliation with the venue: what
the kill switch's cancels and the venue did meanwhile is confirmed order by order). Trading
stays HALTED until an operator resumes (``execagent resume``), as after any kill;
:meth:`StoreGuard.resume_blocker` refuses that resume while the backlog is not written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from risk.overlay import RiskOverlay
from risk.state import KillTrigger

log = logging.getLogger(f"execagent.{__name__}")


class DurableStore(Protocol):
    available: bool

    def ping(self) -> bool: ...

    def resync(self) -> bool: ...

    @property
    def backlog_size(self) -> int: ...


class StoreGuard:
    def __init__(self, store: DurableStore, risk: RiskOverlay, now_ns: Callable[[], int],
                 check_interval_s: float = 0.25) -> None:
        self.store = store
        self.risk = risk
        self.now_ns = now_ns
        self.check_interval_s = check_interval_s
        self.outages = 0
        self._halted_for_outage = False
        self.on_resynced: Callable[[], None] | None = None

    def on_store_error(self, error: Exception) -> None:
        """A write failed (the engine calls this): halt once per outage."""
        if self._halted_for_outage:
            return
        self._halted_for_outage = True
        self.outages += 1
        log.error("durable store lost: %s; halting", error)
        self.risk.engage_kill_switch(f"durable store lost: {error}", self.now_ns(),
                                     KillTrigger.STORE_LOST)

    def check(self) -> None:
        """One watchdog pass, synchronously (the PING on this thread)."""
        self.after_ping(self.store.ping())

    def after_ping(self, answered: bool) -> None:
        """Act on a PING's outcome: detect a silent outage, or re-sync after one."""
        if self.store.available and not self._halted_for_outage:
            if not answered:
                self.store.available = False
                self.on_store_error(ConnectionError("no answer to PING"))
            return
        if answered and self.store.resync():
            if self._halted_for_outage:
                log.warning("durable store back and re-synced; trading stays HALTED until an "
                            "operator resumes")
                if self.on_resynced is not None:
                    self.on_resynced()
            self._halted_for_outage = False

    def resume_blocker(self) -> str | None:
        """Why a resume must wait, or None when the store is back and complete."""
        if not self.store.available:
            return (f"the durable store is unavailable ({self.store.backlog_size} writes kept "
                    "in memory); resume once it is back and re-synced")
        return None

    async def run(self) -> None:
        """The watchdog: PING in a worker thread (a hung server must not stall the event loop
        for the socket timeout), then act on the answer here, on the loop."""
        while True:
            await asyncio.sleep(self.check_interval_s)
            try:
                self.after_ping(await asyncio.to_thread(self.store.ping))
            except Exception:
                log.exception("store watchdog failed")
