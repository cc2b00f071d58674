"""A shadow model observes its virtual parent as the engine observes a live one: in the version
it was trained on (v2 with the price signal the engine computed on the tick, v3 with the
parent's task too), so a v2 or v3 candidate decides as the same model decides live; one that
observes the signal is refused at start when the service runs no signal model."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.domain import BookUpdate, Instrument, MarketData, ParentOrder, Side, Trade
from models.actions import DEFAULT_ACTION_TABLE
from models.features import N_FEATURES, N_FEATURES_V2, N_FEATURES_V3
from models.policy import ModelError, OnnxPolicy
from models.signal import SignalModel
from models.task import TrainedRange
from risk.limits import load_limits
from risk.overlay import RiskOverlay
from service.cli import main
from service.engine import Engine
from service.evaluation.backtest import EpisodeSpec, run_episode
from service.metrics import Metrics
from service.oversight.model_slots import ModelSlots
from service.oversight.monitor import Oversight
from service.state.journal import MemoryJournal
from service.state.store import MemoryStore
from sim.calibrate import load_flow_params
from sim.exchange import SimExchange
from sim.flow import StochasticFlow
from tests.support.onnx_models import v2_policy, v3_policy
from tests.support.sending import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
SIGNAL = ROOT / "models" / "artifacts" / "signal.onnx"
START_NS = 1_340_280_000 * 10**9
N_ACTIONS = len(DEFAULT_ACTION_TABLE)
WAIT, REST = 0, 1  # wait, rest a slice at the touch
SIGNAL_FEATURE, SHARE = N_FEATURES, N_FEATURES_V2 + 1
# 600 shares over 120 s at 100 shares/s: 5% of the volume expected, observed as 0.5.
SPEC = EpisodeSpec("GOOG", Side.SELL, 600, 120.0, 30.0, warmup_s=10.0)
RANGE = TrainedRange(("buy", "sell"), (0.01, 0.25), (60.0, 3_600.0), 100.0, "test")


def _signal_follower_v2(path: Path) -> Path:
    """Rests a slice when the signal says the price moves against the parent, else waits: its
    decisions follow the signal alone."""
    weights = np.zeros((N_FEATURES_V2, N_ACTIONS), np.float32)
    weights[SIGNAL_FEATURE, REST], weights[SIGNAL_FEATURE, WAIT] = 10.0, -10.0
    return v2_policy(path, weights, np.zeros(N_ACTIONS, np.float32))


def _signal_follower_v3(path: Path) -> Path:
    """The same, offset by the parent's observed participation: a shadow that sized the parent
    otherwise than the engine would rest on other ticks."""
    weights = np.zeros((N_FEATURES_V3, N_ACTIONS), np.float32)
    weights[SIGNAL_FEATURE, REST], weights[SIGNAL_FEATURE, WAIT] = 10.0, -10.0
    weights[SHARE, REST] = 10.0
    bias = np.zeros(N_ACTIONS, np.float32)
    bias[REST] = -5.0  # cancels the 0.5 this parent is observed at
    return v3_policy(path, weights, bias, task_range=RANGE.as_json())


@pytest.mark.parametrize("build", [_signal_follower_v2, _signal_follower_v3],
                         ids=["v2", "v3"])
def test_a_shadow_decides_as_the_same_model_decides_live(
        tmp_path: Path, build: Callable[[Path], Path]) -> None:
    path = build(tmp_path / "policy.onnx")
    journal, oversight = MemoryJournal(), Oversight()
    ModelSlots(path, path, oversight, journal, "onnx", runs_signal=True)
    shadow = oversight.shadow
    assert shadow is not None
    exchange = SimExchange("GOOG", StochasticFlow(load_flow_params(
        ROOT / "sim" / "params" / "GOOG_2012-06-21.json"), seed=11), START_NS)
    run_episode(OnnxPolicy(path), exchange, SPEC, Instrument("GOOG", Decimal("0.01")),
                load_limits(ROOT / "deploy" / "risk" / "limits.demo.yaml"), Metrics(), 1,
                oversight=oversight, signal_model=SignalModel(SIGNAL))
    assert shadow.errors == 0
    # On every tick both decided, the shadow chose what the live policy chose ...
    assert shadow.disagreements == 0 and shadow.agreements > 100
    # ... and what they chose moved with the signal: both actions, on the same ticks.
    entries = [e for e in journal.entries if e["kind"] == "shadow"]
    assert {e["action"] for e in entries} >= {"wait", "rest_near 150"}
    assert all(e["live_action"] in ("", e["action"]) for e in entries)


def _ticks(count: int) -> list[MarketData]:
    """A 3-level book stepping one tick up or down, with a trade on every other message."""
    rng = np.random.default_rng(5)
    bid, out = 58_000, []
    for n in range(count):
        ts = START_NS + n * 50_000_000
        bid += int(rng.choice([-1, 0, 1]))
        levels = [BookUpdate("GOOG", side, bid - k if side is Side.BUY else bid + 2 + k,
                             int(rng.integers(50, 900)), ts)
                  for side in (Side.BUY, Side.SELL) for k in range(3)]
        trades = (Trade("GOOG", bid, 40, Side.SELL, ts),) if n % 2 else ()
        out.append(MarketData("GOOG", ts, tuple(levels), trades, snapshot=True))
    return out


def test_the_shadow_decides_on_the_ticks_the_engine_decides_on(tmp_path: Path) -> None:
    path = _signal_follower_v2(tmp_path / "policy.onnx")
    oversight = Oversight()
    ModelSlots(path, path, oversight, None, "onnx", runs_signal=True)
    instruments = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
    limits = load_limits(ROOT / "deploy" / "risk" / "limits.demo.yaml")
    engine = Engine(instruments, RiskOverlay(limits, instruments), RecordingSender(),
                    MemoryStore(), Metrics(), oversight=oversight,
                    signal_model=SignalModel(SIGNAL))
    oversight.trackers = engine.trackers
    engine.submit(ParentOrder("P1", "GOOG", Side.SELL, 600, START_NS,
                              START_NS + 600 * 10**9, "rl"), OnnxPolicy(path))
    ticks = _ticks(15)
    for tick in ticks[:5]:
        engine.handle(tick, 0)
    engine.handle_batch([(tick, 0) for tick in ticks[5:]])  # nine superseded, one decided
    assert oversight.shadow is not None
    shadow = oversight.shadow.parents["P1"]
    assert engine.signals["GOOG"].predictions == 6
    assert shadow.decisions == shadow.compared == 6
    assert oversight.shadow.disagreements == 0


def test_a_shadow_that_observes_the_signal_is_refused_without_a_signal_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = _signal_follower_v2(tmp_path / "live.onnx")
    candidate = _signal_follower_v3(tmp_path / "candidate.onnx")
    with pytest.raises(ModelError, match=r"observes the price signal \(execagent-obs-v3\) but "
                                         "the service runs no signal model"):
        ModelSlots(live, candidate, Oversight(), None, "onnx")
    config = tmp_path / "service.yaml"
    config.write_text(f"instruments:\n  - symbol: GOOG\n    tick_size: '0.01'\n"
                      f"policy:\n  name: twap\n  shadow: {candidate}\n"
                      f"signal:\n  model_path: null\n"
                      f"risk:\n  limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}\n")
    assert main(["run", "--config", str(config), "--submit", "sell:600:GOOG:120"]) == 2
    err = capsys.readouterr().err
    assert "policy.shadow" in err and "configure signal.model_path" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
