"""One parent's observation in the version its policy was trained on.

The live engine (service/engine.py) and the shadow runner (service/oversight/shadow.py) both
observe a parent through :func:`observation_for`, so a model sees the same vector whether it
trades or shadows: ``execagent-obs-v1`` (:func:`models.features.observe`), ``-v2`` with the
price signal, or ``-v3`` with the signal and the parent's task, its participation sized at the
volume rate of the policy's trained range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.depth_book import DepthBook
from core.domain import ChildOrder, ParentOrder
from models.features import (
    FEATURE_SPEC_ID,
    FEATURE_SPEC_V3_ID,
    WITH_SIGNAL,
    MarketTracker,
    new_observation_buffer_for,
    observe,
    observe_v2,
    observe_v3,
)
from models.policy import ExecutionPolicy
from models.task import participation_of


def feature_spec_of(policy: ExecutionPolicy) -> str:
    """The observation version ``policy`` was trained on (an ONNX policy's file names it); v1
    for a policy that names none."""
    return getattr(policy, "feature_spec_id", FEATURE_SPEC_ID)


def observes_signal(policy: ExecutionPolicy) -> bool:
    """Does ``policy`` observe the price signal, so that it needs a signal model running?"""
    return feature_spec_of(policy) in WITH_SIGNAL


def task_participation(parent: ParentOrder, policy: ExecutionPolicy) -> float:
    """The parent's participation as a task-aware policy (execagent-obs-v3) observes it: its
    quantity over the volume expected over its horizon at the policy's training market's
    rate (its trained range's), which stands for the live symbol's expected volume, as the
    trained-range check assumes. A ValueError for a policy that names no trained range."""
    trained_range = getattr(policy, "trained_range", None)
    if trained_range is None:
        raise ValueError(f"policy {policy.name!r} observes its task ({FEATURE_SPEC_V3_ID}) but "
                         "has no trained range whose volume rate would size the parent")
    volume_per_s = trained_range().volume_per_s
    return participation_of(parent.qty, (parent.end_ns - parent.start_ns) / 1e9, volume_per_s)


@dataclass(slots=True)
class ParentObservation:
    """A parent's preallocated observation buffer and what its version needs beyond the
    market: whether it holds the signal, and the parent's participation (v3 only)."""

    buffer: np.ndarray
    with_signal: bool
    participation: float | None

    def fill(self, book: DepthBook, parent: ParentOrder, children: Sequence[ChildOrder],
             tracker: MarketTracker, now_ns: int, slice_qty: int,
             signal_bps: float) -> np.ndarray:
        """The observation now, written into (and returned as) the buffer."""
        if self.participation is not None:
            return observe_v3(self.buffer, book, parent, children, tracker, now_ns, slice_qty,
                              signal_bps, self.participation)
        if self.with_signal:
            return observe_v2(self.buffer, book, parent, children, tracker, now_ns, slice_qty,
                              signal_bps)
        return observe(self.buffer, book, parent, children, tracker, now_ns, slice_qty)


def observation_for(parent: ParentOrder, policy: ExecutionPolicy) -> ParentObservation:
    """How ``policy`` observes ``parent``; a ValueError for a task-aware policy that names no
    trained range (:func:`task_participation`)."""
    spec = feature_spec_of(policy)
    participation = task_participation(parent, policy) if spec == FEATURE_SPEC_V3_ID else None
    return ParentObservation(new_observation_buffer_for(spec), spec in WITH_SIGNAL,
                             participation)
