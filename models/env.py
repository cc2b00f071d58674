"""The Gymnasium environment the RL execution policy learns in.

One episode works one parent order through a simulated market (:func:`simulated_market`: the
matching book and an order flow, seeded) or a replay of a LOBSTER day (:func:`replay_market`: a
seeded random window of the recorded market, which the agent's orders interact with). Like the live
engine, it decides on every market-data message: each ``step`` takes the action for the observation
it returned last, turns it into orders through the same :func:`models.actions.translate` the engine
uses, hands them to the exchange, and runs the market until the next market-data message. The
observation is :func:`models.features.observe`, the one definition shared with the engine; child
orders are tracked by the service's own :class:`~core.oms.OrderManager` from the exchange's
execution reports (so their states follow the same FIX rules as live).

Reward, in basis points of the parent's arrival notional (a cost is negative):
- ``shortfall`` (as specified): each fill's shortfall against the arrival mid, when it fills;
- ``mark_to_market`` (the default): the change of the shortfall with the unfilled inventory
  marked at the current mid. The two telescope to the same episode return, minus the whole
  implementation shortfall, so they define the same optimal policy; marking to market credits
  each decision with its cost when it happens instead of when the inventory finally trades,
  which makes learning far less noisy.

Each order message (new, replace or cancel) also costs ``message_cost_bps``: without it a policy
learns to flicker, posting and cancelling on every tick to chase noise, which the risk
overlay's message throttle then denies live (seen: 300+ messages per order, throttled) and which
venues penalise through order-to-trade ratios. The reported shortfall never includes it.

At the horizon the policy is no longer asked: the remainder is crossed on every tick, as the
engine does (:func:`models.actions.horizon_action`); if anything is left ``horizon_grace_s``
later, a market order sells it through the book. The penalty for finishing late is therefore a
real execution cost, not an arbitrary constant.

Assumptions, named: the risk overlay is not in the loop during training (evaluation runs the
real overlay and reports its denials); the parent starts after ``warmup_s`` of market so the
volatility and flow features have history; an episode ends when the parent is complete, or is
truncated when a replay runs out of data.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
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
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
)
from core.oms import OrderManager
from core.tca import cost_in_bps, shortfall_bps, signed_cost_x2
from models.actions import DEFAULT_ACTION_TABLE, Action, ActionKind, horizon_action, translate
from models.features import N_FEATURES, MarketTracker, new_observation_buffer, observe
from models.training_config import EVALUATION_SEED_BASE, REWARD_MODES
from sim.exchange import Exchange, SimExchange
from sim.flow import FlowParams, StochasticFlow
from sim.lobster import open_sample
from sim.replay_exchange import ReplayExchange

ExchangeFactory = Callable[[int], Exchange]
"""Builds the market of one episode from a seed."""


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
    ) -> None:
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        if qty <= 0 or horizon_s <= 0 or slice_s <= 0 or slice_s > horizon_s:
            raise ValueError("need qty > 0 and 0 < slice_s <= horizon_s")
        self.make_exchange = make_exchange
        self.side = side
        self.qty = qty
        self.horizon_ns = int(horizon_s * 1e9)
        self.warmup_ns = int(warmup_s * 1e9)
        self.grace_ns = int(horizon_grace_s * 1e9)
        self.n_slices = max(1, round(horizon_s / slice_s))  # as the engine computes it
        self.slice_qty = max(qty // self.n_slices, 1)
        self.max_child_qty = max_child_qty
        self.action_table = action_table
        self.reward_mode = reward
        if message_cost_bps < 0:
            raise ValueError(f"message_cost_bps must not be negative, got {message_cost_bps}")
        self.message_cost_bps = message_cost_bps
        self.action_space = gym.spaces.Discrete(len(action_table))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (N_FEATURES,), np.float32)
        self._obs = new_observation_buffer()
        self._episode = 0

    # --- gymnasium -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(0, EVALUATION_SEED_BASE))
        if options and "episode_seed" in options:  # replay one named market (tests, analysis)
            episode_seed = int(options["episode_seed"])
        self.exchange = self.make_exchange(episode_seed)
        self.book = DepthBook(self.exchange.symbol)
        self.tracker = MarketTracker()
        self.oms = OrderManager()
        self._ids = (f"E{n}" for n in itertools.count(1))
        self.truncated = False
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
        self.oms.add_parent(self.parent)
        self._cost_bps = 0.0
        self.steps = 0
        self.messages = 0
        return self._observe(), self._info()

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                   dict[str, Any]]:
        before = self._cost_bps
        messages_before = self.messages
        kind, multiple = self.action_table[int(action)]
        qty = 0 if kind is ActionKind.WAIT else max(round(multiple * self.slice_qty), 1)
        self._act(Action(kind, min(qty, self.max_child_qty)))
        self.steps += 1
        while True:
            got_market = self._advance()
            if self._done() or self.truncated:
                break
            if got_market:
                now = self.exchange.now_ns
                forced = horizon_action(self.parent, now)
                if forced is None:
                    break
                self._force_finish(forced, now)
        if self.reward_mode == "mark_to_market":
            self._cost_bps = self._realised_bps + self._unrealised_bps()
        else:
            self._cost_bps = self._realised_bps
        reward = before - self._cost_bps - (self.messages - messages_before) \
            * self.message_cost_bps
        terminated = self._done()
        return self._observe(), float(reward), terminated, self.truncated and not terminated, \
            self._info()

    # --- mechanics -------------------------------------------------------------------------------
    def _act(self, action: Action) -> None:
        children = self.oms.working(self.parent.parent_id)
        if action.kind is ActionKind.WAIT and not children:
            return
        now = self.exchange.now_ns
        for intent in translate(action, self.parent, self.book, children, self._next_id):
            self.oms.on_sent(intent)
            self.exchange.send(intent, now)
            self.messages += 1

    def _force_finish(self, action: Action, now: int) -> None:
        """Past the horizon: cross the remainder (capped like any child order); after the
        grace, sweep whatever is left with a market order."""
        children = self.oms.working(self.parent.parent_id)
        if now > self.parent.end_ns + self.grace_ns and not children:
            sweep = NewOrder(self._next_id(), self.parent.parent_id, self.parent.symbol,
                             self.parent.side, self.parent.remaining, None, OrdType.MARKET,
                             TimeInForce.IOC)
            self.oms.on_sent(sweep)
            self.exchange.send(sweep, now)
            self.messages += 1
            return
        self._act(Action(action.kind, min(action.qty, self.max_child_qty)))

    def _advance(self) -> bool:
        """One exchange event; True when it carried market data (a decision point)."""
        if self.exchange.next_event_ns() is None:
            self.truncated = True
            return False
        market = False
        for event in self.exchange.step():
            if isinstance(event, MarketData):
                self._on_market(event)
                market = True
            elif isinstance(event, ExecutionReport):
                fill = self.oms.on_execution_report(event)
                if fill is not None:
                    self._realised_bps += self._fill_cost_bps(fill.qty, fill.price)
            elif isinstance(event, CancelReject):
                self.oms.on_cancel_reject(event)
        return market

    def _on_market(self, message: MarketData) -> None:
        self.book.apply_market_data(message)
        self.tracker.update(self.book, message)

    def _next_id(self) -> str:
        return next(self._ids)

    def _done(self) -> bool:
        return self.parent.remaining <= 0 and not self.oms.working(self.parent.parent_id)

    # --- accounting ------------------------------------------------------------------------------
    def _fill_cost_bps(self, qty: int, price: int) -> float:
        arrival_x2 = self.parent.arrival_price_x2
        assert arrival_x2 is not None
        return cost_in_bps(signed_cost_x2(self.side, qty, 2 * price, arrival_x2), arrival_x2,
                           self.qty)

    def _unrealised_bps(self) -> float:
        mid_x2 = self.book.mid_x2()
        arrival_x2 = self.parent.arrival_price_x2
        if mid_x2 is None or arrival_x2 is None:
            return 0.0
        return cost_in_bps(signed_cost_x2(self.side, self.parent.remaining, mid_x2, arrival_x2),
                           arrival_x2, self.qty)

    def _observe(self) -> np.ndarray:
        observe(self._obs, self.book, self.parent, self.oms.working(self.parent.parent_id),
                self.tracker, self.exchange.now_ns, self.slice_qty)
        return self._obs.copy()

    def _info(self) -> dict[str, Any]:
        parent = self.parent
        exact = shortfall_bps(parent)
        # None, not NaN: NaN != NaN breaks equality checks
        shortfall = None if exact is None else float(exact)
        return {"filled": parent.filled, "remaining": parent.remaining,
                "shortfall_bps": shortfall, "steps": self.steps, "messages": self.messages}


def simulated_market(params: FlowParams, symbol: str = "SIM", latency_ms: float = 0.0,
                     start_ns: int = 1_700_000_000 * 10**9) -> ExchangeFactory:
    """Episodes on the stochastic flow: each seed gives a different, reproducible market."""
    latency_ns = int(latency_ms * 1e6)

    def make(seed: int) -> Exchange:
        return SimExchange(symbol, StochasticFlow(params, seed=seed), start_ns, latency_ns)

    return make


def replay_market(path: Path | str, symbol: str, episode_s: float,
                  latency_ms: float = 0.0) -> ExchangeFactory:
    """Episodes on a LOBSTER day: each seed picks an episode start uniformly in the day (one
    that leaves ``episode_s`` of data), and the recorded market replays from there."""
    sample = open_sample(path)
    first = last = None
    for message in sample.messages():
        first = message.ts_ns if first is None else first
        last = message.ts_ns
    if first is None or last is None or last - first <= int(episode_s * 1e9):
        raise ValueError(f"{path} holds less than one {episode_s:g} s episode of data")
    latest_start = last - int(episode_s * 1e9)
    latency_ns = int(latency_ms * 1e6)

    def make(seed: int) -> Exchange:
        start = first + random.Random(seed).randrange(latest_start - first)
        return ReplayExchange(open_sample(path), symbol, latency_ns=latency_ns, start_ns=start,
                              end_ns=start + int(episode_s * 1e9))

    return make
