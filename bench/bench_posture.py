"""Cost of the dynamic risk posture on every tick: ``PostureGate.update`` and, while not NORMAL,
its pre-check of an order.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_posture``). The first 40,000
market-data messages of the GOOG LOBSTER day (``../shared/data``; a synthetic random walk when
the sample is absent) are built first; then each is applied to the book (not timed) and the
posture updated (timed): market state, scores, hysteresis, with the shipped model
(models/artifacts/posture.json). Goal: p50 <= 10 µs per tick on this machine; the script exits
1 when it is missed (the table's p99 column is shown, the goal is on the median).
"""

from __future__ import annotations

import gc
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from bench._timing import percentile, report
from core.depth_book import DepthBook
from core.domain import BookUpdate, Instrument, MarketData, NewOrder, Side
from models.posture.levels import Posture
from models.posture.model import load_posture_model
from risk.limits import load_limits
from risk.overlay import RiskOverlay
from service.posture.config import PostureConfig
from service.posture.gate import PostureGate

ROOT = Path(__file__).resolve().parents[1]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
TICKS = 40_000
GOAL_P50_NS = 10_000


def recorded_ticks() -> list[MarketData]:
    from sim.lobster import open_sample
    from sim.replay_exchange import ReplayExchange

    exchange = ReplayExchange(open_sample(GOOG), "GOOG")
    ticks = [exchange.snapshot()]
    while len(ticks) < TICKS and exchange.next_event_ns() is not None:
        ticks += [e for e in exchange.step() if isinstance(e, MarketData)]
    return ticks


def synthetic_ticks() -> list[MarketData]:
    rng = random.Random(5)
    mid, ticks, now = 58_000, [], 34_200 * 10**9
    for _ in range(TICKS):
        now += rng.randint(1, 400) * 1_000_000
        mid += rng.choice((-1, 0, 0, 1))
        updates = tuple(BookUpdate("GOOG", side, mid + sign * level, rng.randint(1, 9) * 100, now)
                        for side, sign in ((Side.BUY, -1), (Side.SELL, 1))
                        for level in range(1, 6))
        ticks.append(MarketData("GOOG", now, updates, ()))
    return ticks


def main() -> None:
    source = "GOOG 2012-06-21 (LOBSTER)" if GOOG.exists() else "a synthetic random walk"
    ticks = recorded_ticks() if GOOG.exists() else synthetic_ticks()
    instruments = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
    overlay = RiskOverlay(load_limits(ROOT / "deploy" / "risk" / "limits.demo.yaml"), instruments)
    gate = PostureGate(load_posture_model(ROOT / "models" / "artifacts" / "posture.json"),
                       PostureConfig(enabled=True), instruments, overlay)
    book = DepthBook("GOOG")
    clock = time.perf_counter_ns
    samples: list[int] = []
    checks: list[int] = []
    gc.collect()
    gc.freeze()
    for k, tick in enumerate(ticks):
        book.apply_market_data(tick)
        overlay.on_market_data("GOOG", book.best_bid(), book.best_ask(), tick.ts_ns)
        before = clock()
        gate.update("GOOG", book, tick, tick.ts_ns)
        samples.append(clock() - before)
        if k % 10 == 0 and book.best_bid() is not None:
            symbol = gate.symbols["GOOG"]
            kept = symbol.posture
            symbol.posture = Posture.ELEVATED  # the check does its work only when not NORMAL
            intent = NewOrder(f"C{k}", "P", "GOOG", Side.SELL, 100, book.best_bid() or 1)
            before = clock()
            gate.check(intent, tick.ts_ns)
            checks.append(clock() - before)
            symbol.posture = kept
    report(f"risk posture per tick ({source}, {len(samples):,} ticks)",
           {"update (features, scores, hysteresis)": samples,
            "check of an order, ELEVATED": checks})
    p50 = percentile(sorted(samples), 50)
    met = p50 <= GOAL_P50_NS
    Console().print(f"goal: p50 <= {GOAL_P50_NS / 1000:.1f} µs per tick -> "
                    f"{p50 / 1000:.2f} µs, {'met' if met else 'MISSED'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
