"""What the training environment asks before an order message goes: the live pre-trade check.

Why an interface here and not the risk overlay itself: models sit below the risk package's
users and must not import it (the overlay stays independent; import-linter forbids it). The
overlay satisfies this protocol as it is, so the training command (in ``service``) hands the
environment a factory of real :class:`risk.overlay.RiskOverlay` instances built from a limits
file, and the policy learns under the same throttle, collar and position limits that judge it
live, not a copy of them that could drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.domain import CancelReject, ExecutionReport, OrderIntent


class PreTradeVerdict(Protocol):
    @property
    def allowed(self) -> bool: ...


class PreTradeCheck(Protocol):
    """The part of the risk overlay's public API the environment drives, as the engine does:
    every order message is checked, and the check sees every quote, print and report."""

    def check(self, intent: OrderIntent, now_ns: int) -> PreTradeVerdict: ...

    def largest_order_qty(self, symbol: str, price: int) -> int: ...

    def on_market_data(self, symbol: str, bid: int | None, ask: int | None, now_ns: int,
                       traded_qty: int = 0) -> None: ...

    def on_execution_report(self, report: ExecutionReport, now_ns: int) -> None: ...

    def on_cancel_reject(self, reject: CancelReject, now_ns: int) -> None: ...


PreTradeFactory = Callable[[str], PreTradeCheck]
"""A fresh check for one episode's symbol (each episode starts flat, with a full throttle)."""
