"""How fast the Binance websocket feed turns messages into checked book updates.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_feed.py``); needs the BTCUSDT capture in
``../shared/data``. The capture's lines go through ``BinanceWsFeed.handle`` exactly as they
would arrive on the socket (JSON parsing, U/u sequencing, decimal-to-tick decoding, the feed's
own book and its crossed-book check): the feed's work per message, without the network.
Goal: at least 50,000 messages per second; the script exits 1 when it is missed. This is the
feed's own share of issue 7's goal (50,000/s over loopback): an upper bound for the loopback
path, which docs/feeds.md reports separately (not met yet).
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed, ResyncNeeded
from service.domain import Instrument
from sim.binance import read_capture_lines

CAPTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / \
    "binance_spot_btcusdt_20240808.gz"
GOAL_PER_S = 50_000
RUNS = 3


def main() -> int:
    if not CAPTURE.exists():
        print(f"{CAPTURE} is not here: the feed benchmark needs the BTCUSDT capture")
        return 1
    lines = [raw for _path, _no, _ns, raw in read_capture_lines([CAPTURE])]
    snapshot_at = next(i for i, raw in enumerate(lines) if '"lastUpdateId"' in raw)
    # Binance's procedure: diffs received before the snapshot are buffered and applied after it
    # (those it already covers are dropped), so every line but the snapshot goes through.
    messages = lines[:snapshot_at] + lines[snapshot_at + 1:]
    rates = []
    resyncs = 0
    for _ in range(RUNS):
        feed = BinanceWsFeed(BinanceWsConfig("http://bench", "ws://bench",
                                             Instrument("BTCUSDT", Decimal("0.01"))))
        feed.apply_snapshot(json.loads(lines[snapshot_at]))
        started = time.perf_counter()
        for raw in messages:
            try:
                feed.handle(raw)
            except ResyncNeeded:  # a real gap in the capture: nothing to resync from offline
                resyncs += 1
        rates.append(len(messages) / (time.perf_counter() - started))
    best = max(rates)
    if resyncs:
        print(f"{resyncs // RUNS} gaps per run: messages after a gap are dropped until a "
              "snapshot, so they cost less than applied ones")
    print(f"BinanceWsFeed.handle on {len(messages):,} capture messages ({CAPTURE.name}): "
          + ", ".join(f"{rate:,.0f}" for rate in rates) + " msgs/s")
    met = best >= GOAL_PER_S
    print(f"goal (feed work, no network): >= {GOAL_PER_S:,} msgs/s -> "
          f"{'met' if met else 'MISSED'} (best {best:,.0f})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
