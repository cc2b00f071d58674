"""The timed runs both book-check benchmarks make: one unmeasured warm-up, then ``RUNS``
checks of the GOOG day, each reading the files again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sim.book_check import BookCheckResult
from sim.lobster import LobsterSample

GOOG = Path(__file__).resolve().parents[2] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
RUNS = 5


def timed_runs(check: Callable[[LobsterSample], BookCheckResult], sample: LobsterSample) \
        -> tuple[BookCheckResult, list[float], list[float]] | None:
    """The last result, and each run's events/s by the wall clock (the check's own) and by the
    process's CPU time; None, after printing the first mismatch, if a row mismatches."""
    check(sample)  # warm-up: a process's first read also pays for numpy's and pyarrow's first use
    rates, cpu_rates = [], []
    for _ in range(RUNS):
        cpu = time.process_time()
        result = check(sample)
        cpu = time.process_time() - cpu
        rates.append(result.events_per_second)
        cpu_rates.append(result.rows / cpu)
        if result.mismatches:
            print(f"{result.mismatches} mismatching rows: {result.first_mismatch_dict()}")
            return None
    return result, rates, cpu_rates
