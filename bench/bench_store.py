"""What durability costs: the Redis store's writes and the journal's, on loopback.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_store``); needs the Redis on
127.0.0.1:6379 that ``make test`` starts. Each store write is one synchronous round trip (its
durability point is its return: the engine persists a child order before sending it), so its
latency is the price of that guarantee on the decision path. The journal only appends to a
buffer on the decision path; its flush (one pipeline per batch) runs off it, every 50 ms.
No goal here (the tick-to-wire budget is where these are judged); the numbers go
to docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
import uuid

from bench._timing import report
from core.domain import ChildOrder, OrdType, ParentOrder, Side, TimeInForce
from service.state.journal import RedisJournal
from service.state.redis_store import RedisStore

URL = "redis://127.0.0.1:6379/0"
WRITES = 20_000


def main() -> int:
    namespace = f"bench-{uuid.uuid4().hex}"
    store = RedisStore(URL, namespace=namespace)
    journal = RedisJournal(URL, namespace=namespace, flush_at=10**9)
    if not store.ping():
        print(f"no Redis answers at {URL}: start one (make test does)")
        return 1
    parent = ParentOrder("P1", "GOOG", Side.SELL, 2_000, 0, 10**12, "rl", arrival_price_x2=1)
    child = ChildOrder("C0", "P1", "GOOG", Side.SELL, 200, 57_990, OrdType.LIMIT,
                       TimeInForce.DAY)
    rows: dict[str, list[int]] = {"store.save_child": [], "store.record_fill": [],
                                  "store.save_parent": [], "journal.record (buffer)": [],
                                  "journal.flush (500 entries)": []}
    fields = {"parent_id": "P1", "policy": "rl", "features": "0.1,0.2", "action": "REST_NEAR:200",
              "intent": "new", "cl_ord_id": "C0", "verdict": "allowed", "reason": ""}
    try:
        for n in range(WRITES):
            child.cl_ord_id = f"C{n}"
            started = time.perf_counter_ns()
            store.save_child(child)
            rows["store.save_child"].append(time.perf_counter_ns() - started)
            started = time.perf_counter_ns()
            store.record_fill(f"X{n}", child.cl_ord_id, 100, 57_990)
            rows["store.record_fill"].append(time.perf_counter_ns() - started)
            if n % 4 == 0:
                started = time.perf_counter_ns()
                store.save_parent(parent)
                rows["store.save_parent"].append(time.perf_counter_ns() - started)
            started = time.perf_counter_ns()
            journal.record("decision", 1_700_000_000 * 10**9 + n, fields)
            rows["journal.record (buffer)"].append(time.perf_counter_ns() - started)
            if n % 500 == 499:
                started = time.perf_counter_ns()
                journal.flush()
                rows["journal.flush (500 entries)"].append(time.perf_counter_ns() - started)
    finally:
        store.clear()
        for day_key in journal._redis.keys(f"{namespace}:journal:*"):  # noqa: SLF001
            journal._redis.delete(day_key)  # noqa: SLF001
        journal.close()
    report(f"Durable state on Redis at {URL} ({WRITES:,} child orders and fills)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
