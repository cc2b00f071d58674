"""The Binance capture loader: the real captures, sequence gaps, and malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import MarketData, Side
from sim.binance import BinanceCapture, BinanceFormatError, BookTicker, SequenceGap

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DAY1 = SHARED / "binance_spot_btcusdt_20240808.gz"
DAY2 = SHARED / "binance_spot_btcusdt_20240809.gz"
needs_data = pytest.mark.skipif(not DAY1.exists(), reason=f"shared market data not at {DAY1}")


def _capture(tmp_path: Path, *payloads: object) -> BinanceCapture:
    path = tmp_path / "capture.txt"
    path.write_text("".join(f"{1_000 + i} {json.dumps(p) if not isinstance(p, str) else p}\n"
                            for i, p in enumerate(payloads)))
    return BinanceCapture([path])


def _snapshot(last_id: int) -> dict[str, object]:
    return {"lastUpdateId": last_id, "bids": [["100.00", "1.5"]], "asks": [["100.02", "2"]]}


def _depth(first: int, final: int, bids: list[list[str]] | None = None) -> dict[str, object]:
    return {"stream": "x@depth@100ms", "data": {"e": "depthUpdate", "E": 1_723_000_000_000,
                                                 "s": "BTCUSDT", "U": first, "u": final,
                                                 "b": bids or [["100.01", "0.5"]], "a": []}}


@needs_data
def test_real_captures_replay_in_sequence_into_an_uncrossed_book() -> None:
    capture = BinanceCapture([DAY1, DAY2])
    book = DepthBook("BTCUSDT")
    tickers = 0
    for event in capture.events():
        assert not isinstance(event, SequenceGap), event
        if isinstance(event, BookTicker):
            tickers += 1
            assert event.bid < event.ask
            continue
        if event.updates:
            book.apply_market_data(event)
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None and bid < ask
    counts = capture.counts
    assert counts.snapshots == 1 and counts.gaps == 0
    assert counts.depth_applied > 3_000 and counts.trades > 9_000 and tickers > 20_000
    # Around $61,800 in ticks of one cent.
    assert 5_000_000 < book.best_bid() < 7_000_000  # type: ignore[operator]


@needs_data
def test_the_second_day_alone_has_no_snapshot_so_no_book() -> None:
    capture = BinanceCapture([DAY2])
    events = list(capture.events())
    assert capture.counts.depth_applied == 0 and capture.counts.depth_dropped > 0
    assert any(isinstance(e, MarketData) and e.trades for e in events)


def test_a_sequence_gap_is_reported_and_depth_stops_until_a_snapshot(tmp_path: Path) -> None:
    capture = _capture(tmp_path, _depth(90, 99), _snapshot(100), _depth(95, 100),
                       _depth(98, 105), _depth(106, 110), _depth(112, 115), _depth(116, 120),
                       _snapshot(130), _depth(131, 140))
    events = list(capture.events())
    gaps = [e for e in events if isinstance(e, SequenceGap)]
    assert gaps == [SequenceGap(1_723_000_000_000_000_000, 111, 112)]
    depth = [e for e in events if isinstance(e, MarketData) and not e.snapshot]
    assert len(depth) == 3  # 98-105, 106-110, then 131-140 after the new snapshot
    counts = capture.counts
    assert (counts.depth_applied, counts.depth_dropped, counts.gaps) == (3, 4, 1)


def test_a_snapshot_older_than_the_stream_is_a_gap(tmp_path: Path) -> None:
    capture = _capture(tmp_path, _snapshot(100), _depth(150, 160))
    assert [e for e in capture.events() if isinstance(e, SequenceGap)] == [
        SequenceGap(1_723_000_000_000_000_000, 101, 150)]


def test_units_and_sides(tmp_path: Path) -> None:
    trade = {"stream": "x@trade", "data": {"e": "trade", "E": 5, "s": "BTCUSDT", "t": 1,
                                           "p": "61837.63", "q": "0.02", "T": 4, "m": True}}
    capture = _capture(tmp_path, _snapshot(1), trade)
    snapshot, traded = list(capture.events())
    assert isinstance(snapshot, MarketData) and snapshot.snapshot
    assert {(u.side, u.price, u.qty) for u in snapshot.updates} == {
        (Side.BUY, 10_000, 1_500_000), (Side.SELL, 10_002, 2_000_000)}
    assert isinstance(traded, MarketData)
    (t,) = traded.trades
    assert (t.price, t.qty, t.aggressor, t.ts_ns) == (6_183_763, 20_000, Side.SELL, 4_000_000)


@pytest.mark.parametrize("line, complaint", [
    ("not json", "line 1"),
    ([1, 2], "must be an object"),
    ({"stream": "x", "data": {"e": "trade", "p": "1.001", "q": "1", "T": 1, "m": True}},
     "not a multiple of 0.01"),
    ({"stream": "x", "data": {"e": "trade", "p": "1.00", "q": "-1", "T": 1, "m": True}},
     "negative quantity"),
    ({"stream": "x", "data": {"e": "depthUpdate", "U": 1}}, "line 1"),
    ({"stream": "x", "data": {"hello": 1}}, "not a depth update"),
])
def test_malformed_lines_name_the_line(tmp_path: Path, line: object, complaint: str) -> None:
    with pytest.raises(BinanceFormatError, match="line 1") as caught:
        list(_capture(tmp_path, line).events())
    assert complaint in str(caught.value)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                     lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(st.sampled_from(["e", "U", "u", "E", "b", "a", "p", "q",
                                                        "T", "m", "B", "A", "data",
                                                        "lastUpdateId", "bids", "asks"]),
                                       children, max_size=6), max_leaves=12)


@given(_JSON)
def test_any_json_line_parses_or_fails_clearly(tmp_path_factory: pytest.TempPathFactory,
                                               payload: object) -> None:
    capture = _capture(tmp_path_factory.mktemp("binance"), json.dumps(payload))
    try:
        list(capture.events())
    except BinanceFormatError as exc:
        assert "line 1" in str(exc)
