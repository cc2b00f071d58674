"""``execagent evaluate``: every policy through the live engine on the same held-out episodes.

It lives in ``service/``, not ``models/``: backtest equals live, so it runs
:func:`service.evaluation.backtest.run_episode`, which composes the service's own engine, and
imports point from ``service`` to ``models``, never back.

Paired by construction: episode ``k`` has one seed (simulation) or one window of the day
(replay), and every policy trades that same market, so policy differences are measured episode
by episode. Simulated episodes use seeds from :data:`~models.training_config.EVALUATION_SEED_BASE`
upwards, a range training never draws from. Statistics (in bps of arrival notional, a cost is
positive):
- per policy: shortfall mean, median and standard deviation (the standard deviation *is* the
  timing risk: how much the outcome varies with the market the order met), market impact,
  fill rate;
- per baseline: the paired difference ``rl - baseline`` with a percentile bootstrap 95%
  confidence interval (10,000 resamples of the episodes, seeded).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.domain import Instrument
from models.policy import ExecutionPolicy
from models.signal import SignalModel
from risk.limits import RiskLimits
from service.evaluation.backtest import (
    EpisodeResult,
    EpisodeSpec,
    run_episode,
    unperturbed_mid_path,
)
from service.metrics import Metrics
from sim.exchange import Exchange

BOOTSTRAP_RESAMPLES = 10_000
ExchangeForEpisode = Callable[[int], Exchange]
"""Builds episode ``k``'s market; called once per policy and once more for the unperturbed
path, and must give the same market every time for the same ``k``."""


@dataclass(frozen=True, slots=True)
class PolicyStats:
    name: str
    episodes: int
    is_bps_mean: float
    is_bps_median: float
    is_bps_std: float
    impact_bps_mean: float
    fill_rate: float
    child_orders_mean: float
    risk_denials: int

    def as_json(self) -> dict[str, float]:
        return {"is_bps_mean": self.is_bps_mean, "is_bps_median": self.is_bps_median,
                "is_bps_std": self.is_bps_std, "impact_bps_mean": self.impact_bps_mean,
                "fill_rate": self.fill_rate, "child_orders_mean": self.child_orders_mean,
                "risk_denials": self.risk_denials}


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """``policy - baseline`` shortfall, episode by episode."""

    policy: str
    baseline: str
    mean_bps: float
    ci_low_bps: float
    ci_high_bps: float

    @property
    def excludes_zero(self) -> bool:
        return self.ci_high_bps < 0 or self.ci_low_bps > 0


def run_evaluation(
    policies: Sequence[ExecutionPolicy],
    exchange_for: ExchangeForEpisode,
    episodes: Sequence[int],
    spec: EpisodeSpec,
    instrument: Instrument,
    limits: RiskLimits,
    on_episode: Callable[[str, EpisodeResult], None] | None = None,
    signal_model: SignalModel | None = None,
) -> dict[str, list[EpisodeResult]]:
    """Each policy on each episode; results in episode order, per policy name. The engine runs
    ``signal_model`` (the price signal) for every policy when one is given."""
    metrics = Metrics()
    results: dict[str, list[EpisodeResult]] = {policy.name: [] for policy in policies}
    horizon_end_pad_s = spec.warmup_s + spec.horizon_s + spec.horizon_grace_s + 60
    for episode in episodes:
        reference = exchange_for(episode)
        unperturbed = unperturbed_mid_path(
            reference, reference.now_ns + int(horizon_end_pad_s * 1e9))
        for policy in policies:
            result = run_episode(policy, exchange_for(episode), spec, instrument, limits,
                                 metrics, episode, unperturbed, signal_model=signal_model)
            results[policy.name].append(result)
            if on_episode is not None:
                on_episode(policy.name, result)
    return results


def policy_stats(name: str, results: Sequence[EpisodeResult]) -> PolicyStats:
    if not results:
        raise ValueError(f"no episodes for policy {name}")
    shortfalls = [r.shortfall_bps for r in results]
    return PolicyStats(
        name=name, episodes=len(results),
        is_bps_mean=statistics.fmean(shortfalls),
        is_bps_median=statistics.median(shortfalls),
        is_bps_std=statistics.stdev(shortfalls) if len(shortfalls) > 1 else 0.0,
        impact_bps_mean=statistics.fmean(r.impact_bps for r in results),
        fill_rate=sum(r.filled for r in results) / sum(r.qty for r in results),
        child_orders_mean=statistics.fmean(r.child_orders for r in results),
        risk_denials=sum(r.risk_denials for r in results))


def paired_difference(policy: Sequence[EpisodeResult], baseline: Sequence[EpisodeResult],
                      seed: int = 0) -> PairedDifference:
    """Mean of ``policy - baseline`` over the same episodes, with a bootstrap 95% interval."""
    ours, theirs = _paired(policy, baseline)
    diffs = ours - theirs
    means = diffs[_resamples(len(diffs), seed)].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(policy[0].policy, baseline[0].policy, float(diffs.mean()),
                            float(low), float(high))


def paired_std_difference(policy: Sequence[EpisodeResult], baseline: Sequence[EpisodeResult],
                          seed: int = 0) -> PairedDifference:
    """``policy``'s shortfall std minus ``baseline``'s over the same episodes (timing risk),
    with a bootstrap 95% interval: each resample draws the same episodes for both, so a
    market that moves both costs alike moves both stds alike. Needs two episodes or more."""
    ours, theirs = _paired(policy, baseline)
    if len(ours) < 2:
        raise ValueError("a standard deviation needs two episodes or more")
    picks = _resamples(len(ours), seed)
    stds = ours[picks].std(axis=1, ddof=1) - theirs[picks].std(axis=1, ddof=1)
    low, high = np.percentile(stds, [2.5, 97.5])
    return PairedDifference(policy[0].policy, baseline[0].policy,
                            float(ours.std(ddof=1) - theirs.std(ddof=1)), float(low),
                            float(high))


def _paired(policy: Sequence[EpisodeResult],
            baseline: Sequence[EpisodeResult]) -> tuple[np.ndarray, np.ndarray]:
    if [r.seed for r in policy] != [r.seed for r in baseline]:
        raise ValueError("paired differences need the same episodes in the same order")
    return (np.array([r.shortfall_bps for r in policy]),
            np.array([r.shortfall_bps for r in baseline]))


def _resamples(n: int, seed: int) -> np.ndarray:
    """:data:`BOOTSTRAP_RESAMPLES` draws of ``n`` episode indices, with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
