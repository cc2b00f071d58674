"""Crash recovery: what the store says, made consistent, and what the venue must confirm.

Why fills are the source of truth: the engine writes a child order, then its fill, then the
parent, one call after another, and ``kill -9`` can land between any two. A fill is recorded
once per ExecID and never changes, so after a crash every order's filled quantity and notional
are recomputed from the fills, never read from a record that may be one write behind.

What the store cannot know is what happened at the venue while the process was dead or before
its last write: orders that filled, orders a cancel reached, an order written ahead of a send
that never went. So every order the store holds as working is asked about with an
OrderStatusRequest once the FIX session is up (:class:`Reconciliation`), and the answers are
applied as execution reports. Until every answer is in, no parent order trades.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from core.domain import (
    ChildOrder,
    ParentOrder,
    Side,
)
from risk.state import TradingState
from service.state.store import StateStore

log = logging.getLogger(f"execagent.{__name__}")


@dataclass(slots=True)
class RecoveredState:
    """The store's content after a restart, consistent with its own fills."""

    parents: list[ParentOrder]
    children: list[ChildOrder]
    fills: list[tuple[str, str, Side, int, int]]  # ExecID, symbol, side, quantity, price
    trading_state: TradingState = TradingState.ACTIVE
    trading_reason: str = "no trading state stored"
    problems: list[str] = field(default_factory=list)  # what could not be made consistent
    set_aside: int = 0  # finished parent orders on symbols no longer configured, left stored

    @property
    def unfinished(self) -> list[ParentOrder]:
        return [p for p in self.parents if not p.done]

    @property
    def working(self) -> list[ChildOrder]:
        return [c for c in self.children if not c.status.is_terminal]

    @property
    def empty(self) -> bool:
        return not self.parents and not self.children


def load_state(store: StateStore, symbols: Collection[str] | None = None) -> RecoveredState:
    """Read the store and rebuild every order's and parent's fills from the fill records.
    Raises what the store raises (StoreUnavailable, StateFormatError) when it cannot be read.

    ``symbols``: the configured instruments (None: all). Orders on another symbol (one taken
    out of the configuration) are left in the store, not taken back: nothing could price,
    show or trade them. A finished one is only counted (``set_aside``); an unfinished parent
    or a working child order is a problem, so the start is HALTED naming it."""
    parents = {p.parent_id: p for p in store.parents()}
    children = store.children()
    by_cl_ord_id: dict[str, ChildOrder] = {}
    for order in children:
        for cl_ord_id in (*order.previous_cl_ord_ids, order.cl_ord_id, order.pending_cl_ord_id):
            if cl_ord_id is not None:
                by_cl_ord_id[cl_ord_id] = order
    problems: list[str] = []
    set_aside = 0
    if symbols is not None:
        foreign = [p for p in parents.values() if p.symbol not in symbols]
        for parent in foreign:
            del parents[parent.parent_id]
            if parent.done:
                set_aside += 1
            else:
                problems.append(f"unfinished parent order {parent.parent_id} is for "
                                f"{parent.symbol}, which is not among the instruments: "
                                "configure it again to finish it")
        for order in [c for c in children if c.symbol not in symbols]:
            children.remove(order)
            if not order.status.is_terminal:
                problems.append(f"child order {order.cl_ord_id} is working on "
                                f"{order.symbol}, which is not among the instruments: check "
                                "it at the venue")
    for order in children:
        order.cum_qty = order.notional_ticks = 0
        if order.parent_id not in parents:
            problems.append(f"child order {order.cl_ord_id} belongs to parent "
                            f"{order.parent_id}, which the store does not hold")
    for parent in parents.values():
        parent.filled = parent.notional_ticks = 0
    fills = []
    for exec_id, (cl_ord_id, qty, price) in sorted(store.fills().items()):
        owner = by_cl_ord_id.get(cl_ord_id)
        if owner is None:
            problems.append(f"fill {exec_id} ({qty} @ {price} ticks) is for ClOrdID "
                            f"{cl_ord_id}, which no stored child order has")
            continue
        if symbols is not None and owner.symbol not in symbols:
            continue  # the fill of an order set aside above
        owner.cum_qty += qty
        owner.notional_ticks += qty * price
        owning_parent = parents.get(owner.parent_id)
        if owning_parent is not None:
            owning_parent.filled += qty
            owning_parent.notional_ticks += qty * price
        fills.append((exec_id, owner.symbol, owner.side, qty, price))
    for order in children:
        if order.cum_qty > order.qty:
            problems.append(f"child order {order.cl_ord_id} has fills for {order.cum_qty} "
                            f"of its {order.qty}")
    state = RecoveredState(list(parents.values()), children, fills, problems=problems,
                           set_aside=set_aside)
    stored = store.trading_state()
    if stored is not None:
        try:
            state.trading_state = TradingState(stored[0])
            state.trading_reason = stored[1]
        except ValueError:
            problems.append(f"stored trading state {stored[0]!r} is not one this build knows")
    return state
