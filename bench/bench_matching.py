"""Matching-engine throughput: the stochastic order flow applied to one order-level book.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_matching.py``). Simulated flow, not market
data: it measures the book's and the flow model's cost per event (limit, market and cancel
events in the flow's proportions), which bounds how fast training and the simulated venue can
go. Two flows: the uncalibrated default (the generic venue's) and the one calibrated to GOOG
(``sim/params/GOOG_2012-06-21.json``, the demo's and training's market).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import report  # noqa: E402

from sim.calibrate import load_flow_params  # noqa: E402
from sim.flow import FlowParams, StochasticFlow  # noqa: E402
from sim.matching import OrderBook  # noqa: E402

EVENTS = 200_000


CALIBRATED = Path(__file__).resolve().parents[1] / "sim" / "params" / "GOOG_2012-06-21.json"


def main() -> None:
    run("default parameters", FlowParams())
    run("calibrated to GOOG 2012-06-21", load_flow_params(CALIBRATED))


def run(name: str, params: FlowParams) -> None:
    flow = StochasticFlow(params, seed=7)
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
    report(f"order flow into the L3 book (StochasticFlow, {name}, seed 7)",
           {"apply_next": samples})
    print(f"{EVENTS / elapsed_s:,.0f} events/s including timing overhead; "
          f"{len(book)} orders resting at the end")


if __name__ == "__main__":
    main()
