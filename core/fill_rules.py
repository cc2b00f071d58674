"""Is a fill believable? The checks every fill passes before it is booked.

Why: a fill moves the position and the P&L, and every risk limit stands on those; an execution
report is the counterparty's claim. So each fill is checked against the order it names before it
is believed: its side is the order's, its price is positive, on the tick grid, not through the
order's limit and within a band of the market's mid, and it fills neither the order nor its
parent beyond their quantities. A fill that fails is still recorded as what the venue said (it
may be real), but it is not booked: it never moves the position or the P&L without an operator
looking at it (service/engine.py stops its parent and its symbol and raises an alert).

One rule, pure, for every path that books a fill: the engine's live path and the fills an
order-status answer reveals apply :func:`check_fill` through ``core.oms.OrderManager``, and
recovery books only the fills stored as believed, with the order's side, as the live path did;
so a restart never changes a position.

Named assumptions:
- The mid band defaults to :data:`DEFAULT_FILL_BAND_BPS` (5%): the widest band US equity
  limit-up/limit-down allows a tier-1 stock over $3 in regular hours, so a print further from
  the mid than that does not happen on a lit market without a halt. It is configured per
  instrument (``instruments[].fill_band_bps``); a volatile instrument (crypto) may want more.
- The band's reference is the book's mid when there is a two-sided book, else the order's own
  limit price, else there is none and the band is not checked.
- While a replace is in flight, either the old or the new quantity and limit price may hold:
  the venue may fill the order before or after it takes the replace.
- A fill reported without LastQty(32) is the step of CumQty(14) over the quantity already
  booked on the order, priced so that the order's average matches AvgPx(6), rounded to the
  tick: exact when one fill is reported at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from core.domain import ChildOrder, ExecutionReport, Instrument, ParentOrder, Side

DEFAULT_FILL_BAND_BPS: Final = 500.0

# Why a fill or a report was not believed: a closed set (a metric label).
SIDE, PRICE, TICK_GRID, LIMIT, BAND = "side", "price", "tick_grid", "limit", "band"
OVERFILL, PARENT_OVERFILL = "overfill", "parent_overfill"
UNKNOWN_ORDER, REPLACE_AS_NEW = "unknown_order", "replace_as_new"
DOUBT_CODES: Final = (SIDE, PRICE, TICK_GRID, LIMIT, BAND, OVERFILL, PARENT_OVERFILL,
                      UNKNOWN_ORDER, REPLACE_AS_NEW)


@dataclass(slots=True, frozen=True)
class Doubt:
    """One reason not to believe a fill: a code from :data:`DOUBT_CODES` and what differs."""

    code: str
    text: str


@dataclass(slots=True, frozen=True)
class FillClaim:
    """The fill a report carries, as the venue states it."""

    qty: int
    price: int | None  # ticks; None when the venue's price is off the grid (``price_text``)
    price_text: str
    side: Side
    derived: bool = False  # from the CumQty step and AvgPx: the report had no LastQty

    def price_as_sent(self, instrument: Instrument) -> str:
        """The price as the venue wrote it (an exact decimal)."""
        if self.price is None:
            return self.price_text
        return str(instrument.to_price(self.price))


def fill_claim(order: ChildOrder, report: ExecutionReport) -> FillClaim | None:
    """The fill ``report`` (a fill's ExecType) carries for ``order``, or None when it carries
    none (nothing new: a CumQty no higher than what is booked, and no LastQty)."""
    if report.last_qty > 0:
        if report.last_px is not None or report.last_px_text:
            return FillClaim(report.last_qty, report.last_px, report.last_px_text, report.side)
        price = _average_step_price(order, report, report.last_qty)
        return None if price is None else FillClaim(report.last_qty, price, "", report.side,
                                                    derived=True)
    step = report.cum_qty - order.cum_qty
    if step <= 0:
        return None
    price = _average_step_price(order, report, step)
    return None if price is None else FillClaim(step, price, "", report.side, derived=True)


def _average_step_price(order: ChildOrder, report: ExecutionReport, qty: int) -> int | None:
    """The price of ``qty`` more that makes the order's average AvgPx at the venue's CumQty."""
    avg = report.avg_px_ticks
    if avg is None:
        return None
    cum = max(report.cum_qty, order.cum_qty + qty)
    return round((avg * cum - order.notional_ticks) / qty)


def check_fill(claim: FillClaim, order: ChildOrder, parent: ParentOrder | None,
               reference: float | None, band_bps: float) -> tuple[Doubt, ...]:
    """Every reason not to believe ``claim`` on ``order``; empty when it is believable.
    ``reference``: the book's mid in ticks (fractional), None when there is no two-sided
    book."""
    doubts: list[Doubt] = []
    if claim.side is not order.side:
        doubts.append(Doubt(SIDE, f"a {claim.side.name} fill on a {order.side.name} order"))
    price = claim.price
    if price is None:
        doubts.append(Doubt(TICK_GRID, f"price {claim.price_text} is off the tick grid"))
    elif price <= 0:
        doubts.append(Doubt(PRICE, f"price {price} ticks is not positive"))
    else:
        _check_price(price, order, reference, band_bps, doubts)
    most = max(order.qty, order.pending_qty or 0)
    if order.cum_qty + claim.qty > most:
        doubts.append(Doubt(OVERFILL, f"{claim.qty} more would fill {order.cum_qty + claim.qty} "
                                      f"of the order's {most}"))
    if parent is not None and parent.filled + claim.qty > parent.qty:
        doubts.append(Doubt(PARENT_OVERFILL, f"{claim.qty} more would fill "
                                             f"{parent.filled + claim.qty} of the parent's "
                                             f"{parent.qty}"))
    return tuple(doubts)


def _check_price(price: int, order: ChildOrder, reference: float | None, band_bps: float,
                 doubts: list[Doubt]) -> None:
    if order.price is not None:  # a limit order (a market order has no limit to go through)
        limits = [p for p in (order.price, order.pending_price) if p is not None]
        loosest = max(limits) if order.side is Side.BUY else min(limits)
        through = price > loosest if order.side is Side.BUY else price < loosest
        if through:
            doubts.append(Doubt(LIMIT, f"price {price} ticks is through the order's limit "
                                       f"{loosest}"))
    if reference is None and order.price is not None:
        reference = float(order.price)
    if reference is not None and reference > 0 and \
            abs(price - reference) > reference * band_bps / 1e4:
        doubts.append(Doubt(BAND, f"price {price} ticks is more than {band_bps:g} bps from "
                                  f"the reference {reference:g}"))
