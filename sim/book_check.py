"""Check a LOBSTER replay against LOBSTER's own order-book file, row by row.

Each message is applied to the visible book of the previous row, and the result is compared with
the next row on every level the replay can know. That is all levels but one case: when a message
empties a level, the level that moves up into view from below was invisible before, so the
comparison stops at the levels the replay still holds. With 5 or 10 levels every other level
must match exactly; a single mismatch means the loader or the event semantics are wrong.

With one level the check says nothing: emptying the best level leaves nothing to compare, so
``exact`` is False and no mismatch count is reported (a count would look like a result).

Event semantics (LOBSTER's): 1 adds to its price level; 2 (partial cancel), 3 (delete) and
4 (visible execution) take their size from it; 5 (hidden execution), 6 (cross) and 7 (halt)
leave the visible book alone.

How it is fast and still the same check, on every row (:func:`_edited` holds the argument):
the files are read whole into numpy columns (:mod:`sim.lobster_columns`), and the replay is
done for all rows of a block (a few thousand rows, so that its arrays stay in the cache) at
once. A message touches at most one price level of one side, so the replayed row is the
previous row with, on the side the message names, one of four edits: nothing, one level's size
changed, a level inserted (the levels below move down one and the last falls out of view) or a
level removed (the levels below move up one; the new last one is unknown). Each edit is an
index computation on the previous row's arrays, and the replayed row is compared with the
recorded one on every level it knows, on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal

import numpy as np

from sim.lobster import EventType, LobsterSample, message_at
from sim.lobster_columns import EMPTY, BookBlock, MessageColumns
from sim.lobster_csv import Bools, Ints

BLOCK_ROWS = 4096


@dataclass(frozen=True, slots=True)
class Mismatch:
    row: int  # 1-based line in the order-book file
    message: str
    side: str
    expected: list[tuple[int, int]]
    replayed: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class BookCheckResult:
    rows: int  # rows compared: every row after the first, which is the starting book
    mismatches: int | None  # None when the file has one level: no exact check is possible
    levels: int
    events_per_second: float
    first_mismatch: Mismatch | None = None
    # Levels taken from the order-book file as they entered the window from below, (asks,
    # bids): the stateful check's (sim.book_state_check); None for the per-row check.
    entered: tuple[int, int] | None = None

    @property
    def exact(self) -> bool:
        return self.mismatches is not None

    def summary(self) -> dict[str, object]:
        """The ``--json`` document."""
        summary: dict[str, object] = {
            "rows": self.rows, "mismatches": self.mismatches, "levels": self.levels,
            "events_per_second": round(self.events_per_second, 1)}
        if self.entered is not None:
            ask, bid = self.entered
            summary["entered_from_below"] = {"ask": ask, "bid": bid, "total": ask + bid}
        return summary

    def first_mismatch_dict(self) -> dict[str, object] | None:
        return asdict(self.first_mismatch) if self.first_mismatch else None


def check_book(sample: LobsterSample, on_progress: Callable[[int], None] | None = None,
               tick_size: Decimal = Decimal("0.01")) -> BookCheckResult:
    """Replay every message of ``sample`` on the previous book row; compare with the next.
    ``events_per_second`` counts the whole of it: reading, parsing, checking, replaying.
    :class:`~sim.lobster.LobsterFormatError` when the files cannot be read."""
    started = time.perf_counter()
    levels = sample.levels
    data = sample.read(tick_size, keep=False)  # the rate counts reading and checking
    messages, book = data.messages, data.book
    checked, mismatches = 0, 0  # rows compared; the first row is the starting book
    first: Mismatch | None = None
    previous = book.rows(0, 1)  # the last row seen, as a one-row block
    for start in range(1, len(book), BLOCK_ROWS):
        block = book.rows(start, start + BLOCK_ROWS)
        ask_wrong, bid_wrong = _replay(previous, block, messages)
        wrong = ask_wrong | bid_wrong
        mismatches += int(np.count_nonzero(wrong))
        if first is None and wrong.any():
            first = _mismatch(previous, block, messages, ask_wrong, int(np.flatnonzero(wrong)[0]))
        checked += len(wrong)
        previous = block.rows(len(block) - 1)
        if on_progress is not None:
            on_progress(checked)
    elapsed = max(time.perf_counter() - started, 1e-9)
    return BookCheckResult(checked, mismatches if levels > 1 else None, levels,
                           checked / elapsed, first if levels > 1 else None)


def _replay(previous: BookBlock, block: BookBlock, messages: MessageColumns) \
        -> tuple[Bools, Bools]:
    """Rows of ``block`` whose asks, and whose bids, differ from the replay of their message
    on the row before (``previous`` before the first)."""
    asks, bids = _sides(previous, block)
    buy, edited = _edited(asks[0], bids[0], block, messages)
    # The side a message does not name must equal the row before: a row-to-row comparison,
    # done for both sides of every row (cheaper than choosing), then the named side's result
    # is replaced by the comparison with its replay.
    ask_moved = _differs((asks[0][0], asks[0][1], asks[0][0] != EMPTY), asks[1][0], asks[1][1])
    bid_moved = _differs((bids[0][0], bids[0][1], bids[0][0] != EMPTY), bids[1][0], bids[1][1])
    edited_wrong = _differs(edited, np.where(buy, bids[1][0], asks[1][0]),
                            np.where(buy, bids[1][1], asks[1][1]))
    return np.where(buy[:, 0], ask_moved, edited_wrong), \
        np.where(buy[:, 0], edited_wrong, bid_moved)


_Levels = tuple[Ints, Ints]  # best-first keys (prices; negated for bids) and sizes
_Side = tuple[Ints, Ints, Bools]  # keys, sizes, and which levels the replay knows


def _sides(previous: BookBlock, block: BookBlock) -> tuple[tuple[_Levels, _Levels],
                                                          tuple[_Levels, _Levels]]:
    """(before, after) of each row of ``block``, for the asks and for the bids (as keys)."""
    ask = np.vstack([previous.ask_price, block.ask_price])
    ask_qty = np.vstack([previous.ask_qty, block.ask_qty])
    bid = -np.vstack([previous.bid_price, block.bid_price])
    bid_qty = np.vstack([previous.bid_qty, block.bid_qty])
    return ((ask[:-1], ask_qty[:-1]), (ask[1:], ask_qty[1:])), \
        ((bid[:-1], bid_qty[:-1]), (bid[1:], bid_qty[1:]))


def _edited(asks: _Levels, bids: _Levels, block: BookBlock,
            messages: MessageColumns) -> tuple[Bools, _Side]:
    """Whether each row's message names the bids (as a column), and that side replayed from
    the row before.

    Why this is the row-by-row replay, done on all rows at once. Let row i-1 be the book
    before message i and S the side it names. The row-by-row replay is a dict update of one
    price p on S's levels, then the sorted first ``levels`` of them. On a sorted row that is
    exactly one of:
    - p on the row at level k: an add, or a take that leaves shares, sets level k's size
      (``resize``); a take that leaves none removes level k (``remove``): the levels below
      move up one and the last is unknown (it was below the visible book);
    - p not on the row: an add inserts it after the levels better than p (``insert``), pushing
      those below down one and the last out of view (below all levels of a full side it
      changes nothing visible); a take of a price that is not there changes nothing;
    - every other event type (hidden execution, cross, halt) changes nothing.
    The other side stays as it was. Bids are handled as asks with negated prices (best first
    either way) and an empty level as price EMPTY, which sorts after every price and is never
    compared, like a level the dict does not hold. Every level the replay knows is compared,
    on both sides and every row: nothing is sampled or skipped, so a divergence shows at the
    row where it appears, as in the row-by-row replay.
    """
    count, levels = block.ask_price.shape
    index = np.arange(block.first, block.first + count)
    buy = (messages.side[index] == 1)[:, None]
    event, qty = messages.event[index], messages.qty[index]
    key = np.where(buy[:, 0], -messages.price[index], messages.price[index])
    keys = np.where(buy, bids[0], asks[0])
    sizes = np.where(buy, bids[1], asks[1])
    rows = np.arange(count)
    hit = keys == key[:, None]
    found = hit.any(axis=1)
    at = hit.argmax(axis=1)
    adds = event == EventType.SUBMIT
    takes = (event >= EventType.PARTIAL_CANCEL) & (event <= EventType.EXECUTE_VISIBLE)
    left = sizes[rows, at] + np.where(adds, qty, -qty)
    # A new price shows when it is better than the last level (always, on a side with room).
    insert = adds & ~found & (key < keys[:, -1])
    better = np.zeros(count, np.int64)  # levels better than the new price, where inserted
    better[insert] = np.count_nonzero(keys[insert] < key[insert, None], axis=1)
    resize = (adds | takes) & found & (left > 0)
    remove = takes & found & (left <= 0)
    if insert.any() or remove.any():
        column = np.arange(levels)
        source = column - (insert[:, None] & (column > better[:, None])) + \
            (remove[:, None] & (column >= at[:, None]))
        np.minimum(source, levels - 1, out=source)
        keys = np.take_along_axis(keys, source, axis=1)
        sizes = np.take_along_axis(sizes, source, axis=1)
    keys[rows[insert], better[insert]] = key[insert]
    sizes[rows[insert], better[insert]] = qty[insert]
    sizes[rows[resize], at[resize]] = left[resize]
    known = keys != EMPTY
    known[remove, levels - 1] = False
    return buy, (keys, sizes, known)


def _differs(replayed: _Side, keys: Ints, sizes: Ints) -> Bools:
    """Rows where a level the replay knows differs from the recorded one."""
    replayed_keys, replayed_sizes, known = replayed
    wrong = known & ((replayed_keys != keys) | (replayed_sizes != sizes))
    if not wrong.any():  # the usual case, and a flat test is much cheaper than one per row
        return np.zeros(len(keys), np.bool_)
    return wrong.any(axis=1)


def _mismatch(previous: BookBlock, block: BookBlock, messages: MessageColumns,
              ask_wrong: Bools, row: int) -> Mismatch:
    """The report of row ``row`` of ``block``: its first wrong side, recorded and replayed."""
    one = block.rows(row, row + 1)
    asks, bids = _sides(previous if row == 0 else block.rows(row - 1, row), one)
    buy, edited = _edited(asks[0], bids[0], one, messages)
    name = "ask" if ask_wrong[row] else "bid"
    before = asks[0] if name == "ask" else bids[0]
    replayed = edited if buy[0, 0] == (name == "bid") else (*before, before[0] != EMPTY)
    keys, sizes, known = replayed
    sign = 1 if name == "ask" else -1
    expected = zip(one.ask_price[0], one.ask_qty[0], strict=True) if name == "ask" else \
        zip(one.bid_price[0], one.bid_qty[0], strict=True)
    return Mismatch(block.first + row + 1, repr(message_at(messages, block.first + row)), name,
                    [(int(p), int(q)) for p, q in expected if abs(p) != EMPTY],
                    [(sign * int(k), int(q))
                     for k, q, seen in zip(keys[0], sizes[0], known[0], strict=True) if seen])
