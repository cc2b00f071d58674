"""``/readyz`` symbol by symbol (service/readiness.py): ready means a new order on the symbol
would go out now; when not, the reason says why. The real engine, overlay and feeds; the
staleness clock is injected."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from core.domain import Instrument, ParentOrder, Side
from models.actions import WAIT, Action
from models.policy import DecisionContext
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.feeds import ServiceFeeds
from service.metrics import Metrics
from service.readiness import readiness
from service.state.store import MemoryStore
from tests.support.feeds import ScriptedFeed, settle
from tests.support.risk import SECOND, roomy
from tests.unit.test_service_feeds import Clock, quote

GOOG, BTC = "GOOG", "BTCUSDT"
SERVICE_CHECKS = {"fix_logged_on": True, "store_available": True, "orders_reconciled": True}


def _parts(**limit_changes: object) -> tuple[Engine, ServiceFeeds, ScriptedFeed, ScriptedFeed,
                                              Clock]:
    limits = roomy(**limit_changes)
    limits["symbols"][BTC] = dict(limits["symbols"]["GOOG"])
    instruments = {s: Instrument(s, Decimal("0.01")) for s in (GOOG, BTC, "BANNED", "OTHER")}
    metrics = Metrics()
    risk = RiskOverlay(parse_limits(limits), instruments)
    engine = Engine(instruments, risk, _Nowhere(), MemoryStore(), metrics)
    clock, goog, btc = Clock(), ScriptedFeed(GOOG), ScriptedFeed(BTC)
    feeds = ServiceFeeds({"fix:GOOG": goog, "binance_ws:BTCUSDT": btc}, risk, metrics,
                         list(instruments), stale_seconds=2.0, clock_ns=clock)
    return engine, feeds, goog, btc, clock


class _Nowhere:
    def send(self, intent: object, now_ns: int) -> bool:
        return True


def _answer(engine: Engine, feeds: ServiceFeeds, symbols: tuple[str, ...] = (GOOG, BTC)) \
        -> dict[str, object]:
    return readiness(SERVICE_CHECKS, symbols, engine, engine.risk, feeds,
                     (GOOG, BTC)).model_dump()


async def test_each_symbol_says_whether_it_can_trade_and_why_not() -> None:
    engine, feeds, goog, btc, clock = _parts()
    engine.submit(ParentOrder("P", GOOG, Side.SELL, 100, 0, 600 * SECOND, "twap"), _Waiting())
    await feeds.start(engine.handle)
    try:
        answer = _answer(engine, feeds)
        assert answer["ready"] is False and answer["checks"]["symbols_tradable"] is False
        assert answer["symbols"][GOOG]["reason"] == ("new orders stopped: feed fix:GOOG is "
                                                     "connecting")
        for feed, symbol in ((goog, GOOG), (btc, BTC)):
            feed.health = feed.health.LIVE
            feed.push(quote(1, 57_999, 58_001, snapshot=True, symbol=symbol))
        await settle()
        answer = _answer(engine, feeds)
        assert answer["ready"] is True
        assert answer["symbols"][BTC] == {"ready": True, "feed": "binance_ws:BTCUSDT",
                                          "health": "live", "reason": None}

        # Every message dropped as malformed: counted by the feed, nothing passes, and the
        # silence is the staleness watchdog's to see.
        btc.counters.messages += 500
        btc.counters.malformed += 500
        clock.now += 2 * SECOND + 1
        goog.push(quote(2, 57_999, 58_001))  # GOOG goes on
        await settle()
        feeds.check()
        answer = _answer(engine, feeds)
        assert answer["ready"] is False
        assert answer["symbols"][GOOG]["ready"] is True
        assert answer["symbols"][BTC] == {
            "ready": False, "feed": "binance_ws:BTCUSDT", "health": "stale",
            "reason": "new orders stopped: feed binance_ws:BTCUSDT is stale"}

        btc.health = btc.health.STOPPED  # the websocket feed ended
        assert _answer(engine, feeds)["symbols"][BTC]["reason"] == \
            "new orders stopped: feed binance_ws:BTCUSDT is stopped"
    finally:
        await feeds.stop()


async def test_limits_a_book_and_a_fresh_quote_are_needed_too() -> None:
    engine, feeds, goog, _btc, _clock = _parts(**{"global.max_reference_age_seconds": 0.001})
    await feeds.start(engine.handle)
    try:
        goog.health = goog.health.LIVE
        reasons = {symbol: answer["reason"] for symbol, answer in
                   _answer(engine, feeds, (GOOG, "BANNED", "OTHER"))["symbols"].items()}
        assert reasons == {"GOOG": "no two-sided book yet",
                           "BANNED": "no market data: fix.market_data is off and "
                                     "market_data.feeds names no other source for it",
                           "OTHER": "no market data: fix.market_data is off and "
                                    "market_data.feeds names no other source for it"}
        goog.push(quote(1, 57_999, 58_001, snapshot=True))
        await settle()
        await asyncio.sleep(0.01)  # older than the 1 ms the limits allow a quote
        reason = _answer(engine, feeds, (GOOG,))["symbols"][GOOG]["reason"]
        assert reason.startswith("no market data for ")
        assert reason.endswith(" s: orders need a two-sided quote at most 0.001 s old "
                               "(global.max_reference_age_seconds)")
        answer = readiness(SERVICE_CHECKS, ("BANNED", "OTHER"), engine, engine.risk, feeds,
                           ("BANNED", "OTHER")).model_dump()
        assert answer["symbols"]["BANNED"]["reason"] == "restricted (global.restricted_symbols)"
        assert answer["symbols"]["OTHER"]["reason"] == ("no risk limits for it (symbols in the "
                                                        "limits file)")
    finally:
        await feeds.stop()


class _Waiting:
    name = "waiting"

    def act(self, _ctx: DecisionContext) -> Action:
        return WAIT
