"""``execagent order submit --end``: the end time a user types, into seconds from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service.commands.orders_cli import seconds_until

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("end, seconds", [
    ("2026-11-23T15:30:00+00:00", 1800.0),
    ("2026-11-23T16:30+01:00", 1800.0),  # the same instant in another zone
    ("2026-11-23T15:30", 1800.0),  # no offset: the local zone (here, now's)
    ("15:30", 1800.0),  # a time of day: today
    ("15:00:00.5", 0.5),
])
def test_end_times_in_every_spelling(end: str, seconds: float) -> None:
    assert seconds_until(end, NOW) == seconds


def test_a_local_zone_is_used_when_none_is_given() -> None:
    new_york = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert seconds_until("10:20", new_york) == 1200.0


@pytest.mark.parametrize("end, message", [
    ("14:59", "not in the future"),
    ("2026-11-23T15:00:00+00:00", "not in the future"),
    ("half past three", "not an ISO date-time"),
])
def test_ends_that_cannot_be_used_say_why(end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        seconds_until(end, NOW)
