"""The ``market_data`` configuration section: each symbol's source, validated, and the feeds the
service builds from it (service/feeds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateways.marketdata.binance_ws import BinanceWsFeed
from gateways.marketdata.file_replay import FileReplayFeed
from gateways.marketdata.redis_stream import RedisStreamFeed
from service.config import ConfigError, ServiceConfig, load_config
from service.feeds import FeedSetupError, ServiceFeeds
from service.metrics import Metrics
from tests.support.risk import make_overlay

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LOBSTER = DATA / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
TWO = ("instruments:\n  - {symbol: GOOG, tick_size: '0.01'}\n"
       "  - {symbol: BTCUSDT, tick_size: '0.01', lot_size: '0.000001'}\n")


def _load(tmp_path: Path, text: str) -> ServiceConfig:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_without_a_market_data_section_every_symbol_takes_fix(tmp_path: Path) -> None:
    config = _load(tmp_path, TWO)
    assert {s: f.source for s, f in config.feed_sources().items()} == \
        {"GOOG": "fix", "BTCUSDT": "fix"}
    assert config.fix_market_data_symbols() == ["GOOG", "BTCUSDT"]


def test_each_symbol_chooses_its_source(tmp_path: Path) -> None:
    config = _load(tmp_path, TWO + """market_data:
  stale_seconds: 1.5
  feeds:
    - {source: binance_ws, symbol: BTCUSDT, ws_url: 'ws://127.0.0.1:8765',
       rest_url: 'http://127.0.0.1:8765'}
""")
    assert {s: f.source for s, f in config.feed_sources().items()} == \
        {"GOOG": "fix", "BTCUSDT": "binance_ws"}
    assert config.fix_market_data_symbols() == ["GOOG"]  # FIX subscribes only to its own
    assert config.market_data_symbols() == ["GOOG", "BTCUSDT"]
    assert config.market_data.stale_seconds == 1.5


@pytest.mark.parametrize(("feeds", "expected"), [
    ("- {source: redis_stream, symbol: AAPL}", "market_data.feeds names ['AAPL']"),
    ("- {source: redis_stream, symbol: GOOG}\n    - {source: fix, symbol: GOOG}",
     "gives ['GOOG'] more than one feed"),
    ("- {source: kafka, symbol: GOOG}", "market_data.feeds.0"),
    ("- {source: binance_ws, symbol: BTCUSDT, ws_url: 'http://x', rest_url: 'http://x'}",
     "market_data.feeds.0.binance_ws.ws_url"),
    ("- {source: file_replay, symbol: GOOG, format: lobster, path: x.zip, speed: -1}",
     "market_data.feeds.0.file_replay.speed"),
    ("- {source: redis_stream, symbol: GOOG, stream: x}",
     "market_data.feeds.0.redis_stream.stream: Extra inputs"),
    ("- {source: binance_ws, symbol: BTCUSDT, ws_url: 'ws://x', rest_url: 'http://x', "
     "lot_size: '0.00001'}", "lot_size is the instrument's"),
    ("- {source: file_replay, symbol: GOOG, format: binance, path: x.gz}",
     "instruments ['GOOG']: Binance gives quantities as decimals, so the instrument needs a "
     "lot_size"),
])
def test_an_invalid_feed_is_a_configuration_error_naming_it(tmp_path: Path, feeds: str,
                                                            expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, TWO + f"market_data:\n  feeds:\n    {feeds}\n")
    assert expected in str(error.value)


def test_the_service_builds_one_feed_per_non_fix_source(tmp_path: Path) -> None:
    if not LOBSTER.exists():
        pytest.skip("needs ../shared/data")
    config = _load(tmp_path, TWO + f"""market_data:
  feeds:
    - {{source: binance_ws, symbol: BTCUSDT, ws_url: 'ws://127.0.0.1:1', rest_url: 'http://127.0.0.1:1'}}
    - {{source: file_replay, symbol: GOOG, format: lobster, path: '{LOBSTER}', speed: 0}}
""")
    feeds = ServiceFeeds.from_config(config.market_data, config.instrument_map(),
                                     make_overlay(), Metrics())
    assert isinstance(feeds.feeds["binance_ws:BTCUSDT"], BinanceWsFeed)
    assert isinstance(feeds.feeds["file_replay:GOOG"], FileReplayFeed)
    assert feeds.measure_latency == {"binance_ws:BTCUSDT"}  # not the replay's 2012 clock
    redis = _load(tmp_path, TWO + "market_data:\n  feeds:\n"
                  "    - {source: redis_stream, symbol: GOOG, group: g1, consumer: c1, "
                  "start_id: $}\n")
    built = ServiceFeeds.from_config(redis.market_data, redis.instrument_map(), make_overlay(),
                                     Metrics()).feeds["redis_stream:GOOG"]
    assert isinstance(built, RedisStreamFeed)
    assert (built.group, built.consumer, built.start_id) == ("g1", "c1", "$")


def test_a_redis_url_of_another_scheme_is_refused_without_showing_it(tmp_path: Path) \
        -> None:
    config = _load(tmp_path, TWO + "market_data:\n  feeds:\n    - {source: redis_stream, "
                   "symbol: GOOG, redis_url: 'http://:hunter2@cache'}\n")
    with pytest.raises(FeedSetupError, match="not a Redis URL") as error:
        ServiceFeeds.from_config(config.market_data, config.instrument_map(), make_overlay(),
                                 Metrics())
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(("path", "expected"), [
    ("missing.zip", "missing.zip does not exist"),
    (str(LOBSTER), "holds GOOG, not BTCUSDT"),
])
def test_a_feed_that_cannot_be_built_says_why(tmp_path: Path, path: str, expected: str) -> None:
    if not LOBSTER.exists():
        pytest.skip("needs ../shared/data")
    config = _load(tmp_path, TWO + "market_data:\n  feeds:\n    - {source: file_replay, "
                   f"symbol: BTCUSDT, format: lobster, path: '{tmp_path / path}'}}\n")
    with pytest.raises(FeedSetupError, match=expected):
        ServiceFeeds.from_config(config.market_data, config.instrument_map(), make_overlay(),
                                 Metrics())


def test_a_lobster_file_with_a_defect_stops_the_start_naming_file_and_line(
        tmp_path: Path) -> None:
    stem = "GOOG_2012-06-21_34200000_57600000_{}_1.csv"
    (tmp_path / stem.format("message")).write_text("34200.1,1,1,5,5851200,1\n" * 2)
    (tmp_path / stem.format("orderbook")).write_text("5851300,10,5851200,100\n5851300,10\n")
    config = _load(tmp_path, TWO + "market_data:\n  feeds:\n    - {source: file_replay, "
                   f"symbol: GOOG, format: lobster, path: '{tmp_path}'}}\n")
    with pytest.raises(FeedSetupError, match=r"orderbook_1\.csv line 2: expected 4 fields"):
        ServiceFeeds.from_config(config.market_data, config.instrument_map(), make_overlay(),
                                 Metrics())
