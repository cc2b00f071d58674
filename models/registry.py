"""Policies by name: what the configuration, the CLI and the demo refer to."""

from __future__ import annotations

from pathlib import Path

from models.baselines import (
    DEFAULT_POV_RATE,
    AlmgrenChrissParams,
    AlmgrenChrissPolicy,
    PovPolicy,
    TwapPolicy,
    VwapPolicy,
)
from models.policy import ExecutionPolicy, OnnxPolicy
from sim import profile as volume_profiles
from sim.profile import VolumeProfile

POLICY_NAMES = ("twap", "twap_passive", "vwap", "almgren_chriss", "pov", "onnx")


def make_policy(
    name: str,
    model_path: str | Path | None = None,
    *,
    volume_profile: VolumeProfile | str | Path | None = None,
    ac_params: AlmgrenChrissParams | None = None,
    pov_rate: float = DEFAULT_POV_RATE,
) -> ExecutionPolicy:
    """Build the policy called ``name``; ``onnx`` needs ``model_path``.

    Every other keyword has a default, so each baseline builds from its name alone:
    ``volume_profile`` (a profile or the path of a saved one; none: VWAP is flat, i.e. TWAP),
    ``ac_params`` (none: :class:`AlmgrenChrissParams`' documented defaults) and ``pov_rate``.
    """
    if name == "twap":
        return TwapPolicy(passive=False)
    if name == "twap_passive":
        return TwapPolicy(passive=True)
    if name == "vwap":
        if isinstance(volume_profile, str | Path):
            volume_profile = volume_profiles.load(volume_profile)
        return VwapPolicy(volume_profile)
    if name == "almgren_chriss":
        return AlmgrenChrissPolicy(ac_params)
    if name == "pov":
        return PovPolicy(pov_rate)
    if name == "onnx":
        if model_path is None:
            raise ValueError("policy 'onnx' needs a model path")
        return OnnxPolicy(model_path)
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
