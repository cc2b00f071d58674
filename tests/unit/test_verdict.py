"""The product goal's verdict on one parent, on constructed statistics."""

import numpy as np
import pytest

from service.evaluation.backtest import EpisodeResult
from service.evaluation.compare import PairedDifference, PolicyStats, paired_std_difference
from service.evaluation.verdict import judge


def _stats(name: str, mean: float, std: float = 2.0, denials: int = 0) -> PolicyStats:
    return PolicyStats(name, 40, mean, mean, std, 0.0, 1.0, 6.0, denials)


def _diff(baseline: str, low: float, high: float) -> PairedDifference:
    return PairedDifference("rl", baseline, (low + high) / 2, low, high)


BASELINES = [_stats("twap", 10.0), _stats("almgren_chriss_alpha", 8.0, std=3.0)]
CLEAR_WIN = [_diff("twap", -4.0, -2.0), _diff("almgren_chriss_alpha", -2.0, -0.5)]


def _criteria(rl: PolicyStats, baselines: list[PolicyStats],
              diffs: list[PairedDifference]) -> dict[str, bool]:
    return {c.name: c.passed for c in judge(rl, baselines, diffs).criteria}


def test_a_clear_win_passes_every_criterion_against_the_best_baseline() -> None:
    verdict = judge(_stats("rl", 6.8, std=2.5), BASELINES, CLEAR_WIN)
    # The alpha-aware baseline is the best one: the goal is measured against it.
    assert verdict.best.name == "almgren_chriss_alpha"
    assert verdict.criteria[0].target == pytest.approx(0.85 * 8.0)
    assert verdict.passed and verdict.failed == []


def test_each_criterion_fails_on_its_own() -> None:
    assert _criteria(_stats("rl", 6.9, std=2.5), BASELINES, CLEAR_WIN) == {
        "mean": False, "paired": True, "timing_risk": True, "risk_denials": True}
    assert _criteria(_stats("rl", 6.0, std=3.1), BASELINES, CLEAR_WIN)["timing_risk"] is False
    denied = judge(_stats("rl", 6.0, denials=1), BASELINES, CLEAR_WIN)
    assert denied.failed == ["risk_denials"] and not denied.passed


def test_an_interval_touching_zero_fails_and_names_the_baseline() -> None:
    touching = [_diff("twap", -4.0, -2.0), _diff("almgren_chriss_alpha", -2.0, 0.0)]
    verdict = judge(_stats("rl", 6.0), BASELINES, touching)
    assert verdict.failed == ["paired"] and verdict.worst.baseline == "almgren_chriss_alpha"


@pytest.mark.parametrize(("best", "rl", "passes"), [
    (0.4, -0.1, True),     # near zero: 0.5 bps below, though not 0.85 x
    (0.4, 0.0, False),     # 0.85 x 0.4 = 0.34 would pass; 0.4 bps below is not enough
    (-3.0, -3.5, True),    # a gain: at least 0.5 bps more of it
    (-3.0, -3.2, False),   # 0.85 x -3.0 = -2.55 would let rl gain less than the baseline
    (1.0, 0.85, True),     # from 1 bps up the ratio rule holds
    (1.0, 0.86, False),
])
def test_a_best_baseline_below_one_bps_needs_half_a_bps_instead_of_the_ratio(
        best: float, rl: float, passes: bool) -> None:
    verdict = judge(_stats("rl", rl), [_stats("vwap", best)], [_diff("vwap", -1.0, -0.1)])
    assert verdict.criteria[0].passed is passes


def test_every_baseline_needs_its_paired_difference() -> None:
    with pytest.raises(ValueError, match="every baseline"):
        judge(_stats("rl", 1.0), BASELINES, CLEAR_WIN[:1])
    with pytest.raises(ValueError, match="at least one baseline"):
        judge(_stats("rl", 1.0), [], [])


def _episodes(policy: str, shortfalls: list[float]) -> list[EpisodeResult]:
    return [EpisodeResult(policy, seed, 100, 100, 10_000.0, bps, 0.0, 1, 0)
            for seed, bps in enumerate(shortfalls)]


def test_the_std_difference_is_paired_and_its_interval_brackets_it() -> None:
    rng = np.random.default_rng(3)
    market = rng.normal(0.0, 5.0, 60)  # what every policy's episode shares
    baseline = _episodes("twap", list(market + rng.normal(0.0, 1.0, 60)))
    wider = _episodes("rl", list(1.5 * market + rng.normal(0.0, 1.0, 60)))
    diff = paired_std_difference(wider, baseline)
    ours = np.std([r.shortfall_bps for r in wider], ddof=1)
    theirs = np.std([r.shortfall_bps for r in baseline], ddof=1)
    assert diff.mean_bps == pytest.approx(ours - theirs)
    assert 0.0 < diff.ci_low_bps < diff.mean_bps < diff.ci_high_bps  # clearly wider
    # Identical shortfalls: no difference, in any resample.
    same = paired_std_difference(baseline, _episodes("rl", [r.shortfall_bps for r in baseline]))
    assert same.mean_bps == 0.0 and same.ci_low_bps == same.ci_high_bps == 0.0
    with pytest.raises(ValueError, match="same episodes"):
        paired_std_difference(wider[1:], baseline[:-1])
    with pytest.raises(ValueError, match="two episodes"):
        paired_std_difference(wider[:1], baseline[:1])


def test_the_timing_risk_criterion_carries_the_interval_against_the_best_baseline() -> None:
    std_diffs = [_diff("twap", -9.0, -8.0), _diff("almgren_chriss_alpha", -0.4, 1.1)]
    verdict = judge(_stats("rl", 6.8, std=3.2), BASELINES, CLEAR_WIN, std_diffs)
    timing = next(c for c in verdict.criteria if c.name == "timing_risk")
    # Judged on the values (3.2 against 3.0), the interval beside it, against the best.
    assert not timing.passed and timing.ci95 == (-0.4, 1.1)
    assert timing.as_json()["ci95_of_difference"] == [-0.4, 1.1]
    plain = judge(_stats("rl", 6.8, std=3.2), BASELINES, CLEAR_WIN)
    assert "ci95_of_difference" not in next(
        c for c in plain.criteria if c.name == "timing_risk").as_json()
