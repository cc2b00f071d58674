"""The market ``execagent train`` episodes trade in, as its configuration says: the simulated
flow (``market_params``, randomised per episode with ``randomise``), a recorded day
(``replay``), or a mix of the two (``replay.share``); and the words run.json records for it.

A replay window reserves the longest episode the configuration can draw
(:attr:`~models.training_config.EpisodeConfig.longest_seconds`: warm-up, the longest task
horizon, the grace and a minute for the sweep), whatever the episode's own task: the factory
is built once, before any task is drawn, and so every episode, short or long, lies inside the
window. What that costs: a short episode never starts in the last stretch of the window that a
longest one would overrun.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from models.domain_randomisation import DomainRanges
from models.env import ExchangeFactory, mixed_market, replay_market, simulated_market
from models.task import market_volume_per_s
from models.training_config import RandomiseConfig, ReplayConfig, TrainConfig
from sim.calibrate import load_flow_params
from sim.day_window import window_ns
from sim.impact_fit import calibrated_impact
from sim.lobster import open_sample
from sim.profile import executed_per_second
from sim.propagator import ImpactParams


def training_market(config: TrainConfig) -> tuple[ExchangeFactory, str]:
    """The episodes' market factory and what it is, in words."""
    episode = config.episode
    simulated = simulated_market(load_flow_params(config.market_params), symbol=config.symbol,
                                 ranges=domain_ranges(config.randomise))
    simulated_text = f"stochastic flow, parameters {config.market_params}"
    if config.randomise is not None:
        simulated_text += f", randomised per episode ({_ranges_text(config.randomise)})"
    replay = config.replay
    if replay is None or replay.share == 0:
        return simulated, simulated_text
    impact, impact_text = replay_impact(replay)
    replayed = replay_market(replay.data, config.symbol, episode.longest_seconds,
                             impact=impact, window_ns=replay_window_ns(replay))
    replay_text = (f"replay of {replay.data.name}, episodes inside {replay.window} New York "
                   f"time, {impact_text}")
    if replay.held_out is not None:
        replay_text += (f", {replay.held_out} held out with a {replay.embargo_minutes:g} min "
                        "embargo")
    if replay.share == 1:
        return replayed, replay_text
    return (mixed_market(replayed, simulated, replay.share),
            f"{replay.share:.0%} of episodes {replay_text}; the others {simulated_text}")


def task_volume_per_s(config: TrainConfig) -> float:
    """The volume rate a drawn task's participation is measured against, and which the trained
    range records: with replay episodes, the recorded day's executed shares per second
    (visible and hidden, as ``execagent evaluate --data`` measures a participation), so that a
    parent called 8% in training is the 8% the evaluation and the engine call it; otherwise
    the calibrated flow's traded shares per second. In a mix the simulated episodes are sized
    at the day's rate too (the flow, calibrated on visible trades only, trades less: 19.5
    against 30.2 shares/s on GOOG 2012-06-21)."""
    replay = config.replay
    if replay is not None and replay.share > 0:
        return _executed_per_second(replay.data)
    return market_volume_per_s(load_flow_params(config.market_params))


@cache  # reads the whole day: once per file, not per worker
def _executed_per_second(path: Path) -> float:
    return executed_per_second(open_sample(path).read().messages)


def domain_ranges(randomise: RandomiseConfig | None) -> DomainRanges | None:
    if randomise is None:
        return None
    return DomainRanges(randomise.activity, randomise.market_size, randomise.spread,
                        randomise.depth, randomise.impact)


def replay_window_ns(replay: ReplayConfig) -> tuple[int, int]:
    """The training window in event times, cut to the data."""
    times = open_sample(replay.data).read().messages.ts_ns
    return window_ns(replay.window, int(times[0]), int(times[-1]))


@cache  # estimating the impact reads the whole day: once per configuration, not per worker
def replay_impact(replay: ReplayConfig) -> tuple[ImpactParams | None, str]:
    """The agent's transient impact in the replay, and its description."""
    if replay.impact == "none":
        return None, "no impact (the day as recorded)"
    impact, source = calibrated_impact(replay.impact_params, open_sample(replay.data))
    return impact, f"the agent's transient impact {source}"


def _ranges_text(randomise: RandomiseConfig) -> str:
    return ", ".join(f"{name} x{low:g}-{high:g}" for name, (low, high) in
                     randomise.model_dump().items() if (low, high) != (1.0, 1.0))
