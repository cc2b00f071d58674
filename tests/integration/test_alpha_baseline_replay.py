"""``almgren_chriss_alpha`` on the replayed GOOG day with the shipped signal: the episode
where its tilt used to flicker (the signal reading the parent's own resting order) until the
risk overlay's message throttle denied it, worked by the live engine as ``execagent
evaluate`` works it."""

from pathlib import Path

import pytest

from models.baselines import AlphaAlmgrenChrissPolicy
from models.signal import SignalModel
from service.cli import build_parser
from service.commands.evaluate import plan_evaluation
from service.evaluation.backtest import run_episode
from service.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
# Of the 60 windows of the held-out afternoon, one whose tilt flickers: 43 messages denied.
FLICKERING_WINDOW = 25


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_the_held_tilt_sends_nothing_the_throttle_denies() -> None:
    args = build_parser().parse_args([
        "evaluate", "--data", str(GOOG), "--impact", "calibrated", "--window", "13:45-16:00",
        "--side", "buy", "--participation", "0.08", "--minutes", "10", "--episodes", "60",
        "--policies", "almgren_chriss_alpha",
        "--limits", str(ROOT / "deploy/risk/limits.training.yaml"),
        "--signal", str(ROOT / "models/artifacts/signal.onnx")])
    _, exchange_for, _, spec, instrument, limits, _ = plan_evaluation(args)
    signal = SignalModel(args.signal)

    def denials(policy: AlphaAlmgrenChrissPolicy) -> int:
        result = run_episode(policy, exchange_for(FLICKERING_WINDOW), spec, instrument, limits,
                             Metrics(), FLICKERING_WINDOW, signal_model=signal)
        assert result.filled == result.qty
        return result.risk_denials

    assert denials(AlphaAlmgrenChrissPolicy(min_dwell_s=0.0)) > 0  # the flicker, reproduced
    assert denials(AlphaAlmgrenChrissPolicy()) == 0
