"""What the RL policy did in an evaluation, as the engine ran it: the share of its decisions
per action of its table, and how much of each parent was done by a quarter, a half and three
quarters of the horizon. ``execagent evaluate-grid`` reports it per parent, beside the verdict:
the decision map that says whether a policy rests, crosses or waits, and how it spreads the
parent over time.

A parent's completion at a mark is its filled share at the first decision at or after that
point of the horizon; a parent the policy is no longer asked about by then (done early, or
worked by the horizon's forced crossing) counts its final filled share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.domain import ParentOrder
from models.actions import Action
from models.names import RL_NAME
from models.policy import DecisionContext, OnnxPolicy

MARKS = (0.25, 0.5, 0.75)
NONFINITE = "not finite (wait)"


@dataclass
class _Progress:
    parent: ParentOrder
    done_at: dict[float, float] = field(default_factory=dict)  # mark -> filled share then


class RecordingPolicy(OnnxPolicy):
    """An ONNX policy that records each decision it makes. The engine sees an
    :class:`OnnxPolicy` (the same output checks, decision interval and trained range), so the
    evaluation is the one it would be without the record."""

    def __init__(self, path: str | Path, name: str = RL_NAME) -> None:
        super().__init__(path, name)
        self.chosen: Counter[int | None] = Counter()  # action index (None: not finite)
        # By the parent object: an evaluation's episodes may reuse a parent id; each _Progress
        # holds its parent, so an id() is not reused while it is a key.
        self._parents: dict[int, _Progress] = {}

    def act(self, ctx: DecisionContext) -> Action:
        index = self.action_index(ctx.obs)
        self.chosen[index] += 1
        parent = ctx.parent
        progress = self._parents.get(id(parent))
        if progress is None:
            progress = self._parents[id(parent)] = _Progress(parent)
        span = parent.end_ns - parent.start_ns
        elapsed = (ctx.now_ns - parent.start_ns) / span if span > 0 else 1.0
        for mark in MARKS:
            if elapsed >= mark and mark not in progress.done_at:
                progress.done_at[mark] = parent.filled / parent.qty
        return self.action_for(index, ctx.slice_qty)

    def label(self, index: int | None) -> str:
        """An action's name: its kind and multiple of the slice ("rest_near x2")."""
        if index is None:
            return NONFINITE
        kind, multiple = self.action_table[index]
        return f"{kind.name.lower()} x{multiple:g}"

    def record(self) -> DecisionRecord:
        """The decisions and completions so far."""
        total = sum(self.chosen.values())
        shares = {self.label(index): n / total for index, n in self.chosen.most_common()}
        done = {mark: [p.done_at.get(mark, p.parent.filled / p.parent.qty)
                       for p in self._parents.values()] for mark in MARKS}
        return DecisionRecord(total, shares,
                              {mark: sum(v) / len(v) if v else None
                               for mark, v in done.items()})


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decisions: int
    shares: dict[str, float]  # action label -> share of decisions, most chosen first
    # mark of the horizon -> mean filled share of the parents (None: no parent was asked)
    done_by: dict[float, float | None]

    def as_json(self) -> dict[str, object]:
        return {"decisions": self.decisions, "shares": self.shares,
                "done_by": {f"{mark:g}": value for mark, value in self.done_by.items()}}
