"""The training environment: Gymnasium's own checks, and rewards that add up to the shortfall."""

from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from models.actions import DEFAULT_ACTION_TABLE, ActionKind
from models.env import ExecutionEnv, replay_market, simulated_market
from sim.flow import FlowParams

PARAMS = FlowParams(start_price=10_000, limit_rate=4.0, market_rate=0.6,
                    market_sizes=(10.0, 80.0, 150.0), limit_sizes=(10.0, 60.0, 110.0))
WAIT, REST, CROSS = 0, 1, 5
assert DEFAULT_ACTION_TABLE[WAIT][0] is ActionKind.WAIT
assert DEFAULT_ACTION_TABLE[REST][0] is ActionKind.REST_NEAR
assert DEFAULT_ACTION_TABLE[CROSS][0] is ActionKind.CROSS


def _env(reward: str = "mark_to_market", qty: int = 600, side: int = -1) -> ExecutionEnv:
    return ExecutionEnv(simulated_market(PARAMS), side=side, qty=qty, horizon_s=60, slice_s=10,
                        warmup_s=5, horizon_grace_s=10, reward=reward)


def _episode(env: ExecutionEnv, policy, seed: int) -> tuple[float, dict, list[np.ndarray]]:
    obs, info = env.reset(seed=seed)
    total, done, seen = 0.0, False, [obs]
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total += reward
        seen.append(obs)
        done = terminated or truncated
    return total, info, seen


def test_gymnasium_env_checker_passes() -> None:
    check_env(_env(), skip_render_check=True)


@pytest.mark.parametrize("reward", ["mark_to_market", "shortfall"])
@pytest.mark.parametrize("side", [1, -1])
def test_episode_return_is_minus_the_implementation_shortfall(reward: str, side: int) -> None:
    rng = np.random.default_rng(0)
    for seed in range(3):
        total, info, _ = _episode(_env(reward, side=side),
                                  lambda _obs: int(rng.integers(0, len(DEFAULT_ACTION_TABLE))),
                                  seed)
        assert info["remaining"] == 0
        assert total == pytest.approx(-info["shortfall_bps"], abs=1e-9)


def test_waiting_to_the_horizon_still_completes_the_parent_at_a_real_cost() -> None:
    env = _env()
    _total, info, seen = _episode(env, lambda _obs: WAIT, 1)
    assert info["filled"] == 600 and info["remaining"] == 0
    assert seen[-1][0] == 0.0  # time remaining: the end came at the horizon, not before
    # Crossing 600 shares in one go at the horizon costs more than crossing a slice at a time.
    _, steady, _ = _episode(_env(), lambda obs: CROSS, 1)
    assert info["shortfall_bps"] > steady["shortfall_bps"]


def test_same_seed_same_episode() -> None:
    a = _episode(_env(), lambda obs: REST if obs[2] <= 0 else CROSS, 4)
    b = _episode(_env(), lambda obs: REST if obs[2] <= 0 else CROSS, 4)
    assert a[0] == b[0]
    assert all(np.array_equal(x, y) for x, y in zip(a[2], b[2], strict=True))


def test_observation_tracks_the_working_order() -> None:
    env = _env()
    obs, _ = env.reset(seed=2)
    assert obs[9] == obs[10] == 0.0  # nothing working yet
    obs, *_ = env.step(REST)
    assert obs[10] > 0.0  # a slice rests at the near touch
    assert obs[9] == 0.0  # at the touch: distance 0


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="reward"):
        _env(reward="pnl")
    with pytest.raises(ValueError, match="slice_s"):
        ExecutionEnv(simulated_market(PARAMS), side=-1, qty=10, horizon_s=10, slice_s=20)


GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


@pytest.mark.skipif(not GOOG.exists(), reason="LOBSTER GOOG sample not in ../shared/data")
def test_replay_mode_trades_in_the_recorded_market() -> None:
    env = ExecutionEnv(replay_market(GOOG, "GOOG", episode_s=120), side=-1, qty=300,
                       horizon_s=60, slice_s=10, warmup_s=5, horizon_grace_s=10)
    total, info, seen = _episode(env, lambda obs: REST, 3)
    assert info["remaining"] == 0
    assert total == pytest.approx(-info["shortfall_bps"], abs=1e-9)
    assert max(obs[3] for obs in seen) > 0.1  # GOOG's real spread: over a tick, unlike the sim
    env.reset(seed=3)
    same_start = env.parent.start_ns
    env.reset(seed=4)
    assert env.parent.start_ns != same_start  # another seed, another window of the day


def test_replay_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a folder nor a zip"):
        replay_market(tmp_path / "missing.zip", "GOOG", episode_s=60)
