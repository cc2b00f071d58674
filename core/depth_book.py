"""The aggregated (L2) book a consumer of market data keeps: price level -> displayed quantity.

Why separate from the order-level book in :mod:`sim.matching`: a feed consumer (the live engine,
a feed adapter, the training environment observing a replay) sees levels, not orders. This is the
book the policy's features read, so it is built for the reads those need (best prices, top-N
depth) and for cheap level updates.

Prices are kept in one sorted list per side (ascending); the best bid is the last element of the
bid list and the best ask the first of the ask list, so a top-of-book read is O(1) and a level
insert or delete is a ``bisect`` plus a list shift, which for the few hundred levels a book holds
beats any tree in pure Python.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from core import l2
from core.domain import BookUpdate, MarketData, Side


class DepthBook:
    """L2 book of one symbol, updated by :class:`BookUpdate` (new total quantity per level)."""

    __slots__ = ("_prices", "_qty", "last_trade_price", "last_update_ns", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._qty: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
        self._prices: dict[Side, list[int]] = {Side.BUY: [], Side.SELL: []}
        self.last_update_ns = 0
        self.last_trade_price: int | None = None

    def clear(self) -> None:
        for side in (Side.BUY, Side.SELL):
            self._qty[side].clear()
            self._prices[side].clear()

    def apply(self, update: BookUpdate) -> None:
        """Set one level's displayed quantity; a quantity of 0 removes the level."""
        # Each field read once: BookUpdate is an interpreted class, so every attribute read is
        # a generic lookup even in this compiled module (9 of them per update before).
        side, price, qty, ts_ns = update.side, update.price, update.qty, update.ts_ns
        levels = self._qty[side]
        prices = self._prices[side]
        if qty > 0:
            if price not in levels:
                insort(prices, price)
            levels[price] = qty
        elif price in levels:
            del levels[price]
            del prices[bisect_left(prices, price)]
        if ts_ns > self.last_update_ns:
            self.last_update_ns = ts_ns

    def apply_market_data(self, message: MarketData) -> None:
        """Apply a whole feed message: a snapshot replaces the book, then its level updates."""
        if message.snapshot:
            self.clear()
        for update in message.updates:
            self.apply(update)
        if message.trades:
            self.last_trade_price = message.trades[-1].price
        if message.ts_ns > self.last_update_ns:
            self.last_update_ns = message.ts_ns

    def best_bid(self) -> int | None:
        prices = self._prices[Side.BUY]
        return prices[-1] if prices else None

    def best_ask(self) -> int | None:
        prices = self._prices[Side.SELL]
        return prices[0] if prices else None

    def best(self, side: Side) -> int | None:
        """Best price on ``side`` (the bid for BUY, the ask for SELL)."""
        return self.best_bid() if side is Side.BUY else self.best_ask()

    def qty_at(self, side: Side, price: int) -> int:
        return self._qty[side].get(price, 0)

    def mid_x2(self) -> int | None:
        """Twice the mid price in ticks (exact even when the mid falls on a half tick)."""
        prices_bid = self._prices[Side.BUY]
        prices_ask = self._prices[Side.SELL]
        if not prices_bid or not prices_ask:
            return None
        return prices_bid[-1] + prices_ask[0]

    def spread(self) -> int | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask - bid

    def is_crossed(self) -> bool:
        spread = self.spread()
        return spread is not None and spread <= 0

    def imbalance(self, levels: int = 1) -> float | None:
        """Depth imbalance over the top ``levels`` (see :func:`core.l2.imbalance`)."""
        return l2.imbalance(self.depth(Side.BUY, levels), self.depth(Side.SELL, levels))

    def microprice(self) -> float | None:
        """Size-weighted touch price in ticks (see :func:`core.l2.microprice`)."""
        return l2.microprice(self.depth(Side.BUY, 1), self.depth(Side.SELL, 1))

    def depth(self, side: Side, levels: int) -> list[tuple[int, int]]:
        """Top ``levels`` (price, quantity) on ``side``, best first."""
        prices = self._prices[side]
        qty = self._qty[side]
        chosen = prices[-levels:][::-1] if side is Side.BUY else prices[:levels]
        return [(price, qty[price]) for price in chosen]

    def total_qty(self, side: Side, levels: int) -> int:
        """Displayed quantity summed over the top ``levels`` of ``side``."""
        prices = self._prices[side]
        qty = self._qty[side]
        chosen = prices[-levels:] if side is Side.BUY else prices[:levels]
        return sum(qty[price] for price in chosen)
