"""Stateful LOBSTER book check throughput: the whole GOOG 10-level day, one book kept by its
messages, from the zip to the verdict.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_book_state_check``). Goal:
``execagent book-check --impact none`` on the full GOOG 2012-06-21 10-level sample (147,915
events) at >= 250,000 events per second including parsing: decompression, parsing and
validating both files, keeping the book through every message, and comparing it with every
order-book row on every level. Real data, from ``../shared/data``; without it the benchmark says
so and exits 0. Exits 1 when the goal is missed or a row mismatches.

Each run is one :func:`sim.book_state_check.check_book_state` call in this process, after one
unmeasured warm-up (a process's first read also pays for numpy's and pyarrow's first use); every
run reads the files again. Judged: the median rate by the process's CPU time, every thread's
(the reader inflates the order-book file on a second thread and pyarrow parses on several), so
a busy second core does not flatter or hurt it; the wall-clock rate, the one the CLI reports, is
printed beside it with the load average, and the time of each phase (one profiled run).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time

from bench._book_runs import GOOG, RUNS, timed_runs
from sim.book_state_check import check_book_state
from sim.lobster import LobsterSample, open_sample

GOAL_PER_S = 250_000


def main() -> int:
    if not GOOG.exists():
        print(f"{GOOG} is not here: the stateful book-check benchmark needs the LOBSTER GOOG "
              "sample; skipped")
        return 0
    sample = open_sample(GOOG)
    runs = timed_runs(check_book_state, sample)
    if runs is None:
        return 1
    result, rates, cpu_rates = runs
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    entered = result.entered or (0, 0)
    print(f"book-check --impact none, GOOG 2012-06-21 10 levels: {result.rows:,} events, "
          f"0 mismatches, {sum(entered):,} levels entered from below ({entered[0]:,} ask, "
          f"{entered[1]:,} bid)")
    print("events/s (CPU time of the process), "
          f"{RUNS} runs: " + " / ".join(f"{r:,.0f}" for r in cpu_rates))
    print("events/s (wall clock): " + " / ".join(f"{r:,.0f}" for r in rates))
    print(f"load average {load}")
    _phases(sample)
    rate = statistics.median(cpu_rates)
    met = rate >= GOAL_PER_S
    print(f"goal: median >= {GOAL_PER_S:,} events/s (CPU time) -> "
          f"{'met' if met else 'MISSED'} ({rate:,.0f})")
    return 0 if met else 1


def _phases(sample: LobsterSample) -> None:
    """Where the time goes: one profiled check, by phase (cProfile's cumulative CPU times; the
    compiled loop is one call, so the profiler adds little)."""
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(check_book_state, sample)
    # stats: (file, line, function) -> (calls, primitive calls, own, cumulative, callers)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(file: str, function: str) -> float:
        """Seconds in ``function`` of a file whose path ends with ``file`` (the compiled loop's
        entry is the built-in named after its module)."""
        return sum(seconds for key, (_, _, _, seconds, _) in stats.items()
                   if key[2] == function and key[0].endswith(file))

    total = cumulative("sim/book_state_check.py", "check_book_state")
    phases = {"read, parse and check both files": cumulative("sim/lobster.py", "read"),
              "keep the book (the compiled loop)":
                  cumulative("~", "<built-in method sim.visible_book.replay>") +
                  cumulative("sim/visible_book.py", "replay"),
              "compare with every row": cumulative("sim/book_state_check.py", "_wrong")}
    phases["the rest (columns to lists, bookkeeping)"] = total - sum(phases.values())
    print(f"where the time goes (cProfile, CPU time, one check: {total * 1000:.0f} ms):")
    for name, seconds in phases.items():
        print(f"  {name:42s} {seconds * 1000:6.0f} ms  {seconds / total:4.0%}")


if __name__ == "__main__":
    sys.exit(main())
