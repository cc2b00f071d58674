"""The demo path end to end: simulated venue and service over real FIX on 127.0.0.1."""

from __future__ import annotations

import logging
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from rich.console import Console

from core.domain import Side
from gateways.venue.flows import stochastic_flow
from models.policy import OutsideTrainedRange
from service.demo import DemoOptions, run_demo
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LIMITS = ROOT / "deploy" / "risk" / "limits.demo.yaml"


async def test_shortfall_matches_a_hand_computation_on_a_scripted_market(
        caplog: pytest.LogCaptureFixture) -> None:
    # The book: bids 580.00, 579.99, ... and asks 580.02, 580.03, ..., 500 shares each; the
    # crowd never trades. Aggressive TWAP sells 1,000 over 60 s in two 30 s slices:
    #   slice 1 sells 500 IOC at the best bid, 580.00 (the whole level);
    #   slice 2 sells 500 IOC at the new best bid, 579.99.
    # Arrival mid 580.01; average 579.995; shortfall = (580.01 - 579.995) / 580.01 * 1e4 bps.
    options = DemoOptions(
        qty=1_000, side=Side.SELL, minutes=1.0, speed=30.0, policies=["twap"],
        slice_seconds=30.0, limits_path=LIMITS, start_price=Decimal("580.01"),
        flow_factory=lambda _symbol: ScriptedFlow(bid=58000, ask=58002))
    with caplog.at_level(logging.INFO, logger="execagent"):
        [summary] = await run_demo(options, Console(quiet=True))
    # Nothing alarming is logged when nothing is wrong: the feed's stop as the service stops
    # after the run is its own doing, said at INFO.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "new orders on GOOG stopped: feed fix:GOOG is" in caplog.text
    assert summary.filled == 1_000
    assert summary.arrival_price == "580.01"
    assert summary.average_price == "579.9950"
    expected = (Fraction("580.01") - Fraction("579.995")) / Fraction("580.01") * 10_000
    assert summary.shortfall_bps == round(float(expected), 4)
    assert summary.child_orders == 2 and summary.risk_denials == 0


async def test_stochastic_market_fills_never_exceed_the_parent() -> None:
    # The venue's generic flow (busier than the demo's calibrated GOOG flow, whose 2 minutes
    # trade less than 3,000 shares): the point is the fill accounting, not the market.
    options = DemoOptions(qty=3_000, minutes=2.0, speed=120.0, policies=["twap", "twap_passive"],
                          limits_path=LIMITS, slice_seconds=20.0, flow_factory=stochastic_flow)
    summaries = await run_demo(options, Console(quiet=True))
    assert [s.policy for s in summaries] == ["twap", "twap_passive"]
    for summary in summaries:
        assert summary.filled == summary.quantity == 3_000
        assert summary.shortfall_bps is not None and summary.child_orders >= 6


async def test_a_large_action_is_worked_in_child_orders_the_risk_limits_allow(
        tmp_path: Path) -> None:
    # One 60 s slice asks TWAP to sell all 5,000 at once. Unclipped, that IOC would be denied
    # by max_order_qty 2,000 on every tick; the engine's max_child_qty (2,000 by default) sends
    # IOCs of at most 2,000 at the best bid instead. Each takes the 500 shares of one level of
    # the ladder (580.00 down to 579.91), so ten IOCs fill it at an average of 579.955.
    limits = tmp_path / "limits.yaml"
    limits.write_text(LIMITS.read_text().replace("max_order_qty: 5000", "max_order_qty: 2000"))
    options = DemoOptions(
        qty=5_000, side=Side.SELL, minutes=1.0, speed=30.0, policies=["twap"],
        slice_seconds=60.0, limits_path=limits, start_price=Decimal("580.01"),
        flow_factory=lambda _symbol: ScriptedFlow(bid=58000, ask=58002, levels=20))
    [summary] = await run_demo(options, Console(quiet=True))
    assert summary.filled == 5_000
    assert summary.risk_denials == 0
    assert summary.child_orders == 10
    assert summary.average_price == "579.9550"


async def test_the_shipped_policy_works_an_order_over_fix() -> None:
    """models/artifacts/policy.onnx through the live path: FIX venue, engine, overlay, OMS, on
    the task it was trained for (sell 2,000 over 10 minutes; the service refuses others)."""
    options = DemoOptions(qty=2_000, minutes=10.0, speed=240.0, policies=["rl"],
                          limits_path=LIMITS,
                          model_path=ROOT / "models" / "artifacts" / "policy.onnx")
    [summary] = await run_demo(options, Console(quiet=True))
    assert summary.policy == "rl"
    assert summary.filled == 2_000 and summary.risk_denials == 0
    assert summary.child_orders >= 1


async def test_the_shipped_policy_refuses_a_parent_it_was_not_trained_for() -> None:
    options = DemoOptions(qty=400, minutes=1.0, speed=60.0, policies=["rl"], limits_path=LIMITS,
                          model_path=ROOT / "models" / "artifacts" / "policy.onnx")
    with pytest.raises(OutsideTrainedRange, match="horizon of 1 min"):
        await run_demo(options, Console(quiet=True))
