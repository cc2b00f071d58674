"""An order-level (L3) limit order book with price-time priority, in integer ticks.

Why this shape: millions of events go through it during training, so the hot operations are
cheap in pure Python. Each side keeps a dict price -> level (a deque of resting orders in time
priority plus the level's total) and a sorted list of its active prices, so the best price is an
index lookup and a new level is one ``bisect.insort``. Orders are found by id in one dict, so
cancels are O(level length) only when they remove from the middle of a queue.

Every operation leaves the book uncrossed: an incoming order first matches against the opposite
side at the resting orders' prices, and only its remainder rests. Level changes are recorded so
a venue can publish them (:meth:`OrderBook.take_level_changes`).

The crowd's orders (those without an owner) can be moved together by a number of ticks
(:meth:`OrderBook.move_crowd`): a replay that shifts the recorded book by a client's price
impact. Each order keeps its place in time at its new price: every resting order carries its
arrival number (``seq``), and a queue is always in arrival order.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from typing import Final

from core import l2
from core.domain import Side

OrderId = int | str
# Module constants: reading Side.BUY is a class attribute lookup, measurable per event; Final,
# a compiled module reads them as C statics.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL


class Fill:
    """One trade between a resting order (the maker) and an incoming one (the taker). A value:
    treat it as immutable. A plain class rather than a dataclass: the simulator makes one per
    trade, and in the compiled module (native-modules.txt) a dataclass's generated
    ``__init__`` runs interpreted while this one compiles."""

    __slots__ = (
        "maker_id",
        "maker_owner",
        "maker_remaining",
        "maker_side",
        "price",
        "qty",
        "taker_id",
        "taker_owner",
        "ts_ns",
    )

    def __init__(self, price: int, qty: int, maker_id: OrderId, taker_id: OrderId,
                 maker_side: Side, maker_owner: str | None, taker_owner: str | None,
                 maker_remaining: int, ts_ns: int) -> None:
        self.price = price
        self.qty = qty
        self.maker_id = maker_id
        self.taker_id = taker_id
        self.maker_side = maker_side
        self.maker_owner = maker_owner
        self.taker_owner = taker_owner
        self.maker_remaining = maker_remaining
        self.ts_ns = ts_ns

    def _fields(self) -> tuple[object, ...]:
        return (self.price, self.qty, self.maker_id, self.taker_id, self.maker_side,
                self.maker_owner, self.taker_owner, self.maker_remaining, self.ts_ns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fill):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Fill(price={self.price}, qty={self.qty}, maker_id={self.maker_id!r}, "
                f"taker_id={self.taker_id!r}, maker_side={self.maker_side}, "
                f"maker_owner={self.maker_owner!r}, taker_owner={self.taker_owner!r}, "
                f"maker_remaining={self.maker_remaining}, ts_ns={self.ts_ns})")


class RestingOrder:
    """An order in a queue. Compared by identity: it is a thing that changes in place, not a
    value, and a cancel's ``deque.remove`` then finds it without calling a Python ``__eq__``
    on every order ahead of it. A plain class for the same reason as :class:`Fill`."""

    __slots__ = ("order_id", "owner", "price", "qty", "seq", "side", "ts_ns")

    def __init__(self, order_id: OrderId, side: Side, price: int, qty: int, owner: str | None,
                 ts_ns: int, seq: int = 0) -> None:
        self.order_id = order_id
        self.side = side
        self.price = price
        self.qty = qty
        self.owner = owner
        self.ts_ns = ts_ns
        self.seq = seq  # its arrival in the book: time priority, whatever the clocks say

    def __repr__(self) -> str:
        return (f"RestingOrder({self.order_id!r}, {self.side}, price={self.price}, "
                f"qty={self.qty}, owner={self.owner!r}, ts_ns={self.ts_ns})")


class _Level:
    __slots__ = ("anonymous", "orders", "total")

    def __init__(self) -> None:
        self.orders: deque[RestingOrder] = deque()
        self.total = 0
        self.anonymous = 0  # orders without an owner (the simulated crowd's)


def _arrival(order: RestingOrder) -> int:
    return order.seq


class OrderBook:
    """One symbol's book. Not thread-safe: its owner serialises access."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._levels: dict[Side, dict[int, _Level]] = {_BUY: {}, _SELL: {}}
        self._prices: dict[Side, list[int]] = {_BUY: [], _SELL: []}  # ascending
        self._orders: dict[OrderId, RestingOrder] = {}
        self._changed: dict[tuple[Side, int], None] = {}  # insertion-ordered set
        # The aggressor side of the last trade, whoever traded: order-flow models follow it.
        self.last_taker_side: Side | None = None
        # Counts writes: a reader that derived something from the book can tell it still holds.
        self.version = 0
        self._arrivals = 0  # the last resting order's seq

    def __len__(self) -> int:
        return len(self._orders)

    # --- reads --------------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        prices = self._prices[_BUY]
        return prices[-1] if prices else None

    def quote(self) -> tuple[int | None, int | None]:
        """(best bid, best ask) in one call."""
        bids, asks = self._prices[_BUY], self._prices[_SELL]
        return bids[-1] if bids else None, asks[0] if asks else None

    def best_ask(self) -> int | None:
        prices = self._prices[_SELL]
        return prices[0] if prices else None

    def get(self, order_id: OrderId) -> RestingOrder | None:
        return self._orders.get(order_id)

    def touches(self) -> tuple[int | None, int, int, int | None, int, int]:
        """The best bid as (price or None when empty, total, orders without an owner), then
        the same for the best ask. Why one call: an order-flow model reads all six at every
        event (:mod:`sim.flow`), and counting a queue's ownerless orders each time cost more
        than the rest of the event."""
        bids, asks = self._prices[_BUY], self._prices[_SELL]
        if bids and asks:
            bid, ask = self._levels[_BUY][bids[-1]], self._levels[_SELL][asks[0]]
            return bids[-1], bid.total, bid.anonymous, asks[0], ask.total, ask.anonymous
        if bids:
            bid = self._levels[_BUY][bids[-1]]
            return bids[-1], bid.total, bid.anonymous, None, 0, 0
        if asks:
            ask = self._levels[_SELL][asks[0]]
            return None, 0, 0, asks[0], ask.total, ask.anonymous
        return None, 0, 0, None, 0, 0

    def crowd_quote(self) -> tuple[int | None, int | None]:
        """The best bid and ask among the orders without an owner (the crowd's): what a crowd
        that does not see the owners' orders quotes against."""
        return self._crowd_best(_BUY), self._crowd_best(_SELL)

    def _crowd_best(self, side: Side) -> int | None:
        levels = self._levels[side]
        prices = self._prices[side]  # ascending: the best bid is the last
        for price in (reversed(prices) if side is _BUY else prices):
            if levels[price].anonymous:
                return price
        return None

    def level_qty(self, side: Side, price: int) -> int:
        level = self._levels[side].get(price)
        return level.total if level else 0

    def queue(self, side: Side, price: int) -> Sequence[RestingOrder]:
        """The orders resting at one price, in time priority (a live view: do not modify)."""
        level = self._levels[side].get(price)
        return level.orders if level else ()

    def imbalance(self, levels: int = 1) -> float | None:
        """Depth imbalance over the top ``levels`` (see :func:`core.l2.imbalance`)."""
        return l2.imbalance(self.depth(_BUY, levels), self.depth(_SELL, levels))

    def microprice(self) -> float | None:
        """Size-weighted touch price in ticks (see :func:`core.l2.microprice`)."""
        return l2.microprice(self.depth(_BUY, 1), self.depth(_SELL, 1))

    def depth(self, side: Side, levels: int) -> list[tuple[int, int]]:
        prices = self._prices[side]
        chosen = prices[-levels:][::-1] if side is _BUY else prices[:levels]
        book = self._levels[side]
        return [(price, book[price].total) for price in chosen]

    def take_level_changes(self) -> list[tuple[Side, int, int]]:
        """(side, price, new total) of every level changed since the last call."""
        changes = [(side, price, self.level_qty(side, price)) for side, price in self._changed]
        self._changed.clear()
        return changes

    # --- writes -------------------------------------------------------------------------------
    def add_limit(self, order_id: OrderId, side: Side, price: int, qty: int, ts_ns: int,
                  owner: str | None = None, ioc: bool = False) -> list[Fill]:
        self._validate_new(order_id, qty)
        if price <= 0:
            raise ValueError(f"order {order_id}: price must be positive, got {price}")
        fills: list[Fill] = []
        # Most limit orders do not cross: they skip the matching loop (and its call).
        if side is _BUY:
            asks = self._prices[_SELL]
            crosses = bool(asks) and price >= asks[0]
        else:
            bids = self._prices[_BUY]
            crosses = bool(bids) and price <= bids[-1]
        remaining = self._match(order_id, side, qty, price, ts_ns, owner, fills) if crosses \
            else qty
        if remaining > 0 and not ioc:  # it rests
            levels = self._levels[side]
            level = levels.get(price)
            if level is None:
                level = levels[price] = _Level()
                insort(self._prices[side], price)
            self._arrivals += 1
            order = RestingOrder(order_id, side, price, remaining, owner, ts_ns, self._arrivals)
            level.orders.append(order)
            level.total += remaining
            if owner is None:
                level.anonymous += 1
            self._orders[order_id] = order
            self._changed[(side, price)] = None
        return fills

    def add_market(self, order_id: OrderId, side: Side, qty: int, ts_ns: int,
                   owner: str | None = None) -> list[Fill]:
        self._validate_new(order_id, qty)
        fills: list[Fill] = []
        self._match(order_id, side, qty, None, ts_ns, owner, fills)
        return fills

    def cancel(self, order_id: OrderId, qty: int | None = None) -> int:
        """Remove ``qty`` (all when None) from a resting order, keeping its priority."""
        order = self._orders.get(order_id)
        if order is None:
            return 0
        self.version += 1
        if qty is not None and qty <= 0:
            raise ValueError(f"order {order_id}: cancel quantity must be positive, got {qty}")
        removed = order.qty if qty is None else min(qty, order.qty)
        level = self._levels[order.side][order.price]
        order.qty -= removed
        level.total -= removed
        if order.qty == 0:
            level.orders.remove(order)
            if order.owner is None:
                level.anonymous -= 1
            del self._orders[order_id]
            if not level.orders:
                self._drop_level(order.side, order.price)
        self._changed[(order.side, order.price)] = None
        return removed

    def replace(self, order_id: OrderId, new_qty: int, new_price: int, ts_ns: int) -> list[Fill]:
        """Change a resting order: a decrease at the same price keeps priority, else it requeues."""
        order = self._orders.get(order_id)
        if order is None:
            raise KeyError(f"order {order_id} is not resting")
        if new_qty <= 0 or new_price <= 0:
            raise ValueError(f"order {order_id}: replace needs positive quantity and price")
        if new_price == order.price and new_qty <= order.qty:
            if new_qty < order.qty:
                self.cancel(order_id, order.qty - new_qty)
            return []
        side, owner = order.side, order.owner
        self.cancel(order_id)
        return self.add_limit(order_id, side, new_price, new_qty, ts_ns, owner)

    def move_crowd(self, ticks: int, ts_ns: int) -> list[Fill]:
        """Move every order without an owner (the crowd's) ``ticks`` up the price grid
        (negative: down), both sides, while the owners' orders keep their prices. At its new
        price a moved order keeps its place in time: the queue there is in arrival order, the
        owners' orders included. A crowd order moved below one tick is dropped.

        The moved crowd may then cross an owner's resting order (moving up, its bids reach an
        owner's ask; moving down, its asks an owner's bid): such an order trades at once as the
        taker, at the crowd's prices, the best priced and oldest first; what it does not fill
        rests where it was, in its place. Returns those trades."""
        if ticks == 0:
            return []
        self.version += 1
        self._move_side(_BUY, ticks)
        self._move_side(_SELL, ticks)
        fills: list[Fill] = []
        self._uncross(_SELL if ticks > 0 else _BUY, ts_ns, fills)
        return fills

    # --- internals ----------------------------------------------------------------------------
    def _move_side(self, side: Side, ticks: int) -> None:
        levels = self._levels[side]
        moving: list[tuple[int, list[RestingOrder]]] = []
        for price in self._prices[side]:
            level = levels[price]
            if not level.anonymous:
                continue
            crowd = [order for order in level.orders if order.owner is None]
            level.orders = deque(order for order in level.orders if order.owner is not None)
            level.total -= sum(order.qty for order in crowd)
            level.anonymous = 0
            self._changed[(side, price)] = None
            if not level.orders:
                del levels[price]
            moving.append((price + ticks, crowd))
        for price, crowd in moving:
            if price <= 0:
                for order in crowd:
                    del self._orders[order.order_id]
                continue
            for order in crowd:
                order.price = price
            found = levels.get(price)
            if found is None:
                target = levels[price] = _Level()
                target.orders = deque(crowd)
            else:
                target = found
                target.orders = deque(sorted([*target.orders, *crowd], key=_arrival))
            target.total += sum(order.qty for order in crowd)
            target.anonymous += len(crowd)
            self._changed[(side, price)] = None
        self._prices[side] = sorted(levels)

    def _uncross(self, taker_side: Side, ts_ns: int, fills: list[Fill]) -> None:
        """Trade the resting orders of ``taker_side`` that cross the other side, as takers."""
        takers = self._prices[taker_side]
        makers = self._prices[_BUY if taker_side is _SELL else _SELL]
        levels = self._levels[taker_side]
        while takers and makers:
            if taker_side is _SELL:
                price = takers[0]
                if price > makers[-1]:
                    break
            else:
                price = takers[-1]
                if price < makers[0]:
                    break
            level = levels[price]
            order = level.orders[0]
            remaining = self._match(order.order_id, taker_side, order.qty, price, ts_ns,
                                    order.owner, fills)
            level.total -= order.qty - remaining
            order.qty = remaining
            self._changed[(taker_side, price)] = None
            if remaining == 0:
                level.orders.popleft()
                if order.owner is None:
                    level.anonymous -= 1
                del self._orders[order.order_id]
                if not level.orders:
                    self._drop_level(taker_side, price)

    def _validate_new(self, order_id: OrderId, qty: int) -> None:
        self.version += 1
        if qty <= 0:
            raise ValueError(f"order {order_id}: quantity must be positive, got {qty}")
        if order_id in self._orders:
            raise ValueError(f"order id {order_id} is already resting")

    def _match(self, taker_id: OrderId, side: Side, qty: int, limit: int | None, ts_ns: int,
               owner: str | None, fills: list[Fill]) -> int:
        maker_side = _SELL if side is _BUY else _BUY
        prices = self._prices[maker_side]
        levels = self._levels[maker_side]
        while qty > 0 and prices:
            best = prices[-1] if maker_side is _BUY else prices[0]
            if limit is not None and (best > limit if side is _BUY else best < limit):
                break
            level = levels[best]
            while qty > 0 and level.orders:
                maker = level.orders[0]
                traded = min(qty, maker.qty)
                maker.qty -= traded
                level.total -= traded
                qty -= traded
                fills.append(Fill(best, traded, maker.order_id, taker_id, maker_side,
                                  maker.owner, owner, maker.qty, ts_ns))
                if maker.qty == 0:
                    level.orders.popleft()
                    if maker.owner is None:
                        level.anonymous -= 1
                    del self._orders[maker.order_id]
            self._changed[(maker_side, best)] = None
            self.last_taker_side = side
            if not level.orders:
                self._drop_level(maker_side, best)
        return qty

    def _drop_level(self, side: Side, price: int) -> None:
        del self._levels[side][price]
        prices = self._prices[side]
        del prices[bisect_left(prices, price)]
