"""One LOBSTER reader for every command: vendor quirks accepted and noted once, true defects one
line naming file and line (exit 2) from ``book-check``, ``evaluate`` and ``calibrate`` alike,
and the instrument taken from the data. Files are real GOOG rows (5 levels, renamed to another
ticker) written to a temporary folder."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.cli import main
from sim.lobster import LobsterFormatError, open_sample

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
pytestmark = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")
ROWS = 2_500  # about 210 s of the open: room for one short evaluation episode
TICKER = "AMZN"
MESSAGE = f"{TICKER}_2012-06-21_34200000_57600000_message_5.csv"
BOOK = f"{TICKER}_2012-06-21_34200000_57600000_orderbook_5.csv"
SHORT_EPISODE = {"episode": {"qty": 200, "horizon_seconds": 60, "slice_seconds": 10,
                             "warmup_seconds": 5, "horizon_grace_seconds": 10}}


@pytest.fixture(scope="module")
def goog() -> tuple[list[str], list[str]]:
    """The first ROWS message lines and order-book lines cut to 5 levels, without newlines."""
    with zipfile.ZipFile(GOOG) as archive:
        names = archive.namelist()
        message = next(n for n in names if "_message_" in n)
        book = next(n for n in names if "_orderbook_" in n)
        messages = archive.read(message).decode().splitlines()[:ROWS]
        books = [",".join(line.split(",")[:20])
                 for line in archive.read(book).decode().splitlines()[:ROWS]]
    return messages, books


def _write(folder: Path, messages: list[str] | bytes, books: list[str] | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in ((MESSAGE, messages), (BOOK, books)):
        data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
        (folder / name).write_bytes(data)
    return folder


def _notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "note:" in r.getMessage()]


def _limits(tmp_path: Path, symbol: str) -> Path:
    path = tmp_path / "limits.yaml"
    path.write_text(Path("deploy/risk/limits.demo.yaml").read_text()
                    .replace("  GOOG:", f"  {symbol}:"))
    return path


def _evaluate(folder: Path, tmp_path: Path, *extra: str) -> list[str]:
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps(SHORT_EPISODE))
    return ["evaluate", "--data", str(folder), "--policies", "twap", "--episodes", "1",
            "--config", str(config), "--signal", "none", *extra]


# --- quirks: accepted, counted, noted once ------------------------------------------------------

def _more_decimals(messages: list[str], books: list[str]) -> tuple[bytes, bytes]:
    time, rest = messages[1233].split(",", 1)
    messages = list(messages)
    messages[1233] = f"{time}{'0' * (9 - len(time.split('.')[1]))}004,{rest}"  # 12 decimals
    return ("\n".join(messages) + "\n").encode(), ("\n".join(books) + "\n").encode()


def _crlf(messages: list[str], books: list[str]) -> tuple[bytes, bytes]:
    return ("\r\n".join(messages) + "\r\n").encode(), ("\n".join(books) + "\n").encode()


def _trailing_spaces(messages: list[str], books: list[str]) -> tuple[bytes, bytes]:
    books = [line + "  " if k in (9, 99, 999) else line for k, line in enumerate(books)]
    return ("\n".join(messages) + "\n").encode(), ("\n".join(books) + "\n").encode()


def _no_final_newline(messages: list[str], books: list[str]) -> tuple[bytes, bytes]:
    return "\n".join(messages).encode(), ("\n".join(books) + "\n").encode()


def _bom(messages: list[str], books: list[str]) -> tuple[bytes, bytes]:
    return b"\xef\xbb\xbf" + ("\n".join(messages) + "\n").encode(), \
        ("\n".join(books) + "\n").encode()


QUIRKS = [
    (_more_decimals, MESSAGE, "1 timestamp with more than 9 decimals rounded to the nanosecond "
                              "(first at line 1234)"),
    (_crlf, MESSAGE, f"{ROWS:,} CRLF line ends read as newlines (first at line 1)"),
    (_trailing_spaces, BOOK, "3 lines with spaces at the end ignored (first at line 10)"),
    (_no_final_newline, MESSAGE, f"1 last line without a final newline accepted (first at "
                                 f"line {ROWS})"),
    (_bom, MESSAGE, "1 UTF-8 byte-order mark at the start of the file ignored (first at "
                    "line 1)"),
]


@pytest.mark.parametrize("quirk, name, note", QUIRKS, ids=[q[0].__name__ for q in QUIRKS])
def test_each_quirk_is_accepted_and_noted_once(
        tmp_path: Path, goog: tuple[list[str], list[str]], caplog: pytest.LogCaptureFixture,
        quirk, name: str, note: str) -> None:  # type: ignore[no-untyped-def]
    plain = open_sample(_write(tmp_path / "plain", *goog)).read(keep=False)
    folder = _write(tmp_path / "quirky", *quirk(*goog))
    assert main(["book-check", str(folder)]) == 0
    assert _notes(caplog) == [f"{name}: note: {note}"]
    read = open_sample(folder).read(keep=False)
    assert read.notes == (f"{name}: note: {note}",)
    assert (read.messages.ts_ns == plain.messages.ts_ns).all()  # 12 decimals: rounded to 9
    assert (read.book.ask_price == plain.book.ask_price).all()


def test_evaluate_and_calibrate_note_a_quirk_once(
        tmp_path: Path, goog: tuple[list[str], list[str]],
        caplog: pytest.LogCaptureFixture) -> None:
    folder = _write(tmp_path / "data", *_more_decimals(*goog))
    # evaluate reads the data to plan its episodes, and again in every episode's replay
    assert main(_evaluate(folder, tmp_path, "--limits", str(_limits(tmp_path, TICKER)))) == 0
    assert len(_notes(caplog)) == 1
    caplog.clear()
    folder = _write(tmp_path / "again", *_more_decimals(*goog))
    main(["calibrate", str(folder), "-o", str(tmp_path / "params.json")])
    assert len(_notes(caplog)) == 1


# --- defects: one line naming file and line, exit 2, from every command -------------------------

def _set_field(lines: list[str], line: int, field: int, value: str) -> list[str]:
    lines = list(lines)
    fields = lines[line - 1].split(",")
    fields[field - 1] = value
    lines[line - 1] = ",".join(fields)
    return lines


def _defects(messages: list[str], books: list[str]) \
        -> list[tuple[str, list[str] | bytes, list[str] | bytes, str, int, str]]:
    ask, bid = int(books[59].split(",")[0]), int(books[59].split(",")[2])
    return [
        ("message price not a number", _set_field(messages, 100, 5, "57x4000"), books,
         MESSAGE, 100, "field 5 is not a whole number"),
        ("negative message price", _set_field(messages, 101, 5, "-5794000"), books,
         MESSAGE, 101, "price -5794000 is not positive"),
        ("negative book price", messages, _set_field(books, 50, 3, str(-bid)), BOOK, 50,
         "price is not positive"),
        ("book price not a number", messages, _set_field(books, 51, 1, "5802300.5"), BOOK, 51,
         "field 1 is not a whole number"),
        ("crossed book", messages, _set_field(books, 60, 3, str(ask + 100)), BOOK, 60,
         "crossed book"),
        ("rows out of time order", _set_field(messages, 200, 1, "34199.5"), books, MESSAGE,
         200, "before the previous line's"),
        ("truncated order book", messages,
         ("\n".join(books) + "\n").encode()[:-40], BOOK, ROWS, "expected 20 fields"),
        ("a row with a field too many", _set_field(messages, 300, 6, "1,1"), books, MESSAGE,
         300, "expected 6 fields, got 7"),
        ("files of different lengths", messages[:-1], books, BOOK, ROWS, "no such line in"),
    ]


DEFECT_NAMES = [d[0] for d in _defects(["0,0,0,0,0,0"] * 300, ["0,0,0,0"] * 60)]


@pytest.mark.parametrize("defect", DEFECT_NAMES)
def test_each_defect_is_one_line_and_exit_2_from_every_command(
        tmp_path: Path, goog: tuple[list[str], list[str]], capsys: pytest.CaptureFixture[str],
        defect: str) -> None:
    _, messages, books, name, line, why = next(d for d in _defects(*goog) if d[0] == defect)
    folder = _write(tmp_path / "data", messages, books)
    with pytest.raises(LobsterFormatError, match=f"^{name} line {line}: .*{why}"):
        open_sample(folder).read(keep=False)
    limits = _limits(tmp_path, TICKER)
    for command, args in (("book-check", ["book-check", str(folder)]),
                          ("evaluate", _evaluate(folder, tmp_path, "--limits", str(limits))),
                          ("calibrate", ["calibrate", str(folder), "-o",
                                         str(tmp_path / "p.json")])):
        capsys.readouterr()
        assert main(args) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"execagent {command}: {name} line "
                                                   f"{line}: "), (command, err)
        assert why in err[0]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=3)), min_size=1,
                max_size=4))
def test_any_byte_corruption_of_a_message_file_parses_or_is_a_format_error(
        tmp_path_factory: pytest.TempPathFactory, goog: tuple[list[str], list[str]],
        edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(("\n".join(goog[0][:30]) + "\n").encode())
    for at, replacement in edits:
        at %= len(data) + 1
        data[at:at + 1] = replacement
    folder = _write(tmp_path_factory.mktemp("corrupt"), bytes(data), goog[1][:30])
    try:
        read = open_sample(folder).read(keep=False)
    except LobsterFormatError as exc:
        assert " line " in str(exc) and "\n" not in str(exc)
    else:
        assert len(read.messages) == 30 and (read.messages.qty >= 0).all()


# --- the instrument comes from the data ---------------------------------------------------------

def test_symbol_and_tick_size_come_from_the_data(
        tmp_path: Path, goog: tuple[list[str], list[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _write(tmp_path / "data", *goog)
    assert main(["book-check", str(folder)]) == 0
    assert capsys.readouterr().out.strip().startswith(f"{TICKER} 2012-06-21, 5 levels")
    assert main(["book-check", str(folder), "--symbol", "XYZ"]) == 0
    assert capsys.readouterr().out.strip().startswith("XYZ 2012-06-21")
    # GOOG's prices are whole cents, not whole nickels: the tick size is the flag's.
    assert main(["book-check", str(folder), "--tick-size", "0.05"]) == 2
    assert "not a whole number of ticks" in capsys.readouterr().err
    # The demo's limits name GOOG only: evaluating AMZN data against them is refused.
    assert main(_evaluate(folder, tmp_path)) == 2
    assert f"no risk limits for {TICKER}" in capsys.readouterr().err
    out = tmp_path / "r.json"
    assert main(_evaluate(folder, tmp_path, "--limits", str(_limits(tmp_path, TICKER)),
                          "--json", str(out))) == 0
    assert json.loads(out.read_text())["episodes"] == 1
    params = tmp_path / "params.json"
    if main(["calibrate", str(folder), "-o", str(params)]) == 0:
        document = json.loads(params.read_text())
        assert (document["symbol"], document["tick_size"]) == (TICKER, "0.01")


def test_evaluate_sim_without_params_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "params.json"
    bad.write_text('{"data": "no params here"}')
    assert main(["evaluate", "--sim", str(bad), "--policies", "twap", "--signal", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no 'params' object" in err[0]


@pytest.fixture(autouse=True)
def _warnings_captured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="execagent")
