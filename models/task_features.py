"""The task's part of the task-aware observation ``execagent-obs-v3``: the parent's side,
participation and horizon, normalised, written into the observation buffer.

Its own module, apart from :mod:`models.task` (the sampler and the trained range), because the
compiled observation (:mod:`models.features`) imports it: it must not pull in the calibration
and LOBSTER readers, whose numpy types mypyc cannot see where the package is built without
numpy (pip's isolated build).
"""

from __future__ import annotations

import math

import numpy as np

PARTICIPATION_FLOOR = 0.01
PARTICIPATION_CEILING = 0.25
HORIZON_SCALE_S = 3_600.0

# (name, meaning), in the order task_descriptors writes them.
TASK_FEATURES: tuple[tuple[str, str], ...] = (
    ("side", "+1 buy, -1 sell"),
    ("participation", "log(participation / 1%) / log(25), clipped to [0, 1]: 0 at 1% of the "
                      "expected volume, 1 at 25%"),
    ("horizon", "horizon in seconds / 3600, clipped to 1"),
)
N_TASK_FEATURES = len(TASK_FEATURES)
_LOG_SPAN = math.log(PARTICIPATION_CEILING / PARTICIPATION_FLOOR)


def _unit(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def task_descriptors(out: np.ndarray, start: int, side: int, participation: float,
                     horizon_s: float) -> None:
    """Write the :data:`TASK_FEATURES` into ``out[start:start + N_TASK_FEATURES]``."""
    scaled = math.log(participation / PARTICIPATION_FLOOR) / _LOG_SPAN if participation > 0 \
        else 0.0
    out[start] = 1.0 if side > 0 else -1.0
    out[start + 1] = _unit(scaled)
    out[start + 2] = _unit(horizon_s / HORIZON_SCALE_S)
