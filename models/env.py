"""The Gymnasium environment the RL execution policy learns in.

One episode works one parent order through a simulated market (:func:`simulated_market`: the
matching book and an order flow, seeded) or a replay of a LOBSTER day (:func:`replay_market`: a
seeded random window of the recorded market, which the agent's orders interact with, as recorded
or moved by the agent's own transient impact). Like the live
engine, it decides on market-data messages: each ``step`` takes the action for the observation
it returned last, turns it into orders through the same :func:`models.actions.translate` the engine
uses, hands them to the exchange, and runs the market until the next decision: the next
market-data message, or with ``decision_interval_s`` the first one at or after the last decision
plus that interval (every message on the way still moves the book, the features, the signal and
the orders, and fills as it comes; the step's reward is the whole stretch's). Why an interval:
deciding on every message (about 6 a second on a busy replay) makes an episode thousands of
decisions, which PPO learns from slowly, and invites flickering; desks, and research
environments such as ABIDES-gym, act on a timer. The exported model carries its interval
(``execagent.decision_interval_s``) and the engine keeps to it. The
observation is :func:`models.features.observe` (``execagent-obs-v1``, the default),
:func:`models.features.observe_v2` (``observation="execagent-obs-v2"``: v1 and the price signal,
computed by :class:`models.signal.SignalRuntime` from the same messages, as the engine does) or
:func:`models.features.observe_v3` (``"execagent-obs-v3"``: v2 and the task, its participation
the drawn task's, or for the fixed task its quantity over ``volume_per_s`` times its horizon),
the one definition shared with the engine; child
orders are tracked by the service's own :class:`~core.oms.OrderManager` from the exchange's
execution reports (so their states follow the same FIX rules as live).

Reward, in basis points of the parent's arrival notional (a cost is negative):
- ``shortfall`` (as specified): each fill's shortfall against the arrival mid, when it fills;
- ``mark_to_market`` (the default): the change of the shortfall with the unfilled inventory
  marked at the current mid. The two telescope to the same episode return, minus the whole
  implementation shortfall, so they define the same optimal policy; marking to market credits
  each decision with its cost when it happens instead of when the inventory finally trades,
  which makes learning far less noisy;
- ``detrended``: ``mark_to_market`` measured, on replayed episodes, against a benchmark that
  moves with the recorded day: the arrival mid plus the recorded mid's straight-line move over
  the parent's horizon (from its value at the start to its value at the horizon; held there
  during the grace). Each fill's cost is against the benchmark at its time, the unfilled
  inventory's against the benchmark now, so the episode return is minus the shortfall plus
  the trend's share of it, ``side x sum(fill qty x trend at the fill's time)``. What goes is the
  reward for timing the window's trend: on one trending morning every episode pays a policy
  for buying early (or selling late), which it then does on an afternoon trending the other
  way. The trend comes from the recorded day, never from the agent's impact, so its own cost
  stays in the reward; what stays too is every move off the straight line, the short-horizon
  moves the price signal predicts among them. An assumption: a trend across a whole parent
  is not what a policy should bet on. On simulated episodes (no recorded day) it is
  ``mark_to_market``; the report's shortfall is always the plain one.

Each order message (new, replace or cancel) also costs ``message_cost_bps``: without it a policy
learns to flicker, posting and cancelling on every tick to chase noise, which the risk
overlay's message throttle then denies live (seen: 300+ messages per order, throttled) and which
venues penalise through order-to-trade ratios. The reported shortfall never includes it.

``risk_aversion`` (lambda, per bps) charges each step ``lambda x (x_held x move)^2``: ``x_held``
the share of the parent unfilled at the step's start, ``move`` the mid's move over the step in
bps of the arrival mid (off the benchmark's trend, with ``detrended``). Summed over an episode
it is lambda times the realised variance of the unfilled inventory's mark-to-market, whose
expectation for a price without drift is the variance of the shortfall's timing part: the
Almgren-Chriss objective, mean plus lambda times variance, in the units of the reward. Without
it a policy has no reason to prefer, of two schedules with the same mean, the one with less
timing risk, which the verdict also asks for. ``risk_aversion_per_share`` adds lambda per
(bps x share), Almgren-Chriss's own unit, times the parent's quantity: in bps of the parent
that is the weight their objective gives a parent of that size (its cost in bps x shares is
the quantity times the cost in bps, its variance the square), so a large parent, whose
crossing costs more, is pushed as hard as a small one toward the same trade-off.

``paired_baseline`` subtracts a baseline's cost on the same market path (with
``paired_replay_only``, on replayed episodes only). A rule-based policy (TWAP, passive TWAP,
Almgren-Chriss or the front-loaded passive rule) works the same episode first: the same seed,
so the same crowd, latency draws and task. Each step's reward is then credited with the
baseline's own mark-to-market cost change over the same stretch of event time, and the last
step with what remains of its whole shortfall, so the episode return is ``-(IS_policy -
IS_baseline)``. The baseline's path does not depend on the agent's actions: the credits are a
potential-based shaping (a function of the episode's seed and the clock) whose sum is fixed, so
the optimal policy is the one plain shortfall defines. What goes is the noise both share: the
market's drift over each step, which otherwise dominates a one-basis-point edge. Per step
rather than once at the end because PPO's advantages (GAE, lambda < 1) weigh rewards near each
decision most: a correction only at the end would barely reach the early decisions.

The paired baseline's twin run decides on every message whatever the interval, as the engine runs a
baseline; its credits are its cost at each step's end in event time, so they still cover the
step's whole stretch.

At the horizon the policy is no longer asked: the remainder is crossed on every tick, as the
engine does (:func:`models.actions.horizon_action`); if anything is left ``horizon_grace_s``
later, market orders (of at most a child order's size) take it through the book. The penalty for
finishing late is therefore a real execution cost, not an arbitrary constant.

What live allows, in the loop: each order message's latency is drawn per message
(:class:`sim.latency.OrderLatency`, fixed by default), and with ``pre_trade`` (a factory of the
real risk overlay, wired by ``execagent train``; see :mod:`models.pretrade`) every message is
checked exactly as the engine checks it: a denied one is not sent, is counted, and costs
``denial_cost_bps`` in the reward, so a policy that flickers into the throttle or prices outside
the collar learns what that costs.

``task_sampler`` draws each episode's parent (side, quantity, horizon; :mod:`models.task`)
instead of the fixed one given to the constructor.

Assumptions, named: the stale-feed watchdog is not run in training (a feed's failure, not the
policy's); the parent starts after ``warmup_s`` of market so the volatility and flow features
have history; an episode ends when the parent is complete, or is
truncated when a replay runs out of data.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from core.depth_book import DepthBook
from core.domain import (
    CancelReject,
    ExecutionReport,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from core.tca import BPS, cost_in_bps, shortfall_bps, signed_cost_x2
from models.actions import DEFAULT_ACTION_TABLE, Action, ActionKind, horizon_action, translate
from models.domain_randomisation import DomainRanges, randomised
from models.features import (
    FEATURE_SPEC_ID,
    FEATURE_SPEC_V3_ID,
    OBSERVATION_SPECS,
    WITH_SIGNAL,
    MarketTracker,
    new_observation_buffer_for,
)
from models.observation import ParentObservation
from models.policy import (
    DecisionContext,
    ExecutionPolicy,
    reads_signal,
    slice_multiple_shares,
)
from models.pretrade import PreTradeCheck, PreTradeFactory
from models.signal import SignalModel, SignalRuntime
from models.task import Task, TaskSampler, participation_of
from models.training_config import EVALUATION_SEED_BASE, REWARD_MODES
from sim.exchange import Exchange, SimExchange
from sim.flow import FlowParams, StochasticFlow
from sim.latency import OrderLatency
from sim.lobster import open_sample
from sim.propagator import ImpactParams
from sim.replay_exchange import ReplayExchange

ExchangeFactory = Callable[[int], Exchange]
"""Builds the market of one episode from a seed."""
_LATENCY_SEED = 0x1A7E5C  # the latency draws' stream, apart from the market's and the task's
_TASK_SEED = 0x7A5C
_RANDOMISE_SEED = 0xD0A1  # a simulated episode's randomised parameters, apart from its flow's
_MIX_SEED = 0x3D1C  # replay or simulation, apart from the replay's start
SWEEP_RETRY_S = 30.0
"""How long past the grace a denied sweep is retried before the episode ends unfinished (the
remainder marked at the mid, as the backtest marks an order the engine expired)."""
_SWEEP_RETRY_NS = int(SWEEP_RETRY_S * 1e9)
_NO_OBSERVATION = np.zeros(0, np.float32)


@dataclass(frozen=True, slots=True)
class BaselinePath:
    """A baseline's run of one episode: its mark-to-market cost (bps) after each decision."""

    times_ns: list[int]
    costs_bps: list[float]
    final_bps: float

    def cost_at(self, now_ns: int) -> float:
        index = bisect_right(self.times_ns, now_ns) - 1
        return self.costs_bps[index] if index >= 0 else 0.0


class ExecutionEnv(gym.Env[np.ndarray, np.int64]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - Gymnasium declares it so

    def __init__(
        self,
        make_exchange: ExchangeFactory,
        *,
        side: int,
        qty: int,
        horizon_s: float,
        slice_s: float,
        warmup_s: float = 60.0,
        horizon_grace_s: float = 30.0,
        max_child_qty: int = 2_000,
        action_table: tuple[tuple[ActionKind, float], ...] = DEFAULT_ACTION_TABLE,
        reward: str = "mark_to_market",
        message_cost_bps: float = 0.0,
        observation: str = FEATURE_SPEC_ID,
        signal_model: SignalModel | None = None,
        latency_ms: float = 0.0,
        latency_p99_ms: float | None = None,
        pre_trade: PreTradeFactory | None = None,
        denial_cost_bps: float = 0.0,
        paired_baseline: ExecutionPolicy | None = None,
        task_sampler: TaskSampler | None = None,
        volume_per_s: float | None = None,
        paired_replay_only: bool = False,
        decision_interval_s: float = 0.0,
        risk_aversion: float = 0.0,
        risk_aversion_per_share: float = 0.0,
    ) -> None:
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        if qty <= 0 or horizon_s <= 0 or slice_s <= 0 or slice_s > horizon_s:
            raise ValueError("need qty > 0 and 0 < slice_s <= horizon_s")
        if min(message_cost_bps, denial_cost_bps, risk_aversion, risk_aversion_per_share) < 0:
            raise ValueError("message_cost_bps, denial_cost_bps, risk_aversion and "
                             "risk_aversion_per_share must not be negative")
        if not 0 <= decision_interval_s < slice_s:
            raise ValueError(f"need 0 <= decision_interval_s < slice_s, got "
                             f"{decision_interval_s} and {slice_s}")
        if observation == FEATURE_SPEC_V3_ID and volume_per_s is None and task_sampler is None:
            raise ValueError(f"the {observation} observation holds the parent's participation: "
                             "give the market's volume rate (volume_per_s) or a task sampler")
        self.make_exchange = make_exchange
        self.slice_s = slice_s
        self.decision_interval_ns = int(decision_interval_s * 1e9)
        # The expected volume's rate, for the fixed task's participation (a drawn task carries
        # its own): the sampler's unless given.
        self.volume_per_s = volume_per_s if volume_per_s is not None or task_sampler is None \
            else task_sampler.volume_per_s
        self._set_task(side, qty, horizon_s)
        self.warmup_ns = int(warmup_s * 1e9)
        self.grace_ns = int(horizon_grace_s * 1e9)
        self.max_child_qty = max_child_qty
        self.action_table = action_table
        self.reward_mode = reward
        self.message_cost_bps = message_cost_bps
        self.risk_aversion = risk_aversion
        self.risk_aversion_per_share = risk_aversion_per_share
        if observation not in OBSERVATION_SPECS:
            raise ValueError(f"observation must be one of {', '.join(OBSERVATION_SPECS)}, got "
                             f"{observation!r}")
        if observation in WITH_SIGNAL and signal_model is None:
            raise ValueError(f"the {observation} observation holds the price signal: give the "
                             "signal model (signal_model)")
        self.observation = observation
        self.signal_model = signal_model
        self.latency = OrderLatency(latency_ms, latency_p99_ms)
        self.pre_trade = pre_trade
        self.denial_cost_bps = denial_cost_bps
        self.task_sampler = task_sampler
        self.paired_baseline = paired_baseline
        # In a mix, pair only the replayed episodes: there the crowd's path is common to both
        # runs; in the simulated flow the agent's orders change it, and pairing there raised
        # the return's variance (docs/training.md).
        self.paired_replay_only = paired_replay_only
        # The baseline's runs: the same market, mechanics and checks, without a baseline of its
        # own and without the per-message costs (they shape the agent, not the benchmark); the
        # same price signal for a baseline that reads it, none for one that does not (with the
        # observation, which no baseline reads, they were two fifths of a twin run's time).
        self._twin = None if paired_baseline is None else ExecutionEnv(
            make_exchange, side=side, qty=qty, horizon_s=horizon_s, slice_s=slice_s,
            warmup_s=warmup_s, horizon_grace_s=horizon_grace_s, max_child_qty=max_child_qty,
            action_table=action_table, reward=reward,
            signal_model=signal_model if reads_signal(paired_baseline) else None,
            latency_ms=latency_ms, latency_p99_ms=latency_p99_ms, pre_trade=pre_trade)
        self.action_space = gym.spaces.Discrete(len(action_table))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (OBSERVATION_SPECS[observation][1],),
                                                np.float32)
        self._obs = new_observation_buffer_for(observation)
        self._episode = 0

    def _set_task(self, side: int, qty: int, horizon_s: float,
                  participation: float | None = None) -> None:
        self.side = side
        self.qty = qty
        if participation is None and self.volume_per_s is not None:
            participation = participation_of(qty, horizon_s, self.volume_per_s)
        self.participation = participation
        self.horizon_ns = int(horizon_s * 1e9)
        self.n_slices = max(1, round(horizon_s / self.slice_s))  # as the engine computes it
        self.slice_qty = max(qty // self.n_slices, 1)

    # --- gymnasium -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(0, EVALUATION_SEED_BASE))
        if options and "episode_seed" in options:  # replay one named market (tests, analysis)
            episode_seed = int(options["episode_seed"])
        task: Task | None = options.get("task") if options else None
        if task is None and self.task_sampler is not None:
            task = self.task_sampler.draw(random.Random(episode_seed ^ _TASK_SEED))
        if task is not None:
            self._set_task(task.side, task.qty, task.horizon_s, task.participation)
        self.task = task
        self.exchange = self.make_exchange(episode_seed)
        self.latency.reset(episode_seed ^ _LATENCY_SEED)
        self.check: PreTradeCheck | None = (None if self.pre_trade is None
                                            else self.pre_trade(self.exchange.symbol))
        self._order_cap = None if self.check is None else partial(self.check.largest_order_qty,
                                                                  self.exchange.symbol)
        self.book = DepthBook(self.exchange.symbol)
        self.tracker = MarketTracker()
        self.signal = SignalRuntime(self.signal_model) if self.signal_model is not None \
            else None
        self.oms = OrderManager()
        self._ids = (f"E{n}" for n in itertools.count(1))
        self.truncated = False
        self.expired = False
        self.market_volume = 0
        self._started = False
        self._realised_bps = 0.0
        self._on_market(self.exchange.snapshot())
        warm_until = self.exchange.now_ns + self.warmup_ns
        while not self.truncated and (self.exchange.now_ns < warm_until
                                      or self.book.mid_x2() is None):
            self._advance()
        start = self.exchange.now_ns
        mid_x2 = self.book.mid_x2()
        self.parent = ParentOrder(f"P{self._episode}", self.exchange.symbol, Side(self.side),
                                  self.qty, start, start + self.horizon_ns, "rl",
                                  arrival_price_x2=mid_x2)
        self._episode += 1
        self._started = True
        self.oms.add_parent(self.parent)
        self._view = ParentObservation(
            self._obs, self.observation in WITH_SIGNAL,
            self.participation if self.observation == FEATURE_SPEC_V3_ID else None)
        self._cost_bps = 0.0
        self._trend_x2_per_ns = self._recorded_trend(start)
        self.risk_penalty_bps = 0.0
        self.steps = 0
        self.messages = 0
        self.denials = 0
        self.baseline: BaselinePath | None = None
        self._baseline_credited = 0.0
        if self._twin is not None and self.paired_baseline is not None and \
                (not self.paired_replay_only or isinstance(self.exchange, ReplayExchange)):
            self.baseline = self._twin.run_baseline(self.paired_baseline, episode_seed, task)
        return self._observe(), self._info()

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                   dict[str, Any]]:
        before = self._cost_bps
        messages_before, denials_before = self.messages, self.denials
        held = self.parent.remaining / self.qty
        risk_weight = self.risk_aversion + self.risk_aversion_per_share * self.qty
        mid_before = self._mid_off_benchmark_bps() if risk_weight else None
        kind, multiple = self.action_table[int(action)]
        qty = 0 if kind is ActionKind.WAIT else slice_multiple_shares(multiple, self.slice_qty)
        self.apply(Action(kind, qty))
        reward = before - self._cost_bps - (self.messages - messages_before) \
            * self.message_cost_bps - (self.denials - denials_before) * self.denial_cost_bps
        mid_after = self._mid_off_benchmark_bps() if mid_before is not None else None
        if mid_before is not None and mid_after is not None:
            penalty = risk_weight * (held * (mid_after - mid_before)) ** 2
            self.risk_penalty_bps += penalty
            reward -= penalty
        terminated = self._done()
        if self.baseline is not None:
            ended = terminated or self.truncated
            credit = self.baseline.final_bps if ended else \
                self.baseline.cost_at(self.exchange.now_ns)
            reward += credit - self._baseline_credited
            self._baseline_credited = credit
        return self._observe(), float(reward), terminated, self.truncated and not terminated, \
            self._info()

    def apply(self, action: Action) -> None:
        """Work ``action`` (capped at the largest child order) until the next decision: the
        first market-data message before the horizon at or after this decision plus the
        decision interval, or the end of the episode. Past the horizon every message crosses
        the remainder."""
        self._act(Action(action.kind, min(action.qty, self.max_child_qty)))
        self.steps += 1
        next_decision_ns = self.exchange.now_ns + self.decision_interval_ns
        while True:
            got_market = self._advance()
            if self._done() or self.truncated:
                break
            if got_market:
                now = self.exchange.now_ns
                forced = horizon_action(self.parent, now)
                if forced is None:
                    if now >= next_decision_ns:
                        break
                    continue
                self._force_finish(forced, now)
        if self.reward_mode != "shortfall" or self.expired:
            self._cost_bps = self._realised_bps + self._unrealised_bps()
        else:
            self._cost_bps = self._realised_bps

    def run_baseline(self, policy: ExecutionPolicy, episode_seed: int,
                     task: Task | None) -> BaselinePath:
        """Work episode ``episode_seed`` (with ``task``, if drawn) with a rule-based policy,
        deciding on every market-data message as the engine does; its cost path. The rule-based
        policies read no observation: their contexts carry an empty one."""
        self.reset(options={"episode_seed": episode_seed, "task": task})
        times, costs = [self.exchange.now_ns], [0.0]
        while not (self._done() or self.truncated):
            self.apply(policy.act(self.decision_context(observe=False)))
            times.append(self.exchange.now_ns)
            costs.append(self._cost_bps)
        return BaselinePath(times, costs, self._cost_bps)

    def decision_context(self, observe: bool = True) -> DecisionContext:
        """What the engine hands a policy on a tick, from this episode's state; without
        ``observe``, with an empty observation (for a policy that reads none)."""
        children = self.oms.working(self.parent.parent_id)
        resting = sum(o.leaves_qty for o in children if o.tif is not TimeInForce.IOC)
        ioc = sum(o.leaves_qty for o in children if o.tif is TimeInForce.IOC)
        now = self.exchange.now_ns
        signal_bps = self.signal.predict(self.book, now) if self.signal is not None else 0.0
        return DecisionContext(self._observe() if observe else _NO_OBSERVATION, self.parent,
                               self.book, now,
                               self.parent.qty // self.n_slices, self.n_slices, resting, ioc,
                               self.market_volume, signal_bps)

    # --- mechanics -------------------------------------------------------------------------------
    def _act(self, action: Action) -> None:
        children = self.oms.working(self.parent.parent_id)
        if action.kind is ActionKind.WAIT and not children:
            return
        now = self.exchange.now_ns
        for intent in translate(action, self.parent, self.book, children, self._next_id,
                                self._order_cap):
            self._send(intent, now)

    def _send(self, intent: OrderIntent, now: int) -> bool:
        """Through the pre-trade check (if any) to the exchange; False when denied."""
        if self.check is not None and not self.check.check(intent, now).allowed:
            self.denials += 1
            return False
        self.oms.on_sent(intent)
        self.exchange.send(intent, self.latency.due_ns(now))
        self.messages += 1
        return True

    def _force_finish(self, action: Action, now: int) -> None:
        """Past the horizon: cross the remainder (capped like any child order); after the
        grace, sweep what is left with market orders of at most a child's size. A sweep the
        pre-trade check keeps denying for :data:`SWEEP_RETRY_S` more ends the episode."""
        children = self.oms.working(self.parent.parent_id)
        if now > self.parent.end_ns + self.grace_ns and not children:
            sweep = NewOrder(self._next_id(), self.parent.parent_id, self.parent.symbol,
                             self.parent.side, min(self.parent.remaining, self.max_child_qty),
                             None, OrdType.MARKET, TimeInForce.IOC)
            if not self._send(sweep, now) and \
                    now > self.parent.end_ns + self.grace_ns + _SWEEP_RETRY_NS:
                self.expired = True
            return
        self._act(Action(action.kind, min(action.qty, self.max_child_qty)))

    def _advance(self) -> bool:
        """One exchange event; True when it carried market data (a decision point)."""
        if self.exchange.next_event_ns() is None:
            self.truncated = True
            return False
        market = False
        check = self.check
        for event in self.exchange.step():
            if isinstance(event, MarketData):
                self._on_market(event)
                market = True
            elif isinstance(event, ExecutionReport):
                if check is not None:
                    check.on_execution_report(event, self.exchange.now_ns)
                fill = self.oms.on_execution_report(event)
                if fill is not None:
                    self._realised_bps += self._fill_cost_bps(fill.qty, fill.price)
            elif isinstance(event, CancelReject):
                if check is not None:
                    check.on_cancel_reject(event, self.exchange.now_ns)
                self.oms.on_cancel_reject(event)
        return market

    def _on_market(self, message: MarketData) -> None:
        book = self.book
        book.apply_market_data(message)
        self.tracker.update(book, message)
        if self.signal is not None:
            self.signal.update(book, message)
        if self.check is not None or self._started:
            traded = sum(trade.qty for trade in message.trades)
            if self._started:
                self.market_volume += traded
            if self.check is not None:
                self.check.on_market_data(message.symbol, book.best_bid(), book.best_ask(),
                                          message.ts_ns, traded)

    def _next_id(self) -> str:
        return next(self._ids)

    def _done(self) -> bool:
        return self.expired or (self.parent.remaining <= 0
                                and not self.oms.working(self.parent.parent_id))

    # --- accounting ------------------------------------------------------------------------------
    def _recorded_trend(self, start_ns: int) -> float:
        """The ``detrended`` reward's slope: the recorded mid's move over the parent's horizon
        per ns, in doubled ticks; 0 for the other rewards, a simulated market or a recorded
        book with a side empty at either end."""
        if self.reward_mode != "detrended" or not isinstance(self.exchange, ReplayExchange):
            return 0.0
        first = self.exchange.recorded_mid_x2(start_ns)
        last = self.exchange.recorded_mid_x2(start_ns + self.horizon_ns)
        if first is None or last is None:
            return 0.0
        return (last - first) / self.horizon_ns

    def _trend_cost_bps(self, qty: int) -> float:
        """What the recorded trend so far is worth on ``qty`` shares, as a cost: taken out of
        each cost the ``detrended`` reward measures (0 for the other rewards)."""
        if not self._trend_x2_per_ns:
            return 0.0
        arrival_x2 = self.parent.arrival_price_x2
        assert arrival_x2 is not None
        return self.side * qty * self._trend_shift_x2() / (arrival_x2 * self.qty) * BPS

    def _trend_shift_x2(self) -> float:
        """How far the benchmark has moved from the arrival mid by now, in doubled ticks."""
        elapsed = min(self.exchange.now_ns - self.parent.start_ns, self.horizon_ns)
        return self._trend_x2_per_ns * elapsed

    def _mid_off_benchmark_bps(self) -> float | None:
        """The mid's distance from the benchmark now (the arrival mid, moved by the recorded
        trend with ``detrended``), in bps of the arrival mid; None without a mid."""
        mid_x2 = self.book.mid_x2()
        arrival_x2 = self.parent.arrival_price_x2
        if mid_x2 is None or arrival_x2 is None:
            return None
        return (mid_x2 - arrival_x2 - self._trend_shift_x2()) / arrival_x2 * BPS

    def _fill_cost_bps(self, qty: int, price: int) -> float:
        arrival_x2 = self.parent.arrival_price_x2
        assert arrival_x2 is not None
        return cost_in_bps(signed_cost_x2(self.side, qty, 2 * price, arrival_x2), arrival_x2,
                           self.qty) - self._trend_cost_bps(qty)

    def _unrealised_bps(self) -> float:
        mid_x2 = self.book.mid_x2()
        arrival_x2 = self.parent.arrival_price_x2
        if mid_x2 is None or arrival_x2 is None:
            return 0.0
        return cost_in_bps(signed_cost_x2(self.side, self.parent.remaining, mid_x2, arrival_x2),
                           arrival_x2, self.qty) - self._trend_cost_bps(self.parent.remaining)

    def _observe(self) -> np.ndarray:
        """The observation now, built as the engine builds it for a policy of this version
        (:class:`models.observation.ParentObservation`, the engine's and the shadow's too)."""
        now = self.exchange.now_ns
        signal_bps = 0.0
        if self._view.with_signal:
            assert self.signal is not None
            signal_bps = self.signal.predict(self.book, now)
        self._view.fill(self.book, self.parent, self.oms.working(self.parent.parent_id),
                        self.tracker, now, self.slice_qty, signal_bps)
        return self._obs.copy()

    def _info(self) -> dict[str, Any]:
        parent = self.parent
        exact = shortfall_bps(parent)
        # None, not NaN: NaN != NaN breaks equality checks
        shortfall = None if exact is None else float(exact)
        info: dict[str, Any] = {
            "filled": parent.filled, "remaining": parent.remaining,
            "shortfall_bps": shortfall, "cost_bps": self._cost_bps, "steps": self.steps,
            "messages": self.messages, "denials": self.denials,
            "risk_penalty_bps": self.risk_penalty_bps, "side": self.side,
            "qty": self.qty, "horizon_s": self.horizon_ns / 1e9}
        if self.baseline is not None:
            info["baseline_shortfall_bps"] = self.baseline.final_bps
        return info


def simulated_market(params: FlowParams, symbol: str = "SIM", latency_ms: float = 0.0,
                     start_ns: int = 1_700_000_000 * 10**9,
                     ranges: DomainRanges | None = None) -> ExchangeFactory:
    """Episodes on the stochastic flow: each seed gives a different, reproducible market.
    ``ranges``: each seed's flow is ``params`` randomised within them
    (:mod:`models.domain_randomisation`), drawn from the seed."""
    latency_ns = int(latency_ms * 1e6)

    def make(seed: int) -> Exchange:
        flow = params if ranges is None else \
            randomised(params, random.Random(seed ^ _RANDOMISE_SEED), ranges)
        return SimExchange(symbol, StochasticFlow(flow, seed=seed), start_ns, latency_ns)

    return make


def replay_market(path: Path | str, symbol: str, episode_s: float,
                  latency_ms: float = 0.0, impact: ImpactParams | None = None,
                  window_ns: tuple[int, int] | None = None) -> ExchangeFactory:
    """Episodes on a LOBSTER day: each seed picks an episode start uniformly in the day, or in
    ``window_ns`` (event times ``[begin, end)``), one that leaves ``episode_s`` of data before
    the end, and the recorded market replays from there for ``episode_s``: the whole episode,
    warm-up included, lies inside the window. ``impact``: the agent's own transient impact on
    the replayed prices (:mod:`sim.impact_replay`; for example
    :func:`sim.impact_fit.load_impact_params` of a calibration file); none by default, the day
    as recorded. The sample is read once (and kept), not per episode."""
    sample = open_sample(path)
    times = sample.read().messages.ts_ns
    if not len(times):
        raise ValueError(f"{path} holds no messages")
    first, last = int(times[0]), int(times[-1])
    if window_ns is not None:
        first, last = max(first, window_ns[0]), min(last, window_ns[1])
    episode_ns = int(episode_s * 1e9)
    if last - first <= episode_ns:
        raise ValueError(f"{path} holds less than one {episode_s:g} s episode of data"
                         f"{'' if window_ns is None else ' in the window'}")
    latest_start = last - episode_ns
    latency_ns = int(latency_ms * 1e6)

    def make(seed: int) -> Exchange:
        start = first + random.Random(seed).randrange(latest_start - first)
        return ReplayExchange(sample, symbol, latency_ns=latency_ns, start_ns=start,
                              end_ns=start + episode_ns, impact=impact)

    return make


def mixed_market(replay: ExchangeFactory, simulated: ExchangeFactory,
                 replay_share: float) -> ExchangeFactory:
    """Each seed's episode is a replay with probability ``replay_share``, else the simulated
    flow: drawn from the seed, so a seed always names the same market (a paired baseline's
    twin run and a re-run see the one the agent saw)."""
    if not 0.0 <= replay_share <= 1.0:
        raise ValueError(f"replay_share is a probability, got {replay_share}")

    def make(seed: int) -> Exchange:
        chosen = replay if random.Random(seed ^ _MIX_SEED).random() < replay_share else simulated
        return chosen(seed)

    return make
