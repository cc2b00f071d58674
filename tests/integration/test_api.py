"""/healthz and /metrics over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from service.api.schemas import Readiness, SymbolReadiness
from service.api.server import ApiServer, build_app
from service.metrics import Metrics

pytestmark = pytest.mark.integration


async def test_health_and_prometheus_exposition() -> None:
    metrics = Metrics()
    metrics.orders_sent.labels("new").inc(3)
    server = ApiServer(build_app(metrics, lambda: {"fix_logged_on": False}), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok", "fix_logged_on": False}
            async with http.get(f"{server.url}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
        assert 'execagent_orders_sent_total{type="new"} 3.0' in text
        assert "execagent_tick_to_order_seconds_bucket" in text
    finally:
        await server.stop()


async def test_readyz_names_what_is_not_ready() -> None:
    checks = {"fix_logged_on": True, "symbols_tradable": False}
    stale = SymbolReadiness(ready=False, feed="fix:GOOG", health="stale",
                            reason="new orders stopped: feed fix:GOOG is stale")
    symbols = {"GOOG": stale}

    def answer() -> Readiness:
        return Readiness(ready=all(checks.values()), checks=dict(checks), symbols=dict(symbols))

    server = ApiServer(build_app(Metrics(), readiness=answer), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/readyz") as response:
                assert response.status == 503
                assert await response.json() == {"ready": False, "checks": checks, "symbols": {
                    "GOOG": {"ready": False, "feed": "fix:GOOG", "health": "stale",
                             "reason": "new orders stopped: feed fix:GOOG is stale"}}}
            checks["symbols_tradable"] = True
            symbols["GOOG"] = SymbolReadiness(ready=True, feed="fix:GOOG", health="live",
                                              reason=None)
            async with http.get(f"{server.url}/readyz") as response:
                assert response.status == 200
                assert (await response.json())["ready"] is True
    finally:
        await server.stop()


async def test_a_fault_of_the_service_is_a_json_500_without_internals(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("secret internals")

    server = ApiServer(build_app(Metrics(), health=broken), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/healthz") as response:
                assert response.status == 500
                body = await response.json()
            async with http.head(f"{server.url}/metrics") as response:
                assert response.status == 200  # HEAD still answers where GET does
    finally:
        await server.stop()
    assert body == {"error": "internal error (logged by the service)"}
    assert "secret internals" in caplog.text  # in the log, not the answer
