"""FIX 4.4 market data: the subscription request, and snapshots/incremental refreshes to domain.

Why here and not in the order gateway: market data is a feed like any other (websocket, Redis
Streams, file replay); it only happens to arrive on the FIX session. The gateway hands W/X
messages to :func:`decode_market_data` on its quickfix thread and delivers the result to the
loop, where :class:`gateways.marketdata.fix_feed.FixMarketData` routes it to its symbol's feed.

Event time: each entry carries MDEntryDate(272) + MDEntryTime(273) (microseconds); the message's
event time is the latest of its entries. Entries are price levels with their new total size
(MDUpdateAction 0 new / 1 change / 2 delete), and trades (MDEntryType 2). FIX 4.4 carries no
aggressor side for a trade, so trades from this feed have ``aggressor=None``.
"""

from __future__ import annotations

import time

import quickfix as fix
import quickfix44 as fix44

from core.domain import Instrument, MarketData

# The entries' tags are defined once, where the decoding reads them.
from gateways.marketdata.fix_md_wire import (  # noqa: F401 - re-exported for gateways/venue
    MD_ENTRY_DATE,
    MD_ENTRY_PX,
    MD_ENTRY_SIZE,
    MD_ENTRY_TIME,
    MD_ENTRY_TYPE,
    MD_UPDATE_ACTION,
    NO_MD_ENTRIES,
    SYMBOL,
)
from gateways.marketdata.fix_md_wire import decode as decode_wire

MD_REQ_ID, SUBSCRIPTION_REQUEST_TYPE, MARKET_DEPTH, MD_UPDATE_TYPE = 262, 263, 264, 265
NO_MD_ENTRY_TYPES, NO_RELATED_SYM = 267, 146
MD_REQ_REJ_REASON, TEXT = 281, 58

BID, OFFER, TRADE = "0", "1", "2"
ACTION_NEW, ACTION_CHANGE, ACTION_DELETE = "0", "1", "2"


def build_md_request(req_id: str, symbols: list[str], depth: int = 10) -> fix.Message:
    """MarketDataRequest: snapshot plus incremental updates of bids, offers and trades."""
    message = fix44.MarketDataRequest()
    message.setField(MD_REQ_ID, req_id)
    message.setField(SUBSCRIPTION_REQUEST_TYPE, "1")
    message.setField(MARKET_DEPTH, str(depth))
    message.setField(MD_UPDATE_TYPE, "1")
    for entry_type in (BID, OFFER, TRADE):
        group = fix44.MarketDataRequest.NoMDEntryTypes()
        group.setField(MD_ENTRY_TYPE, entry_type)
        message.addGroup(group)
    for symbol in symbols:
        group = fix44.MarketDataRequest.NoRelatedSym()
        group.setField(SYMBOL, symbol)
        message.addGroup(group)
    return message


def format_entry_time(ts_ns: int) -> tuple[str, str]:
    """(MDEntryDate, MDEntryTime) with microseconds."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    moment = time.gmtime(seconds)
    return time.strftime("%Y%m%d", moment), time.strftime("%H:%M:%S", moment) + \
        f".{nanos // 1000:06d}"


def decode_market_data(message: fix.Message, msg_type: str,
                       instruments: dict[str, Instrument]) -> MarketData:
    """A W (snapshot) or X (incremental) message as one :class:`MarketData`; raises
    :class:`~gateways.fix.codec.FixParseError` for anything it cannot read.

    Why text: one ``toString`` and reading the string cost a tenth of reading the same fields
    through quickfix's group objects (a SWIG call per ``isSetField``/``getField``; 70 µs for a
    three-entry message, bench/bench_tick_to_wire.py). The reading is compiled:
    :mod:`gateways.marketdata.fix_md_wire`."""
    snapshot = msg_type == fix.MsgType_MarketDataSnapshotFullRefresh
    return decode_wire(message.toString(), snapshot, instruments)
