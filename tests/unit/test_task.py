"""The task a parent sets: drawn per episode, written as normalised descriptors, and held to the
range a model was trained for (the shipped model's derived from its stored configuration)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.policy import ModelError, OnnxPolicy, OutsideTrainedRange
from models.task import TASK_RANGE_KEY, TaskSampler, TrainedRange, range_from_metadata
from models.task_features import N_TASK_FEATURES, task_descriptors
from service.cli import main
from tests.support.onnx_models import constant_action_policy, desk_book

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "artifacts" / "policy.onnx"
GOOG_VOLUME = 0.25342 * 76.875  # sim/params/GOOG_2012-06-21.json: market_rate x mean size


@given(side=st.sampled_from([1, -1]), share=st.floats(1e-4, 1.0), horizon=st.floats(1, 7200))
def test_descriptors_are_bounded_and_in_their_order(side: int, share: float,
                                                    horizon: float) -> None:
    out = np.full(3 + N_TASK_FEATURES + 2, 9.0, dtype=np.float32)
    task_descriptors(out, 3, side, share, horizon)
    assert list(out[:3]) == [9.0, 9.0, 9.0] and list(out[-2:]) == [9.0, 9.0]  # its slots only
    written = out[3:-2]
    assert written[0] == side and all(0.0 <= v <= 1.0 for v in written[1:])


def test_descriptors_scale_participation_logarithmically() -> None:
    out = np.zeros(N_TASK_FEATURES, dtype=np.float32)
    for share, expected in ((0.01, 0.0), (0.05, 0.5), (0.25, 1.0)):
        task_descriptors(out, 0, -1, share, 1800.0)
        assert out[1] == pytest.approx(expected, abs=1e-6)
    assert list(out[[0, 2]]) == [-1.0, 0.5]


def test_the_sampler_covers_its_ranges_log_uniformly() -> None:
    sampler = TaskSampler((1, -1), (0.01, 0.25), (300.0, 3600.0), GOOG_VOLUME)
    rng = random.Random(0)
    tasks = [sampler.draw(rng) for _ in range(2000)]
    shares = np.array([t.participation for t in tasks])
    assert shares.min() >= 0.0099 and shares.max() <= 0.2501
    assert 0.4 < np.mean(shares < 0.05) < 0.6  # the log-midpoint of 1%..25% is 5%
    assert {t.side for t in tasks} == {1, -1}
    assert all(300 <= t.horizon_s <= 3600 and t.qty >= 1 for t in tasks)
    with pytest.raises(ValueError, match="participation"):
        TaskSampler((-1,), (0.3, 0.2), (300.0, 600.0), GOOG_VOLUME)


def test_the_shipped_model_range_is_derived_from_its_training_configuration() -> None:
    policy = OnnxPolicy(SHIPPED)
    assert TASK_RANGE_KEY not in policy.metadata  # exported before the key existed
    trained = policy.trained_range()
    assert trained.sides == ("sell",) and trained.horizon_s == (600.0, 600.0)
    assert trained.participation[0] == pytest.approx(2000 / (GOOG_VOLUME * 600))
    assert "training_config" in trained.source
    policy.check_parent(-1, 2_000, 600.0)
    policy.check_parent(-1, 2_150, 640.0)  # within the tolerance of a point range
    for side, qty, horizon, message in ((1, 2_000, 600.0, "sell only, not buy"),
                                        (-1, 20_000, 600.0, "participation"),
                                        (-1, 2_000, 1_800.0, "horizon of 30 min")):
        with pytest.raises(OutsideTrainedRange, match=message):
            policy.check_parent(side, qty, horizon)


def test_a_recorded_range_round_trips_and_a_model_that_says_nothing_is_refused(
        tmp_path: Path) -> None:
    trained = TrainedRange(("buy", "sell"), (0.01, 0.25), (300.0, 3600.0), 19.5, "test")
    back = range_from_metadata({TASK_RANGE_KEY: trained.as_json()})
    assert back.sides == trained.sides and back.participation == trained.participation
    assert back.refusal(1, 1_000, 1_200.0) is None  # 4.3% of the 23,400 shares expected
    assert "42.7%" in str(back.refusal(1, 10_000, 1_200.0))
    assert "participation" in str(back.refusal(-1, 10_000, 1_200.0, volume_per_s=1.0))
    with pytest.raises(ValueError, match="sides"):
        range_from_metadata({TASK_RANGE_KEY: json.dumps({"sides": ["short"]})})
    bare = OnnxPolicy(constant_action_policy(tmp_path / "bare.onnx", 1))
    with pytest.raises(ModelError, match="does not say which parents") as caught:
        bare.check_parent(-1, 100, 60.0)
    assert str(caught.value).endswith(
        "the model has neither execagent.task_range nor execagent.training_config")
    with pytest.raises(ValueError, match=r"training_config names no market_params"):
        range_from_metadata({"execagent.training_config": json.dumps({"seed": 7})})
    with pytest.raises(ValueError, match=r"training_config is not JSON"):
        range_from_metadata({"execagent.training_config": "{seed"})


def test_run_submit_outside_the_range_exits_2_before_connecting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "service.yaml"
    config.write_text(f"instruments:\n  - symbol: GOOG\n    tick_size: '0.01'\n"
                      f"policy:\n  name: onnx\n  model_path: {SHIPPED}\n"
                      f"risk:\n  limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}\n")
    assert main(["run", "--config", str(config), "--submit", "buy:2000:GOOG:600"]) == 2
    err = capsys.readouterr().err
    assert "sell only, not buy" in err and "name a baseline" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("book_text", "submit", "problem"), [
    (None, "sell:2000:GOOG:3600", "book.yaml has no model for this parent"),
    ("entries:\n  - model: gone.onnx\n    sides: [buy]\n", "buy:2000:GOOG:600",
     "gone.onnx does not exist"),
])
def test_run_submit_with_a_book_it_cannot_serve_exits_2_before_connecting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], book_text: str | None, submit: str,
        problem: str) -> None:
    book = desk_book(tmp_path / "desk")
    if book_text is not None:
        book.write_text(book_text)
    config = tmp_path / "service.yaml"
    config.write_text(f"instruments:\n  - symbol: GOOG\n    tick_size: '0.01'\n"
                      f"policy:\n  name: onnx\n  model_path: {book}\n"
                      f"risk:\n  limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}\n")
    assert main(["run", "--config", str(config), "--submit", submit]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_service_whose_book_cannot_be_used_does_not_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = desk_book(tmp_path / "desk")
    book.write_text("entries:\n  - model: buyer.onnx\n    sides: [sell]\n")
    config = tmp_path / "service.yaml"
    config.write_text(f"instruments:\n  - symbol: GOOG\n    tick_size: '0.01'\n"
                      f"policy:\n  name: twap\n  model_path: {book}\n"
                      f"risk:\n  limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}\n")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "policy.model_path: policy book" in err and "buyer.onnx was not trained to sell" in err
    assert len(err.strip().splitlines()) == 1
