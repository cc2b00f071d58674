"""The posture model as served: its HMM filter is hmmlearn's, its file is checked, its scores
read the right way round."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM

from models.posture.machine import Thresholds
from models.posture.market_state import N_POSTURE_FEATURES, POSTURE_SPEC_HASH, MarketState
from models.posture.model import (
    PostureModelError,
    PostureParams,
    PostureScorer,
    load_posture_model,
)
from tests.support.posture import small_params

ROOT = Path(__file__).resolve().parents[2]
NS = 1_000_000_000


def test_the_forward_filter_is_hmmlearns_posterior_at_each_last_observation() -> None:
    rng = np.random.default_rng(3)
    hmm = GaussianHMM(n_components=3, covariance_type="diag", random_state=0, n_iter=20)
    data = np.vstack([rng.normal(0, 1, (200, N_POSTURE_FEATURES)),
                      rng.normal(2, 2, (100, N_POSTURE_FEATURES))])
    hmm.fit(data)
    variances = np.array([np.diag(c) for c in hmm.covars_])
    params = PostureParams(
        median=(0.0,) * 5, scale=(1.0,) * 5, extreme=(10.0,) * 5, har=(0.25, 0, 0, 0),
        vol_median=0.5, startprob=tuple(hmm.startprob_),
        transmat=tuple(tuple(r) for r in hmm.transmat_), means=tuple(tuple(r) for r in
                                                                    hmm.means_),
        variances=tuple(tuple(r) for r in variances), turbulent=0, thresholds=Thresholds(),
        warmup_s=0.0, reference={}, metadata={})
    scorer = PostureScorer(params)
    state = MarketState()
    observations = rng.normal(1, 1.5, (12, N_POSTURE_FEATURES))
    # The HMM observes z-scores signed so that trouble is positive: depth's sign flips.
    signs = np.array([1.0, -1.0, 1.0, 1.0, 1.0])
    scorer.score(state, NS)  # the first tick sets the filter's clock; each second then steps
    prior = np.asarray(hmm.startprob_)
    for t, x in enumerate(observations):
        state.values = list(x * signs)
        scorer.score(state, (t + 2) * NS)
        prior = prior @ hmm.transmat_
        likelihood = np.exp([np.sum(-0.5 * ((x - m) ** 2 / v + np.log(2 * np.pi * v)))
                             for m, v in zip(hmm.means_, variances, strict=True)])
        posterior = prior * likelihood / np.sum(prior * likelihood)
        assert np.allclose(scorer.regime_probabilities, posterior, atol=1e-9)
        prior = posterior
    # And hmmlearn's smoothed posterior at a sequence's last row is the filtered one.
    sequence = observations[:6]
    last = hmm.predict_proba(sequence)[-1]
    filtered = np.asarray(hmm.startprob_)
    for k, x in enumerate(sequence):
        if k:
            filtered = filtered @ hmm.transmat_
        lik = np.exp([np.sum(-0.5 * ((x - m) ** 2 / v + np.log(2 * np.pi * v)))
                      for m, v in zip(hmm.means_, variances, strict=True)])
        filtered = filtered * lik / np.sum(filtered * lik)
    assert np.allclose(last, filtered, atol=1e-6)


def test_the_shipped_model_loads_and_matches_the_features() -> None:
    params = load_posture_model(ROOT / "models" / "artifacts" / "posture.json")
    assert params.thresholds.stressed > params.thresholds.elevated
    assert params.metadata["posture_time_seconds"]["held_out"]["stressed"] == 0.0
    assert set(params.reference["features"]) == {"spread", "depth", "jump", "message_rate",
                                                 "cancel_rate"}


def test_a_model_for_other_features_or_a_broken_file_is_refused(tmp_path: Path) -> None:
    doc = small_params().to_json()
    wrong = dict(doc, posture_spec_hash="0" * 16)
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(PostureModelError, match=POSTURE_SPEC_HASH):
        load_posture_model(tmp_path / "wrong.json")
    broken = dict(doc, robust={"median": [0.0], "scale": [1.0], "extreme": [1.0]})
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(PostureModelError, match="shapes"):
        load_posture_model(tmp_path / "broken.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(PostureModelError, match="cannot be read"):
        load_posture_model(tmp_path / "junk.json")
    with pytest.raises(PostureModelError, match="does not exist"):
        load_posture_model(tmp_path / "none.json")
    assert load_posture_model(_write(tmp_path, doc)).turbulent == 1


def _write(folder: Path, doc: dict[str, object]) -> Path:
    path = folder / "ok.json"
    path.write_text(json.dumps(doc))
    return path


def test_trouble_reads_as_trouble_in_every_direction() -> None:
    scorer = PostureScorer(small_params())
    state = MarketState()
    state.elapsed_s = 1e6
    for index, value in ((0, 5.0), (1, -5.0), (2, 5.0), (3, 5.0), (4, 5.0)):
        state.values = [0.0] * N_POSTURE_FEATURES
        state.values[index] = value
        scorer.score(state, NS)
        assert scorer.anomaly == pytest.approx(0.5) and scorer.driver == index
    state.values = [0.0, 5.0, -5.0, 0.0, 0.0]  # more depth, a smaller jump: nothing wrong
    scorer.score(state, NS)
    assert scorer.anomaly == 0.0


def test_scores_stay_calm_during_the_warm_up() -> None:
    scorer = PostureScorer(small_params(warmup_s=60.0))
    state = MarketState()
    state.values = [50.0] * N_POSTURE_FEATURES
    state.elapsed_s = 30.0
    scorer.score(state, NS)
    assert scorer.anomaly == 0.0
