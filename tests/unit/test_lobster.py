"""The LOBSTER loader: real sample file, hand-made files, and arbitrary malformed rows."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import Side
from sim import int_csv
from sim.lobster import EventType, HaltPhase, LobsterFormatError, open_sample
from sim.lobster_columns import EMPTY, book_blocks, read_messages

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
    ("34200,9,11,100,5851200,1", "EventType"),
    ("34200,1,11,100,5851200,0", "direction"),
    ("34200,1,11,-5,5851200,1", "negative size"),
    ("99999,1,11,5,5851200,1", "outside the day"),
    ("34200,1,11", "expected 6 fields"),
    ("noon,1,11,5,5851200,1", "line 2"),
    ("34200,7,0,0,5,-1", "HaltPhase"),
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
    ("5851300,10,5851200,x,9999999999,0,-9999999999,0", "invalid literal"),
]


@pytest.mark.parametrize("bad_book, complaint", BAD_BOOKS)
def test_bad_book_rows_name_the_line(tmp_path: Path, bad_book: str, complaint: str) -> None:
    sample = open_sample(_write_sample(
        tmp_path, ["34200,1,10,5,5851200,1"] * 2,
        ["5851300,10,5851200,100,9999999999,0,-9999999999,0", bad_book]))
    with pytest.raises(LobsterFormatError, match="line 2") as caught:
        list(sample.book_rows())
    assert complaint in str(caught.value)


# --- the whole-file column readers (sim.lobster_columns): same values, same errors -------------

def _blocks(sample):  # type: ignore[no-untyped-def]
    """The book columns as one list of (asks, bids) rows, like BookRow."""
    rows = []
    for block in book_blocks(sample):
        for i in range(len(block.ask_price)):
            asks = tuple((int(p), int(q)) for p, q in
                         zip(block.ask_price[i], block.ask_qty[i], strict=True) if p != EMPTY)
            bids = tuple((int(p), int(q)) for p, q in
                         zip(block.bid_price[i], block.bid_qty[i], strict=True) if p != -EMPTY)
            rows.append((asks, bids))
    return rows


def _columns_equal_rows(sample, count: int | None = None) -> None:  # type: ignore[no-untyped-def]
    columns = read_messages(sample)
    messages = list(itertools.islice(sample.messages(), count))
    assert [columns.message(i) for i in range(len(messages))] == messages
    assert _blocks(sample)[:len(messages)] == \
        [(r.asks, r.bids) for r in itertools.islice(sample.book_rows(), count)]


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")
def test_columns_equal_the_row_readers_on_goog() -> None:
    sample = open_sample(GOOG)
    assert len(read_messages(sample)) == 147_916
    _columns_equal_rows(sample, 30_000)


def test_columns_equal_the_row_readers_on_a_hand_made_file(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(
        tmp_path,
        ["34200.000000001,1,11,100,5851200,1", "34200.5,4,11,40,5851200,1",
         "34201,7,0,0,-1,-1", "34202.,5,0,7,5777750,-1", "34203.123456789,1,12345678901,5,"
                                                          "5851300,-1"],
        ["5851300,10,5851200,100,5851400,5,-9999999999,0"] * 4 +
        ["9999999999,0,5851200,100,9999999999,0,-9999999999,0"]))
    _columns_equal_rows(sample)


@pytest.mark.parametrize("bad_row, complaint", BAD_MESSAGES + [
    ("34200,1,11,5,5851200", "expected 6 fields"),
    ("34200, 1,11,5,5851200,1", "plain number"),
    ("34200,1,11,5,5851200,1,9", "expected 6 fields"),
    ("", "expected 6 fields, got 0")])
def test_column_reader_names_the_line_of_a_bad_message(tmp_path: Path, bad_row: str,
                                                       complaint: str) -> None:
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1", bad_row,
                                                  "noon,1,11,5,5851200,1"],
                                       ["5851300,10,5851200,100"] * 3))
    with pytest.raises(LobsterFormatError, match="_message_2.csv line 2: ") as caught:
        read_messages(sample)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("bad_book, complaint", BAD_BOOKS + [
    ("9999999999,0,5851200,100,5851400,5,-9999999999,0", "empty level above a visible one"),
    ("5851300,10,5851200,100,9999999999,0,-9999999999,0,1", "expected 8 fields"),
    ("5851300,10,5851200,1_00,9999999999,0,-9999999999,0", "plain number"),
    ("5851300,10,5851200, 100,9999999999,0,-9999999999,0", "separated by ',' alone")])
def test_column_reader_names_the_line_of_a_bad_book_row(tmp_path: Path, bad_book: str,
                                                        complaint: str) -> None:
    good = "5851300,10,5851200,100,9999999999,0,-9999999999,0"
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1"] * 3,
                                       [good, bad_book, "x"]))
    with pytest.raises(LobsterFormatError, match="_orderbook_2.csv line 2: ") as caught:
        list(book_blocks(sample))
    assert complaint in str(caught.value)


@pytest.mark.parametrize("bad_line", [1, 4_999, 5_000, 12_345])
def test_the_first_bad_row_of_a_long_file_is_found(tmp_path: Path, bad_line: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks, so the file spans many and the bad row may sit at a chunk's edge.
    monkeypatch.setattr(int_csv, "CHUNK_BYTES", 4096)
    books = ["5851300,10,5851200,100,9999999999,0,-9999999999,0"] * 12_400
    books[bad_line - 1] = "5851300,10,5851200,-100,9999999999,0,-9999999999,0"
    books[12_399] = "5851300,10,5851200,x,9999999999,0,-9999999999,0"  # later: not reported
    sample = open_sample(_write_sample(tmp_path, ["34200,1,10,5,5851200,1"] * 12_400, books))
    with pytest.raises(LobsterFormatError, match=f"line {bad_line}: a visible level with no "
                                                 "positive size"):
        list(book_blocks(sample))


def test_integers_and_decimals_parse_exactly() -> None:
    values = ["0", "7", "-7", "12345678", "123456789", "-9999999999", "1234567890123456"]
    data = "\n".join(f"{v},{v}.5,{v}" for v in values).encode() + b"\r\n"
    (block,) = int_csv.read_int_blocks(data, 3, decimal_column=1, scale=3)
    assert block.values[:, 0].tolist() == [int(v) for v in values]
    assert block.values[:, 1].tolist() == [int(v) * 1000 + (-500 if v.startswith("-") else 500)
                                           for v in values]
    assert not block.not_plain.any() and block.bad_shape is None


@given(st.lists(st.text(alphabet="0123456789-.,e \r\n", max_size=14), min_size=0, max_size=9),
       st.booleans())
def test_the_column_readers_parse_any_text_or_fail_clearly(
        tmp_path_factory: pytest.TempPathFactory, fields: list[str], book: bool) -> None:
    text = ",".join(fields) or "x"
    folder = _write_sample(tmp_path_factory.mktemp("columns"),
                           [text if not book else "34200,1,10,5,5851200,1"],
                           [text if book else "5851300,10,5851200,100"])
    sample = open_sample(folder)
    try:
        if book:
            for block in book_blocks(sample):
                assert (block.ask_qty >= 0).all() and (block.bid_qty >= 0).all()
        else:
            columns = read_messages(sample)
            assert (columns.qty >= 0).all() and set(columns.side.tolist()) <= {1, -1}
    except LobsterFormatError as exc:
        assert "line " in str(exc)
