"""A policy's decision interval in the engine and the shadow: a model trained to decide once a
second (``execagent.decision_interval_s``) is asked on the first tick a second or more after its
last decision, a policy without one on every tick; between two decisions the parent's orders
stay as they are, while the horizon's crossing still runs on every tick."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np

from core.domain import BookUpdate, Instrument, MarketData, NewOrder, ParentOrder, Side
from models.actions import DEFAULT_ACTION_TABLE, WAIT, Action, ActionKind
from models.features import N_FEATURES
from models.policy import DecisionContext, OnnxPolicy
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.commands.model_reference import Recording
from service.engine import Engine
from service.metrics import Metrics
from service.oversight.model_slots import ModelSlots
from service.oversight.monitor import Oversight
from service.state.store import MemoryStore
from tests.support.onnx_models import linear_policy
from tests.support.risk import roomy
from tests.support.sending import RecordingSender

SECOND = 10**9
START_NS = 1_700_000_000 * SECOND
TICK_MS = 300
PACED_MS = [0, 1200, 2400, 3600, 4800, 6000]  # the first tick at or after each last + 1 s


class _Recording:
    """Remembers the event times it was asked at (ms since the start); always waits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked_ms: list[int] = []

    def act(self, ctx: DecisionContext) -> Action:
        self.asked_ms.append((ctx.now_ns - START_NS) // 1_000_000)
        return WAIT


class _PacedRecording(_Recording):
    decision_interval_s = 1.0


def _engine(oversight: Oversight | None = None) -> tuple[Engine, RecordingSender]:
    sender = RecordingSender()
    instruments = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
    limits = roomy()
    limits["symbols"] = {"GOOG": limits["symbols"]["GOOG"]}
    limits["global"]["restricted_symbols"] = []
    engine = Engine(instruments, RiskOverlay(parse_limits(limits), instruments), sender,
                    MemoryStore(), Metrics(), oversight=oversight)
    return engine, sender


def _ticks(until_ms: int = 6_000) -> list[MarketData]:
    out = []
    for ms in range(0, until_ms + 1, TICK_MS):
        ts = START_NS + ms * 1_000_000
        out.append(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, 5000, 300, ts),
                                           BookUpdate("GOOG", Side.SELL, 5002, 300, ts)),
                              (), snapshot=True))
    return out


def _parent(parent_id: str, horizon_s: float = 3_600.0) -> ParentOrder:
    return ParentOrder(parent_id, "GOOG", Side.SELL, 1_000, START_NS,
                       START_NS + int(horizon_s * SECOND), "rl")


def test_a_paced_policy_is_asked_once_a_second_and_an_unpaced_one_on_every_tick() -> None:
    engine, sender = _engine()
    paced, every = _PacedRecording("paced"), _Recording("every")
    engine.submit(_parent("P1"), paced)
    engine.submit(_parent("P2"), every)
    for tick in _ticks():
        engine.handle(tick, 0)
    assert paced.asked_ms == PACED_MS
    assert every.asked_ms == list(range(0, 6_001, TICK_MS))
    assert sender.sent == [] and engine.errors == 0


def test_the_horizon_crosses_on_every_tick_whatever_the_pace() -> None:
    engine, sender = _engine()
    paced = _PacedRecording("paced")
    engine.submit(_parent("P1", horizon_s=0.5), paced)
    for tick in _ticks(900):
        engine.handle(tick, 0)
    # Asked on the first tick only: at 600 ms the horizon had passed, and the engine crossed
    # the remainder itself, a second before the policy was due.
    assert paced.asked_ms == [0]
    crossings = [i for i in sender.sent if isinstance(i, NewOrder)]
    assert crossings and crossings[0].qty == 1_000


def _waiting_model(path: Path, interval_s: float | None) -> Path:
    bias = np.zeros(len(DEFAULT_ACTION_TABLE), np.float32)
    bias[DEFAULT_ACTION_TABLE.index((ActionKind.WAIT, 0.0))] = 1.0
    metadata = {} if interval_s is None else {"execagent.decision_interval_s": str(interval_s)}
    return linear_policy(path, np.zeros((N_FEATURES, len(DEFAULT_ACTION_TABLE)), np.float32),
                         bias, metadata)


def test_the_engine_and_the_shadow_each_keep_their_own_models_pace(tmp_path: Path) -> None:
    live = _waiting_model(tmp_path / "live.onnx", None)  # exported before the key: every tick
    candidate = _waiting_model(tmp_path / "candidate.onnx", 1.0)
    oversight = Oversight()
    ModelSlots(live, candidate, oversight, None, "onnx")
    engine, _ = _engine(oversight)
    oversight.trackers = engine.trackers
    engine.submit(_parent("P1"), OnnxPolicy(live))
    for tick in _ticks():
        engine.handle(tick, 0)
    assert sum(engine.metrics.policy_inference.labels("rl").counts) == len(_ticks())
    assert oversight.shadow is not None
    shadow = oversight.shadow.parents["P1"]
    assert shadow.decisions == shadow.compared == len(PACED_MS)
    assert oversight.shadow.disagreements == 0 and oversight.shadow.errors == 0


def test_the_model_reference_records_the_decisions_the_engine_asks_for(tmp_path: Path) -> None:
    policy = Recording(_waiting_model(tmp_path / "paced.onnx", 1.0))
    engine, _ = _engine()
    engine.submit(_parent("P1"), policy)
    for tick in _ticks():
        engine.handle(tick, 0)
    assert len(policy.kinds) == len(PACED_MS)
