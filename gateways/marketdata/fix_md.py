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

import calendar
import functools
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


@functools.lru_cache(maxsize=64)
def _day_ns(date: str) -> int:
    """UTC midnight of a YYYYMMDD date, in ns; a feed's entries share a handful of dates, so
    the calendar arithmetic runs once per date, not once per entry (time.strptime was a fifth
    of the decoding)."""
    return calendar.timegm(time.strptime(date, "%Y%m%d")) * 1_000_000_000


def _parse_entry_time(date: str, clock: str) -> int:
    """MDEntryDate + MDEntryTime (HH:MM:SS with 0 to 9 fractional digits) in ns since the
    epoch; anything else is a :class:`FixParseError`."""
    try:
        day = _day_ns(date)
        main, dot, frac = clock.partition(".")
        if len(main) != 8 or main[2] != ":" or main[5] != ":" or (dot and not frac) or \
                len(frac) > 9 or not (main[:2] + main[3:5] + main[6:] + frac).isdigit():
            raise ValueError(clock)
        hours, minutes, seconds = int(main[:2]), int(main[3:5]), int(main[6:])
        if hours > 23 or minutes > 59 or seconds > 60:
            raise ValueError(clock)
    except ValueError as exc:
        raise FixParseError(f"bad MDEntryDate/MDEntryTime {date!r} {clock!r}") from exc
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return day + ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos


_TAG_TEXT = {tag: str(tag) for tag in (MD_UPDATE_ACTION, MD_ENTRY_TYPE, MD_ENTRY_PX,
                                        MD_ENTRY_SIZE, MD_ENTRY_DATE, MD_ENTRY_TIME)}
_SYMBOL = str(SYMBOL)


def _field(entry: dict[str, str], tag: int) -> str:
    value = entry.get(_TAG_TEXT[tag])
    if value is None:
        raise FixParseError(f"market data entry without tag {tag}")
    return value


@functools.lru_cache(maxsize=4096)
def _ticks(instrument: Instrument, price: str) -> int:
    """A price on the wire in ticks, remembered: a book's prices recur on every update, and
    the exact Decimal conversion is the costliest step of an entry."""
    return instrument.to_ticks(price)


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


# The first field of a NoMDEntries(268) entry in each message type (FIX 4.4's data dictionary):
# where quickfix itself splits the group, so the entries here are the ones it validated.
_ENTRY_DELIMITER = {True: str(MD_ENTRY_TYPE), False: str(MD_UPDATE_ACTION)}
_NO_MD_ENTRIES, _CHECKSUM = str(NO_MD_ENTRIES), "10"


def _split_entries(raw: str, delimiter: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The message's own fields and its NoMDEntries entries, from its wire form.

    Why text: one ``toString`` and a split cost a tenth of reading the same fields through
    quickfix's group objects (a SWIG call per ``isSetField``/``getField``; 70 µs for a
    three-entry message, bench/bench_tick_to_wire.py)."""
    head: dict[str, str] = {}
    entries: list[dict[str, str]] = []
    current = head
    in_group = False
    for field in raw.split("\x01"):
        tag, _, value = field.partition("=")
        if tag == _NO_MD_ENTRIES:
            in_group = True
            head[tag] = value
        elif tag == _CHECKSUM:
            break
        else:
            if in_group and tag == delimiter:
                current = {}
                entries.append(current)
            current[tag] = value
    return head, entries


def decode_market_data(message: fix.Message, msg_type: str,
                       instruments: dict[str, Instrument]) -> MarketData:
    """A W (snapshot) or X (incremental) message as one :class:`MarketData`."""
    snapshot = msg_type == fix.MsgType_MarketDataSnapshotFullRefresh
    head, entries = _split_entries(message.toString(), _ENTRY_DELIMITER[snapshot])
    count = _quantity(head.get(_NO_MD_ENTRIES, "0"), NO_MD_ENTRIES)
    if count != len(entries):
        raise FixParseError(f"NoMDEntries({NO_MD_ENTRIES})={count} but {len(entries)} entries")
    message_symbol = head.get(_SYMBOL)
    updates: list[BookUpdate] = []
    trades: list[Trade] = []
    symbol = message_symbol
    latest_ns = 0
    for group in entries:
        entry_symbol = group.get(_SYMBOL, message_symbol)
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
            price = _ticks(instrument, _field(group, MD_ENTRY_PX))
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
