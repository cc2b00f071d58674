"""The engine: the walk of one tick (docs/architecture.md), and execution reports back into state.

One asyncio task consumes one queue of inbound events (market data, execution reports, cancel
rejects, session status) in arrival order, so the book, the OMS and the risk overlay are only
ever touched from the event loop: no locks on the hot path. Decisions use event time (the
feed's timestamps, through an :class:`~service.clock.EventClock`); the tick-to-order latency is
measured from the message's arrival (``time.perf_counter_ns`` taken in the feed callback).

An exception while handling one event is counted and logged and the loop goes on: a bad message
never stops the daemon, and nothing already accepted is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from prometheus_client import Counter, Gauge

from core.depth_book import DepthBook
from core.domain import (
    CancelOrder,
    CancelReject,
    ChildOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    ParentOrder,
    SessionStatus,
    Side,
    TimeInForce,
    UnreadableReport,
)
from core.fill_rules import UNKNOWN_ORDER, Doubt
from core.oms import TRADE_AMENDMENTS, FillEvent, OrderManager
from core.tca import shortfall_bps
from models.actions import Action, ActionKind, horizon_action, translate
from models.features import MarketTracker
from models.observation import ParentObservation, feature_spec_of, observation_for, observes_signal
from models.policy import DecisionContext, ExecutionPolicy, OnnxPolicy, decision_interval_ns
from models.signal import SignalModel, SignalRuntime
from risk.overlay import RiskOverlay
from risk.state import KillTrigger, TradingState
from service.clock import EventClock
from service.metrics import LatencyBuckets, Metrics
from service.oversight.monitor import Oversight
from service.posture.gate import PostureGate
from service.state.journal import Journal
from service.state.reconciliation import Reconciler, Reconciliation, StatusRequester
from service.state.recovery import RecoveredState
from service.state.store import StateStore, StoreUnavailable

log = logging.getLogger(f"execagent.{__name__}")
WATCH_INTERVAL_S = 0.5  # how often the risk overlay's periodic duties run
_HALTED = TradingState.HALTED


class OrderSender(Protocol):
    def send(self, intent: OrderIntent, now_ns: int) -> bool: ...


@dataclass(slots=True)
class _Working:
    """Per-parent engine state: its policy and its observation (a preallocated buffer, in the
    version the policy was trained on)."""

    parent: ParentOrder
    policy: ExecutionPolicy
    n_slices: int
    inference: LatencyBuckets  # the policy's bound metric children: no label lookup per tick
    shortfall: Gauge
    observation: ParentObservation
    # The largest quantity one order at a price may carry under the risk limits (bound once to
    # the parent's symbol: nothing allocated per decision).
    order_cap: Callable[[int], int]
    # The policy's pace (models.policy.decision_interval_ns; 0: every tick) and the event time
    # from which it is asked again: the ticks between leave its orders as they are.
    decision_interval_ns: int = 0
    next_decision_ns: int = 0
    horizon_ticks: int = 0  # ticks seen at or past the horizon: chances to cross the remainder
    market_volume: int = 0  # shares printed on the market at or after the parent's start (POV)
    cancelled: bool = False  # the operator cancelled it: wind down, no new child orders
    # When it began to wind down (monotonic ns): past Engine.settle_ns it finishes whether or
    # not the venue has answered for every child order.
    winding_since_ns: int | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True, frozen=True)
class SuspectFill:
    """A fill that failed its checks, as the venue stated it (never booked)."""

    exec_id: str
    parent_id: str  # "" when its ClOrdID is none we sent
    cl_ord_id: str
    symbol: str
    side: str
    qty: int
    price: str  # as the venue wrote it
    reasons: str

    def describe(self) -> str:
        return (f"fill {self.exec_id} on {self.cl_ord_id or '?'}: {self.side} {self.qty} "
                f"{self.symbol} @ {self.price} not believed ({self.reasons})")


@dataclass(slots=True, frozen=True)
class ParentOutcome:
    """What became of a parent, honestly: what was filled and believed, what is in doubt.
    ``execagent run --submit`` prints it and chooses its exit code from it."""

    parent_id: str
    outcome: str  # filled, cancelled, expired, stopped; "" while it is worked
    qty: int
    filled: int
    stopped: str  # why it was stopped ("" if it was not)
    suspect_fills: tuple[str, ...]  # each described
    unknown_orders: tuple[str, ...]  # ClOrdIDs whose state at the venue is not known
    working_orders: tuple[str, ...]  # ClOrdIDs still working at the venue as far as we know

    @property
    def in_doubt(self) -> bool:
        return bool(self.suspect_fills or self.unknown_orders or self.working_orders)


# CxlRejReason(102) -> the reason label of execagent_orders_rejected_total.
_CANCEL_REJECT_REASONS = {"0": "cancel_too_late", "1": "cancel_unknown_order"}
UNKNOWN_ORDER_REJECT = "1"  # CxlRejReason(102) 1: unknown order


def _superseded(batch: list[tuple[object, int]]) -> tuple[set[int], dict[int, int]]:
    """The indices of the ticks in ``batch`` that a newer tick of their symbol follows, and for
    each symbol's newest tick the arrival of the first it supersedes (``Engine.handle_batch``)."""
    newest: dict[str, int] = {}  # symbol -> index of its newest tick in the batch
    earliest: dict[int, int] = {}
    superseded: set[int] = set()
    for index in range(len(batch) - 1, -1, -1):
        event, received_ns = batch[index]
        if isinstance(event, MarketData):
            last = newest.setdefault(event.symbol, index)
            if last != index:
                superseded.add(index)
                earliest[last] = received_ns
    return superseded, earliest


def _suspect_of_record(exec_id: str, record: dict[str, object]) -> SuspectFill:
    """A suspect fill as the store keeps it (``dataclasses.asdict`` of a SuspectFill)."""
    return SuspectFill(exec_id, str(record.get("parent_id", "")),
                       str(record.get("cl_ord_id", "")), str(record.get("symbol", "")),
                       str(record.get("side", "")), int(str(record.get("qty", 0))),
                       str(record.get("price", "")), str(record.get("reasons", "")))


def _as_believed(report: ExecutionReport, fill: FillEvent | None,
                 order: ChildOrder | None) -> ExecutionReport:
    """``report`` as the risk overlay is to book it: what the OMS believed, with the order's
    side. A fill not believed moves no position; one derived from CumQty and AvgPx its derived
    quantity and price. Otherwise the report itself (the common case: no copy)."""
    if order is None or fill is None or not (fill.doubts or (fill.claim is not None and
                                                             fill.claim.derived)):
        return report
    return dataclasses.replace(report, last_qty=0 if fill.doubts else fill.qty,
                               last_px=fill.price, side=order.side)


def _intent_type(intent: OrderIntent) -> str:
    if isinstance(intent, NewOrder):
        return "new"
    return "cancel" if isinstance(intent, CancelOrder) else "replace"


class Engine:
    def __init__(
        self,
        instruments: dict[str, Instrument],
        risk: RiskOverlay,
        sender: OrderSender,
        store: StateStore,
        metrics: Metrics,
        clock: EventClock | None = None,
        slice_seconds: float = 30.0,
        horizon_grace_seconds: float = 60.0,
        max_child_qty: int = 2_000,
        cl_ord_id_prefix: str | None = None,
        journal: Journal | None = None,
        request_status: StatusRequester | None = None,
        reconcile_timeout_s: float = 10.0,
        posture: PostureGate | None = None,
        oversight: Oversight | None = None,
        fill_band_bps: Mapping[str, float] | None = None,
        settle_seconds: float = 10.0,
        signal_model: SignalModel | None = None,
    ) -> None:
        self.instruments = instruments
        self.risk = risk
        self.sender = sender
        self.store = store
        self.metrics = metrics
        self.clock = clock or EventClock()
        self.oms = OrderManager(
            on_rejected_transition=lambda s: metrics.rejected_transitions.labels(s).inc(),
            fill_band_bps=fill_band_bps)
        self.books = {symbol: DepthBook(symbol) for symbol in instruments}
        self.trackers = {symbol: MarketTracker() for symbol in instruments}
        # The price signal, one runtime per symbol (models/signal.py); none without a model.
        self.signals = {symbol: SignalRuntime(signal_model) for symbol in instruments} \
            if signal_model is not None else {}
        self._signal_latency = metrics.signal_inference
        metrics.watch_signals(self.signals)
        self._active: dict[str, list[_Working]] = {symbol: [] for symbol in instruments}
        self._by_parent: dict[str, _Working] = {}
        self.slice_ns = int(slice_seconds * 1e9)
        self.grace_ns = int(horizon_grace_seconds * 1e9)
        # How long a parent winding down (past its horizon and grace, cancelled or stopped)
        # waits, on the wall clock, for the venue to answer its cancels before it finishes
        # anyway, naming what is still working or unknown (ParentOutcome): a parent always
        # ends.
        self.settle_ns = int(settle_seconds * 1e9)
        self._request_status = request_status
        self.suspect_fills: list[SuspectFill] = []
        # First ClOrdIDs of the orders in an unknown state whose parents are being worked.
        self._unknown: set[str] = set()
        self.outcomes: dict[str, str] = {}  # parent id -> how it finished
        self.max_child_qty = max_child_qty
        # ClOrdIDs unique across restarts: a prefix from the start time, then a counter.
        prefix = cl_ord_id_prefix or f"EA{time.time_ns() // 1_000_000:x}"
        self._ids = (f"{prefix}-{n}" for n in itertools.count(1))
        self.queue: asyncio.Queue[tuple[object, int]] = asyncio.Queue()
        self.errors = 0
        self.journal = journal
        # The dynamic risk posture (service/posture/gate.py): tightens, never loosens, and runs
        # before the risk overlay, which runs unchanged on every intent the posture lets by.
        self.posture = posture
        # Model oversight (service/oversight/monitor.py): drift, shadow policy, live TCA; it
        # observes and never sends anything.
        self.oversight = oversight
        # Called when the store refuses a write (the service's StoreGuard halts trading).
        self.on_store_error: Callable[[StoreUnavailable], None] | None = None
        self.session_up = False
        # Set by the service as it stops: the logout that follows is ours, and must not fire
        # the lost-session kill switch (which the store would keep across the restart).
        self.shutting_down = False
        self.reconciler = Reconciler(
            self.oms, risk, metrics, self.clock, journal, request_status, reconcile_timeout_s,
            apply_report=self._apply_report, resuming=lambda: len(self._by_parent),
            on_problem=self._on_status_problem, on_answered=self._on_order_known)
        self._last_tick_mono_ns = time.monotonic_ns()
        risk.on_kill = self._send_kill_cancels
        # Metric children bound once: the tick's path does no label lookups.
        self._tick_counters = {symbol: metrics.ticks.labels(symbol) for symbol in instruments}
        self._superseded_counters = {symbol: metrics.ticks_superseded.labels(symbol)
                                     for symbol in instruments}
        self._last_tick_by_symbol = dict.fromkeys(instruments, self._last_tick_mono_ns)
        self._sent = {kind: metrics.orders_sent.labels(kind) for kind in
                      ("new", "cancel", "replace")}
        self._store_parent = metrics.store_write.labels("save_parent")
        self._store_child = metrics.store_write.labels("save_child")
        self._store_fill = metrics.store_write.labels("record_fill")
        # The reports' counters by their labels, bound on first use (only the labels the venue
        # sends get a series): 0.9 against 2.0 us a report with a label lookup each time
        # (docs/benchmarks.md, "Tick to wire").
        self._report_counters: dict[ExecType, Counter] = {}
        self._fill_counters: dict[tuple[str, Side], Counter] = {}
        metrics.watch_parents(
            filled=lambda: sum(w.parent.filled for w in self._by_parent.values()),
            remaining=lambda: sum(w.parent.remaining for w in self._by_parent.values()),
            scheduled=self._scheduled_shares)
        metrics.watch_engine_queue(self.queue.qsize)
        metrics.watch_unknown_orders(lambda: len(self._unknown))
        metrics.watch_market_data_age(
            instruments,
            lambda symbol: (time.monotonic_ns() - self._last_tick_by_symbol[symbol]) / 1e9)

    # --- inbound ----------------------------------------------------------------------------
    def deliver(self, event: object, received_ns: int) -> None:
        """Thread-safe entry point's target (called on the loop by call_soon_threadsafe)."""
        self.queue.put_nowait((event, received_ns))

    async def run(self) -> None:
        """Take what waits on the queue, everything at once, and handle it (``handle_batch``):
        when the engine falls behind, each symbol is decided on its newest tick."""
        watchdog = asyncio.create_task(self._watch_loop(), name="risk-watch")
        queue = self.queue
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                self.handle_batch(batch)
        finally:
            watchdog.cancel()

    def handle_batch(self, batch: list[tuple[object, int]]) -> None:
        """Handle events that were waiting together, in their order; a tick with a newer tick
        of its symbol later in the batch is *superseded*: it moves the book, the market's
        statistics, the overlay's reference and the parents' market volume as any tick does,
        but no decision is made on it. The newest tick's decision is made on the state all of
        them built, and its tick-to-order latency counts from the earliest superseded tick's
        arrival (the market event the decision is the first answer to).

        Why: a decision on a tick that already has a successor waiting acts on a book that is
        gone, and deciding on each would make every later decision later still: the queue would
        grow for as long as ticks come faster than decisions (docs/benchmarks.md, "Tick to
        wire"; FIX market data is never conflated on its way here,
        gateways/marketdata/fix_feed.py). Nothing is
        merged or dropped: every event is applied, execution reports between ticks included,
        in the session's order. At a pace the engine keeps up with, every batch holds one
        event and every tick is decided on."""
        if len(batch) == 1:  # the engine keeping up: nothing to tell apart
            event, received_ns = batch[0]
            self.handle(event, received_ns)
            return
        try:
            superseded, earliest = _superseded(batch)
        except Exception:
            self.errors += 1
            log.exception("engine could not tell which of %d waiting events are superseded "
                          "(a malformed tick); each is decided on alone", len(batch))
            superseded, earliest = set(), {}
        for index, (event, received_ns) in enumerate(batch):
            if index in superseded:
                self.handle(event, received_ns, decide=False)
            else:
                self.handle(event, earliest.get(index, received_ns))

    def market_now_ns(self) -> int:
        """The market's clock: the event time of the ticks seen, or before the first one (just
        after a start) the wall clock. Named assumption: a live feed's event time is wall-clock
        time, so a parent order given a horizon before the first tick is placed right."""
        now = self.clock.now_ns()
        return now if now > 0 else time.time_ns()

    def wall_ns_since_last_tick(self) -> int:
        """Monotonic wall time since the last market-data message (since start before any)."""
        return time.monotonic_ns() - self._last_tick_mono_ns

    def wall_ns_since_tick(self, symbol: str) -> int:
        """Monotonic wall time since ``symbol``'s last market-data message (since start before
        any)."""
        return time.monotonic_ns() - self._last_tick_by_symbol[symbol]

    async def _watch_loop(self) -> None:
        """The overlay's periodic duties (the stale-feed kill). When the feed is silent, event
        time stands still, so "now" is the last event time plus the wall time since it came."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                if self.reconciler.in_progress:
                    # Restored orders wait for the venue's word, not for a quote: the stale-feed
                    # kill resumes once they are reconciled; a venue that never answers halts.
                    self.check_reconciliation_deadline()
                    continue
                now = self.clock.now_ns() + self.wall_ns_since_last_tick()
                self.risk.watch(now)
                self.check_endings(now)
            except Exception:
                self.errors += 1
                log.exception("risk watch failed")

    def handle(self, event: object, received_ns: int, decide: bool = True) -> None:
        """One inbound event; ``decide=False`` applies a tick without deciding on it (a newer
        one of its symbol is waiting: ``handle_batch``)."""
        try:
            if isinstance(event, MarketData):
                self.on_market_data(event, received_ns, decide)
            elif isinstance(event, ExecutionReport):
                self.on_execution_report(event)
            elif isinstance(event, CancelReject):
                self.on_cancel_reject(event)
            elif isinstance(event, UnreadableReport):
                self.on_unreadable_report(event)
            elif isinstance(event, SessionStatus):
                self.on_session_status(event)
            else:
                log.warning("engine ignored an event of type %s", type(event).__name__)
        except Exception:
            self.errors += 1
            log.exception("engine failed to handle %s", type(event).__name__)

    # --- parent orders ----------------------------------------------------------------------
    def submit(self, parent: ParentOrder, policy: ExecutionPolicy) -> asyncio.Event:
        """Start working ``parent``; the returned event is set when it is finished."""
        if parent.symbol not in self.books:
            raise ValueError(f"symbol {parent.symbol!r} is not configured; configured: "
                             f"{sorted(self.books)}")
        working = self._work(parent, policy)
        self.oms.add_parent(parent)
        self._save_parent(parent)
        return working.finished

    def _work(self, parent: ParentOrder, policy: ExecutionPolicy) -> _Working:
        if observes_signal(policy) and not self.signals:
            raise ValueError(f"policy {policy.name!r} observes the price signal "
                             f"({feature_spec_of(policy)}) but the engine runs no signal model: "
                             "configure signal.model_path")
        observation = observation_for(parent, policy)
        n_slices = max(1, round((parent.end_ns - parent.start_ns) / self.slice_ns))
        working = _Working(parent, policy, n_slices,
                           self.metrics.policy_inference.labels(policy.name),
                           self.metrics.parent_shortfall.labels(policy.name),
                           observation, partial(self.risk.largest_order_qty, parent.symbol),
                           decision_interval_ns(policy))
        # No shortfall before its first fill (NaN: not a 0 bps cost, and no alert on a previous
        # parent's value); the final-shortfall series exists from now, so its first
        # observation is an increase Prometheus can see.
        working.shortfall.set(math.nan)
        self.metrics.parent_final_shortfall.labels(policy.name)
        if isinstance(policy, OnnxPolicy):  # a model's output is checked on every inference
            policy.on_nonfinite = self.metrics.policy_nonfinite.labels(policy.name).inc
        self._active[parent.symbol].append(working)
        self._by_parent[parent.parent_id] = working
        self.metrics.parent_orders_active.set(len(self._by_parent))
        return working

    # --- recovery -----------------------------------------------------------------------------
    def restore(self, state: RecoveredState,
                policy_for: Callable[[ParentOrder], ExecutionPolicy]) -> dict[str, asyncio.Event]:
        """Take back what the store held after a restart: every parent and child order and the
        fills already counted; each unfinished parent is worked again, with exactly what
        remains, once the venue has answered for the working child orders (an order-status
        request each, sent at logon). Returns each resumed parent's finished event."""
        self.oms.restore(state.parents, state.children,
                         ((exec_id, qty, price) for exec_id, _, _, qty, price in state.fills))
        unfinished = {parent.parent_id for parent in state.unfinished}
        self._unknown = {order.first_cl_ord_id for order in state.children
                         if order.unknown and order.parent_id in unfinished}
        for exec_id, record in sorted(state.suspect_fills.items()):
            self.suspect_fills.append(_suspect_of_record(exec_id, record))
        finished = {}
        for parent in state.unfinished:
            if parent.symbol not in self.books:
                log.error("stored parent %s is for %s, which is no longer configured; left "
                          "as it is", parent.parent_id, parent.symbol)
                continue
            try:
                finished[parent.parent_id] = self._work(parent, policy_for(parent)).finished
            except ValueError as exc:
                log.error("stored parent %s cannot be worked again: %s; left as it is",
                          parent.parent_id, exc)
        self.reconciler.expect([order.cl_ord_id for order in state.working])
        return finished

    # Reconciliation with the venue (service/state/reconciliation.py): while one is open, no
    # parent trades.
    @property
    def reconciliation(self) -> Reconciliation | None:
        return self.reconciler.current

    def reconcile(self) -> None:
        """Ask the venue about every order we hold as working: at logon (after a restart these
        are the restored ones; after a reconnect, whatever was working when the session
        dropped; answers and resent reports bring what happened meanwhile), and when the
        durable store is back after an outage. Waits for the logon when the session is down."""
        if self.session_up:
            self.reconciler.start()

    def check_reconciliation_deadline(self) -> None:
        """The venue's silence past ``reconcile_timeout_s`` halts (from the watch loop)."""
        self.reconciler.check_deadline()

    def parent(self, parent_id: str) -> ParentOrder:
        return self.oms.parents[parent_id]

    def is_active(self, parent_id: str) -> bool:
        return parent_id in self._by_parent

    def cancel_parent(self, parent_id: str) -> bool:
        """Stop working a parent: cancel its children now; it finishes as "cancelled" once the
        venue has answered them. False when it is not being worked."""
        working = self._by_parent.get(parent_id)
        if working is None:
            return False
        working.cancelled = True
        self._wind_down(working, self.oms.working(parent_id), self.clock.now_ns(), "cancelled")
        return True

    # --- the walk of one tick ---------------------------------------------------------------
    def on_market_data(self, message: MarketData, received_ns: int, decide: bool = True) -> None:
        symbol = message.symbol
        book = self.books.get(symbol)
        if book is None:
            return
        book.apply_market_data(message)
        self.trackers[symbol].update(book, message)
        self.clock.advance_to(message.ts_ns)
        self._last_tick_mono_ns = self._last_tick_by_symbol[symbol] = time.monotonic_ns()
        now = self.clock.now_ns()
        traded = sum(trade.qty for trade in message.trades)
        self.risk.on_market_data(symbol, book.best_bid(), book.best_ask(), now, traded)
        if self.posture is not None:
            self.posture.update(symbol, book, message, now)
        self._tick_counters[symbol].inc()
        if not decide:
            self._superseded_counters[symbol].inc()
        signal_bps = 0.0
        signal = self.signals.get(symbol)
        if signal is not None:
            # Every tick moves the signal's features; the model runs on the ticks decided on,
            # once per symbol, before any parent's decision.
            signal.update(book, message)
            if decide:
                started = time.perf_counter_ns()
                signal_bps = signal.predict(book, now)
                self._signal_latency.observe((time.perf_counter_ns() - started) / 1e9)
        for working in tuple(self._active[symbol]):
            if now >= working.parent.start_ns:
                working.market_volume += traded
            if decide:
                self._decide(working, book, now, received_ns, signal_bps)
        if self.oversight is not None:
            # After the parents' decisions: the shadow compares its decision with theirs on
            # this tick, and observes the signal they were shown.
            self.oversight.on_tick(symbol, book, message, now, decide, signal_bps)

    def _decide(self, working: _Working, book: DepthBook, now: int, received_ns: int,
                signal_bps: float = 0.0) -> None:
        parent = working.parent
        if now < parent.start_ns or self.reconciler.in_progress:
            return
        if parent.arrival_price_x2 is None:
            parent.arrival_price_x2 = book.mid_x2()
            if parent.arrival_price_x2 is None:
                return  # no two-sided market yet: no benchmark, no trading
            self._save_parent(parent)
        children = self.oms.working(parent.parent_id)
        if self._ending(working, children, now):
            return
        if self.risk.state is _HALTED:
            # Nothing but cancels may go out, and the kill switch has sent those: asking the
            # policy, and the overlay, for orders it must deny would only be denied every tick.
            return
        action = horizon_action(parent, now)
        if action is None:
            if now < working.next_decision_ns:
                return  # between two of its policy's decisions: its orders stay as they are
            working.next_decision_ns = now + working.decision_interval_ns
            resting = sum(o.leaves_qty for o in children if o.tif is not TimeInForce.IOC)
            ioc = sum(o.leaves_qty for o in children if o.tif is TimeInForce.IOC)
            slice_qty = parent.qty // working.n_slices
            obs = working.observation.fill(book, parent, children, self.trackers[parent.symbol],
                                           now, slice_qty, signal_bps)
            ctx = DecisionContext(obs, parent, book, now, slice_qty, working.n_slices,
                                  resting, ioc, working.market_volume, signal_bps,
                                  urgency=1.0 if self.posture is None
                                  else self.posture.urgency(parent.symbol))
            started = time.perf_counter_ns()
            action = working.policy.act(ctx)
            working.inference.observe((time.perf_counter_ns() - started) / 1e9)
            if self.oversight is not None:
                self.oversight.on_decision(parent, working.policy.name, ctx, action)
        if action.kind is ActionKind.WAIT and not children:
            return
        largest = self.max_child_qty if self.posture is None else \
            self.posture.max_child_qty(parent.symbol, self.max_child_qty)
        if action.qty > largest:
            action = Action(action.kind, largest)
        for intent in self._only_cancels_if_unknown(
                parent, translate(action, parent, book, children, self._next_id,
                                  working.order_cap)):
            self._route(intent, parent, now, received_ns)

    def _ending(self, working: _Working, children: list[ChildOrder], now: int) -> bool:
        """Does the parent end rather than trade on this tick? Stopped or cancelled, it winds
        down; filled with nothing working, it finishes; past its horizon and grace (after at
        least one chance to cross the remainder: event time can jump past the whole grace
        between two ticks when the feed stalls), it winds down."""
        parent = working.parent
        if parent.stopped:
            self._wind_down(working, children, now, "stopped")
        elif parent.remaining <= 0 and not children:
            self._finish(working, "filled")
        elif working.cancelled:
            self._wind_down(working, children, now, "cancelled")
        else:
            if now >= parent.end_ns:
                working.horizon_ticks += 1
            if now <= parent.end_ns + self.grace_ns or working.horizon_ticks <= 1:
                return False
            self._wind_down(working, children, now, "expired")
        return True

    def _only_cancels_if_unknown(self, parent: ParentOrder,
                                 intents: list[OrderIntent]) -> list[OrderIntent]:
        """While a child's state at the venue is not known, nothing that could add to what may
        already have filled: only cancels, until an order-status answer says."""
        if self._unknown and any(o.unknown for o in self.oms.children(parent.parent_id)):
            return [intent for intent in intents if isinstance(intent, CancelOrder)]
        return intents

    def check_endings(self, now: int) -> None:
        """From the watch loop (no market data needed): parents stopped, or past their horizon
        and grace, wind down; one winding down longer than ``settle_ns`` finishes whatever the
        venue has (not) answered. So a parent always ends, and ``execagent run --submit``
        always returns."""
        for working in tuple(self._by_parent.values()):
            parent = working.parent
            if parent.stopped:
                outcome = "stopped"
            elif working.cancelled:
                outcome = "cancelled"
            elif now > parent.end_ns + self.grace_ns:
                outcome = "expired"
            else:
                continue
            self._wind_down(working, self.oms.working(parent.parent_id), now, outcome)

    def _route(self, intent: OrderIntent, parent: ParentOrder, now: int,
               received_ns: int) -> None:
        if self.posture is not None:
            refused = self.posture.check(intent, now)
            if refused is not None:  # counted by the gate's on_denial hook
                if self.journal is not None:
                    self._journal_decision(intent, parent, False, refused, now)
                return
        started = time.perf_counter_ns()
        verdict = self.risk.check(intent, now)
        self.metrics.risk_check.observe((time.perf_counter_ns() - started) / 1e9)
        if self.journal is not None:
            self._journal_decision(intent, parent, verdict.allowed,
                                   verdict.reason.value if verdict.reason is not None else "",
                                   now)
        if not verdict.allowed:
            parent.risk_denials += 1
            return  # counted by the overlay's on_denial hook
        if self._transmit(intent, now):
            self.metrics.tick_to_order.observe((time.perf_counter_ns() - received_ns) / 1e9)

    def _journal_decision(self, intent: OrderIntent, parent: ParentOrder, allowed: bool,
                          reason: str, now: int) -> None:
        """The audit line of a decision that produced an order: what the policy saw (the
        feature vector, 4 decimals), what it asked for, and what the posture or the overlay
        said (a posture's reasons start with ``posture_``)."""
        assert self.journal is not None
        working = self._by_parent.get(parent.parent_id)
        features = ",".join(f"{value:.4f}" for value in working.observation.buffer) \
            if working else ""
        kind = _intent_type(intent)
        price = getattr(intent, "price", None)
        self.journal.record("decision", now, {
            "parent_id": parent.parent_id, "policy": parent.policy, "features": features,
            "action": f"{kind} {intent.qty}" + (f"@{price}" if price is not None else ""),
            "intent": kind, "cl_ord_id": intent.cl_ord_id,
            "verdict": "allowed" if allowed else "denied", "reason": reason})

    def _transmit(self, intent: OrderIntent, now: int) -> bool:
        """Hand an allowed intent to the OMS, the store and the gateway; False when it could
        not go. Write-ahead: the order is persisted *before* it reaches the venue, so a crash
        between the two leaves a record to reconcile, never an order nobody knows. When the
        store cannot take it, a new order or a replace does not go (the store guard halts
        trading); a cancel goes anyway: reducing risk never waits for the disk."""
        self.oms.on_sent(intent)
        kind = _intent_type(intent)
        order = self.oms.get(intent.cl_ord_id)
        durable = order is None or self._save_child(order)
        if not durable and not isinstance(intent, CancelOrder):
            self.oms.on_send_failed(intent)
            self.metrics.send_failures.labels(kind).inc()
            return False
        if not self.sender.send(intent, now):
            self.oms.on_send_failed(intent)
            self.metrics.send_failures.labels(kind).inc()
            if order is not None:
                self._save_child(order)  # what the store holds must not claim it was sent
            return False
        self._sent[kind].inc()
        return True

    def _send_kill_cancels(self, cancels: list[CancelOrder], trigger: KillTrigger,
                           reason: str) -> None:
        """The kill switch's cancels bypass the policies; the overlay already allowed them."""
        self.metrics.kill_switch.labels(trigger.value).inc()
        now = self.clock.now_ns()
        for cancel in cancels:
            self._transmit(cancel, now)

    def _next_id(self) -> str:
        return next(self._ids)

    def _wind_down(self, working: _Working, children: list[ChildOrder], now: int,
                   outcome: str) -> None:
        """Stop (past the horizon and its grace, cancelled, or stopped): cancel what still
        rests, and finish once nothing is working, or once the venue has had ``settle_ns``
        to answer (what is left is named in the parent's outcome)."""
        started = time.monotonic_ns()
        if working.winding_since_ns is None:
            working.winding_since_ns = started
        for order in children:
            if order.pending_cl_ord_id is None:
                cancel = CancelOrder(self._next_id(), order.cl_ord_id, order.parent_id,
                                     order.symbol, order.side, order.qty)
                self._route(cancel, working.parent, now, time.perf_counter_ns())
        if not children:
            self._finish(working, outcome)
        elif started - working.winding_since_ns > self.settle_ns:
            log.error("parent %s finishes %s with %d child orders the venue has not answered "
                      "for (%s)", working.parent.parent_id, outcome, len(children),
                      ", ".join(o.cl_ord_id for o in children))
            self._finish(working, outcome)

    def _finish(self, working: _Working, outcome: str) -> None:
        parent = working.parent
        parent.done = True
        # Its orders still unknown are named in its outcome; the gauge counts those that
        # hold a parent back.
        self._unknown -= {o.first_cl_ord_id for o in self.oms.children(parent.parent_id)}
        self._active[parent.symbol].remove(working)
        del self._by_parent[parent.parent_id]
        self._save_parent(parent)
        self.outcomes[parent.parent_id] = outcome
        self.metrics.parent_orders_active.set(len(self._by_parent))
        self.metrics.parent_orders_completed.labels(outcome).inc()
        shortfall = self._show_shortfall(working)
        if shortfall is not None:
            self.metrics.parent_final_shortfall.labels(working.policy.name).observe(shortfall)
        if self.oversight is not None:
            self.oversight.on_finish(parent, working.policy.name, shortfall)
        working.finished.set()

    def outcome(self, parent_id: str) -> ParentOutcome:
        """What became of the parent so far, doubts included (ParentOutcome)."""
        parent = self.oms.parents[parent_id]
        children = self.oms.children(parent_id)
        return ParentOutcome(
            parent_id, self.outcomes.get(parent_id, ""), parent.qty, parent.filled,
            parent.stopped,
            tuple(f.describe() for f in self.suspect_fills if f.parent_id == parent_id),
            tuple(o.cl_ord_id for o in children if o.unknown),
            tuple(o.cl_ord_id for o in children if not o.status.is_terminal))

    def _show_shortfall(self, working: _Working) -> float | None:
        """The parent's shortfall so far into its policy's gauge (after a fill, at the end)."""
        exact = shortfall_bps(working.parent)
        if exact is None:
            return None
        value = float(exact)
        working.shortfall.set(value)
        return value

    def _scheduled_shares(self) -> float:
        """What a straight line from each active parent's start to its end would have filled
        by now (event time): the "schedule" the dashboard sets the filled shares against."""
        now = self.clock.now_ns()
        total = 0.0
        for working in self._by_parent.values():
            parent = working.parent
            elapsed = (now - parent.start_ns) / (parent.end_ns - parent.start_ns)
            total += parent.qty * min(1.0, max(0.0, elapsed))
        return total

    # --- store writes, timed; a failure goes to the store guard, never up the tick ------------
    def _timed_write(self, histogram: LatencyBuckets, write: Callable[..., object],
                     *args: object) -> bool:
        started = time.perf_counter_ns()
        try:
            write(*args)
        except StoreUnavailable as exc:
            self._store_failed(exc)
            return False
        histogram.observe((time.perf_counter_ns() - started) / 1e9)
        return True

    def _save_parent(self, parent: ParentOrder) -> bool:
        return self._timed_write(self._store_parent, self.store.save_parent, parent)

    def _save_child(self, order: ChildOrder) -> bool:
        return self._timed_write(self._store_child, self.store.save_child, order)

    def _record_fill(self, exec_id: str, cl_ord_id: str, qty: int, price: int) -> None:
        self._timed_write(self._store_fill, self.store.record_fill, exec_id, cl_ord_id, qty,
                          price)

    def _store_failed(self, error: StoreUnavailable) -> None:
        self.metrics.store_errors.inc()
        if self.on_store_error is not None:
            self.on_store_error(error)

    # --- execution reports --------------------------------------------------------------------
    def on_execution_report(self, report: ExecutionReport) -> None:
        if report.exec_type is ExecType.ORDER_STATUS:
            self.reconciler.on_status_answer(report)
        else:
            self._apply_report(report)

    def _apply_report(self, report: ExecutionReport) -> None:
        self._count_and_journal(report)
        before = self.oms.get(report.cl_ord_id)
        if self._handled_aside(report, before):
            return
        was_open = before is not None and not before.status.is_terminal
        cancel_requested = before is not None and before.pending_cl_ord_id is not None
        fresh = not self.oms.seen(report.exec_id)
        fill = self.oms.on_execution_report(report, self._reference(report.symbol))
        if self.oms.splits:
            self._on_replaces_taken_as_new()
        self.risk.on_execution_report(_as_believed(report, fill, before), self.clock.now_ns())
        believed = self._keep_fill(fill, report)
        order = self.oms.get(report.cl_ord_id)
        if order is not None:
            self._save_child(order)
            if was_open and order.status.is_terminal:
                self._count_order_end(order, report.exec_type, cancel_requested)
            if fresh:
                self._check_cum_qty(order, report, believed)
        if believed is None:
            if order is not None and report.exec_type in TRADE_AMENDMENTS:
                self._on_trade_amended(order)
            return
        self._on_fill_booked(believed, report)

    def _count_and_journal(self, report: ExecutionReport) -> None:
        counter = self._report_counters.get(report.exec_type)
        if counter is None:
            counter = self._report_counters[report.exec_type] = \
                self.metrics.execution_reports.labels(report.exec_type.name.lower())
        counter.inc()
        if self.journal is not None:
            self.journal.record("execution_report", self.clock.now_ns(), {
                "cl_ord_id": report.cl_ord_id, "exec_id": report.exec_id,
                "exec_type": report.exec_type.name, "ord_status": report.ord_status.name,
                "last_qty": report.last_qty, "last_px": report.last_px,
                "cum_qty": report.cum_qty, "leaves_qty": report.leaves_qty})

    def _handled_aside(self, report: ExecutionReport, order: ChildOrder | None) -> bool:
        """Reports that do not go the usual way: one naming a ClOrdID we never sent, and a new
        report that is not a fill on an order in an unknown state, which states the venue's
        CumQty as an order-status answer does and settles the order the same way."""
        if report.exec_type in TRADE_AMENDMENTS:
            return False
        if order is None:
            self._on_unknown_order_report(report)
            return True
        if order.unknown and not report.exec_type.is_fill and not self.oms.seen(report.exec_id):
            self.reconciler.on_status_answer(report)
            return True
        return False

    def _keep_fill(self, fill: FillEvent | None, report: ExecutionReport) -> FillEvent | None:
        """Record a new fill: a believed one in the store (the fill before the order that
        carries it: recovery recomputes every order's filled quantity from the fills, so a
        crash between the two writes loses nothing), one not believed as a suspect fill.
        Returns the fill when it was believed."""
        if fill is None:
            return None
        if fill.doubts:
            self._on_suspect_fill(fill, report)
            return None
        self._record_fill(fill.exec_id, fill.first_cl_ord_id, fill.qty, fill.price)
        return fill

    def _check_cum_qty(self, order: ChildOrder, report: ExecutionReport,
                       fill: FillEvent | None) -> None:
        """A new report whose CumQty is not what the fills booked on its order add up to (a
        fill missed or misstated), or a fill report that states no fill: the order is unknown
        until the venue answers for it (the answer books what is missing, or stops the
        parent). A stopped parent's orders are left alone: its fills not believed set them
        apart from the venue's on purpose."""
        if order.unknown or report.exec_type in TRADE_AMENDMENTS or self._stopped(order):
            return
        if report.exec_type.is_fill and fill is None:
            log.error("order %s: fill report %s states no fill", order.cl_ord_id,
                      report.exec_id)
            self.mark_unknown(order)
        elif report.cum_qty != order.cum_qty:
            log.error("order %s: the venue reports %d filled, the fills booked add up to %d",
                      order.cl_ord_id, report.cum_qty, order.cum_qty)
            self.mark_unknown(order)

    def _on_fill_booked(self, fill: FillEvent, report: ExecutionReport) -> None:
        filled = self._fill_counters.get((report.symbol, report.side))
        if filled is None:
            filled = self._fill_counters[(report.symbol, report.side)] = \
                self.metrics.filled_shares.labels(report.symbol, report.side.name.lower())
        filled.inc(fill.qty)
        if self.posture is not None:
            self.posture.on_fill(report.symbol, fill.qty, self.clock.now_ns())
        working = self._by_parent.get(fill.parent_id)
        if working is not None:
            # No parent write here: its filled quantity is the sum of its stored fills (what
            # recovery recomputes), so the record is saved at submit, arrival and finish only,
            # one Redis round trip fewer per fill.
            self._show_shortfall(working)
            if working.parent.remaining <= 0 and not self.oms.working(fill.parent_id) and \
                    not working.parent.stopped:
                self._finish(working, "filled")

    def _stopped(self, order: ChildOrder) -> bool:
        """Is ``order``'s parent stopped? (Its fills not believed leave its CumQty apart from
        the venue's on purpose.)"""
        parent = self.oms.parents.get(order.parent_id)
        return parent is not None and bool(parent.stopped)

    def _reference(self, symbol: str) -> float | None:
        """The symbol's mid in ticks (the fills' price band), None without a two-sided book."""
        book = self.books.get(symbol)
        mid_x2 = book.mid_x2() if book is not None else None
        return None if mid_x2 is None else mid_x2 / 2

    # --- reports that cannot be believed, or read -------------------------------------------
    def _on_suspect_fill(self, fill: FillEvent, report: ExecutionReport) -> None:
        """A fill that failed its checks: kept as the venue stated it (store, journal),
        counted by reason, its parent stopped and its symbol held, never booked."""
        assert fill.claim is not None
        instrument = self.instruments.get(report.symbol)
        price = (fill.claim.price_as_sent(instrument) if instrument is not None
                 else fill.claim.price_text or str(fill.claim.price))
        self._keep_suspect(SuspectFill(
            fill.exec_id, fill.parent_id, fill.first_cl_ord_id, report.symbol,
            fill.claim.side.name, fill.claim.qty, price,
            "; ".join(doubt.text for doubt in fill.doubts)), fill.doubts)
        self.stop_parent(fill.parent_id,
                         f"a fill not believed: {self.suspect_fills[-1].describe()}")

    def _keep_suspect(self, suspect: SuspectFill, doubts: tuple[Doubt, ...]) -> None:
        self.suspect_fills.append(suspect)
        log.error("%s", suspect.describe())
        for doubt in doubts:
            self.metrics.suspect_fills.labels(doubt.code).inc()
        try:
            self.store.record_suspect_fill(suspect.exec_id, dataclasses.asdict(suspect))
        except StoreUnavailable as exc:
            self._store_failed(exc)
        if self.journal is not None:
            self.journal.record("suspect_fill", self.clock.now_ns(), {
                "exec_id": suspect.exec_id, "cl_ord_id": suspect.cl_ord_id,
                "parent_id": suspect.parent_id, "symbol": suspect.symbol,
                "side": suspect.side, "last_qty": suspect.qty, "last_px": suspect.price,
                "reason": suspect.reasons})
        if suspect.symbol in self.instruments:
            self.risk.hold_symbol(suspect.symbol, suspect.describe())

    def stop_parent(self, parent_id: str, reason: str) -> None:
        """Stop ``parent_id`` for good: it sends nothing but cancels, winds down and finishes
        as "stopped", ``reason`` in its outcome."""
        parent = self.oms.parents.get(parent_id)
        if parent is None or parent.stopped:
            return
        parent.stopped = reason
        log.error("parent %s stopped: %s", parent_id, reason)
        self._save_parent(parent)

    def _on_unknown_order_report(self, report: ExecutionReport) -> None:
        """A report naming a ClOrdID we never sent (or forgot): recorded, counted, alerted;
        never matched to another order. A fill in it is kept as a suspect fill."""
        self.metrics.unknown_order_reports.inc()
        self.oms.unknown_reports += 1
        log.error("execution report %s names ClOrdID %s, which we never sent (or no longer "
                  "know); recorded, not matched to any order", report.exec_id, report.cl_ord_id)
        if not report.exec_type.is_fill or (report.last_qty <= 0 and report.cum_qty <= 0):
            return
        if any(f.exec_id == report.exec_id for f in self.suspect_fills):
            return  # a duplicate (PossDup) of one already kept
        price = report.last_px_text or (str(self.instruments[report.symbol].to_price(
            report.last_px)) if report.last_px is not None and report.symbol in
            self.instruments else "?")
        self._keep_suspect(SuspectFill(
            report.exec_id, "", report.cl_ord_id, report.symbol, report.side.name,
            report.last_qty or report.cum_qty, price,
            f"ClOrdID {report.cl_ord_id} is none we sent"),
            (Doubt(UNKNOWN_ORDER, "unknown ClOrdID"),))

    def _on_replaces_taken_as_new(self) -> None:
        """The venue took a replace as a new order: both orders are recorded as it works them
        (OrderManager._split); the overlay counts both; the parent is stopped (every further
        replace would add another order) and winds both down."""
        splits, self.oms.splits = self.oms.splits, []
        for original, taken in splits:
            self.risk.on_replace_taken_as_new(taken.cl_ord_id)
            self.metrics.suspect_fills.labels("replace_as_new").inc()
            self._save_child(original)
            self._save_child(taken)
            self.stop_parent(taken.parent_id,
                             f"the venue took replace {taken.cl_ord_id} of order "
                             f"{original.cl_ord_id} as a new order: both work there")

    def on_unreadable_report(self, event: UnreadableReport) -> None:
        """An execution report the service cannot read: kept raw in the journal and counted;
        its order (or, when it names none we know, every order working on its symbol, or on
        every symbol) becomes unknown and is asked about with an OrderStatusRequest; its
        parent sends nothing but cancels until the answer comes."""
        self.metrics.unreadable_reports.inc()
        if self.journal is not None:
            self.journal.record("unreadable_report", self.clock.now_ns(), {
                "cl_ord_id": event.cl_ord_id or "", "symbol": event.symbol or "",
                "reason": event.reason, "raw": event.raw.replace("\x01", "|")})
        order = self.oms.get(event.cl_ord_id or "") or self.oms.get(event.orig_cl_ord_id or "")
        if order is not None:
            orders = [order]
        else:
            orders = [o for o in self.oms.all_orders() if not o.status.is_terminal
                      and (event.symbol not in self.instruments or o.symbol == event.symbol)]
        log.error("unreadable execution report (%s): %d orders now unknown, asked about",
                  event.reason, len(orders))
        for unknown in orders:
            self.mark_unknown(unknown)

    def mark_unknown(self, order: ChildOrder) -> None:
        """``order``'s state at the venue is not known: ask the venue (OrderStatusRequest)."""
        self.oms.mark_unknown(order)
        self.risk.mark_unknown(order.cl_ord_id)
        if order.parent_id in self._by_parent:
            self._unknown.add(order.first_cl_ord_id)
        self._save_child(order)
        if self._request_status is None or not self._request_status(order):
            log.error("order %s is unknown and its status could not be asked for",
                      order.cl_ord_id)

    def _on_order_known(self, order: ChildOrder) -> None:
        """An order-status answer for ``order`` came (service/state/reconciliation.py)."""
        if order.unknown:
            order.unknown = False
            self._unknown.discard(order.first_cl_ord_id)
            log.warning("order %s is known again: the venue answered for it", order.cl_ord_id)

    def _on_status_problem(self, order: ChildOrder, problem: str) -> None:
        """An order-status answer outside a reconciliation that cannot be squared with our
        record: the order's parent stops, the difference named."""
        self.stop_parent(order.parent_id, problem)

    def _on_trade_amended(self, order: ChildOrder) -> None:
        """A bust or a correction changed the parent's filled quantity and notional (the OMS
        did it): persist the signed fill records it produced, then the parent, and show its
        shortfall again. A parent still worked goes on working what a bust gave back; one
        already finished stays finished."""
        adjustments, self.oms.adjustments = self.oms.adjustments, []
        for fill in adjustments:
            self._record_fill(fill.exec_id, fill.first_cl_ord_id, fill.qty, fill.price)
        parent = self.oms.parents.get(order.parent_id)
        if parent is not None:
            self._save_parent(parent)
        working = self._by_parent.get(order.parent_id)
        if working is not None:
            self._show_shortfall(working)

    def _count_order_end(self, order: ChildOrder, exec_type: ExecType,
                         cancel_requested: bool) -> None:
        """A child order just reached a terminal status: count how it ended, once."""
        m = self.metrics
        status = order.status
        if status is OrdStatus.FILLED:
            m.orders_filled.inc()
        elif status is OrdStatus.REJECTED:
            m.orders_rejected.labels("venue_reject").inc()
        elif status is OrdStatus.EXPIRED or exec_type is ExecType.EXPIRED:
            m.orders_cancelled.labels("expired").inc()
        elif status is OrdStatus.CANCELED:
            reason = ("requested" if cancel_requested else
                      "ioc_remainder" if order.tif is TimeInForce.IOC else "venue")
            m.orders_cancelled.labels(reason).inc()

    def on_cancel_reject(self, reject: CancelReject) -> None:
        reconciliation = self.reconciliation
        if reconciliation is not None and reject.cl_ord_id == reject.orig_cl_ord_id and \
                reject.cl_ord_id in reconciliation.awaiting:
            # Some venues answer an order-status request for an order they never received
            # with an OrderCancelReject instead of a rejected ExecutionReport: the same news.
            order = self.oms.get(reject.cl_ord_id)
            if order is not None:
                self.reconciler.on_status_answer(ExecutionReport(
                    order.cl_ord_id, f"{order.cl_ord_id}:unknown-at-venue",
                    ExecType.ORDER_STATUS, OrdStatus.REJECTED, order.symbol, order.side, 0, 0,
                    text=reject.text or "unknown order"))
                return
        self.metrics.orders_rejected.labels(
            _CANCEL_REJECT_REASONS.get(reject.reason, "cancel_other")).inc()
        order = self.oms.on_cancel_reject(reject)
        self.risk.on_cancel_reject(reject, self.clock.now_ns())
        if order is not None:
            self._save_child(order)
            if reject.reason == UNKNOWN_ORDER_REJECT and not order.status.is_terminal and \
                    not order.unknown:
                # The venue does not know an order we hold as working: ask what it knows.
                self.mark_unknown(order)

    def on_session_status(self, status: SessionStatus) -> None:
        self.session_up = status.logged_on
        self.metrics.fix_session_up.set(1 if status.logged_on else 0)
        now = self.clock.now_ns()
        if status.logged_on:
            self.risk.on_session_restored(now)
            self.reconcile()
        elif not self.shutting_down:
            log.warning("FIX session lost: %s", status.text or "no reason given")
            self.risk.on_session_lost(now)

