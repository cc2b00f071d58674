"""One contract, two stores: the in-memory one and Redis (the real server on 127.0.0.1:6379)."""

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis

from core.domain import ChildOrder, OrdStatus, OrdType, ParentOrder, Side, TimeInForce
from service.state.codec import StateFormatError
from service.state.redis_store import RedisStore, StoreUnavailable, redact_url
from service.state.store import MemoryStore, StateStore
from tests.support.redis_server import RedisServer

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(REDIS_URL, namespace=f"test-{uuid.uuid4().hex}")
    yield redis_store
    redis_store.clear()
    redis_store.close()


def _parent(parent_id: str = "P1") -> ParentOrder:
    return ParentOrder(parent_id, "GOOG", Side.SELL, 2_000, 10**18, 10**18 + 600 * 10**9, "rl",
                       limit_price=57_900, arrival_price_x2=115_963)


def _child(cl_ord_id: str = "C1", first_cl_ord_id: str = "C0") -> ChildOrder:
    return ChildOrder(cl_ord_id, "P1", "GOOG", Side.SELL, 200, 57_990, OrdType.LIMIT,
                      TimeInForce.DAY, OrdStatus.PARTIALLY_FILLED, cum_qty=50, order_id="O7",
                      pending_cl_ord_id="C2", pending_qty=150, pending_price=57_989,
                      previous_cl_ord_ids=[first_cl_ord_id])


def test_parent_round_trips_exactly_and_the_latest_save_wins(store: StateStore) -> None:
    parent = _parent()
    store.save_parent(parent)
    assert store.parents() == [parent]
    parent.filled, parent.notional_ticks, parent.done = 400, 400 * 57_990, True
    store.save_parent(parent)
    assert store.parents() == [parent]


def test_stored_state_is_a_copy_not_the_live_object(store: StateStore) -> None:
    parent = _parent()
    store.save_parent(parent)
    parent.filled = 999  # changed after the save, not saved again
    assert store.parents()[0].filled == 0
    child = _child()
    store.save_child(child)
    child.previous_cl_ord_ids.append("C9")
    assert store.children()[0].previous_cl_ord_ids == ["C0"]


def test_child_round_trips_every_field(store: StateStore) -> None:
    child = _child()
    store.save_child(child)
    (loaded,) = store.children()
    assert loaded == child
    assert loaded.leaves_qty == 150 and loaded.status is OrdStatus.PARTIALLY_FILLED


def test_a_replaced_child_stays_one_record(store: StateStore) -> None:
    child = _child()
    store.save_child(child)
    child.previous_cl_ord_ids.append(child.cl_ord_id)  # the venue accepted the replace C2
    child.cl_ord_id, child.pending_cl_ord_id = "C2", None
    store.save_child(child)
    (loaded,) = store.children()
    assert (loaded.cl_ord_id, loaded.previous_cl_ord_ids) == ("C2", ["C0", "C1"])


def test_fills_are_recorded_once_per_exec_id(store: StateStore) -> None:
    assert store.record_fill("X1", "C1", 50, 57_990) is True
    assert store.record_fill("X1", "C1", 50, 57_990) is False  # a resend changes nothing
    assert store.record_fill("X2", "C1", 25, 57_991) is True
    assert store.fills() == {"X1": ("C1", 50, 57_990), "X2": ("C1", 25, 57_991)}


def test_many_parents_and_children(store: StateStore) -> None:
    for n in range(50):
        store.save_parent(_parent(f"P{n}"))
        store.save_child(_child(f"C{n}", first_cl_ord_id=f"B{n}"))
    assert sorted(p.parent_id for p in store.parents()) == sorted(f"P{n}" for n in range(50))
    assert len(store.children()) == 50


def test_the_model_in_use_round_trips(store: StateStore) -> None:
    assert store.model() is None
    info = {"policy": "onnx", "sha256": "ab" * 32, "metadata": {"execagent.seed": "7"}}
    store.save_model(info)
    assert store.model() == info


# --- Redis only ----------------------------------------------------------------------------------
def test_the_trading_state_round_trips_and_the_latest_save_wins(store: StateStore) -> None:
    assert store.trading_state() is None
    store.save_trading_state("halted", "kill switch (operator): lunch")
    store.save_trading_state("reducing", "end of day")
    assert store.trading_state() == ("reducing", "end of day")


def test_unreachable_redis_is_store_unavailable_without_credentials(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    unreachable = RedisStore("redis://trader:s3cret-pass@127.0.0.1:1/0", timeout_s=0.2)
    assert unreachable.ping() is False
    with pytest.raises(StoreUnavailable) as error:
        unreachable.save_parent(_parent())
    assert "s3cret-pass" not in str(error.value) and "***" in str(error.value)
    assert "s3cret-pass" not in caplog.text


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://desk:pw@redis.internal:6380/2", "rediss://desk:***@redis.internal:6380/2"),
])
def test_urls_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert RedisStore(url).url == shown


def test_a_url_that_is_not_redis_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="is not a Redis URL"):
        RedisStore("http://user:pw@127.0.0.1/0")


def test_a_corrupt_record_is_named_not_resurrected() -> None:
    store = RedisStore(REDIS_URL, namespace=f"test-{uuid.uuid4().hex}")
    try:
        raw = redis.Redis.from_url(REDIS_URL)
        raw.hset(f"{store.namespace}:children", "C1", b'{"v": 1, "cl_ord_id": "C1"}')
        with pytest.raises(StateFormatError, match="'C1'"):
            store.children()
        raw.hset(f"{store.namespace}:parents", "P1", b"not json")
        with pytest.raises(StateFormatError, match="not JSON"):
            store.parents()
    finally:
        store.clear()


def test_an_outage_keeps_writes_in_memory_and_resync_rewrites_the_whole_state() -> None:
    """The real server on its own port, stopped and started by the test."""
    server = RedisServer().start()
    store = RedisStore(server.url, timeout_s=0.2)
    try:
        store.save_parent(_parent())
        assert store.record_fill("X1", "C1", 50, 57_990)
        server.stop()
        with pytest.raises(StoreUnavailable):
            store.save_child(_child())  # the write that finds Redis gone
        assert not store.available
        parent = _parent()
        parent.filled = 150
        with pytest.raises(StoreUnavailable, match="kept in memory"):
            store.save_parent(parent)  # later writes do not touch the network
        with pytest.raises(StoreUnavailable):
            store.record_fill("X2", "C1", 100, 57_989)
        with pytest.raises(StoreUnavailable):
            store.parents()
        assert store.backlog_size == 3
        assert store.resync() is False  # still down
        server.start()  # back, empty: it kept nothing on disk
        assert store.resync() is True and store.available and store.backlog_size == 0
        assert store.parents() == [parent]
        assert store.children() == [_child()]
        # The server came back empty: the whole state is rewritten, not only what failed.
        assert store.fills() == {"X1": ("C1", 50, 57_990), "X2": ("C1", 100, 57_989)}
    finally:
        server.stop()
        store.close()


def test_suspect_fills_are_kept_once_as_stated_and_holds_replaced_whole(
        store: StateStore) -> None:
    record: dict[str, object] = {"cl_ord_id": "C1", "side": "BUY", "qty": 100,
                                 "price": "99999999999.99", "reasons": "a BUY fill"}
    assert store.record_suspect_fill("E9", record)
    assert not store.record_suspect_fill("E9", {**record, "qty": 1})  # a record never changes
    assert store.suspect_fills() == {"E9": record}
    assert store.fills() == {}  # never among the fills a position is summed from
    assert store.symbol_holds() == {}
    store.save_symbol_holds({"GOOG": "a BUY fill on a SELL order"})
    assert store.symbol_holds() == {"GOOG": "a BUY fill on a SELL order"}
    store.save_symbol_holds({})
    assert store.symbol_holds() == {}
