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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from service.domain import Side
from sim.lobster import BookRow, EventType, LobsterMessage, LobsterSample

_ADDS = EventType.SUBMIT
_TAKES = frozenset({EventType.PARTIAL_CANCEL, EventType.DELETE, EventType.EXECUTE_VISIBLE})


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

    @property
    def exact(self) -> bool:
        return self.mismatches is not None

    def summary(self) -> dict[str, object]:
        """The ``--json`` document."""
        return {"rows": self.rows, "mismatches": self.mismatches, "levels": self.levels,
                "events_per_second": round(self.events_per_second, 1)}

    def first_mismatch_dict(self) -> dict[str, object] | None:
        return asdict(self.first_mismatch) if self.first_mismatch else None


def check_book(sample: LobsterSample,
               on_progress: Callable[[int], None] | None = None) -> BookCheckResult:
    """Replay every message of ``sample`` on the previous book row; compare with the next."""
    levels = sample.levels
    messages = sample.messages()
    rows = sample.book_rows()
    next(messages, None)  # row 1 already holds the book after message 1
    previous = next(rows, None)
    if previous is None:
        return BookCheckResult(0, 0 if levels > 1 else None, levels, 0.0)
    checked, mismatches = 0, 0  # rows compared; the first row is the starting book
    first: Mismatch | None = None
    started = time.perf_counter()
    for message, row in zip(messages, rows, strict=True):
        checked += 1
        wrong = _compare(previous, message, row, levels)
        if wrong is not None:
            mismatches += 1
            if first is None:
                side, expected, replayed = wrong
                first = Mismatch(checked + 1, repr(message), side, expected, replayed)
        previous = row
        if on_progress is not None and checked % 10_000 == 0:
            on_progress(checked)
    elapsed = max(time.perf_counter() - started, 1e-9)
    return BookCheckResult(checked, mismatches if levels > 1 else None, levels,
                           checked / elapsed, first if levels > 1 else None)


def _compare(previous: BookRow, message: LobsterMessage, row: BookRow, levels: int) \
        -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]] | None:
    asks, bids = dict(previous.asks), dict(previous.bids)
    if message.event is _ADDS or message.event in _TAKES:
        book = bids if message.side is Side.BUY else asks
        if message.event is _ADDS:
            book[message.price] = book.get(message.price, 0) + message.qty
        else:
            left = book.get(message.price, 0) - message.qty
            if left > 0:
                book[message.price] = left
            else:
                book.pop(message.price, None)
    for name, replayed_levels, expected in (("ask", sorted(asks.items()), row.asks),
                                            ("bid", sorted(bids.items(), reverse=True),
                                             row.bids)):
        replayed = replayed_levels[:levels]
        # Only the levels the replay can know: after a level empties, the one that moves up
        # into view was invisible in the previous row.
        if len(expected) < len(replayed) or list(expected[:len(replayed)]) != replayed:
            return name, list(expected), replayed
    return None
