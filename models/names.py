"""The execution policies a parent order can name, spelled once: the configuration, the API,
the evaluation and the demo take their lists from here; and how a policy file's name tells a
policy book (models/policy_book.py) from one ONNX model. Kept free of numpy and onnxruntime:
the configuration reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

# "onnx" is the RL policy exported to ONNX (models/artifacts/policy.onnx by default); the
# others are the baselines (models/baselines.py).
# "almgren_chriss_alpha" tilts Almgren-Chriss with the price signal (models/signal.py).
PolicyName = Literal["twap", "twap_passive", "vwap", "almgren_chriss", "almgren_chriss_alpha",
                     "pov", "passive_front", "onnx"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)
# What every comparison (the demo, `execagent evaluate`, its grid, the fidelity report) runs
# unless told otherwise: the schedules the product goal measures the RL policy against.
BASELINE_NAMES: tuple[str, ...] = ("twap", "twap_passive", "vwap", "almgren_chriss",
                                   "almgren_chriss_alpha", "pov")
# Run when named (`--policies`): "passive_front" is the fixed rule the desk's RL runs learned
# (rest a multiple of the slice at the touch), to ask what a model adds to the rule it found.
RULE_BASELINE_NAMES: tuple[str, ...] = ("passive_front",)
ALL_BASELINE_NAMES: tuple[str, ...] = BASELINE_NAMES + RULE_BASELINE_NAMES

RL_NAME = "rl"  # what an ONNX policy's parents, metrics and results call it
BOOK_SUFFIXES = (".yaml", ".yml")


def is_book(path: Path | str) -> bool:
    """Whether ``path`` names a policy book rather than one ONNX model (by its suffix)."""
    return Path(path).suffix.lower() in BOOK_SUFFIXES
