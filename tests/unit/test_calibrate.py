"""Calibrating the stochastic flow from LOBSTER data, and the shipped GOOG parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main
from sim.calibrate import calibrate, load_flow_params
from sim.flow import StochasticFlow
from sim.lobster import open_sample
from sim.matching import OrderBook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sim" / "params" / "GOOG_2012-06-21.json"
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
STEM = "AAA_2012-06-21_34200000_57600000_{kind}_1.csv"
BOOK = "1010000,100,1000000,100"  # ask 101.00 x 100, bid 100.00 x 100: imbalance 0


def _sample(tmp_path: Path, messages: list[str]) -> Path:
    (tmp_path / STEM.format(kind="message")).write_text("\n".join(messages) + "\n")
    (tmp_path / STEM.format(kind="orderbook")).write_text("\n".join([BOOK] * len(messages)) + "\n")
    return tmp_path


def test_estimates_on_a_hand_made_day(tmp_path: Path) -> None:
    document = calibrate(open_sample(_sample(tmp_path, [
        "34200,1,1,100,1000000,1",      # the first row: the starting book, not counted
        "34201,1,2,100,999000,1",       # a bid 10 ticks behind the best bid
        "34202,1,3,300,1011100,-1",     # an ask 11 ticks behind the best ask
        "34203,4,8,30,1010000,-1",      # one market buy sweeping two resting asks ...
        "34203,4,9,50,1010000,-1",      # ... at the same instant: one order of 80
        "34205,4,7,20,1000000,1",       # a market sell of 20
        "34210,3,2,100,999000,1",       # a delete
    ])))
    p = document["params"]
    assert document["seconds"] == 10.0 and document["events"] == 7
    assert p["limit_rate"] == pytest.approx(2 / 10)
    assert p["mean_limit_size"] == pytest.approx(200)
    assert p["placement_decay"] == pytest.approx(1 / (1 + 10.5))
    assert p["improve_probability"] == 0.0
    assert p["market_rate"] == pytest.approx(2 / 10)
    assert p["mean_market_size"] == pytest.approx(50)
    # One delete in 10 s over 200 displayed shares / 200 per order = 1 resting order.
    assert p["cancel_rate"] == pytest.approx(0.1)
    assert p["imbalance_lean"] == 0.0  # the touch was balanced every time
    assert p["start_price"] == 10_050
    assert "thin_queue" in document["not_calibrated"]


def test_too_little_data_is_a_clear_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = _sample(tmp_path, ["34200,1,1,100,1000000,1"])
    assert main(["calibrate", str(folder), "-o", str(tmp_path / "p.json")]) == 2
    assert "too little data" in capsys.readouterr().err


def test_shipped_parameters_name_their_data_and_drive_a_flow() -> None:
    document = json.loads(SHIPPED.read_text())
    assert document["data"].startswith("LOBSTER GOOG 2012-06-21, 10 levels")
    flow = StochasticFlow(load_flow_params(SHIPPED), seed=3)
    book = OrderBook("GOOG")
    flow.seed_book(book, 0)
    for _ in range(2_000):
        flow.apply_next(book)
    assert book.best_bid() is not None and book.best_ask() is not None


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
def test_the_shipped_parameters_come_from_the_goog_sample(tmp_path: Path) -> None:
    out = tmp_path / "params.json"
    assert main(["calibrate", str(GOOG), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(SHIPPED.read_text())
