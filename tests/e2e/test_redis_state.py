"""The service on the Redis store: what it persists and journals while it trades over FIX, what
it does when Redis goes away mid-run and comes back, and what it refuses at start."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from pydantic import SecretStr

from core.domain import ParentOrder, Side
from gateways.venue.venue import SimulatedVenue
from models.baselines import TwapPolicy
from risk.state import KillTrigger, TradingState
from service.app import Service
from service.config import (
    ApiConfig,
    PolicyConfig,
    ServiceConfig,
    StoreConfig,
    StoreKind,
)
from service.kill_triggers import kill_key
from service.net import free_port
from service.state.journal import RedisJournal, trading_day
from service.state.redis_store import RedisStore
from tests.support.onnx_models import desk_book
from tests.support.redis_server import RedisServer
from tests.support.session import running_service, scripted_venue, service_config, until

pytestmark = pytest.mark.e2e

ADMIN = "a" * 20


def _config(tmp_path: Path, port: int, redis_url: str, namespace: str,
            **sections: Any) -> ServiceConfig:
    return service_config(
        tmp_path, port, api=ApiConfig(port=0, tokens=SecretStr(f"boss=admin:{ADMIN}")),
        store=StoreConfig(kind=StoreKind.REDIS, redis_url=SecretStr(redis_url),
                          namespace=namespace), **sections)


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def session(tmp_path: Path, redis_server: RedisServer) \
        -> AsyncIterator[tuple[Service, SimulatedVenue]]:
    port = free_port()
    venue = scripted_venue(tmp_path, port, speed=30.0)
    config = _config(tmp_path, port, redis_server.url, f"t-{uuid.uuid4().hex}")
    async with running_service(venue, config) as running:
        yield running, venue


async def test_a_parent_order_is_persisted_and_journaled(
        session: tuple[Service, SimulatedVenue]) -> None:
    running, _venue = session
    parent, finished = running.submit(Side.SELL, 1_000, "GOOG", 60.0, TwapPolicy())
    await asyncio.wait_for(finished.wait(), 30)
    store = running.store
    assert isinstance(store, RedisStore) and isinstance(running.journal, RedisJournal)
    assert store.model() == {"policy": "twap_passive", "kind": "baseline"}
    (saved,) = store.parents()
    assert saved.parent_id == parent.parent_id and saved.done and saved.filled == 1_000
    children = store.children()
    assert children and all(child.status.is_terminal for child in children)
    fills = store.fills()
    assert sum(qty for _cl, qty, _px in fills.values()) == 1_000
    await running.stop()  # the journal's last flush
    entries = running.journal.read(trading_day(running.engine.clock.now_ns()))
    decisions = [e for e in entries if e["kind"] == "decision"]
    reports = [e for e in entries if e["kind"] == "execution_report"]
    assert decisions and all(e["verdict"] == "allowed" for e in decisions)
    assert {e["cl_ord_id"] for e in decisions} == {c.cl_ord_id for c in children}
    assert len(decisions[0]["features"].split(",")) == 12
    assert {e["exec_id"] for e in reports if e["exec_type"] == "TRADE"} == set(fills)


async def test_a_book_parent_resumes_after_a_restart_with_its_entrys_model(
        tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """policy.model_path names a policy book; a sell worked by the book's sell model is
    unfinished at a stop: the restart on the same store works it again with that model."""
    port = free_port()
    book = desk_book(tmp_path / "desk")
    config = _config(tmp_path, port, redis_server.url, f"t-{uuid.uuid4().hex}",
                     policy=PolicyConfig(name="onnx", slice_seconds=30.0, model_path=book))
    venue = scripted_venue(tmp_path, port)
    async with running_service(venue, config) as first:
        parent, _finished = first.submit(Side.SELL, 2_000, "GOOG", 600.0)
        assert parent.policy == "rl:desk-sell"
    with caplog.at_level(logging.ERROR, logger="execagent"):
        async with running_service(venue, config) as second:
            assert parent.parent_id in second.resumed
            assert second.engine is not None and second.engine.is_active(parent.parent_id)
            # The series of the policy that works it again: its entry's model, not TWAP.
            text = second.metrics.render().decode()
            assert 'execagent_parent_shortfall_bps{policy="rl:desk-sell"}' in text
            assert 'policy="twap"' not in text
    assert "resumes with" not in caplog.text


async def test_redis_lost_halts_and_cancels_then_resync_allows_resume(
        session: tuple[Service, SimulatedVenue], redis_server: RedisServer) -> None:
    running, venue = session
    assert running.api is not None and isinstance(running.store, RedisStore)
    running.submit(Side.SELL, 500, "GOOG", 600.0)  # passive TWAP: a child rests at the venue
    assert await until(lambda: bool(venue.working_orders()))
    redis_server.stop()
    # No write is due (the order just rests): the guard's PING finds the outage.
    assert await until(lambda: running.risk.state is TradingState.HALTED, 1.5)
    assert running.risk.kills == {KillTrigger.STORE_LOST: 1}
    assert await until(lambda: not venue.working_orders())  # cancels went out all the same
    resume = f"{running.api.url}/api/v1/risk/resume"
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(resume, json={"reason": "redis back"}, headers=headers) as answer:
            assert answer.status == 409
            assert "durable store is unavailable" in (await answer.json())["error"]
        redis_server.start()  # empty: it kept nothing on disk
        assert await until(lambda: running.store.available, 5)
        assert [p.parent_id for p in running.store.parents()]  # the backlog was written
        async with http.post(resume, json={"reason": "redis back"}, headers=headers) as answer:
            assert answer.status == 200
            assert (await answer.json())["trading_state"] == "active"


async def test_the_redis_kill_key_halts_the_running_service(
        session: tuple[Service, SimulatedVenue], redis_server: RedisServer) -> None:
    running, venue = session
    running.submit(Side.SELL, 500, "GOOG", 600.0)  # passive TWAP: a child rests at the venue
    assert await until(lambda: bool(venue.working_orders()))
    redis.Redis.from_url(redis_server.url).set(kill_key(running.config.store.namespace),
                                               "desk head says stop")
    assert await until(lambda: running.risk.state is TradingState.HALTED)
    assert running.risk.kills == {KillTrigger.OPERATOR: 1}
    assert await until(lambda: not venue.working_orders())


def test_a_store_whose_records_do_not_add_up_starts_halted_saying_why(
        tmp_path: Path, redis_server: RedisServer) -> None:
    namespace = f"t-{uuid.uuid4().hex}"
    earlier = RedisStore(redis_server.url, namespace=namespace)
    earlier.save_parent(ParentOrder("P-old", "GOOG", Side.SELL, 100, 1, 2, "twap"))
    earlier.record_fill("E-1", "C-nobody-knows", 10, 58000)
    service = Service(_config(tmp_path, free_port(), redis_server.url, namespace))
    assert service.risk.state is TradingState.HALTED
    assert service.risk.kills == {KillTrigger.RECOVERY: 1}
    assert [p.parent_id for p in service.recovered.unfinished] == ["P-old"]
    assert "C-nobody-knows, which no stored child order has" in service.recovered.problems[0]


def test_an_unreachable_redis_is_a_clear_startup_error(tmp_path: Path) -> None:
    from service.app import StartupError

    with pytest.raises(StartupError, match=r"redis://:\*\*\*@127.0.0.1:1/0 does not answer"):
        Service(_config(tmp_path, free_port(), "redis://:topsecret@127.0.0.1:1/0", "x"))


def test_an_unfinished_parent_on_a_symbol_no_longer_configured_starts_halted_naming_it(
        tmp_path: Path, redis_server: RedisServer) -> None:
    namespace = f"t-{uuid.uuid4().hex}"
    earlier = RedisStore(redis_server.url, namespace=namespace)
    earlier.save_parent(ParentOrder("P-msft", "MSFT", Side.BUY, 100, 1, 2, "twap"))
    service = Service(_config(tmp_path, free_port(), redis_server.url, namespace))
    assert service.risk.state is TradingState.HALTED
    assert service.recovered.parents == []  # nothing the API would fail to show
    assert "unfinished parent order P-msft is for MSFT" in service.recovered.problems[0]
