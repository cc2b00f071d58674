"""Policies by name: what the configuration, the CLI and the demo refer to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from models.baselines import (
    DEFAULT_POV_RATE,
    AlmgrenChrissParams,
    AlmgrenChrissPolicy,
    AlphaAlmgrenChrissPolicy,
    PassiveFrontPolicy,
    PovPolicy,
    TwapPolicy,
    VwapPolicy,
)
from models.names import POLICY_NAMES
from models.policy import ExecutionPolicy, OnnxPolicy
from sim import profile as volume_profiles
from sim.profile import VolumeProfile


@dataclasses.dataclass(frozen=True, slots=True)
class UrgencyTilt:
    risk_aversion: float  # multiplies Almgren-Chriss's lambda: front-loads the schedule
    participation: float  # multiplies POV's rate (capped at 1)


URGENCY = {
    "low": UrgencyTilt(0.1, 0.5),
    "normal": UrgencyTilt(1.0, 1.0),
    "high": UrgencyTilt(10.0, 2.0),
}
"""An order's urgency, as the operator API takes it: an assumption of scale (a factor of ten
in risk aversion is a visibly different Almgren-Chriss trajectory), not a calibrated value."""


def make_policy(
    name: str,
    model_path: str | Path | None = None,
    *,
    volume_profile: VolumeProfile | str | Path | None = None,
    ac_params: AlmgrenChrissParams | None = None,
    pov_rate: float = DEFAULT_POV_RATE,
    urgency: str = "normal",
) -> ExecutionPolicy:
    """Build the policy called ``name``; ``onnx`` needs ``model_path``.

    Every other keyword has a default, so each baseline builds from its name alone:
    ``volume_profile`` (a profile or the path of a saved one; none: VWAP is flat, i.e. TWAP),
    ``ac_params`` (none: :class:`AlmgrenChrissParams`' documented defaults) and ``pov_rate``.
    ``urgency`` (:data:`URGENCY`) tilts those that have a notion of it: Almgren-Chriss's risk
    aversion (with or without the signal's tilt) and POV's rate; the others ignore it.
    """
    if urgency not in URGENCY:
        raise ValueError(f"urgency must be one of {', '.join(URGENCY)}, got {urgency!r}")
    tilt = URGENCY[urgency]
    if name == "twap":
        return TwapPolicy(passive=False)
    if name == "twap_passive":
        return TwapPolicy(passive=True)
    if name == "vwap":
        if isinstance(volume_profile, str | Path):
            volume_profile = volume_profiles.load(volume_profile)
        return VwapPolicy(volume_profile)
    if name in ("almgren_chriss", "almgren_chriss_alpha"):
        params = ac_params or AlmgrenChrissParams()
        if tilt.risk_aversion != 1.0:
            params = dataclasses.replace(
                params, risk_aversion=params.risk_aversion * tilt.risk_aversion)
        if name == "almgren_chriss_alpha":
            return AlphaAlmgrenChrissPolicy(params)
        return AlmgrenChrissPolicy(params)
    if name == "pov":
        return PovPolicy(min(1.0, pov_rate * tilt.participation))
    if name == "passive_front":
        return PassiveFrontPolicy()
    if name == "onnx":
        if model_path is None:
            raise ValueError("policy 'onnx' needs a model path")
        return OnnxPolicy(model_path)
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
