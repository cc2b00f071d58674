"""The risk-check kernels docs/benchmarks.md compares in instructions, for ``valgrind
--tool=callgrind``: run a kernel over two counts and divide the difference in instructions by the
difference in counts, so start-up and imports cancel out.

Why: on a shared machine the timings swing with the load, and instruction counts do not.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python \\
        -m bench.risk_kernels qty 6000            # and with 1000: a max_order_qty denial
    valgrind ... -m bench.risk_kernels collar 6000         # a price_collar denial
    valgrind ... -m bench.risk_kernels allowed 6000        # an allowed new order ...
    valgrind ... -m bench.risk_kernels allowed-setup 6000  # ... less building its intents

``allowed`` checks N distinct orders under limits too wide to deny (bench_risk_check.py's, with
the position, open-order and participation caps opened up), so every check takes the whole
path and records the order; ``allowed-setup`` builds the same N intents and checks none.
"""

from __future__ import annotations

import copy
import logging
import sys
from decimal import Decimal

from bench.bench_risk_check import LIMITS
from core.domain import Instrument, NewOrder, Side
from risk.limits import parse_limits
from risk.overlay import RiskOverlay


def main(kind: str, count: int) -> None:
    logging.disable(logging.WARNING)
    limits = copy.deepcopy(LIMITS)
    if kind.startswith("allowed"):
        limits["global"]["max_open_orders"] = 10**7
        limits["symbols"]["BENCH"].update(max_open_orders=10**7, max_long_position=10**9)
        limits["symbols"]["BENCH"]["max_participation"]["rate"] = 1.0
    overlay = RiskOverlay(parse_limits(limits), {"BENCH": Instrument("BENCH", Decimal("0.01"))})
    overlay.on_market_data("BENCH", 9_999, 10_001, 0, traded_qty=10**12)
    check = overlay.check
    if kind in ("allowed", "allowed-setup"):
        orders = [NewOrder(f"C{i}", "P", "BENCH", Side.BUY, 10, 10_000) for i in range(count)]
        for i in range(count if kind == "allowed" else 0):
            check(orders[i], 1_000 + i * 10_000)
        return
    intents = {"qty": NewOrder("A", "P", "BENCH", Side.BUY, 5_000, 10_000),
               "collar": NewOrder("B", "P", "BENCH", Side.BUY, 10, 10_100)}
    if kind not in intents:
        raise SystemExit(f"unknown kernel {kind!r}: qty, collar, allowed or allowed-setup")
    intent = intents[kind]
    for _ in range(count):
        check(intent, 1_000)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
