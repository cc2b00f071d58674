"""Policies by name: what the configuration, the CLI and the demo refer to."""

from __future__ import annotations

from pathlib import Path

from models.baselines import TwapPolicy
from models.policy import ExecutionPolicy, OnnxPolicy

POLICY_NAMES = ("twap", "twap_passive", "onnx")


def make_policy(name: str, model_path: str | Path | None = None) -> ExecutionPolicy:
    """Build the policy called ``name``; ``onnx`` needs ``model_path``."""
    if name == "twap":
        return TwapPolicy(passive=False)
    if name == "twap_passive":
        return TwapPolicy(passive=True)
    if name == "onnx":
        if model_path is None:
            raise ValueError("policy 'onnx' needs a model path")
        return OnnxPolicy(model_path)
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
