"""A policy that walks one child order through every order message and every kind of fill, for
tests that need them all from a real counterparty: rest (a new order), reprice one tick inside
(a cancel/replace), wait (a cancel), cross more than the touch holds (an IOC partly filled, its
rest cancelled), then cross again (an IOC filled). Each step lasts ``step_seconds`` of market
time from the parent's start; the last one repeats until the parent is done."""

from __future__ import annotations

from models.actions import Action, ActionKind
from models.policy import DecisionContext

SECOND = 10**9


class ScriptedPolicy:
    name = "twap"  # the engine labels metrics by policy name; a closed set

    def __init__(self, rest_qty: int, first_cross: int, step_seconds: float = 0.6) -> None:
        self.steps = (Action(ActionKind.REST_NEAR, rest_qty),
                      Action(ActionKind.REST_INSIDE, rest_qty),
                      Action(ActionKind.WAIT),
                      Action(ActionKind.CROSS, first_cross))
        self.step_ns = int(step_seconds * SECOND)

    def act(self, ctx: DecisionContext) -> Action:
        step = (ctx.now_ns - ctx.parent.start_ns) // self.step_ns
        if step < len(self.steps):
            return self.steps[step]
        return Action(ActionKind.CROSS, ctx.parent.remaining)
