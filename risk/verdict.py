"""The overlay's answer to one intent, and the closed set of reasons it can deny for.

Each reason's value is the ``reason`` label of ``execagent_risk_denials_total``; docs/risk.md
lists them with the control and limit key behind each.
"""

from __future__ import annotations

import enum


class DenyReason(enum.StrEnum):
    HALTED = "halted"  # trading state HALTED: nothing but cancels
    REDUCING_ONLY = "reducing_only"  # trading state REDUCING: only position-reducing orders
    # A field of the wrong type, or a non-positive quantity or price.
    INVALID_ORDER = "invalid_order"
    DUPLICATE_CL_ORD_ID = "duplicate_cl_ord_id"
    UNKNOWN_ORDER = "unknown_order"  # a replace of an order the overlay does not hold open
    RESTRICTED_SYMBOL = "restricted_symbol"
    # A fill on the symbol failed its checks (core/fill_rules.py): held until an operator
    # resumes, having looked at the venue.
    SYMBOL_HELD = "symbol_held"
    FEED_NOT_LIVE = "feed_not_live"  # the symbol's market-data feed is stale or resyncing
    UNKNOWN_SYMBOL = "unknown_symbol"  # no limits configured for the symbol
    MAX_ORDER_QTY = "max_order_qty"
    NO_REFERENCE_PRICE = "no_reference_price"  # no two-sided quote, or one too old
    PRICE_COLLAR = "price_collar"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"  # long or short, counting orders in flight
    MAX_OPEN_ORDERS = "max_open_orders"  # per symbol or global
    MAX_PARTICIPATION = "max_participation"
    THROTTLED = "throttled"  # message rate token bucket empty

    # Enum's own __hash__ is a Python function hashing the member's name (~0.15 µs a call on
    # the development VM); the denial counter hashes a reason on every denial. A StrEnum
    # member equals its value, so hashing the value is the consistent choice as well as the
    # fast one (a C slot).
    __hash__ = str.__hash__


class Verdict:
    """Allowed, or denied for a reason. Built on the check's hot path, so a plain class: in the
    compiled module (native-modules.txt) constructing one is a C struct fill, where a
    NamedTuple's ``__new__`` or a frozen dataclass's ``__init__`` runs interpreted. A denial
    carries a message template and its values rather than the message: formatting one (``:g``,
    ``:,.2f``) costs more than the whole check, and only the rate-limited log line and a
    curious caller ever read it. Treat it as immutable."""

    __slots__ = ("allowed", "reason", "template", "values")

    def __init__(self, allowed: bool, reason: DenyReason | None = None, template: str = "",
                 values: tuple[object, ...] = ()) -> None:
        self.allowed = allowed
        self.reason = reason
        self.template = template
        self.values = values

    @property
    def detail(self) -> str:
        """What was wrong, in words: formatted when read."""
        return self.template.format(*self.values)

    def __repr__(self) -> str:
        if self.allowed:
            return "Verdict(allowed)"
        return f"Verdict(denied, {self.reason}: {self.detail})"


ALLOW = Verdict(True)
