"""The overlay's answer to one intent, and the closed set of reasons it can deny for."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DenyReason(enum.StrEnum):
    """Why an intent was denied. The value is the ``reason`` label of
    ``execagent_risk_denials_total``."""

    HALTED = "halted"  # trading state HALTED: nothing but cancels
    REDUCING_ONLY = "reducing_only"  # trading state REDUCING: only position-reducing orders
    UNKNOWN_SYMBOL = "unknown_symbol"  # no limits configured for the symbol
    MAX_ORDER_QTY = "max_order_qty"
    MAX_POSITION = "max_position"  # long or short, counting orders in flight


@dataclass(slots=True, frozen=True)
class Verdict:
    allowed: bool
    reason: DenyReason | None = None
    detail: str = ""


ALLOW = Verdict(True)
