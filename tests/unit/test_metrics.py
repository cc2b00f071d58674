"""The service's metrics: closed label sets, FIX message counting, the store and Redis gauges,
the event-loop lag sampler, and the engine's wiring of order outcomes, parent progress,
shortfall and store writes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.domain import (
    BookUpdate,
    CancelReject,
    ExecType,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
)
from models.baselines import TwapPolicy
from risk.verdict import DenyReason
from service.engine import Engine
from service.metrics import FIX_MSG_TYPES, Metrics
from service.state.store import MemoryStore
from tests.support.risk import make_overlay, report, roomy
from tests.support.sending import RecordingSender
from tests.support.waiting import until

SECOND = 10**9


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every exported sample by (name, sorted labels), parsed from the exposition text."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def test_closed_label_sets_are_exported_before_anything_happens() -> None:
    metrics = Metrics()
    for reason in DenyReason:
        assert value(metrics, "execagent_risk_denials_total", reason=reason.value) == 0
    assert value(metrics, "execagent_orders_rejected_total", reason="venue_reject") == 0
    assert value(metrics, "execagent_orders_cancelled_total", reason="ioc_remainder") == 0
    assert value(metrics, "execagent_kill_switch_total", trigger="stale_feed") == 0
    assert value(metrics, "execagent_fix_messages_total", direction="in",
                 msg_type="execution_report") == 0
    # The private registry carries the process collector the dashboard's CPU panel reads.
    assert ("process_cpu_seconds_total", ()) in samples(metrics)


def test_fix_messages_are_counted_by_known_type_and_everything_else_is_other() -> None:
    metrics = Metrics()
    before = len(samples(metrics))
    metrics.count_fix_message("in", "8")
    metrics.count_fix_message("out", "D")
    metrics.count_fix_message("out", "2")
    for junk in ("ZZ", "U1", "", "8x"):
        metrics.count_fix_message("in", junk)
    assert value(metrics, "execagent_fix_messages_total", direction="in",
                 msg_type="execution_report") == 1
    assert value(metrics, "execagent_fix_messages_total", direction="out",
                 msg_type="new_order_single") == 1
    assert value(metrics, "execagent_fix_messages_total", direction="in", msg_type="other") == 4
    assert value(metrics, "execagent_fix_resend_requests_total", direction="out") == 1
    assert value(metrics, "execagent_fix_resend_requests_total", direction="in") == 0
    # Unknown types never add series: the label set is closed.
    assert len(samples(metrics)) == before
    assert len({name for name in FIX_MSG_TYPES.values()}) == len(FIX_MSG_TYPES)


@pytest.mark.parametrize("kind, healthy, up", [
    ("memory", None, 0.0), ("redis", True, 1.0), ("redis", False, 0.0)])
def test_redis_up_is_one_only_for_a_healthy_redis_store(kind: str, healthy: bool | None,
                                                         up: float) -> None:
    metrics = Metrics()
    metrics.watch_store(kind, None if healthy is None else lambda: healthy)
    assert value(metrics, "execagent_redis_up") == up
    assert value(metrics, "execagent_store_info", kind=kind) == 1


async def test_event_loop_lag_sees_a_blocked_loop() -> None:
    metrics = Metrics()
    task = asyncio.create_task(metrics.watch_event_loop(interval_s=0.01))
    try:
        await asyncio.sleep(0)  # the sampler is now asleep for 10 ms
        time.sleep(0.1)  # noqa: ASYNC251 - block the loop: that sleep wakes at least 90 ms late
        await until(lambda: value(metrics, "execagent_event_loop_lag_seconds_count") >= 1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert value(metrics, "execagent_event_loop_lag_seconds_sum") >= 0.09
    assert value(metrics, "execagent_event_loop_lag_seconds_bucket", le="0.05") < \
        value(metrics, "execagent_event_loop_lag_seconds_count")


def _engine() -> tuple[Engine, Metrics, RecordingSender]:
    metrics = Metrics()
    sender = RecordingSender()
    engine = Engine({"GOOG": Instrument("GOOG", Decimal("0.01"))}, make_overlay(roomy()),
                    sender, MemoryStore(), metrics, slice_seconds=50.0)
    return engine, metrics, sender


def _tick(engine: Engine, ts_s: float, bid: int = 57_999, ask: int = 58_001) -> None:
    ts = int(ts_s * SECOND)
    engine.on_market_data(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, bid, 500, ts),
                                                  BookUpdate("GOOG", Side.SELL, ask, 500, ts))),
                          time.perf_counter_ns())


def test_engine_exports_parent_progress_shortfall_and_order_outcomes() -> None:
    engine, metrics, sender = _engine()
    parent = ParentOrder("P1", "GOOG", Side.SELL, 1000, 10 * SECOND, 110 * SECOND, "twap")
    engine.submit(parent, TwapPolicy(passive=False))
    # No fill, no shortfall: NaN rather than a 0 bps cost (and no alert on it).
    assert math.isnan(value(metrics, "execagent_parent_shortfall_bps", policy="twap"))
    _tick(engine, 10)  # arrival mid 580.00; aggressive TWAP crosses the first slice (500)
    [first] = sender.sent
    assert isinstance(first, NewOrder) and first.qty == 500
    assert value(metrics, "execagent_ticks_total", symbol="GOOG") == 1
    assert value(metrics, "execagent_policy_inference_seconds_count", policy="twap") == 1
    assert value(metrics, "execagent_orders_sent_total", type="new") == 1

    engine.on_execution_report(report(first, ExecType.NEW, OrdStatus.NEW, 0, 500))
    engine.on_execution_report(report(first, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED,
                                      300, 200, 300, 57_999))
    # Sold 300 at 579.99 against an arrival of 580.00: a cost of 1/58000 = 0.1724 bps.
    assert value(metrics, "execagent_parent_shortfall_bps", policy="twap") == \
        pytest.approx(1e4 / 58_000)
    engine.on_execution_report(report(first, ExecType.CANCELED, OrdStatus.CANCELED, 300, 0))
    assert value(metrics, "execagent_orders_cancelled_total", reason="ioc_remainder") == 1
    assert value(metrics, "execagent_orders_filled_total") == 0
    assert value(metrics, "execagent_parent_filled_shares") == 300
    assert value(metrics, "execagent_parent_remaining_shares") == 700
    _tick(engine, 60)  # half way through: a straight line would have sold 500
    assert value(metrics, "execagent_parent_scheduled_shares") == pytest.approx(500)

    second = sender.sent[-1]
    assert isinstance(second, NewOrder)
    engine.on_execution_report(report(second, ExecType.TRADE, OrdStatus.FILLED, second.qty, 0,
                                      second.qty, 57_999))
    assert value(metrics, "execagent_orders_filled_total") == 1
    # Counted by label, each label's counter bound once and reused (the second trade).
    for exec_type, count in (("new", 1), ("trade", 2), ("canceled", 1)):
        assert value(metrics, "execagent_execution_reports_total", exec_type=exec_type) == count
    assert value(metrics, "execagent_filled_shares_total", symbol="GOOG", side="sell") == \
        300 + second.qty
    engine.on_cancel_reject(CancelReject("C9", "X9", OrdStatus.FILLED, "0", "too late"))
    assert value(metrics, "execagent_orders_rejected_total", reason="cancel_too_late") == 1
    for operation in ("save_parent", "save_child", "record_fill"):
        assert value(metrics, "execagent_store_write_seconds_count", operation=operation) >= 1


def test_a_finished_parent_is_observed_once_in_the_final_shortfall_histogram() -> None:
    engine, metrics, sender = _engine()
    parent = ParentOrder("P1", "GOOG", Side.SELL, 500, 10 * SECOND, 60 * SECOND, "twap")
    finished = engine.submit(parent, TwapPolicy(passive=False))
    _tick(engine, 10)
    [order] = sender.sent
    assert isinstance(order, NewOrder) and order.qty == 500
    engine.on_execution_report(report(order, ExecType.TRADE, OrdStatus.FILLED, 500, 0, 500,
                                      58_001))
    assert finished.is_set()
    # Sold at 580.01 against 580.00: a gain, so a negative cost.
    assert value(metrics, "execagent_parent_final_shortfall_bps_count", policy="twap") == 1
    assert value(metrics, "execagent_parent_final_shortfall_bps_bucket", policy="twap",
                 le="-1.0") == 0
    assert value(metrics, "execagent_parent_final_shortfall_bps_bucket", policy="twap",
                 le="0.0") == 1
    assert value(metrics, "execagent_parent_orders_completed_total", outcome="filled") == 1
    assert value(metrics, "execagent_parent_remaining_shares") == 0  # nothing active


def test_market_data_age_is_per_configured_symbol_and_resets_on_a_tick(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000 * SECOND]
    monkeypatch.setattr(time, "monotonic_ns", lambda: clock[0])
    engine, metrics, _sender = _engine()
    clock[0] += 5 * SECOND
    assert value(metrics, "execagent_market_data_age_seconds", symbol="GOOG") == 5
    _tick(engine, 1)
    assert value(metrics, "execagent_market_data_age_seconds", symbol="GOOG") == 0
    clock[0] += 2 * SECOND
    assert value(metrics, "execagent_market_data_age_seconds", symbol="GOOG") == 2


def test_the_engines_loop_metrics_export_as_ordinary_histograms_and_counters() -> None:
    metrics = Metrics()
    for seconds in (3e-6, 3e-5, 3e-5, 0.5):
        metrics.risk_check.observe(seconds)
    metrics.store_write.labels("save_child").observe(2e-6)
    metrics.ticks.labels("GOOG").inc()
    metrics.ticks.labels("GOOG").inc(2)
    exported = samples(metrics)
    assert exported[("execagent_risk_check_seconds_bucket", (("le", "1e-05"),))] == 1
    assert exported[("execagent_risk_check_seconds_bucket", (("le", "5e-05"),))] == 3
    assert exported[("execagent_risk_check_seconds_bucket", (("le", "0.1"),))] == 3
    assert exported[("execagent_risk_check_seconds_bucket", (("le", "+Inf"),))] == 4
    assert exported[("execagent_risk_check_seconds_count", ())] == 4
    assert exported[("execagent_risk_check_seconds_sum", ())] == pytest.approx(0.500063)
    assert exported[("execagent_store_write_seconds_count", (("operation", "save_child"),))] == 1
    assert exported[("execagent_ticks_total", (("symbol", "GOOG"),))] == 3
    with pytest.raises(ValueError, match="takes labels"):
        metrics.store_write.labels("save_child", "extra")
