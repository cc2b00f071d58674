"""``execagent signal train``: the short-horizon price model, from LOBSTER days to ONNX.

What it does, in order:
1. each day's rows and labels (:mod:`models.signal_data`), split by time into train,
   validation and test with embargoes;
2. LightGBM gradient boosting on the training rows of every day, the number of trees chosen
   by early stopping on the validation rows (at most :data:`MAX_TREES`: the model runs on
   every tick, and its cost grows with the trees);
3. the linear baseline: ridge regression on the same standardised features and rows, kept in
   the model file's metadata so that ``execagent signal evaluate`` compares on the same rows;
4. export to ONNX (onnxmltools' LightGBM converter), checked equal to the native model on
   :data:`EQUALITY_ROWS` rows, and loaded back through the run-time's own checks.

Named assumptions: the loss is Huber's with a 2 bps threshold (the 5 s mid change of GOOG has
heavy tails: a few large moves would otherwise steer the squared loss); a level-1 model
(``levels=1``) is trained with the deep features set to zero, so no tree splits on them and it
reads only what a level-1 feed shows, whatever the other columns hold when it is served.

Needs the ``train`` extra (LightGBM, onnxmltools, scikit-learn); the daemon never imports it.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.signal import INPUT_NAME, OUTPUT_NAME, SignalModel
from models.signal_data import SignalDay, Split, load_day, split
from models.signal_features import (
    DEEP_FEATURES,
    N_SIGNAL_FEATURES,
    SIGNAL_FEATURE_NAMES,
    SIGNAL_SPEC_HASH,
    SIGNAL_SPEC_ID,
)

MAX_TREES = 200
EARLY_STOPPING_ROUNDS = 50
EQUALITY_ROWS = 10_000
EQUALITY_TOLERANCE_BPS = 1e-4
ONNX_OPSET = 15  # the highest onnxmltools 1.16 converts LightGBM to
HUBER_ALPHA_BPS = 2.0
LGBM_PARAMS: dict[str, Any] = {
    "objective": "huber", "alpha": HUBER_ALPHA_BPS, "learning_rate": 0.05, "num_leaves": 15,
    "min_child_samples": 200, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
    "n_jobs": 1, "deterministic": True, "verbose": -1,
}


class SignalTrainingError(ValueError):
    """Training could not produce a usable model; the message says why."""


@dataclass(frozen=True, slots=True)
class Trained:
    out: Path
    trees: int
    train_rows: int
    validation_rows: int
    max_onnx_difference_bps: float
    days: list[tuple[SignalDay, Split]]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def level_mask(features: np.ndarray, levels: int) -> np.ndarray:
    """The features a model of ``levels`` book levels trains on: with 1, the deep ones zero."""
    if levels >= 10:
        return features
    masked = features.copy()
    for name in DEEP_FEATURES:
        masked[:, SIGNAL_FEATURE_NAMES.index(name)] = 0.0
    return masked


def train(paths: list[Path], horizon_s: float, out: Path, levels: int = 10,
          seed: int = 7, days: list[SignalDay] | None = None) -> Trained:
    """Train on every day's training part and write the ONNX model to ``out``. ``days``: the
    days already loaded (tests), else read from ``paths``."""
    import lightgbm as lgb

    loaded = days if days is not None else [load_day(path) for path in paths]
    parts = [(day, split(day, horizon_s)) for day in loaded]
    x_train = np.vstack([level_mask(d.features[s.train], levels) for d, s in parts])
    y_train = np.concatenate([d.labels_bps(horizon_s)[s.train] for d, s in parts])
    x_val = np.vstack([level_mask(d.features[s.validation], levels) for d, s in parts])
    y_val = np.concatenate([d.labels_bps(horizon_s)[s.validation] for d, s in parts])
    model = lgb.LGBMRegressor(n_estimators=MAX_TREES, random_state=seed, **LGBM_PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*eval_set.*")
        model.fit(x_train, y_train, eval_set=[(x_val, y_val)],
                  callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
    trees = int(model.best_iteration_ or MAX_TREES)
    linear = _linear_baseline(x_train, y_train)
    metadata = {
        "execagent.signal_spec_id": SIGNAL_SPEC_ID,
        "execagent.signal_spec_hash": SIGNAL_SPEC_HASH,
        "execagent.signal_features": json.dumps(list(SIGNAL_FEATURE_NAMES)),
        "execagent.signal_horizon_s": repr(float(horizon_s)),
        "execagent.signal_levels": str(levels),
        "execagent.signal_training_data": json.dumps([
            {"file": d.source.name, "ticker": d.ticker, "date": d.date, "sha256": d.sha256,
             "train_end_ns": s.boundaries_ns[0] - s.embargo_ns,
             "validation_start_ns": s.boundaries_ns[0], "test_start_ns": s.boundaries_ns[1],
             "embargo_s": s.embargo_ns / 1e9} for d, s in parts]),
        "execagent.signal_linear_baseline": json.dumps(linear),
        "execagent.signal_trees": str(trees),
        "execagent.signal_lightgbm_params": json.dumps(LGBM_PARAMS, sort_keys=True),
        "execagent.seed": str(seed),
        "execagent.git_commit": git_commit(),
        "execagent.trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _export(model.booster_, trees, out, metadata)
    sample = np.vstack([d.features for d in loaded])
    rows = np.random.default_rng(seed).choice(len(sample), min(EQUALITY_ROWS, len(sample)),
                                              replace=False)
    native = model.booster_.predict(level_mask(sample[rows], levels), num_iteration=trees)
    served = SignalModel(out).predict_batch(sample[rows])
    difference = float(np.max(np.abs(native - served)))
    if difference > EQUALITY_TOLERANCE_BPS:
        raise SignalTrainingError(f"the ONNX model differs from LightGBM's by up to "
                                  f"{difference:.3g} bps on {len(rows):,} rows (tolerance "
                                  f"{EQUALITY_TOLERANCE_BPS:g}): not written as equal")
    return Trained(out, trees, len(y_train), len(y_val), difference, parts)


def _linear_baseline(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Ridge regression on standardised features: its parameters, for numpy to apply."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    ridge = Ridge(alpha=1.0).fit(scaler.transform(x), y)
    return {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_)}


def linear_predict(params: dict[str, Any], features: np.ndarray) -> np.ndarray:
    mean, scale = np.asarray(params["mean"]), np.asarray(params["scale"])
    return ((features - mean) / scale) @ np.asarray(params["coef"]) + float(params["intercept"])


def _export(booster: Any, trees: int, out: Path, metadata: dict[str, str]) -> None:
    import onnx
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    # A booster cut to the chosen trees: the converter exports every tree it is given.
    cut = type(booster)(model_str=booster.model_to_string(num_iteration=trees))
    proto = convert_lightgbm(cut, initial_types=[(INPUT_NAME,
                                                  FloatTensorType([None, N_SIGNAL_FEATURES]))],
                             target_opset=ONNX_OPSET, zipmap=False)
    output = proto.graph.output[0].name
    if output != OUTPUT_NAME:
        for node in proto.graph.node:
            node.output[:] = [OUTPUT_NAME if name == output else name for name in node.output]
        proto.graph.output[0].name = OUTPUT_NAME
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
