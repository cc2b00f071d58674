"""The operator's risk routes over real HTTP: roles, journal, validation, and no 5xx ever."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import Side
from risk.state import TradingState
from risk.verdict import DenyReason
from service.api.auth import Tokens
from service.api.risk import RiskRoutes
from service.api.server import ApiServer, build_app
from service.metrics import Metrics
from tests.support.risk import BASE_LIMITS, make_overlay, new

pytestmark = pytest.mark.integration

READ, TRADE, ADMIN = "r" * 16, "t" * 16, "a" * 16
TOKENS = Tokens.parse(f"grafana=read:{READ}, alice=trade:{TRADE}\nbob=admin:{ADMIN}")


class Api:
    def __init__(self, tokens: Tokens = TOKENS) -> None:
        self.metrics = Metrics()
        self.risk = make_overlay()
        self.risk.check(new(Side.BUY, 10), 0)
        self.server = ApiServer(build_app(self.metrics, None, RiskRoutes(
            self.risk, tokens, self.metrics, lambda: 0)), "127.0.0.1", 0)

    async def call(self, method: str, path: str, token: str | None = None,
                   body: object = None, raw: bytes | None = None) -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with aiohttp.ClientSession() as http, http.request(
                method, f"{self.server.url}{path}", headers=headers, data=data) as response:
            return response.status, json.loads(await response.text() or "{}")


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    running = Api()
    await running.server.start()
    yield running
    await running.server.stop()


async def test_kill_and_resume_follow_the_roles_and_are_journaled(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="execagent.journal")
    reason = {"reason": "venue acting up"}
    assert (await api.call("POST", "/api/v1/risk/kill", READ, reason))[0] == 403
    status, body = await api.call("POST", "/api/v1/risk/kill", TRADE, reason)
    assert (status, body) == (200, {"trading_state": "halted", "cancels_sent": 1})
    assert api.risk.state is TradingState.HALTED
    status, body = await api.call("POST", "/api/v1/risk/resume", TRADE, {"reason": "fixed"})
    assert status == 403 and "needs admin" in str(body["error"])
    status, body = await api.call("POST", "/api/v1/risk/resume", ADMIN, {"reason": "fixed"})
    assert (status, body) == (200, {"trading_state": "active"})
    entries = [r.getMessage() for r in caplog.records if r.name == "execagent.journal"]
    assert [entry.split(" by ")[0] for entry in entries] == ["kill", "resume"]
    assert entries[0].startswith("kill by alice (trade): venue acting up")
    text = api.metrics.render().decode()
    assert 'execagent_api_mutations_total{action="kill"} 1.0' in text
    assert 'execagent_api_rejected_requests_total{reason="forbidden"} 2.0' in text


async def test_state_needs_a_read_token_and_shows_the_overlay(api: Api) -> None:
    assert (await api.call("GET", "/api/v1/risk"))[0] == 401
    assert (await api.call("GET", "/api/v1/risk", "wrong-token-1234567"))[0] == 401
    status, body = await api.call("GET", "/api/v1/risk", READ)
    assert status == 200 and body["trading_state"] == "active"
    assert body["open_orders"] == [{"cl_ord_id": api.risk.ledger.open_order_list()[0].ids[0],
                                    "symbol": "GOOG", "side": "buy", "open_qty": 10}]


async def test_reducing_from_halted_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/api/v1/risk/kill", TRADE, {"reason": "test"})
    status, body = await api.call("POST", "/api/v1/risk/reducing", TRADE, {"reason": "test"})
    assert status == 409 and "halted" in str(body["error"])


@pytest.mark.parametrize("body, raw, message", [
    (None, b"{not json", "not JSON"),
    ({}, None, "reason: Field required"),
    ({"reason": "ok"}, None, "at least 3 characters"),
    ({"reason": "      "}, None, "at least 3 characters"),
    ({"reason": "fine", "extra": 1}, None, "extra: Extra inputs are not permitted"),
    ([1, 2], None, "body"),
])
async def test_bad_bodies_are_400_with_the_problem_named(api: Api, body: object,
                                                         raw: bytes | None, message: str) -> None:
    status, answer = await api.call("POST", "/api/v1/risk/kill", TRADE, body, raw)
    assert status == 400 and message in str(answer["error"])
    assert api.risk.state is TradingState.ACTIVE


async def test_without_tokens_reads_are_open_and_mutations_refused() -> None:
    open_api = Api(Tokens.parse(""))
    await open_api.server.start()
    try:
        assert (await open_api.call("GET", "/api/v1/risk"))[0] == 200
        status, body = await open_api.call("POST", "/api/v1/risk/kill", None, {"reason": "x y"})
        assert status == 403 and "no API tokens" in str(body["error"])
    finally:
        await open_api.server.stop()


_JSON_BODIES = st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8)
    # well-formed shapes with odd reasons (blank, huge, control characters)
    | st.fixed_dictionaries({"reason": st.text(max_size=600)}))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/api/v1/risk/kill", "/api/v1/risk/resume",
                             "/api/v1/risk/reducing"]),
       token=st.sampled_from([None, READ, TRADE, ADMIN, "x" * 20]),
       raw=st.binary(max_size=200) | _JSON_BODIES)
async def test_no_request_causes_a_server_error(path: str, token: str | None, raw: bytes) -> None:
    fuzzed = Api()
    await fuzzed.server.start()
    try:
        status, _ = await fuzzed.call("POST", path, token, raw=raw)
        assert status in (200, 400, 401, 403, 409)
    finally:
        await fuzzed.server.stop()


async def test_mutations_are_rate_limited_per_principal(api: Api) -> None:
    for _ in range(10):
        assert (await api.call("POST", "/api/v1/risk/kill", TRADE, {"reason": "again"}))[0] == 200
    status, body = await api.call("POST", "/api/v1/risk/kill", TRADE, {"reason": "again"})
    assert status == 429 and "alice" in str(body["error"])
    assert (await api.call("GET", "/api/v1/risk", TRADE))[0] == 200  # reads are not limited
    assert (await api.call("POST", "/api/v1/risk/resume", ADMIN, {"reason": "done"}))[0] == 200


async def test_limits_are_readable_as_configured(api: Api) -> None:
    status, body = await api.call("GET", "/api/v1/risk/limits", READ)
    assert status == 200
    assert body["global"]["throttle"] == {"messages_per_second": 10.0, "burst": 20}
    assert body["symbols"]["GOOG"]["max_order_qty"] == 1_000
    assert body["symbols"]["GOOG"]["max_participation"] is None


async def test_limits_change_is_admin_only_applied_at_once_and_journaled(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="execagent.journal")
    _, limits = await api.call("GET", "/api/v1/risk/limits", READ)
    tighter = copy.deepcopy(limits)
    tighter["symbols"]["GOOG"]["max_order_qty"] = 500  # type: ignore[index]
    tighter["global"]["max_daily_loss"] = "2500.50"  # type: ignore[index]
    status, body = await api.call("PUT", "/api/v1/risk/limits", TRADE, tighter)
    assert status == 403 and "needs admin" in str(body["error"])
    assert api.risk.limits.symbols["GOOG"].max_order_qty == 1_000

    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, tighter)
    assert status == 200, body
    assert body["changed"] == ['global.max_daily_loss: "10000" -> "2500.50"',
                               "symbols.GOOG.max_order_qty: 1000 -> 500"]
    assert (await api.call("GET", "/api/v1/risk/limits", READ))[1] == body["limits"] == tighter
    assert api.risk.check(new(Side.BUY, 501), 0).reason is DenyReason.MAX_ORDER_QTY
    assert api.risk.check(new(Side.BUY, 500), 0).reason is None
    assert api.risk.open_orders()  # the order open before the change is still counted
    entries = [r.getMessage() for r in caplog.records if r.name == "execagent.journal"]
    assert entries == ['limits by bob (admin): global.max_daily_loss: "10000" -> "2500.50"; '
                       "symbols.GOOG.max_order_qty: 1000 -> 500 trading_state=active"]
    assert 'execagent_api_mutations_total{action="limits"} 1.0' in api.metrics.render().decode()

    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, tighter)
    assert (status, body["changed"]) == (200, [])  # the same again: nothing changed


def _edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    limits = copy.deepcopy(BASE_LIMITS)
    change(limits)
    return limits


@pytest.mark.parametrize("limits, message", [
    (_edited(lambda d: d["global"]["throttle"].pop("burst")),
     "global.throttle.burst: Field required"),
    (_edited(lambda d: d["symbols"]["GOOG"].pop("max_participation")),
     "symbols.GOOG.max_participation: Field required"),
    (_edited(lambda d: d["symbols"]["GOOG"].update(max_order_qty=0)),
     "symbols.GOOG.max_order_qty: Input should be greater than 0"),
    (_edited(lambda d: d["global"].update(stale_feed_seconds=1)),
     "global.stale_feed_seconds must be at least global.max_reference_age_seconds"),
    (_edited(lambda d: d["symbols"].update(AAPL=d["symbols"]["GOOG"])),
     "symbols with no instrument: ['AAPL']"),
    (_edited(lambda d: d["symbols"].pop("GOOG")), "['GOOG'] have a position or open orders"),
    (_edited(lambda d: d["global"].update(stale_feed_seconds=1e300)),
     "global.stale_feed_seconds: 1e+300 s is too long"),
    (_edited(lambda d: d.update(risk="off")), "risk: Extra inputs are not permitted"),
    ([], "body: Input should be an object"),
])
async def test_invalid_limits_are_400_naming_the_field_and_change_nothing(
        api: Api, limits: object, message: str) -> None:
    before = api.risk.limits
    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, limits)
    assert status == 400 and message in str(body["error"]), body
    assert api.risk.limits is before


async def test_numbers_beyond_floats_are_refused_not_read_as_infinity(api: Api) -> None:
    raw = json.dumps(BASE_LIMITS).replace('"stale_feed_seconds": 30',
                                          '"stale_feed_seconds": 1e400').encode()
    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, raw=raw)
    assert status == 400 and "global.stale_feed_seconds: Input should be a finite number" in \
        str(body["error"])
    raw = raw.replace(b"1e400", b"NaN")
    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, raw=raw)
    assert status == 400 and "global.stale_feed_seconds: Input should be a finite number" in \
        str(body["error"])
    status, body = await api.call("POST", "/api/v1/risk/kill", TRADE, raw=b'{"reason": NaN}')
    assert status == 400 and "reason: Input should be a valid string" in str(body["error"])


@pytest.mark.parametrize("value, message", [
    (True, "Input should be a valid integer"),
    ("10", "Input should be a valid integer"),
    (10.0, "Input should be a valid integer"),
])
async def test_a_limit_is_a_number_of_its_type_never_a_flag_or_a_string(
        api: Api, value: object, message: str) -> None:
    limits = _edited(lambda d: d["symbols"]["GOOG"].update(max_order_qty=value))
    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, limits)
    assert status == 400 and f"symbols.GOOG.max_order_qty: {message}" in str(body["error"])
    assert api.risk.limits.symbols["GOOG"].max_order_qty == 1_000


async def test_thirty_thousand_nested_lists_in_a_limits_body_are_a_400(api: Api) -> None:
    raw = json.dumps(BASE_LIMITS).replace('"restricted_symbols": ["BANNED"]',
                                          '"restricted_symbols": ' + "[" * 30_000
                                          + "]" * 30_000).encode()
    assert len(raw) < 64 * 1024
    status, body = await api.call("PUT", "/api/v1/risk/limits", ADMIN, raw=raw)
    assert status == 400 and "the body is not JSON" in str(body["error"])
    assert api.metrics.registry.get_sample_value(
        "execagent_api_rejected_requests_total", {"reason": "malformed_json"}) == 1.0


@pytest.mark.parametrize("breaker", ["\n", "\r", "\x85", "\u2028", "\u2029", "\x1b", "\x9b"])
async def test_a_reason_must_be_one_line(api: Api, caplog: pytest.LogCaptureFixture,
                                         breaker: str) -> None:
    caplog.set_level(logging.WARNING, logger="execagent.journal")
    forged = {"reason": f"drill{breaker}resume by bob (admin): all clear"}
    status, body = await api.call("POST", "/api/v1/risk/kill", TRADE, forged)
    assert status == 400 and "reason: Value error, must be one line" in str(body["error"])
    assert api.risk.state is TradingState.ACTIVE
    assert not [r for r in caplog.records if r.name == "execagent.journal"]


async def test_a_body_over_64_kib_is_413_in_json(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/risk/kill", TRADE,
                                  raw=b'{"reason": "' + b"x" * 70_000 + b'"}')
    assert status == 413 and "larger than 65536 bytes" in str(body["error"])
