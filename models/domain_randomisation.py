"""Domain randomisation of the simulated flow: each training episode's market is the calibrated
one with a few of its scales drawn anew, so a policy cannot fit one calibration's quirks.

Five multipliers, each drawn log-uniformly in its configured ``[low, high]`` (a halving as
likely as a doubling), all from the episode's own generator:

- **activity**: every intensity together (``limit_rate``, ``market_rate``, ``cancel_deep``,
  ``cancel_touch``) and the excitation's decay times divided by it: the same market on a faster
  or slower clock, a busier or quieter day;
- **market_size**: the crowd's market order sizes (``market_sizes``): how much each trade takes;
- **spread**: how far behind the touch new limit orders land (``behind_distances``, in ticks):
  the gaps in the book a consumed touch leaves, and so the spread it re-forms at;
- **depth**: the crowd's limit order sizes (``limit_sizes``): the queues at and behind the touch;
- **impact**: ``cancel_hit_side``, the touch's cancel rate on the side the last market order
  hit: how fast makers retreat from a trade's side, the flow's own price response to a trade,
  the agent's included (the other side's factor is left: it is the book refilling).

Volatility is not a parameter of its own: it follows from these (more activity, larger market
orders against thinner depth, wider gaps and faster retreat all move the mid more per second).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from sim.flow import FlowParams


@dataclass(frozen=True, slots=True)
class DomainRanges:
    """Each multiplier's ``(low, high)``; ``(1, 1)`` leaves that scale as calibrated."""

    activity: tuple[float, float] = (1.0, 1.0)
    market_size: tuple[float, float] = (1.0, 1.0)
    spread: tuple[float, float] = (1.0, 1.0)
    depth: tuple[float, float] = (1.0, 1.0)
    impact: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("activity", "market_size", "spread", "depth", "impact"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"the {name} range must be [low, high] with 0 < low <= high, "
                                 f"got {[low, high]}")


def log_uniform(rng: random.Random, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else math.exp(rng.uniform(math.log(low), math.log(high)))


def randomised(params: FlowParams, rng: random.Random, ranges: DomainRanges) -> FlowParams:
    """``params`` with the five multipliers of ``ranges`` drawn from ``rng`` (in the order the
    fields are declared) and applied; the result passes FlowParams' own validation."""
    activity = log_uniform(rng, ranges.activity)
    market_size = log_uniform(rng, ranges.market_size)
    spread = log_uniform(rng, ranges.spread)
    depth = log_uniform(rng, ranges.depth)
    impact = log_uniform(rng, ranges.impact)
    return replace(
        params,
        limit_rate=params.limit_rate * activity,
        market_rate=params.market_rate * activity,
        cancel_deep=params.cancel_deep * activity,
        cancel_touch=tuple(rate * activity for rate in params.cancel_touch),
        excitation=tuple((branching, decay_s / activity, same_side)
                         for branching, decay_s, same_side in params.excitation),
        market_sizes=_scaled(params.market_sizes, market_size),
        behind_distances=tuple(_scaled(table, spread) for table in params.behind_distances),
        limit_sizes=_scaled(params.limit_sizes, depth),
        cancel_hit_side=params.cancel_hit_side * impact,
    )


def _scaled(table: tuple[float, ...], factor: float) -> tuple[float, ...]:
    return tuple(value * factor for value in table)
