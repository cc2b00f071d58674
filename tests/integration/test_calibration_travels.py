"""The calibration travels: ``execagent calibrate`` then ``execagent fidelity`` on another cut
of the data (GOOG cut to 5 levels and its first 40,000 rows, about 1.6 hours), with nothing
tuned by hand, as docs/simulator.md ("Calibrating another day or stock") tells a user to."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.names import BASELINE_NAMES
from service.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
SHORT_EPISODE = {
    "episode": {"qty": 400, "horizon_seconds": 120, "slice_seconds": 20, "warmup_seconds": 10,
                "horizon_grace_seconds": 10},
}


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_calibrate_then_fidelity_on_a_cut_of_goog(tmp_path: Path) -> None:
    cut = tmp_path / "cut"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lobster_cut.py"), str(GOOG),
                    "--levels", "5", "--rows", "40000", "--out", str(cut)], check=True,
                   cwd=ROOT)
    params = tmp_path / "params.json"
    assert main(["calibrate", str(cut), "-o", str(params)]) == 0
    document = json.loads(params.read_text())
    dynamics = document["dynamics"]
    assert document["data"].startswith("LOBSTER GOOG 2012-06-21, 5 levels")
    assert document["params"]["excitation"], "bursts fitted from the cut's market orders"
    assert 1.0 <= dynamics["retreat"]["factor"] <= 6.0
    assert dynamics["retreat"]["simulated_response_ticks"] > 0
    assert document["impact"]["g0_ticks"] > 0

    config = tmp_path / "train.yaml"
    config.write_text(json.dumps(SHORT_EPISODE))
    report_path = tmp_path / "fidelity.json"
    assert main(["fidelity", "--data", str(cut), "--params", str(params), "--episodes", "2",
                 "--config", str(config), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["baselines"]) == set(BASELINE_NAMES)
    drift = report["facts"]["response_10s_all_ticks"]
    assert drift["sim"] is not None and drift["real"] is not None and drift["real"] > 0
