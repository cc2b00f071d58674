"""The LOBSTER book check: exact on real 10- and 5-level files, and it catches a wrong row."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path

import pytest

from service.cli import main
from sim.book_check import check_book
from sim.lobster import open_sample

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOG = SHARED / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
needs_goog = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")


def _sample(folder: Path, levels: int, messages: list[str], books: list[str]) -> Path:
    stem = f"AAA_2012-06-21_34200000_57600000_{{kind}}_{levels}.csv"
    (folder / stem.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / stem.format(kind="orderbook")).write_text("\n".join(books) + "\n")
    return folder


# Two levels. Row 1 is the starting book; then: an add at a new best bid, a partial cancel,
# an execution emptying the best ask (the 2-level book's new second ask was invisible: 5851700
# is not compared), a hidden execution and a halt (no change).
MESSAGES = [
    "34200.0,1,1,100,5851200,1",
    "34200.1,1,2,50,5851300,1",
    "34200.2,2,1,40,5851200,1",
    "34200.3,4,9,10,5851500,-1",
    "34200.4,5,0,7,5851400,1",
    "34200.5,7,0,0,-1,-1",
]
BOOKS = [
    "5851500,10,5851200,100,5851600,20,5851100,30",
    "5851500,10,5851300,50,5851600,20,5851200,100",
    "5851500,10,5851300,50,5851600,20,5851200,60",
    "5851600,20,5851300,50,5851700,80,5851200,60",
    "5851600,20,5851300,50,5851700,80,5851200,60",
    "5851600,20,5851300,50,5851700,80,5851200,60",
]


def test_a_consistent_file_has_no_mismatch(tmp_path: Path) -> None:
    result = check_book(open_sample(_sample(tmp_path, 2, MESSAGES, BOOKS)))
    assert (result.rows, result.mismatches, result.levels) == (5, 0, 2)
    assert result.first_mismatch is None


def test_a_wrong_row_is_reported_with_its_line(tmp_path: Path) -> None:
    books = list(BOOKS)
    books[2] = "5851500,10,5851300,50,5851600,20,5851200,61"  # bid 2 should be 60
    result = check_book(open_sample(_sample(tmp_path, 2, MESSAGES, books)))
    assert result.mismatches == 2  # row 3 is wrong, and row 4 replays from the wrong row 3
    assert result.first_mismatch is not None
    assert (result.first_mismatch.row, result.first_mismatch.side) == (3, "bid")
    assert result.first_mismatch.expected == [(58_513, 50), (58_512, 61)]
    assert result.first_mismatch.replayed == [(58_513, 50), (58_512, 60)]


def test_one_level_files_do_not_claim_exactness(tmp_path: Path) -> None:
    result = check_book(open_sample(_sample(
        tmp_path, 1, ["34200,1,1,5,5851200,1", "34200.1,3,1,5,5851200,1"],
        ["5851500,10,5851200,5", "5851500,10,5851100,30"])))
    assert not result.exact and result.mismatches is None
    assert result.summary()["mismatches"] is None


@needs_goog
def test_goog_10_levels_replays_exactly(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    assert main(["book-check", str(GOOG), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 147_915 and report["mismatches"] == 0 and report["levels"] == 10
    assert report["events_per_second"] > 0


@needs_goog
def test_goog_cut_to_5_levels_replays_exactly(tmp_path: Path) -> None:
    # A 5-level file derived from the 10-level sample: its book rows cut to 5 levels; messages
    # that touch levels 6-10 must then leave the visible 5 alone.
    with zipfile.ZipFile(GOOG) as archive:
        names = archive.namelist()
        message = next(n for n in names if "message" in n)
        book = next(n for n in names if "orderbook" in n)
        messages = list(itertools.islice(archive.read(message).decode().splitlines(), 20_000))
        books = [",".join(line.split(",")[:20]) for line in
                 itertools.islice(archive.read(book).decode().splitlines(), 20_000)]
    result = check_book(open_sample(_sample(tmp_path, 5, messages, books)))
    assert (result.rows, result.mismatches) == (19_999, 0)


def test_unreadable_input_is_exit_code_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["book-check", str(tmp_path)]) == 2
    assert "needs one *_message_N.csv" in capsys.readouterr().err
