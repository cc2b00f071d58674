import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import models.features as features_module
from core.depth_book import DepthBook
from core.domain import (
    BookUpdate,
    ChildOrder,
    MarketData,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
    Trade,
)
from models.features import (
    FEATURE_SPEC_HASH,
    FEATURES,
    N_FEATURES,
    MarketTracker,
    new_observation_buffer,
    observe,
)
from models.spec_hash import source_of

SECOND = 10**9


def _book() -> DepthBook:
    book = DepthBook("GOOG")
    for update in (BookUpdate("GOOG", Side.BUY, 58000, 300, 0),
                   BookUpdate("GOOG", Side.BUY, 57999, 700, 0),
                   BookUpdate("GOOG", Side.SELL, 58002, 100, 0),
                   BookUpdate("GOOG", Side.SELL, 58003, 100, 0)):
        book.apply(update)
    return book


def test_observation_values_on_a_known_book() -> None:
    parent = ParentOrder("P", "GOOG", Side.SELL, 1000, 0, 100 * SECOND, "rl")
    parent.filled = 250
    resting = ChildOrder("C", "P", "GOOG", Side.SELL, 100, 58003, OrdType.LIMIT,
                         TimeInForce.DAY)
    obs = observe(new_observation_buffer(), _book(), parent, [resting], MarketTracker(),
                  25 * SECOND, 100)
    named = dict(zip([name for name, _ in FEATURES], obs.tolist(), strict=True))
    assert named["time_remaining"] == pytest.approx(0.75)
    assert named["inventory_remaining"] == pytest.approx(0.75)
    assert named["schedule_deviation"] == pytest.approx(0.0)
    assert named["spread"] == pytest.approx(0.2)
    # selling: imbalance is signed for the parent's side (more bids than asks is good news)
    assert named["imbalance_touch"] == pytest.approx(-(300 - 100) / 400)
    assert named["imbalance_5"] == pytest.approx(-(1000 - 200) / 1200)
    assert named["working_distance"] == pytest.approx(0.1)  # one tick behind the near touch
    assert named["working_qty"] == pytest.approx(0.25)
    assert named["queue_ahead"] == pytest.approx(0.0)


def test_tracker_infers_aggressor_with_the_quote_rule_when_feed_does_not_say() -> None:
    book, tracker = _book(), MarketTracker()
    tracker.update(book, MarketData("GOOG", 1, ()))
    tracker.update(book, MarketData("GOOG", 2, (), (Trade("GOOG", 58002, 50, None, 2),)))
    assert tracker.signed_flow > 0  # a print at the ask was a buyer's


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.floats(0, 2), st.integers(1, 10**4))
def test_observation_is_finite_and_bounded(qty: int, filled: int, t: float, slice_qty: int) -> None:
    parent = ParentOrder("P", "GOOG", Side.BUY, qty, 0, 100 * SECOND, "rl")
    parent.filled = min(filled, qty)
    obs = observe(np.zeros(N_FEATURES, np.float32), _book(), parent, [], MarketTracker(),
                  int(t * 100 * SECOND), slice_qty)
    assert np.all(np.isfinite(obs)) and np.all(np.abs(obs) <= 1.0 + 1e-6)


def test_spec_hash_is_a_stable_identifier() -> None:
    assert len(FEATURE_SPEC_HASH) == 16 and len(FEATURES) == N_FEATURES


def test_spec_hash_is_the_interpreted_modules_whatever_runs() -> None:
    """The hash reads the functions' source from models/features.py (compiled, they carry
    none); it must be what ``inspect.getsource`` gives for the same file interpreted, which is
    how the shipped model's hash was made."""
    path = Path(features_module.__file__).with_name("features.py")
    spec = importlib.util.spec_from_file_location("_features_interpreted", path)
    assert spec is not None and spec.loader is not None
    interpreted = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = interpreted  # inspect finds a class's file through sys.modules
    try:
        spec.loader.exec_module(interpreted)
        by_inspect = [inspect.getsource(fn) for fn in
                      (interpreted._clip, interpreted.MarketTracker, interpreted.observe)]  # noqa: SLF001
    finally:
        del sys.modules[spec.name]
    assert source_of(path, ("_clip", "MarketTracker", "observe")) == by_inspect
    assert interpreted.FEATURE_SPEC_HASH == FEATURE_SPEC_HASH
    assert by_inspect[2].startswith("def observe(") and by_inspect[2].rstrip().endswith(
        "return out")
