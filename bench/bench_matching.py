"""Matching-engine throughput: the stochastic order flow applied to one order-level book.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_matching``). Simulated flow, not market
data: it measures the book's and the flow model's cost per event (limit, market and cancel
events in the flow's proportions), which bounds how fast training and the simulated venue can
go. Two flows: the uncalibrated default (the generic venue's) and the one calibrated to GOOG
(``sim/params/GOOG_2012-06-21.json``, the demo's and training's market).

Goal: >= 200,000 events/s. Judged on the throughput runs, which call
``apply_next`` back to back with nothing else in the loop, by the process's CPU time
(``time.process_time``: the rate of one free core; this machine's wall clock depends on what
else runs on it, so the wall-clock rate and the load average are printed beside it). A
separate run times every call for the latency percentiles (that timing costs about half a
microsecond an event, so it is not the throughput run). Exits 1 when a flow misses the goal.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from bench._timing import report
from sim.calibrate import load_flow_params
from sim.flow import FlowParams, StochasticFlow
from sim.matching import OrderBook

EVENTS = 200_000
RUNS = 3
GOAL_PER_S = 200_000


CALIBRATED = Path(__file__).resolve().parents[1] / "sim" / "params" / "GOOG_2012-06-21.json"


def main() -> int:
    met = run("default parameters", FlowParams())
    met &= run("calibrated to GOOG 2012-06-21", load_flow_params(CALIBRATED))
    return 0 if met else 1


def run(name: str, params: FlowParams) -> bool:
    flow, book = _fresh(params)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(EVENTS):
        before = clock()
        flow.apply_next(book)
        samples.append(clock() - before)
    report(f"order flow into the L3 book (StochasticFlow, {name}, seed 7)",
           {"apply_next": samples})
    cpu_rates, wall_rates = [], []
    for _ in range(RUNS):
        flow, book = _fresh(params)
        apply_next = flow.apply_next
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(EVENTS):
            apply_next(book)
        wall_rates.append(EVENTS / (time.perf_counter() - wall))
        cpu_rates.append(EVENTS / (time.process_time() - cpu))
    rate = statistics.median(cpu_rates)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{EVENTS:,} events a run, {RUNS} runs, {len(book)} orders resting at the end")
    print("events/s (CPU time): " + " / ".join(f"{r:,.0f}" for r in cpu_rates))
    print("events/s (wall clock): " + " / ".join(f"{r:,.0f}" for r in wall_rates) +
          f"; load average {load}")
    met = rate >= GOAL_PER_S
    print(f"goal: median >= {GOAL_PER_S:,} events/s (CPU time) -> "
          f"{'met' if met else 'MISSED'} ({rate:,.0f})")
    return met


def _fresh(params: FlowParams) -> tuple[StochasticFlow, OrderBook]:
    flow = StochasticFlow(params, seed=7)
    book = OrderBook("BENCH")
    flow.seed_book(book, 0)
    return flow, book


if __name__ == "__main__":
    sys.exit(main())
