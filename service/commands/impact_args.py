"""``--impact none|calibrated [--params PARAMS]``: the transient impact of a LOBSTER replay
(:mod:`sim.propagator`), as ``execagent evaluate`` and ``execagent venue`` take it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sim import impact_fit
from sim.impact_fit import load_impact_params
from sim.lobster import LobsterSample
from sim.propagator import ImpactParams

IMPACT_CHOICES = ("none", "calibrated")


def check(impact: str, params: Path | None) -> None:
    """ValueError (one line) for an unknown ``--impact`` or a ``--params`` without
    ``--impact calibrated``."""
    if impact not in IMPACT_CHOICES:
        raise ValueError(f"--impact must be one of {', '.join(IMPACT_CHOICES)}, got "
                         f"{impact!r}")
    if params is not None and impact != "calibrated":
        raise ValueError("--params names the impact's calibration: give --impact calibrated")


def calibrated_impact(params: Path | None, sample: LobsterSample, tick_size: Decimal,
                      require_section: bool = False) -> tuple[ImpactParams, str]:
    """``--impact calibrated``: :func:`sim.impact_fit.calibrated_impact`; a ``params`` file
    without an impact section means no impact, or a ValueError (one line) with
    ``require_section``."""
    if require_section and params is not None and load_impact_params(params).is_none:
        raise ValueError(f"{params} has no impact section (execagent calibrate writes one "
                         "from a day with enough market orders): give a file with one, no "
                         "--params to estimate it from the replayed data, or --impact none")
    return impact_fit.calibrated_impact(params, sample, tick_size)
