"""A running service's API wired to its engine: ready once trading can start, and a kill
through the API cancels the working child orders at the venue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from core.domain import Side
from gateways.venue.venue import SimulatedVenue
from service.app import Service
from service.config import (
    ApiConfig,
    PolicyConfig,
)
from service.net import free_port
from tests.support.onnx_models import SHIPPED_POLICY, desk_book
from tests.support.session import running_service, scripted_venue, service_config

pytestmark = pytest.mark.e2e

TOKEN = "k" * 20
READER = "r" * 20


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Service, SimulatedVenue]]:
    port = free_port()
    venue = scripted_venue(tmp_path, port)
    config = service_config(
        tmp_path, port,
        # no model file: an order naming the onnx policy must be refused, whatever ships
        policy=PolicyConfig(name="twap_passive", slice_seconds=30.0,
                            model_path=tmp_path / "no-model.onnx"),
        api=ApiConfig(port=0, tokens=SecretStr(f"ops=trade:{TOKEN},viewer=read:{READER}")))
    async with running_service(venue, config) as running:
        yield running, venue


async def test_ready_then_kill_through_the_api_cancels_at_the_venue(
        service: tuple[Service, SimulatedVenue]) -> None:
    running, venue = service
    assert running.api is not None
    url = running.api.url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 200, await response.text()
        running.submit(Side.SELL, 500, "GOOG", 600.0)  # the configured passive TWAP
        for _ in range(200):  # the passive child rests at the venue within a few ticks
            if venue.working_orders():
                break
            await asyncio.sleep(0.05)
        assert venue.working_orders(), "the policy never rested a child order"
        async with http.post(f"{url}/api/v1/risk/kill", json={"reason": "drill"},
                             headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            assert (await response.json())["cancels_sent"] >= 1
        for _ in range(200):
            if not venue.working_orders():
                break
            await asyncio.sleep(0.05)
        assert venue.working_orders() == []
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 503
            assert (await response.json())["checks"]["trading_not_halted"] is False


async def _call(http: aiohttp.ClientSession, method: str, url: str, token: str = TOKEN,
                body: object = None) -> tuple[int, dict[str, object]]:
    async with http.request(method, url, json=body,
                            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


# 500 shares over 600 s in 30 s slices: 25 a slice; passive TWAP rests one slice at the touch,
# the front-loaded passive rule four.
@pytest.mark.parametrize("policy, resting", [("twap_passive", 25), ("passive_front", 100)])
async def test_parent_orders_through_the_api(service: tuple[Service, SimulatedVenue],
                                             policy: str, resting: int) -> None:
    running, venue = service
    assert running.api is not None
    orders = f"{running.api.url}/api/v1/orders"
    order = {"symbol": "GOOG", "side": "sell", "quantity": 500, "duration_seconds": 600,
             "policy": policy, "limit_price": "579.00"}
    async with aiohttp.ClientSession() as http:
        assert (await _call(http, "POST", orders, READER, order))[0] == 403
        status, created = await _call(http, "POST", orders, body=order)
        assert status == 201 and created["active"] is True and created["remaining"] == 500
        parent_id = created["parent_id"]
        status, listed = await _call(http, "GET", orders, READER)
        assert status == 200 and [o["parent_id"] for o in listed["orders"]] == [parent_id]
        for _ in range(200):
            if venue.working_orders():
                break
            await asyncio.sleep(0.05)
        # The order as sent, or after a replace to a new touch (total = filled + what rests).
        [working] = venue.working_orders()
        assert resting in (working.qty, working.qty - working.cum_qty)
        status, _cancelled = await _call(http, "POST", f"{orders}/{parent_id}/cancel")
        assert status == 200
        for _ in range(200):
            status, progress = await _call(http, "GET", f"{orders}/{parent_id}", READER)
            if not progress["active"]:
                break
            await asyncio.sleep(0.05)
        assert progress["active"] is False and venue.working_orders() == []
        assert (await _call(http, "POST", f"{orders}/{parent_id}/cancel"))[0] == 409
        assert (await _call(http, "GET", f"{orders}/P404", READER))[0] == 404
    text = running.metrics.render().decode()
    assert 'execagent_parent_orders_completed_total{outcome="cancelled"} 1.0' in text


@pytest.mark.parametrize("change, message", [
    ({"symbol": "AAPL"}, "not configured"),
    ({"quantity": 0}, "quantity: Input should be greater than 0"),
    ({"side": "short"}, "side: Input should be 'buy' or 'sell'"),
    ({"limit_price": "579.005"}, "limit_price"),
    ({"duration_seconds": 10**7}, "duration_seconds"),
    ({"policy": "onnx"}, "model"),
    ({"urgency": "asap"}, "urgency: Input should be 'low', 'normal' or 'high'"),
    ({"speed": 3}, "Extra inputs are not permitted"),
    ({"end_time": "2030-01-01T10:00:00+00:00"}, "exactly one of duration_seconds and end_time"),
    ({"duration_seconds": None}, "exactly one of duration_seconds and end_time"),
    ({"duration_seconds": None, "end_time": "2030-01-01T10:00:00"}, "timezone"),
    ({"duration_seconds": None, "end_time": "2001-01-01T10:00:00+00:00"}, "is not after the start"),
    ({"duration_seconds": None, "start_time": "2030-01-01T11:00:00+00:00",
      "end_time": "2030-01-01T12:00:00+00:00"}, "is more than 86400 s ahead"),
])
async def test_bad_submissions_are_400_naming_the_problem(
        service: tuple[Service, SimulatedVenue], change: dict[str, object],
        message: str) -> None:
    running, _venue = service
    assert running.api is not None
    order = {"symbol": "GOOG", "side": "buy", "quantity": 100, "duration_seconds": 60, **change}
    async with aiohttp.ClientSession() as http:
        status, answer = await _call(http, "POST", f"{running.api.url}/api/v1/orders", body=order)
    assert status == 400 and message in str(answer["error"]), answer
    assert running.engine is not None and not running.engine.oms.parents


async def test_a_parent_with_a_start_and_end_time(
        service: tuple[Service, SimulatedVenue]) -> None:
    running, _venue = service
    assert running.api is not None and running.engine is not None
    from datetime import UTC, datetime, timedelta

    now = datetime.fromtimestamp(running.engine.clock.now_ns() / 1e9, tz=UTC)
    order = {"symbol": "GOOG", "side": "sell", "quantity": 300, "policy": "almgren_chriss",
             "urgency": "high", "start_time": (now + timedelta(seconds=60)).isoformat(),
             "end_time": (now + timedelta(seconds=660)).isoformat()}
    async with aiohttp.ClientSession() as http:
        status, created = await _call(http, "POST", f"{running.api.url}/api/v1/orders",
                                      body=order)
    assert status == 201, created
    parent = running.engine.parent(str(created["parent_id"]))
    assert parent.end_ns - parent.start_ns == 600 * 10**9
    assert parent.start_ns >= running.engine.clock.now_ns()  # starts in the future
    assert parent.filled == 0 and parent.child_orders_sent == 0


async def test_the_document_describes_exactly_the_routes_served(
        service: tuple[Service, SimulatedVenue]) -> None:
    running, _venue = service
    assert running.api is not None
    served = {(route.method, route.resource.canonical)
              for route in running.api.app.router.routes()
              if route.resource is not None and route.method != "HEAD"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.api.url}/openapi.json") as response:  # no token needed
            assert response.status == 200
            document = await response.json()
        async with http.get(f"{running.api.url}/docs") as response:
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
        status, model = await _call(http, "GET", f"{running.api.url}/api/v1/model", READER)
    documented = {(method.upper(), path) for path, methods in document["paths"].items()
                  for method in methods}
    assert served == documented
    assert ("PUT", "/api/v1/risk/limits") in served and ("GET", "/api/v1/model") in served
    assert all(f"{method} {path}" in page for method, path in documented)
    assert (status, model["policy"], model["kind"]) == (200, "twap_passive", "baseline")


async def test_unknown_paths_and_methods_answer_json(
        service: tuple[Service, SimulatedVenue]) -> None:
    running, _venue = service
    assert running.api is not None
    async with aiohttp.ClientSession() as http:
        status, body = await _call(http, "GET", f"{running.api.url}/api/v1/nothing")
        assert status == 404 and "error" in body
        status, body = await _call(http, "DELETE", f"{running.api.url}/api/v1/orders")
        assert status == 405 and "error" in body


@contextlib.asynccontextmanager
async def _onnx_service(tmp_path: Path, model_path: Path) -> AsyncIterator[Service]:
    """A running service whose policy is ONNX, from ``model_path`` (a model or a book)."""
    port = free_port()
    config = service_config(
        tmp_path, port,
        policy=PolicyConfig(name="onnx", slice_seconds=30.0, model_path=model_path),
        api=ApiConfig(port=0, tokens=SecretStr(f"ops=trade:{TOKEN}")))
    async with running_service(scripted_venue(tmp_path, port), config) as running:
        yield running


async def test_the_rl_model_refuses_a_parent_it_was_not_trained_for(tmp_path: Path) -> None:
    """The shipped model sells about 17% of the volume over 10 minutes: a buy is refused in one
    line (400, outside_trained_range) unless the operator names a baseline."""
    async with _onnx_service(tmp_path, SHIPPED_POLICY) as running:
        assert running.api is not None and running.engine is not None
        orders = f"{running.api.url}/api/v1/orders"
        buy = {"symbol": "GOOG", "side": "buy", "quantity": 2000, "duration_seconds": 600}
        async with aiohttp.ClientSession() as http:
            status, answer = await _call(http, "POST", orders, body=buy)
            assert status == 400 and "sell only, not buy" in str(answer["error"])
            assert "name a baseline" in str(answer["error"])
            assert not running.engine.oms.parents
            status, answer = await _call(http, "POST", orders,
                                         body={**buy, "policy": "twap_passive"})
            assert status == 201, answer
            status, answer = await _call(http, "POST", orders, body={**buy, "side": "sell"})
            assert status == 201 and answer["policy"] == "rl", answer
    text = running.metrics.render().decode()
    assert 'execagent_api_rejected_requests_total{reason="outside_trained_range"} 1.0' in text


async def test_a_policy_book_gives_each_parent_the_model_of_its_entry(tmp_path: Path) -> None:
    """policy.model_path names a book: sells go to the shipped model, buys to a buy-only
    model, each parent under its model's name; a parent no entry covers is refused in one
    line; GET /api/v1/model lists the entries; each model's drift is watched apart."""
    book = desk_book(tmp_path / "desk")
    async with _onnx_service(tmp_path, book) as running:
        assert running.api is not None and running.engine is not None
        orders = f"{running.api.url}/api/v1/orders"
        order = {"symbol": "GOOG", "quantity": 2000, "duration_seconds": 600}
        async with aiohttp.ClientSession() as http:
            status, bought = await _call(http, "POST", orders, body={**order, "side": "buy"})
            assert (status, bought["policy"]) == (201, "rl:buyer"), bought
            status, sold = await _call(http, "POST", orders, body={**order, "side": "sell"})
            assert (status, sold["policy"]) == (201, "rl:desk-sell"), sold
            status, refused = await _call(http, "POST", orders, body={
                **order, "side": "buy", "duration_seconds": 3_600})
            assert status == 400 and "book.yaml has no model for this parent" in \
                str(refused["error"])
            status, model = await _call(http, "GET", f"{running.api.url}/api/v1/model")
        assert {p.policy for p in running.engine.oms.parents.values()} == {
            "rl:buyer", "rl:desk-sell"}
        oversight = running.oversight
        assert oversight.policy_roles == {"rl:buyer": "policy:buyer",
                                          "rl:desk-sell": "policy:desk-sell"}
        # The shipped model carries reference histograms; the test's buyer does not.
        assert "policy:desk-sell" in oversight.models and "policy:buyer" not in oversight.models
    assert (status, model["kind"], model["path"]) == (200, "book", str(book))
    entries = model["entries"]
    assert [e["policy"] for e in entries] == ["rl:buyer", "rl:desk-sell"]
    assert [e["sides"] for e in entries] == [["buy"], ["sell"]]
    assert entries[0]["participation"] == [0.01, 0.25]
    assert entries[0]["horizon_minutes"] == [5.0, 20.0]
    assert all(len(e["sha256"]) == 64 for e in entries)
