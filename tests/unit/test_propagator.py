"""The propagator's shape: zero for none, monotone in size, decaying with time, signed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import Side
from sim.propagator import ImpactParams, Propagator

params = st.builds(ImpactParams,
                   g0_ticks=st.floats(0.01, 50.0), size_exponent=st.floats(0.0, 1.0),
                   reference_qty=st.floats(1.0, 10_000.0), decay_s=st.floats(0.01, 3_600.0),
                   decay_exponent=st.floats(0.0, 2.0))
sizes = st.integers(1, 100_000)
ages = st.integers(0, 10**13)


@given(params, sizes, sizes, ages)
def test_a_larger_order_moves_the_price_at_least_as_much(p: ImpactParams, a: int, b: int,
                                                         age: int) -> None:
    small, large = sorted((a, b))
    assert 0.0 <= p.kernel(small, age) <= p.kernel(large, age)


@given(params, sizes, ages, ages)
def test_impact_decays_with_time(p: ImpactParams, qty: int, a: int, b: int) -> None:
    early, late = sorted((a, b))
    assert p.kernel(qty, late) <= p.kernel(qty, early) <= p.kernel(qty, 0) == \
        pytest.approx(p.g0_ticks * (qty / p.reference_qty) ** p.size_exponent)


@given(st.lists(st.tuples(st.sampled_from(Side), sizes, ages), max_size=20), ages)
def test_no_impact_is_zero_whatever_the_agent_does(trades: list[tuple[Side, int, int]],
                                                   now: int) -> None:
    propagator = Propagator(ImpactParams.none())
    for side, qty, ts in trades:
        propagator.trade(side, qty, ts)
    assert propagator.shift(now) == 0.0 and propagator.shift_ticks(now) == 0


@given(params, sizes, ages)
def test_a_buy_pushes_up_and_the_same_sell_down_by_as_much(p: ImpactParams, qty: int,
                                                           age: int) -> None:
    buy, sell = Propagator(p), Propagator(p)
    buy.trade(Side.BUY, qty, 0)
    sell.trade(Side.SELL, qty, 0)
    assert buy.shift(age) >= 0.0 and sell.shift(age) == -buy.shift(age)
    assert sell.shift_ticks(age) == -buy.shift_ticks(age)


@pytest.mark.parametrize("document", [
    [], {"g0_ticks": "x"}, {"g0_ticks": -1.0}, {"decay_s": 0.0}, {"surprise": 1.0}])
def test_a_bad_impact_section_is_one_clear_error(document: object) -> None:
    with pytest.raises(ValueError, match="impact"):
        ImpactParams.from_json(document)


def test_the_json_section_round_trips() -> None:
    p = ImpactParams(3.9, 0.5, 91.0, 5.3, 0.12)
    assert ImpactParams.from_json(p.to_json()) == p
    assert ImpactParams.none().is_none and not p.is_none
