"""The price signal's training, export and evaluation (``execagent signal``), on cuts of the GOOG
LOBSTER day (seconds, not the full day: the full run is the command's, docs/signal-card.md),
and the run-time's refusal of a model built for other features."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from core.depth_book import DepthBook
from core.domain import MarketData
from models.signal import SignalModel, SignalModelError, SignalRuntime
from models.signal_data import EMBARGO_HORIZONS, SignalDataError, load_day, parse_horizon, split
from models.signal_features import DEEP_FEATURES, SIGNAL_FEATURE_NAMES, SIGNAL_SPEC_HASH
from service.cli import main
from sim.lobster import open_sample
from sim.replay_exchange import ReplayExchange
from tests.support.onnx_models import linear_signal_model

ROOT = Path(__file__).resolve().parents[2]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
SHIPPED = ROOT / "models" / "artifacts" / "signal.onnx"
needs_data = pytest.mark.skipif(not GOOG.is_file(), reason=f"{GOOG} is not here (shared data)")


def cut(out_dir: Path, start: int, rows: int) -> Path:
    """Rows ``start`` .. ``start + rows`` of the GOOG day as a LOBSTER folder of its own."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(GOOG) as archive:
        for name in archive.namelist():
            if name.endswith(".csv"):
                lines = archive.read(name).decode().splitlines(keepends=True)
                (out_dir / name).write_text("".join(lines[start:start + rows]))
    return out_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A model trained on the first 12,000 messages (about 27 minutes) at a 2 s horizon, and
    that cut and another (messages 40,000 to 52,000) to evaluate on."""
    from models.signal_train import train

    base = tmp_path_factory.mktemp("signal")
    first = cut(base / "first", 0, 12_000)
    other = cut(base / "other", 40_000, 12_000)
    out = base / "signal.onnx"
    result = train([first], 2.0, out)
    assert result.max_onnx_difference_bps <= 1e-4
    return out, first, other


@needs_data
def test_the_split_is_time_ordered_with_embargoes_longer_than_the_horizon(tmp_path: Path) -> None:
    day = load_day(cut(tmp_path / "d", 0, 12_000))
    parts = split(day, 2.0)
    ts = day.ts_ns
    assert ts[parts.train].max() < parts.boundaries_ns[0] - 2.0e9  # its labels end before val
    assert ts[parts.validation].min() >= parts.boundaries_ns[0]
    assert ts[parts.validation].max() < parts.boundaries_ns[1] - 2.0e9
    assert ts[parts.test].min() >= parts.boundaries_ns[1]
    assert parts.embargo_ns == int(EMBARGO_HORIZONS * 2.0e9) > 2.0e9
    assert not (parts.train & parts.validation).any() and not (parts.validation & parts.test).any()


@needs_data
def test_labels_are_the_last_mid_at_or_before_t_plus_h(tmp_path: Path) -> None:
    day = load_day(cut(tmp_path / "d", 0, 3_000))
    labels = day.labels_bps(1.0)
    for row in (0, 100, 1_000):
        later = np.flatnonzero(day.ts_ns <= day.ts_ns[row] + 10**9)[-1]
        expected = (day.mid_x2[later] - day.mid_x2[row]) / day.mid_x2[row] * 1e4
        assert labels[row] == pytest.approx(expected)
    assert np.isnan(labels[-1])  # nothing a second after the last message


@needs_data
def test_the_onnx_model_serves_what_lightgbm_learnt(trained: tuple[Path, Path, Path]) -> None:
    out, first, _ = trained
    model = SignalModel(out)
    meta = model.metadata
    assert model.horizon_s == 2.0
    assert json.loads(meta["execagent.signal_features"]) == list(SIGNAL_FEATURE_NAMES)
    assert meta["execagent.signal_spec_hash"] == SIGNAL_SPEC_HASH
    assert json.loads(meta["execagent.signal_training_data"])[0]["sha256"] == \
        load_day(first).sha256
    # The engine's runtime, fed the replay message by message, computes the rows' features and
    # predicts what the batch call predicts on them.
    day = load_day(first)
    runtime, book = SignalRuntime(model), DepthBook("GOOG")
    exchange = ReplayExchange(open_sample(first), "GOOG")
    snapshot = exchange.snapshot()
    book.apply_market_data(snapshot)
    runtime.update(book, snapshot)
    served = []
    while len(served) < 300:
        for event in exchange.step():
            if isinstance(event, MarketData):
                book.apply_market_data(event)
                runtime.update(book, event)
                served.append(runtime.predict(book, event.ts_ns))
    assert np.allclose(served, model.predict_batch(day.features[:300]), atol=1e-6)


@needs_data
def test_evaluate_scores_the_test_part_of_a_training_file_and_all_of_another(
        trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    out, first, other = trained
    report = tmp_path / "eval.json"
    assert main(["signal", "evaluate", "--model", str(out), "--data", str(first),
                 "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    day = load_day(first)
    assert result["samples"] == int(split(day, 2.0).test.sum())
    assert result["rows"].startswith("test part")
    for key in ("auc", "ic", "baseline_auc", "baseline_ic", "samples", "horizon_s",
                "linear_auc", "hit_rate_top_decile"):
        assert key in result
    assert 0 <= result["auc"] <= 1 and -1 <= result["ic"] <= 1
    assert result["horizon_s"] == 2.0
    assert main(["signal", "evaluate", "--model", str(out), "--data", str(other),
                 "--json", str(report)]) == 0
    elsewhere = json.loads(report.read_text())
    assert elsewhere["rows"] == "whole file"
    labelled = ~np.isnan(load_day(other).labels_bps(2.0))
    assert elsewhere["samples"] == int(labelled.sum())


@needs_data
def test_a_level_one_model_ignores_what_only_a_deeper_book_shows(tmp_path: Path) -> None:
    from models.signal_train import train

    day = load_day(cut(tmp_path / "d", 0, 6_000))
    out = tmp_path / "l1.onnx"
    train([day.source], 1.0, out, levels=1, days=[day])
    model = SignalModel(out)
    assert model.metadata["execagent.signal_levels"] == "1"
    features = day.features[:2_000].copy()
    before = model.predict_batch(features)
    for name in DEEP_FEATURES:
        features[:, SIGNAL_FEATURE_NAMES.index(name)] = np.random.default_rng(1).uniform(
            -1, 1, len(features))
    assert np.array_equal(model.predict_batch(features), before)


def test_the_shipped_model_loads_and_says_what_it_learnt_on() -> None:
    model = SignalModel(SHIPPED)
    assert model.horizon_s == 5.0
    data = json.loads(model.metadata["execagent.signal_training_data"])
    assert [entry["ticker"] for entry in data] == ["GOOG"]
    assert int(model.metadata["execagent.signal_trees"]) <= 200


def _with_metadata(source: Path, target: Path, **changes: str) -> Path:
    proto = onnx.load(str(source))
    for entry in proto.metadata_props:
        if entry.key in changes:
            entry.value = changes[entry.key]
    onnx.save(proto, str(target))
    return target


def test_a_model_for_other_features_is_refused_naming_the_difference(tmp_path: Path) -> None:
    names = list(SIGNAL_FEATURE_NAMES)
    renamed = [*names[:-1], "queue_age"]
    path = _with_metadata(linear_signal_model(tmp_path / "a.onnx"), tmp_path / "b.onnx", **{
        "execagent.signal_features": json.dumps(renamed)})
    with pytest.raises(SignalModelError, match=r"the code has, the model lacks: event_rate.*"
                                               r"the model has, the code lacks: queue_age"):
        SignalModel(path)
    path = _with_metadata(linear_signal_model(tmp_path / "c.onnx"), tmp_path / "d.onnx", **{
        "execagent.signal_spec_hash": "0123456789abcdef"})
    with pytest.raises(SignalModelError, match="a feature's definition changed"):
        SignalModel(path)
    path = _with_metadata(linear_signal_model(tmp_path / "e.onnx"), tmp_path / "f.onnx", **{
        "execagent.signal_features": json.dumps(names[::-1])})
    with pytest.raises(SignalModelError, match="another order"):
        SignalModel(path)


def test_a_file_that_is_no_onnx_model_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(SignalModelError, match="not a valid ONNX model"):
        SignalModel(bad)
    with pytest.raises(SignalModelError, match="does not exist"):
        SignalModel(tmp_path / "missing.onnx")


@pytest.mark.parametrize("text, seconds", [("5s", 5.0), ("500ms", 0.5), ("1m", 60.0),
                                           ("30", 30.0)])
def test_horizons_are_read_as_durations(text: str, seconds: float) -> None:
    assert parse_horizon(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5s", "0s", "nan"])
def test_a_horizon_that_is_no_positive_duration_is_refused(text: str) -> None:
    with pytest.raises(SignalDataError):
        parse_horizon(text)


@needs_data
@pytest.mark.parametrize("rows, horizon, says", [
    (12_000, "30m", "too long"),
    (800, "1s", "rows for a 1 s horizon"),
])
def test_training_on_too_little_data_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int, horizon: str,
        says: str) -> None:
    data = cut(tmp_path / "d", 0, rows)
    code = main(["signal", "train", "--data", str(data), "--horizon", horizon, "--out",
                 str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_a_file_of_another_format_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "prices.csv"
    other.write_text("time,price\n1,2\n")
    for argv in (["signal", "train", "--data", str(other), "--out", str(tmp_path / "m.onnx")],
                 ["signal", "evaluate", "--model", str(SHIPPED), "--data", str(other)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not a LOBSTER sample" in err and len(err.strip().splitlines()) == 1


def test_evaluating_a_model_for_other_features_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _with_metadata(linear_signal_model(tmp_path / "a.onnx"), tmp_path / "b.onnx", **{
        "execagent.signal_spec_id": "execagent-signal-v0"})
    assert main(["signal", "evaluate", "--model", str(path), "--data", str(GOOG)]) == 2
    assert "execagent-signal-v0" in capsys.readouterr().err
