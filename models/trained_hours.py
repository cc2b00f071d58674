"""Which hours of a recorded day a model trained on, from its ONNX metadata: an evaluation on
those hours is in-sample and must say so.

A model trained on a replay stores its training configuration (``execagent.training_config``),
whose ``replay`` names the data file, the clock window its episodes came from and the embargo
kept after it. An evaluation of the same day is in-sample where its window meets the training
window or the embargo that follows it.

Named assumptions:
- **The same day is the same file name**: a LOBSTER sample's name says its symbol, date and
  levels, so two copies of one file (the shared folder's and a fresh clone's) are one day,
  and a renamed copy is not recognised.
- **A model that names no replay trained on none**: the simulated flow's seeds are disjoint
  from the evaluation's (``execagent evaluate --sim``), so no recorded hour is in its sample.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePath

from models.task import TRAINING_CONFIG_KEY
from sim.day_window import parse_window

WHOLE_DAY = "00:00-24:00"


def in_sample(metadata: Mapping[str, str], data_name: str, window: str | None) -> str | None:
    """None when the model did not train on ``window`` (a clock window, ``None``: the whole
    day) of the data file called ``data_name``; else one line saying which hours it trained on.
    A training configuration that cannot be read names no hours: None."""
    try:
        replay = json.loads(metadata[TRAINING_CONFIG_KEY]).get("replay") or {}
        trained = str(replay["window"])
        source = PurePath(str(replay["data"])).name
        embargo = float(replay.get("embargo_minutes", 0.0))
        begin, end = parse_window(trained)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if source != data_name:
        return None
    asked_begin, asked_end = parse_window(window or WHOLE_DAY)
    if asked_begin >= end + embargo or asked_end <= begin:
        return None
    return (f"rl trained on {trained} of {source} ({embargo:g} min embargo after it), which "
            f"the evaluated {window or 'day'} overlaps: an in-sample result")
