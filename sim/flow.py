"""Order flow that drives an :class:`~sim.matching.OrderBook`: the crowd the agent trades against.

:class:`StochasticFlow` is a small state-dependent model, enough for the demo and tests to run
without a data file: three competing Poisson processes (limit orders, market orders, cancels of
the crowd's resting orders) in event time, where
- limit orders land at a geometric distance from the near touch, and improve the spread when it
  is wider than a tick;
- the arrival rate at the touch rises when the touch queue is thin (queue-reactive), so a level
  that the agent's trades deplete is refilled, at a finite speed: the agent's own trades move
  later prices through that response, which is the market impact a policy can learn;
- market orders lean toward the heavier side of the book (order-book imbalance predicts the
  next trade's sign), and
- each crowd order is cancelled at a constant rate.
Deterministic given the seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from service.domain import Side
from sim.matching import Fill, OrderBook


class OrderFlow(Protocol):
    """What drives a book: the simulated venue's flow thread calls these in a loop."""

    def seed_book(self, book: OrderBook, start_ns: int) -> None: ...

    def next_time_ns(self) -> int: ...

    def apply_next(self, book: OrderBook) -> list[Fill]: ...


@dataclass(frozen=True, slots=True)
class FlowParams:
    start_price: int = 58_000  # ticks: $580.00 with a $0.01 tick
    initial_levels: int = 10
    initial_orders_per_level: int = 3
    # Rates chosen so that, at a $580 price, the spread is one tick ~95% of the time, the touch
    # holds a few hundred shares, and the mid moves about 1 tick per 10 s (GOOG-like; the
    # calibrated model replaces these guesses).
    limit_rate: float = 8.0  # limit orders per second, both sides together
    market_rate: float = 1.5  # market orders per second
    cancel_rate: float = 0.1  # per resting crowd order per second
    placement_decay: float = 0.3  # P(distance = k) ~ (1 - decay)^k * decay
    improve_probability: float = 0.5  # a limit order steps one tick inside a spread > 1 tick
    max_distance: int = 15
    thin_queue: int = 150  # shares at the touch below which the touch is refilled faster
    refill_boost: float = 3.0
    mean_limit_size: float = 100.0
    mean_market_size: float = 150.0
    imbalance_lean: float = 0.3  # P(buy market order) = 0.5 + lean * imbalance at the touch


class StochasticFlow:
    def __init__(self, params: FlowParams | None = None, seed: int = 0) -> None:
        self.params = params or FlowParams()
        self._rng = random.Random(seed)
        self._now_ns = 0
        self._next_ns = 0
        self._next_id = 0
        self._own: list[int] = []  # crowd orders possibly resting (pruned lazily)
        self._own_index: dict[int, int] = {}
        self._last_mid = self.params.start_price

    # --- OrderFlow ------------------------------------------------------------------------------
    def seed_book(self, book: OrderBook, start_ns: int) -> None:
        p = self.params
        for level in range(p.initial_levels):
            for _ in range(p.initial_orders_per_level):
                self._limit(book, Side.BUY, p.start_price - 1 - level, start_ns)
                self._limit(book, Side.SELL, p.start_price + 1 + level, start_ns)
        self._now_ns = start_ns
        self._schedule(book)

    def next_time_ns(self) -> int:
        return self._next_ns

    def apply_next(self, book: OrderBook) -> list[Fill]:
        self._now_ns = self._next_ns
        fills = self._event(book)
        self._schedule(book)
        return fills

    # --- the model ----------------------------------------------------------------------------
    def _rates(self, book: OrderBook) -> tuple[float, float, float]:
        p = self.params
        limit = p.limit_rate * (1.0 + self._thinness(book))
        return limit, p.market_rate, p.cancel_rate * len(self._own)

    def _thinness(self, book: OrderBook) -> float:
        """0 when both touches hold at least ``thin_queue`` shares, up to ``refill_boost``."""
        p = self.params
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return p.refill_boost
        shallow = min(book.level_qty(Side.BUY, bid), book.level_qty(Side.SELL, ask))
        return p.refill_boost * max(0.0, 1.0 - shallow / p.thin_queue)

    def _schedule(self, book: OrderBook) -> None:
        total = sum(self._rates(book))
        self._next_ns = self._now_ns + max(1, int(self._rng.expovariate(total) * 1e9))

    def _event(self, book: OrderBook) -> list[Fill]:
        limit, market, cancel = self._rates(book)
        draw = self._rng.random() * (limit + market + cancel)
        if draw < limit:
            return self._limit(book, self._limit_side(book), None, self._now_ns)
        if draw < limit + market:
            return self._market(book)
        self._cancel_random(book)
        return []

    def _limit_side(self, book: OrderBook) -> Side:
        """The thinner touch attracts the next limit order (the queue-reactive response)."""
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None:
            return Side.BUY
        if ask is None:
            return Side.SELL
        bid_q, ask_q = book.level_qty(Side.BUY, bid), book.level_qty(Side.SELL, ask)
        return Side.BUY if self._rng.random() < ask_q / (bid_q + ask_q) else Side.SELL

    def _limit(self, book: OrderBook, side: Side, price: int | None, now: int) -> list[Fill]:
        if price is None:
            price = self._placement(book, side)
        self._next_id += 1
        order_id = self._next_id
        fills = book.add_limit(order_id, side, price, self._size(self.params.mean_limit_size),
                               now)
        if book.get(order_id) is not None:
            self._own_index[order_id] = len(self._own)
            self._own.append(order_id)
        return fills

    def _placement(self, book: OrderBook, side: Side) -> int:
        p = self.params
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            self._last_mid = (bid + ask) // 2
            if ask - bid > 1 and self._rng.random() < p.improve_probability:
                return bid + 1 if side is Side.BUY else ask - 1  # improve a wide spread
        near = bid if side is Side.BUY else ask
        if near is None:  # that side is empty: quote around the other side or the last mid
            other = ask if side is Side.BUY else bid
            anchor = other if other is not None else self._last_mid
            near = anchor - 1 if side is Side.BUY else anchor + 1
        distance = min(int(math.log(1.0 - self._rng.random()) / math.log(1 - p.placement_decay)),
                       p.max_distance)
        price = near - distance if side is Side.BUY else near + distance
        return max(price, 1)

    def _market(self, book: OrderBook) -> list[Fill]:
        bid, ask = book.best_bid(), book.best_ask()
        lean = 0.0
        if bid is not None and ask is not None:
            bid_q, ask_q = book.level_qty(Side.BUY, bid), book.level_qty(Side.SELL, ask)
            lean = (bid_q - ask_q) / (bid_q + ask_q)
        side = Side.BUY if self._rng.random() < 0.5 + self.params.imbalance_lean * lean \
            else Side.SELL
        if (ask if side is Side.BUY else bid) is None:
            return []
        self._next_id += 1
        fills = book.add_market(self._next_id, side, self._size(self.params.mean_market_size),
                                self._now_ns)
        for fill in fills:
            if fill.maker_remaining == 0 and isinstance(fill.maker_id, int):
                self._forget(fill.maker_id)
        return fills

    def _cancel_random(self, book: OrderBook) -> None:
        while self._own:
            order_id = self._own[self._rng.randrange(len(self._own))]
            self._forget(order_id)
            if book.cancel(order_id):
                return

    def _forget(self, order_id: int) -> None:
        index = self._own_index.pop(order_id, None)
        if index is None:
            return
        last = self._own.pop()
        if last != order_id:
            self._own[index] = last
            self._own_index[last] = index

    def _size(self, mean: float) -> int:
        """Geometric sizes in round lots of 10 shares with the given mean (at least one lot)."""
        lots = 1 + int(math.log(1.0 - self._rng.random()) / math.log(1 - 10.0 / mean))
        return 10 * lots
