"""FIX codec: exact prices on the wire; inbound messages either parse or raise FixParseError."""

import calendar
import contextlib
import time
from decimal import Decimal

import pytest
import quickfix as fix
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import (
    CancelOrder,
    ExecType,
    Instrument,
    NewOrder,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from gateways.fix.codec import (
    FixParseError,
    decode_cancel_reject,
    decode_execution_report,
    encode_intent,
    fields_of,
    format_utc,
    parse_utc,
)
from gateways.marketdata.fix_md import build_md_request, decode_market_data, format_entry_time

GOOG = Instrument("GOOG", Decimal("0.01"))
INSTRUMENTS = {"GOOG": GOOG}
NOW = 1_750_000_000_123_456_000


def _message(msg_type: str, fields: dict[int, str]) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(35, msg_type)
    for tag, value in fields.items():
        message.setField(tag, value)
    return message


FILL = {37: "O1", 11: "C1", 17: "E1", 150: "F", 39: "1", 55: "GOOG", 54: "2", 14: "40",
        151: "60", 32: "40", 31: "580.01", 60: "20250615-12:00:00.000001"}


def test_new_order_carries_an_exact_decimal_price() -> None:
    message = encode_intent(NewOrder("C1", "P", "GOOG", Side.SELL, 100, 58001, OrdType.LIMIT,
                                     TimeInForce.IOC), GOOG, NOW)
    assert message.getHeader().getField(35) == "D"
    assert (message.getField(44), message.getField(38), message.getField(54),
            message.getField(59)) == ("580.01", "100", "2", "3")


def test_cancel_and_replace_reference_the_original() -> None:
    cancel = encode_intent(CancelOrder("C2", "C1", "P", "GOOG", Side.SELL, 100), GOOG, NOW)
    replace = encode_intent(ReplaceOrder("C3", "C1", "P", "GOOG", Side.SELL, 80, 58002), GOOG,
                            NOW)
    assert cancel.getHeader().getField(35) == "F" and cancel.getField(41) == "C1"
    assert replace.getHeader().getField(35) == "G" and replace.getField(44) == "580.02"


_IDS = st.text(st.characters(codec="ascii", exclude_characters="\x01"), min_size=1, max_size=20)
_SIDES = st.sampled_from(list(Side))


def _intents() -> st.SearchStrategy[NewOrder | ReplaceOrder | CancelOrder]:
    qty, price = st.integers(-5, 10**9), st.integers(-5, 10**12)
    new = st.builds(NewOrder, _IDS, st.just("P"), _IDS, _SIDES, qty,
                    st.one_of(st.none(), price), st.sampled_from(list(OrdType)),
                    st.sampled_from(list(TimeInForce))).filter(
        lambda o: o.price is not None or o.ord_type is not OrdType.LIMIT)
    replace = st.builds(ReplaceOrder, _IDS, _IDS, st.just("P"), _IDS, _SIDES, qty, price)
    cancel = st.builds(CancelOrder, _IDS, _IDS, st.just("P"), _IDS, _SIDES, qty)
    return st.one_of(new, replace, cancel)


def _field_by_field(intent: NewOrder | ReplaceOrder | CancelOrder, now_ns: int) -> fix.Message:
    """The reference: the same message built with a ``setField`` per field."""
    fields = {11: intent.cl_ord_id, 55: intent.symbol, 54: intent.side.fix, 38: str(intent.qty),
              60: format_utc(now_ns)}
    if isinstance(intent, NewOrder):
        fields |= {21: "1", 40: intent.ord_type.value, 59: intent.tif.value}
        if intent.price is not None and intent.ord_type is OrdType.LIMIT:
            fields[44] = str(GOOG.to_price(intent.price))
        return _message("D", fields)
    fields[41] = intent.orig_cl_ord_id
    if isinstance(intent, ReplaceOrder):
        return _message("G", fields | {21: "1", 40: "2", 44: str(GOOG.to_price(intent.price))})
    return _message("F", fields)


def _wire_fields(message: fix.Message) -> list[str]:
    """The fields quickfix would write, less the three it computes or replaces on sending."""
    return [f for f in message.toString().split("\x01")
            if f and not f.startswith(("8=", "9=", "10="))]


@settings(max_examples=300, deadline=None)
@given(_intents(), st.integers(0, 4_102_444_800 * 10**9))
def test_an_order_message_written_as_text_is_the_one_built_field_by_field(intent, now_ns) -> None:
    assert _wire_fields(encode_intent(intent, GOOG, now_ns)) == \
        _wire_fields(_field_by_field(intent, now_ns))


@pytest.mark.parametrize("intent", [
    NewOrder("C\x011", "P", "GOOG", Side.SELL, 100, 58001),
    NewOrder("", "P", "GOOG", Side.SELL, 100, 58001),
    NewOrder("C1", "P", "GO\x01OG", Side.SELL, 100, 58001),
    CancelOrder("C2", "C\x011", "P", "GOOG", Side.SELL, 100),
    ReplaceOrder("C3", "", "P", "GOOG", Side.SELL, 80, 58002),
])
def test_an_identifier_that_cannot_be_a_field_value_is_refused(intent) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        encode_intent(intent, GOOG, NOW)


def test_fill_report_parses_to_ticks() -> None:
    report = decode_execution_report(_message("8", FILL), INSTRUMENTS)
    assert report.exec_type is ExecType.TRADE and report.ord_status is OrdStatus.PARTIALLY_FILLED
    assert (report.last_qty, report.last_px, report.cum_qty) == (40, 58001, 40)
    assert report.ts_ns == parse_utc("20250615-12:00:00.000001")


@pytest.mark.parametrize(("change", "problem"), [
    ({31: "five hundred"}, "not a number"),
    ({31: "1e20"}, "not a price"),
    ({17: ""}, "tag 17 missing or empty"),
    ({32: "-4"}, "non-negative"),
    ({150: "Z"}, "ExecType"),
    ({39: "?"}, "OrdStatus"),
    ({55: "MSFT"}, "unconfigured symbol"),
    ({54: "7"}, "Side"),
    ({14: "lots"}, "not a number"),
])
def test_malformed_reports_raise_a_parse_error_naming_the_problem(change: dict[int, str],
                                                                  problem: str) -> None:
    with pytest.raises(FixParseError, match=problem):
        decode_execution_report(_message("8", {**FILL, **change}), INSTRUMENTS)


def test_fill_without_a_price_or_an_average_price_is_refused() -> None:
    fields = {k: v for k, v in FILL.items() if k != 31}
    with pytest.raises(FixParseError, match=r"LastPx.*AvgPx"):
        decode_execution_report(_message("8", fields), INSTRUMENTS)


def test_a_price_off_the_tick_grid_is_kept_as_the_venue_wrote_it() -> None:
    report = decode_execution_report(_message("8", {**FILL, 31: "580.005"}), INSTRUMENTS)
    assert (report.last_px, report.last_px_text, report.last_qty) == (None, "580.005", 40)


@pytest.mark.parametrize(("change", "expected"), [
    # FIX 4.2's fills on a 4.4 session, with the OrdStatus values that go with them.
    ({150: "1", 39: "1"}, (ExecType.PARTIAL_FILL_42, OrdStatus.PARTIALLY_FILLED)),
    ({150: "2", 39: "2"}, (ExecType.FILL_42, OrdStatus.FILLED)),
    # Done for day, and 4.2's "Replaced" status.
    ({150: "3", 39: "3", 32: "0"}, (ExecType.DONE_FOR_DAY, OrdStatus.DONE_FOR_DAY)),
    ({150: "5", 39: "5", 32: "0"}, (ExecType.REPLACED, OrdStatus.REPLACED)),
])
def test_what_counterparties_send_in_the_wild_is_read(change: dict[int, str],
                                                      expected: tuple[ExecType, OrdStatus]) -> None:
    report = decode_execution_report(_message("8", {**FILL, **change}), INSTRUMENTS)
    assert (report.exec_type, report.ord_status) == expected


def test_a_fill_without_last_qty_or_order_id_is_read_for_its_cum_qty_and_avg_px() -> None:
    fields = {k: v for k, v in FILL.items() if k not in (31, 32, 37)}
    report = decode_execution_report(_message("8", {**fields, 6: "580.015"}), INSTRUMENTS)
    assert (report.last_qty, report.last_px, report.cum_qty) == (0, None, 40)
    assert report.avg_px_ticks == pytest.approx(58001.5) and report.order_id is None


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(sorted(FILL)),
                       st.one_of(st.none(), st.text(alphabet=st.characters(
                           blacklist_characters="\x01", blacklist_categories=("Cs",)),
                           max_size=12)),
                       max_size=len(FILL)))
def test_random_and_missing_fields_never_escape_as_anything_but_parse_errors(
        changes: dict[int, str | None]) -> None:
    fields = dict(FILL)
    for tag, value in changes.items():
        if value is None:
            fields.pop(tag, None)
        else:
            fields[tag] = value
    with contextlib.suppress(FixParseError):
        decode_execution_report(_message("8", fields), INSTRUMENTS)


def test_cancel_reject_parses() -> None:
    reject = decode_cancel_reject(_message("9", {11: "C2", 41: "C1", 39: "0", 102: "1",
                                                 58: "unknown order"}))
    assert (reject.orig_cl_ord_id, reject.ord_status, reject.reason) == ("C1", OrdStatus.NEW, "1")


def test_utc_timestamps_round_trip_to_the_microsecond() -> None:
    assert parse_utc(format_utc(NOW)) == NOW
    with pytest.raises(FixParseError):
        parse_utc("yesterday")


def _strptime_seconds(text: str) -> int | None:
    try:
        return calendar.timegm(time.strptime(text, "%Y%m%d-%H:%M:%S"))
    except ValueError:
        return None


@settings(max_examples=500, deadline=None)
@given(st.tuples(st.integers(1900, 2100), st.integers(0, 13), st.integers(0, 32),
                 st.integers(0, 25), st.integers(0, 61), st.integers(0, 62)))
def test_utc_timestamps_parse_exactly_as_strptime_does(parts) -> None:
    """parse_utc reads the fixed-width form by slicing (strptime was a fifth of decoding a
    report); it must accept and reject exactly what strptime does: month 0 or 13, 31 April,
    29 February of a common year, hour 24, second 61 (a leap second) and so on."""
    text = "{:04d}{:02d}{:02d}-{:02d}:{:02d}:{:02d}".format(*parts)
    expected = _strptime_seconds(text)
    if expected is None:
        with pytest.raises(FixParseError):
            parse_utc(text)
    else:
        assert parse_utc(text + ".5") == expected * 1_000_000_000 + 500_000_000


def test_a_data_field_holding_the_separator_does_not_break_reading_the_rest() -> None:
    message = _message("8", {11: "C1", 17: "X1"})
    message.setField(fix.RawDataLength(5))
    message.setField(fix.RawData("ab\x01cd"))
    fields = fields_of(message)
    assert (fields[11], fields[17]) == ("C1", "X1")


def test_market_data_request_asks_for_bids_offers_trades() -> None:
    request = build_md_request("r1", ["GOOG"], depth=5)
    assert request.getField(263) == "1" and request.getField(264) == "5"
    assert request.getField(267) == "3" and request.getField(146) == "1"


def _incremental(entries: list[dict[int, str]]) -> fix.Message:
    import quickfix44 as fix44

    message = fix44.MarketDataIncrementalRefresh()
    for entry in entries:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        for tag, value in entry.items():
            group.setField(tag, value)
        message.addGroup(group)
    return message


ENTRY = {279: "1", 269: "0", 55: "GOOG", 270: "580.00", 271: "300", 272: "20250615",
         273: "12:00:00.500000"}


def test_incremental_refresh_parses_levels_deletes_and_trades() -> None:
    message = _incremental([ENTRY, {**ENTRY, 279: "2", 269: "1", 270: "580.02"},
                            {**ENTRY, 279: "0", 269: "2", 270: "580.01", 271: "25"}])
    data = decode_market_data(message, "X", INSTRUMENTS)
    assert data.symbol == "GOOG" and not data.snapshot
    assert [(u.side, u.price, u.qty) for u in data.updates] == [(Side.BUY, 58000, 300),
                                                               (Side.SELL, 58002, 0)]
    assert [(t.price, t.qty, t.aggressor) for t in data.trades] == [(58001, 25, None)]
    assert data.ts_ns == parse_utc("20250615-12:00:00.500000")


@pytest.mark.parametrize(("change", "problem"), [
    ({270: "580.001"}, "tick grid"), ({271: "-3"}, "negative"), ({269: "9"}, "MDEntryType"),
    ({279: "7"}, "MDUpdateAction"), ({55: "MSFT"}, "unconfigured"), ({273: "noon"}, "MDEntry"),
])
def test_malformed_market_data_is_refused(change: dict[int, str], problem: str) -> None:
    with pytest.raises(FixParseError, match=problem):
        decode_market_data(_incremental([{**ENTRY, **change}]), "X", INSTRUMENTS)


@given(st.integers(0, 4_102_444_800 * 10**9))  # 1970 to 2100
def test_market_data_entry_times_round_trip_to_the_microsecond(ts_ns: int) -> None:
    date, clock = format_entry_time(ts_ns)
    data = decode_market_data(_incremental([{**ENTRY, 272: date, 273: clock}]), "X",
                              INSTRUMENTS)
    assert data.ts_ns == ts_ns // 1000 * 1000


@pytest.mark.parametrize("clock", ["12:00", "12:00:00.", "24:00:00", "12:60:00", "1a:00:00",
                                   "12:00:00.1234567890", " 12:00:00", "12-00-00"])
def test_malformed_entry_times_are_refused(clock: str) -> None:
    with pytest.raises(FixParseError, match="MDEntryDate/MDEntryTime"):
        decode_market_data(_incremental([{**ENTRY, 273: clock}]), "X", INSTRUMENTS)
