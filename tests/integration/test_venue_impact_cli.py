"""``execagent venue --impact none|calibrated [--params PARAMS]``: a bad impact is one line and
exit 2; with a calibrated one the venue says which impact its replay carries, and runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.net import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
PARAMS = ROOT / "sim" / "params" / "GOOG_2012-06-21.json"


def _config(tmp_path: Path, replay: bool = True) -> Path:
    path = tmp_path / "venue.yaml"
    path.write_text(f"port: {free_port()}\nstate_dir: {tmp_path / 'venue'}\nsymbols:\n"
                    "  - symbol: GOOG\n    tick_size: '0.01'\n    start_price: '580'\n" +
                    (f"    replay: {SAMPLE}\n" if replay else ""))
    return path


def _no_impact_section(tmp_path: Path) -> Path:
    path = tmp_path / "old.json"
    document = json.loads(PARAMS.read_text())
    del document["impact"]
    path.write_text(json.dumps(document))
    return path


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"shared market data not found at {SAMPLE}")
@pytest.mark.parametrize(("case", "expected"), [
    ("unknown", "--impact must be one of none, calibrated, got 'calibratd'"),
    ("params without calibrated", "--params names the impact's calibration"),
    ("no impact section", "has no impact section"),
    ("nothing replayed", "--impact applies to replayed symbols"),
])
def test_a_bad_impact_is_one_line_and_exit_2(tmp_path: Path, case: str, expected: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    replayed = ["--config", str(_config(tmp_path, replay=case != "nothing replayed"))]
    argv = replayed + {
        "unknown": ["--impact", "calibratd"],
        "params without calibrated": ["--params", str(PARAMS)],
        "no impact section": ["--impact", "calibrated", "--params",
                              str(_no_impact_section(tmp_path))],
        "nothing replayed": ["--impact", "calibrated"],
    }[case]
    assert main(["venue", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"shared market data not found at {SAMPLE}")
def test_the_venue_names_its_replays_impact_and_runs(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "service.cli", "venue", "--config", str(_config(tmp_path)),
               "--impact", "calibrated", "--params", str(PARAMS)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as venue:
        assert venue.stdout is not None
        first = venue.stdout.readline()  # once it listens
        # The replay's description follows the listening line: read up to it before stopping
        # the venue (a stop right after the first line can beat it to the console).
        said = first
        while "^-0.12)" not in said and (line := venue.stdout.readline()):
            said += line
        venue.send_signal(signal.SIGTERM)
        rest, err = venue.communicate(timeout=30)
    out = " ".join((said + rest).split())  # as one line, however the console wrapped it
    assert "listening" in first, err
    assert "GOOG replays LOBSTER_SampleFile_GOOG_2012-06-21_10.zip with the clients' " \
           f"transient impact calibrated in {PARAMS} (4.70 ticks for 91 shares, size " \
           "exponent 0.5, (1 + t / 5.28 s)^-0.12)" in out
    assert venue.returncode == 0, err
