"""Oversight of the shipped policy: its file carries drift references and its expected cost,
and the live decisions of its parents feed both, under the name those parents carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.depth_book import DepthBook
from core.domain import ParentOrder, Side
from models.actions import Action, ActionKind
from models.features import N_FEATURES
from models.policy import DecisionContext, OnnxPolicy
from service.oversight.monitor import Oversight

ROOT = Path(__file__).resolve().parents[2]


def test_the_live_policy_is_watched_under_its_own_name() -> None:
    policy = OnnxPolicy(ROOT / "models" / "artifacts" / "policy.onnx")
    oversight = Oversight(window=50)
    oversight.watch_policy(policy.name, policy.metadata)
    assert oversight.expected[policy.name].mean_bps == 1.16
    excess: list[tuple[str, float]] = []
    oversight.on_excess = lambda name, bps: excess.append((name, bps))
    parent = ParentOrder("P", "GOOG", Side.SELL, 2_000, 0, 600 * 10**9, policy.name)
    ctx = DecisionContext(np.full(N_FEATURES, 0.9, np.float32), parent, DepthBook("GOOG"), 0,
                          100, 20, 0, 0)
    for _ in range(50):
        oversight.on_decision(parent, policy.name, ctx, Action(ActionKind.CROSS, 100))
    drift = {(kind, name): value for _, kind, name, value in oversight.psi()}
    assert drift[("output", "action_kind")] > 0.25  # always crossing: unlike training
    assert drift[("feature", "time_remaining")] > 0.25  # always 0.9: unlike training
    oversight.on_finish(parent, policy.name, 11.16)
    assert excess == [(policy.name, 10.0)]
    oversight.on_decision(parent, "twap", ctx, Action(ActionKind.CROSS, 100))  # not watched
    oversight.on_finish(parent, "twap", 5.0)
    assert len(excess) == 1


def test_any_model_plugs_in_by_its_reference() -> None:
    """How a price signal's drift is watched: its reference, then its inputs and outputs."""
    oversight = Oversight(window=10)
    reference = {"features": {"f": {"edges": [0.0], "probs": [0.5, 0.5]}},
                 "outputs": {"prediction": {"edges": [0.0], "probs": [0.5, 0.5]}}}
    assert oversight.watch("signal", reference)
    for _ in range(10):
        oversight.observe_inputs("signal", [1.0])
        oversight.observe_output("signal", "prediction", -1.0)
    drift = {(role, kind, name): v for role, kind, name, v in oversight.psi()}
    assert drift[("signal", "feature", "f")] > 1.0 and drift[("signal", "output",
                                                              "prediction")] > 1.0
    assert not oversight.watch("signal", {"features": {"f": {"probs": "bad"}}})
