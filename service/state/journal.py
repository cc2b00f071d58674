"""The audit journal: every decision that sent or was denied an order, every execution report,
every operator action, in order, one Redis Stream per trading day.

Why a stream per day: the compliance officer asks for a day (``execagent journal export --date``),
retention is counted in days (each day's key expires ``retention_days`` after its last write),
and a stream keeps the order of appends with an id per entry.

Why buffered: a Redis round trip per tick would sit on the decision path. Entries go to an
in-memory buffer and are written in one pipeline every ``flush_interval_s`` (50 ms) or every
``flush_at`` entries, whichever comes first, by :meth:`RedisJournal.run`. The durability point of
an entry is therefore up to 50 ms after the decision; a crash in that window loses audit lines
of the last 50 ms but never trading state (orders and fills have their own write-ahead store).
Policy evaluations that change nothing (the desired working state already holds) send nothing
and are not journaled; the tick counter counts them.

Entry fields are strings (Redis stream fields are): ``kind``, ``event_ns`` (the feed's time),
``wall_ns``, then what the kind carries (see :data:`FIELDS`). An entry made before the first
tick after a start has no event time yet (``event_ns`` 0: execution reports and the
reconciliation at a restart's logon); it belongs to the wall clock's day.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import redis

from service.state.redis_store import StoreUnavailable, redact_url

log = logging.getLogger(f"execagent.{__name__}")

FIELDS: dict[str, tuple[str, ...]] = {
    "decision": ("parent_id", "policy", "features", "action", "intent", "cl_ord_id", "verdict",
                 "reason"),
    "execution_report": ("cl_ord_id", "exec_id", "exec_type", "ord_status", "last_qty",
                         "last_px", "cum_qty", "leaves_qty"),
    "operator": ("who", "role", "action", "reason"),
    # A fill not believed (core/fill_rules.py), as the venue stated it, and why.
    "suspect_fill": ("exec_id", "cl_ord_id", "parent_id", "symbol", "side", "last_qty",
                     "last_px", "reason"),
    # An execution report that could not be read, raw (fields separated by "|").
    "unreadable_report": ("cl_ord_id", "symbol", "reason", "raw"),
    # The end of a reconciliation with the venue (after a restart, a reconnect or a store
    # outage): "squared" or "halted", and what differed.
    "reconciliation": ("outcome", "orders", "recovered_fills", "detail"),
    # The dynamic risk posture of a symbol changed (service/posture/gate.py), and why.
    "posture": ("symbol", "from_posture", "to_posture", "reason"),
    # A shadow policy's would-be decision (service/oversight/shadow.py): never sent.
    "shadow": ("parent_id", "model", "action", "live_action", "est_filled"),
    # A parent and its shadow both done: realised against estimated shortfall.
    "shadow_summary": ("parent_id", "model", "live_shortfall_bps", "shadow_shortfall_bps",
                       "decisions", "compared", "agreements", "est_filled"),
}
DAY_NS = 86_400 * 10**9
COLUMNS = ("id", "kind", "event_ns", "wall_ns",
           *sorted({name for names in FIELDS.values() for name in names}))


class Journal(Protocol):
    def record(self, kind: str, event_ns: int, fields: Mapping[str, object]) -> None: ...


_operator_log = logging.getLogger("execagent.journal")


def record_operator_action(audit: Journal | None, who: str, role: str, action: str,
                           what: str) -> None:
    """An operator's action, however it came (an API call, a signal, the Redis kill key): one
    line on the ``execagent.journal`` logger and, when there is one, an entry in the audit
    journal."""
    _operator_log.warning("%s by %s (%s): %s", action, who, role, what)
    if audit is not None:
        audit.record("operator", time.time_ns(),
                     {"who": who, "role": role, "action": action, "reason": what})


def trading_day(event_ns: int) -> date:
    """The day an entry belongs to: the UTC date of its event time (an assumption: a desk
    trading across midnight UTC would want its exchange's calendar instead)."""
    return datetime.fromtimestamp(event_ns / 1e9, tz=UTC).date()


def _entry(kind: str, event_ns: int, fields: Mapping[str, object], wall_ns: int) \
        -> dict[str, str]:
    if kind not in FIELDS:
        raise ValueError(f"unknown journal entry kind {kind!r}")
    entry = {"kind": kind, "event_ns": str(event_ns), "wall_ns": str(wall_ns)}
    for name in FIELDS[kind]:
        value = fields.get(name)
        entry[name] = "" if value is None else str(value)
    return entry


class MemoryJournal:
    """The journal of the demo and of backtests: the last ``max_entries`` entries in memory."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.entries: deque[dict[str, str]] = deque(maxlen=max_entries)

    def record(self, kind: str, event_ns: int, fields: Mapping[str, object]) -> None:
        self.entries.append(_entry(kind, event_ns, fields, time.time_ns()))


class RedisJournal:
    def __init__(self, url: str, namespace: str = "execagent", retention_days: int = 90,
                 max_entries_per_day: int = 5_000_000, flush_at: int = 500,
                 flush_interval_s: float = 0.05, timeout_s: float = 0.5) -> None:
        if retention_days <= 0 or max_entries_per_day <= 0:
            raise ValueError("journal retention_days and max_entries_per_day must be positive")
        self.url = redact_url(url)
        self.namespace = namespace
        self.retention_s = retention_days * 86_400
        self.max_entries_per_day = max_entries_per_day
        self.flush_at = flush_at
        self.flush_interval_s = flush_interval_s
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s,
                                           decode_responses=True)
        self._buffer: list[tuple[str, dict[str, str]]] = []
        self._keys: dict[int, str] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.written = 0
        self.failed_flushes = 0

    def key(self, day: date) -> str:
        return f"{self.namespace}:journal:{day.isoformat()}"

    def record(self, kind: str, event_ns: int, fields: Mapping[str, object]) -> None:
        wall_ns = time.time_ns()
        day_ns = event_ns if event_ns > 0 else wall_ns  # no event time yet
        entry = _entry(kind, event_ns, fields, wall_ns)
        day_index = day_ns // DAY_NS
        key = self._keys.get(day_index)
        if key is None:  # once per day: a date conversion per entry costs more than the rest
            key = self._keys[day_index] = self.key(trading_day(day_ns))
        self._buffer.append((key, entry))
        if len(self._buffer) >= self.flush_at and self._flusher is None:
            self.flush()  # no background flusher running: keep the buffer bounded here

    def flush(self) -> int:
        """Write what is buffered, now, on this thread; on failure keep it for the next
        attempt (bounded by the per-day cap) and raise :class:`StoreUnavailable`."""
        batch, self._buffer = self._buffer, []
        try:
            return self._write(batch)
        except StoreUnavailable:
            self._restore(batch)
            raise

    def _write(self, batch: list[tuple[str, dict[str, str]]]) -> int:
        if not batch:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for key, entry in batch:
            pipe.xadd(key, cast(dict[Any, Any], entry), maxlen=self.max_entries_per_day,
                      approximate=True)
        for key in {key for key, _ in batch}:
            pipe.expire(key, self.retention_s)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self.failed_flushes += 1
            raise StoreUnavailable(f"Redis at {self.url} could not take the journal: "
                                   f"{type(exc).__name__}") from exc
        self.written += len(batch)
        return len(batch)

    def _restore(self, batch: list[tuple[str, dict[str, str]]]) -> None:
        self._buffer = (batch + self._buffer)[-self.max_entries_per_day:]

    async def run(self) -> None:
        """Flush every ``flush_interval_s`` until cancelled. The Redis round trip runs in a
        worker thread (a 500-entry pipeline takes milliseconds: not on the event loop); the
        buffer is only ever touched on the loop. A failed flush is logged and retried. When
        cancelled (the service stopping), a write in flight is waited for and what is left is
        flushed, so a stopped service's journal is complete."""
        self._flusher = asyncio.current_task()
        inflight: asyncio.Future[int] | None = None
        batch: list[tuple[str, dict[str, str]]] = []
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                batch, self._buffer = self._buffer, []
                inflight = asyncio.ensure_future(asyncio.to_thread(self._write, batch))
                try:
                    await asyncio.shield(inflight)
                except StoreUnavailable as exc:
                    self._restore(batch)
                    log.warning("%s; %d entries kept for the next attempt", exc,
                                len(self._buffer))
                inflight = None
        finally:
            self._flusher = None
            if inflight is not None:
                try:
                    await inflight
                except StoreUnavailable:
                    self._restore(batch)
            try:
                self.flush()
            except StoreUnavailable:
                log.error("journal: %d entries could not be written at shutdown",
                          len(self._buffer))

    def read(self, day: date) -> list[dict[str, str]]:
        """The day's entries in order, each with its stream ``id``."""
        try:
            raw: Any = self._redis.xrange(self.key(day))
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis at {self.url} could not read the journal: "
                                   f"{type(exc).__name__}") from exc
        return [{"id": entry_id, **fields} for entry_id, fields in raw]

    def close(self) -> None:
        self._redis.close()


def export(entries: Iterable[Mapping[str, str]], out: Path) -> int:
    """Write ``entries`` as CSV (``.csv``) or Parquet (``.parquet``); returns
    the number of rows. Every kind's fields get a column; a field a kind lacks is empty."""
    rows = [{column: entry.get(column, "") for column in COLUMNS} for entry in entries]
    suffix = out.suffix.lower()
    if suffix == ".csv":
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    elif suffix == ".parquet":
        import pyarrow as pa  # imported when asked for: the other commands start faster
        import pyarrow.parquet as pq
        table = pa.table({column: [row[column] for row in rows] for column in COLUMNS})
        pq.write_table(table, out)
    else:
        raise ValueError(f"{out}: the export format comes from the extension, .csv or .parquet")
    return len(rows)
