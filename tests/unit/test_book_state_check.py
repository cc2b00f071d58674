"""The stateful book check (``book-check --impact none``): one book kept by the messages through
the file, exact on real data and on generated LOBSTER files, every divergence reported on every
row it lasts, and the levels entering from below counted."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import Side
from service.cli import main
from sim.book_check import Mismatch, check_book
from sim.book_state_check import check_book_state
from sim.lobster import EventType, LobsterSample, open_sample
from tests.support.lobster_files import GOOG, write_sample

ROOT = Path(__file__).resolve().parents[2]
needs_goog = pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not at {GOOG}")


# Two levels; row 1 is the starting book. Then: an add at a new best ask pushes 5851600 out of
# view; its delete brings 5851600 back from below, now 25 (changed while out of view: taken from
# the file, entry 1); an execution empties the best bid and 5851000 enters from below (entry 2);
# a partial cancel of it; a hidden execution and an add below the full bid side (no change); two
# deletes empty the asks, and the second side was not full, so nothing enters; an add to the
# empty side.
MESSAGES = [
    "34200.0,1,1,30,5851100,1",
    "34200.1,1,2,5,5851400,-1",
    "34200.2,3,2,5,5851400,-1",
    "34200.3,4,3,100,5851200,1",
    "34200.4,2,4,10,5851000,1",
    "34200.5,5,0,7,5851300,1",
    "34200.6,1,5,10,5850900,1",
    "34200.7,3,6,10,5851500,-1",
    "34200.8,3,7,25,5851600,-1",
    "34200.9,1,8,7,5851700,-1",
]
BOOKS = [
    "5851500,10,5851200,100,5851600,20,5851100,30",
    "5851400,5,5851200,100,5851500,10,5851100,30",
    "5851500,10,5851200,100,5851600,25,5851100,30",
    "5851500,10,5851100,30,5851600,25,5851000,40",
    "5851500,10,5851100,30,5851600,25,5851000,30",
    "5851500,10,5851100,30,5851600,25,5851000,30",
    "5851500,10,5851100,30,5851600,25,5851000,30",
    "5851600,25,5851100,30,9999999999,0,5851000,30",
    "9999999999,0,5851100,30,9999999999,0,5851000,30",
    "5851700,7,5851100,30,9999999999,0,5851000,30",
]


def test_a_consistent_file_matches_and_counts_its_entries_from_below(tmp_path: Path) -> None:
    result = check_book_state(open_sample(write_sample(tmp_path, 2, MESSAGES, BOOKS)))
    assert (result.rows, result.mismatches, result.levels) == (9, 0, 2)
    assert result.entered == (1, 1) and result.first_mismatch is None
    assert result.summary()["entered_from_below"] == {"ask": 1, "bid": 1, "total": 2}


def test_a_divergence_is_reported_on_every_row_it_lasts(tmp_path: Path) -> None:
    # The partial cancel takes 11, not 10: the kept book holds 29 where the file says 30 from
    # that row to the end. The per-row check, which starts each row from the recorded one, sees
    # only the row of the message.
    messages = list(MESSAGES)
    messages[4] = "34200.4,2,4,11,5851000,1"
    sample = open_sample(write_sample(tmp_path, 2, messages, BOOKS))
    result = check_book_state(sample)
    assert result.mismatches == 6  # rows 5 to 10
    assert result.first_mismatch == Mismatch(
        5, result.first_mismatch.message if result.first_mismatch else "", "bid",
        [(58_511, 30), (58_510, 30)], [(58_511, 30), (58_510, 29)])
    assert check_book(sample).mismatches == 1


def test_a_wrong_recorded_level_is_not_taken_over(tmp_path: Path) -> None:
    # Row 5's second bid says 31: the kept book says 30 there, and from row 6 on the file says
    # 30 again, so only row 5 mismatches (the file never resets the kept book).
    books = list(BOOKS)
    books[4] = "5851500,10,5851100,30,5851600,25,5851000,31"
    result = check_book_state(open_sample(write_sample(tmp_path, 2, MESSAGES, books)))
    assert result.mismatches == 1
    assert result.first_mismatch is not None and result.first_mismatch.row == 5


def test_a_recorded_level_better_than_the_kept_ones_does_not_enter(tmp_path: Path) -> None:
    # Row 4 says the bids after the best bid's execution are 5851400 and 5851300: the kept book
    # holds 5851100, so the recorded last level would enter above a kept one. It does not enter
    # (the kept book stays in order, with one level), and the divergence is reported from row 4
    # to the end: the later rows' bids are the kept book's 5851100 and a 5851000 it never held.
    books = list(BOOKS)
    books[3] = "5851500,10,5851400,30,5851600,25,5851300,40"
    result = check_book_state(open_sample(write_sample(tmp_path, 2, MESSAGES, books)))
    assert result.first_mismatch is not None
    assert (result.first_mismatch.row, result.first_mismatch.side) == (4, "bid")
    assert result.first_mismatch.replayed == [(58_511, 30)]
    assert (result.mismatches, result.entered) == (7, (1, 0))


def test_a_message_emptying_a_level_the_file_still_shows_is_not_hidden(tmp_path: Path) -> None:
    # The partial cancel of the second bid becomes a delete: the kept book empties 5851000, and
    # the file's last bid (still 5851000) cannot enter from below, as it was not below the
    # window. The per-row check cannot see this (the last level after a removal is unknown to
    # it); kept through the file, the missing level shows from row 5 to the end.
    messages = list(MESSAGES)
    messages[4] = "34200.4,3,4,40,5851000,1"
    sample = open_sample(write_sample(tmp_path, 2, messages, BOOKS))
    result = check_book_state(sample)
    assert result.first_mismatch is not None
    assert (result.first_mismatch.row, result.first_mismatch.side) == (5, "bid")
    assert result.first_mismatch.replayed == [(58_511, 30)]
    assert (result.mismatches, result.entered) == (6, (1, 1))
    assert check_book(sample).mismatches == 0


def _reference(sample: LobsterSample) -> tuple[int, Mismatch | None, tuple[int, int]]:
    """The stateful check written plainly: dicts of the kept levels, one message at a time; a
    level entering from below is the recorded row's last, when the side was full and it is
    worse than every level the side held before the message."""
    levels = sample.levels
    rows = sample.book_rows()
    start = next(rows)
    kept = {Side.SELL: dict(start.asks), Side.BUY: dict(start.bids)}
    entered = {Side.SELL: 0, Side.BUY: 0}
    messages = sample.messages()
    next(messages)
    count, first = 0, None
    for line, (message, row) in enumerate(zip(messages, rows, strict=True), start=2):
        book = kept[message.side]
        buy = message.side is Side.BUY
        worst_first = sorted(book, reverse=not buy)  # the side's levels, worst first
        full = len(book) == levels
        visible = message.event in (EventType.SUBMIT, EventType.PARTIAL_CANCEL,
                                    EventType.DELETE, EventType.EXECUTE_VISIBLE)
        if visible and message.price in book:
            book[message.price] += message.qty if message.event is EventType.SUBMIT \
                else -message.qty
            if book[message.price] <= 0:
                del book[message.price]
                recorded = row.bids if buy else row.asks
                if full and len(recorded) == levels:
                    price, qty = recorded[-1]
                    if all(price < kept_price if buy else price > kept_price
                           for kept_price in worst_first):
                        book[price] = qty
                        entered[message.side] += 1
        elif message.event is EventType.SUBMIT and (
                not full or (message.price > worst_first[0] if buy
                             else message.price < worst_first[0])):
            book[message.price] = message.qty
            if full:
                del book[worst_first[0]]
        for name, replayed, expected in (
                ("ask", sorted(kept[Side.SELL].items()), row.asks),
                ("bid", sorted(kept[Side.BUY].items(), reverse=True), row.bids)):
            if list(expected) != replayed:
                count += 1
                first = first or Mismatch(line, repr(message), name, list(expected), replayed)
                break
    return count, first, (entered[Side.SELL], entered[Side.BUY])


def _goog_lines(rows: int) -> tuple[list[str], list[str]]:
    with zipfile.ZipFile(GOOG) as archive:
        names = archive.namelist()
        messages = archive.read(next(n for n in names if "message" in n)).decode().splitlines()
        books = archive.read(next(n for n in names if "orderbook" in n)).decode().splitlines()
    return messages[:rows], books[:rows]


ASK_ENTRIES, BID_ENTRIES = 22_676, 21_775  # of 147,915 messages


@needs_goog
def test_goog_10_levels_kept_by_its_messages_matches_every_row(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    assert main(["book-check", str(GOOG), "--impact", "none", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["rows"], report["mismatches"], report["levels"]) == (147_915, 0, 10)
    assert report["entered_from_below"] == {"ask": ASK_ENTRIES, "bid": BID_ENTRIES,
                                            "total": ASK_ENTRIES + BID_ENTRIES}



@needs_goog
def test_goog_cut_to_5_levels_kept_by_its_messages_matches_every_row(tmp_path: Path) -> None:
    # Messages touching levels 6-10 are in the file; the kept 5-level book leaves them alone,
    # and what moves up into view comes from the file.
    messages, books = _goog_lines(20_000)
    books = [",".join(line.split(",")[:20]) for line in books]
    sample = open_sample(write_sample(tmp_path, 5, messages, books))
    result = check_book_state(sample)
    assert (result.rows, result.mismatches, result.entered) == (19_999, 0, (2_360, 3_728))


@needs_goog
@pytest.mark.parametrize("seed", range(3))
def test_every_divergence_is_counted_as_the_plain_stateful_replay_counts_it(
        tmp_path: Path, seed: int) -> None:
    # The first 4,000 GOOG rows with one message's size changed, recorded sizes changed at
    # random cells and two events swapped: the compiled, vectorised check must count the rows
    # the plain dict replay counts, report the same first one, and take the same levels.
    rng = random.Random(seed)
    messages, lines = _goog_lines(4_000)
    books = [line.split(",") for line in lines]
    row = rng.randrange(1, 4_000)
    fields = messages[row].split(",")
    fields[3] = str(int(fields[3]) + 1)
    messages[row] = ",".join(fields)
    for _ in range(3):
        row, level = rng.randrange(1, 4_000), rng.randrange(10)
        cell = 4 * level + rng.choice((1, 3))  # an ask or a bid size
        books[row][cell] = str(int(books[row][cell]) + rng.randint(1, 50))
    swap = rng.randrange(1, 3_999)
    (time_a, event_a), (time_b, event_b) = (m.split(",", 1) for m in messages[swap:swap + 2])
    messages[swap:swap + 2] = [f"{time_a},{event_b}", f"{time_b},{event_a}"]
    sample = open_sample(write_sample(tmp_path, 10, messages, [",".join(b) for b in books]))
    result = check_book_state(sample)
    assert (result.mismatches, result.first_mismatch, result.entered) == _reference(sample)
    assert result.mismatches


_MID = 58_500  # ticks of $0.01; asks 1-12 ticks above, bids 1-12 below: never crossed
_KINDS = ("add", "cancel", "execute", "hidden")


class _Day:
    """A generated full-depth book and its LOBSTER files: only the messages that change the
    ``levels`` visible ones are written (and hidden executions), as LOBSTER writes them."""

    def __init__(self, levels: int, asks: dict[int, int], bids: dict[int, int]) -> None:
        self.levels = levels
        self.book = {Side.SELL: asks, Side.BUY: bids}
        self.messages: list[str] = []
        self.rows: list[str] = []
        self.entered = {Side.SELL: 0, Side.BUY: 0}
        self.write(5, 0, 1, _MID + 1, Side.SELL)  # row 1: the starting book

    def visible(self, side: Side) -> list[tuple[int, int]]:
        return sorted(self.book[side].items(), reverse=side is Side.BUY)[:self.levels]

    def apply(self, kind: str, side: Side, depth: int, qty: int, pick: int) -> None:
        book, before = self.book[side], self.visible(side)
        if kind == "hidden":
            self.write(5, 0, qty, _MID + 1, side)
            return
        if kind == "add":
            price = _MID + depth if side is Side.SELL else _MID - depth
            book[price] = book.get(price, 0) + qty
            event = 1
        elif not book:
            return
        else:
            levels = sorted(book, reverse=side is Side.BUY)
            price = levels[0] if kind == "execute" else levels[pick % len(levels)]
            qty = min(qty, book[price])
            event = 4 if kind == "execute" else 3 if qty == book[price] else 2
            book[price] -= qty
            if not book[price]:
                if price in dict(before) and len(book) > self.levels:
                    self.entered[side] += 1
                del book[price]
        if self.visible(side) != before:
            self.write(event, len(self.messages), qty, price, side)

    def write(self, event: int, order: int, qty: int, price: int, side: Side) -> None:
        direction = 1 if side is Side.BUY else -1
        self.messages.append(f"{34_200 + len(self.messages) / 1000:.3f},{event},{order},{qty},"
                             f"{price * 100},{direction}")
        asks, bids = self.visible(Side.SELL), self.visible(Side.BUY)
        cells = []
        for level in range(self.levels):
            ask = f"{asks[level][0] * 100},{asks[level][1]}" if level < len(asks) \
                else "9999999999,0"
            bid = f"{bids[level][0] * 100},{bids[level][1]}" if level < len(bids) \
                else "-9999999999,0"
            cells += [ask, bid]
        self.rows.append(",".join(cells))


_book_side = st.dictionaries(st.integers(1, 12), st.integers(1, 50), max_size=8)
_events = st.lists(st.tuples(st.sampled_from(_KINDS), st.sampled_from([Side.BUY, Side.SELL]),
                             st.integers(1, 12), st.integers(1, 60), st.integers(0, 99)),
                   min_size=1, max_size=80)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), _book_side, _book_side, _events, st.integers(0, 10**6))
def test_a_generated_lobster_day_is_kept_exactly_and_a_changed_add_is_caught(
        levels: int, asks: dict[int, int], bids: dict[int, int],
        events: list[tuple[str, Side, int, int, int]], corrupt: int) -> None:
    day = _Day(levels, {_MID + d: q for d, q in asks.items()},
               {_MID - d: q for d, q in bids.items()})
    for event in events:
        day.apply(*event)
    with tempfile.TemporaryDirectory() as folder:
        result = check_book_state(open_sample(write_sample(Path(folder), levels, day.messages,
                                                      day.rows)))
        assert (result.rows, result.mismatches) == (len(day.rows) - 1, 0)
        assert result.entered == (day.entered[Side.SELL], day.entered[Side.BUY])
        adds = [i for i, m in enumerate(day.messages) if i and m.split(",")[1] == "1"]
        if not adds:
            return
        row = adds[corrupt % len(adds)]
        fields = day.messages[row].split(",")
        fields[3] = str(int(fields[3]) + 1)
        day.messages[row] = ",".join(fields)
        result = check_book_state(open_sample(write_sample(Path(folder), levels, day.messages,
                                                      day.rows)))
        assert result.mismatches
        assert result.first_mismatch is not None and result.first_mismatch.row == row + 1


def test_impact_other_than_none_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sample(tmp_path, 2, MESSAGES, BOOKS)
    assert main(["book-check", str(path), "--impact", "calibrated"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--impact must be none" in err


def test_the_cli_reports_entries_and_exit_codes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "check.json"
    folder = tmp_path / "day"
    folder.mkdir()
    messages = list(MESSAGES)
    messages[4] = "34200.4,2,4,11,5851000,1"
    assert main(["book-check", str(write_sample(folder, 2, messages, BOOKS)), "--impact", "none",
                 "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "levels entering the window from below, taken from the order-book file: 2 " \
           "(1 ask, 1 bid)" in printed
    assert "mismatching rows: 6" in printed
    report = json.loads(out.read_text())
    assert (report["rows"], report["mismatches"]) == (9, 6)
    assert report["entered_from_below"] == {"ask": 1, "bid": 1, "total": 2}
    assert main(["book-check", str(tmp_path / "nothing"), "--impact", "none"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_cut_to_fewer_levels_is_checked_at_its_own_depth(tmp_path: Path) -> None:
    # scripts/lobster_cut.py keeps the first level of the 2-level file: the message below the
    # one kept level stays in the message file, and the kept 1-level book leaves it alone.
    source, out = tmp_path / "two", tmp_path / "one"
    source.mkdir()
    write_sample(source, 2, MESSAGES, BOOKS)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lobster_cut.py"), str(source),
                    "--levels", "1", "--rows", "9", "--out", str(out)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    sample = open_sample(out)
    assert sample.levels == 1
    assert sample.read_bytes(sample.orderbook_name).decode().splitlines()[1] == \
        "5851400,5,5851200,100"
    result = check_book_state(sample)
    assert (result.rows, result.mismatches) == (8, 0)
    # Entries: 5851500 after the delete of 5851400, 5851100 after the bid's execution,
    # 5851600 after the delete of 5851500 (ask 2 and bid 1 in all).
    assert result.entered == (2, 1)


def test_a_cut_deeper_than_the_file_is_refused_in_one_line(tmp_path: Path) -> None:
    write_sample(tmp_path, 2, MESSAGES, BOOKS)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lobster_cut.py"),
                           str(tmp_path), "--levels", "3", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr == "lobster_cut: --levels must be 1 to 2, the file's\n"
