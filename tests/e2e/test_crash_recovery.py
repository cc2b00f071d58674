"""The service killed for real while it works parent orders, and restarted: nothing is lost,
nothing is doubled (tests/support/crash_harness.py says how; bench/bench_crash_recovery.py runs
the same with 200 kills, docs/reliability.md reports it)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.crash_harness import CrashAudit, CrashHarness

pytestmark = pytest.mark.e2e


@pytest.fixture
def harness(tmp_path: Path) -> CrashHarness:
    return CrashHarness(tmp_path, seed=20261123)


def _assert_exact(audit: CrashAudit) -> None:
    assert audit.parents_unfinished == 0, audit
    assert audit.venue_filled > 0, audit
    assert audit.store_filled == audit.venue_filled, audit
    assert audit.parents_filled == audit.venue_filled, audit
    assert audit.position == -audit.venue_filled, audit
    assert audit.cl_ord_ids_sent_twice == [], audit
    assert audit.venue_working_unknown == [], audit
    assert audit.trading_state == "active", audit  # every reconciliation squared


def test_twenty_sigkills_lose_nothing_and_double_nothing(harness: CrashHarness) -> None:
    try:
        audit = harness.run(kills=20)
    finally:
        harness.stop()
    assert audit.kills == 20
    _assert_exact(audit)


def test_a_graceful_restart_resumes_without_an_operator(harness: CrashHarness) -> None:
    # SIGTERM: the service logs out on its way down; that must not read as a lost session
    # (whose kill switch the store would keep, so the restart would wait for an operator).
    try:
        audit = harness.run(kills=3, how=signal.SIGTERM)
    finally:
        harness.stop()
    _assert_exact(audit)


def test_sigusr1_halts_the_daemon_and_the_halt_survives_a_restart(harness: CrashHarness) -> None:
    try:
        harness.venue.start()
        harness.start_service()
        harness.keep_one_parent_active(1_000, 600.0)
        assert harness.process is not None
        harness.process.send_signal(signal.SIGUSR1)
        risk = harness.wait_risk(lambda r: r["trading_state"] == "halted")
        assert risk["kills"] == {"operator": 1}
        assert harness.process.poll() is None  # a kill switch, not a process kill
        harness.kill(signal.SIGTERM)
        harness.start_service()
        assert harness.wait_risk(lambda r: True)["trading_state"] == "halted"
    finally:
        harness.stop()
