"""Trading states of the overlay, and why the kill switch can fire."""

from __future__ import annotations

import enum


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that reduce the position
    HALTED = "halted"  # nothing but cancels


class KillTrigger(enum.StrEnum):
    """What engaged the kill switch; the ``trigger`` label of ``execagent_kill_switch_total``."""

    OPERATOR = "operator"
    DAILY_LOSS = "daily_loss"
    REJECT_STORM = "reject_storm"
    STALE_FEED = "stale_feed"
    SESSION_LOST = "session_lost"
    STORE_LOST = "store_lost"  # the durable store stopped taking writes (the service reports it)
    RECOVERY = "recovery"  # at start, the store held orders the service could not reconcile
