"""The running service with a symbol's market data from a configured feed: a LOBSTER replay
instead of FIX (the FIX session still carries the orders), or FIX itself, the default, which is
a feed like the others. The symbol is tradable once its feed is live, and its metrics are
served."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from gateways.marketdata.feed import FeedHealth
from service.config import FileReplayFeedConfig, MarketDataConfig
from service.net import free_port
from tests.support.scripted_flow import ScriptedFlow
from tests.support.session import running_service, scripted_venue, service_config, until

pytestmark = pytest.mark.e2e
LOBSTER = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"


async def test_a_symbol_takes_its_book_from_its_configured_feed(tmp_path: Path) -> None:
    if not LOBSTER.exists():
        pytest.skip("needs ../shared/data")
    port = free_port()
    feeds = MarketDataConfig(feeds=[FileReplayFeedConfig(
        source="file_replay", symbol="GOOG", format="lobster", path=LOBSTER, speed=1.0)])
    config = service_config(tmp_path, port, market_data=feeds)
    async with running_service(scripted_venue(tmp_path, port), config) as service:
        assert service.engine is not None and service.feeds is not None
        book = service.engine.books["GOOG"]
        # LOBSTER's first GOOG quote that day, not the scripted venue's 580.00/580.02.
        assert (book.best_bid(), book.best_ask()) != (58_000, 58_002)
        assert service.feeds.queue.received > 0
        assert not service.feeds.stopped("GOOG")
        assert config.fix_market_data_symbols() == []  # FIX carries no GOOG market data
        url = f"http://127.0.0.1:{service.api.port}/metrics"  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        assert 'execagent_feed_health{feed="file_replay:GOOG",health="live"} 1.0' in text
        assert 'execagent_symbol_stopped{symbol="GOOG"} 0.0' in text
        assert 'execagent_fix_messages_total{direction="in",msg_type="market_data_incremental"} ' \
            '0.0' in text


async def test_fix_market_data_is_a_feed_with_a_staleness_stop_and_metrics(
        tmp_path: Path) -> None:
    """The default source, FIX, against the simulated venue over 127.0.0.1: the book arrives
    through the feed plumbing, a silence longer than ``stale_seconds`` stops new orders on the
    symbol and the next message resumes them, and the feed's metrics are served."""
    port = free_port()
    # The scripted flow publishes only its heartbeat, every 1.5 s: longer than stale_seconds.
    flow = ScriptedFlow(bid=58_000, ask=58_002, heartbeat_ns=1_500_000_000)
    config = service_config(tmp_path, port, market_data=MarketDataConfig(stale_seconds=0.5))
    async with running_service(scripted_venue(tmp_path, port, flow=flow), config) as service:
        assert service.engine is not None and service.feeds is not None
        assert list(service.feeds.feeds) == ["fix:GOOG"]
        feed = service.feeds.feeds["fix:GOOG"]
        book = service.engine.books["GOOG"]
        assert (book.best_bid(), book.best_ask()) == (58_000, 58_002)
        assert await until(lambda: service.feeds.stopped("GOOG")  # type: ignore[union-attr]
                           and feed.health is FeedHealth.STALE)
        assert "GOOG" in service.risk.stopped_symbols()
        assert await until(lambda: not service.feeds.stopped("GOOG"))  # type: ignore[union-attr]
        assert feed.health is FeedHealth.LIVE and feed.counters.messages >= 2
        url = f"http://127.0.0.1:{service.api.port}/metrics"  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        assert 'execagent_feed_messages_total{feed="fix:GOOG"}' in text
        assert 'execagent_feed_health{feed="fix:GOOG",health=' in text
        assert 'execagent_feed_stale{feed="fix:GOOG"}' in text
