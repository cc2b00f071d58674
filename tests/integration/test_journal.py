"""The audit journal in the real Redis: ordered, per trading day, bounded, exported."""

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis

from service.cli import main
from service.state.journal import COLUMNS, MemoryJournal, RedisJournal, export, trading_day
from service.state.redis_store import StoreUnavailable

REDIS_URL = "redis://127.0.0.1:6379/0"
DAY1 = 1_700_000_000 * 10**9  # 2023-11-14 22:13 UTC
DAY2 = DAY1 + 86_400 * 10**9


@pytest.fixture
def journal() -> Iterator[RedisJournal]:
    journal = RedisJournal(REDIS_URL, namespace=f"test-{uuid.uuid4().hex}", flush_at=1_000)
    yield journal
    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.keys(f"{journal.namespace}:*"):
        raw.delete(key)
    journal.close()


def _decision(n: int) -> dict[str, object]:
    return {"parent_id": "P1", "policy": "rl", "features": "0.5,0.5", "action": "REST_NEAR:200",
            "intent": "new", "cl_ord_id": f"C{n}", "verdict": "allowed", "reason": ""}


def test_entries_are_kept_in_order_per_trading_day(journal: RedisJournal) -> None:
    for n in range(5):
        journal.record("decision", DAY1 + n, _decision(n))
    journal.record("operator", DAY2, {"who": "alice", "role": "trade", "action": "kill",
                                      "reason": "drill"})
    assert journal.read(trading_day(DAY1)) == []  # buffered until a flush
    assert journal.flush() == 6
    first = journal.read(trading_day(DAY1))
    assert [e["cl_ord_id"] for e in first] == [f"C{n}" for n in range(5)]
    assert all(e["kind"] == "decision" and e["verdict"] == "allowed" for e in first)
    (second,) = journal.read(trading_day(DAY2))
    assert (second["who"], second["action"], second["reason"]) == ("alice", "kill", "drill")
    ttl = redis.Redis.from_url(REDIS_URL).ttl(journal.key(trading_day(DAY1)))
    assert 0 < ttl <= 90 * 86_400  # retention: the day's key expires


def test_a_full_buffer_flushes_by_itself(journal: RedisJournal) -> None:
    journal.flush_at = 3
    for n in range(3):
        journal.record("decision", DAY1, _decision(n))
    assert len(journal.read(trading_day(DAY1))) == 3


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown journal entry kind"):
        MemoryJournal().record("gossip", DAY1, {})


def test_redis_down_keeps_the_entries_for_the_next_attempt() -> None:
    journal = RedisJournal("redis://:hunter2@127.0.0.1:1/0", timeout_s=0.2)
    journal.record("decision", DAY1, _decision(1))
    with pytest.raises(StoreUnavailable) as error:
        journal.flush()
    assert "hunter2" not in str(error.value)
    assert journal.failed_flushes == 1 and len(journal._buffer) == 1  # noqa: SLF001


def test_export_csv_has_every_column(tmp_path: Path) -> None:
    memory = MemoryJournal()
    memory.record("decision", DAY1, _decision(1))
    memory.record("execution_report", DAY1, {"cl_ord_id": "C1", "exec_id": "X1",
                                             "exec_type": "TRADE", "last_qty": 100})
    out = tmp_path / "day.csv"
    assert export(memory.entries, out) == 2
    rows = list(csv.DictReader(out.open()))
    assert tuple(rows[0]) == COLUMNS
    assert rows[1]["exec_id"] == "X1" and rows[1]["verdict"] == ""
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        export(memory.entries, tmp_path / "day.xlsx")


def test_cli_exports_a_day(journal: RedisJournal, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(3):
        journal.record("decision", DAY1, _decision(n))
    journal.flush()
    out = tmp_path / "audit.csv"
    day = trading_day(DAY1).isoformat()
    assert main(["journal", "export", "--date", day, "--out", str(out), "--redis-url",
                 REDIS_URL, "--namespace", journal.namespace]) == 0
    assert len(list(csv.DictReader(out.open()))) == 3
    assert "3 journal entries" in capsys.readouterr().out
    assert main(["journal", "export", "--date", "23/11/2026", "--out", str(out)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["journal", "export", "--date", day, "--out", str(out), "--redis-url",
                 "redis://127.0.0.1:1/0"]) == 1
    assert "could not read the journal" in capsys.readouterr().err


def test_trading_day_is_the_utc_date() -> None:
    assert trading_day(DAY1) == date(2023, 11, 14)


async def test_the_background_flusher_writes_off_the_loop(journal: RedisJournal) -> None:
    import asyncio

    journal.flush_interval_s = 0.01
    flusher = asyncio.create_task(journal.run())
    for n in range(20):
        journal.record("decision", DAY1, _decision(n))
    for _ in range(200):  # until it has written (bounded: ~2 s)
        await asyncio.sleep(0.01)
        if journal.written == 20:
            break
    flusher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flusher
    assert [e["cl_ord_id"] for e in journal.read(trading_day(DAY1))] == \
        [f"C{n}" for n in range(20)]


def test_export_parquet_round_trips(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    memory = MemoryJournal()
    for n in range(3):
        memory.record("decision", DAY1 + n, _decision(n))
    out = tmp_path / "day.parquet"
    assert export(memory.entries, out) == 3
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.column("cl_ord_id").to_pylist() == ["C0", "C1", "C2"]


def test_an_entry_before_the_first_tick_goes_to_the_wall_clocks_day(
        journal: RedisJournal, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # After a restart, execution reports can come before any market data: no event time yet.
    journal.record("execution_report", 0, {"cl_ord_id": "C1", "exec_id": "E1",
                                           "exec_type": "TRADE", "last_qty": 100})
    journal.flush()
    today = datetime.now(UTC).date()
    (entry,) = journal.read(today)
    assert (entry["exec_id"], entry["event_ns"]) == ("E1", "0")
    assert journal.read(date(1970, 1, 1)) == []
    out = tmp_path / "today.csv"
    assert main(["journal", "export", "--date", today.isoformat(), "--out", str(out),
                 "--redis-url", REDIS_URL, "--namespace", journal.namespace]) == 0
    with out.open() as handle:
        assert [row["exec_id"] for row in csv.DictReader(handle)] == ["E1"]
