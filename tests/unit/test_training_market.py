"""Where training episodes trade: replay windows of the GOOG day, the simulated flow, a mix of
the two, and the flow randomised per episode; the configuration that says which."""

import json
import random
from pathlib import Path

import pytest

from models.domain_randomisation import DomainRanges, randomised
from models.env import ExecutionEnv, mixed_market, replay_market, simulated_market
from models.task import market_volume_per_s
from models.train import make_env, train
from models.training_config import TrainConfig, TrainConfigError, load_train_config
from models.training_market import replay_window_ns, task_volume_per_s, training_market
from sim.calibrate import load_flow_params
from sim.exchange import SimExchange
from sim.flow import FlowParams
from sim.replay_exchange import ReplayExchange

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
PARAMS = Path(__file__).resolve().parents[2] / "sim" / "params" / "GOOG_2012-06-21.json"
needs_goog = pytest.mark.skipif(not GOOG.exists(),
                                reason="LOBSTER GOOG sample not in ../shared/data")
TINY = {
    "total_timesteps": 256,
    "n_envs": 2,
    "market_params": str(PARAMS),
    "episode": {"qty": 300, "horizon_seconds": 30, "slice_seconds": 10, "warmup_seconds": 5},
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "net_arch": [16, 16],
}


def _write(tmp_path: Path, replay: dict, **extra: object) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps({**TINY, "replay": {"data": str(GOOG), **replay}, **extra}))
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(TrainConfigError) as caught:
        load_train_config(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_unknown_replay_key_is_refused_in_one_line(tmp_path: Path) -> None:
    message = _refusal(_write(tmp_path, {"window": "10:00-11:00", "shares": 0.5}))
    assert "replay.shares" in message


@pytest.mark.parametrize(("window", "held_out", "expected"), [
    ("09:30-13:40", "13:45-16:00", "15 min before held_out 13:45-16:00"),
    ("09:30-14:00", "13:45-16:00", "end the window by 13:30"),
    ("9-10", None, "window '9-10' is not HH:MM-HH:MM"),
    ("11:00-10:00", None, "window 11:00-10:00 ends before it begins"),
])
def test_windows_that_reach_the_held_out_part_are_refused(
        tmp_path: Path, window: str, held_out: str | None, expected: str) -> None:
    replay: dict[str, object] = {"window": window}
    if held_out is not None:
        replay["held_out"] = held_out
    assert expected in _refusal(_write(tmp_path, replay))


def test_a_window_that_ends_an_embargo_before_the_held_out_part_loads(tmp_path: Path) -> None:
    if not GOOG.exists():
        pytest.skip("LOBSTER GOOG sample not in ../shared/data")
    config = load_train_config(_write(tmp_path, {"window": "09:30-13:30",
                                                  "held_out": "13:45-16:00"}))
    assert config.replay is not None and config.replay.embargo_minutes == 15


@needs_goog
def test_a_window_outside_the_data_is_refused(tmp_path: Path) -> None:
    message = _refusal(_write(tmp_path, {"window": "17:00-18:00"}))
    assert "holds no data (the data covers 09:30-15:59)" in message


@needs_goog
def test_a_window_shorter_than_the_longest_task_is_refused(tmp_path: Path) -> None:
    episode = {**TINY["episode"], "task": {"sides": ["sell"], "participation": [0.01, 0.02],
                                            "horizon_minutes": [5, 30]}}
    message = _refusal(_write(tmp_path, {"window": "10:00-10:20"}, episode=episode))
    assert "less than the longest episode" in message


def test_randomise_ranges_are_checked_and_refused_when_no_episode_is_simulated() -> None:
    with pytest.raises(ValueError, match="activity must be"):
        TrainConfig.model_validate({**TINY, "randomise": {"activity": [1.4, 0.7]}})
    with pytest.raises(ValueError, match=r"replay\.share 1 never uses"):
        TrainConfig.model_validate({**TINY, "randomise": {"depth": [0.7, 1.4]},
                                    "replay": {"data": str(GOOG), "window": "10:00-11:00"}})


def test_the_detrended_reward_needs_replayed_episodes(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps({**TINY, "reward": "detrended"}))
    assert "reward detrended takes the recorded day's trend out of replayed episodes" in \
        _refusal(path)


@needs_goog
def test_every_replay_episode_lies_inside_the_window_whatever_its_task() -> None:
    config = TrainConfig.model_validate({
        **TINY, "replay": {"data": str(GOOG), "window": "10:00-10:20", "impact": "none"},
        "episode": {**TINY["episode"], "task": {
            "sides": ["buy", "sell"], "participation": [0.01, 0.05],
            "horizon_minutes": [0.5, 3]}}})
    assert config.replay is not None
    lo, hi = replay_window_ns(config.replay)
    env = make_env(config)
    horizons = set()
    for seed in range(25):
        env.reset(seed=seed)
        exchange = env.exchange
        assert isinstance(exchange, ReplayExchange)
        assert env.parent.start_ns - env.warmup_ns >= lo  # its first market data included
        assert exchange.end_ns is not None and exchange.end_ns <= hi
        horizons.add(env.horizon_ns)
    assert len(horizons) > 10  # the tasks' horizons differ; the window held every one


@needs_goog
def test_replay_starts_are_uniform_over_the_window_and_fixed_by_the_seed() -> None:
    lo, hi = replay_window_ns(TrainConfig.model_validate(
        {**TINY, "replay": {"data": str(GOOG), "window": "10:00-10:10"}}).replay)
    make = replay_market(GOOG, "GOOG", episode_s=120, window_ns=(lo, hi))
    starts = []
    for seed in range(40):
        exchange = make(seed)
        first = exchange.snapshot().ts_ns
        assert lo <= first and exchange.end_ns is not None and exchange.end_ns <= hi
        starts.append(first)
    assert make(3).snapshot().ts_ns == starts[3]
    span = hi - 120 * 10**9 - lo
    assert min(starts) < lo + span // 4 and max(starts) > hi - 120 * 10**9 - span // 4
    with pytest.raises(ValueError, match="less than one 700 s episode of data in the window"):
        replay_market(GOOG, "GOOG", episode_s=700, window_ns=(lo, hi))


@needs_goog
@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_the_mix_draws_replay_or_simulation_by_seed(share: float) -> None:
    make = mixed_market(replay_market(GOOG, "GOOG", episode_s=120),
                        simulated_market(load_flow_params(PARAMS), "GOOG"), share)
    kinds = [type(make(seed)) for seed in range(60)]
    replays = kinds.count(ReplayExchange) / len(kinds)
    assert kinds.count(SimExchange) + kinds.count(ReplayExchange) == len(kinds)
    if share in (0.0, 1.0):
        assert replays == share
    else:
        assert 0.3 < replays < 0.7
    assert [type(make(seed)) for seed in range(60)] == kinds


def test_randomised_params_differ_per_draw_stay_valid_and_in_range() -> None:
    base = load_flow_params(PARAMS)
    ranges = DomainRanges(activity=(0.7, 1.4), market_size=(0.7, 1.4), spread=(0.7, 1.4),
                          depth=(0.7, 1.4), impact=(0.7, 1.4))
    drawn = [randomised(base, random.Random(seed), ranges) for seed in range(20)]
    assert len({p.limit_rate for p in drawn}) == 20
    for params in drawn:
        activity = params.limit_rate / base.limit_rate
        assert 0.7 <= activity <= 1.4
        assert params.market_rate / base.market_rate == pytest.approx(activity)
        assert params.cancel_touch[0] / base.cancel_touch[0] == pytest.approx(activity)
        assert 0.7 <= params.mean_market_size / base.mean_market_size <= 1.4
        assert 0.7 <= params.cancel_hit_side / base.cancel_hit_side <= 1.4
        assert params.cancel_other_side == base.cancel_other_side
        FlowParams(**{name: getattr(params, name) for name in FlowParams.__dataclass_fields__})
    assert randomised(base, random.Random(1), DomainRanges()) == base
    with pytest.raises(ValueError, match="depth range"):
        DomainRanges(depth=(0.0, 1.0))


def test_randomised_simulated_episodes_trade_and_repeat_by_seed() -> None:
    ranges = DomainRanges(activity=(0.5, 2.0), depth=(0.5, 2.0))
    make = simulated_market(load_flow_params(PARAMS), "GOOG", ranges=ranges)
    env = ExecutionEnv(make, side=-1, qty=300, horizon_s=30, slice_s=10, warmup_s=5)
    returns = []
    for seed in (11, 12, 11):
        env.reset(options={"episode_seed": seed})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(1)
            total += reward
            done = terminated or truncated
        returns.append(total)
    assert returns[0] == returns[2] and returns[0] != returns[1]


@needs_goog
def test_a_tiny_training_run_on_the_mix_says_what_it_trained_on(tmp_path: Path) -> None:
    config = TrainConfig.model_validate({
        **TINY, "out_dir": str(tmp_path),
        "replay": {"data": str(GOOG), "window": "10:00-11:00", "impact": "calibrated",
                   "impact_params": str(PARAMS), "share": 0.5, "held_out": "13:45-16:00"},
        "randomise": {"activity": [0.7, 1.4], "impact": [0.7, 1.4]}})
    _, data = training_market(config)
    run = train(config, progress_bar=False)
    info = json.loads((run / "run.json").read_text())
    assert info["data"] == data
    assert "50% of episodes replay of LOBSTER_SampleFile_GOOG_2012-06-21_10.zip" in data
    assert "inside 10:00-11:00" in data and "13:45-16:00 held out" in data
    assert "randomised per episode (activity x0.7-1.4, impact x0.7-1.4)" in data
    assert info["last_episodes"] > 0 and (run / "model.zip").exists()
    # the tasks were sized at the day's executed volume, as evaluate --data sizes them
    assert info["task_volume_per_second"] == pytest.approx(30.2, abs=0.05)


@needs_goog
def test_tasks_are_sized_at_the_replayed_days_volume_and_the_flows_without_a_replay() -> None:
    replayed = TrainConfig.model_validate({**TINY, "replay": {"data": str(GOOG),
                                                              "window": "10:00-11:00"}})
    simulated = TrainConfig.model_validate(TINY)
    assert task_volume_per_s(replayed) == pytest.approx(30.2, abs=0.05)
    assert task_volume_per_s(simulated) == pytest.approx(
        market_volume_per_s(load_flow_params(PARAMS)))
    assert task_volume_per_s(simulated) < 25


@needs_goog
def test_a_mix_pairs_the_baseline_on_replayed_episodes_only(tmp_path: Path) -> None:
    config = TrainConfig.model_validate({
        **TINY, "paired_baseline": "twap",
        "replay": {"data": str(GOOG), "window": "10:00-11:00", "impact": "none",
                   "share": 0.5}})
    env = make_env(config)
    paired = {}
    for seed in range(12):
        env.reset(options={"episode_seed": seed})
        paired[type(env.exchange)] = paired.get(type(env.exchange), set()) | \
            {env.baseline is not None}
    assert paired == {ReplayExchange: {True}, SimExchange: {False}}


def test_both_risk_aversions_reach_the_environment() -> None:
    env = make_env(TrainConfig.model_validate(
        {**TINY, "risk_aversion": 0.1, "risk_aversion_per_share": 2e-5}))
    assert (env.risk_aversion, env.risk_aversion_per_share) == (0.1, 2e-5)
