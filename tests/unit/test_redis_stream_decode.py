"""The Redis stream schema's decoder on hostile input: every bad entry is a MalformedEntry (which
the feed counts and skips), never another exception that would end the feed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.domain import BookUpdate, Instrument, MarketData, Side
from gateways.marketdata.redis_stream import EntryDecoder, MalformedEntry, decode, encode

INSTRUMENTS = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
GOOD = {"v": "1", "seq": "7", "symbol": "GOOG", "ts_ns": "1000", "snapshot": "0",
        "bids": '[["580.01","3"]]', "asks": "[]", "trades": "[]"}


def test_a_good_entry_decodes_and_a_repeated_price_comes_from_the_cache() -> None:
    decoder = EntryDecoder(INSTRUMENTS)
    expected = (7, MarketData("GOOG", 1000, (BookUpdate("GOOG", Side.BUY, 58_001, 3, 1000),)))
    assert decoder.decode(GOOD) == expected
    assert decoder.decode(GOOD) == expected == decode(GOOD, INSTRUMENTS)


@pytest.mark.parametrize("change", [
    {"bids": '[["580.01","²"]]'},  # a unicode digit: str.isdigit() says yes, int() says no
    {"bids": '[["580.01","-3"]]'},
    {"bids": '[["580.01",3]]'},  # a number, not a string
    {"bids": '[[580.01,"3"]]'},
    {"bids": '[["580.015","3"]]'},  # off the grid
    {"bids": '[["NaN","3"]]'},
    {"bids": '[["1e999999999","3"]]'},
    {"bids": '[["0","3"]]'},
    {"bids": '[["580.01"]]'},
    {"bids": '["580.01","3"]'},
    {"bids": '{"580.01":"3"}'},
    {"bids": "[[null,null]]"},
    {"trades": '[["580.01","1",["B"],"5"]]'},  # an unhashable aggressor
    {"trades": '[["580.01","0","B","5"]]'},
    {"trades": '[["580.01","1","X","5"]]'},
    {"seq": "0"},
    {"seq": "٣"},  # Arabic-Indic three
    {"ts_ns": "-1"},
    {"snapshot": "yes"},
    {"symbol": "AAPL"},
    {"v": "2"},
])
def test_bad_values_are_malformed_entries(change: dict[str, str]) -> None:
    with pytest.raises(MalformedEntry):
        EntryDecoder(INSTRUMENTS).decode({**GOOD, **change})


def test_version_2_carries_version_1s_fields_in_one_json_object() -> None:
    message = MarketData("GOOG", 1000, (BookUpdate("GOOG", Side.BUY, 58_001, 3, 1000),))
    fields = encode(message, INSTRUMENTS["GOOG"], 7)
    assert set(fields) == {"v", "m"} and fields["v"] == "2"
    assert EntryDecoder(INSTRUMENTS).decode(fields) == (7, message)
    assert decode(encode(message, INSTRUMENTS["GOOG"], 7, version="1"), INSTRUMENTS) \
        == (7, message)


@pytest.mark.parametrize("m", [
    None, "not json", "[]", '{"seq":7}', '{"seq":"7","symbol":["GOOG"],"ts_ns":"1000"}',
    '{"seq":"7","symbol":"GOOG","ts_ns":"1000","bids":"[]"}',  # a list as text, not a list
    '{"seq":"7","symbol":"GOOG","ts_ns":1000}',  # a number, not a string
])
def test_bad_version_2_entries_are_malformed(m: str | None) -> None:
    fields = {"v": "2"} if m is None else {"v": "2", "m": m}
    with pytest.raises(MalformedEntry):
        EntryDecoder(INSTRUMENTS).decode(fields)
