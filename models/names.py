"""The execution policies a parent order can name, spelled once: the configuration, the API,
the evaluation and the demo take their lists from here."""

from __future__ import annotations

from typing import Literal, get_args

# "onnx" is the RL policy exported to ONNX (models/artifacts/policy.onnx by default); the
# others are the baselines (models/baselines.py).
# "almgren_chriss_alpha" tilts Almgren-Chriss with the price signal (models/signal.py).
PolicyName = Literal["twap", "twap_passive", "vwap", "almgren_chriss", "almgren_chriss_alpha",
                     "pov", "onnx"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)
BASELINE_NAMES: tuple[str, ...] = tuple(name for name in POLICY_NAMES if name != "onnx")
