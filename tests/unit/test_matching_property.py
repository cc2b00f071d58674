"""Stateful property test of the L3 order book against a deliberately naive reference.

The reference keeps a flat list of resting orders and matches by sorting it on every order
(best price first, then arrival); the book must produce the same fills in the same order and
the same resting orders. Invariants after every operation: the book is never crossed, each
level's total is the sum of its orders, the L2 view equals the reference's, and quantity is
conserved per order (what was asked = what rests + what filled + what was cancelled).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.domain import Side
from sim.matching import OrderBook

PRICES = st.integers(95, 105)
QTYS = st.integers(1, 40)
SIDES = st.sampled_from([Side.BUY, Side.SELL])


@dataclass
class RefOrder:
    order_id: int
    side: Side
    price: int
    qty: int
    seq: int
    owned: bool = False  # an agent's order: not counted among the touch's ownerless orders


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook("T")
        self.resting: list[RefOrder] = []
        self.ids = itertools.count(1)
        self.seq = itertools.count()
        self.asked: dict[int, int] = {}
        self.filled: dict[int, int] = {}
        self.cancelled: dict[int, int] = {}

    # --- the reference ---------------------------------------------------------------------------
    def _ref_match(self, taker: int, side: Side, qty: int, limit: int | None) \
            -> tuple[list[tuple[int, int, int]], int]:
        fills = []
        makers = sorted((o for o in self.resting if o.side is not side),
                        key=lambda o: (-o.price if o.side is Side.BUY else o.price, o.seq))
        for maker in makers:
            if qty == 0:
                break
            if limit is not None and (maker.price > limit if side is Side.BUY
                                      else maker.price < limit):
                break
            traded = min(qty, maker.qty)
            fills.append((maker.order_id, maker.price, traded))
            maker.qty -= traded
            qty -= traded
            for order_id in (maker.order_id, taker):
                self.filled[order_id] = self.filled.get(order_id, 0) + traded
        self.resting = [o for o in self.resting if o.qty > 0]
        return fills, qty

    @staticmethod
    def _fills(fills: list) -> list[tuple[int, int, int]]:  # type: ignore[type-arg]
        return [(f.maker_id, f.price, f.qty) for f in fills]

    # --- operations ------------------------------------------------------------------------------
    @rule(side=SIDES, price=PRICES, qty=QTYS, ioc=st.booleans(), owned=st.booleans())
    def limit(self, side: Side, price: int, qty: int, ioc: bool, owned: bool) -> None:
        order_id = next(self.ids)
        self.asked[order_id] = qty
        expected, left = self._ref_match(order_id, side, qty, price)
        got = self.book.add_limit(order_id, side, price, qty, 0, owner="agent" if owned else None,
                                  ioc=ioc)
        assert self._fills(got) == expected
        if left and not ioc:
            self.resting.append(RefOrder(order_id, side, price, left, next(self.seq), owned))
        elif left:
            self.cancelled[order_id] = left

    @rule(side=SIDES, qty=QTYS)
    def market(self, side: Side, qty: int) -> None:
        order_id = next(self.ids)
        self.asked[order_id] = qty
        expected, left = self._ref_match(order_id, side, qty, None)
        assert self._fills(self.book.add_market(order_id, side, qty, 0)) == expected
        self.cancelled[order_id] = left

    @precondition(lambda self: self.resting)
    @rule(data=st.data(), partial=st.booleans())
    def cancel(self, data: st.DataObject, partial: bool) -> None:
        order = data.draw(st.sampled_from(self.resting))
        qty = data.draw(st.integers(1, order.qty)) if partial else None
        removed = self.book.cancel(order.order_id, qty)
        assert removed == (order.qty if qty is None else qty)
        order.qty -= removed
        self.cancelled[order.order_id] = self.cancelled.get(order.order_id, 0) + removed
        self.resting = [o for o in self.resting if o.qty > 0]

    @precondition(lambda self: self.resting)
    @rule(data=st.data(), price=PRICES, qty=QTYS)
    def replace(self, data: st.DataObject, price: int, qty: int) -> None:
        order = data.draw(st.sampled_from(self.resting))
        got = self.book.replace(order.order_id, qty, price, 0)
        if price == order.price and qty <= order.qty:
            # A decrease at the same price keeps the order's place in the queue.
            assert got == []
            self.cancelled[order.order_id] = self.cancelled.get(order.order_id, 0) + \
                order.qty - qty
            order.qty = qty
            return
        # Anything else loses priority: the order leaves and comes back as new.
        self.resting.remove(order)
        self.cancelled[order.order_id] = self.cancelled.get(order.order_id, 0) + order.qty
        self.asked[order.order_id] += qty
        expected, left = self._ref_match(order.order_id, order.side, qty, price)
        assert self._fills(got) == expected
        if left:
            self.resting.append(RefOrder(order.order_id, order.side, price, left,
                                         next(self.seq), order.owned))

    @rule(ticks=st.integers(-4, 4).filter(bool))
    def move_crowd(self, ticks: int) -> None:
        for order in self.resting:
            if not order.owned:
                order.price += ticks
        for order in self.resting:
            if order.price <= 0:  # dropped below the grid
                self.cancelled[order.order_id] = self.cancelled.get(order.order_id, 0) + \
                    order.qty
        self.resting = [o for o in self.resting if o.price > 0]
        # Moving up the crowd's bids may cross the asks left in place, moving down its asks
        # the bids: each crossed order trades as a taker, best price then arrival first.
        taker_side = Side.SELL if ticks > 0 else Side.BUY
        expected = []
        while True:
            takers = sorted((o for o in self.resting if o.side is taker_side),
                            key=lambda o: (o.price if o.side is Side.SELL else -o.price, o.seq))
            makers = [o.price for o in self.resting if o.side is not taker_side]
            if not takers or not makers:
                break
            taker = takers[0]
            if (taker.price > max(makers)) if taker_side is Side.SELL else \
                    (taker.price < min(makers)):
                break
            fills, taker.qty = self._ref_match(taker.order_id, taker_side, taker.qty,
                                               taker.price)
            expected += fills
            self.resting = [o for o in self.resting if o.qty > 0]
        assert self._fills(self.book.move_crowd(ticks, 0)) == expected

    # --- invariants ----------------------------------------------------------------------------
    @invariant()
    def never_crossed(self) -> None:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        assert bid is None or ask is None or bid < ask

    @invariant()
    def l2_view_matches_the_reference(self) -> None:
        for side in (Side.BUY, Side.SELL):
            levels: dict[int, int] = {}
            for order in self.resting:
                if order.side is side:
                    levels[order.price] = levels.get(order.price, 0) + order.qty
            expected = sorted(levels.items(), reverse=side is Side.BUY)
            assert self.book.depth(side, 100) == expected
        assert len(self.book) == len(self.resting)

    @invariant()
    def touches_count_the_ownerless_orders(self) -> None:
        got = self.book.touches()
        for side, touch in ((Side.BUY, got[:3]), (Side.SELL, got[3:])):
            queue = [o for o in self.resting if o.side is side]
            if not queue:
                assert touch == (None, 0, 0)
                continue
            best = (max if side is Side.BUY else min)(o.price for o in queue)
            at = [o for o in queue if o.price == best]
            assert touch == (best, sum(o.qty for o in at), sum(not o.owned for o in at))

    @invariant()
    def quantity_is_conserved(self) -> None:
        rests = {o.order_id: o.qty for o in self.resting}
        for order_id, asked in self.asked.items():
            assert asked == rests.get(order_id, 0) + self.filled.get(order_id, 0) + \
                self.cancelled.get(order_id, 0), order_id


TestBook = BookMachine.TestCase
TestBook.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
