"""FIX 4.4 market data: the subscription request, and snapshots/incremental refreshes to domain.

Why here and not in the order gateway: market data is a feed like any other (websocket, Redis
Streams, file replay); it only happens to arrive on the FIX session. The gateway hands W/X
messages to :func:`decode_market_data` and puts the result on the engine's queue.

Event time: each entry carries MDEntryDate(272) + MDEntryTime(273) (microseconds); the message's
event time is the latest of its entries. Entries are price levels with their new total size
(MDUpdateAction 0 new / 1 change / 2 delete), and trades (MDEntryType 2). FIX 4.4 carries no
aggressor side for a trade, so trades from this feed have ``aggressor=None``.
"""

from __future__ import annotations

import calendar
import time

import quickfix as fix
import quickfix44 as fix44

from gateways.fix.codec import FixParseError
from service.domain import BookUpdate, Instrument, MarketData, Side, Trade

MD_REQ_ID, SUBSCRIPTION_REQUEST_TYPE, MARKET_DEPTH, MD_UPDATE_TYPE = 262, 263, 264, 265
NO_MD_ENTRY_TYPES, MD_ENTRY_TYPE, NO_RELATED_SYM, NO_MD_ENTRIES = 267, 269, 146, 268
MD_UPDATE_ACTION, MD_ENTRY_PX, MD_ENTRY_SIZE, MD_ENTRY_DATE, MD_ENTRY_TIME = 279, 270, 271, 272, 273
SYMBOL, MD_REQ_REJ_REASON, TEXT = 55, 281, 58

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


def _parse_entry_time(date: str, clock: str) -> int:
    try:
        main, _, frac = clock.partition(".")
        struct = time.strptime(date + main, "%Y%m%d%H:%M:%S")
        if frac and not frac.isdigit():
            raise ValueError(frac)
    except ValueError as exc:
        raise FixParseError(f"bad MDEntryDate/MDEntryTime {date!r} {clock!r}") from exc
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return calendar.timegm(struct) * 1_000_000_000 + nanos


def _field(group: fix.FieldMap, tag: int) -> str:
    if not group.isSetField(tag):
        raise FixParseError(f"market data entry without tag {tag}")
    return group.getField(tag)


def _quantity(value: str, tag: int) -> int:
    try:
        qty = int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError as exc:
            raise FixParseError(f"tag {tag}={value!r} is not a number") from exc
        if not as_float.is_integer():
            raise FixParseError(f"tag {tag}={value!r} is not a whole quantity") from None
        qty = int(as_float)
    if qty < 0:
        raise FixParseError(f"tag {tag}={value!r} is negative")
    return qty


def decode_market_data(message: fix.Message, msg_type: str,
                       instruments: dict[str, Instrument]) -> MarketData:
    """A W (snapshot) or X (incremental) message as one :class:`MarketData`."""
    snapshot = msg_type == fix.MsgType_MarketDataSnapshotFullRefresh
    group: fix.Group = (fix44.MarketDataSnapshotFullRefresh.NoMDEntries() if snapshot
                        else fix44.MarketDataIncrementalRefresh.NoMDEntries())
    count = _quantity(message.getField(NO_MD_ENTRIES), NO_MD_ENTRIES) \
        if message.isSetField(NO_MD_ENTRIES) else 0
    message_symbol = message.getField(SYMBOL) if message.isSetField(SYMBOL) else None
    updates: list[BookUpdate] = []
    trades: list[Trade] = []
    symbol = message_symbol
    latest_ns = 0
    for index in range(1, count + 1):
        message.getGroup(index, group)
        entry_symbol = group.getField(SYMBOL) if group.isSetField(SYMBOL) else message_symbol
        if entry_symbol is None:
            raise FixParseError("market data entry without a Symbol(55)")
        if symbol is not None and entry_symbol != symbol:
            raise FixParseError(f"one message mixes symbols {symbol!r} and {entry_symbol!r}")
        symbol = entry_symbol
        instrument = instruments.get(symbol)
        if instrument is None:
            raise FixParseError(f"market data for unconfigured symbol {symbol!r}")
        ts_ns = _parse_entry_time(_field(group, MD_ENTRY_DATE), _field(group, MD_ENTRY_TIME))
        latest_ns = max(latest_ns, ts_ns)
        entry_type = _field(group, MD_ENTRY_TYPE)
        action = ACTION_NEW if snapshot else _field(group, MD_UPDATE_ACTION)
        try:
            price = instrument.to_ticks(_field(group, MD_ENTRY_PX))
        except ValueError as exc:
            raise FixParseError(f"tag {MD_ENTRY_PX}: {exc}") from exc
        if price <= 0:
            raise FixParseError(f"tag {MD_ENTRY_PX}: price must be positive")
        if entry_type == TRADE:
            trades.append(Trade(symbol, price, _quantity(_field(group, MD_ENTRY_SIZE),
                                                         MD_ENTRY_SIZE), None, ts_ns))
            continue
        if entry_type not in (BID, OFFER):
            raise FixParseError(f"unsupported MDEntryType {entry_type!r}")
        side = Side.BUY if entry_type == BID else Side.SELL
        if action == ACTION_DELETE:
            qty = 0
        elif action in (ACTION_NEW, ACTION_CHANGE):
            qty = _quantity(_field(group, MD_ENTRY_SIZE), MD_ENTRY_SIZE)
        else:
            raise FixParseError(f"unsupported MDUpdateAction {action!r}")
        updates.append(BookUpdate(symbol, side, price, qty, ts_ns))
    if symbol is None:
        raise FixParseError("market data message with no entries and no Symbol(55)")
    return MarketData(symbol, latest_ns, tuple(updates), tuple(trades), snapshot)
