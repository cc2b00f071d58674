"""The compiled FIX market-data decoder (gateways/marketdata/fix_md_wire.py) agrees with a
straightforward one, the decoder it replaced, on random messages, well-formed and broken: the
same MarketData, or a FixParseError with the same message, and never another exception.

The reference below is that earlier decoder (split the wire string into a dict per entry, then
``time.strptime`` and ``Instrument.to_ticks`` on each value, and each size through
``fix_md_wire.quantity``, the general parser the compiled pass falls back on), kept here as
the definition; the compiled one reads sizes, times and prices in place and caches prices and
dates, which is where they could differ."""

from __future__ import annotations

import calendar
import random
import time
from decimal import Decimal

import pytest
import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import BookUpdate, Instrument, MarketData, Side, Trade
from gateways.fix.codec import FixParseError
from gateways.marketdata import fix_md_wire
from gateways.marketdata.fix_md import decode_market_data
from gateways.venue.messages import build_incremental, build_snapshot
from sim.matching import Fill

INSTRUMENTS = {"GOOG": Instrument("GOOG", Decimal("0.01")),
               "BTC": Instrument("BTC", Decimal("0.5")),
               "BIG": Instrument("BIG", Decimal("25"))}
SOH = "\x01"


def _reference_time(date: str, clock: str) -> int:
    try:
        day = calendar.timegm(time.strptime(date, "%Y%m%d")) * 1_000_000_000
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


def _field(entry: dict[str, str], tag: int) -> str:
    value = entry.get(str(tag))
    if value is None:
        raise FixParseError(f"market data entry without tag {tag}")
    return value


def _reference_price(instrument: Instrument, entry: dict[str, str]) -> int:
    try:
        text = _field(entry, 270)
        price = instrument.to_ticks(text)
    except ValueError as exc:
        raise FixParseError(f"tag 270: {exc}") from exc
    except ArithmeticError as exc:
        raise FixParseError(f"tag 270: price {text!r} of {instrument.symbol} is out of range") \
            from exc
    if price <= 0:
        raise FixParseError("tag 270: price must be positive")
    return price


def reference_decode(raw: str, snapshot: bool,
                     instruments: dict[str, Instrument]) -> MarketData:
    delimiter = "269" if snapshot else "279"
    head: dict[str, str] = {}
    entries: list[dict[str, str]] = []
    current, in_group = head, False
    for field in raw.split(SOH):
        tag, _, value = field.partition("=")
        if tag == "268":
            in_group = True
            head[tag] = value
        elif tag == "10":
            break
        else:
            if in_group and tag == delimiter:
                current = {}
                entries.append(current)
            current[tag] = value
    count = fix_md_wire.quantity(head.get("268", "0"), 268)
    if count != len(entries):
        raise FixParseError(f"NoMDEntries(268)={count} but {len(entries)} entries")
    updates: list[BookUpdate] = []
    trades: list[Trade] = []
    symbol = head.get("55")
    latest_ns = 0
    for entry in entries:
        entry_symbol = entry.get("55", head.get("55"))
        if entry_symbol is None:
            raise FixParseError("market data entry without a Symbol(55)")
        if symbol is not None and entry_symbol != symbol:
            raise FixParseError(f"one message mixes symbols {symbol!r} and {entry_symbol!r}")
        symbol = entry_symbol
        instrument = instruments.get(symbol)
        if instrument is None:
            raise FixParseError(f"market data for unconfigured symbol {symbol!r}")
        ts_ns = _reference_time(_field(entry, 272), _field(entry, 273))
        latest_ns = max(latest_ns, ts_ns)
        entry_type = _field(entry, 269)
        action = "0" if snapshot else _field(entry, 279)
        price = _reference_price(instrument, entry)
        if entry_type == "2":
            trades.append(Trade(symbol, price, fix_md_wire.quantity(_field(entry, 271), 271),
                                None, ts_ns))
            continue
        if entry_type not in ("0", "1"):
            raise FixParseError(f"unsupported MDEntryType {entry_type!r}")
        if action == "2":
            qty = 0
        elif action in ("0", "1"):
            qty = fix_md_wire.quantity(_field(entry, 271), 271)
        else:
            raise FixParseError(f"unsupported MDUpdateAction {action!r}")
        updates.append(BookUpdate(symbol, Side.BUY if entry_type == "0" else Side.SELL, price,
                                  qty, ts_ns))
    if symbol is None:
        raise FixParseError("market data message with no entries and no Symbol(55)")
    return MarketData(symbol, latest_ns, tuple(updates), tuple(trades), snapshot)


def _outcome(decoder, raw: str, snapshot: bool) -> MarketData | str:
    try:
        return decoder(raw, snapshot, INSTRUMENTS)
    except FixParseError as exc:
        return f"FixParseError: {exc}"


def _agree(raw: str, snapshot: bool) -> MarketData | str:
    expected = _outcome(reference_decode, raw, snapshot)
    assert _outcome(fix_md_wire.decode, raw, snapshot) == expected, repr(raw)
    return expected


symbols = st.sampled_from(sorted(INSTRUMENTS))
stamps = st.integers(0, 4_102_444_800 * 10**9)  # 1970 to 2100
levels = st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 10**6)), max_size=6)


@st.composite
def built_messages(draw) -> tuple[fix.Message, bool]:
    """A message as the venue builds it (gateways/venue/messages.py), and whether it is a
    snapshot."""
    symbol = draw(symbols)
    instrument = INSTRUMENTS[symbol]
    now = draw(stamps)
    if draw(st.booleans()):
        return build_snapshot("md", symbol, draw(levels), draw(levels), instrument, now), True
    changes = draw(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]),
                                      st.integers(1, 10**7), st.integers(0, 10**6)),
                            min_size=1, max_size=6))
    fills = [Fill(price, qty, 0, 0, Side.BUY, None, None, 0, now)
             for price, qty in draw(st.lists(st.tuples(st.integers(1, 10**7),
                                                       st.integers(1, 10**4)), max_size=2))]
    return build_incremental("md", symbol, changes, fills, instrument, now), False


def _text(built: tuple[fix.Message, bool]) -> tuple[str, bool]:
    return built[0].toString(), built[1]


built = built_messages().map(_text)  # the same as wire text


prices = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(places=12, allow_nan=False, allow_infinity=False).map(str),
    st.builds(lambda ticks, zeros: f"{ticks / 100:.2f}" + "0" * zeros,
              st.integers(-10**6, 10**9), st.integers(0, 30)),
    st.from_regex(r"\A[-+ ]?[0-9]{0,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,3})?\Z"),
    st.sampled_from(["1e30", "1E+40", "0", "0.00", "-0.5", ".5", "5.", "5_0.0", "١٢٣",
                     "nan", "inf", " 580.00", "580.00 ", "", "1" * 40]),
)
sizes = st.one_of(
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["100.0", "1.5", "-3", "+7", " 9", "1_000", "٣", "²", "", "abc",
                     "1e3", "0" * 25 + "1", "9" * 19]),
)
clocks = st.one_of(
    st.from_regex(r"\A[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,10})?\Z"),
    st.sampled_from(["12:00", "12:00:00.", "24:00:00", "12:60:00", "23:59:60", "1a:00:00",
                     " 12:00:00", "12-00-00", "١٢:00:00", "12:00:00.1.2", ""]),
)
dates = st.one_of(
    st.from_regex(r"\A[0-9]{8}\Z"),
    st.sampled_from(["2023111", "20230229", "20240229", "00000101", "2023 1 1", "٢٠٢٣1114",  # noqa: RUF001
                     "", "yesterday"]),
)
values = st.one_of(prices, sizes, clocks, dates, symbols, st.sampled_from(["0", "1", "2", "9"]),
                   st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8))
TAGS = ["55", "268", "269", "270", "271", "272", "273", "279", "10", "055", "2700"]


def _fields(raw: str) -> list[str]:
    return raw.split(SOH)


@st.composite
def mutated(draw) -> tuple[str, bool]:
    """A built message with a few fields replaced, removed, repeated or added, or characters
    put in or taken out anywhere."""
    raw, snapshot = draw(built)
    for _ in range(draw(st.integers(1, 4))):
        fields = _fields(raw)
        at = draw(st.integers(0, len(fields) - 1))
        tag = fields[at].partition("=")[0]
        kind = draw(st.sampled_from(["value", "value", "value", "drop", "repeat", "insert",
                                     "char"]))
        if kind == "value":
            value = draw({"270": prices, "271": sizes, "273": clocks, "272": dates,
                          "268": sizes}.get(tag, values))
            fields[at] = f"{tag}={value}"
        elif kind == "drop":
            del fields[at]
        elif kind == "repeat":
            fields.insert(at, f"{tag}={draw(values)}")
        elif kind == "insert":
            fields.insert(at, f"{draw(st.sampled_from(TAGS))}={draw(values)}")
        else:
            text = SOH.join(fields)
            spot = draw(st.integers(0, len(text)))
            if draw(st.booleans()):
                text = text[:spot] + draw(st.sampled_from([SOH, "=", "0", "1", ".", "x"])) \
                    + text[spot:]
            else:
                text = text[:spot] + text[spot + 1:]
            fields = _fields(text)
        raw = SOH.join(fields)
    return raw, snapshot


@settings(max_examples=400, deadline=None)
@given(built)
def test_built_messages_decode_as_the_reference_decodes_them(message) -> None:
    raw, snapshot = message
    assert isinstance(_agree(raw, snapshot), MarketData)


@settings(max_examples=2000, deadline=None)
@given(mutated())
def test_broken_messages_decode_or_fail_as_the_reference_does(message) -> None:
    _agree(*message)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["269", "279"]), symbols,
       st.lists(st.tuples(st.sampled_from(["0", "1", "2", "7", ""]), prices, sizes),
                min_size=1, max_size=5),
       dates, clocks)
def test_random_entries_decode_as_the_reference_decodes_them(delimiter, symbol, rows, date,
                                                             clock) -> None:
    """Entries written as text, in either group layout, with every value drawn at random."""
    snapshot = delimiter == "269"
    body = [f"8=FIX.4.4{SOH}9=0{SOH}35={'W' if snapshot else 'X'}{SOH}55={symbol}",
            f"268={len(rows)}"]
    for code, price, size in rows:
        lead = [f"269={code}"] if snapshot else [f"279={code}", f"269={code or '0'}"]
        body += [*lead, f"270={price}", f"271={size}", f"272={date}", f"273={clock}"]
    _agree(SOH.join([*body, "10=000", ""]), snapshot)


def test_a_price_beyond_decimal_precision_is_a_parse_error() -> None:
    """Instrument.to_ticks raises decimal.InvalidOperation (not a ValueError) for 1e30 on a
    0.01 grid; the decoder once let it out."""
    raw = SOH.join(["35=X", "268=1", "279=1", "269=0", "55=GOOG", "270=1e30", "271=5",
                    "272=20250615", "273=12:00:00", "10=000", ""])
    with pytest.raises(FixParseError, match="out of range"):
        fix_md_wire.decode(raw, False, INSTRUMENTS)


@settings(max_examples=100, deadline=None)
@given(built_messages())
def test_decode_market_data_reads_the_message_quickfix_holds(built) -> None:
    """Through quickfix's own Message, as the gateway hands it over."""
    message, snapshot = built
    msg_type = (fix.MsgType_MarketDataSnapshotFullRefresh if snapshot
                else fix.MsgType_MarketDataIncrementalRefresh)
    assert decode_market_data(message, msg_type, INSTRUMENTS) == \
        _agree(message.toString(), snapshot)


def test_repeated_prices_and_dates_come_from_the_caches_unchanged() -> None:
    """The same price strings and dates over many messages (what the caches hold) decode as
    the first time; a new Instrument for a symbol replaces the one its grid was built for."""
    rng = random.Random(3)
    for _ in range(200):
        ticks = [(rng.randint(57_990, 58_010), rng.randint(0, 900)) for _ in range(4)]
        raw = build_snapshot("md", "GOOG", ticks, [], INSTRUMENTS["GOOG"],
                             1_700_000_000 * 10**9 + rng.randint(0, 10**12)).toString()
        _agree(raw, True)
    other = {"GOOG": Instrument("GOOG", Decimal("0.05"))}
    raw = SOH.join(["35=W", "55=GOOG", "268=1", "269=0", "270=580.01", "271=5",
                    "272=20250615", "273=12:00:00", "10=000", ""])
    assert isinstance(fix_md_wire.decode(raw, True, INSTRUMENTS), MarketData)
    with pytest.raises(FixParseError, match="tick grid"):
        fix_md_wire.decode(raw, True, other)
