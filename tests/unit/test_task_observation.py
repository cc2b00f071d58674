"""The task-aware observation execagent-obs-v3: v2's features and the parent's side,
participation and horizon, built alike by the training environment (from the drawn or fixed
task) and by the engine (sizing the parent by the policy's trained volume rate)."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from core.depth_book import DepthBook
from core.domain import (
    BookUpdate,
    ChildOrder,
    Instrument,
    MarketData,
    NewOrder,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
    Trade,
)
from models.actions import DEFAULT_ACTION_TABLE, WAIT, Action, ActionKind
from models.env import ExecutionEnv, simulated_market
from models.features import (
    FEATURE_SPEC_HASH,
    FEATURE_SPEC_V2_HASH,
    FEATURE_SPEC_V2_ID,
    FEATURE_SPEC_V3_HASH,
    FEATURE_SPEC_V3_ID,
    FEATURES_V2,
    FEATURES_V3,
    N_FEATURES_V2,
    N_FEATURES_V3,
    OBSERVATION_SPECS,
    MarketTracker,
    new_observation_buffer_for,
    observe_v2,
    observe_v3,
)
from models.policy import DecisionContext, ModelError, OnnxPolicy
from models.signal import SignalModel
from models.task import TaskSampler, TrainedRange, market_volume_per_s
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from sim.flow import FlowParams
from tests.support.onnx_models import v3_policy
from tests.support.risk import roomy
from tests.support.sending import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
SIGNAL = ROOT / "models" / "artifacts" / "signal.onnx"
SECOND = 10**9
T0 = 1_700_000_000 * SECOND
CENTRE = 10_001  # the mirror's axis: a book around it and its mirror image share the mid
SIDE, SHARE, HORIZON = N_FEATURES_V2, N_FEATURES_V2 + 1, N_FEATURES_V2 + 2
CROSS = next(i for i, (kind, _) in enumerate(DEFAULT_ACTION_TABLE) if kind is ActionKind.CROSS)


def _scaled(participation: float) -> float:
    return min(1.0, max(0.0, math.log(participation / 0.01) / math.log(25)))


# --- the layout ------------------------------------------------------------------------------
def _ticks(count: int, seed: int = 3) -> list[MarketData]:
    """A random walk of a 3-level book around CENTRE, with trades of either aggressor."""
    rng = np.random.default_rng(seed)
    bid, out = CENTRE - 1, []
    for n in range(count):
        ts = T0 + n * 50_000_000
        if rng.random() < 0.3:
            bid += int(rng.choice([-1, 1]))
        levels = [BookUpdate("GOOG", Side.BUY, bid - k, int(rng.integers(50, 900)), ts)
                  for k in range(3)]
        levels += [BookUpdate("GOOG", Side.SELL, bid + 2 + k, int(rng.integers(50, 900)), ts)
                   for k in range(3)]
        trades = (Trade("GOOG", bid, int(rng.integers(1, 100)),
                        Side.SELL if rng.random() < 0.5 else Side.BUY, ts),) \
            if rng.random() < 0.5 else ()
        out.append(MarketData("GOOG", ts, tuple(levels), trades, snapshot=True))
    return out


def _mirror(message: MarketData) -> MarketData:
    """The same market reflected about CENTRE: bids become asks, buyers sellers."""
    def flip(side: Side) -> Side:
        return Side.SELL if side is Side.BUY else Side.BUY

    return MarketData(message.symbol, message.ts_ns, tuple(
        BookUpdate(u.symbol, flip(u.side), 2 * CENTRE - u.price, u.qty, u.ts_ns)
        for u in message.updates), tuple(
        Trade(t.symbol, 2 * CENTRE - t.price, t.qty, None if t.aggressor is None
              else flip(t.aggressor), t.ts_ns) for t in message.trades), snapshot=True)


def _state(messages: list[MarketData]) -> tuple[DepthBook, MarketTracker]:
    book, tracker = DepthBook("GOOG"), MarketTracker()
    for message in messages:
        book.apply_market_data(message)
        tracker.update(book, message)
    return book, tracker


def _parent(side: Side, qty: int = 1_000, horizon_s: int = 1_800) -> ParentOrder:
    parent = ParentOrder("P", "GOOG", side, qty, T0, T0 + horizon_s * SECOND, "rl")
    parent.filled = qty // 4
    return parent


def test_a_sale_and_a_buy_in_the_mirrored_market_differ_only_in_the_side_descriptor() -> None:
    ticks = _ticks(300)
    book, tracker = _state(ticks)
    mirror_book, mirror_tracker = _state([_mirror(tick) for tick in ticks])
    ask = book.best_ask()
    assert ask is not None
    now = ticks[-1].ts_ns
    sale, buy = _parent(Side.SELL), _parent(Side.BUY)
    resting = ChildOrder("C", "P", "GOOG", Side.SELL, 100, ask + 1, OrdType.LIMIT,
                         TimeInForce.DAY)
    mirrored = ChildOrder("C", "P", "GOOG", Side.BUY, 100, 2 * CENTRE - ask - 1, OrdType.LIMIT,
                          TimeInForce.DAY)
    a = observe_v3(new_observation_buffer_for(FEATURE_SPEC_V3_ID), book, sale, [resting],
                   tracker, now, 2_000, 3.0, 0.05)
    b = observe_v3(new_observation_buffer_for(FEATURE_SPEC_V3_ID), mirror_book, buy,
                   [mirrored], mirror_tracker, now, 2_000, -3.0, 0.05)
    assert (a[SIDE], b[SIDE]) == (-1.0, 1.0)
    others = [i for i in range(N_FEATURES_V3) if i != SIDE]
    # Log returns of mirrored prices are opposite only to first order (the mid wandered ~0.1%
    # from the axis): the mid return and volatility agree to 0.5%, the rest exactly.
    np.testing.assert_allclose(a[others], b[others], rtol=5e-3, atol=1e-6)
    # ...and the market moved: the signed features are not all zero, so the test saw them.
    named = dict(zip([name for name, _ in FEATURES_V3], a.tolist(), strict=True))
    assert all(0.0 < abs(named[name]) < 1.0 for name in (
        "imbalance_touch", "imbalance_5", "mid_return", "trade_flow", "signal"))
    assert named["working_distance"] == pytest.approx(0.1)  # a tick behind the near touch


def test_v3_is_v2_then_side_participation_and_horizon() -> None:
    assert [name for name, _ in FEATURES_V3] == [name for name, _ in FEATURES_V2] + [
        "side", "participation", "horizon"]  # v1 holds the time and inventory remaining
    assert OBSERVATION_SPECS[FEATURE_SPEC_V3_ID] == (FEATURE_SPEC_V3_HASH, N_FEATURES_V3)
    assert len({FEATURE_SPEC_HASH, FEATURE_SPEC_V2_HASH, FEATURE_SPEC_V3_HASH}) == 3
    book, tracker = _state(_ticks(50))
    now = T0 + 60 * SECOND
    for side in (Side.BUY, Side.SELL):
        for horizon_s, horizon in ((600, 1 / 6), (1_800, 0.5), (7_200, 1.0)):
            for participation, share in ((0.01, 0.0), (0.05, 0.5), (0.25, 1.0), (0.5, 1.0),
                                         (0.001, 0.0)):
                parent = _parent(side, horizon_s=horizon_s)
                v2 = observe_v2(new_observation_buffer_for(FEATURE_SPEC_V2_ID), book, parent,
                                [], tracker, now, 100, 2.0)
                v3 = observe_v3(new_observation_buffer_for(FEATURE_SPEC_V3_ID), book, parent,
                                [], tracker, now, 100, 2.0, participation)
                assert np.array_equal(v3[:N_FEATURES_V2], v2)
                assert v3[SIDE] == int(side)
                assert v3[SHARE] == pytest.approx(share, abs=1e-6)
                assert v3[HORIZON] == pytest.approx(horizon, abs=1e-6)


# --- the environment -------------------------------------------------------------------------
PARAMS = FlowParams(start_price=10_000, limit_rate=4.0, market_rate=0.6,
                    market_sizes=(10.0, 80.0, 150.0), limit_sizes=(10.0, 60.0, 110.0))


def _env(observation: str, sampler: TaskSampler | None = None, volume_per_s: float | None = None,
         signal: SignalModel | None = None) -> ExecutionEnv:
    return ExecutionEnv(simulated_market(PARAMS), side=-1, qty=600, horizon_s=60, slice_s=10,
                        warmup_s=5, horizon_grace_s=10, observation=observation,
                        signal_model=signal, task_sampler=sampler, volume_per_s=volume_per_s)


def test_the_environment_observes_the_drawn_task_after_v2() -> None:
    signal = SignalModel(SIGNAL)
    volume = market_volume_per_s(PARAMS)
    sampler = TaskSampler((1, -1), (0.01, 0.25), (30.0, 120.0), volume)
    v2 = _env(FEATURE_SPEC_V2_ID, sampler, signal=signal)
    v3 = _env(FEATURE_SPEC_V3_ID, sampler, signal=signal)
    assert v3.observation_space.shape == (N_FEATURES_V3,)
    sides = set()
    for seed in range(6):
        a, _ = v2.reset(options={"episode_seed": seed})
        b, _ = v3.reset(options={"episode_seed": seed})
        task = v3.task
        assert task is not None and task == v2.task
        sides.add(task.side)
        for _ in range(5):
            assert b.shape == (N_FEATURES_V3,)
            assert np.array_equal(b[:N_FEATURES_V2], a)
            assert b[SIDE] == task.side
            assert b[SHARE] == pytest.approx(_scaled(task.participation), abs=1e-6)
            assert b[HORIZON] == pytest.approx(task.horizon_s / 3_600, abs=1e-6)
            a, *_ = v2.step(1)
            b, *_ = v3.step(1)
    assert sides == {1, -1}


def test_the_fixed_task_is_sized_by_the_markets_volume_rate() -> None:
    env = _env(FEATURE_SPEC_V3_ID, volume_per_s=200.0, signal=SignalModel(SIGNAL))
    obs, _ = env.reset(seed=1)
    # 600 shares over 60 s at 200 shares/s: 5% of the expected volume.
    assert env.participation == pytest.approx(0.05)
    assert (obs[SIDE], obs[HORIZON]) == (-1.0, pytest.approx(60 / 3_600))
    assert obs[SHARE] == pytest.approx(0.5, abs=1e-6)
    check_env(env, skip_render_check=True)


def test_a_v3_environment_needs_the_signal_and_a_volume_rate() -> None:
    with pytest.raises(ValueError, match="participation"):
        _env(FEATURE_SPEC_V3_ID, signal=SignalModel(SIGNAL))
    with pytest.raises(ValueError, match="price signal"):
        _env(FEATURE_SPEC_V3_ID, volume_per_s=10.0)


# --- the engine ------------------------------------------------------------------------------
GOOG = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
VOLUME = 10.0  # the trained range's shares per second
RANGE = TrainedRange(("buy", "sell"), (0.01, 0.25), (60.0, 7_200.0), VOLUME, "test")


class _Recording:
    """Waits, remembering the observations it was shown."""

    name = "recording"

    def __init__(self, spec: str) -> None:
        self.feature_spec_id = spec
        self.seen: list[np.ndarray] = []

    def act(self, ctx: DecisionContext) -> Action:
        self.seen.append(ctx.obs.copy())
        return WAIT


class _TaskAware(_Recording):
    def trained_range(self) -> TrainedRange:
        return RANGE


def _engine(signal: SignalModel | None) -> tuple[Engine, RecordingSender]:
    limits = roomy()
    limits["global"]["restricted_symbols"] = []
    limits["symbols"] = {"GOOG": limits["symbols"]["GOOG"]}
    sender = RecordingSender()
    return Engine(GOOG, RiskOverlay(parse_limits(limits), GOOG), sender, MemoryStore(),
                  Metrics(), signal_model=signal), sender


def _hour_parent(parent_id: str, side: Side, qty: int) -> ParentOrder:
    return ParentOrder(parent_id, "GOOG", side, qty, T0, T0 + 3_600 * SECOND, "x")


def test_the_engine_builds_v3_sized_by_the_policys_trained_volume_rate() -> None:
    engine, _ = _engine(SignalModel(SIGNAL))
    v2, sale, buy = _Recording(FEATURE_SPEC_V2_ID), _TaskAware(FEATURE_SPEC_V3_ID), \
        _TaskAware(FEATURE_SPEC_V3_ID)
    # 1,800 shares over an hour at 10 shares/s: 5% of the volume expected.
    engine.submit(_hour_parent("P1", Side.SELL, 1_800), v2)
    engine.submit(_hour_parent("P2", Side.SELL, 1_800), sale)
    engine.submit(_hour_parent("P3", Side.BUY, 9_000), buy)
    for tick in _ticks(20):
        engine.handle(tick, time.perf_counter_ns())
    assert len(sale.seen) == len(buy.seen) == 20
    for a, b, c in zip(v2.seen, sale.seen, buy.seen, strict=True):
        assert b.shape == (N_FEATURES_V3,)
        assert np.array_equal(a, b[:N_FEATURES_V2])
        assert (b[SIDE], b[SHARE], b[HORIZON]) == (-1.0, pytest.approx(0.5), 1.0)
        assert (c[SIDE], c[SHARE], c[HORIZON]) == (1.0, pytest.approx(1.0), 1.0)  # 25%


def test_a_v3_onnx_policy_acts_on_the_parents_size(tmp_path: Path) -> None:
    weights = np.zeros((N_FEATURES_V3, len(DEFAULT_ACTION_TABLE)), np.float32)
    weights[SHARE, CROSS] = 10.0  # cross when large, else wait
    path = v3_policy(tmp_path / "v3.onnx", weights, np.eye(len(DEFAULT_ACTION_TABLE))[0],
                     task_range=RANGE.as_json())
    engine, sender = _engine(SignalModel(SIGNAL))
    engine.submit(_hour_parent("SMALL", Side.SELL, 360), OnnxPolicy(path))  # 1%: 0
    engine.submit(_hour_parent("LARGE", Side.SELL, 1_800), OnnxPolicy(path))  # 5%: 0.5
    for tick in _ticks(5):
        engine.handle(tick, time.perf_counter_ns())
    parents = {intent.parent_id for intent in sender.sent if isinstance(intent, NewOrder)}
    assert parents == {"LARGE"}


def test_a_v3_policy_is_refused_without_its_signal_or_trained_range(tmp_path: Path) -> None:
    weights = np.zeros((N_FEATURES_V3, len(DEFAULT_ACTION_TABLE)), np.float32)
    bias = np.eye(len(DEFAULT_ACTION_TABLE))[0]
    with pytest.raises(ModelError, match="does not say which parents"):
        OnnxPolicy(v3_policy(tmp_path / "bare.onnx", weights, bias))
    policy = OnnxPolicy(v3_policy(tmp_path / "v3.onnx", weights, bias,
                                  task_range=RANGE.as_json()))
    assert policy.feature_spec_id == FEATURE_SPEC_V3_ID
    no_signal, _ = _engine(None)
    with pytest.raises(ValueError, match="observes the price signal"):
        no_signal.submit(_hour_parent("P1", Side.SELL, 1_800), policy)
    engine, _ = _engine(SignalModel(SIGNAL))
    with pytest.raises(ValueError, match="no trained range"):
        engine.submit(_hour_parent("P2", Side.SELL, 1_800), _Recording(FEATURE_SPEC_V3_ID))
    assert "P1" not in no_signal.oms.parents and "P2" not in engine.oms.parents
