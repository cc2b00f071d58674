"""How good a signal is, out of sample: direction AUC, information coefficient, confident hit rate,
and paired intervals against a baseline.

- **AUC**: on the rows where the mid moves over the horizon, the probability that a row whose mid
  rose got a higher score than one whose mid fell (ROC AUC of the score for "up"; 0.5 is chance).
- **IC**: Spearman rank correlation of the score with the realised change, on every row.
- **Hit rate of the most confident decile**: among the rows where the mid moves, those whose
  absolute score is in the top 10%, the share whose sign matches the move's.
- **Paired intervals**: the model's AUC and IC minus the baseline's, on the same rows, with a
  95% percentile interval from a block bootstrap: the day is cut into blocks of
  :data:`BLOCK_S` seconds of event time and whole blocks are resampled, because overlapping
  labels make neighbouring rows far from independent (resampling rows would give intervals
  that are much too narrow).

Needs the ``train`` extra (scikit-learn, SciPy); the daemon never imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from models.signal import SignalModel
from models.signal_data import MIN_ROWS_PER_PART, SignalDataError, SignalDay, load_day
from models.signal_features import SIGNAL_FEATURE_NAMES
from models.signal_train import linear_predict

BLOCK_S = 60.0
BOOTSTRAP_RESAMPLES = 200
TOP_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class Scores:
    auc: float
    ic: float
    hit_rate_top_decile: float

    def as_dict(self) -> dict[str, float]:
        return {"auc": round(self.auc, 4), "ic": round(self.ic, 4),
                "hit_rate_top_decile": round(self.hit_rate_top_decile, 4)}


def scores(score: np.ndarray, change: np.ndarray) -> Scores:
    """AUC, IC and top-decile hit rate of ``score`` against the realised ``change``."""
    moved = change != 0
    auc = float(roc_auc_score(change[moved] > 0, score[moved])) if _two_classes(change[moved]) \
        else float("nan")
    ic = float(spearmanr(score, change).statistic) if np.ptp(score) > 0 else 0.0
    confidence = np.abs(score[moved])
    if confidence.size == 0:
        return Scores(auc, ic, float("nan"))
    top = confidence >= np.quantile(confidence, 1 - TOP_FRACTION)
    hits = np.sign(score[moved][top]) == np.sign(change[moved][top])
    return Scores(auc, ic, float(hits.mean()))


def _two_classes(change: np.ndarray) -> bool:
    return bool(change.size and (change > 0).any() and (change < 0).any())


@dataclass(frozen=True, slots=True)
class PairedInterval:
    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, object]:
        return {"diff": round(float(self.mean), 4),
                "ci95": [round(float(self.low), 4), round(float(self.high), 4)]}


def paired_intervals(model: np.ndarray, baseline: np.ndarray, change: np.ndarray,
                     ts_ns: np.ndarray, seed: int = 7,
                     resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, PairedInterval]:
    """Block-bootstrap 95% intervals of AUC(model) - AUC(baseline) and IC(model) - IC(baseline)
    on the same rows (module doc)."""
    blocks = ((ts_ns - ts_ns[0]) // int(BLOCK_S * 1e9)).astype(np.int64)
    ids, starts = np.unique(blocks, return_index=True)
    ends = np.append(starts[1:], len(blocks))
    rng = np.random.default_rng(seed)
    auc_diffs, ic_diffs = [], []
    for _ in range(resamples):
        chosen = rng.integers(0, len(ids), len(ids))
        rows = np.concatenate([np.arange(starts[i], ends[i]) for i in chosen])
        m, b = scores(model[rows], change[rows]), scores(baseline[rows], change[rows])
        auc_diffs.append(m.auc - b.auc)
        ic_diffs.append(m.ic - b.ic)
    full_m, full_b = scores(model, change), scores(baseline, change)
    return {
        "auc": PairedInterval(full_m.auc - full_b.auc, *np.nanpercentile(auc_diffs, [2.5, 97.5])),
        "ic": PairedInterval(full_m.ic - full_b.ic, *np.nanpercentile(ic_diffs, [2.5, 97.5])),
    }


def evaluate(model_path: Path, data_path: Path, day: SignalDay | None = None) -> dict[str, Any]:
    """The model at ``model_path`` against the imbalance and linear baselines on ``data_path``:
    its test part when the model was trained on that file (same message file, by SHA-256),
    else every labelled row. ``day``: the file already loaded (tests)."""
    model = SignalModel(model_path)
    meta = model.metadata
    horizon_s = model.horizon_s
    day = day if day is not None else load_day(data_path)
    change = day.labels_bps(horizon_s)
    rows = ~np.isnan(change)
    trained_on = [entry for entry in json.loads(meta.get("execagent.signal_training_data", "[]"))
                  if entry.get("sha256") == day.sha256]
    part = "whole file"
    if trained_on:
        rows &= day.ts_ns >= int(trained_on[0]["test_start_ns"])
        part = "test part (the last 20% of the day; the model trained on the first 60%)"
    if rows.sum() < MIN_ROWS_PER_PART:
        raise SignalDataError(f"{data_path}: only {int(rows.sum())} rows with a "
                              f"{horizon_s:g} s label to evaluate on (at least "
                              f"{MIN_ROWS_PER_PART} needed)")
    features, change, ts = day.features[rows], change[rows], day.ts_ns[rows]
    predicted = model.predict_batch(features).astype(np.float64)
    imbalance = features[:, SIGNAL_FEATURE_NAMES.index("imbalance_1")].astype(np.float64)
    linear = linear_predict(json.loads(meta["execagent.signal_linear_baseline"]), features)
    m, b, lin = scores(predicted, change), scores(imbalance, change), scores(linear, change)
    versus_imbalance = paired_intervals(predicted, imbalance, change, ts)
    versus_linear = paired_intervals(predicted, linear, change, ts)
    return {
        "auc": round(m.auc, 4), "ic": round(m.ic, 4),
        "hit_rate_top_decile": round(m.hit_rate_top_decile, 4),
        "baseline_auc": round(b.auc, 4), "baseline_ic": round(b.ic, 4),
        "baseline_hit_rate_top_decile": round(b.hit_rate_top_decile, 4),
        "linear_auc": round(lin.auc, 4), "linear_ic": round(lin.ic, 4),
        "linear_hit_rate_top_decile": round(lin.hit_rate_top_decile, 4),
        "vs_baseline": {k: v.as_dict() for k, v in versus_imbalance.items()},
        "vs_linear": {k: v.as_dict() for k, v in versus_linear.items()},
        "samples": int(rows.sum()), "samples_mid_moved": int((change != 0).sum()),
        "horizon_s": horizon_s, "rows": part, "file": day.source.name, "ticker": day.ticker,
        "date": day.date, "file_levels": day.levels,
        "model_levels": int(meta.get("execagent.signal_levels", "10")),
        "block_bootstrap": {"block_s": BLOCK_S, "resamples": BOOTSTRAP_RESAMPLES},
    }
