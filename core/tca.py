"""Transaction-cost arithmetic: implementation shortfall, one definition for the engine, the
training environment, the evaluation and the reports.

Shortfall is measured against the arrival mid, in basis points of the arrival price (or of the
parent's arrival notional), signed so that a cost is positive:
``side * (price - arrival) / arrival * 10^4`` with side +1 for a buy and -1 for a sell.

Prices here are integer ticks, and mids are kept doubled (``*_x2``: the sum of bid and ask) so
that a half-tick mid stays an integer. Costs are summed in those integers and divided once, so
the figures are exact up to that last division; :func:`shortfall_bps` is exact throughout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

from core.domain import Instrument, ParentOrder

BPS = 10_000


def signed_cost_x2(side: int, qty: int, price_x2: int, arrival_x2: int) -> int:
    """The cost of ``qty`` shares at ``price_x2 / 2`` against the arrival mid, in doubled ticks:
    positive when a buy paid more or a sell received less than the arrival mid."""
    return side * qty * (price_x2 - arrival_x2)


def filled_cost_x2(parent: ParentOrder) -> int:
    """The cost of everything the parent has filled so far, in doubled ticks."""
    assert parent.arrival_price_x2 is not None
    return int(parent.side) * (2 * parent.notional_ticks
                               - parent.arrival_price_x2 * parent.filled)


def cost_in_bps(cost_x2: int, arrival_x2: int, qty: int) -> float:
    """A cost in doubled ticks as basis points of the arrival notional of ``qty`` shares."""
    return cost_x2 / (arrival_x2 * qty) * BPS


def shortfall_bps(parent: ParentOrder) -> Fraction | None:
    """Exact shortfall of the filled part against the arrival mid, in basis points of the
    arrival price; None before any fill or benchmark."""
    if parent.filled == 0 or not parent.arrival_price_x2:
        return None
    average_x2 = Fraction(2 * parent.notional_ticks, parent.filled)
    return int(parent.side) * (average_x2 - parent.arrival_price_x2) / parent.arrival_price_x2 \
        * BPS


@dataclass(slots=True, frozen=True)
class ExecutionSummary:
    """What a trader reads about one parent order; prices as exact decimal strings."""

    policy: str
    symbol: str
    side: str
    quantity: int
    filled: int
    average_price: str | None
    arrival_price: str | None
    shortfall_bps: float | None
    child_orders: int
    risk_denials: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise(parent: ParentOrder, instrument: Instrument) -> ExecutionSummary:
    average = None
    if parent.filled:
        average = str((instrument.to_price(parent.notional_ticks) / parent.filled)
                      .quantize(Decimal("0.0001")))
    arrival = None
    if parent.arrival_price_x2:
        arrival = str(instrument.to_price(parent.arrival_price_x2) / 2)
    shortfall = shortfall_bps(parent)
    return ExecutionSummary(
        policy=parent.policy, symbol=parent.symbol, side=parent.side.name.lower(),
        quantity=parent.qty, filled=parent.filled, average_price=average, arrival_price=arrival,
        shortfall_bps=None if shortfall is None else round(float(shortfall), 4),
        child_orders=parent.child_orders_sent, risk_denials=parent.risk_denials)
