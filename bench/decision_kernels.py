"""The decision kernel docs/benchmarks.md compares in instructions, compiled and interpreted, for
``valgrind --tool=callgrind`` (the method of bench/feed_kernels.py: run it over two tick counts
and divide the difference in instructions by the difference in ticks, so start-up, imports and
the building of the market cancel out).

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p .venv/bin/python \\
        -m bench.decision_kernels 3000      # and with 1000

What one tick does here: the engine's domain steps around the policy, without the policy, the
risk overlay, the OMS or FIX: an incremental refresh of bench/bench_tick_to_wire.py's synthetic
market (all 3,000 are built and decoded first, whatever the count) applied to a ``DepthBook``,
``MarketTracker.update``, ``observe`` with one resting child order, and ``translate`` of a
"rest 400 at the near touch" action against it (which replaces the child whenever the touch
has moved). Interpreted = the same run with ``models/features.*.so`` and ``models/actions.*.so``
moved aside.
"""

from __future__ import annotations

import sys

from bench import bench_tick_to_wire as t2w
from core.depth_book import DepthBook
from core.domain import (
    ChildOrder,
    OrdStatus,
    OrdType,
    ParentOrder,
    Side,
    TimeInForce,
)
from models.actions import Action, ActionKind, translate
from models.features import MarketTracker, new_observation_buffer, observe

MESSAGES = 3_000


def main(ticks: int) -> None:
    market = t2w._Market(7)  # noqa: SLF001 - the bench's market, shared on purpose
    book = DepthBook("GOOG")
    book.apply_market_data(t2w.decode_market_data(market.snapshot(), t2w.W, t2w.INSTRUMENTS))
    messages = [t2w.decode_market_data(market.next(), t2w.X, t2w.INSTRUMENTS)
                for _ in range(MESSAGES)]
    parent = ParentOrder("P", "GOOG", Side.SELL, 10**6, t2w.START_NS, t2w.START_NS + 10**15,
                         "onnx")
    child = ChildOrder("C1", "P", "GOOG", Side.SELL, 500, 58_010, OrdType.LIMIT,
                       TimeInForce.DAY)
    child.status = OrdStatus.NEW
    tracker, obs, numbers = MarketTracker(), new_observation_buffer(), iter(range(10**9))
    action = Action(ActionKind.REST_NEAR, 400)
    for message in messages[:ticks]:
        book.apply_market_data(message)
        tracker.update(book, message)
        observe(obs, book, parent, [child], tracker, message.ts_ns, 1_000)
        translate(action, parent, book, [child], lambda: f"N{next(numbers)}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
