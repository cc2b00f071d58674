"""The FIX venue's LOBSTER replay with the clients' impact (gateways/venue/impact_flow.py):
recorded messages per second of CPU time, against the plain replay.

``python -m bench.bench_venue_impact [PATH]``: the GOOG sample's messages 1,001 to 21,000 applied
to the venue's book by the plain replay, then by the replay with the propagator in
sim/params/GOOG_2012-06-21.json after 0, 100 and 1,000 client market orders of 100 shares
(alternating buys and sells, so the shift stays near zero and the book near the recording; the
time to evaluate the shift is what grows with them: a sum of one kernel per order).

Goal: >= 1,000 messages/s with 1,000 client market orders behind it, the GOOG day's average
message rate (6.3 a second) at 150x. Exits 1 when missed; without the data it says so and
exits 0.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

from core.domain import Side
from gateways.venue.impact_flow import ImpactReplayFlow
from gateways.venue.replay_flow import LobsterReplayFlow, open_replay
from sim.impact_fit import load_impact_params
from sim.matching import OrderBook

DEFAULT_DATA = Path("../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip")
PARAMS = Path(__file__).resolve().parents[1] / "sim" / "params" / "GOOG_2012-06-21.json"
TICK = Decimal("0.01")
WARMUP, MESSAGES = 1_000, 20_000
CLIENT_ORDERS = (0, 100, 1_000)
GOAL_PER_S = 1_000


def rate(path: Path, client_orders: int | None) -> float:
    """Messages per CPU second; ``client_orders`` None: the plain replay."""
    sample = open_replay("GOOG", path)
    flow = LobsterReplayFlow(sample, TICK) if client_orders is None else \
        ImpactReplayFlow(sample, TICK, load_impact_params(PARAMS))
    book = OrderBook("GOOG")
    flow.seed_book(book, 0)
    for _ in range(WARMUP):
        flow.apply_next(book)
    if isinstance(flow, ImpactReplayFlow):
        for k in range(client_orders or 0):
            side = Side.BUY if k % 2 == 0 else Side.SELL
            flow.client_traded(book, side, 100, flow.next_time_ns())
    started = time.process_time()
    for _ in range(MESSAGES):
        flow.apply_next(book)
    return MESSAGES / (time.process_time() - started)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not path.exists():
        print(f"no data at {path}: nothing measured")
        return 0
    print(f"{MESSAGES:,} messages of {path.name} after {WARMUP:,}, messages/s of CPU time")
    print(f"plain replay: {rate(path, None):,.0f}")
    last = 0.0
    for orders in CLIENT_ORDERS:
        last = rate(path, orders)
        print(f"with impact, {orders:,} client market orders behind it: {last:,.0f}")
    met = last >= GOAL_PER_S
    print(f"goal: >= {GOAL_PER_S:,} messages/s with {CLIENT_ORDERS[-1]:,} client market orders "
          f"-> {'met' if met else 'MISSED'} ({last:,.0f})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
