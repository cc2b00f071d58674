"""The price signal served: computed by the engine once per decided tick and symbol before the
parents' decisions, seen by the policies through ``DecisionContext.signal_bps`` and by v2 RL
policies in their observation, computed the same way by the Gymnasium environment, and shown to
operators (gauges of the live value and the realised accuracy)."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import BookUpdate, Instrument, MarketData, ParentOrder, Side, Trade
from models.actions import WAIT, Action
from models.env import ExecutionEnv, simulated_market
from models.features import (
    FEATURE_SPEC_HASH,
    FEATURE_SPEC_ID,
    FEATURE_SPEC_V2_ID,
    N_FEATURES,
    N_FEATURES_V2,
)
from models.policy import DecisionContext, ModelError, OnnxPolicy
from models.signal import SignalModel, SignalRuntime
from models.signal_features import N_SIGNAL_FEATURES, SIGNAL_FEATURE_NAMES
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from sim.flow import FlowParams
from tests.support.onnx_models import linear_policy, linear_signal_model, v2_policy
from tests.support.risk import roomy
from tests.support.sending import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "artifacts" / "signal.onnx"
SECOND = 10**9
T0 = 1_700_000_000 * SECOND
GOOG = {"GOOG": Instrument("GOOG", Decimal("0.01"))}


class _Recording:
    """Waits, remembering the signal and the observation it was shown."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[float, np.ndarray]] = []

    def act(self, ctx: DecisionContext) -> Action:
        self.seen.append((ctx.signal_bps, ctx.obs.copy()))
        return WAIT


def _engine(signal: SignalModel | None) -> Engine:
    limits = roomy()
    limits["global"]["restricted_symbols"] = []
    limits["symbols"] = {"GOOG": limits["symbols"]["GOOG"]}
    return Engine(GOOG, RiskOverlay(parse_limits(limits), GOOG), RecordingSender(),
                  MemoryStore(), Metrics(), signal_model=signal)


def _parent(side: Side = Side.SELL) -> ParentOrder:
    return ParentOrder("P1", "GOOG", side, 10_000, T0, T0 + 3_600 * SECOND, "x")


def _ticks(count: int, seed: int = 3) -> list[MarketData]:
    """A random walk of a 3-level book with trades: something for every feature to read."""
    rng = np.random.default_rng(seed)
    bid, out = 10_000, []
    for n in range(count):
        ts = T0 + n * 50_000_000
        if rng.random() < 0.2:
            bid += int(rng.choice([-1, 1]))
        levels = [BookUpdate("GOOG", Side.BUY, bid - k, int(rng.integers(50, 900)), ts)
                  for k in range(3)]
        levels += [BookUpdate("GOOG", Side.SELL, bid + 2 + k, int(rng.integers(50, 900)), ts)
                   for k in range(3)]
        trades = (Trade("GOOG", bid, int(rng.integers(1, 100)), Side.SELL, ts),) \
            if rng.random() < 0.3 else ()
        out.append(MarketData("GOOG", ts, tuple(levels), trades, snapshot=True))
    return out


def test_the_engine_serves_the_signal_the_runtime_computes_from_the_same_messages() -> None:
    model = SignalModel(SHIPPED)
    engine, policy = _engine(model), _Recording()
    engine.submit(_parent(), policy)
    own, book = SignalRuntime(model), DepthBook("GOOG")
    expected = []
    for tick in _ticks(200):
        engine.handle(tick, time.perf_counter_ns())
        book.apply_market_data(tick)
        own.update(book, tick)
        expected.append(own.predict(book, tick.ts_ns))
    assert [signal for signal, _ in policy.seen] == expected
    assert len({round(v, 6) for v in expected}) > 10  # the signal moves with the market
    assert engine.signals["GOOG"].predictions == 200
    assert engine.metrics.signal_inference.labels().counts[-1] + sum(
        engine.metrics.signal_inference.labels().counts[:-1]) == 200


def test_the_signal_runs_once_per_symbol_however_many_parents_and_not_on_superseded_ticks(
        ) -> None:
    engine = _engine(SignalModel(SHIPPED))
    first, second = _Recording(), _Recording()
    engine.submit(_parent(), first)
    engine.submit(ParentOrder("P2", "GOOG", Side.BUY, 500, T0, T0 + 60 * SECOND, "x"), second)
    ticks = _ticks(10)
    engine.handle_batch([(tick, time.perf_counter_ns()) for tick in ticks])
    assert engine.signals["GOOG"].predictions == 1  # nine superseded: features only
    assert first.seen[0][0] == second.seen[0][0]
    own, book = SignalRuntime(SignalModel(SHIPPED)), DepthBook("GOOG")
    for tick in ticks:
        book.apply_market_data(tick)
        own.update(book, tick)
    assert first.seen[0][0] == own.predict(book, ticks[-1].ts_ns)


def test_without_a_signal_model_policies_see_zero() -> None:
    engine, policy = _engine(None), _Recording()
    engine.submit(_parent(), policy)
    for tick in _ticks(5):
        engine.handle(tick, time.perf_counter_ns())
    assert [signal for signal, _ in policy.seen] == [0.0] * 5
    assert engine.signals == {}


def test_the_gauges_show_the_live_signal_and_its_realised_accuracy(tmp_path: Path) -> None:
    # A model that always says "up" 10 bps over a 1 s horizon, on a market that only rises:
    # every prediction scored is a hit.
    model = SignalModel(linear_signal_model(tmp_path / "up.onnx", bias=10.0, horizon_s=1.0))
    engine = _engine(model)
    for n in range(60):
        ts = T0 + n * SECOND // 5
        bid = 10_000 + n
        engine.handle(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, bid, 100, ts),
                                              BookUpdate("GOOG", Side.SELL, bid + 2, 100, ts)),
                                 (), snapshot=True), time.perf_counter_ns())
    text = engine.metrics.render().decode()
    assert 'execagent_signal_bps{symbol="GOOG"} 10.0' in text
    runtime = engine.signals["GOOG"]
    # Predictions sampled every 0.2 s (ticks) and scored 1 s later: those of the first 11 s.
    assert runtime.scored == 55
    assert runtime.realised_accuracy() == 1.0
    assert 'execagent_signal_realised_accuracy{symbol="GOOG"} 1.0' in text
    assert 'execagent_signal_scored_predictions{symbol="GOOG"} 55.0' in text


def test_realised_accuracy_counts_misses_and_skips_a_mid_that_did_not_move(
        tmp_path: Path) -> None:
    runtime = SignalRuntime(SignalModel(linear_signal_model(tmp_path / "up.onnx", bias=1.0,
                                                            horizon_s=1.0)))
    assert math.isnan(runtime.realised_accuracy())
    book = DepthBook("GOOG")
    path = [10_000, 10_000, 10_001, 10_001, 9_999, 9_999, 9_999]  # flat, up, down
    for n, bid in enumerate(path):
        ts = T0 + n * SECOND
        tick = MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, bid, 100, ts),
                                       BookUpdate("GOOG", Side.SELL, bid + 2, 100, ts)), (),
                          snapshot=True)
        book.apply_market_data(tick)
        runtime.update(book, tick)
        runtime.predict(book, ts)
    # Scored at 1..6 s: flat (skipped), up (hit), flat, down (miss), flat, flat.
    assert runtime.scored == 2
    assert runtime.realised_accuracy() == 0.5


def test_a_v2_policy_observes_v1_and_the_signal_signed_for_its_side(tmp_path: Path) -> None:
    model = SignalModel(linear_signal_model(tmp_path / "up.onnx", bias=4.0))
    engine = _engine(model)
    v1, v2 = _Recording(), _Recording()
    v2.feature_spec_id = FEATURE_SPEC_V2_ID  # type: ignore[attr-defined]
    engine.submit(_parent(Side.SELL), v1)
    engine.submit(ParentOrder("P2", "GOOG", Side.SELL, 10_000, T0, T0 + 3_600 * SECOND, "x"), v2)
    for tick in _ticks(20):
        engine.handle(tick, time.perf_counter_ns())
    for (_, a), (signal, b) in zip(v1.seen, v2.seen, strict=True):
        assert a.shape == (N_FEATURES,) and b.shape == (N_FEATURES_V2,)
        assert np.array_equal(a, b[:N_FEATURES])
        assert signal == pytest.approx(4.0)
        assert b[N_FEATURES] == pytest.approx(-0.4)  # a rise is good news for a sale


def test_a_v2_policy_cannot_start_without_a_signal_model(tmp_path: Path) -> None:
    path = v2_policy(tmp_path / "v2.onnx", np.zeros((N_FEATURES_V2, 7)), np.eye(7)[0])
    engine = _engine(None)
    with pytest.raises(ValueError, match="observes the price signal"):
        engine.submit(_parent(), OnnxPolicy(path))
    assert "P1" not in engine.oms.parents


def test_the_onnx_runtime_runs_v1_and_v2_policies(tmp_path: Path) -> None:
    v1 = OnnxPolicy(linear_policy(tmp_path / "v1.onnx", np.zeros((N_FEATURES, 7)),
                                  np.eye(7)[1]))
    assert v1.feature_spec_id == FEATURE_SPEC_ID
    weights = np.zeros((N_FEATURES_V2, 7), np.float32)
    weights[N_FEATURES, 5] = 10.0  # cross when the signal says adverse
    v2 = OnnxPolicy(v2_policy(tmp_path / "v2.onnx", weights, np.eye(7)[1]))
    assert v2.feature_spec_id == FEATURE_SPEC_V2_ID
    obs = np.zeros(N_FEATURES_V2, np.float32)
    assert v2.action_index(obs) == 1
    obs[N_FEATURES] = 0.5
    assert v2.action_index(obs) == 5
    wrong = linear_policy(tmp_path / "w.onnx", np.zeros((N_FEATURES, 7)), np.eye(7)[1],
                          metadata={"execagent.feature_spec_id": FEATURE_SPEC_V2_ID,
                                    "execagent.feature_spec_hash": v2.metadata[
                                        "execagent.feature_spec_hash"]})
    with pytest.raises(ModelError, match="width 13"):
        OnnxPolicy(wrong)
    stale = linear_policy(tmp_path / "s.onnx", np.zeros((N_FEATURES, 7)), np.eye(7)[1],
                          metadata={"execagent.feature_spec_hash": "0" * 16})
    with pytest.raises(ModelError, match=FEATURE_SPEC_HASH):
        OnnxPolicy(stale)


PARAMS = FlowParams(start_price=10_000, limit_rate=4.0, market_rate=0.6,
                    market_sizes=(10.0, 80.0, 150.0), limit_sizes=(10.0, 60.0, 110.0))


def _env(observation: str, signal: SignalModel | None, side: int = -1) -> ExecutionEnv:
    return ExecutionEnv(simulated_market(PARAMS), side=side, qty=600, horizon_s=60, slice_s=10,
                        warmup_s=5, horizon_grace_s=10, observation=observation,
                        signal_model=signal)


def test_the_environment_builds_v2_as_the_engine_does() -> None:
    model = SignalModel(SHIPPED)
    v1, v2 = _env(FEATURE_SPEC_ID, None), _env(FEATURE_SPEC_V2_ID, model)
    assert v2.observation_space.shape == (N_FEATURES_V2,)
    a, _ = v1.reset(seed=3)
    b, _ = v2.reset(seed=3)
    seen = []
    for _ in range(40):
        assert np.array_equal(a, b[:N_FEATURES])
        assert v2.signal is not None
        assert b[N_FEATURES] == pytest.approx(max(-1.0, min(1.0, -v2.signal.value / 10)))
        seen.append(v2.signal.value)
        a, *_ = v1.step(1)
        b, *_ = v2.step(1)
    assert len(set(seen)) > 1
    # The environment's signal is the runtime's on the messages it replayed: recompute it.
    own, book = SignalRuntime(model), DepthBook(v2.exchange.symbol)
    env = _env(FEATURE_SPEC_V2_ID, model)
    messages: list[MarketData] = []
    original = env._on_market  # noqa: SLF001 - the test listens to what the env applies

    def listen(message: MarketData) -> None:
        messages.append(message)
        original(message)

    env._on_market = listen  # type: ignore[method-assign]  # noqa: SLF001
    obs, _ = env.reset(seed=5)
    for message in messages:
        book.apply_market_data(message)
        own.update(book, message)
    assert obs[N_FEATURES] == pytest.approx(
        max(-1.0, min(1.0, -own.predict(book, messages[-1].ts_ns) / 10)))


def test_a_v2_environment_needs_a_signal_model() -> None:
    with pytest.raises(ValueError, match="price signal"):
        _env(FEATURE_SPEC_V2_ID, None)
    with pytest.raises(ValueError, match="observation must be one of"):
        _env("execagent-obs-v9", None)


def test_the_signal_features_are_those_the_spec_names() -> None:
    assert len(SIGNAL_FEATURE_NAMES) == N_SIGNAL_FEATURES
