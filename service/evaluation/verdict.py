"""The product goal, judged on one parent's evaluation: does the RL policy beat every baseline?

Four criteria, each passed or failed on its own (in bps of arrival notional, a cost positive):
- mean: rl's mean shortfall at most :data:`MEAN_RATIO` times the best baseline's (the baseline
  with the lowest mean, the alpha-aware one included). A ratio only means "cheaper" for a
  positive cost well clear of zero: where the best baseline's mean is below
  :data:`RATIO_FLOOR_BPS` (near zero, or a gain), rl must instead be at least
  :data:`MARGIN_BPS` below it;
- paired: the upper bound of the paired 95% interval of ``rl - baseline`` below zero against
  every baseline (rl cost less, episode by episode, beyond the noise);
- timing risk: rl's shortfall standard deviation at most the best baseline's. Judged on the
  point values, as the goal states it; beside it, when given, the paired bootstrap 95% interval
  of rl's std minus the best baseline's says how far the episodes settle the comparison;
- risk denials: none of rl's orders denied by the risk overlay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.evaluation.compare import PairedDifference, PolicyStats

MEAN_RATIO = 0.85
RATIO_FLOOR_BPS = 1.0
MARGIN_BPS = 0.5


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    passed: bool
    value: float
    target: float
    rule: str
    ci95: tuple[float, float] | None = None  # of value - target, where one was measured

    def as_json(self) -> dict[str, object]:
        answer: dict[str, object] = {"pass": self.passed, "value": self.value,
                                     "target": self.target, "rule": self.rule}
        if self.ci95 is not None:
            answer["ci95_of_difference"] = list(self.ci95)
        return answer


@dataclass(frozen=True, slots=True)
class Verdict:
    best: PolicyStats
    worst: PairedDifference
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.criteria if not c.passed]

    def as_json(self) -> dict[str, object]:
        return {"pass": self.passed, "best_baseline": self.best.name,
                "best_baseline_is_bps_mean": self.best.is_bps_mean,
                "best_baseline_is_bps_std": self.best.is_bps_std,
                "worst_paired": {"baseline": self.worst.baseline,
                                 "ci95_bps": [self.worst.ci_low_bps, self.worst.ci_high_bps]},
                "criteria": {c.name: c.as_json() for c in self.criteria}}


def judge(rl: PolicyStats, baselines: Sequence[PolicyStats],
          diffs: Sequence[PairedDifference],
          std_diffs: Sequence[PairedDifference] = ()) -> Verdict:
    """The verdict on ``rl`` against ``baselines``, given ``rl - baseline`` for each of them
    (and, optionally, rl's std minus each baseline's, whose interval goes beside the timing
    risk criterion)."""
    if not baselines:
        raise ValueError("a verdict needs at least one baseline")
    if sorted(d.baseline for d in diffs) != sorted(b.name for b in baselines):
        raise ValueError("a verdict needs the paired difference against every baseline")
    best = min(baselines, key=lambda b: b.is_bps_mean)
    worst = max(diffs, key=lambda d: d.ci_high_bps)
    timing = next((d for d in std_diffs if d.baseline == best.name), None)
    return Verdict(best, worst, (
        mean_criterion(rl.is_bps_mean, best.is_bps_mean),
        Criterion("paired", worst.ci_high_bps < 0, worst.ci_high_bps, 0.0,
                  f"95% CI upper bound < 0 against every baseline (worst: {worst.baseline})"),
        Criterion("timing_risk", rl.is_bps_std <= best.is_bps_std, rl.is_bps_std,
                  best.is_bps_std, f"std <= {best.name}'s",
                  None if timing is None else (timing.ci_low_bps, timing.ci_high_bps)),
        Criterion("risk_denials", rl.risk_denials == 0, float(rl.risk_denials), 0.0,
                  "no risk denials"),
    ))


def mean_criterion(rl_mean: float, best_mean: float) -> Criterion:
    if best_mean >= RATIO_FLOOR_BPS:
        target = MEAN_RATIO * best_mean
        rule = f"mean <= {MEAN_RATIO:g} x best baseline's"
    else:
        target = best_mean - MARGIN_BPS
        rule = (f"best baseline's mean below {RATIO_FLOOR_BPS:g} bps: mean at least "
                f"{MARGIN_BPS:g} bps below it")
    return Criterion("mean", rl_mean <= target, rl_mean, target, rule)
