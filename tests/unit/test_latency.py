"""Order latency drawn per message: its median and tail as configured, in order, per seed."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.latency import OrderLatency

MS = 1_000_000


def test_lognormal_draws_have_the_configured_median_and_99th_percentile() -> None:
    latency = OrderLatency(2.0, 20.0, seed=1)
    draws = sorted(latency.draw_ns() / MS for _ in range(40_000))
    assert statistics.median(draws) == pytest.approx(2.0, rel=0.03)
    assert draws[int(0.99 * len(draws))] == pytest.approx(20.0, rel=0.1)


def test_fixed_latency_and_the_same_seed_replay_exactly() -> None:
    assert {OrderLatency(3.0).draw_ns() for _ in range(10)} == {3 * MS}
    a, b = OrderLatency(2.0, 20.0, seed=5), OrderLatency(2.0, 20.0, seed=7)
    first = [a.due_ns(k * MS) for k in range(50)]
    b.reset(5)
    assert [b.due_ns(k * MS) for k in range(50)] == first


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=50), st.integers(0, 2**32))
def test_messages_arrive_in_the_order_sent(gaps: list[int], seed: int) -> None:
    latency = OrderLatency(1.0, 50.0, seed=seed)
    now, dues = 0, []
    for gap in gaps:
        now += gap
        due = latency.due_ns(now)
        assert due >= now
        dues.append(due)
    assert dues == sorted(dues)


@pytest.mark.parametrize(("median", "p99", "message"), [
    (-1.0, None, "median"), (2.0, 1.0, "99th"), (0.0, 5.0, "99th"), (float("nan"), None, "median"),
])
def test_impossible_latencies_are_refused(median: float, p99: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrderLatency(median, p99)
