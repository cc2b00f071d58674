"""The LOBSTER book check: exact on real 10- and 5-level files, and it catches a wrong row."""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from pathlib import Path

import pytest

from core.domain import Side
from service.cli import main
from sim.book_check import Mismatch, check_book
from sim.lobster import EventType, LobsterFormatError, LobsterSample, open_sample
from tests.support.lobster_files import GOOG, write_sample

needs_goog = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")


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
    result = check_book(open_sample(write_sample(tmp_path, 2, MESSAGES, BOOKS)))
    assert (result.rows, result.mismatches, result.levels) == (5, 0, 2)
    assert result.first_mismatch is None


def test_a_wrong_row_is_reported_with_its_line(tmp_path: Path) -> None:
    books = list(BOOKS)
    books[2] = "5851500,10,5851300,50,5851600,20,5851200,61"  # bid 2 should be 60
    result = check_book(open_sample(write_sample(tmp_path, 2, MESSAGES, books)))
    assert result.mismatches == 2  # row 3 is wrong, and row 4 replays from the wrong row 3
    assert result.first_mismatch is not None
    assert (result.first_mismatch.row, result.first_mismatch.side) == (3, "bid")
    assert result.first_mismatch.expected == [(58_513, 50), (58_512, 61)]
    assert result.first_mismatch.replayed == [(58_513, 50), (58_512, 60)]


def test_one_level_files_do_not_claim_exactness(tmp_path: Path) -> None:
    result = check_book(open_sample(write_sample(
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
    result = check_book(open_sample(write_sample(tmp_path, 5, messages, books)))
    assert (result.rows, result.mismatches) == (19_999, 0)


def test_unreadable_input_is_exit_code_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["book-check", str(tmp_path)]) == 2
    assert "needs one *_message_N.csv" in capsys.readouterr().err


def _reference_mismatches(sample: LobsterSample) -> tuple[int, Mismatch | None]:
    """The row-by-row replay the vectorised check replaced: dicts of the previous row's levels,
    one message applied, sorted and compared on the levels the replay can know."""
    count, first = 0, None
    messages, rows = sample.messages(), sample.book_rows()
    next(messages)
    previous = next(rows)
    for line, (message, row) in enumerate(zip(messages, rows, strict=True), start=2):
        asks, bids = dict(previous.asks), dict(previous.bids)
        if message.event in (EventType.SUBMIT, EventType.PARTIAL_CANCEL, EventType.DELETE,
                             EventType.EXECUTE_VISIBLE):
            book = bids if message.side is Side.BUY else asks
            change = message.qty if message.event is EventType.SUBMIT else -message.qty
            left = book.get(message.price, 0) + change
            if left > 0 or message.event is EventType.SUBMIT:
                book[message.price] = left
            else:
                book.pop(message.price, None)
        for name, replayed, expected in (
                ("ask", sorted(asks.items())[:sample.levels], row.asks),
                ("bid", sorted(bids.items(), reverse=True)[:sample.levels], row.bids)):
            if len(expected) < len(replayed) or list(expected[:len(replayed)]) != replayed:
                count += 1
                first = first or Mismatch(line, repr(message), name, list(expected), replayed)
                break
        previous = row
    return count, first


@needs_goog
@pytest.mark.parametrize("seed", range(4))
def test_every_divergence_is_caught_where_the_row_by_row_replay_finds_it(
        tmp_path: Path, seed: int) -> None:
    # The first 4,000 GOOG rows with sizes changed at random cells and two events swapped:
    # the vectorised check must count the same mismatching rows and report the same first one.
    rng = random.Random(seed)
    with zipfile.ZipFile(GOOG) as archive:
        names = archive.namelist()
        messages = archive.read(next(n for n in names if "message" in n)).decode() \
            .splitlines()[:4_000]
        books = [line.split(",") for line in
                 archive.read(next(n for n in names if "orderbook" in n)).decode()
                 .splitlines()[:4_000]]
    for _ in range(5):
        row, level = rng.randrange(1, 4_000), rng.randrange(10)
        cell = 4 * level + rng.choice((1, 3))  # an ask or a bid size
        books[row][cell] = str(int(books[row][cell]) + rng.randint(1, 50))
    swap = rng.randrange(1, 3_999)  # the events swap, each line keeps its time (in order)
    (time_a, event_a), (time_b, event_b) = (m.split(",", 1) for m in messages[swap:swap + 2])
    messages[swap:swap + 2] = [f"{time_a},{event_b}", f"{time_b},{event_a}"]
    sample = open_sample(write_sample(tmp_path, 10, messages, [",".join(b) for b in books]))
    result = check_book(sample)
    assert (result.mismatches, result.first_mismatch) == _reference_mismatches(sample)
    assert result.mismatches


@pytest.mark.parametrize("extra", ["messages", "books"])
def test_files_of_different_lengths_are_refused(tmp_path: Path, extra: str) -> None:
    messages, books = list(MESSAGES), list(BOOKS)
    if extra == "messages":
        messages.append("34200.6,5,0,7,5851400,1")
    else:
        books.append(BOOKS[-1])
    with pytest.raises(LobsterFormatError, match="messages"):
        check_book(open_sample(write_sample(tmp_path, 2, messages, books)))
