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
                     "pov", "onnx"]
POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)
BASELINE_NAMES: tuple[str, ...] = tuple(name for name in POLICY_NAMES if name != "onnx")

RL_NAME = "rl"  # what an ONNX policy's parents, metrics and results call it
BOOK_SUFFIXES = (".yaml", ".yml")


def is_book(path: Path | str) -> bool:
    """Whether ``path`` names a policy book rather than one ONNX model (by its suffix)."""
    return Path(path).suffix.lower() in BOOK_SUFFIXES
