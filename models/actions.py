"""What a policy may ask for, and how that becomes orders.

Why "desired working state": a policy runs on every tick. If its action were "send an order",
re-evaluating it on an unchanged market would send the order again. Instead each action names
the state the policy wants to be in ("have q resting at the near touch", "take q now",
"have nothing working"), and :func:`translate` emits new / cancel / replace intents only for the
difference between that state and what is actually working. The live engine and the training
environment both call :func:`translate`, so the policy is trained on the same order mechanics it
trades with.

Assumptions, named:
- A parent order has at most one resting child order at a time, plus any in-flight IOC orders.
- At the same price a resting order is only ever reduced (which keeps queue priority at the
  venue), never increased: an increase would send it to the back of the queue, which is rarely
  what a policy that keeps asking for "q at the touch" after a partial fill means.
- An order with a cancel or replace in flight is left alone until the venue answers.
- Quantities never exceed what the parent still needs once in-flight orders are counted.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.depth_book import DepthBook
from core.domain import (
    CancelOrder,
    ChildOrder,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)


class ActionKind(enum.IntEnum):
    WAIT = 0  # nothing working
    REST_NEAR = 1  # rest q at the near touch (best bid when buying, best ask when selling)
    REST_INSIDE = 2  # rest q one tick inside the spread (near touch when the spread is 1 tick)
    CROSS = 3  # take q now with an IOC limit at the far touch


@dataclass(slots=True, frozen=True)
class Action:
    kind: ActionKind
    qty: int = 0


WAIT = Action(ActionKind.WAIT)

# The discrete action set of the RL policy: (kind, multiple of the linear schedule's slice).
DEFAULT_ACTION_TABLE: tuple[tuple[ActionKind, float], ...] = (
    (ActionKind.WAIT, 0.0),
    (ActionKind.REST_NEAR, 1.0),
    (ActionKind.REST_NEAR, 2.0),
    (ActionKind.REST_INSIDE, 1.0),
    (ActionKind.CROSS, 0.5),
    (ActionKind.CROSS, 1.0),
    (ActionKind.CROSS, 2.0),
)


def horizon_action(parent: ParentOrder, now_ns: int) -> Action | None:
    """At or past the horizon the remainder is taken through the book, whatever the policy says."""
    if now_ns >= parent.end_ns and parent.remaining > 0:
        return Action(ActionKind.CROSS, parent.remaining)
    return None


def _is_working(order: ChildOrder) -> bool:
    return not order.status.is_terminal and order.status is not OrdStatus.REJECTED


def _target_price(kind: ActionKind, side: Side, book: DepthBook) -> int | None:
    bid, ask = book.best_bid(), book.best_ask()
    if kind is ActionKind.CROSS:
        return bid if side is Side.SELL else ask
    near = bid if side is Side.BUY else ask
    if kind is ActionKind.REST_INSIDE and bid is not None and ask is not None and ask - bid > 1:
        assert near is not None
        return near + 1 if side is Side.BUY else near - 1
    return near


def _within_limit(parent: ParentOrder, price: int) -> bool:
    if parent.limit_price is None:
        return True
    if parent.side is Side.BUY:
        return price <= parent.limit_price
    return price >= parent.limit_price


def translate(
    action: Action,
    parent: ParentOrder,
    book: DepthBook,
    working: Sequence[ChildOrder],
    new_id: Callable[[], str],
    order_cap: Callable[[int], int] | None = None,
) -> list[OrderIntent]:
    """Intents that move the parent's working state to the one ``action`` describes.

    Invariant (property-tested): whatever the venue does with the cancels in flight, the parent
    can never be overfilled: what is working plus what these intents add never exceeds what the
    parent still needs, and no tick both cancels and adds. ``order_cap(price)``: the largest
    quantity one order at ``price`` may carry (the risk limits' order size and notional), so
    that no order is sent only to be refused, tick after tick: a new order is cut to it (what
    is left goes on later ticks), and a replace, whose quantity counts what the order already
    filled, that would outgrow it cancels the order instead (the next tick sends what should
    rest as a new order).
    """
    live = [order for order in working if _is_working(order)]
    if any(order.pending_cl_ord_id is not None for order in live):
        return []  # wait for the venue to answer the cancel/replace in flight
    resting = [order for order in live if order.tif is not TimeInForce.IOC]
    ioc_in_flight = sum(order.leaves_qty for order in live if order.tif is TimeInForce.IOC)
    intents: list[OrderIntent] = []

    desired_price = None
    desired_qty = 0
    if action.kind is not ActionKind.WAIT and action.qty > 0:
        desired_price = _target_price(action.kind, parent.side, book)
        if desired_price is not None and not _within_limit(parent, desired_price):
            desired_price = None
    cap = None if order_cap is None or desired_price is None else order_cap(desired_price)
    wanted = action.qty if cap is None else min(action.qty, cap)

    if action.kind is ActionKind.CROSS:
        # Taking liquidity: first cancel what rests, and cross only once it is gone. Crossing
        # beside a cancel in flight overfills the parent whenever the resting order is filled
        # before the cancel reaches the venue (seen in the demo).
        if resting:
            return [_cancel(order, new_id()) for order in resting]
        if desired_price is not None and ioc_in_flight == 0:
            desired_qty = min(wanted, parent.remaining)
            if desired_qty > 0:
                intents.append(
                    NewOrder(new_id(), parent.parent_id, parent.symbol, parent.side, desired_qty,
                             desired_price, OrdType.LIMIT, TimeInForce.IOC)
                )
        return intents

    available = parent.remaining - ioc_in_flight
    if desired_price is not None:
        desired_qty = min(wanted, available)
    if desired_qty <= 0:
        return [_cancel(order, new_id()) for order in resting]
    if len(resting) > 1:
        # Consolidate to one resting order before changing it, for the same reason.
        return [_cancel(extra, new_id()) for extra in resting[1:]]

    current = resting[0] if resting else None
    if current is None:
        intents.append(
            NewOrder(new_id(), parent.parent_id, parent.symbol, parent.side, desired_qty,
                     desired_price, OrdType.LIMIT, TimeInForce.DAY)
        )
    elif current.price != desired_price or current.leaves_qty > desired_qty:
        assert desired_price is not None  # desired_qty > 0 implies a price
        total = current.cum_qty + desired_qty
        if cap is not None and total > cap:
            return [_cancel(current, new_id())]
        intents.append(_replace(current, new_id(), total, desired_price))
    return intents


def _cancel(order: ChildOrder, cl_ord_id: str) -> CancelOrder:
    return CancelOrder(cl_ord_id, order.cl_ord_id, order.parent_id, order.symbol, order.side,
                       order.qty)


def _replace(order: ChildOrder, cl_ord_id: str, total_qty: int, price: int) -> ReplaceOrder:
    """Replace to ``total_qty`` (FIX OrderQty on a replace is the new total, filled included)."""
    return ReplaceOrder(cl_ord_id, order.cl_ord_id, order.parent_id, order.symbol, order.side,
                        total_qty, price)
