"""The execution reports of parent orders as a table, what a trader reads after a run (the
figures themselves come from :mod:`core.tca`)."""

from __future__ import annotations

from rich.table import Table

from core.tca import ExecutionSummary


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
