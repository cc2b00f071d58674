"""ClOrdIDs are unique across restarts: a venue remembers ClOrdIDs for the session's life and
would reject (or, worse, mix up) a second order under one already used. The engine's prefix is
its start time in milliseconds (named assumption: two starts of one service are at least a
millisecond apart; a process start takes far longer)."""

from __future__ import annotations

import re
import time
from decimal import Decimal

from core.domain import Instrument
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import make_overlay, roomy


class _Sender:
    def send(self, intent: object, now_ns: int) -> bool:
        return True


def _engine() -> Engine:
    return Engine({"GOOG": Instrument("GOOG", Decimal("0.01"))}, make_overlay(roomy()),
                  _Sender(), MemoryStore(), Metrics())


def test_a_restarted_engine_never_reuses_a_cl_ord_id() -> None:
    before = _engine()
    first_run = {before._next_id() for _ in range(1_000)}  # noqa: SLF001
    time.sleep(0.002)  # the named assumption: a restart is at least a millisecond later
    after = _engine()
    second_run = {after._next_id() for _ in range(1_000)}  # noqa: SLF001
    assert len(first_run) == len(second_run) == 1_000
    assert not first_run & second_run
    # Plain ASCII letters, digits and a dash: safe for any venue's ClOrdID field.
    assert all(re.fullmatch(r"EA[0-9a-f]+-\d+", cl) for cl in first_run | second_run)
