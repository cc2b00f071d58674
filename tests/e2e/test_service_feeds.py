"""The running service with a symbol's market data from a configured feed instead of FIX: the
FIX session still carries the orders, the book comes from the feed (a LOBSTER replay here), the
symbol is tradable once the feed is live, and its metrics are served."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from service.config import FileReplayFeedConfig, MarketDataConfig
from service.net import free_port
from tests.support.session import running_service, scripted_venue, service_config

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
