"""The population stability index and the drift monitor: 0 for the same data, large for a
shift, references checked."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.drift import (
    DriftMonitor,
    ReferenceError,
    categorical_reference,
    continuous_reference,
    psi,
)


def test_same_distribution_small_shifted_distribution_large() -> None:
    rng = random.Random(1)
    reference = continuous_reference([rng.gauss(0, 1) for _ in range(20_000)])
    same = DriftMonitor("x", reference, window=5_000)
    shifted = DriftMonitor("x", reference, window=5_000)
    for _ in range(5_000):
        same.observe(rng.gauss(0, 1))
        shifted.observe(rng.gauss(1, 1))
    assert same.psi is not None and same.psi < 0.02
    assert shifted.psi is not None and shifted.psi > 0.25


def test_the_index_reports_complete_windows_only() -> None:
    monitor = DriftMonitor("x", continuous_reference([0.0, 1.0, 2.0, 3.0]), window=10)
    for _ in range(9):
        monitor.observe(100.0)
    assert monitor.psi is None
    monitor.observe(100.0)
    assert monitor.psi is not None and monitor.windows == 1
    monitor.observe(float("nan"))  # not an observation
    assert monitor.windows == 1


def test_categorical_stream() -> None:
    reference = categorical_reference([0, 1, 1, 3], categories=4)
    assert reference["probs"] == [0.25, 0.5, 0.0, 0.25]
    monitor = DriftMonitor("action_kind", reference, window=4)
    for kind in (2, 2, 2, 2):
        monitor.observe(kind)
    assert monitor.psi is not None and monitor.psi > 1.0
    monitor.observe(7)  # outside the categories: ignored


@pytest.mark.parametrize("reference", [
    {}, {"probs": []}, {"probs": [0.5, 0.5], "edges": []}, {"probs": [0.5, 0.5], "edges": [2.0,
                                                                                     1.0]},
    {"probs": [0.5, 0.5], "categories": 3}, {"probs": ["a"]}])
def test_unusable_references_are_refused(reference: dict[str, object]) -> None:
    with pytest.raises(ReferenceError):
        DriftMonitor("x", reference)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12),
       st.lists(st.integers(0, 1_000), min_size=2, max_size=12))
def test_psi_is_never_negative(shares: list[float], counts: list[int]) -> None:
    n = min(len(shares), len(counts))
    assert psi(shares[:n], counts[:n]) >= 0.0
