"""Cost of the price signal on one tick: its features folded in, and the ONNX model run.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_signal``). The market is the
tick-to-wire bench's synthetic 10-level GOOG book (bench/bench_tick_to_wire.py: a seeded
random walk, three to seven level changes a message, a trade one message in four), decoded from
FIX and applied to the book outside the timing; the shipped ``models/artifacts/signal.onnx``
runs through :class:`models.signal.SignalRuntime`, as in the engine. Timed per tick, each with
``time.perf_counter_ns``: ``update`` (the features' running statistics), ``predict`` (the
feature vector written and the model run) and both together, the signal's whole cost on a tick.

Goal: p50 of the whole <= 20 µs on this machine; exits 1 when missed. The tick-to-wire cost of
the signal is measured by bench/bench_tick_to_wire.py with and without it (``--no-signal``).
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

from bench._timing import percentile, report
from bench.bench_tick_to_wire import INSTRUMENTS, W, X, _Market
from core.depth_book import DepthBook
from gateways.marketdata.fix_md import decode_market_data
from models.signal import SignalModel, SignalRuntime

MODEL = Path(__file__).resolve().parents[1] / "models" / "artifacts" / "signal.onnx"
TICKS = 50_000
WARM_UP = 2_000
GOAL_P50_NS = 20_000


def main() -> int:
    market = _Market(11)
    book = DepthBook("GOOG")
    runtime = SignalRuntime(SignalModel(MODEL))
    book.apply_market_data(decode_market_data(market.snapshot(), W, INSTRUMENTS))
    messages = [decode_market_data(market.next(), X, INSTRUMENTS) for _ in range(TICKS)]
    out: dict[str, list[int]] = {"update": [], "predict": [], "signal per tick (sum)": []}
    gc.collect()
    gc.freeze()
    clock = time.perf_counter_ns
    for n, message in enumerate(messages):
        book.apply_market_data(message)
        t0 = clock()
        runtime.update(book, message)
        t1 = clock()
        runtime.predict(book, message.ts_ns)
        t2 = clock()
        if n >= WARM_UP:
            out["update"].append(t1 - t0)
            out["predict"].append(t2 - t1)
            out["signal per tick (sum)"].append(t2 - t0)
    report(f"signal per tick: {len(out['update']):,} ticks, {MODEL.name}", out)
    p50 = percentile(sorted(out["signal per tick (sum)"]), 50)
    met = p50 <= GOAL_P50_NS
    print(f"goal: signal p50 <= {GOAL_P50_NS / 1000:.0f} µs -> {p50 / 1000:.2f} µs, "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
