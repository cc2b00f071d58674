"""Drift of any model's inputs or outputs: the population stability index against its training.

A model file carries, next to its parameters, *reference histograms*: for each input feature
and for its output, the share of the training data in each of a few bins (bin edges at the
training quantiles, so each bin held about the same share). Live, a :class:`DriftMonitor`
counts the same stream into the same bins over a window of observations and compares:

    PSI = sum over bins (live share - training share) * ln(live share / training share)

The usual reading, an industry convention rather than a law: below 0.1 no shift worth a look,
0.1 to 0.25 a moderate one, above 0.25 a shift large enough that the model is now seeing data
unlike its training. Shares are floored at 1e-4 so an empty bin does not make it infinite.

Generic on purpose: the policy's observation features and its chosen action (categorical), the
posture's features, and any model added later (a price signal's inputs and prediction) plug in
the same way: a reference in the model's metadata (:func:`continuous_reference`,
:func:`categorical_reference`), one :class:`DriftMonitor` per stream, ``observe`` per value.

The reference is a JSON object: ``{"edges": [...], "probs": [...]}`` (continuous: ``len(edges) +
1`` bins, the first below the first edge, the last above the last) or ``{"categories": n,
"probs": [...]}`` (a categorical stream of integers ``0 .. n-1``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

PSI_FLOOR = 1e-4
DEFAULT_BINS = 10
DEFAULT_WINDOW = 2_000  # observations per comparison


class ReferenceError(ValueError):
    """A reference histogram that cannot be used; the message names it."""


def continuous_reference(values: Sequence[float], bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Edges at the quantiles of ``values`` (ties merged) and the share of ``values`` per bin."""
    ordered = sorted(float(v) for v in values if math.isfinite(v))
    if not ordered:
        raise ReferenceError("a reference needs at least one finite value")
    edges: list[float] = []
    for k in range(1, bins):
        edge = ordered[min(len(ordered) - 1, (k * len(ordered)) // bins)]
        if not edges or edge > edges[-1]:
            edges.append(edge)
    counts = [0] * (len(edges) + 1)
    for value in ordered:
        counts[bisect_right(edges, value)] += 1
    return {"edges": edges, "probs": [c / len(ordered) for c in counts]}


def categorical_reference(values: Iterable[int], categories: int) -> dict[str, Any]:
    counts = [0] * categories
    total = 0
    for value in values:
        if 0 <= value < categories:
            counts[value] += 1
            total += 1
    if total == 0:
        raise ReferenceError("a categorical reference needs at least one value in range")
    return {"categories": categories, "probs": [c / total for c in counts]}


def psi(expected: Sequence[float], actual_counts: Sequence[int]) -> float:
    """The population stability index of the counts against the expected shares."""
    total = sum(actual_counts)
    if total == 0:
        return 0.0
    value = 0.0
    for share, count in zip(expected, actual_counts, strict=True):
        e = max(share, PSI_FLOOR)
        a = max(count / total, PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return value


class DriftMonitor:
    """One stream's live histogram against its reference, compared every ``window`` values.

    ``psi`` is the last complete window's index (None before the first one completes), so a
    scrape reads a number that is not moved by the few values of a window just begun.
    """

    __slots__ = ("_counts", "_edges", "_n", "categories", "name", "psi", "reference", "window",
                 "windows")

    def __init__(self, name: str, reference: Mapping[str, Any],
                 window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("a drift window needs at least one observation")
        self.name = name
        self.window = window
        probs = reference.get("probs")
        if not isinstance(probs, list) or not probs or \
                not all(isinstance(p, int | float) and p >= 0 for p in probs):
            raise ReferenceError(f"reference of {name}: 'probs' must be a list of shares")
        self.reference = [float(p) for p in probs]
        categories = reference.get("categories")
        if categories is not None:
            if categories != len(probs):
                raise ReferenceError(f"reference of {name}: {categories} categories, "
                                     f"{len(probs)} shares")
            self._edges: list[float] = []
            self.categories = int(categories)
        else:
            edges = reference.get("edges")
            if not isinstance(edges, list) or len(edges) + 1 != len(probs) or \
                    any(b <= a for a, b in pairwise(edges)):
                raise ReferenceError(f"reference of {name}: 'edges' must rise and number one "
                                     "fewer than the shares")
            self._edges = [float(e) for e in edges]
            self.categories = 0
        self._counts = [0] * len(probs)
        self._n = 0
        self.psi: float | None = None
        self.windows = 0  # complete windows so far

    def observe(self, value: float) -> None:
        if self.categories:
            index = int(value)
            if not 0 <= index < self.categories:
                return
        else:
            if value != value:  # NaN: not an observation
                return
            index = bisect_right(self._edges, value)
        self._counts[index] += 1
        self._n += 1
        if self._n >= self.window:
            self.psi = psi(self.reference, self._counts)
            self.windows += 1
            self._counts = [0] * len(self._counts)
            self._n = 0


def monitors(references: Mapping[str, Any], window: int = DEFAULT_WINDOW) -> list[DriftMonitor]:
    """A monitor per named reference (a model's ``{"features": {...}}`` or ``{"outputs":
    {...}}`` section), in the order given."""
    return [DriftMonitor(name, ref, window) for name, ref in references.items()]
