"""``execagent evaluate``: every policy through the live engine on the same episodes."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from models.features import N_FEATURES
from service.cli import build_parser, main
from service.evaluation.backtest import EpisodeResult
from service.evaluation.compare import paired_difference
from service.evaluation.results_page import upsert_section
from tests.support.onnx_models import constant_action_policy, linear_policy

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
SHORT_EPISODE = {
    "episode": {"qty": 400, "horizon_seconds": 60, "slice_seconds": 10, "warmup_seconds": 5,
                "horizon_grace_seconds": 10},
}
REST_NEAR_1 = 1  # the action table's "rest one slice at the near touch"
REST_NEAR_2 = 2  # "rest twice the slice at the near touch"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps(SHORT_EPISODE))
    return path


def _result(policy: str, seed: int, shortfall: float) -> EpisodeResult:
    return EpisodeResult(policy, seed, 100, 100, 10_000.0, shortfall, 0.0, 1, 0)


def test_paired_difference_interval_follows_the_data() -> None:
    base = [_result("twap", k, float(k % 5)) for k in range(40)]
    better = [_result("rl", k, float(k % 5) - 0.5) for k in range(40)]
    diff = paired_difference(better, base)
    assert diff.mean_bps == pytest.approx(-0.5)
    assert diff.ci_low_bps == pytest.approx(-0.5) and diff.excludes_zero
    noisy = [_result("rl", k, float(k % 5) + (1 if k % 2 else -1)) for k in range(40)]
    assert not paired_difference(noisy, base).excludes_zero
    with pytest.raises(ValueError, match="same episodes"):
        paired_difference(better[1:], [*base[:-1], base[0]])


def test_simulated_evaluation_writes_json_and_results_page(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    page.write_text("# Results\n\nProse the command must keep.\n")
    args = ["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
            "--episodes", "3", "--config", str(_config(tmp_path)),
            "--policies", "rl,twap,twap_passive,vwap,almgren_chriss,pov",
            "--json", str(tmp_path / "r.json"), "--results", str(page)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["episodes"] == 3 and "seeds" in summary["data"]
    assert set(summary["policies"]) == {"rl", "twap", "twap_passive", "vwap", "almgren_chriss",
                                        "pov"}
    for stats in summary["policies"].values():
        assert set(stats) >= {"is_bps_mean", "is_bps_std", "impact_bps_mean", "fill_rate"}
        assert stats["fill_rate"] == 1.0
    # A flat profile makes VWAP passive TWAP: the same orders, the same market, the same cost.
    assert summary["policies"]["vwap"] == summary["policies"]["twap_passive"]
    assert {d["baseline"] for d in summary["paired_differences"]} == \
        set(summary["policies"]) - {"rl"}
    text = page.read_text()
    assert "Prose the command must keep." in text and "| almgren_chriss | 3 |" in text
    assert f"Produced by `execagent evaluate --policy {model} --sim " in text
    assert (tmp_path / "docs" / "results" / "sim-shortfall.png").stat().st_size > 0
    assert (tmp_path / "docs" / "results" / "sim-inventory.png").stat().st_size > 0
    assert main(args) == 0  # a second run replaces its section instead of adding one
    assert page.read_text().count("evaluate:sim:begin") == 1
    assert "rl - twap:" in capsys.readouterr().out


def test_passive_front_is_the_rule_of_a_model_that_always_rests_four_slices(
        tmp_path: Path) -> None:
    """A model whose every decision is "rest four times the slice at the near touch" and the
    hand-written passive_front baseline send the same orders into the same market: every
    episode costs the same to the last digit. The baseline runs only when named."""
    table = json.dumps([["WAIT", 0.0], ["REST_NEAR", 4.0]])
    model = linear_policy(tmp_path / "rest4.onnx", np.zeros((N_FEATURES, 2), np.float32),
                          np.array([0.0, 1.0], np.float32), {"execagent.action_table": table})
    assert main(["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
                 "--episodes", "3", "--config", str(_config(tmp_path)), "--signal", "none",
                 "--policies", "rl,passive_front,twap_passive",
                 "--json", str(tmp_path / "r.json")]) == 0
    summary = json.loads((tmp_path / "r.json").read_text())
    rl, front = summary["policies"]["rl"], summary["policies"]["passive_front"]
    assert rl == front and front["fill_rate"] == 1.0
    paired = {d["baseline"]: d for d in summary["paired_differences"]}
    assert paired["passive_front"]["mean_bps"] == 0.0
    assert paired["passive_front"]["ci95_bps"] == [0.0, 0.0]
    # Not vacuous: resting one slice at a time (passive TWAP) is another path.
    assert summary["policies"]["twap_passive"] != front
    default = build_parser().parse_args(["evaluate", "--sim", "x"]).policies.split(",")
    assert "passive_front" not in default and "twap_passive" in default


def test_upsert_keeps_other_sections(tmp_path: Path) -> None:
    page = tmp_path / "results.md"
    upsert_section(page, "sim", "sim v1\n")
    upsert_section(page, "replay", "replay v1\n")
    upsert_section(page, "sim", "sim v2\n")
    text = page.read_text()
    assert "sim v2" in text and "sim v1" not in text and "replay v1" in text


@pytest.mark.parametrize(("extra", "message"), [
    (["--episodes", "0"], "--episodes must be positive"),
    (["--policies", "rl,twapp"], "unknown policies ['twapp']"),
    (["--window", "10:00-11:00"], "--window applies to --data"),
    (["--config", "nowhere.yaml"], "nowhere.yaml"),
    (["--impact", "calibratd"], "--impact must be one of none, calibrated, got 'calibratd'"),
    (["--impact", "calibrated"], "--impact applies to --data replays only"),
    (["--params", "sim/params/GOOG_2012-06-21.json"], "give --impact calibrated"),
])
def test_bad_arguments_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], message: str) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    base = ["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
            "--config", str(_config(tmp_path))]
    assert main(base + extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_model_for_other_features_is_refused_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    model = linear_policy(tmp_path / "old.onnx", np.zeros((12, 7)), np.zeros(7),
                          metadata={"execagent.feature_spec_hash": "deadbeefdeadbeef"})
    assert main(["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
                 "--config", str(_config(tmp_path))]) == 2
    assert "deadbeefdeadbeef" in capsys.readouterr().err


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_replay_window_without_data_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    base = ["evaluate", "--policy", str(model), "--data", str(GOOG), "--config",
            str(_config(tmp_path))]
    assert main([*base, "--window", "03:00-04:00"]) == 2
    assert "holds no data (the data covers 09:30-15:59)" in capsys.readouterr().err
    assert main([*base, "--window", "10:00-10:01"]) == 2
    assert "no episode fits" in capsys.readouterr().err


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_a_replay_with_impact_names_it_and_costs_a_taker_more(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    base = ["evaluate", "--policy", str(model), "--data", str(GOOG), "--config",
            str(_config(tmp_path)), "--episodes", "2", "--policies", "twap",
            "--window", "11:00-12:00", "--signal", "none"]
    runs = {}
    page = tmp_path / "results.md"
    for name, extra in (("none", []), ("calibrated", ["--impact", "calibrated", "--params",
                                                      "sim/params/GOOG_2012-06-21.json"])):
        out = tmp_path / f"{name}.json"
        assert main([*base, *extra, "--json", str(out), "--results", str(page)]) == 0
        runs[name] = json.loads(out.read_text())
    text = page.read_text()  # one section each: the impact run does not replace the plain one
    assert "<!-- evaluate:replay:begin -->" in text
    assert "<!-- evaluate:replay-impact:begin -->" in text and "--impact calibrated" in text
    assert "no impact (the day as recorded)" in runs["none"]["data"]
    assert "transient impact calibrated in sim/params/GOOG_2012-06-21.json" in \
        runs["calibrated"]["data"]
    # TWAP takes liquidity on every slice: its own sells push the book down before the next.
    assert runs["calibrated"]["policies"]["twap"]["is_bps_mean"] > \
        runs["none"]["policies"]["twap"]["is_bps_mean"]
    capsys.readouterr()
    assert main([*base, "--impact", "calibrated", "--params", str(tmp_path / "no.json")]) == 2
    err = capsys.readouterr().err
    assert "no.json" in err and "Traceback" not in err


def test_the_parent_can_be_set_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    base = ["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
            "--episodes", "2", "--config", str(_config(tmp_path)), "--policies", "rl,twap"]
    assert main([*base, "--side", "buy", "--participation", "0.05", "--minutes", "2",
                 "--json", str(tmp_path / "r.json")]) == 0
    summary = json.loads((tmp_path / "r.json").read_text())
    # 5% of 19.48 shares/s (the calibrated flow's volume rate) over 120 s: 117 shares.
    assert "buy 117 over 2 min (5.0% of the volume expected" in summary["data"]
    assert summary["policies"]["rl"]["risk_denials"] == 0
    assert main([*base, "--qty", "50", "--json", str(tmp_path / "q.json")]) == 0
    assert "sell 50 over 1 min" in json.loads((tmp_path / "q.json").read_text())["data"]
    capsys.readouterr()
    for bad, message in ((["--qty", "0"], "--qty"), (["--participation", "1.5"], "--participation"),
                         (["--minutes", "0.1"], "shorter than one slice")):
        assert main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    with pytest.raises(SystemExit) as usage:  # argparse: one size only
        main([*base, "--qty", "5", "--participation", "0.1"])
    assert usage.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_a_desk_limits_file_naming_other_symbols_too_is_enforced_for_the_one_traded(
        tmp_path: Path) -> None:
    """A desk's risk file names every symbol it trades; an evaluation of one symbol enforces
    that symbol's section and the global one, and ignores the rest (the overlay would refuse
    limits for symbols it has no instrument for)."""
    desk = Path("deploy/risk/limits.training.yaml")
    document = yaml.safe_load(desk.read_text())
    assert set(document["symbols"]) == {"GOOG", "AAPL"}
    goog_only = tmp_path / "goog-limits.yaml"
    goog = {"GOOG": document["symbols"]["GOOG"]}
    goog_only.write_text(yaml.safe_dump({**document, "symbols": goog}))
    model = constant_action_policy(tmp_path / "rest.onnx", REST_NEAR_1)
    summaries = []
    for limits in (goog_only, desk):
        out = tmp_path / f"{limits.stem}.json"
        assert main(["evaluate", "--policy", str(model), "--sim",
                     "sim/params/GOOG_2012-06-21.json", "--episodes", "2", "--config",
                     str(_config(tmp_path)), "--policies", "rl,twap", "--limits", str(limits),
                     "--json", str(out)]) == 0
        summaries.append(json.loads(out.read_text())["policies"])
    assert summaries[0] == summaries[1]
    assert summaries[1]["rl"]["fill_rate"] == 1.0 and summaries[1]["rl"]["risk_denials"] == 0


def test_a_resting_order_that_outgrows_the_order_size_limit_is_sent_again_not_denied(
        tmp_path: Path) -> None:
    """A replace's quantity counts what the order already filled: a resting child that has
    filled part of a large parent and follows the touch would ask for more than
    max_order_qty and be refused on every tick, as would the horizon's sweep of a remainder
    larger than the limit. The engine cancels such an order and rests what is left as a new
    one, and cuts a new order to the limit, so no message is denied for its size."""
    document = yaml.safe_load(Path("deploy/risk/limits.training.yaml").read_text())
    document["symbols"]["GOOG"]["max_order_qty"] = 150
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(document))
    model = constant_action_policy(tmp_path / "rest2.onnx", REST_NEAR_2)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--policy", str(model), "--sim", "sim/params/GOOG_2012-06-21.json",
                 "--episodes", "3", "--config", str(_config(tmp_path)), "--policies",
                 "rl,twap_passive", "--limits", str(limits), "--json", str(out)]) == 0
    rl = json.loads(out.read_text())["policies"]["rl"]
    assert rl["risk_denials"] == 0 and rl["fill_rate"] == 1.0
