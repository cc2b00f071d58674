"""Static schedules the RL policy is measured against, behind the same interface.

TWAP splits the horizon into ``n_slices`` equal slices and aims to have traded ``k/n`` of the
parent by the end of slice ``k``:
- aggressive: at the start of each slice it crosses the spread for whatever the schedule says
  should be done by the end of that slice;
- passive: during each slice it rests the slice's quantity at the near touch, and when a slice
  ends it crosses whatever the previous slices left undone.
"""

from __future__ import annotations

from models.actions import WAIT, Action, ActionKind
from models.policy import DecisionContext


def _slices_started(ctx: DecisionContext) -> int:
    parent = ctx.parent
    elapsed = ctx.now_ns - parent.start_ns
    slice_ns = (parent.end_ns - parent.start_ns) / ctx.n_slices
    return min(int(elapsed // slice_ns) + 1, ctx.n_slices) if elapsed >= 0 else 0


def _scheduled(ctx: DecisionContext, slices: int) -> int:
    """Quantity the linear schedule wants done after ``slices`` slices (integer shares)."""
    return ctx.parent.qty * slices // ctx.n_slices


class TwapPolicy:
    """Time-weighted average price schedule; ``passive=True`` rests before it crosses."""

    def __init__(self, passive: bool = False) -> None:
        self.passive = passive
        self.name = "twap_passive" if passive else "twap"

    def act(self, ctx: DecisionContext) -> Action:
        started = _slices_started(ctx)
        done_or_going = ctx.parent.filled + ctx.ioc_in_flight
        if not self.passive:
            behind = _scheduled(ctx, started) - done_or_going
            return Action(ActionKind.CROSS, behind) if behind > 0 else WAIT
        overdue = _scheduled(ctx, started - 1) - done_or_going
        if overdue > 0:
            return Action(ActionKind.CROSS, overdue)
        to_rest = _scheduled(ctx, started) - done_or_going
        return Action(ActionKind.REST_NEAR, to_rest) if to_rest > 0 else WAIT
