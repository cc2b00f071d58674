"""The composition root: configuration in, a running service out.

Builds the parts in the order their dependencies need (metrics, risk overlay, store, engine,
FIX gateway, HTTP API), starts them, and stops them in reverse. Start-up problems a user can
cause (a bad limits file, a port in use, a venue that refuses the logon) surface as
:class:`StartupError` with one clear line.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path

from core.domain import MarketData, ParentOrder, SessionStatus, Side
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.reconnect import Backoff
from gateways.fix.settings import SessionSpec
from gateways.marketdata.fix_feed import FixMarketData
from models.policy import ExecutionPolicy, OnnxPolicy
from models.posture.levels import Posture
from models.posture.model import PostureModelError, load_posture_model
from models.signal import SignalModel, SignalModelError
from risk.limits import load_limits
from risk.overlay import RiskOverlay
from risk.state import KillTrigger, TradingState
from service.api.auth import TokenConfigError, Tokens
from service.api.model import ModelRoutes, model_info
from service.api.orders import OrderRoutes
from service.api.risk import RiskRoutes
from service.api.schemas import Readiness
from service.api.server import ApiServer, build_app
from service.config import ServiceConfig, StoreKind
from service.engine import Engine
from service.feeds import FeedSetupError, ServiceFeeds
from service.kill_triggers import OperatorKill, RedisKillKey
from service.live_policy import LivePolicies, book_policy_name, checked
from service.metrics import Metrics
from service.oversight.model_slots import ModelSlots
from service.oversight.monitor import ExpectedCost, Oversight
from service.posture.gate import PostureGate
from service.readiness import readiness
from service.state.durability import StoreGuard
from service.state.journal import Journal, MemoryJournal, RedisJournal
from service.state.recovery import RecoveredState, load_state
from service.state.redis_store import RedisStore
from service.state.store import MemoryStore, StateStore, StoreUnavailable

log = logging.getLogger(f"execagent.{__name__}")

# How long one step of Service.stop may take (a background task to end once cancelled, the API
# server's cleanup). Each ends in milliseconds when nothing is wrong; the bound is there so
# that a stop (SIGTERM) can never hang on one part: it logs what did not finish and goes on.
STOP_STEP_TIMEOUT_S = 5.0


async def stop_within(what: str, step: Awaitable[object],
                      timeout_s: float = STOP_STEP_TIMEOUT_S) -> bool:
    """Wait for one part of a stop, at most ``timeout_s``; False (logged, naming ``what``, and
    the part left to itself) when it did not finish, True otherwise. A cancelled task's end by
    CancelledError is its normal end here; any other error it ends with is raised. Not
    ``asyncio.wait_for``: on a timeout that waits for the part to end, which is what a stuck
    part never does. Why at all: a CI run once hung for 300 s in the stop of an end-to-end
    test's service, after Redis had been stopped and restarted under it, with the event loop
    idle: something awaited there never ended, and no log said what."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        log.error("stopping: %s did not finish within %g s; going on without it", what,
                  timeout_s)
        return False
    if not task.cancelled():
        task.result()
    return True


async def cancel_within(what: str, task: asyncio.Task[object],
                        timeout_s: float = STOP_STEP_TIMEOUT_S) -> bool:
    """Cancel ``task`` and wait for it to end, as :func:`stop_within` does."""
    task.cancel()
    return await stop_within(what, task, timeout_s)


class StartupError(RuntimeError):
    """The service cannot start; the message says why and what to do."""


class Service:
    def __init__(self, config: ServiceConfig, metrics: Metrics | None = None,
                 serve_api: bool = True) -> None:
        self.config = config
        # Where trading-state changes are kept; set once the store is open (the risk overlay,
        # built first, reports its initial state before).
        self._state_sink: StateStore | None = None
        self.resumed: dict[str, asyncio.Event] = {}  # recovered parents' finished events
        self.instruments = config.instrument_map()
        self.metrics = metrics or Metrics()
        try:
            limits = load_limits(config.risk.limits_path)
        except (OSError, ValueError) as exc:
            raise StartupError(f"risk limits: {exc}") from exc
        try:
            self.risk = RiskOverlay(
                limits, self.instruments,
                on_denial=lambda r: self.metrics.risk_denials.labels(r.value).inc(),
                on_state_change=self._on_trading_state)
        except ValueError as exc:
            raise StartupError(f"risk limits: {exc}") from exc
        self._show_state(self.risk.state)
        self.metrics.watch_exposure(
            self.instruments, self.risk.position,
            lambda symbol: self.risk.ledger.exposure[symbol].pnl()
            if symbol in self.risk.ledger.exposure else 0.0)
        api_cfg = config.api
        try:
            self._tokens = Tokens.load(api_cfg.tokens.get_secret_value(), api_cfg.tokens_file)
        except TokenConfigError as exc:
            raise StartupError(str(exc)) from exc
        self.store, self.journal, self.guard = self._open_store()
        self._state_sink = self.store
        self.risk.on_holds_change = self._on_holds
        self.metrics.watch_held_symbols(lambda: len(self.risk.held_symbols()))
        self.recovered = self._recover()
        try:
            self.policies = LivePolicies(config.policy.name, config.policy.model_path,
                                         lambda: self.slots.live_path)
        except ValueError as exc:
            raise StartupError(f"policy.model_path: {exc}") from exc
        self.oversight, self.posture, self.slots = self._oversight()
        self.gateway: FixOrderGateway | None = None
        self.engine: Engine | None = None
        self.api: ApiServer | None = None
        self._serve_api = serve_api
        self._engine_task: asyncio.Task[None] | None = None
        self._loop_lag_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self.feeds: ServiceFeeds | None = None  # every market-data feed (service/feeds.py)
        self.fix_market_data: FixMarketData | None = None  # the FIX session's, as feeds
        # The kill switch as a signal or the Redis kill key pulls it (service/kill_triggers.py).
        self.operator_kill: OperatorKill | None = None

    def _open_store(self) -> tuple[StateStore, Journal, StoreGuard | None]:
        """The configured store and journal. Redis must answer at start and be readable."""
        cfg = self.config.store
        if cfg.kind is StoreKind.MEMORY:
            self.metrics.watch_store("memory")
            return MemoryStore(), MemoryJournal(), None
        url = cfg.redis_url.get_secret_value()
        try:
            store = RedisStore(url, namespace=cfg.namespace)
            store.check()
            store.save_model(model_info(self.config.policy.name, self.config.policy.model_path)
                             .model_dump(mode="json", exclude_none=True))
        except StoreUnavailable as exc:
            raise StartupError(str(exc)) from exc
        self.metrics.watch_store("redis", lambda: store.available)
        journal = RedisJournal(url, namespace=cfg.namespace,
                               retention_days=cfg.journal_retention_days)
        guard = StoreGuard(store, self.risk, time.time_ns)
        return store, journal, guard

    def _oversight(self) -> tuple[Oversight, PostureGate | None, ModelSlots]:
        """Drift monitors, live TCA, the shadow policy and the risk posture (each optional
        part as configured); a posture or shadow model that cannot be used stops the start."""
        config = self.config
        oversight = Oversight(config.oversight.drift_window)
        for name, cost in config.oversight.expected_shortfall.items():
            oversight.expected[name] = ExpectedCost(cost.mean_bps, cost.std_bps)
        metrics = self.metrics.oversight
        oversight.on_excess = lambda policy, excess: \
            metrics.shortfall_excess.labels(policy).observe(excess)
        policy_cfg = config.policy
        if policy_cfg.name == "onnx":
            self._watch_live_models(oversight)
        try:
            slots = ModelSlots(policy_cfg.model_path, policy_cfg.shadow, oversight,
                               self.journal, policy_cfg.name,
                               runs_signal=config.signal.model_path is not None)
        except ValueError as exc:
            raise StartupError(f"policy.shadow: {exc}") from exc
        metrics.shadow_active.set(1 if slots.shadow is not None else 0)
        gate = None
        if config.posture.enabled:
            try:
                params = load_posture_model(config.posture.model_path)
            except PostureModelError as exc:
                raise StartupError(f"posture.model_path: {exc}") from exc
            gate = PostureGate(params, config.posture, self.instruments, self.risk,
                               on_transition=self._on_posture)
            oversight.watch("posture", params.reference)
            oversight.posture = gate
        for name, expected in oversight.expected.items():
            metrics.expected_shortfall.labels(name).set(expected.mean_bps)
            # The series exists from the start: its first parent is an increase Prometheus sees.
            metrics.shortfall_excess.labels(name)
        metrics.attach(gate, oversight)
        return oversight, gate, slots

    def _watch_live_models(self, oversight: Oversight) -> None:
        """Drift and expected cost of the live model, or of each model of the book (each
        under the role ``policy:<stem>``, its parents only)."""
        book = self.policies.book
        if book is not None:
            for entry in book.entries:
                oversight.watch_policy(book_policy_name(entry.model), entry.metadata,
                                       role=f"policy:{entry.model.stem}")
            return
        try:
            live = OnnxPolicy(self.config.policy.model_path)
            oversight.watch_policy(live.name, live.metadata)
        except ValueError as exc:  # the model's problem is reported by GET /api/v1/model
            log.error("the live model cannot be watched for drift: %s", exc)

    def _on_posture(self, symbol: str, before: Posture, after: Posture, why: str) -> None:
        """A posture change: counted, and kept in the audit journal."""
        self.metrics.oversight.posture_transitions.labels(symbol, after.label).inc()
        now = self.engine.clock.now_ns() if self.engine is not None else time.time_ns()
        self.journal.record("posture", now, {"symbol": symbol, "from_posture": before.label,
                                             "to_posture": after.label, "reason": why})

    def _recover(self) -> RecoveredState:
        """What an earlier run left in the store, back into the risk overlay (positions, P&L,
        working orders, the trading state); the engine takes the orders at start and the
        venue confirms them at logon (service/state/recovery.py). A store that cannot be read stops
        the start; one whose records contradict each other starts HALTED, saying how."""
        try:
            state = load_state(self.store, self.instruments)
        except (StoreUnavailable, ValueError) as exc:
            where = getattr(self.store, "url", "the store")
            raise StartupError(f"the store at {where} cannot be read: {exc}") from exc
        if state.empty and not state.problems and not state.set_aside \
                and state.trading_state is TradingState.ACTIVE:
            return state
        self.risk.restore(state.working, state.fills, state.trading_state, state.trading_reason)
        self.risk.restore_holds(state.holds)
        log.warning("recovered from the store (namespace %s): %d parent orders (%d "
                    "unfinished), %d child orders (%d working), %d fills; trading state %s%s",
                    self.config.store.namespace, len(state.parents), len(state.unfinished),
                    len(state.children), len(state.working), len(state.fills),
                    state.trading_state.value,
                    f"; {state.set_aside} finished parent orders on symbols no longer "
                    "configured left in the store" if state.set_aside else "")
        if state.problems:
            self.risk.engage_kill_switch(
                "the store's records do not add up: " + "; ".join(state.problems[:5]),
                time.time_ns(), KillTrigger.RECOVERY)
        return state

    def _signal_model(self) -> SignalModel | None:
        """The configured price-signal model (models/signal.py), or None when switched off."""
        path = self.config.signal.model_path
        if path is None:
            return None
        try:
            return SignalModel(path)
        except SignalModelError as exc:
            raise StartupError(f"signal.model_path: {exc} (or set signal.model_path to null to "
                               "run without the price signal)") from exc

    def _on_trading_state(self, state: TradingState, reason: str) -> None:
        """Shown as a metric, and kept in the store so a restart keeps a halt."""
        self._show_state(state)
        if self._state_sink is None:
            return
        try:
            self._state_sink.save_trading_state(state.value, reason)
        except StoreUnavailable as exc:  # the store guard halts on the outage itself
            log.error("the trading state could not be stored: %s", exc)

    def _on_holds(self, holds: dict[str, str]) -> None:
        """Symbols held for suspect fills, kept in the store: a restart keeps them held."""
        try:
            self.store.save_symbol_holds(holds)
        except StoreUnavailable as exc:  # the store guard halts on the outage itself
            log.error("the held symbols could not be stored: %s", exc)

    def _show_state(self, current: TradingState) -> None:
        for state in TradingState:
            self.metrics.trading_state.labels(state.value).set(1 if state is current else 0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        symbols = self.config.fix_market_data_symbols()
        self.fix_market_data = FixMarketData(symbols)
        try:
            self.feeds = ServiceFeeds.from_config(self.config.market_data, self.instruments,
                                                  self.risk, self.metrics, self.fix_market_data)
        except FeedSetupError as exc:
            raise StartupError(str(exc)) from exc
        fix_cfg = self.config.fix
        spec = SessionSpec("initiator", fix_cfg.begin_string, fix_cfg.sender_comp_id,
                           fix_cfg.target_comp_id, fix_cfg.host, fix_cfg.port,
                           Path(fix_cfg.state_dir) / f"{fix_cfg.sender_comp_id}-"
                                                     f"{fix_cfg.target_comp_id}",
                           fix_cfg.heartbeat_seconds, fix_cfg.reconnect_seconds)
        self.gateway = FixOrderGateway(
            spec, self.instruments, loop, lambda event, ts: self._deliver(event, ts), symbols,
            on_malformed=lambda source: self.metrics.malformed_messages.labels(source).inc(),
            on_message=self.metrics.count_fix_message,
            backoff=Backoff(fix_cfg.reconnect_seconds, fix_cfg.reconnect_max_seconds,
                            fix_cfg.reconnect_multiplier, fix_cfg.reconnect_jitter))
        policy_cfg = self.config.policy
        signal_model = self._signal_model()
        self.engine = Engine(self.instruments, self.risk, self.gateway, self.store, self.metrics,
                             slice_seconds=policy_cfg.slice_seconds,
                             horizon_grace_seconds=policy_cfg.horizon_grace_seconds,
                             max_child_qty=policy_cfg.max_child_qty, journal=self.journal,
                             request_status=self.gateway.request_status,
                             reconcile_timeout_s=self.config.store.reconcile_timeout_seconds,
                             posture=self.posture, oversight=self.oversight,
                             fill_band_bps={i.symbol: i.fill_band_bps
                                            for i in self.config.instruments},
                             settle_seconds=policy_cfg.settle_seconds,
                             signal_model=signal_model)
        self.oversight.trackers = self.engine.trackers
        self.resumed = self.engine.restore(self.recovered, self.policies.for_recovered)
        self._engine_task = asyncio.create_task(self.engine.run(), name="engine")
        await self.feeds.start(self.engine.handle)
        if self.guard is not None:
            self.engine.on_store_error = self.guard.on_store_error
            self.guard.on_resynced = self.engine.reconcile
            self._background.append(asyncio.create_task(self.guard.run(), name="store-guard"))
        if isinstance(self.journal, RedisJournal):
            self._background.append(asyncio.create_task(self.journal.run(), name="journal"))
        self.operator_kill = OperatorKill(self.risk, self.journal, self.engine.clock.now_ns)
        store_cfg = self.config.store
        if store_cfg.kind is StoreKind.REDIS:
            kill_key = RedisKillKey(store_cfg.redis_url.get_secret_value(), store_cfg.namespace,
                                    self.operator_kill)
            self._background.append(asyncio.create_task(kill_key.run(), name="kill-key"))
        self._loop_lag_task = asyncio.create_task(self.metrics.watch_event_loop(),
                                                  name="event-loop-lag")
        if self._serve_api:
            risk_routes = RiskRoutes(self.risk, self._tokens, self.metrics,
                                     self.engine.clock.now_ns)
            risk_routes.resume_blocker = self._resume_blocker
            routes = [risk_routes,
                      OrderRoutes(self.engine, self.instruments, self._submit_from_api,
                                  self._tokens, self.metrics),
                      ModelRoutes(policy_cfg.name, self.slots, self._tokens, self.metrics,
                                 self.policies.book)]
            for group in routes:
                group.audit = self.journal
            self.api = ApiServer(build_app(self.metrics, self._health, routes, self._readiness),
                                 self.config.api.host, self.config.api.port, self.metrics)
            try:
                await self.api.start()
            except OSError as exc:
                await self.stop()
                raise StartupError(f"cannot serve the API on {self.config.api.host}:"
                                   f"{self.config.api.port}: {exc.strerror or exc}; choose "
                                   "another api.port") from exc
        try:
            self.gateway.start()
        except Exception as exc:  # quickfix raises ConfigError/RuntimeError without a common base
            await self.stop()
            raise StartupError(f"cannot start the FIX session: {exc}") from exc
        # Everything built so far lives as long as the service: move it out of the collector's
        # reach, so that a collection during a tick scans only what the tick allocated.
        gc.collect()
        gc.freeze()

    def _resume_blocker(self) -> str | None:
        """Why an operator's resume must wait: the store is not back and complete, or the venue
        has not yet answered for every working order."""
        blocker = self.guard.resume_blocker() if self.guard is not None else None
        reconciliation = self.engine.reconciliation if self.engine is not None else None
        if blocker is None and reconciliation is not None:
            blocker = (f"reconciliation with the venue is in progress "
                       f"({len(reconciliation.awaiting)} order-status answers awaited)")
        return blocker

    def _deliver(self, event: object, received_ns: int) -> None:
        """The FIX gateway's sink, on the loop: every event to the engine's queue in the
        session's order; market data first judged by its symbol's feed, which may withhold it
        (gateways/marketdata/fix_feed.py), and reported to the feeds' watchdog and gate."""
        fix_market_data = self.fix_market_data
        if fix_market_data is not None:
            if type(event) is MarketData:
                passed = fix_market_data.deliver(event)  # reported to the feeds' watchdog too
                if passed is None:
                    return
                event = passed
            elif type(event) is SessionStatus:
                fix_market_data.session(event.logged_on)
        if self.engine is not None:
            self.engine.deliver(event, received_ns)

    def _health(self) -> dict[str, object]:
        return {"fix_logged_on": bool(self.gateway and self.gateway.logged_on.is_set()),
                "trading_state": self.risk.state.value}

    def _readiness(self) -> Readiness:
        """Can it trade now (``/readyz``, service/readiness.py)? The FIX session is up, the
        durable store takes writes, trading is not halted, the venue has answered for every
        working order after a restart or a reconnect, and every symbol can trade: its feed
        live, its limits in force, a fresh two-sided quote."""
        engine = self.engine
        checks = {"fix_logged_on": bool(self.gateway and self.gateway.logged_on.is_set()),
                  "store_available": self.guard is None or self.guard.store.available,
                  "orders_reconciled": engine is not None and engine.reconciliation is None}
        return readiness(checks, self.instruments, engine, self.risk, self.feeds,
                         self.config.market_data_symbols())

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Logged on, and a two-sided book for every subscribed symbol."""
        assert self.gateway is not None and self.engine is not None
        timeout = timeout_s if timeout_s is not None else self.config.fix.logon_timeout_seconds
        fix_cfg = self.config.fix
        if not await self.gateway.wait_logged_on(timeout):
            reason = self.gateway.last_logout_text
            raise StartupError(
                f"no FIX logon to {fix_cfg.host}:{fix_cfg.port} as {fix_cfg.sender_comp_id}->"
                f"{fix_cfg.target_comp_id} within {timeout:.0f} s"
                + (f": the venue said {reason!r}" if reason else
                   ": is the venue running, and are the CompIDs and password right?"))
        deadline = time.monotonic() + timeout
        books = [self.engine.books[s] for s in self.config.market_data_symbols()]
        while any(book.mid_x2() is None for book in books):
            if time.monotonic() > deadline:
                missing = [book.symbol for book in books if book.mid_x2() is None]
                raise StartupError(f"logged on, but no two-sided market data for {missing} "
                                   f"within {timeout:.0f} s (market_data.feeds says where "
                                   "each symbol's comes from; FIX by default)")
            await asyncio.sleep(0.02)

    def submit(self, side: Side, qty: int, symbol: str, duration_s: float,
               policy: ExecutionPolicy | None = None, limit_price: int | None = None) \
            -> tuple[ParentOrder, asyncio.Event]:
        """Work a parent order from now (event time) for ``duration_s`` of market time, with
        ``policy`` or the configured one (:class:`service.live_policy.LivePolicies`); an RL
        model refuses a parent it was not trained for (OutsideTrainedRange)."""
        assert self.engine is not None
        chosen = checked(policy, side, qty, duration_s) if policy is not None else \
            self.policies.for_parent(side, qty, duration_s)
        start = self.engine.market_now_ns()
        parent = ParentOrder(f"P{uuid.uuid4().hex[:12]}", symbol, side, qty, start,
                             start + int(duration_s * 1e9), chosen.name, limit_price)
        return parent, self.engine.submit(parent, chosen)

    def _submit_from_api(self, side: Side, qty: int, symbol: str, start_ns: int, end_ns: int,
                         policy_name: str | None, limit_price: int | None,
                         urgency: str) -> ParentOrder:
        """The operator API's submit: the named policy (the configured one by default), tilted
        by ``urgency``. A policy that cannot be built (a missing model file) raises ModelError,
        a ValueError; a parent outside what the RL model was trained for, OutsideTrainedRange
        (one too)."""
        assert self.engine is not None
        policy = self.policies.for_parent(side, qty, (end_ns - start_ns) / 1e9, policy_name,
                                          urgency)
        parent = ParentOrder(f"P{uuid.uuid4().hex[:12]}", symbol, side, qty, start_ns, end_ns,
                             policy.name, limit_price)
        self.engine.submit(parent, policy)
        return parent

    async def stop(self) -> None:
        if self.engine is not None:
            self.engine.shutting_down = True  # our own logout is not a lost session
        if self.feeds is not None:
            self.feeds.closing = True  # nor are the feeds' stops that follow news
        if self.gateway is not None:
            self.gateway.stop()
        if self.feeds is not None:
            await stop_within("the market-data feeds", self.feeds.stop())
            self.feeds = None
        if self._engine_task is not None:
            await cancel_within("the engine", self._engine_task)
            self._engine_task = None
        if self._loop_lag_task is not None:
            await cancel_within("the event-loop lag sampler", self._loop_lag_task)
            self._loop_lag_task = None
        if self.api is not None:
            await stop_within("the API server", self.api.stop())
            self.api = None
        for task in self._background:  # the journal's last flush happens as it is cancelled
            await cancel_within(f"the {task.get_name()} task", task)
        self._background = []
