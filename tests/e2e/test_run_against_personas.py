"""``execagent run --submit`` as a new user runs it: market data from a LOBSTER file replay
(``fix.market_data: false``), orders to a counterparty nobody here wrote. Against the common
example executor (no New, every order filled at its limit at once, FIX 4.2's ExecType 2 on a
4.4 session, a replace taken as a new order) the parent is filled and the command exits 0; a
counterparty whose fills cannot be believed ends it with exit code 3, the fill named; either
way the command returns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateways.venue.config import VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.cli import main
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOBSTER = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


def _run(tmp_path: Path, persona: str) -> int:
    if not LOBSTER.exists():
        pytest.skip("needs ../shared/data")
    port = free_port()
    venue = SimulatedVenue(
        VenueConfig(port=port, persona=persona, state_dir=tmp_path / "venue",
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))]),
        flows={"GOOG": ScriptedFlow(58_000, 58_002)})
    config = tmp_path / "service.yaml"
    config.write_text(f"""
fix: {{port: {port}, market_data: false, state_dir: {tmp_path / 'fix'}}}
market_data:
  feeds:
    - {{source: file_replay, symbol: GOOG, format: lobster, path: '{LOBSTER}', speed: 20}}
policy: {{name: twap, slice_seconds: 10, horizon_grace_seconds: 5, settle_seconds: 3}}
risk: {{limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}}}
api: {{port: 0}}
""")
    venue.start()
    try:
        return main(["run", "--config", str(config), "--submit", "sell:200:GOOG:60"])
    finally:
        venue.stop()


def test_the_example_executor_fills_the_parent_and_the_command_exits_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(tmp_path, "fill-at-limit,fix42-values,replace-as-new")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "filled, 200 of 200 filled" in out


def test_fills_that_cannot_be_believed_end_the_run_with_exit_code_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(tmp_path, "fill-at-limit,rogue")
    out = capsys.readouterr().out
    assert code == 3, out
    assert "not believed" in out and "check these orders at the venue" in out
