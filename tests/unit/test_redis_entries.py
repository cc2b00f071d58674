"""The compiled per-entry work of the Redis Streams feed against what it replaced: the integer
price conversion against Decimal's, the crossing-check book against a DepthBook, the bytes path
of an entry against its text path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import BookUpdate, Instrument, MarketData, Side
from gateways.marketdata.redis_entries import (
    CrossingBook,
    EntryDecoder,
    MalformedEntry,
    _decimal_price,
    _TickGrid,
)

TICKS = [Decimal("0.01"), Decimal("0.5"), Decimal("25"), Decimal("1E+1"), Decimal("0.010"),
         Decimal("0.0001")]
GOOG = Instrument("GOOG", Decimal("0.01"))


def _outcome(convert: Any, raw: str) -> tuple[str, object]:
    try:
        return "ticks", convert(raw)
    except MalformedEntry as exc:
        return "malformed", str(exc)


@given(tick=st.sampled_from(TICKS),
       raw=st.one_of(st.from_regex(r"\A[0-9]{0,12}(\.[0-9]{0,8})?\Z"),
                     st.sampled_from(["", ".", ".5", "5.", "1.2.3", "-1", "+1", " 1", "1e3",
                                      "NaN", "٣", "١.٥", "²", "0", "0.00", "9" * 30]),  # noqa: RUF001
                     st.text(max_size=12)))
def test_the_integer_price_path_gives_decimals_answer_for_every_string(tick: Decimal,
                                                                       raw: str) -> None:
    instrument = Instrument("X", tick)
    grid = _TickGrid(instrument)
    assert _outcome(lambda r: grid.ticks(r, "bids"), raw) \
        == _outcome(lambda r: _decimal_price(instrument, r, "bids"), raw)


levels = st.lists(st.tuples(st.booleans(), st.integers(1, 40), st.integers(0, 3)), max_size=12)


@given(st.lists(st.tuples(st.booleans(), levels), max_size=30))
def test_the_crossing_book_agrees_with_a_depth_book(messages: list[tuple[bool, Any]]) -> None:
    """Best prices and crossed-ness after every message, snapshots and removals included (a
    small price range, so levels come and go and the heaps hold stale prices)."""
    crossing, depth = CrossingBook(), DepthBook("X")
    for snapshot, rows in messages:
        updates = tuple(BookUpdate("X", Side.BUY if buy else Side.SELL, price, qty, 1)
                        for buy, price, qty in rows)
        depth.apply_market_data(MarketData("X", 1, updates, (), snapshot))
        crossing.apply(snapshot, [v for u in updates if u.side is Side.BUY
                                  for v in (u.price, u.qty)],
                       [v for u in updates if u.side is Side.SELL for v in (u.price, u.qty)])
        assert (crossing.best_bid(), crossing.best_ask(), crossing.is_crossed()) \
            == (depth.best_bid(), depth.best_ask(), depth.is_crossed())


def test_a_heap_is_rebuilt_when_prices_come_and_go() -> None:
    book = CrossingBook()
    for _ in range(200):
        book.apply(False, [1, 5, 2, 5], [10, 5])
        book.apply(False, [2, 0], [])  # the bid under the best: its heap entry goes stale
    assert book.best_bid() == 1 and book.best_ask() == 10
    assert len(book._bid_heap) <= 2 * len(book._bids) + 64  # noqa: SLF001


def test_the_decoder_keeps_the_last_entrys_levels_for_the_crossing_book() -> None:
    decoder = EntryDecoder({"GOOG": GOOG})
    body = {"seq": "1", "symbol": "GOOG", "ts_ns": "5", "snapshot": "1",
            "bids": [["580.01", "3"], ["580.00", "0"]], "asks": [["580.02", "7"]],
            "trades": []}
    decoder.decode({"v": "2", "m": orjson.dumps(body).decode()})
    assert (decoder.bids, decoder.asks) == ([58_001, 3, 58_000, 0], [58_002, 7])
    decoder.decode({"v": "2", "m": orjson.dumps({**body, "bids": [], "asks": []}).decode()})
    assert (decoder.bids, decoder.asks) == ([], [])


@pytest.mark.parametrize("fields", [
    {b"v": b"2", b"m": b'{"seq":"7","symbol":"GOOG","ts_ns":"1000","bids":[["580.01","3"]]}'},
    {b"v": b"2", b"m": b'{"seq":"7","symbol":"GOOG","ts_ns":"1000"}', b"extra": b"x"},
    {"v": "2", "m": '{"seq":"7","symbol":"GOOG","ts_ns":"1000","asks":[["580.01","0"]]}'},
    {b"v": b"1", b"seq": b"7", b"symbol": b"GOOG", b"ts_ns": b"1000", b"trades": b"[]"},
])
def test_entries_as_redis_sends_them_decode_as_their_text(fields: dict[Any, Any]) -> None:
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                          else v) for k, v in fields.items()}
    assert EntryDecoder({"GOOG": GOOG}).decode_raw(fields) \
        == EntryDecoder({"GOOG": GOOG}).decode(text)


@pytest.mark.parametrize(("fields", "error"), [
    ({b"v": b"2", b"m": b'{"seq":"7","symbol":"GOOG","ts_ns":"\xff"}'}, MalformedEntry),
    ({b"v": b"2", b"m": b"{}", b"extra": b"\xff"}, UnicodeDecodeError),  # as before: counted
    ({b"v": b"2", b"m": b"not json"}, MalformedEntry),
    ({b"v": b"2", b"x": b"{}"}, MalformedEntry),
])
def test_unreadable_bytes_are_errors_the_feed_counts(fields: dict[bytes, bytes],
                                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        EntryDecoder({"GOOG": GOOG}).decode_raw(fields)
