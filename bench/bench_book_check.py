"""LOBSTER book check throughput: the whole GOOG 10-level day, from the zip to the verdict.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_book_check``). Goal:
``execagent book-check`` on the full GOOG 2012-06-21 10-level sample (147,915 events checked)
at >= 300,000 events per second including parsing: decompression, parsing (pyarrow's CSV
reader) and validating both files, the replay of every message and its comparison with every
order-book row. Real data, from ``../shared/data``; without it the benchmark says so and exits
0. Exits 1 when the goal is missed or a row mismatches.

Each run is one :func:`sim.book_check.check_book` call in this process, after one unmeasured
warm-up (the first run of a process also pays for importing numpy's and pyarrow's kernels and
faulting their memory in: 0.1-0.2 s here); every run reads the files again (the check never
uses a kept read). Judged: the median wall-clock rate, the one ``execagent book-check``
reports (the check inflates the order-book file on a second thread while it parses the
messages, and pyarrow parses on several, so the process's CPU time, printed beside it, is not
one core's share). The wall clock depends on what else runs on the machine: the load average is
printed too, with the time of each phase (one profiled run).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys

from bench._book_runs import GOOG, RUNS, timed_runs
from sim.book_check import check_book
from sim.lobster import LobsterSample, open_sample

GOAL_PER_S = 300_000


def main() -> int:
    if not GOOG.exists():
        print(f"{GOOG} is not here: the book-check benchmark needs the LOBSTER GOOG sample; "
              "skipped")
        return 0
    sample = open_sample(GOOG)
    runs = timed_runs(check_book, sample)
    if runs is None:
        return 1
    result, rates, cpu_rates = runs
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    rate = statistics.median(rates)
    print(f"book-check, GOOG 2012-06-21 10 levels: {result.rows:,} events, 0 mismatches")
    print(f"events/s (wall clock), {RUNS} runs: " + " / ".join(f"{r:,.0f}" for r in rates))
    print("events/s (CPU time of the process): " + " / ".join(f"{r:,.0f}" for r in cpu_rates))
    print(f"load average {load}")
    _phases(sample)
    met = rate >= GOAL_PER_S
    print(f"goal: median >= {GOAL_PER_S:,} events/s (wall clock) -> "
          f"{'met' if met else 'MISSED'} ({rate:,.0f})")
    return 0 if met else 1


def _phases(sample: LobsterSample) -> None:
    """Where the time goes: one profiled check, by phase (cProfile's cumulative times; the
    numpy-heavy work makes few calls, so the profiler adds little)."""
    profiler = cProfile.Profile()
    profiler.runcall(check_book, sample)
    # stats: (file, line, function) -> (calls, primitive calls, own, cumulative, callers)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(function: str, caller: str | None = None) -> float:
        total = 0.0
        for key, (_, _, _, seconds, callers) in stats.items():
            if key[2] == function:
                total += seconds if caller is None else \
                    sum(c[3] for k, c in callers.items() if k[2] == caller)
        return total

    unzip_messages = cumulative("read_bytes", "_messages")
    parse_book = cumulative("_table", "read_blocks")
    parse_messages = cumulative("_table", "read_columns")
    phases = {"unzip the message file": unzip_messages,
              "messages: parse (pyarrow)": parse_messages,
              "messages: check": cumulative("_messages") - unzip_messages - parse_messages,
              "wait for the order-book file's unzip": cumulative("result", "_read"),
              "order book: parse (pyarrow)": parse_book,
              "order book: check, to ticks": cumulative("_book") - parse_book,
              "replay and compare": cumulative("_replay")}
    total = cumulative("check_book")
    phases["the rest (first mismatch, bookkeeping)"] = total - sum(phases.values())
    print(f"where the time goes (cProfile, one check: {total * 1000:.0f} ms):")
    for name, seconds in phases.items():
        print(f"  {name:38s} {seconds * 1000:6.0f} ms  {seconds / total:4.0%}")


if __name__ == "__main__":
    sys.exit(main())
