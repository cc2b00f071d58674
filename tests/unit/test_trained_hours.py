"""An evaluation on hours a model trained on says it is in-sample."""

import json

import pytest

from models.task import TRAINING_CONFIG_KEY
from models.trained_hours import in_sample

DAY = "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


def _metadata(window: str = "09:30-12:15", embargo: float = 15.0,
              data: str = f"../shared/data/{DAY}") -> dict[str, str]:
    replay = {"data": data, "window": window, "embargo_minutes": embargo}
    return {TRAINING_CONFIG_KEY: json.dumps({"replay": replay})}


@pytest.mark.parametrize(("window", "overlaps"), [
    ("13:45-16:00", False),  # the held-out afternoon
    ("12:30-13:30", False),  # after the embargo
    ("12:20-13:30", True),  # inside the embargo
    ("09:00-09:30", False),  # ends where training begins
    ("11:00-11:30", True),
    (None, True),  # the whole day
])
def test_a_window_is_in_sample_where_it_meets_training_or_its_embargo(
        window: str | None, overlaps: bool) -> None:
    line = in_sample(_metadata(), DAY, window)
    assert (line is not None) == overlaps
    if line is not None:
        assert line.startswith(f"rl trained on 09:30-12:15 of {DAY} (15 min embargo")
        assert line.endswith("an in-sample result")


def test_another_day_or_a_model_without_a_replay_is_out_of_sample() -> None:
    assert in_sample(_metadata(), "LOBSTER_SampleFile_AAPL_2012-06-21_10.zip", None) is None
    assert in_sample({TRAINING_CONFIG_KEY: json.dumps({"replay": None})}, DAY, None) is None
    assert in_sample({}, DAY, None) is None
    assert in_sample({TRAINING_CONFIG_KEY: "not json"}, DAY, None) is None
    assert in_sample(_metadata(window="late"), DAY, None) is None
