"""Latency of the pre-trade risk check, the one call every child order must pass.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_risk_check.py``). A synthetic mix of
buys and sells within and beyond the limits; allowed orders stay open (no fills), so in-flight
quantity builds up until the position limits deny, as in a session whose venue is slow.
Goal (issue 5): p99 <= 5 µs per check on this machine; the script exits 1 when it is missed.
"""

from __future__ import annotations

import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import report  # noqa: E402

from risk.limits import RiskLimits, SymbolLimits  # noqa: E402
from risk.overlay import RiskOverlay  # noqa: E402
from service.domain import Instrument, NewOrder, Side  # noqa: E402

CHECKS = 100_000
GOAL_NS = 5_000


def main() -> None:
    limits = RiskLimits(symbols={"BENCH": SymbolLimits(max_order_qty=1_000,
                                                       max_long_position=50_000,
                                                       max_short_position=50_000)})
    overlay = RiskOverlay(limits, {"BENCH": Instrument("BENCH", Decimal("0.01"))})
    rng = random.Random(3)
    intents = [NewOrder(f"C{i}", "P1", "BENCH", rng.choice((Side.BUY, Side.SELL)),
                        rng.randint(1, 1_200), 10_000 + rng.randint(-50, 50))
               for i in range(CHECKS)]
    samples = []
    clock = time.perf_counter_ns
    for now, intent in enumerate(intents):
        before = clock()
        overlay.check(intent, now)
        samples.append(clock() - before)
    met = report("risk overlay check (synthetic intents, 1 symbol)", {"check": samples}, GOAL_NS)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
