"""``execagent evaluate-grid``: every side and size on the same episodes, with a verdict each."""

import json
from pathlib import Path

import pytest

from models.task import TASK_RANGE_KEY, TRAINING_CONFIG_KEY
from service.cli import main
from tests.support.onnx_models import constant_action_policy

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
SHORT_EPISODE = {
    "episode": {"qty": 400, "horizon_seconds": 60, "slice_seconds": 10, "warmup_seconds": 5,
                "horizon_grace_seconds": 10},
}
REST_NEAR_1 = 1  # the action table's "rest one slice at the near touch"
CROSS_1 = 5  # its "cross one slice"
CRITERIA = {"mean", "paired", "timing_risk", "risk_denials"}


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps(SHORT_EPISODE))
    return path


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_a_replayed_grid_judges_every_side_and_size_on_the_same_windows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    page = tmp_path / "results.md"
    page.write_text("# Results\n\nProse the command must keep.\n")
    market = ["--policy", str(model), "--data", str(GOOG), "--config", str(_config(tmp_path)),
              "--limits", "deploy/risk/limits.training.yaml", "--episodes", "3", "--minutes",
              "1", "--window", "14:00-14:05", "--impact", "calibrated", "--params",
              "sim/params/GOOG_2012-06-21.json", "--policies", "rl,twap,almgren_chriss_alpha",
              "--signal", "none"]
    assert main(["evaluate-grid", *market, "--side", "buy,sell", "--participation", "0.02,0.1",
                 "--json", str(tmp_path / "grid.json"), "--results", str(page)]) == 0
    grid = json.loads((tmp_path / "grid.json").read_text())
    # 3 one-minute orders spaced over 5 minutes: each trades while the next has started.
    assert "3 windows evenly spaced over the window 14:00-14:05 (windows overlap)" in grid["data"]
    cells = grid["cells"]
    assert [(c["side"], round(c["participation"], 2)) for c in cells] == \
        [("buy", 0.02), ("buy", 0.1), ("sell", 0.02), ("sell", 0.1)]
    assert cells[0]["qty"] == cells[2]["qty"] < cells[1]["qty"] == cells[3]["qty"]
    for cell in cells:
        assert cell["episodes"] == 3 and set(cell["policies"]) == {"rl", "twap",
                                                                   "almgren_chriss_alpha"}
        assert {d["baseline"] for d in cell["paired_differences"]} == \
            {"twap", "almgren_chriss_alpha"}
        verdict = cell["verdict"]
        assert set(verdict["criteria"]) == CRITERIA
        assert verdict["pass"] == all(c["pass"] for c in verdict["criteria"].values())
        means = {name: s["is_bps_mean"] for name, s in cell["policies"].items() if name != "rl"}
        assert verdict["best_baseline"] == min(means, key=lambda name: means[name])
        # Timing risk judged on the two stds, the paired interval of their difference beside.
        timing = verdict["criteria"]["timing_risk"]
        stds = {name: s["is_bps_std"] for name, s in cell["policies"].items()}
        assert (timing["value"], timing["target"]) == (stds["rl"],
                                                       stds[verdict["best_baseline"]])
        low, high = timing["ci95_of_difference"]
        assert low <= high and timing["pass"] == (stds["rl"] <= timing["target"])
        # What rl did: the one action it knows, and parents done more as the horizon passes.
        decisions = cell["rl_decisions"]
        assert decisions["decisions"] > 0 and decisions["shares"] == {"rest_near x1": 1.0}
        done = list(decisions["done_by"].values())
        assert list(decisions["done_by"]) == ["0.25", "0.5", "0.75"]
        assert 0 <= done[0] <= done[1] <= done[2] <= 1 and done[2] > 0
    assert grid["passed"] == sum(c["verdict"]["pass"] for c in cells)
    text = page.read_text()
    assert "Prose the command must keep." in text
    assert "<!-- evaluate:grid-replay-impact:begin -->" in text
    assert "Produced by `execagent evaluate-grid --policy" in text and "--side buy,sell" in text
    # a verdict row and a decision row per parent
    assert sum(line.startswith(("| buy |", "| sell |")) for line in text.splitlines()) == 8
    assert "What rl did" in text and "rest_near x1 100%" in text

    # A parent of the grid is the parent `evaluate` runs: the same episodes, the same numbers
    # (the grid's rl records its decisions; evaluate's does not: the record changes nothing).
    assert main(["evaluate", *market, "--side", "sell", "--participation", "0.1",
                 "--json", str(tmp_path / "one.json")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())
    assert one["policies"] == cells[3]["policies"] and one["data"] == cells[3]["data"]
    assert "rl - twap:" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--side", "buy,hold"], "--side: unknown side 'hold'"),
    (["--side", "buy,"], "--side has an empty entry"),
    (["--participation", "0.08,1.5"], "--participation: 1.5 is not a fraction in (0, 1]"),
    (["--participation", "0"], "--participation: 0 is not a fraction in (0, 1]"),
    (["--participation", "0.08,abc"], "--participation: 'abc' is not a number"),
    (["--participation", ""], "--participation needs at least one value"),
    (["--participation", "0.1,0.1"], "--participation names a value twice"),
    (["--qty", "100,-5"], "--qty: '-5' is not a positive number of shares"),
    (["--policies", "twap,vwap"], "--policies must name rl and at least one baseline"),
    (["--policies", "rl"], "--policies must name rl and at least one baseline"),
    (["--episodes", "0"], "--episodes must be positive"),
])
def test_bad_grids_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      extra: list[str], message: str) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    base = ["evaluate-grid", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
            "--config", str(_config(tmp_path))]
    assert main(base + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_simulated_grid_of_quantities_takes_the_configuration_side(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    page = tmp_path / "results.md"
    assert main(["evaluate-grid", "--policy", str(model), "--sim",
                 "sim/params/GOOG_2012-06-21.json", "--config", str(_config(tmp_path)),
                 "--episodes", "2", "--policies", "rl,twap", "--signal", "none", "--qty",
                 "50,117", "--json", str(tmp_path / "grid.json"), "--results", str(page)]) == 0
    grid = json.loads((tmp_path / "grid.json").read_text())
    assert "seeds" in grid["data"] and grid["episodes"] == 2
    # The configuration sells; 117 shares are 10% of a minute at 19.48 shares/s.
    assert [(c["side"], c["qty"]) for c in grid["cells"]] == [("sell", 50), ("sell", 117)]
    assert grid["cells"][1]["participation"] == pytest.approx(0.1, abs=0.001)
    assert "<!-- evaluate:grid-sim:begin -->" in page.read_text()
    assert "--qty 50,117" in grid["command"]
    assert "2 episodes per parent" in " ".join(capsys.readouterr().out.split())


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_a_policy_book_works_each_parent_with_its_entrys_model_and_says_which(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Buys go to a resting model that trained on the hour before the window (so its
    results say they are in-sample), sells to a crossing one; a book with no model for a
    parent of the grid is one line, exit 2."""
    task_range = json.dumps({"sides": ["buy", "sell"], "participation": [0.01, 0.25],
                             "horizon_seconds": [30, 120], "volume_per_second": 20.0})
    trained = json.dumps({"replay": {"data": f"shared/{GOOG.name}", "window": "13:00-14:00",
                                     "embargo_minutes": 15}})
    constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1,
                           {TASK_RANGE_KEY: task_range, TRAINING_CONFIG_KEY: trained})
    constant_action_policy(tmp_path / "cross.onnx", CROSS_1, {TASK_RANGE_KEY: task_range})
    book = tmp_path / "book.yaml"
    book.write_text("entries:\n  - {model: rest.onnx, sides: [buy]}\n"
                    "  - {model: cross.onnx, sides: [sell]}\n")
    market = ["--policy", str(book), "--data", str(GOOG), "--config", str(_config(tmp_path)),
              "--limits", "deploy/risk/limits.training.yaml", "--episodes", "2", "--minutes",
              "1", "--window", "14:00-14:05", "--impact", "none", "--policies", "rl,twap",
              "--signal", "none", "--participation", "0.02"]
    assert main(["evaluate-grid", *market, "--side", "buy,sell",
                 "--json", str(tmp_path / "grid.json")]) == 0
    buy, sell = json.loads((tmp_path / "grid.json").read_text())["cells"]
    assert buy["rl_decisions"]["shares"] == {"rest_near x1": 1.0}
    assert sell["rl_decisions"]["shares"] == {"cross x1": 1.0}
    assert "rl: rest.onnx of the policy book book.yaml" in buy["data"]
    assert "rl: cross.onnx of the policy book book.yaml" in sell["data"]
    assert "an in-sample result" in buy["data"] and "in-sample" not in sell["data"]
    assert "note: rl trained on 13:00-14:00" in capsys.readouterr().err

    book.write_text("entries:\n  - {model: rest.onnx, sides: [buy]}\n")
    assert main(["evaluate-grid", *market, "--side", "buy,sell"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("execagent evaluate-grid: policy book book.yaml has no model "
                            "for this parent: entry 1 (rest.onnx): the entry's sides are buy "
                            "only, not sell")
