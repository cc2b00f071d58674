"""How far the simulation is from the real book: the baselines' costs and the market's stylised
facts, simulated against replayed.

A policy that learns in the simulation is only as good as the simulation's costs are the real
book's. So every baseline runs on the same parent order in both markets (the calibrated
stochastic flow, and the LOBSTER day replayed with the agent's impact), and the report gives,
per baseline, the ratio simulated / replayed of the mean implementation shortfall and of its
standard deviation; beside them the stylised facts of :mod:`sim.stylised` measured on the flow
and on the recorded day.

Named assumptions:
- Both sides of the parent are pooled by default (the same episodes for each): the simulated
  flow has no drift, a recorded day has a direction, and pooling the two sides takes the day's
  direction out of the mean cost (it adds to one side what it takes from the other).
- A ratio of means is only meaningful when the replayed mean is clearly away from zero; where
  its absolute value is below :data:`MIN_REPLAYED_BPS` the ratio is None (reported "n/a"), and
  the two means stand on their own.
- Each ratio comes with a 95% interval: a percentile bootstrap that resamples each market's
  episodes independently, an episode's buy and sell together, in moving blocks of
  ``round(episodes ** (1/3))`` consecutive episodes (at least one; the usual order of a block
  length for a variance). The replay's windows are evenly spaced over one day and overlap
  when there are many, so neighbours share part of their path: blocks keep that dependence,
  which resampling single episodes would hide and so narrow the interval. The simulated
  episodes are independent seeds, for which blocks cost a little precision and nothing else.
- The facts compared are scalars: the time-weighted mean spread, the standard deviation of the
  mid's change over 1 s, 60 s and 600 s (the last is a parent's horizon: what its timing risk
  follows), the rates of limit, cancel and market orders (all levels), and the mid's move
  after a market order by size, at once and 10 s later (the post-trade drift).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table

from service.evaluation.compare import PolicyStats
from sim.stylised import KINDS, SIZE_LABELS

MIN_REPLAYED_BPS = 0.05
BOOTSTRAP_RESAMPLES = 2_000

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class BaselineFidelity:
    name: str
    sim_mean_bps: float
    real_mean_bps: float
    sim_std_bps: float
    real_std_bps: float
    is_ratio_ci: Interval | None = None
    std_ratio_ci: Interval | None = None

    @property
    def is_ratio(self) -> float | None:
        return _ratio(self.sim_mean_bps, self.real_mean_bps, MIN_REPLAYED_BPS)

    @property
    def std_ratio(self) -> float | None:
        return _ratio(self.sim_std_bps, self.real_std_bps, 0.0)


def _ratio(simulated: float, replayed: float, floor: float) -> float | None:
    return simulated / replayed if abs(replayed) > floor else None


def baseline_fidelity(simulated: Sequence[PolicyStats], replayed: Sequence[PolicyStats],
                      intervals: Mapping[str, tuple[Interval | None, Interval | None]]
                      | None = None) -> list[BaselineFidelity]:
    """Per baseline run in both markets, in the simulated run's order; ``intervals``: each
    baseline's (mean ratio, std ratio) 95% intervals, :func:`ratio_intervals`."""
    real = {s.name: s for s in replayed}
    intervals = intervals or {}
    return [BaselineFidelity(s.name, s.is_bps_mean, real[s.name].is_bps_mean, s.is_bps_std,
                             real[s.name].is_bps_std, *intervals.get(s.name, (None, None)))
            for s in simulated if s.name in real]


def ratio_intervals(simulated: Sequence[Sequence[float]], replayed: Sequence[Sequence[float]],
                    seed: int = 0) -> tuple[Interval | None, Interval | None]:
    """95% intervals of the ratios simulated / replayed of the mean shortfall and of its
    standard deviation, each market given as its episodes in order, each episode its
    shortfalls on every side (the sides pooled, as the ratios are); None where there is no
    ratio (the replayed mean within :data:`MIN_REPLAYED_BPS` of zero, or no spread)."""
    rng = np.random.default_rng(seed)
    sim_means, sim_stds = _resampled(np.asarray(simulated, dtype=float), rng)
    real_means, real_stds = _resampled(np.asarray(replayed, dtype=float), rng)
    real_mean = float(np.mean(replayed))
    means = _interval(sim_means, real_means) if abs(real_mean) > MIN_REPLAYED_BPS else None
    stds = _interval(sim_stds, real_stds) if np.std(replayed) > 0 else None
    return means, stds


def _resampled(episodes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The pooled mean and standard deviation of each moving-block resample of ``episodes``
    (episodes x sides)."""
    count = len(episodes)
    block = max(1, round(count ** (1 / 3)))
    starts = rng.integers(0, count - block + 1, size=(BOOTSTRAP_RESAMPLES,
                                                      -(-count // block)))
    picks = (starts[:, :, None] + np.arange(block)).reshape(BOOTSTRAP_RESAMPLES, -1)[:, :count]
    pooled = episodes[picks].reshape(BOOTSTRAP_RESAMPLES, -1)
    spread = pooled.std(axis=1, ddof=1) if pooled.shape[1] > 1 else np.zeros(len(pooled))
    return pooled.mean(axis=1), spread


def _interval(simulated: np.ndarray, replayed: np.ndarray) -> Interval | None:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratios = simulated / replayed
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return None
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def scalar_facts(facts: Mapping[str, Any]) -> dict[str, float | None]:
    """The scalar facts compared, by name, from a :func:`sim.stylised` summary."""
    scalars: dict[str, float | None] = {
        "spread_mean_ticks": facts["spread_mean"],
        "mid_change_std_1s_ticks": facts["mid_change_std"]["1s"],
        "mid_change_std_60s_ticks": facts["mid_change_std"]["60s"],
        "mid_change_std_600s_ticks": facts["mid_change_std"]["600s"],
    }
    for kind in KINDS:
        scalars[f"{kind}_orders_per_s"] = sum(facts["rates_per_s"][kind].values())
    scalars["response_now_all_ticks"] = facts["response_now_all"]
    scalars["response_10s_all_ticks"] = facts["response_10s_all"]
    for size in SIZE_LABELS:
        scalars[f"response_now_{size}_ticks"] = facts["response_now"][size]
        scalars[f"response_10s_{size}_ticks"] = facts["response_10s"][size]
    return scalars


def fidelity_json(baselines: Sequence[BaselineFidelity], simulated_facts: Mapping[str, Any],
                  real_facts: Mapping[str, Any], episodes: int, data: str,
                  sides: Sequence[str]) -> dict[str, Any]:
    """``{"baselines": {NAME: {"is_ratio", "std_ratio", ...}}, "facts": {NAME: {"sim",
    "real"}}, "episodes", "sides", "data"}``; a ratio that cannot be taken is null.
    ``episodes`` is per market and side; the baselines' statistics pool the ``sides``."""
    sim, real = scalar_facts(simulated_facts), scalar_facts(real_facts)
    return {
        "baselines": {b.name: {"is_ratio": b.is_ratio, "std_ratio": b.std_ratio,
                               "is_ratio_ci": _listed(b.is_ratio_ci),
                               "std_ratio_ci": _listed(b.std_ratio_ci),
                               "sim_is_bps_mean": b.sim_mean_bps,
                               "real_is_bps_mean": b.real_mean_bps,
                               "sim_is_bps_std": b.sim_std_bps,
                               "real_is_bps_std": b.real_std_bps} for b in baselines},
        "facts": {name: {"sim": sim[name], "real": real[name]} for name in sim},
        "episodes": episodes,
        "sides": list(sides),
        "data": data,
    }


def baselines_table(baselines: Sequence[BaselineFidelity], title: str) -> Table:
    table = Table(title=title)
    for column in ("baseline", "IS mean sim", "IS mean replay", "ratio", "95% CI",
                   "IS std sim", "IS std replay", "std ratio", "95% CI"):
        table.add_column(column, justify="left" if column == "baseline" else "right")
    for b in baselines:
        table.add_row(b.name, f"{b.sim_mean_bps:.3f}", f"{b.real_mean_bps:.3f}",
                      _text(b.is_ratio), _interval_text(b.is_ratio_ci), f"{b.sim_std_bps:.3f}",
                      f"{b.real_std_bps:.3f}", _text(b.std_ratio),
                      _interval_text(b.std_ratio_ci))
    return table


def facts_table(document: Mapping[str, Any]) -> Table:
    table = Table(title="stylised facts")
    for column in ("fact", "sim", "real"):
        table.add_column(column, justify="left" if column == "fact" else "right")
    for name, pair in document["facts"].items():
        table.add_row(name, _text(pair["sim"]), _text(pair["real"]))
    return table


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _interval_text(interval: Interval | None) -> str:
    return "n/a" if interval is None else f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def _listed(interval: Interval | None) -> list[float] | None:
    return None if interval is None else list(interval)
