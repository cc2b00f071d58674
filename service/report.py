"""The execution report of one parent order: what a trader reads after the run.

Implementation shortfall against the arrival mid, in basis points of the arrival price, signed
so that a cost is positive: ``side * (average price - arrival) / arrival * 10^4`` with side +1
for a buy and -1 for a sell. Computed exactly from integer ticks (prices are never floats here);
only the final figure is rounded for display.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

from rich.table import Table

from service.domain import Instrument, ParentOrder


def shortfall_bps(parent: ParentOrder) -> Fraction | None:
    """Exact shortfall of the filled part, or None before any fill or benchmark."""
    if parent.filled == 0 or not parent.arrival_price_x2:
        return None
    average_x2 = Fraction(2 * parent.notional_ticks, parent.filled)
    return int(parent.side) * (average_x2 - parent.arrival_price_x2) / parent.arrival_price_x2 \
        * 10_000


@dataclass(slots=True, frozen=True)
class ExecutionSummary:
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


def report_table(summaries: list[ExecutionSummary], title: str) -> Table:
    table = Table(title=title)
    for column in ("policy", "filled / qty", "avg price", "arrival (mid)", "shortfall bps",
                   "child orders", "risk denials"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for s in summaries:
        table.add_row(s.policy, f"{s.filled:,} / {s.quantity:,}", s.average_price or "-",
                      s.arrival_price or "-",
                      "-" if s.shortfall_bps is None else f"{s.shortfall_bps:.2f}",
                      str(s.child_orders), str(s.risk_denials))
    return table
