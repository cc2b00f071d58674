"""The venue's market data, written as text and parsed with the FIX 4.4 dictionary, is the
message quickfix's groups would have built, byte for byte."""

import time
from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import Instrument, Side
from gateways.marketdata.fix_md import decode_market_data
from gateways.venue.messages import build_incremental, build_snapshot
from sim.matching import Fill

INSTRUMENTS = {"GOOG": Instrument("GOOG", Decimal("0.01")),
               "BTCUSDT": Instrument("BTCUSDT", Decimal("0.1"))}
stamps = st.integers(0, 4_102_444_800 * 10**9)  # 1970 to 2100
levels = st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 10**6)), max_size=6)
changes = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 10**7),
                             st.integers(0, 10**6)), max_size=6)
trades = st.lists(st.tuples(st.integers(1, 10**7), st.integers(1, 10**4)), max_size=3)
req_ids = st.text(st.characters(codec="ascii", exclude_characters="\x01"), min_size=1,
                  max_size=12)


def _grouped_entry(group: fix.Group, entry_type: str, price: int, qty: int,
                   instrument: Instrument, now_ns: int) -> None:
    """The reference: an entry's fields set one by one on a quickfix group."""
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    moment = time.gmtime(seconds)
    group.setField(269, entry_type)
    group.setField(270, str(instrument.to_price(price)))
    group.setField(271, str(qty))
    group.setField(272, time.strftime("%Y%m%d", moment))
    group.setField(273, time.strftime("%H:%M:%S", moment) + f".{nanos // 1000:06d}")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(INSTRUMENTS)), req_ids, levels, levels, stamps)
def test_a_snapshot_is_the_message_groups_would_build(symbol, req_id, bids, asks, now) -> None:
    instrument = INSTRUMENTS[symbol]
    reference = fix44.MarketDataSnapshotFullRefresh()
    reference.setField(262, req_id)
    reference.setField(55, symbol)
    for entry_type, side_levels in (("0", bids), ("1", asks)):
        for price, qty in side_levels:
            group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
            _grouped_entry(group, entry_type, price, qty, instrument, now)
            reference.addGroup(group)
    built = build_snapshot(req_id, symbol, bids, asks, instrument, now)
    assert built.toString() == reference.toString()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(INSTRUMENTS)), req_ids, changes, trades, stamps)
def test_an_incremental_refresh_is_the_message_groups_would_build(symbol, req_id, level_changes,
                                                                  fills, now) -> None:
    instrument = INSTRUMENTS[symbol]
    reference = fix44.MarketDataIncrementalRefresh()
    reference.setField(262, req_id)
    for side, price, qty in level_changes:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        group.setField(279, "2" if qty == 0 else "1")
        group.setField(55, symbol)
        _grouped_entry(group, "0" if side is Side.BUY else "1", price, qty, instrument, now)
        reference.addGroup(group)
    for price, qty in fills:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        group.setField(279, "0")
        group.setField(55, symbol)
        _grouped_entry(group, "2", price, qty, instrument, now)
        reference.addGroup(group)
    built = build_incremental(req_id, symbol, level_changes,
                              [Fill(price, qty, 0, 0, Side.BUY, None, None, 0, now)
                               for price, qty in fills], instrument, now)
    assert built.toString() == reference.toString()


def test_the_entries_of_a_refresh_read_back_as_groups() -> None:
    """quickfix itself sees the entries as a group (the dictionary told it), not only the text."""
    message = build_incremental("md", "GOOG", [(Side.BUY, 58_000, 300), (Side.SELL, 58_001, 0)],
                                [], INSTRUMENTS["GOOG"], 10**18)
    group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
    message.getGroup(2, group)
    assert (group.getField(279), group.getField(269), group.getField(270)) == ("2", "1", "580.01")
    decoded = decode_market_data(message, "X", INSTRUMENTS)
    assert [(u.side, u.price, u.qty) for u in decoded.updates] == \
        [(Side.BUY, 58_000, 300), (Side.SELL, 58_001, 0)]
