"""The reconnect backoff's schedule and its configuration (gateways/fix/reconnect.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateways.fix.reconnect import Backoff
from service.config import FixConfig


def test_waits_grow_by_the_multiplier_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=2, max_s=30, multiplier=2, jitter=0)
    assert [backoff.base_s(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert backoff.wait_s(3, 0.99) == 8


def test_jitter_adds_at_most_its_share_of_the_base() -> None:
    backoff = Backoff(initial_s=2, max_s=30, multiplier=2, jitter=0.5)
    assert backoff.wait_s(2, 0.0) == 4
    assert backoff.wait_s(2, 0.5) == 5
    assert 4 <= backoff.wait_s(2, 0.999) < 6


def test_a_multiplier_of_one_is_a_fixed_interval() -> None:
    backoff = Backoff(initial_s=5, max_s=5, multiplier=1, jitter=0)
    assert {backoff.base_s(n) for n in range(1, 10)} == {5}


@pytest.mark.parametrize("initial, cap, multiplier, jitter", [
    (0, 10, 2, 0), (5, 4, 2, 0), (1, 10, 0.5, 0), (1, 10, 2, 1.5)])
def test_an_impossible_schedule_is_refused(initial: float, cap: float, multiplier: float,
                                           jitter: float) -> None:
    with pytest.raises(ValueError, match="invalid reconnect backoff"):
        Backoff(initial, cap, multiplier, jitter)


def test_the_configuration_refuses_a_cap_below_the_first_wait() -> None:
    with pytest.raises(ValidationError, match="reconnect_max_seconds"):
        FixConfig(reconnect_seconds=30, reconnect_max_seconds=10)
    config = FixConfig()
    assert (config.reconnect_seconds, config.reconnect_max_seconds,
            config.reconnect_multiplier, config.reconnect_jitter) == (2, 60.0, 2.0, 0.2)
    # A first wait above the default cap, with no cap given (a configuration from before the
    # backoff): the cap follows it, so that interval stays as it was.
    assert FixConfig(reconnect_seconds=120).reconnect_max_seconds == 120


@pytest.mark.parametrize("field, value", [("reconnect_multiplier", 0.9),
                                          ("reconnect_jitter", 1.5),
                                          ("reconnect_max_seconds", 0)])
def test_the_configuration_validates_each_backoff_field(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        FixConfig(**{field: value})
