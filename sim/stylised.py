"""Stylised facts of an order book's event stream, measured the same way on real and simulated
markets so that the two can be compared side by side (``scripts/stylised_facts.py``).

A :class:`FactsRecorder` takes one call per event: its time, its kind (limit order, cancel,
market order), the level it touched, its size and aggressor sign for market orders, and the
touch before and after. It keeps
- the spread distribution, weighted by the time each spread lasted (a spread that lasts a
  minute counts more than one that lasts a millisecond, whatever the event rate);
- event rates per second by kind and level (:data:`LEVELS`: inside the spread, the price
  levels 1 to 5 counted from the touch, 6 to 10, and beyond);
- the standard deviation of mid-price changes over 1 s, 60 s and 600 s, the mid sampled on a
  regular grid of event time (the last mid at or before each grid point);
- the price response to a market order by size bucket: the mean signed mid change from just
  before it to just after it, and to 10 s later.
Prices are ticks throughout.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.domain import Side
from sim.flow import FlowParams, StochasticFlow
from sim.lobster import BookRow, EventType, LobsterSample
from sim.matching import OrderBook

KINDS = ("limit", "cancel", "market")
LEVELS = ("inside", "1", "2", "3", "4", "5", "6-10", ">10")
SIZE_EDGES = (50, 100, 200, 500)  # shares: buckets 1-50, 51-100, 101-200, 201-500, 500+
SIZE_LABELS = ("1-50", "51-100", "101-200", "201-500", ">500")
VOL_HORIZONS_S = (1, 60, 600)
RESPONSE_LAG_NS = 10 * 10**9


def level_label(level: int | None) -> str:
    """``None`` is inside the spread; 0 is the touch (level 1)."""
    if level is None:
        return "inside"
    if level < 5:
        return str(level + 1)
    return "6-10" if level < 10 else ">10"


def size_label(qty: int) -> str:
    for edge, label in zip(SIZE_EDGES, SIZE_LABELS, strict=False):
        if qty <= edge:
            return label
    return SIZE_LABELS[-1]


@dataclass
class FactsRecorder:
    spread_seconds: dict[int, float] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    first_ns: int | None = None
    last_ns: int = 0
    last_spread: int | None = None
    last_mid2: int | None = None  # twice the mid, an integer
    _grid: dict[int, list[int]] = field(default_factory=lambda: {h: [] for h in VOL_HORIZONS_S})
    _next_grid: dict[int, int] = field(default_factory=dict)
    _impact_now: dict[str, list[float]] = field(default_factory=dict)
    _impact_later: dict[str, list[float]] = field(default_factory=dict)
    _pending: deque[tuple[int, int, int, str]] = field(default_factory=deque)

    def record(self, ts_ns: int, kind: str, level: int | None, qty: int, sign: int,
               before: tuple[int, int] | None, after: tuple[int, int] | None) -> None:
        """One event. ``before``/``after`` are (bid, ask) around it, None when a side is
        empty; ``sign`` is +1 for a buyer-initiated market order, -1 for a seller's, else 0."""
        self._advance(ts_ns)
        self.counts[(kind, level_label(level))] = self.counts.get((kind, level_label(level)),
                                                                  0) + 1
        if kind == "market" and before is not None and after is not None:
            label = size_label(qty)
            move = (sum(after) - sum(before)) / 2 * sign
            self._impact_now.setdefault(label, []).append(move)
            self._pending.append((ts_ns + RESPONSE_LAG_NS, sum(before), sign, label))
        if after is not None:
            self.last_spread = after[1] - after[0]
            self.last_mid2 = after[0] + after[1]

    def _advance(self, ts_ns: int) -> None:
        """Credit the time since the last event to the spread that held, and sample the mid
        at every grid point and response lag passed (the mid that held then)."""
        if self.first_ns is None:
            self.first_ns = ts_ns
            self._next_grid = {h: ts_ns for h in VOL_HORIZONS_S}
        elif self.last_spread is not None:
            self.spread_seconds[self.last_spread] = self.spread_seconds.get(
                self.last_spread, 0.0) + (ts_ns - self.last_ns) / 1e9
        if self.last_mid2 is not None:
            for horizon, due in self._next_grid.items():
                while due <= ts_ns:
                    self._grid[horizon].append(self.last_mid2)
                    due += horizon * 10**9
                self._next_grid[horizon] = due
            while self._pending and self._pending[0][0] <= ts_ns:
                _, mid2, sign, label = self._pending.popleft()
                self._impact_later.setdefault(label, []).append(
                    (self.last_mid2 - mid2) / 2 * sign)
        self.last_ns = ts_ns

    def summary(self) -> dict[str, Any]:
        """The facts as plain numbers (a JSON document)."""
        seconds = (self.last_ns - (self.first_ns or 0)) / 1e9
        spread_total = sum(self.spread_seconds.values())
        return {
            "seconds": round(seconds, 3),
            "spread_mean": _mean_weighted(self.spread_seconds),
            "spread_share": {str(k): v / spread_total
                             for k, v in sorted(self.spread_seconds.items())},
            "rates_per_s": {kind: {label: self.counts.get((kind, label), 0) / seconds
                                   for label in LEVELS} for kind in KINDS},
            "mid_change_std": {f"{h}s": _std_of_changes(self._grid[h]) for h in VOL_HORIZONS_S},
            "response_now": {label: _mean(self._impact_now.get(label, []))
                             for label in SIZE_LABELS},
            "response_10s": {label: _mean(self._impact_later.get(label, []))
                             for label in SIZE_LABELS},
            # Every size together: the post-trade drift the flow's calibration matches.
            "response_now_all": _mean([m for ms in self._impact_now.values() for m in ms]),
            "response_10s_all": _mean([m for ms in self._impact_later.values() for m in ms]),
            "market_orders": {label: len(self._impact_now.get(label, []))
                              for label in SIZE_LABELS},
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_weighted(weights: dict[int, float]) -> float | None:
    total = sum(weights.values())
    return sum(k * w for k, w in weights.items()) / total if total else None


def _std_of_changes(mid2: list[int]) -> float | None:
    """Standard deviation of consecutive mid changes, in ticks (the samples are 2 x mid)."""
    changes = [(b - a) / 2 for a, b in itertools.pairwise(mid2)]
    if len(changes) < 2:
        return None
    mean = sum(changes) / len(changes)
    return float((sum((c - mean) ** 2 for c in changes) / (len(changes) - 1)) ** 0.5)


def lobster_facts(sample: LobsterSample, tick_size: Decimal = Decimal("0.01")) \
        -> dict[str, Any]:
    """The facts of a recorded LOBSTER day, prices in ticks of ``tick_size``. Visible
    executions with one timestamp and side are one market order (a sweep prints one execution
    per order it hits); hidden executions and halts leave the visible book as it was and are
    not events here."""
    recorder = FactsRecorder()
    previous: BookRow | None = None
    group: list[Any] | None = None  # ts, side of the orders hit, shares, touch before, after
    for message, row in sample.events(tick_size):
        if previous is None:  # the first row is the starting book: no level to place it at
            previous = row
            continue
        before, after = _touch(previous), _touch(row)
        key_matches = group is not None and (message.ts_ns, message.side) == (group[0], group[1])
        if group is not None and not (message.event is EventType.EXECUTE_VISIBLE
                                      and key_matches):
            sign = 1 if group[1] is Side.SELL else -1
            recorder.record(group[0], "market", 0, group[2], sign, group[3], group[4])
            group = None
        if message.event is EventType.SUBMIT:
            recorder.record(message.ts_ns, "limit", _level(previous, message.side,
                                                           message.price),
                            message.qty, 0, before, after)
        elif message.event in (EventType.DELETE, EventType.PARTIAL_CANCEL):
            recorder.record(message.ts_ns, "cancel", _level(previous, message.side,
                                                            message.price),
                            message.qty, 0, before, after)
        elif message.event is EventType.EXECUTE_VISIBLE:
            if group is None:
                group = [message.ts_ns, message.side, message.qty, before, after]
            else:
                group[2] += message.qty
                group[4] = after
        previous = row
    if group is not None:
        recorder.record(group[0], "market", 0, group[2], 1 if group[1] is Side.SELL else -1,
                        group[3], group[4])
    return recorder.summary()


def _touch(row: BookRow | None) -> tuple[int, int] | None:
    if row is None or not row.bids or not row.asks:
        return None
    return row.bids[0][0], row.asks[0][0]


def _level(row: BookRow, side: Side, price: int) -> int | None:
    """Levels strictly better than ``price`` on ``side`` in ``row``; None inside the spread."""
    levels = row.bids if side is Side.BUY else row.asks
    if levels and (price > levels[0][0] if side is Side.BUY else price < levels[0][0]):
        return None
    return sum(1 for p, _ in levels if (p > price if side is Side.BUY else p < price))


def flow_facts(params: FlowParams, seed: int, seconds: float) -> dict[str, Any]:
    """The facts of ``seconds`` of the stochastic flow with ``params`` and ``seed``. An event
    that added a resting order is a limit order, one that removed one without a fill a cancel,
    one with fills a market order (the flow's limit orders never cross)."""
    flow = StochasticFlow(params, seed=seed)
    book = OrderBook("SIM")
    flow.seed_book(book, 0)
    book.take_level_changes()
    recorder = FactsRecorder()
    end_ns = int(seconds * 1e9)
    while flow.next_time_ns() <= end_ns:
        ts_ns = flow.next_time_ns()
        before = _book_touch(book)
        resting = len(book)
        fills = flow.apply_next(book)
        changes = book.take_level_changes()
        after = _book_touch(book)
        if fills:
            sign = 1 if fills[0].maker_side is Side.SELL else -1
            recorder.record(ts_ns, "market", 0, sum(f.qty for f in fills), sign, before, after)
        elif changes:
            side, price, _ = changes[0]
            kind = "limit" if len(book) > resting else "cancel"
            recorder.record(ts_ns, kind, _book_level(book, before, side, price, kind), 0, 0,
                            before, after)
    return recorder.summary()


def _book_touch(book: OrderBook) -> tuple[int, int] | None:
    bid, ask = book.best_bid(), book.best_ask()
    return (bid, ask) if bid is not None and ask is not None else None


def _book_level(book: OrderBook, before: tuple[int, int] | None, side: Side, price: int,
                kind: str) -> int | None:
    """The level an event touched, counted on the book before it (the prices better than an
    added or removed order's are the same before and after)."""
    if kind == "limit" and before is not None \
            and (price > before[0] if side is Side.BUY else price < before[1]):
        return None
    better = [p for p, _ in book.depth(side, 11)]
    return sum(1 for p in better if (p > price if side is Side.BUY else p < price))
