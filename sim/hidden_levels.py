"""The book past a LOBSTER file's depth, which the file does not show.

A file of N levels shows the N best price levels of each side. Recorded participants never
need what lies behind them, but the agent does: an order that takes every level a touch-only
file shows would otherwise leave its side of the book empty (no two-sided quote for the risk
overlay, nothing to trade against) until the recorded level shrinks, where the real book had
its next level waiting. The replay (:class:`sim.replay.ReplayMarket`) puts
:class:`HiddenLevels` behind the deepest recorded level of a side shown at full depth.

Named assumptions, estimated from the file being replayed by :func:`hidden_levels`:

- **Spacing.** Each hidden level sits ``gap_ticks`` behind the one before it: with two or more
  recorded levels, the median spacing between the two deepest; in a touch-only file, which
  cannot show a spacing, one tick, the densest book the tick allows. That flatters an order
  that walks the book (it pays less than a sparser book would charge), so a resting policy's
  edge over the schedules that cross is measured on the conservative side.
- **Size.** Each holds ``qty``, the median size of the deepest recorded level.
- **Depth.** They go on as far as an order walks (down to a price of one tick on the bid
  side): the agent alone never empties a side shown at full depth.
- The estimate pools both sides and every row in which a side is shown at full depth; it is
  one number per file, not a profile through the day.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from core.domain import Side
from sim.lobster import LobsterSample
from sim.lobster_prices import EMPTY


@dataclass(frozen=True, slots=True)
class HiddenLevels:
    """Levels of ``qty`` each, ``gap_ticks`` apart, behind a side's deepest level."""

    gap_ticks: int
    qty: int

    def __post_init__(self) -> None:
        if self.gap_ticks <= 0 or self.qty <= 0:
            raise ValueError(f"hidden levels need a positive gap and size, got {self}")

    def behind(self, side: Side, deepest: int) -> Iterator[tuple[int, int]]:
        """The levels behind ``deepest`` (ticks) on ``side``, best first: without end on the
        ask side, down to a price of one tick on the bid side."""
        step = -self.gap_ticks if side is Side.BUY else self.gap_ticks
        for price in itertools.count(deepest + step, step):
            if price <= 0:
                return
            yield price, self.qty

    def qty_at(self, side: Side, deepest: int, price: int) -> int:
        """What the hidden book holds at ``price`` behind ``deepest`` on ``side``: ``qty`` on
        a hidden level's price, else 0."""
        distance = deepest - price if side is Side.BUY else price - deepest
        if distance <= 0 or price <= 0 or distance % self.gap_ticks:
            return 0
        return self.qty


@functools.lru_cache(maxsize=2)
def hidden_levels(sample: LobsterSample, tick_size: Decimal = Decimal("0.01")) -> HiddenLevels:
    """The hidden levels of ``sample`` as the module docstring estimates them."""
    book = sample.read(tick_size).book
    full_ask = book.ask_price[:, -1] != EMPTY
    full_bid = book.bid_price[:, -1] != -EMPTY
    sizes = np.concatenate((book.ask_qty[full_ask, -1], book.bid_qty[full_bid, -1]))
    qty = int(np.median(sizes)) if len(sizes) else 1
    gap = 1
    if sample.levels >= 2:
        spacings = np.concatenate((
            book.ask_price[full_ask, -1] - book.ask_price[full_ask, -2],
            book.bid_price[full_bid, -2] - book.bid_price[full_bid, -1]))
        if len(spacings):
            gap = int(np.median(spacings))
    return HiddenLevels(max(gap, 1), max(qty, 1))
