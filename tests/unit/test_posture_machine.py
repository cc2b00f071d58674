"""The posture's hysteresis: up at once (STRESSED confirmed), down only after a calm cool-down."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from models.posture.levels import Posture
from models.posture.machine import PostureMachine, Thresholds

MS = 1_000_000
TH = Thresholds(elevated=1.0, stressed=1.25, clear=0.5, vol_elevated=4.0, regime_elevated=0.99,
                confirm_ticks=2, cooldown_elevated_s=5.0, cooldown_stressed_s=30.0)


def test_elevated_at_once_stressed_only_when_confirmed() -> None:
    machine = PostureMachine(TH)
    assert machine.update(0, 1.1, 1.0, 0.0) is Posture.ELEVATED
    assert machine.update(50 * MS, 2.0, 1.0, 0.0) is None  # one stressed tick: not yet
    assert machine.update(100 * MS, 2.0, 1.0, 0.0) is Posture.STRESSED


def test_a_single_odd_tick_never_stresses() -> None:
    machine = PostureMachine(TH)
    for k in range(100):
        machine.update(k * 100 * MS, 5.0 if k % 2 else 0.0, 1.0, 0.0)
        assert machine.posture is not Posture.STRESSED


def test_volatility_and_regime_propose_elevated() -> None:
    assert PostureMachine(TH).update(0, 0.0, 4.5, 0.0) is Posture.ELEVATED
    assert PostureMachine(TH).update(0, 0.0, 1.0, 0.995) is Posture.ELEVATED


def test_steps_down_one_level_per_calm_cool_down() -> None:
    machine = PostureMachine(TH)
    machine.update(0, 2.0, 1.0, 0.0)
    machine.update(1, 2.0, 1.0, 0.0)
    assert machine.posture is Posture.STRESSED
    t = 1
    # Calm but not clear (0.7 > clear 0.5): no step down however long.
    for _ in range(100):
        t += 1_000 * MS
        machine.update(t, 0.7, 1.0, 0.0)
    assert machine.posture is Posture.STRESSED
    start = t
    while machine.posture is Posture.STRESSED:
        t += 500 * MS
        machine.update(t, 0.1, 1.0, 0.0)
    assert t - start >= 30_000 * MS
    assert machine.posture is Posture.ELEVATED
    start = t
    while machine.posture is Posture.ELEVATED:
        t += 500 * MS
        machine.update(t, 0.1, 1.0, 0.0)
    assert 5_000 * MS <= t - start <= 6_000 * MS
    assert machine.posture is Posture.NORMAL


def test_a_relapse_restarts_the_cool_down() -> None:
    machine = PostureMachine(TH)
    machine.update(0, 1.1, 1.0, 0.0)
    machine.update(4_000 * MS, 0.1, 1.0, 0.0)
    machine.update(4_500 * MS, 1.1, 1.0, 0.0)  # back above elevated
    machine.update(8_000 * MS, 0.1, 1.0, 0.0)
    assert machine.posture is Posture.ELEVATED  # 3.5 s calm only
    machine.update(13_100 * MS, 0.1, 1.0, 0.0)
    assert machine.posture is Posture.NORMAL


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3_000), st.floats(0, 3), st.floats(0, 6),
                          st.floats(0, 1)), min_size=1, max_size=200))
def test_never_drops_two_levels_nor_before_its_cool_down(
        ticks: list[tuple[int, float, float, float]]) -> None:
    machine = PostureMachine(TH)
    now = 0
    for gap_ms, anomaly, vol, turbulent in ticks:
        now += gap_ms * MS
        before, since = machine.posture, machine.since_ns
        after = machine.update(now, anomaly, vol, turbulent)
        if after is not None and after < before:
            assert after == before - 1
            cooldown = TH.cooldown_stressed_s if before is Posture.STRESSED \
                else TH.cooldown_elevated_s
            assert now - since >= cooldown * 1e9
        if after is Posture.STRESSED:
            assert anomaly >= TH.stressed
