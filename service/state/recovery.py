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
    # ExecID, symbol, side, quantity, price: the fills believed, each with its ORDER's side,
    # as the live path books them (a fill whose side differs from its order's is never
    # believed: core/fill_rules.py), so the position is the same before and after a restart.
    fills: list[tuple[str, str, Side, int, int]]
    # Fills that failed their checks, as the venue stated them (ExecID -> record): never in a
    # position; they name why their parents were stopped.
    suspect_fills: dict[str, dict[str, object]] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)  # symbols held for them, and why
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
        return not self.parents and not self.children and not self.suspect_fills \
            and not self.holds


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
    set_aside = 0 if symbols is None else _set_aside(parents, children, symbols, problems)
    for order in children:
        order.cum_qty = order.notional_ticks = 0
        if order.parent_id not in parents:
            problems.append(f"child order {order.cl_ord_id} belongs to parent "
                            f"{order.parent_id}, which the store does not hold")
    for parent in parents.values():
        parent.filled = parent.notional_ticks = 0
    fills = _book_fills(store.fills(), by_cl_ord_id, parents, symbols, problems)
    for order in children:
        if order.cum_qty > order.qty:
            problems.append(f"child order {order.cl_ord_id} has fills for {order.cum_qty} "
                            f"of its {order.qty}")
    state = RecoveredState(list(parents.values()), children, fills, store.suspect_fills(),
                           store.symbol_holds(), problems=problems, set_aside=set_aside)
    stored = store.trading_state()
    if stored is not None:
        _restore_trading_state(state, *stored)
    return state


def _restore_trading_state(state: RecoveredState, name: str, reason: str) -> None:
    try:
        state.trading_state = TradingState(name)
        state.trading_reason = reason
    except ValueError:
        state.problems.append(f"stored trading state {name!r} is not one this build knows")


def _book_fills(stored: dict[str, tuple[str, int, int]], by_cl_ord_id: dict[str, ChildOrder],
                parents: dict[str, ParentOrder], symbols: Collection[str] | None,
                problems: list[str]) -> list[tuple[str, str, Side, int, int]]:
    """Every stored fill into its order's and its parent's filled quantity and notional, in
    ExecID order; the fills as recovery returns them. A fill no stored order has is a
    problem; a fill of an order set aside (its symbol not in ``symbols``) is left out."""
    fills = []
    for exec_id, (cl_ord_id, qty, price) in sorted(stored.items()):
        owner = by_cl_ord_id.get(cl_ord_id)
        if owner is None:
            problems.append(f"fill {exec_id} ({qty} @ {price} ticks) is for ClOrdID "
                            f"{cl_ord_id}, which no stored child order has")
            continue
        if symbols is not None and owner.symbol not in symbols:
            continue
        owner.cum_qty += qty
        owner.notional_ticks += qty * price
        owning_parent = parents.get(owner.parent_id)
        if owning_parent is not None:
            owning_parent.filled += qty
            owning_parent.notional_ticks += qty * price
        fills.append((exec_id, owner.symbol, owner.side, qty, price))
    return fills


def _set_aside(parents: dict[str, ParentOrder], children: list[ChildOrder],
               symbols: Collection[str], problems: list[str]) -> int:
    """Take the orders on symbols not in ``symbols`` out of ``parents`` and ``children``;
    unfinished or working ones go to ``problems``. Returns how many finished parents went."""
    finished = 0
    for parent in [p for p in parents.values() if p.symbol not in symbols]:
        del parents[parent.parent_id]
        if parent.done:
            finished += 1
        else:
            problems.append(f"unfinished parent order {parent.parent_id} is for "
                            f"{parent.symbol}, which is not among the instruments: configure "
                            "it again to finish it")
    for order in [c for c in children if c.symbol not in symbols]:
        children.remove(order)
        if not order.status.is_terminal:
            problems.append(f"child order {order.cl_ord_id} is working on {order.symbol}, "
                            "which is not among the instruments: check it at the venue")
    return finished
