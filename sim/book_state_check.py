"""Check a LOBSTER file's messages against its order-book file with one book kept through the
whole day: ``execagent book-check --impact none``.

The per-row check (:mod:`sim.book_check`) applies each message to the recorded row before it,
so it proves the event semantics one message at a time. This one starts from the first recorded
row and applies every message to its own state (:mod:`sim.visible_book`), never to a recorded
row, and compares that state with every recorded row on every level, prices and sizes, both
sides: it proves the book kept by the messages stays the recorded one all day. The one thing it
takes from the order-book file is a level entering the window from below when a full side loses
a level (LOBSTER leaves out the events below the last visible level, so no book kept by messages
alone can know it); those levels are counted, per side, and reported.

Why "impact none": a replay with the agent's impact moves the prices of the whole book, so its
book can only be compared with the recorded rows when the impact is none.

How it is fast: the state is kept by a compiled loop that writes, for every message that
changes a side, the levels that moved; a level's state at every row is then its last write at or
before the row, and each level is compared with the recorded one on all rows at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from sim.book_check import BookCheckResult, Mismatch
from sim.lobster import LobsterSample, message_at
from sim.lobster_columns import EMPTY, BookBlock
from sim.lobster_csv import Bools, Ints
from sim.visible_book import SideReplay, replay


def check_book_state(sample: LobsterSample, on_progress: Callable[[int], None] | None = None,
                     tick_size: Decimal = Decimal("0.01")) -> BookCheckResult:
    """Keep one book by ``sample``'s messages from its first row; compare it with every row.
    ``events_per_second`` counts the whole of it: reading, parsing, replaying, comparing.
    :class:`~sim.lobster.LobsterFormatError` when the files cannot be read."""
    started = time.perf_counter()
    data = sample.read(tick_size, keep=False)  # the rate counts reading and checking
    messages, book = data.messages, data.book
    # Level-major (levels, rows) arrays, as the reader stores them; bids as keys (negated).
    ask_keys, ask_sizes = book.ask_price.T, book.ask_qty.T
    bid_keys, bid_sizes = -book.bid_price.T, book.bid_qty.T
    asks = SideReplay(ask_keys[:, 0].tolist(), ask_sizes[:, 0].tolist())
    bids = SideReplay(bid_keys[:, 0].tolist(), bid_sizes[:, 0].tolist())
    replay(messages.event.tolist(), messages.side.tolist(), messages.price.tolist(),
           messages.qty.tolist(), asks, bids, (ask_keys[-1].tolist(), ask_sizes[-1].tolist()),
           (bid_keys[-1].tolist(), bid_sizes[-1].tolist()))
    ask_wrong = _wrong(asks, ask_keys, ask_sizes)
    bid_wrong = _wrong(bids, bid_keys, bid_sizes)
    wrong = (ask_wrong | bid_wrong)[1:]  # row 0 is the starting book
    checked, mismatches = len(wrong), int(np.count_nonzero(wrong))
    first: Mismatch | None = None
    if mismatches:
        row = int(np.flatnonzero(wrong)[0]) + 1
        ask = bool(ask_wrong[row])
        first = _mismatch(book.rows(row, row + 1), repr(message_at(messages, row)), ask,
                          asks if ask else bids)
    if on_progress is not None:
        on_progress(checked)
    elapsed = max(time.perf_counter() - started, 1e-9)
    return BookCheckResult(checked, mismatches, sample.levels, checked / elapsed, first,
                           entered=(asks.entered, bids.entered))


def _wrong(side: SideReplay, keys: Ints, sizes: Ints) -> Bools:
    """Rows where the kept side differs from the recorded ``keys`` and ``sizes`` (level-major)
    on any level. Level n's kept key and size at a row are those of the last change at or
    before the row that wrote level n."""
    levels, rows = keys.shape
    changed, first, last = _changes(side)
    wrong = np.zeros(rows, np.bool_)
    marker = np.empty(rows, np.int64)
    for level in range(levels):
        marker.fill(0)
        marker[changed[(first <= level) & (last >= level)]] = 1
        at = np.cumsum(marker) - 1  # row 0 is written: never -1
        written = len(side.level_keys[level])
        kept_keys = np.fromiter(side.level_keys[level], np.int64, written)
        kept_sizes = np.fromiter(side.level_sizes[level], np.int64, written)
        wrong |= (kept_keys[at] != keys[level]) | (kept_sizes[at] != sizes[level])
    return wrong


def _changes(side: SideReplay) -> tuple[Ints, Ints, Ints]:
    """Each change's row, first level and last level, as arrays."""
    count = len(side.changed)
    return (np.fromiter(side.changed, np.int64, count), np.fromiter(side.first, np.int64, count),
            np.fromiter(side.last, np.int64, count))


def _mismatch(recorded: BookBlock, message: str, ask: bool, side: SideReplay) -> Mismatch:
    """The report of the one row of ``recorded``: its wrong side (the asks when ``ask``),
    recorded and kept."""
    row = recorded.first
    changed, first, last = _changes(side)
    kept = []
    for level in range(len(side.keys)):
        at = int(np.count_nonzero((changed <= row) & (first <= level) & (last >= level))) - 1
        kept.append((side.level_keys[level][at], side.level_sizes[level][at]))
    sign = 1 if ask else -1
    prices = recorded.ask_price[0] if ask else recorded.bid_price[0]
    qtys = recorded.ask_qty[0] if ask else recorded.bid_qty[0]
    return Mismatch(row + 1, message, "ask" if ask else "bid",
                    [(int(p), int(q)) for p, q in zip(prices, qtys, strict=True)
                     if abs(p) != EMPTY],
                    [(sign * key, size) for key, size in kept if key != EMPTY])
