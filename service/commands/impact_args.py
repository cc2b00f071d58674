"""``--impact none|calibrated [--params PARAMS]``: the transient impact of a LOBSTER replay
(:mod:`sim.propagator`), as ``execagent evaluate`` and ``execagent venue`` take it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sim.impact_fit import fit_impact, load_impact_params
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
    """``--impact calibrated``: the impact section of ``params``, or, with no ``params``, the
    propagator estimated from ``sample`` as ``execagent calibrate`` estimates it; and where it
    came from, with its parameters, in words. A ``params`` file without an impact section
    means no impact, or a ValueError (one line) with ``require_section``."""
    if params is not None:
        impact = load_impact_params(params)
        source = f"calibrated in {params}"
        if impact.is_none:
            if require_section:
                raise ValueError(f"{params} has no impact section (execagent calibrate writes "
                                 "one from a day with enough market orders): give a file "
                                 "with one, no --params to estimate it from the replayed "
                                 "data, or --impact none")
            source += ", which has no impact section: none"
    else:
        impact, _ = fit_impact(sample, tick_size)
        source = f"estimated from {sample.source.name}"
    return impact, (f"{source} ({impact.g0_ticks:.2f} ticks for {impact.reference_qty:g} "
                    f"shares, size exponent {impact.size_exponent:g}, (1 + t / "
                    f"{impact.decay_s:.3g} s)^-{impact.decay_exponent:.3g})")
