"""Views of an L2 book that features and analysis read: depth imbalance and the microprice.

Pure functions over ``depth(side, levels)`` lists, so the order-level book
(:class:`sim.matching.OrderBook`) and the feed consumer's book (:class:`core.depth_book.DepthBook`)
give the same numbers for the same levels.
"""

from __future__ import annotations

from collections.abc import Sequence

Levels = Sequence[tuple[int, int]]  # (price ticks, quantity), best first


def imbalance(bids: Levels, asks: Levels) -> float | None:
    """(bid qty - ask qty) / (bid qty + ask qty) over the given levels: +1 all bids, -1 all
    asks; None when both are empty."""
    bid_qty = sum(qty for _, qty in bids)
    ask_qty = sum(qty for _, qty in asks)
    total = bid_qty + ask_qty
    return None if total == 0 else (bid_qty - ask_qty) / total


def microprice(bids: Levels, asks: Levels) -> float | None:
    """The touch prices weighted by the opposite side's size, in ticks:
    ``(bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)``. It leans toward the side that is
    about to give way (a thin ask pulls it up). None without a two-sided touch."""
    if not bids or not asks:
        return None
    (bid, bid_qty), (ask, ask_qty) = bids[0], asks[0]
    return (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)
