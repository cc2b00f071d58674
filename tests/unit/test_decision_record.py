"""What rl did in an evaluation: its decisions by action and each parent's completion."""

from pathlib import Path

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import ParentOrder, Side
from models.actions import DEFAULT_ACTION_TABLE, WAIT, Action, ActionKind
from models.features import N_FEATURES
from models.policy import DecisionContext, OnnxPolicy
from service.evaluation.decisions import NONFINITE, RecordingPolicy
from tests.support.onnx_models import linear_policy

S = 10**9
CROSS_2X = DEFAULT_ACTION_TABLE.index((ActionKind.CROSS, 2.0))
REST_1X = DEFAULT_ACTION_TABLE.index((ActionKind.REST_NEAR, 1.0))


def _model(tmp_path: Path) -> Path:
    """Rest one slice when obs[0] < 0.5, cross two at or above; a non-finite obs[0] is a
    non-finite output."""
    weights = np.zeros((N_FEATURES, len(DEFAULT_ACTION_TABLE)), np.float32)
    weights[0, CROSS_2X] = 1.0
    bias = np.zeros(len(DEFAULT_ACTION_TABLE), np.float32)
    bias[REST_1X] = 0.5
    return linear_policy(tmp_path / "p.onnx", weights, bias)


def _ctx(parent: ParentOrder, now_s: float, x: float) -> DecisionContext:
    obs = np.zeros(N_FEATURES, np.float32)
    obs[0] = x
    return DecisionContext(obs, parent, DepthBook("GOOG"), int(now_s * S), 100, 10, 0, 0)


def test_decisions_and_completions_are_recorded_per_parent(tmp_path: Path) -> None:
    policy = RecordingPolicy(_model(tmp_path))
    plain = OnnxPolicy(_model(tmp_path))
    first = ParentOrder("P1", "GOOG", Side.SELL, 1000, 0, 100 * S, "rl")
    # Asked at 10 s, 30 s and 60 s of a 100 s horizon, then done before three quarters.
    for now_s, filled, x in ((10, 0, 0.0), (30, 200, 1.0), (60, 500, 0.0)):
        first.filled = filled
        ctx = _ctx(first, now_s, x)
        assert policy.act(ctx) == plain.act(ctx)  # the record changes no decision
    first.filled = 1000
    # A second parent with the same id (a new episode), first asked at 80 s.
    second = ParentOrder("P1", "GOOG", Side.SELL, 1000, 0, 100 * S, "rl")
    second.filled = 100
    assert policy.act(_ctx(second, 80, np.nan)) == WAIT
    record = policy.record()
    assert record.decisions == 4
    assert record.shares == {"rest_near x1": 0.5, "cross x2": 0.25, NONFINITE: 0.25}
    # first: 0.2 at a quarter (30 s), 0.5 at half (60 s), 1.0 (its final fill) at 3/4;
    # second: 0.1 at every mark (its first decision is past all three).
    assert record.done_by == {0.25: pytest.approx(0.15), 0.5: pytest.approx(0.3),
                              0.75: pytest.approx(0.55)}
    assert record.as_json()["done_by"] == {"0.25": pytest.approx(0.15),
                                           "0.5": pytest.approx(0.3),
                                           "0.75": pytest.approx(0.55)}
    assert policy.action_for(None, 100) == WAIT
    assert policy.action_for(CROSS_2X, 100) == Action(ActionKind.CROSS, 200)


def test_a_policy_never_asked_records_nothing(tmp_path: Path) -> None:
    record = RecordingPolicy(_model(tmp_path)).record()
    assert record.decisions == 0 and record.shares == {}
    assert record.done_by == {0.25: None, 0.5: None, 0.75: None}
