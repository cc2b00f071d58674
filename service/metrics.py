"""Prometheus metrics of one service instance.

Why a class with its own registry: tests and the demo run several services in one process; a
module-level default registry would make their counters collide. Names follow the project's
conventions (CONTRIBUTING.md): ``execagent_`` prefix, base units, counters ending in
``_total``, and label values from closed sets only (never a ClOrdID or a parent id).

Why every closed label set is initialised here: a labelled metric exports nothing until its
first child exists, so a dashboard panel or an alert on, say, denials by reason would show "no
data" instead of 0 on a quiet day, and ``rate()`` would miss the first increment. Initialising
the known values makes absent data mean "not scraped", never "nothing happened".

Why some gauges are functions evaluated at scrape time (parent progress, positions, P&L, the
age of the market data): they change on every tick or with the clock, and computing them only
when Prometheus asks keeps the tick's path free of metric work. Scrapes run on the event loop
(the HTTP handler), the only thread that touches the engine's and the overlay's state.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from functools import partial
from typing import Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from core.fill_rules import DOUBT_CODES
from gateways.marketdata.feed import Feed, FeedCounters, FeedHealth
from models.signal import SignalRuntime
from risk.state import KillTrigger, TradingState
from risk.verdict import DenyReason
from service.oversight.metrics import OversightMetrics

# 10 microseconds to 100 milliseconds, roughly x2.5 per bucket.
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                   5e-2, 1e-1)
# Store writes: the in-memory store takes about a microsecond, a Redis round trip a millisecond
# or more; a write slower than a second is an outage, not a latency.
STORE_BUCKETS = (1e-6, 2.5e-6, 5e-6, *LATENCY_BUCKETS, 0.25, 0.5, 1.0)
# How late a periodic sleep wakes: a healthy loop is well under a millisecond late.
LOOP_LAG_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0)
# Implementation shortfall of a finished parent, basis points of the arrival price (a cost is
# positive; negative is a gain).
SHORTFALL_BUCKETS = (-50.0, -25.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 25.0,
                     50.0, 100.0, 250.0)
LOOP_LAG_INTERVAL_S = 0.25  # how often the event-loop lag is sampled

# FIX MsgType(35) -> label. Anything else is "other", so a misbehaving counterparty cannot grow
# the label set.
FIX_MSG_TYPES = {
    "0": "heartbeat", "1": "test_request", "2": "resend_request", "3": "reject",
    "4": "sequence_reset", "5": "logout", "A": "logon", "D": "new_order_single",
    "F": "order_cancel_request", "G": "order_cancel_replace_request", "H": "order_status_request",
    "8": "execution_report", "9": "order_cancel_reject", "V": "market_data_request",
    "W": "market_data_snapshot", "X": "market_data_incremental", "Y": "market_data_request_reject",
    "j": "business_message_reject",
}
FIX_DIRECTIONS = ("in", "out")
RESEND_REQUEST = "2"
INTENT_TYPES = ("new", "cancel", "replace")
PARENT_OUTCOMES = ("filled", "cancelled", "expired", "stopped")
# Why a child order ended cancelled: we asked; the venue cancelled an IOC's unfilled rest; its
# time in force expired; or the venue cancelled it unasked (e.g. on a disconnect).
CANCEL_REASONS = ("requested", "ioc_remainder", "expired", "venue")
# What the venue refused: a new order or replace (ExecType Rejected), or a cancel/replace
# request (OrderCancelReject, by CxlRejReason: 0 too late, 1 unknown order, anything else).
REJECT_REASONS = ("venue_reject", "cancel_too_late", "cancel_unknown_order", "cancel_other")
STORE_OPERATIONS = ("save_parent", "save_child", "record_fill")
# Exchange timestamp to receipt: a co-located feed is well under a millisecond, a cloud client
# of a crypto exchange tens of milliseconds; beyond 10 s the clocks disagree or the feed lags.
FEED_LATENCY_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25,
                        0.5, 1.0, 2.5, 10.0)
# FeedCounters field -> what the exported counter counts (execagent_feed_<field>_total).
FEED_COUNTER_HELP = {
    "messages": "Messages received from the feed, valid or not",
    "gaps": "Sequence breaks that forced a resync",
    "resyncs": "Snapshots requested to repair the book",
    "malformed": "Messages dropped as unreadable (invalid JSON, missing fields, wrong types)",
    "invalid_book": "Crossed or locked books, negative sizes, prices off the grid (resynced)",
    "duplicates": "Messages already applied, dropped",
    "reconnects": "Connections opened after the first",
}


def _as_gauge(predicate: Callable[[str], bool], key: str) -> float:
    return 1.0 if predicate(key) else 0.0


class LatencyBuckets:
    """A histogram in plain integers, for a path that runs per message: ``observe`` is a bisect
    and two additions (a prometheus-client Histogram child costs about ten times that: a lock
    and a bucket search in Python), and the exporter turns it into the Prometheus histogram at
    scrape time. Event loop only: no lock."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = FEED_LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


_Child = TypeVar("_Child")


class _LoopFamily(Generic[_Child]):
    """A labelled metric whose children are plain Python objects the engine updates on its
    tick path, read by ``collect`` at scrape time. Event loop only (the engine and the scrape
    both run there): no lock."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 make_child: Callable[[], _Child], registry: CollectorRegistry | None) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._make_child = make_child
        self._children: dict[tuple[str, ...], _Child] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._make_child()
        return child

    def describe(self) -> list[Metric]:
        return []  # the name is fixed in collect(); nothing to reserve up front

    def collect(self) -> Iterator[Metric]:
        raise NotImplementedError  # each family exports its own kind


class LoopHistogram(_LoopFamily[LatencyBuckets]):
    """A Prometheus histogram (optionally labelled) whose children are :class:`LatencyBuckets`.

    For the engine's per-tick timings (policy inference, risk check, store writes, tick to
    order): a prometheus-client ``Histogram.observe`` costs about 1.5 µs on the development VM,
    a :class:`LatencyBuckets` one about 0.3 µs, and an order tick observes four of them. The
    exposition is the same histogram (``_bucket``, ``_sum``, ``_count``)."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS,
                 registry: CollectorRegistry | None = None) -> None:
        super().__init__(name, documentation, labelnames, partial(LatencyBuckets, buckets),
                         registry)
        if not labelnames:
            self.observe = self.labels().observe

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation,
                                       labels=list(self.labelnames))
        for values, child in self._children.items():
            family.add_metric(list(values), child.cumulative(), child.sum)
        yield family


class LoopCount:
    """One counter child: a plain integer (``inc`` about 0.1 µs where a prometheus-client
    ``Counter.inc`` costs about 1 µs on the development VM)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class LoopCounter(_LoopFamily[LoopCount]):
    """A labelled Prometheus counter of :class:`LoopCount` children, for counts the engine
    makes per tick or per order."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 registry: CollectorRegistry | None = None) -> None:
        # The family appends _total to the name it is given.
        super().__init__(name.removesuffix("_total"), documentation, labelnames, LoopCount,
                         registry)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for values, child in self._children.items():
            family.add_metric(list(values), child.value)
        yield family


class _FeedCollector:
    """Per-feed counters and health, read from the feeds at scrape time.

    Why a collector rather than Counter objects: a feed counts in plain integers
    (:class:`~gateways.marketdata.feed.FeedCounters`) so its per-message path does no metric
    call; the exporter copies them when Prometheus asks."""

    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.latency: dict[str, LatencyBuckets] = {}
        self.conflated: Callable[[], int] | None = None

    def describe(self) -> list[Metric]:
        return []  # nothing to register up front; names are fixed in collect()

    def collect(self) -> Iterator[Metric]:
        for field in fields(FeedCounters):
            family = CounterMetricFamily(f"execagent_feed_{field.name}",
                                         FEED_COUNTER_HELP[field.name], labels=["feed"])
            for name, feed in self.feeds.items():
                family.add_metric([name], getattr(feed.counters, field.name))
            yield family
        health = GaugeMetricFamily("execagent_feed_health",
                                   "1 for the feed's current health (only live means its book "
                                   "is the market's)", labels=["feed", "health"])
        for name, feed in self.feeds.items():
            for state in FeedHealth:
                health.add_metric([name, state.value], 1.0 if feed.health is state else 0.0)
        yield health
        latency = HistogramMetricFamily(
            "execagent_feed_latency_seconds",
            "Exchange event time to receipt, by feed (wall clocks: assumes both are NTP-synced; "
            "a negative difference counts as 0; websocket and Redis feeds only)",
            labels=["feed"])
        for name, buckets in self.latency.items():
            latency.add_metric([name], buckets.cumulative(), buckets.sum)
        yield latency
        if self.conflated is not None:
            yield CounterMetricFamily(
                "execagent_feed_conflated_messages",
                "Market-data messages merged into one still waiting for the engine",
                value=self.conflated())


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds... (Linux /proc):
        # the default registry has it, a private one must add it.
        ProcessCollector(registry=r)
        # The engine's per-tick and per-order metrics are Loop* families: plain numbers on the
        # tick path, exported at scrape (the tick-to-wire budget; see LoopHistogram).
        self.ticks = LoopCounter("execagent_ticks_total",
                                 "Market-data messages processed by the engine", ("symbol",),
                                 registry=r)
        self.ticks_superseded = LoopCounter(
            "execagent_ticks_superseded_total",
            "Market-data messages applied without a decision of their own: a newer message of "
            "the symbol was already waiting for the engine, and the decision was made on it",
            ("symbol",), registry=r)
        self.tick_to_order = LoopHistogram(
            "execagent_tick_to_order_seconds",
            "From a market-data message's arrival to the order handed to the gateway",
            registry=r)
        self.policy_inference = LoopHistogram("execagent_policy_inference_seconds",
                                              "Policy decision time per tick", ("policy",),
                                              registry=r)
        self.signal_inference = LoopHistogram(
            "execagent_signal_inference_seconds",
            "Price signal per decided tick: its features written and its model run", registry=r)
        self.signal_bps = Gauge(
            "execagent_signal_bps",
            "The price signal's latest prediction: the mid's expected change over the signal "
            "model's horizon, bps of the mid (> 0 up), by symbol", ["symbol"], registry=r)
        self.signal_accuracy = Gauge(
            "execagent_signal_realised_accuracy",
            "Share of the signal's recent predictions whose sign the mid's move over the "
            "horizon matched (predictions sampled every 0.1 s of event time, the last 500 "
            "scored; NaN before the first), by symbol; 0.5 is chance", ["symbol"], registry=r)
        self.signal_scored = Gauge(
            "execagent_signal_scored_predictions",
            "Predictions in the realised-accuracy window (at most 500), by symbol",
            ["symbol"], registry=r)
        self.policy_nonfinite = Counter(
            "execagent_policy_nonfinite_outputs_total",
            "Model outputs that were not finite (NaN, an infinity): each one a WAIT instead of "
            "an action", ["policy"], registry=r)
        self.risk_check = LoopHistogram("execagent_risk_check_seconds",
                                        "Risk overlay check time", registry=r)
        self.orders_sent = LoopCounter("execagent_orders_sent_total",
                                       "Order messages sent, by type", ("type",), registry=r)
        self.send_failures = Counter("execagent_order_send_failures_total",
                                     "Order messages the gateway could not send", ["type"],
                                     registry=r)
        self.orders_filled = Counter("execagent_orders_filled_total",
                                     "Child orders completely filled", registry=r)
        self.orders_cancelled = Counter(
            "execagent_orders_cancelled_total",
            "Child orders that ended cancelled or expired, by why (requested, ioc_remainder, "
            "expired, venue)", ["reason"], registry=r)
        self.orders_rejected = Counter(
            "execagent_orders_rejected_total",
            "Order messages the venue refused, by reason (venue_reject, cancel_too_late, "
            "cancel_unknown_order, cancel_other)", ["reason"], registry=r)
        self.execution_reports = Counter("execagent_execution_reports_total",
                                         "Execution reports received, by ExecType", ["exec_type"],
                                         registry=r)
        self.filled_shares = Counter("execagent_filled_shares_total", "Shares filled",
                                     ["symbol", "side"], registry=r)
        self.risk_denials = Counter("execagent_risk_denials_total",
                                    "Child orders the risk overlay denied, by reason", ["reason"],
                                    registry=r)
        self.kill_switch = Counter("execagent_kill_switch_total",
                                   "Times the kill switch engaged, by what triggered it",
                                   ["trigger"], registry=r)
        self.trading_state = Gauge("execagent_trading_state",
                                   "1 for the risk overlay's current trading state",
                                   ["state"], registry=r)
        self.api_mutations = Counter("execagent_api_mutations_total",
                                     "Operator API mutations carried out, by action", ["action"],
                                     registry=r)
        self.api_rejected = Counter("execagent_api_rejected_requests_total",
                                    "Operator API requests refused, by reason", ["reason"],
                                    registry=r)
        self.rejected_transitions = Counter(
            "execagent_oms_rejected_transitions_total",
            "Execution reports refused by the OMS state machine, by the order's status",
            ["from_status"], registry=r)
        self.malformed_messages = Counter("execagent_malformed_messages_total",
                                          "Inbound messages that could not be parsed, by source",
                                          ["source"], registry=r)
        self.fix_session_up = Gauge("execagent_fix_session_up",
                                    "1 while the FIX session is logged on", registry=r)
        self.fix_messages = Counter(
            "execagent_fix_messages_total",
            "FIX messages by direction (in, out) and MsgType (known types, else other)",
            ["direction", "msg_type"], registry=r)
        self.fix_resend_requests = Counter(
            "execagent_fix_resend_requests_total",
            "FIX ResendRequests: in = the venue asked us to resend, out = we detected a gap",
            ["direction"], registry=r)
        self.market_data_age = Gauge(
            "execagent_market_data_age_seconds",
            "Wall-clock seconds since the symbol's last market-data message (since start "
            "before the first)", ["symbol"], registry=r)
        self.parent_orders_active = Gauge("execagent_parent_orders_active",
                                          "Parent orders being worked", registry=r)
        self.parent_orders_completed = Counter("execagent_parent_orders_completed_total",
                                               "Parent orders finished", ["outcome"], registry=r)
        # Parent progress, aggregated over the parents being worked. Why not one gauge per
        # parent: parent ids are unbounded label values (every order would leave a series
        # behind forever). The operator API has each parent's own progress.
        self.parent_filled = Gauge("execagent_parent_filled_shares",
                                   "Shares filled so far, summed over the parents being worked",
                                   registry=r)
        self.parent_remaining = Gauge("execagent_parent_remaining_shares",
                                      "Shares still to fill, summed over the parents being "
                                      "worked", registry=r)
        self.parent_scheduled = Gauge(
            "execagent_parent_scheduled_shares",
            "Shares a straight-line schedule from each parent's start to its end would have "
            "filled by now (event time), summed over the parents being worked", registry=r)
        # Why labelled by policy only: the policy names are a closed set (models.registry), so
        # this stays bounded, and "how is the policy doing right now" is the question an
        # operator asks of the live shortfall. It holds the most recent finished or running
        # parent's value per policy; the distribution over finished parents is the histogram.
        self.parent_shortfall = Gauge(
            "execagent_parent_shortfall_bps",
            "Implementation shortfall so far of the most recent finished or running parent of "
            "each policy, bps of the arrival mid (a cost is positive)", ["policy"], registry=r)
        self.parent_final_shortfall = Histogram(
            "execagent_parent_final_shortfall_bps",
            "Implementation shortfall of finished parents with fills, bps of the arrival mid",
            ["policy"], buckets=SHORTFALL_BUCKETS, registry=r)
        self.position = Gauge("execagent_position_shares",
                              "The risk overlay's position (from execution reports), by symbol",
                              ["symbol"], registry=r)
        self.pnl = Gauge("execagent_pnl_quote_currency",
                         "Realised plus unrealised P&L at the mid, in the symbol's quote "
                         "currency, by symbol", ["symbol"], registry=r)
        self.event_loop_lag = Histogram(
            "execagent_event_loop_lag_seconds",
            f"How late a {LOOP_LAG_INTERVAL_S:g} s sleep on the event loop wakes up",
            buckets=LOOP_LAG_BUCKETS, registry=r)
        self.store_write = LoopHistogram("execagent_store_write_seconds",
                                         "State store write time, by operation",
                                         ("operation",), buckets=STORE_BUCKETS, registry=r)
        self.store_errors = Counter("execagent_store_write_errors_total",
                                    "State store writes refused (the store was unavailable)",
                                    registry=r)
        self.store_info = Info("execagent_store", "The state store in use", registry=r)
        self.reconciliation_pending = Gauge(
            "execagent_reconciliation_pending_orders",
            "Order-status requests to the venue not yet answered (after a restart or a "
            "reconnect); no parent order trades while above 0", registry=r)
        self.reconciliation_failures = Counter(
            "execagent_reconciliation_failures_total",
            "Reconciliations that found what they could not square with our records (trading "
            "halted)", registry=r)
        self.recovered_fills = Counter(
            "execagent_recovered_fills_total",
            "Fills booked from an order-status answer because no execution report brought them",
            registry=r)
        self.redis_up = Gauge(
            "execagent_redis_up",
            "1 while a Redis state store reports healthy; 0 otherwise, including when the "
            "store is not Redis (see execagent_store_info)", registry=r)
        self.feed_stale = Gauge("execagent_feed_stale",
                                "1 while the feed has been silent past market_data.stale_seconds",
                                ["feed"], registry=r)
        self.symbol_stopped = Gauge(
            "execagent_symbol_stopped",
            "1 while new orders on the symbol are stopped because its feed is not live "
            "(stale, resyncing, connecting, ended); clears by itself", ["symbol"], registry=r)
        self.feed_queue_depth = Gauge(
            "execagent_feed_queue_depth",
            "Market-data messages waiting for the engine (after conflation)", registry=r)
        self.engine_queue_depth = Gauge(
            "execagent_engine_queue_depth",
            "Events waiting for the engine: FIX market data and the session's execution "
            "reports, in the session's order (never conflated; a backlog is decided on its "
            "newest tick)", registry=r)
        self.unreadable_reports = Counter(
            "execagent_unreadable_execution_reports_total",
            "Execution reports that could not be read (refused by quickfix's data dictionary "
            "or by the codec): kept raw in the journal, their orders asked about", registry=r)
        self.unknown_orders = Gauge(
            "execagent_orders_unknown",
            "Child orders whose state at the venue is not known (a report on them could not "
            "be read) until an order-status answer says; their parents send only cancels",
            registry=r)
        self.suspect_fills = Counter(
            "execagent_suspect_fills_total",
            "Fills not believed (recorded as the venue stated them, never booked; the parent "
            "stopped, the symbol held), by reason: side, price, tick_grid, limit, band, "
            "overfill, parent_overfill, unknown_order, replace_as_new", ["reason"], registry=r)
        self.unknown_order_reports = Counter(
            "execagent_unknown_order_reports_total",
            "Execution reports naming a ClOrdID the service never sent (or no longer knows): "
            "recorded, never matched to another order", registry=r)
        self.symbols_held = Gauge(
            "execagent_symbols_held",
            "Symbols whose new orders are held because a fill on them was not believed "
            "(until an operator resumes)", registry=r)
        self._feeds = _FeedCollector()
        r.register(self._feeds)
        # The risk posture's and model oversight's (service/oversight/metrics.py).
        self.oversight = OversightMetrics(r)
        self._initialise_label_sets()

    def _initialise_label_sets(self) -> None:
        for deny in DenyReason:
            self.risk_denials.labels(deny.value)
        for trigger in KillTrigger:
            self.kill_switch.labels(trigger.value)
        for state in TradingState:
            self.trading_state.labels(state.value)
        for kind in INTENT_TYPES:
            self.orders_sent.labels(kind)
            self.send_failures.labels(kind)
        for outcome in PARENT_OUTCOMES:
            self.parent_orders_completed.labels(outcome)
        for reason in CANCEL_REASONS:
            self.orders_cancelled.labels(reason)
        for reason in REJECT_REASONS:
            self.orders_rejected.labels(reason)
        for operation in STORE_OPERATIONS:
            self.store_write.labels(operation)
        self.malformed_messages.labels("fix")
        for code in DOUBT_CODES:
            self.suspect_fills.labels(code)
        # Bound once: the quickfix callbacks count every message with one dict lookup.
        self._fix_counters = {
            (direction, code): self.fix_messages.labels(direction, name)
            for direction in FIX_DIRECTIONS for code, name in FIX_MSG_TYPES.items()}
        self._fix_other = {direction: self.fix_messages.labels(direction, "other")
                           for direction in FIX_DIRECTIONS}
        self._resends = {direction: self.fix_resend_requests.labels(direction)
                         for direction in FIX_DIRECTIONS}
        self.store_info.info({"kind": "none"})

    # --- wiring -----------------------------------------------------------------------------
    def count_fix_message(self, direction: str, msg_type: str) -> None:
        """One FIX message in or out. Safe on quickfix's threads: a child's ``inc`` takes its
        own lock, and the lookup tables are never written after construction."""
        counter = self._fix_counters.get((direction, msg_type))
        if counter is None:
            counter = self._fix_other[direction]
        counter.inc()
        if msg_type == RESEND_REQUEST:
            self._resends[direction].inc()

    def watch_parents(self, filled: Callable[[], float], remaining: Callable[[], float],
                      scheduled: Callable[[], float]) -> None:
        """Parent progress, read at scrape time from the engine (the last engine wins)."""
        self.parent_filled.set_function(filled)
        self.parent_remaining.set_function(remaining)
        self.parent_scheduled.set_function(scheduled)

    def watch_signals(self, signals: Mapping[str, SignalRuntime]) -> None:
        """The price signal of each symbol (a bounded set: the configured instruments), read
        at scrape time from the engine's runtimes."""
        for symbol, runtime in signals.items():
            self.signal_bps.labels(symbol).set_function(partial(getattr, runtime, "value"))
            self.signal_accuracy.labels(symbol).set_function(runtime.realised_accuracy)
            self.signal_scored.labels(symbol).set_function(partial(getattr, runtime, "scored"))

    def watch_engine_queue(self, depth: Callable[[], int]) -> None:
        self.engine_queue_depth.set_function(depth)

    def watch_unknown_orders(self, count: Callable[[], int]) -> None:
        self.unknown_orders.set_function(count)

    def watch_held_symbols(self, count: Callable[[], int]) -> None:
        self.symbols_held.set_function(count)

    def watch_market_data_age(self, symbols: Iterable[str],
                              age_seconds: Callable[[str], float]) -> None:
        for symbol in symbols:
            self.market_data_age.labels(symbol).set_function(partial(age_seconds, symbol))

    def watch_exposure(self, symbols: Iterable[str], position: Callable[[str], float],
                       pnl: Callable[[str], float]) -> None:
        """Position and P&L per configured symbol (a bounded set), from the risk overlay."""
        for symbol in symbols:
            self.position.labels(symbol).set_function(partial(position, symbol))
            self.pnl.labels(symbol).set_function(partial(pnl, symbol))

    def watch_feeds(self, feeds: dict[str, Feed], latency: dict[str, LatencyBuckets],
                    stale: Callable[[str], bool], stopped: Callable[[str], bool],
                    symbols: Iterable[str], queue_depth: Callable[[], int],
                    conflated: Callable[[], int]) -> None:
        """The service's feeds by name (a closed set: the configuration's), read at scrape
        time: counters, health, staleness, latency; which symbols are stopped; the queue."""
        self._feeds.feeds = dict(feeds)
        self._feeds.latency = dict(latency)
        for name in feeds:
            self.feed_stale.labels(name).set_function(partial(stale, name))
        for symbol in symbols:
            self.symbol_stopped.labels(symbol).set_function(partial(_as_gauge, stopped, symbol))
        self.feed_queue_depth.set_function(queue_depth)
        self._feeds.conflated = conflated

    def watch_store(self, kind: str, healthy: Callable[[], bool] | None = None) -> None:
        """``execagent_store_info{kind}`` and ``execagent_redis_up``: 1 only when the store is
        Redis and its ``healthy`` says so. ``healthy`` runs at every scrape on the event loop,
        so a Redis store must answer from its last known connection state, not a round trip.
        No Redis store exists yet: the in-memory store reports ``kind="memory"`` and 0."""
        self.store_info.info({"kind": kind})
        if kind == "redis" and healthy is not None:
            self.redis_up.set_function(lambda: 1.0 if healthy() else 0.0)
        else:
            self.redis_up.set_function(lambda: 0.0)

    async def watch_event_loop(self, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
        """Sample the event loop's lag until cancelled: how much later than asked a sleep
        wakes. A busy tick, a blocking call or a long garbage collection on the loop shows up
        here before it shows up as late orders."""
        loop = asyncio.get_running_loop()
        lag = self.event_loop_lag
        while True:
            due = loop.time() + interval_s
            await asyncio.sleep(interval_s)
            lag.observe(max(0.0, loop.time() - due))

    def render(self) -> bytes:
        return generate_latest(self.registry)
