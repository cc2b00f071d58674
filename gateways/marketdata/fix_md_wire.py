"""A FIX market-data message's wire string (``Message.toString()``) decoded to one
:class:`MarketData`: the per-message work of :func:`gateways.marketdata.fix_md.decode_market_data`,
compiled with mypyc (native-modules.txt).

Why a module of its own, and why one pass over the text: decoding was about 40% of a tick in
bench/bench_tick_to_wire.py, and almost none of it was quickfix: splitting the string
into per-entry dicts, parsing each entry's time, the price cache's key hashing. Here the string
is read once, field by field, remembering only where each field an entry needs starts and ends;
sizes, times and one-character codes are read in place from the characters, and only prices,
symbols and dates become strings of their own (they are the caches' keys). The common forms go
the integer way; anything else goes the way the interpreted decoder went (``int``/``float``,
``time.strptime``, ``Decimal``), which decides and words the error, so that both accept and
refuse exactly the same messages (tests/unit/test_fix_md_wire.py holds a reference decoder and
checks they agree on random and broken messages; docs/benchmarks.md, "Tick to wire").

How the text is read (quickfix's own layout, which it validated before the message got here):
``tag=value`` fields each ended by SOH, up to CheckSum(10); a NoMDEntries(268) field starts the
repeating group, and each entry starts at the group's first field (MDEntryType(269) in a
snapshot, MDUpdateAction(279) in an incremental refresh). A field met twice in an entry counts
with its last value. Every field after the group (the trailer's, say) belongs to the last
entry, as it did when the text was split into dicts.

Errors: the count of entries is checked before any entry, and entries in their order, so an
entry's error found while scanning is kept and raised once the count has been checked.
"""

from __future__ import annotations

import calendar
import time
from typing import Any, Final

from core.domain import BookUpdate, Instrument, MarketData, Side, Trade
from gateways.fix.codec import FixParseError
from gateways.marketdata.tick_grid import TickGrid

SOH: Final = "\x01"
NO_MD_ENTRIES: Final = 268
MD_ENTRY_TYPE: Final = 269
MD_ENTRY_PX: Final = 270
MD_ENTRY_SIZE: Final = 271
MD_ENTRY_DATE: Final = 272
MD_ENTRY_TIME: Final = 273
MD_UPDATE_ACTION: Final = 279
SYMBOL: Final = 55
CHECKSUM: Final = 10
_ZERO: Final = 48  # ord("0")
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
PRICE_CACHE_SIZE: Final = 4096  # price strings remembered per instrument, then emptied
_DAY_CACHE_SIZE: Final = 64  # MDEntryDate strings remembered, then emptied
_GRID_CACHE_SIZE: Final = 64  # instruments' grids remembered, then emptied
_SHORT_QTY: Final = 18  # digits read in place as a size; longer ones go through int()

_days: Final[dict[str, int]] = {}  # MDEntryDate -> its UTC midnight in ns
_grids: Final[dict[str, _TickGrid]] = {}  # symbol -> the grid of the Instrument last seen


class _TickGrid(TickGrid):
    """An instrument's grid and the prices it has converted (the wire's exact strings, only
    successful positive conversions): a book's prices recur on every update. A plain price
    string goes the integer way; anything else, and any price off the grid, not positive or
    very long, goes through ``Instrument.to_ticks``."""

    def __init__(self, instrument: Instrument) -> None:
        super().__init__(instrument)
        self.cache: dict[str, Any] = {}

    def ticks(self, text: str) -> Any:
        """``text`` in ticks (a positive int, boxed: it goes into a BookUpdate as it is)."""
        cached: Any = self.cache.get(text)
        if cached is not None:
            return cached
        ticks = self.plain_ticks(text)
        if ticks <= 0:
            ticks = self._decimal(text)
            if ticks <= 0:
                raise FixParseError(f"tag {MD_ENTRY_PX}: price must be positive")
        if len(self.cache) >= PRICE_CACHE_SIZE:
            self.cache.clear()
        boxed: Any = ticks
        self.cache[text] = boxed
        return boxed

    def _decimal(self, text: str) -> int:
        """``Instrument.to_ticks``: the definition, and its error messages."""
        try:
            return self.instrument.to_ticks(text)
        except ValueError as exc:
            raise FixParseError(f"tag {MD_ENTRY_PX}: {exc}") from exc
        except ArithmeticError as exc:  # a quotient beyond Decimal's precision: 1e30
            raise FixParseError(f"tag {MD_ENTRY_PX}: price {text!r} of "
                                f"{self.instrument.symbol} is out of range") from exc


def _grid(instrument: Instrument) -> _TickGrid:
    grid = _grids.get(instrument.symbol)
    if grid is None or grid.instrument is not instrument:
        if len(_grids) >= _GRID_CACHE_SIZE:
            _grids.clear()
        grid = _TickGrid(instrument)
        _grids[instrument.symbol] = grid
    return grid


def _day_ns(date: str) -> int:
    """UTC midnight of a YYYYMMDD date in ns, through ``time.strptime`` (which accepts what it
    always did: one-digit months, digits of other scripts) once per date string."""
    day: Any = _days.get(date)
    if day is not None:
        return int(day)
    value = calendar.timegm(time.strptime(date, "%Y%m%d")) * 1_000_000_000
    if len(_days) >= _DAY_CACHE_SIZE:
        _days.clear()
    _days[date] = value
    return value


def _clock_ns(clock: str) -> int:
    """HH:MM:SS with 0 to 9 fractional digits, in ns since midnight, the long way (for what
    :meth:`_Scan.clock` does not read in place); raises ValueError."""
    main, dot, frac = clock.partition(".")
    if len(main) != 8 or main[2] != ":" or main[5] != ":" or (dot and not frac) or \
            len(frac) > 9 or not (main[:2] + main[3:5] + main[6:] + frac).isdigit():
        raise ValueError(clock)
    hours, minutes, seconds = int(main[:2]), int(main[3:5]), int(main[6:])
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError(clock)
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos


def quantity(value: str, tag: int) -> int:
    """A size or count: an integer, or a float that is whole ("100.0"); never negative."""
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


class _Scan:
    """One message being read: the message's own fields, the entry being read (where each of
    its fields starts and ends in ``raw``; a start of -1 is a field the entry does not have),
    and what the entries read so far came to."""

    def __init__(self, raw: str, snapshot: bool, instruments: dict[str, Instrument]) -> None:
        self.raw = raw
        self.snapshot = snapshot
        self.instruments = instruments
        self.head_symbol: str | None = None
        self.symbol: str | None = None
        self.grid: _TickGrid | None = None
        self.whole_lots = True  # the instrument's lot is 1: a size's digits are its lots
        self.latest_ns = 0
        self.ts_ns = 0  # the last entry's time, and the same boxed once for its objects
        self.ts_obj: Any = None
        self.updates: list[BookUpdate] = []
        self.trades: list[Trade] = []
        self.error: FixParseError | None = None  # an entry's, raised after the count check
        self.reset()

    def reset(self) -> None:
        self.symbol_at = self.symbol_end = -1
        self.type_at = self.type_end = -1
        self.action_at = self.action_end = -1
        self.px_at = self.px_end = -1
        self.size_at = self.size_end = -1
        self.date_at = self.date_end = -1
        self.time_at = self.time_end = -1

    def keep(self, tag: int, start: int, end: int) -> None:
        """A field of the entry being read."""
        if tag == MD_ENTRY_TYPE:
            self.type_at, self.type_end = start, end
        elif tag == MD_ENTRY_PX:
            self.px_at, self.px_end = start, end
        elif tag == MD_ENTRY_SIZE:
            self.size_at, self.size_end = start, end
        elif tag == SYMBOL:
            self.symbol_at, self.symbol_end = start, end
        elif tag == MD_ENTRY_DATE:
            self.date_at, self.date_end = start, end
        elif tag == MD_ENTRY_TIME:
            self.time_at, self.time_end = start, end
        elif tag == MD_UPDATE_ACTION:
            self.action_at, self.action_end = start, end

    def entry(self) -> None:
        """The entry just read, as a BookUpdate or a Trade, checked in the order the fields
        were always checked; its error, if any, is kept and ends the reading of entries."""
        if self.error is not None:
            return
        try:
            self._entry()
        except FixParseError as exc:
            self.error = exc

    def _entry(self) -> None:
        raw = self.raw
        if self.symbol_at >= 0:
            entry_symbol: str | None = raw[self.symbol_at:self.symbol_end]
        else:
            entry_symbol = self.head_symbol
        if entry_symbol is None:
            raise FixParseError("market data entry without a Symbol(55)")
        symbol = self.symbol  # the message's Symbol(55), then the first entry's
        if symbol is not None and entry_symbol != symbol:
            raise FixParseError(f"one message mixes symbols {symbol!r} and {entry_symbol!r}")
        grid = self.grid
        if grid is None:  # the first entry: every later one has the same symbol
            instrument = self.instruments.get(entry_symbol)
            if instrument is None:
                raise FixParseError(f"market data for unconfigured symbol {entry_symbol!r}")
            grid = _grid(instrument)
            self.symbol, self.grid = entry_symbol, grid
            self.whole_lots = instrument.whole_lots
        symbol = entry_symbol
        ts_ns = self.entry_time()
        if self.ts_obj is None or ts_ns != self.ts_ns:
            self.ts_ns = ts_ns
            self.ts_obj = ts_ns
            if ts_ns > self.latest_ns:
                self.latest_ns = ts_ns
        entry_type = self.char(self.type_at, self.type_end, MD_ENTRY_TYPE)
        action = _ZERO if self.snapshot else \
            self.char(self.action_at, self.action_end, MD_UPDATE_ACTION)
        if self.px_at < 0:
            raise FixParseError(f"tag {MD_ENTRY_PX}: market data entry without tag {MD_ENTRY_PX}")
        price: Any = grid.ticks(raw[self.px_at:self.px_end])
        if entry_type == _ZERO + 2:
            self.trades.append(Trade(symbol, price, self.size(), None, self.ts_obj))
            return
        if entry_type == _ZERO:
            side = _BUY
        elif entry_type == _ZERO + 1:
            side = _SELL
        else:
            raise FixParseError(f"unsupported MDEntryType {raw[self.type_at:self.type_end]!r}")
        if action == _ZERO + 2:
            qty: Any = 0
        elif action == _ZERO or action == _ZERO + 1:
            qty = self.size()
        else:
            text = raw[self.action_at:self.action_end]
            raise FixParseError(f"unsupported MDUpdateAction {text!r}")
        self.updates.append(BookUpdate(symbol, side, price, qty, self.ts_obj))

    def char(self, start: int, end: int, tag: int) -> int:
        """A one-character code as its character's number (-1 for any longer or empty value);
        a missing field is an error."""
        if start < 0:
            raise FixParseError(f"market data entry without tag {tag}")
        return ord(self.raw[start]) if end - start == 1 else -1

    def size(self) -> Any:
        """MDEntrySize(271) in lots: digits read in place, anything else through
        :func:`quantity`; for an instrument whose lot is not 1, the exact decimal through
        ``Instrument.to_lots``."""
        start, end = self.size_at, self.size_end
        if start < 0:
            raise FixParseError(f"market data entry without tag {MD_ENTRY_SIZE}")
        if not self.whole_lots:
            return self._lots(self.raw[start:end])
        if 0 < end - start <= _SHORT_QTY:
            raw = self.raw
            value = 0
            for i in range(start, end):
                digit = ord(raw[i]) - _ZERO
                if digit < 0 or digit > 9:
                    break
                value = value * 10 + digit
            else:
                return value
        return quantity(self.raw[start:end], MD_ENTRY_SIZE)

    def _lots(self, text: str) -> int:
        grid = self.grid
        assert grid is not None  # set by the entry before its size is read
        try:
            lots = grid.instrument.to_lots(text)
        except (ValueError, ArithmeticError) as exc:
            raise FixParseError(f"tag {MD_ENTRY_SIZE}={text!r}: {exc}") from exc
        if lots < 0:
            raise FixParseError(f"tag {MD_ENTRY_SIZE}={text!r} is negative")
        return lots

    def entry_time(self) -> int:
        """MDEntryDate(272) + MDEntryTime(273) in ns since the epoch."""
        if self.date_at < 0:
            raise FixParseError(f"market data entry without tag {MD_ENTRY_DATE}")
        if self.time_at < 0:
            raise FixParseError(f"market data entry without tag {MD_ENTRY_TIME}")
        raw = self.raw
        date = raw[self.date_at:self.date_end]
        try:
            day = _day_ns(date)
            since_midnight = self.clock()
            if since_midnight < 0:
                since_midnight = _clock_ns(raw[self.time_at:self.time_end])
        except ValueError as exc:
            clock = raw[self.time_at:self.time_end]
            raise FixParseError(f"bad MDEntryDate/MDEntryTime {date!r} {clock!r}") from exc
        return day + since_midnight

    def clock(self) -> int:
        """MDEntryTime as ASCII HH:MM:SS[.fraction], read in place, in ns since midnight; -1
        for any other form (which :func:`_clock_ns` then reads or refuses)."""
        raw, start, end = self.raw, self.time_at, self.time_end
        length = end - start
        if length != 8 and (length < 10 or length > 18 or ord(raw[start + 8]) != 46):
            return -1
        if ord(raw[start + 2]) != 58 or ord(raw[start + 5]) != 58:  # ":"
            return -1
        parts = [0, 0, 0]
        for k in range(3):
            high = ord(raw[start + 3 * k]) - _ZERO
            low = ord(raw[start + 3 * k + 1]) - _ZERO
            if high < 0 or high > 9 or low < 0 or low > 9:
                return -1
            parts[k] = high * 10 + low
        hours, minutes, seconds = parts[0], parts[1], parts[2]
        if hours > 23 or minutes > 59 or seconds > 60:
            raise ValueError("out of range")
        nanos = 0
        scale = 100_000_000
        for i in range(start + 9, end):
            digit = ord(raw[i]) - _ZERO
            if digit < 0 or digit > 9:
                return -1
            nanos += digit * scale
            scale //= 10
        return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos


def decode(  # noqa: C901 - one pass over the wire per message, no call per field
        raw: str, snapshot: bool, instruments: dict[str, Instrument]) -> MarketData:
    """A W (``snapshot``) or X message's wire string as one :class:`MarketData`; raises
    :class:`FixParseError` for anything else."""
    scan = _Scan(raw, snapshot, instruments)
    delimiter = MD_ENTRY_TYPE if snapshot else MD_UPDATE_ACTION
    n = len(raw)
    in_group = False
    entries = 0
    count_at = count_end = -1
    head_symbol_at = head_symbol_end = -1
    pos = 0
    while True:
        # The tag: its number when it is 1 to 3 ASCII digits without a leading zero, else -1.
        tag = 0
        i = pos
        c = 0
        while i < n:
            c = ord(raw[i])
            if c == 61 or c == 1:  # "=" or SOH: a field without "=" has an empty value
                break
            digit = c - _ZERO
            if digit < 0 or digit > 9 or (i == pos and digit == 0) or i - pos >= 3:
                tag = -1
            elif tag >= 0:
                tag = tag * 10 + digit
            i += 1
        if i == pos:
            tag = -1
        if i < n and c == 61:
            start = i + 1
            end = raw.find(SOH, start)
            if end < 0:
                end = n
        else:
            start = end = i
        if tag == NO_MD_ENTRIES:
            in_group = True
            count_at, count_end = start, end
        elif tag == CHECKSUM:
            break
        elif tag > 0:
            if in_group and tag == delimiter:
                if entries:
                    scan.entry()
                    scan.reset()
                elif head_symbol_at >= 0:
                    scan.head_symbol = scan.symbol = raw[head_symbol_at:head_symbol_end]
                entries += 1
            if entries:
                scan.keep(tag, start, end)
            elif tag == SYMBOL:
                head_symbol_at, head_symbol_end = start, end
        if end >= n:
            break
        pos = end + 1
    if entries:
        scan.entry()
    elif head_symbol_at >= 0:
        scan.head_symbol = raw[head_symbol_at:head_symbol_end]
    count = 0 if count_at < 0 else quantity(raw[count_at:count_end], NO_MD_ENTRIES)
    if count != entries:
        raise FixParseError(f"NoMDEntries({NO_MD_ENTRIES})={count} but {entries} entries")
    if scan.error is not None:
        raise scan.error
    symbol = scan.symbol if entries else scan.head_symbol
    if symbol is None:
        raise FixParseError("market data message with no entries and no Symbol(55)")
    return MarketData(symbol, scan.latest_ns, tuple(scan.updates), tuple(scan.trades), snapshot)
