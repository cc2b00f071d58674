"""The parent-order routes over real HTTP, on a real engine: what a body may say (strict types,
a horizon of at most a day, however it is given), and what the list shows after a restart that
found orders on a symbol no longer configured."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import BookUpdate, Instrument, MarketData, ParentOrder, Side
from models.baselines import TwapPolicy
from service.api.auth import Tokens
from service.api.orders import OrderRoutes
from service.api.server import ApiServer, build_app
from service.engine import Engine
from service.metrics import Metrics
from service.state.recovery import load_state
from service.state.store import MemoryStore
from tests.support.risk import make_overlay, roomy
from tests.support.sending import RecordingSender

pytestmark = pytest.mark.integration

TRADE = "t" * 16
TOKENS = Tokens.parse(f"alice=trade:{TRADE}")
GOOG = Instrument("GOOG", Decimal("0.01"))
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # the market's clock: its one tick's time
NOW_NS = int(NOW.timestamp()) * 10**9


class Api:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.metrics = Metrics()
        self.store = store or MemoryStore()
        self.engine = Engine({"GOOG": GOOG}, make_overlay(roomy()), RecordingSender(),
                             self.store, self.metrics)
        self.engine.restore(load_state(self.store, {"GOOG"}), lambda _p: TwapPolicy())
        self.engine.on_market_data(MarketData("GOOG", NOW_NS, (
            BookUpdate("GOOG", Side.BUY, 57_999, 500, NOW_NS),
            BookUpdate("GOOG", Side.SELL, 58_001, 500, NOW_NS)), (), True), 0)
        routes = OrderRoutes(self.engine, {"GOOG": GOOG}, self.submit, TOKENS, self.metrics)
        self.server = ApiServer(build_app(self.metrics, None, routes), "127.0.0.1", 0,
                                self.metrics)

    def submit(self, side: Side, qty: int, symbol: str, start_ns: int, end_ns: int,
               policy: str | None, limit: int | None, urgency: str) -> ParentOrder:
        parent = ParentOrder(f"P{uuid.uuid4().hex[:8]}", symbol, side, qty, start_ns, end_ns,
                             policy or "twap", limit)
        self.engine.submit(parent, TwapPolicy())
        return parent

    async def call(self, method: str, path: str, body: object = None,
                   raw: bytes | None = None) -> tuple[int, dict[str, object]]:
        data = raw if raw is not None else json.dumps(body).encode()
        async with aiohttp.ClientSession() as http, http.request(
                method, f"{self.server.url}{path}", data=data,
                headers={"Authorization": f"Bearer {TRADE}"}) as response:
            assert response.content_type == "application/json"
            return response.status, json.loads(await response.text())


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    running = Api()
    await running.server.start()
    yield running
    await running.server.stop()


ORDER = {"symbol": "GOOG", "side": "sell", "quantity": 100, "duration_seconds": 60}


@pytest.mark.parametrize("change, message", [
    ({"quantity": True}, "quantity: Input should be a valid integer"),
    ({"quantity": "10"}, "quantity: Input should be a valid integer"),
    ({"quantity": 10.0}, "quantity: Input should be a valid integer"),
    ({"duration_seconds": "60"}, "duration_seconds: Input should be a valid number"),
    ({"duration_seconds": True}, "duration_seconds: Input should be a valid number"),
    ({"limit_price": True}, "limit_price: Decimal input should be"),
    ({"duration_seconds": None, "end_time": 1_795_000_000}, "end_time: Input should be a valid "
                                                            "datetime"),
    ({"duration_seconds": None, "end_time": "9999-12-31T23:59:59+00:00"},
     "end_time 9999-12-31T23:59:59+00:00 is more than 86400 s after the start"),
    ({"duration_seconds": None, "start_time": "2026-11-23T15:00:00+00:00",
      "end_time": "2026-11-24T15:00:01+00:00"}, "more than 86400 s after the start"),
    ({"start_time": "9999-01-01T00:00:00+00:00"}, "is more than 86400 s ahead"),
    ({"duration_seconds": None, "start_time": "9999-01-01T00:00:00+00:00",
      "end_time": "9999-01-01T01:00:00+00:00"}, "is more than 86400 s ahead"),
    ({"duration_seconds": None, "start_time": "2026-11-23T16:00:00+00:00",
      "end_time": "2026-11-23T15:30:00+00:00"}, "is not after the start"),
])
async def test_bad_orders_are_400_naming_the_problem(api: Api, change: dict[str, object],
                                                     message: str) -> None:
    status, answer = await api.call("POST", "/api/v1/orders", {**ORDER, **change})
    assert status == 400 and message in str(answer["error"]), answer
    assert not api.engine.oms.parents


@pytest.mark.parametrize("limit_price", ["580.01", 580.01])
async def test_a_limit_price_is_a_string_or_a_number_read_exactly(api: Api,
                                                                  limit_price: object) -> None:
    status, created = await api.call("POST", "/api/v1/orders",
                                     {**ORDER, "limit_price": limit_price})
    assert status == 201, created
    assert api.engine.parent(str(created["parent_id"])).limit_price == 58_001


async def test_an_end_time_alone_runs_from_now_on_the_markets_clock(api: Api) -> None:
    end = NOW + timedelta(hours=2)
    status, created = await api.call("POST", "/api/v1/orders", {
        **ORDER, "duration_seconds": None, "end_time": end.isoformat()})
    assert status == 201, created
    parent = api.engine.parent(str(created["parent_id"]))
    assert (parent.start_ns, parent.end_ns) == (NOW_NS, NOW_NS + 7_200 * 10**9)


async def test_an_8_kib_path_is_a_json_400_and_counted(api: Api) -> None:
    status, answer = await api.call("GET", "/api/v1/orders/" + "P" * 8_192)
    assert status == 400 and "longer than 8,190 bytes" in str(answer["error"])
    assert api.metrics.registry.get_sample_value(
        "execagent_api_rejected_requests_total", {"reason": "bad_request"}) == 1.0
    assert (await api.call("GET", "/api/v1/orders"))[0] == 200  # and it goes on serving


def _nested(depth: int) -> bytes:
    return b'{"symbol": ' + b"[" * depth + b"]" * depth + b"}"


async def test_thirty_thousand_nested_lists_are_a_400(api: Api) -> None:
    body = b"[" * 30_000 + b"]" * 30_000
    assert len(body) <= 64 * 1024
    status, answer = await api.call("POST", "/api/v1/orders", raw=body)
    assert status == 400 and "not JSON" in str(answer["error"]) \
        and "recursion limit" in str(answer["error"])


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(min_value=1, max_value=30_000))
async def test_no_nesting_reaches_a_server_error(depth: int) -> None:
    fuzzed = Api()
    await fuzzed.server.start()
    try:
        status, answer = await fuzzed.call("POST", "/api/v1/orders", raw=_nested(depth))
        assert status == 400 and "error" in answer
    finally:
        await fuzzed.server.stop()


async def test_orders_on_a_symbol_no_longer_configured_stay_out_of_the_list() -> None:
    store = MemoryStore()
    store.save_parent(ParentOrder("P-msft", "MSFT", Side.BUY, 100, 1, 2, "twap", done=True))
    store.save_parent(ParentOrder("P-goog", "GOOG", Side.BUY, 100, 1, 2, "twap", done=True))
    running = Api(store)
    await running.server.start()
    try:
        for _ in range(2):
            status, listed = await running.call("GET", "/api/v1/orders", raw=b"")
            assert status == 200
            orders = listed["orders"]
            assert isinstance(orders, list) and [o["parent_id"] for o in orders] == ["P-goog"]
    finally:
        await running.server.stop()
