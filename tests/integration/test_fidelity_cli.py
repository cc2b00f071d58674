"""``execagent fidelity``: every baseline in the simulation and on the replayed day, their cost
ratios and the stylised facts side by side."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.names import BASELINE_NAMES
from service.cli import main
from service.evaluation.compare import PolicyStats
from service.evaluation.fidelity import (
    MIN_REPLAYED_BPS,
    baseline_fidelity,
    ratio_intervals,
    scalar_facts,
)
from sim.stylised import SIZE_LABELS

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
SHORT_EPISODE = {
    "episode": {"qty": 400, "horizon_seconds": 60, "slice_seconds": 10, "warmup_seconds": 5,
                "horizon_grace_seconds": 10},
}


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps(SHORT_EPISODE))
    return path


def _stats(name: str, mean: float, std: float) -> PolicyStats:
    return PolicyStats(name, 10, mean, mean, std, 0.0, 1.0, 3.0, 0)


def test_ratios_are_simulated_over_replayed_and_none_near_zero() -> None:
    simulated = [_stats("twap", 6.0, 2.0), _stats("pov", 1.0, 1.0), _stats("vwap", 3.0, 1.0)]
    replayed = [_stats("twap", 3.0, 4.0), _stats("pov", MIN_REPLAYED_BPS / 2, 0.0)]
    twap, pov = baseline_fidelity(simulated, replayed)  # vwap ran in one market only: left out
    assert (twap.name, twap.is_ratio, twap.std_ratio) == ("twap", 2.0, 0.5)
    assert pov.is_ratio is None and pov.std_ratio is None


def test_the_intervals_hold_the_ratios_and_narrow_with_more_episodes() -> None:
    rng = np.random.default_rng(5)

    def market(mean: float, episodes: int) -> list[list[float]]:
        return (mean + rng.normal(0.0, 4.0, size=(episodes, 2))).tolist()

    few = ratio_intervals(market(6.0, 20), market(3.0, 20))
    many = ratio_intervals(market(6.0, 500), market(3.0, 500))
    for (mean_ci, std_ci) in (few, many):
        assert mean_ci is not None and std_ci is not None
        assert mean_ci[0] < 2.0 < mean_ci[1] and std_ci[0] < 1.0 < std_ci[1]
    assert many[0][1] - many[0][0] < (few[0][1] - few[0][0]) / 2


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 2).flatmap(lambda sides: st.tuples(*(
    st.lists(st.lists(st.floats(-50, 50), min_size=sides, max_size=sides), min_size=1,
             max_size=30) for _ in range(2)))))
def test_any_shortfalls_give_ordered_finite_intervals_or_none(
        markets: tuple[list[list[float]], list[list[float]]]) -> None:
    for interval in ratio_intervals(*markets):
        assert interval is None or (np.isfinite(interval).all() and interval[0] <= interval[1])


def test_no_interval_where_the_replayed_cost_is_near_zero() -> None:
    flat = [[MIN_REPLAYED_BPS / 4, -MIN_REPLAYED_BPS / 4]] * 10
    assert ratio_intervals([[1.0, 2.0]] * 10, flat)[0] is None


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_fidelity_reports_every_baseline_in_both_markets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fidelity.json"
    assert main(["fidelity", "--data", str(GOOG), "--episodes", "2", "--config",
                 str(_config(tmp_path)), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["episodes"] == 2 and report["sides"] == ["buy", "sell"]
    assert "simulated flow" in report["data"] and "replay of" in report["data"]
    assert "buy 400" in report["data"] and "sell 400" in report["data"]
    assert "impact" in report["data"]
    assert set(report["baselines"]) == set(BASELINE_NAMES)
    for row in report["baselines"].values():
        if row["is_ratio"] is not None:
            assert row["is_ratio"] == pytest.approx(row["sim_is_bps_mean"]
                                                    / row["real_is_bps_mean"])
        if row["std_ratio"] is not None:
            assert row["std_ratio"] == pytest.approx(row["sim_is_bps_std"]
                                                     / row["real_is_bps_std"])
        for interval in (row["is_ratio_ci"], row["std_ratio_ci"]):
            assert interval is None or interval[0] <= interval[1]
    facts = report["facts"]
    assert {"spread_mean_ticks", "mid_change_std_1s_ticks", "mid_change_std_60s_ticks",
            "market_orders_per_s", "response_10s_101-200_ticks",
            "response_10s_all_ticks"} <= set(facts)
    assert facts["spread_mean_ticks"]["real"] > 0 and facts["spread_mean_ticks"]["sim"] > 0
    printed = capsys.readouterr().out
    assert "std ratio" in printed and "response_10s_1-50_ticks" in printed


@pytest.mark.parametrize("sides", ["hold", "buy,buy", "", "buy,"])
def test_a_bad_side_list_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     sides: str) -> None:
    assert main(["fidelity", "--data", str(tmp_path / "missing.zip"), "--side", sides]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("execagent fidelity: --side must list buy and/or sell") \
        and "\n" not in err


def test_scalar_facts_read_a_summary() -> None:
    summary = {"spread_mean": 2.0, "mid_change_std": {"1s": 1.0, "60s": 7.0, "600s": 20.0},
               "rates_per_s": {"limit": {"0": 1.0, "1": 2.0}, "cancel": {"0": 0.5},
                               "market": {"0": 0.25}},
               "response_now": dict.fromkeys(SIZE_LABELS, 1.0),
               "response_10s": dict.fromkeys(SIZE_LABELS),
               "response_now_all": 1.0, "response_10s_all": None}
    facts = scalar_facts(summary)
    assert facts["limit_orders_per_s"] == 3.0 and facts["market_orders_per_s"] == 0.25
    assert facts["mid_change_std_60s_ticks"] == 7.0
    assert facts["mid_change_std_600s_ticks"] == 20.0
    assert all(facts[f"response_10s_{size}_ticks"] is None for size in SIZE_LABELS)


@pytest.mark.parametrize(("extra", "message"), [
    (["--episodes", "0"], "--episodes must be positive"),
    (["--params", "no-such-params.json"], "no-such-params.json"),
])
def test_bad_arguments_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], message: str) -> None:
    data = GOOG if GOOG.exists() else tmp_path / "absent.zip"
    assert main(["fidelity", "--data", str(data), "--config", str(_config(tmp_path)),
                 *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_missing_data_file_is_one_clear_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fidelity", "--data", str(tmp_path / "absent.zip"), "--config",
                 str(_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "absent.zip" in err and "Traceback" not in err
