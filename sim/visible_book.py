"""A LOBSTER visible book kept by its messages alone, through a whole file: the stateful part of
``execagent book-check --impact none`` (:mod:`sim.book_state_check` compares it with every
recorded row).

Compiled with mypyc (native-modules.txt): one pass over every message, a few list operations an
event. The state is, per side, the ``levels`` best price levels as two lists of equal length,
best first: keys (ask prices; bid prices negated, so that best is smallest on both sides) and
sizes; a level the side does not have is key ``EMPTY`` with size 0, after every held level.

Event semantics (LOBSTER's): 1 adds its size to its price level, inserting the level when the
price is not held and is better than the last level (or the side has room); 2 (partial cancel),
3 (delete) and 4 (visible execution) take their size from a held level, and a level left with
nothing is removed; 5 (hidden execution), 6 (cross) and 7 (halt) leave the visible book alone,
as does an add below the last level of a full side or a take at a price not held.

What messages cannot say, and is taken from the order-book file instead:

- **A level entering the window from below.** LOBSTER leaves out the events below the last
  visible level, so when a full side loses a level, the level that moves up into view was never
  messaged: it is the recorded row's last level, copied and counted (``entered``). Nothing below
  the window is kept: a level an add pushes out of view is forgotten, because the messages that
  change it while out of view are not in the file; if it comes back into view, it enters from
  below like any other (a 5-level cut of a 10-level file does hold those messages, and is
  treated the same way). A side that was not full has nothing below it, so nothing enters.
- **Nothing else.** Every other level of the state is the messages' doing alone, never reset
  from the file, so a divergence persists until its level leaves the window.

A level entering from below was below every level the side held before the message, so the
recorded last level is taken only when it is worse than the side's last level was. When it is
not, the messages and the file disagree (a message emptied a level the file still shows, say:
taking the file's level would hide that); the state takes nothing and the comparison reports
the row.

Output (:class:`SideReplay`): after every message that changes a side, the message's row and
the levels that moved, written from the state (one level for a size change; the level and all
below it for an insert or a removal, which shift them). A level's state at any row is its last
write at or before the row: this is what lets the comparison with the recorded rows be done on
whole arrays, from the state's own history alone.
"""

from __future__ import annotations

from typing import Final

from sim.lobster_prices import EMPTY

SUBMIT: Final = 1
LAST_TAKE: Final = 4  # event types 2, 3 and 4 take size; 5, 6 and 7 leave the book alone
BUY: Final = 1


class SideReplay:
    """One side's state and history. ``keys`` and ``sizes``: the state, ``levels`` long.
    ``changed``: the row of each change, the first being row 0's state; ``first`` and ``last``:
    the levels it wrote (all of them for row 0). ``level_keys[n]`` and ``level_sizes[n]``: level
    n's key and size at each change that wrote it, in order. ``entered``: levels taken from the
    file."""

    def __init__(self, keys: list[int], sizes: list[int]) -> None:
        self.keys = keys
        self.sizes = sizes
        self.level_keys: list[list[int]] = [[key] for key in keys]
        self.level_sizes: list[list[int]] = [[size] for size in sizes]
        self.changed: list[int] = [0]
        self.first: list[int] = [0]
        self.last: list[int] = [len(keys) - 1]
        self.entered = 0

    def write(self, row: int, first: int, last: int) -> None:
        """Record the change of levels ``first`` to ``last`` by row ``row``'s message."""
        self.changed.append(row)
        self.first.append(first)
        self.last.append(last)
        keys, sizes = self.keys, self.sizes
        for level in range(first, last + 1):
            self.level_keys[level].append(keys[level])
            self.level_sizes[level].append(sizes[level])


def replay(events: list[int], sides: list[int], prices: list[int], qtys: list[int],
           asks: SideReplay, bids: SideReplay, last_ask: tuple[list[int], list[int]],
           last_bid: tuple[list[int], list[int]]) -> None:
    """Apply every message after the first (row 0 is the starting book) to ``asks`` and
    ``bids``. ``last_ask`` and ``last_bid``: each row's recorded last level (key and size),
    read only when a level enters from below."""
    empty = EMPTY
    levels = len(asks.keys)
    last = levels - 1
    for row in range(1, len(events)):
        event = events[row]
        if event > LAST_TAKE:
            continue
        if sides[row] == BUY:
            side, key, fill_keys, fill_sizes = bids, -prices[row], last_bid[0], last_bid[1]
        else:
            side, key, fill_keys, fill_sizes = asks, prices[row], last_ask[0], last_ask[1]
        keys, sizes = side.keys, side.sizes
        at = 0
        while at < levels and keys[at] < key:
            at += 1
        if at == levels:
            continue  # below the last level of a full side
        if keys[at] == key:
            left = sizes[at] + qtys[row] if event == SUBMIT else sizes[at] - qtys[row]
            if left > 0:
                sizes[at] = left
                side.write(row, at, at)
                continue
            worst = keys[last]  # what enters was below it (nothing can when it is EMPTY)
            del keys[at]
            del sizes[at]
            fill_key = fill_keys[row]
            if worst < fill_key < empty:
                keys.append(fill_key)
                sizes.append(fill_sizes[row])
                side.entered += 1
            else:
                keys.append(empty)
                sizes.append(0)
        elif event == SUBMIT:
            keys.insert(at, key)
            sizes.insert(at, qtys[row])
            keys.pop()  # the last level falls out of view (or a missing one: EMPTY)
            sizes.pop()
        else:
            continue  # a take of a price the window does not hold
        side.write(row, at, last)  # the levels from ``at`` down moved
