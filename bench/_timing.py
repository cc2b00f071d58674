"""Shared timing helpers for the benchmarks: percentiles of per-call latency, printed with rich.

Benchmarks time each call with ``time.perf_counter_ns`` and report p50/p99/p99.9 and max, because
a hard-limit check or a tick's decision is judged by its tail, not its mean. Numbers depend on the
machine; docs/benchmarks.md records them with the machine and the command.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def percentile(sorted_ns: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted samples."""
    index = min(len(sorted_ns) - 1, max(0, round(q / 100 * len(sorted_ns)) - 1))
    return sorted_ns[index]


def report(title: str, rows: dict[str, list[int]], goal_ns: int | None = None) -> bool:
    """Print one row per measured operation; return False when a p99 misses ``goal_ns``."""
    table = Table(title=title)
    for column in ("operation", "calls", "p50 µs", "p99 µs", "p99.9 µs", "max µs"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    met = True
    for name, samples in rows.items():
        ordered = sorted(samples)
        p99 = percentile(ordered, 99)
        met &= goal_ns is None or p99 <= goal_ns
        table.add_row(name, f"{len(ordered):,}",
                      *(f"{v / 1000:.2f}" for v in (percentile(ordered, 50), p99,
                                                    percentile(ordered, 99.9), ordered[-1])))
    Console().print(table)
    if goal_ns is not None:
        Console().print(f"goal: p99 <= {goal_ns / 1000:.1f} µs -> {'met' if met else 'MISSED'}")
    return met
