"""Trading states of the overlay."""

from __future__ import annotations

import enum


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that reduce the position
    HALTED = "halted"  # nothing but cancels
