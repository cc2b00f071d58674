"""Matching-engine throughput: the stochastic order flow applied to one order-level book.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_matching.py``). Simulated flow, not market
data: it measures the book's own cost per event (limit, market and cancel events in the flow's
proportions), which bounds how fast training and the simulated venue can go.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import report  # noqa: E402

from sim.flow import StochasticFlow  # noqa: E402
from sim.matching import OrderBook  # noqa: E402

EVENTS = 200_000


def main() -> None:
    flow = StochasticFlow(seed=7)
    book = OrderBook("BENCH")
    flow.seed_book(book, 0)
    samples = []
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(EVENTS):
        before = clock()
        flow.apply_next(book)
        samples.append(clock() - before)
    elapsed_s = (clock() - started) / 1e9
    report("order flow into the L3 book (StochasticFlow, seed 7)", {"apply_next": samples})
    print(f"{EVENTS / elapsed_s:,.0f} events/s including timing overhead; "
          f"{len(book)} orders resting at the end")


if __name__ == "__main__":
    main()
