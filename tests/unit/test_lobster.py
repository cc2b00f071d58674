"""The LOBSTER loader: real sample file, hand-made files, and arbitrary malformed rows."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import Side
from sim.lobster import EventType, HaltPhase, LobsterFormatError, message_at, open_sample
from sim.lobster_columns import EMPTY
from sim.lobster_csv import read_columns

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOG = SHARED / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
NAME = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"


def _write_sample(folder: Path, messages: list[str], books: list[str]) -> Path:
    (folder / NAME.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / NAME.format(kind="orderbook")).write_text("\n".join(books) + "\n")
    return folder


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")
def test_reads_the_goog_sample_zip() -> None:
    sample = open_sample(GOOG)
    assert (sample.ticker, sample.date, sample.levels) == ("GOOG", dt.date(2012, 6, 21), 10)
    first = list(itertools.islice(sample.messages(), 1000))
    rows = list(itertools.islice(sample.book_rows(), 1000))
    assert len(first) == len(rows) == 1000
    # 09:30 New York on the sample day is 13:30 UTC.
    open_ns = int(dt.datetime(2012, 6, 21, 13, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    assert open_ns <= first[0].ts_ns < open_ns + 60 * 10**9
    assert all(a.ts_ns <= b.ts_ns for a, b in itertools.pairwise(first))
    assert {m.event for m in first} <= set(EventType)
    for row in rows:
        assert row.asks[0][0] > row.bids[0][0]  # never crossed
        assert len(row.asks) == len(row.bids) == 10
    assert sum(1 for _ in sample.messages()) == 147_916


def test_hand_made_folder_converts_units(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(
        tmp_path,
        ["34200.000000001,1,11,100,5851200,1", "34200.5,4,11,40,5851200,1",
         "34201,7,0,0,-1,-1", "34202,7,0,0,1,-1"],
        ["5851300,10,5851200,100,5851400,5,-9999999999,0"] * 4))
    messages = list(sample.messages(utc_offset_hours=0))
    midnight = int(dt.datetime(2012, 6, 21, tzinfo=dt.UTC).timestamp()) * 10**9
    assert messages[0].ts_ns == midnight + 34_200 * 10**9 + 1
    assert (messages[0].event, messages[0].price, messages[0].qty, messages[0].side) == \
        (EventType.SUBMIT, 58_512, 100, Side.BUY)
    assert messages[1].event is EventType.EXECUTE_VISIBLE
    assert messages[2].halt_phase is HaltPhase.HALTED
    assert messages[3].halt_phase is HaltPhase.TRADING
    assert messages[0].halt_phase is None
    row = next(sample.book_rows())
    assert row.asks == ((58_513, 10), (58_514, 5))
    assert row.bids == ((58_512, 100),)


BAD_MESSAGES = [
    ("34200,1,11,100,5851250,1", "not a whole number of ticks"),
    ("34200,9,11,100,5851200,1", "unknown event type 9"),
    ("34200,1,11,100,5851200,0", "direction"),
    ("34200,1,11,-5,5851200,1", "negative size"),
    ("99999,1,11,5,5851200,1", "outside the day"),
    ("34200,1,11", "expected 6 fields"),
    ("noon,1,11,5,5851200,1", "line 2"),
    ("34200,7,0,0,5,-1", "unknown halt phase 5"),
    ("34200,1,11,100,-5851200,1", "price -5851200 is not positive"),
    ("34199,1,11,100,5851200,1", "before the previous line's"),
]


@pytest.mark.parametrize("bad_row, complaint", BAD_MESSAGES)
def test_malformed_message_rows_name_the_line(tmp_path: Path, bad_row: str,
                                              complaint: str) -> None:
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1", bad_row],
                                       ["5851300,10,5851200,100"] * 2))
    with pytest.raises(LobsterFormatError, match="line 2") as caught:
        list(sample.messages())
    assert complaint in str(caught.value)


def test_a_folder_without_the_pair_is_refused(tmp_path: Path) -> None:
    (tmp_path / NAME.format(kind="message")).write_text("")
    with pytest.raises(LobsterFormatError, match="orderbook"):
        open_sample(tmp_path)
    with pytest.raises(LobsterFormatError, match="neither a folder nor a zip"):
        open_sample(tmp_path / NAME.format(kind="message"))


def test_tick_size_must_be_representable(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1"],
                                       ["5851300,10,5851200,100,9999999999,0,-9999999999,0"]))
    with pytest.raises(LobsterFormatError, match="tick size"):
        next(sample.messages(Decimal("0.00001")))


@settings(deadline=None)  # files and a reader thread: no timing assertion
@given(st.lists(st.text(alphabet="0123456789-.,e ", max_size=12), min_size=0, max_size=8))
def test_any_row_parses_or_fails_clearly(tmp_path_factory: pytest.TempPathFactory,
                                         fields: list[str]) -> None:
    folder = _write_sample(tmp_path_factory.mktemp("lobster"), [",".join(fields) or "x"],
                           ["5851300,10,5851200,100"])
    try:
        for message in open_sample(folder).messages():
            assert message.qty >= 0 and message.side in (Side.BUY, Side.SELL)
    except LobsterFormatError as exc:
        assert "line 1" in str(exc)


def test_hidden_executions_may_print_between_ticks(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(tmp_path, ["34200,5,0,40,5777750,1"],
                                       ["5851300,10,5851200,100,9999999999,0,-9999999999,0"]))
    (hidden,) = sample.messages()
    assert (hidden.event, hidden.price, hidden.price_e4) == (EventType.EXECUTE_HIDDEN, 57_777,
                                                             5_777_750)


BAD_BOOKS = [
    ("5851200,10,5851300,100,5851400,5,-9999999999,0", "crossed book"),
    ("5851300,10,5851200,100,5851300,5,-9999999999,0", "out of order"),
    ("5851300,10,5851200,100,5851400,5,5851300,5", "out of order"),
    ("5851300,0,5851200,100,9999999999,0,-9999999999,0", "no positive size"),
    ("5851300,10,5851200", "expected 8 fields"),
    ("5851300,10,5851200,x,9999999999,0,-9999999999,0", "field 4 is not a whole number"),
    ("5851300,10,-5851200,100,9999999999,0,-9999999999,0", "price is not positive"),
]


@pytest.mark.parametrize("bad_book, complaint", BAD_BOOKS)
def test_bad_book_rows_name_the_line(tmp_path: Path, bad_book: str, complaint: str) -> None:
    sample = open_sample(_write_sample(
        tmp_path, ["34200,1,10,5,5851200,1"] * 2,
        ["5851300,10,5851200,100,9999999999,0,-9999999999,0", bad_book]))
    with pytest.raises(LobsterFormatError, match="line 2") as caught:
        list(sample.book_rows())
    assert complaint in str(caught.value)


# --- the columns behind the row iterators ----------------------------------------------------

def _book_rows_from_columns(sample):  # type: ignore[no-untyped-def]
    """The book columns as one list of (asks, bids) rows, like BookRow."""
    book = sample.read().book
    rows = []
    for i in range(len(book)):
        asks = tuple((int(p), int(q)) for p, q in
                     zip(book.ask_price[i], book.ask_qty[i], strict=True) if p != EMPTY)
        bids = tuple((int(p), int(q)) for p, q in
                     zip(book.bid_price[i], book.bid_qty[i], strict=True) if p != -EMPTY)
        rows.append((asks, bids))
    return rows


def _columns_equal_rows(sample, count: int | None = None) -> None:  # type: ignore[no-untyped-def]
    columns = sample.read().messages
    messages = list(itertools.islice(sample.messages(), count))
    assert [message_at(columns, i) for i in range(len(messages))] == messages
    assert _book_rows_from_columns(sample)[:len(messages)] == \
        [(r.asks, r.bids) for r in itertools.islice(sample.book_rows(), count)]


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")
def test_columns_equal_the_row_iterators_on_goog() -> None:
    sample = open_sample(GOOG)
    assert len(sample.read().messages) == 147_916
    _columns_equal_rows(sample, 30_000)


def test_columns_equal_the_row_iterators_on_a_hand_made_file(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(
        tmp_path,
        ["34200.000000001,1,11,100,5851200,1", "34200.5,4,11,40,5851200,1",
         "34201,7,0,0,-1,-1", "34202.,5,0,7,5777750,-1", "34203.123456789,1,12345678901,5,"
                                                          "5851300,-1"],
        ["5851300,10,5851200,100,5851400,5,-9999999999,0"] * 4 +
        ["9999999999,0,5851200,100,9999999999,0,-9999999999,0"]))
    _columns_equal_rows(sample)


@pytest.mark.parametrize("bad_row, complaint", [
    ("34200,1,11,5,5851200", "expected 6 fields"),
    ("34200,1,11,5,5851200,1,9", "expected 6 fields"),
    ("34200,1,1 1,5,5851200,1", "a space inside the line"),
    ("", "expected 6 fields, got 0")])
def test_a_row_of_another_shape_names_its_line(tmp_path: Path, bad_row: str,
                                               complaint: str) -> None:
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1", bad_row,
                                                  "noon,1,11,5,5851200,1"],
                                       ["5851300,10,5851200,100"] * 3))
    with pytest.raises(LobsterFormatError, match=r"_message_2\.csv line 2: ") as caught:
        sample.read()
    assert complaint in str(caught.value)


@pytest.mark.parametrize("bad_book, complaint", [
    ("9999999999,0,5851200,100,5851400,5,-9999999999,0", "empty level above a visible one"),
    ("5851300,10,5851200,100,9999999999,0,-9999999999,0,1", "expected 8 fields"),
    ("5851300,10,5851200,1_00,9999999999,0,-9999999999,0", "not a whole number")])
def test_a_bad_book_row_names_its_line(tmp_path: Path, bad_book: str, complaint: str) -> None:
    good = "5851300,10,5851200,100,9999999999,0,-9999999999,0"
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1"] * 3,
                                       [good, bad_book, "x"]))
    with pytest.raises(LobsterFormatError, match=r"_orderbook_2\.csv line 2: ") as caught:
        sample.read()
    assert complaint in str(caught.value)


@pytest.mark.parametrize("bad_line", [1, 4_999, 5_000, 12_345])
def test_the_first_bad_row_of_a_long_file_is_found(tmp_path: Path, bad_line: int) -> None:
    books = ["5851300,10,5851200,100,9999999999,0,-9999999999,0"] * 12_400
    books[bad_line - 1] = "5851300,10,5851200,-100,9999999999,0,-9999999999,0"
    books[12_399] = "5851300,10,5851200,x,9999999999,0,-9999999999,0"  # later: not reported
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1"] * 12_400, books))
    with pytest.raises(LobsterFormatError, match=f"line {bad_line}: a visible level with no "
                                                 "positive size"):
        sample.read()


def test_integers_and_times_parse_exactly() -> None:
    values = ["0", "7", "-7", "12345678", "123456789", "-9999999999", "1234567890123456"]
    times = ["0", "1.5", "34200.000000001", "86399.999999999", "43002.632812672004",
             "43002.6328126726", "7.", "12.0000000004"]
    data = "\n".join(f"{t},{v}" for t, v in zip(times, [*values, "1"], strict=True))
    parsed = read_columns(data.encode() + b"\r\n", 2, time_first=True)
    assert parsed.columns[0].tolist() == [0, 1_500_000_000, 34_200_000_000_001,
                                          86_399_999_999_999, 43_002_632_812_672,
                                          43_002_632_812_673, 7_000_000_000, 12_000_000_000]
    assert parsed.columns[1].tolist() == [int(v) for v in [*values, "1"]]
    crlf, decimals = parsed.quirks  # only the last line ends in CRLF
    assert (crlf.note("f"), decimals.note("f")) == (
        "f: note: 1 CRLF line end read as newline (first at line 8)",
        "f: note: 3 timestamps with more than 9 decimals rounded to the nanosecond (first at "
        "line 5)")
    assert (decimals.count, decimals.first_line) == (3, 5)


@settings(deadline=None)
@given(st.lists(st.text(alphabet="0123456789-.,e \r\n", max_size=14), min_size=0, max_size=9),
       st.booleans())
def test_the_reader_parses_any_text_or_fails_clearly(
        tmp_path_factory: pytest.TempPathFactory, fields: list[str], book: bool) -> None:
    text = ",".join(fields) or "x"
    folder = _write_sample(tmp_path_factory.mktemp("columns"),
                           [text if not book else "34200,1,10,5,5851200,1"],
                           [text if book else "5851300,10,5851200,100"])
    sample = open_sample(folder)
    try:
        read = sample.read(keep=False)
    except LobsterFormatError as exc:
        assert "line " in str(exc)
    else:
        assert (read.book.ask_qty >= 0).all() and (read.book.bid_qty >= 0).all()
        assert (read.messages.qty >= 0).all() and set(read.messages.side.tolist()) <= {1, -1}
