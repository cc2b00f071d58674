"""Counterparty personas: behaviours real venues and FIX simulators show, for the simulated venue
to put on (``execagent venue --persona NAME``, ``persona:`` in its configuration, and tests).

Why: the service must never lose a fill nor believe an impossible one whatever the counterparty
sends, and the venue execagent ships is careful. Each persona is one way a counterparty is not:

- ``strict``: the venue as it always was (FIX 4.4 to the letter).
- ``fill-at-limit``: like the common open-source FIX example executors: no New; every limit
  order filled at once, in full, at its limit price (no book); other order types rejected.
- ``fix42-values``: FIX 4.2's ExecType 1 (partial fill) and 2 (fill) on a FIX 4.4 session.
- ``replace-as-new``: answers a cancel/replace as a fresh order (the original stays working).
- ``no-status``: never answers an OrderStatusRequest.
- ``unsolicited-cancel``: cancels resting orders at random (seeded), unasked.
- ``dup-reports``: sends every execution report again, once as is and once with PossDupFlag.
- ``slow-ack``: handles every order message after 2 s (the acknowledgement with it).
- ``rogue``: fills reported with the wrong side, a price through the limit, an absurd, a
  negative, a zero or an off-grid price, or ten times the quantity, in turn.

Personas combine, comma-separated (``fill-at-limit,fix42-values,replace-as-new`` is the
example executor a user first met). What each changes is read by the venue (gateways/venue/
venue.py) from a :class:`Persona`; the message rewrites are here. The ``strict`` persona costs
the venue nothing: no rewrite runs.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import quickfix as fix

from core.domain import Side
from gateways.fix.codec import (
    CUM_QTY,
    EXEC_TYPE,
    LAST_PX,
    LAST_QTY,
    LEAVES_QTY,
    ORD_STATUS,
    PRICE,
    SENDING_TIME,
    SIDE,
    format_utc,
    msg_type,
)

POSS_DUP, ORIG_SENDING_TIME = 43, 122
PERSONAS = ("strict", "fill-at-limit", "fix42-values", "replace-as-new", "no-status",
            "unsolicited-cancel", "dup-reports", "slow-ack", "rogue")
SLOW_ACK_MS = 2_000.0
# unsolicited-cancel: the chance, per flow step of a symbol, that one resting client order
# (picked at random) is cancelled.
CANCEL_CHANCE = 0.05

Rewrite = Callable[[fix.Message], list[fix.Message]]


def parse_persona(text: str) -> frozenset[str]:
    """The behaviours named in ``text`` (comma-separated); ValueError naming an unknown one."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(PERSONAS))
    if unknown or not names:
        raise ValueError(f"unknown persona {', '.join(unknown) or '(none)'}: choose from "
                         f"{', '.join(PERSONAS)}, comma-separated to combine")
    return names


@dataclass
class Persona:
    """What the venue does differently; :meth:`of` builds one from its names."""

    names: frozenset[str] = frozenset({"strict"})
    fill_at_limit: bool = False
    replace_as_new: bool = False
    answers_status: bool = True
    order_latency_ms: float | None = None  # overrides the configured latency
    cancel_chance: float = 0.0
    rewrites: list[Rewrite] = field(default_factory=list)  # outgoing execution reports
    random: random.Random = field(default_factory=lambda: random.Random(7))

    @classmethod
    def of(cls, text: str, seed: int = 7) -> Persona:
        names = parse_persona(text)
        persona = cls(names, random=random.Random(seed))
        persona.fill_at_limit = "fill-at-limit" in names
        persona.replace_as_new = "replace-as-new" in names
        persona.answers_status = "no-status" not in names
        if "slow-ack" in names:
            persona.order_latency_ms = SLOW_ACK_MS
        if "unsolicited-cancel" in names:
            persona.cancel_chance = CANCEL_CHANCE
        if "fix42-values" in names:
            persona.rewrites.append(fix42_values)
        if "rogue" in names:
            persona.rewrites.append(Rogue())
        if "dup-reports" in names:
            persona.rewrites.append(duplicated)
        return persona

    @property
    def name(self) -> str:
        return ",".join(sorted(self.names))

    def rewrite(self, message: fix.Message) -> list[fix.Message]:
        """``message`` as this persona sends it (none, one or several messages)."""
        messages = [message]
        if msg_type(message) != fix.MsgType_ExecutionReport:
            return messages
        for rewrite in self.rewrites:
            messages = [out for each in messages for out in rewrite(each)]
        return messages


def _is_fill(message: fix.Message) -> bool:
    return message.getField(EXEC_TYPE) == "F"


def fix42_values(message: fix.Message) -> list[fix.Message]:
    """A fill as FIX 4.2 wrote it (ExecType 1 partial, 2 complete), on whatever session."""
    if _is_fill(message):
        message.setField(EXEC_TYPE, "2" if message.getField(ORD_STATUS) == "2" else "1")
    return [message]


def copy_of(message: fix.Message) -> fix.Message:
    return fix.Message(message.toString(), False)


def duplicated(message: fix.Message) -> list[fix.Message]:
    """The report, the same report again, and the same report flagged as a possible
    duplicate (PossDupFlag, with the OrigSendingTime FIX asks for with it)."""
    again = copy_of(message)
    flagged = copy_of(message)
    header = flagged.getHeader()
    header.setField(POSS_DUP, "Y")
    header.setField(ORIG_SENDING_TIME, message.getHeader().getField(SENDING_TIME)
                    if message.getHeader().isSetField(SENDING_TIME)
                    else format_utc(time.time_ns()))
    return [message, again, flagged]


class Rogue:
    """Each fill report, in turn: the wrong side, a price through the order's limit (5% past
    it), an absurd price, a negative one, zero, one off the tick grid, ten times the
    quantity."""

    KINDS = ("wrong_side", "through_limit", "absurd", "negative", "zero", "off_grid",
             "overfill")

    def __init__(self) -> None:
        self._turn = itertools.cycle(self.KINDS)

    def __call__(self, message: fix.Message) -> list[fix.Message]:
        if not _is_fill(message):
            return [message]
        kind = next(self._turn)
        price = Decimal(message.getField(LAST_PX))
        sell = message.getField(SIDE) == Side.SELL.fix
        if kind == "wrong_side":
            message.setField(SIDE, Side.BUY.fix if sell else Side.SELL.fix)
        elif kind == "through_limit":
            limit = Decimal(message.getField(PRICE)) if message.isSetField(PRICE) else price
            moved = limit * Decimal("0.95") if sell else limit * Decimal("1.05")
            message.setField(LAST_PX, str(moved.quantize(Decimal("0.01"))))
        elif kind == "absurd":
            message.setField(LAST_PX, "99999999999.99")
        elif kind == "negative":
            message.setField(LAST_PX, str(-price))
        elif kind == "zero":
            message.setField(LAST_PX, "0")
        elif kind == "off_grid":
            message.setField(LAST_PX, str(price + Decimal("0.005")))
        else:
            last = int(message.getField(LAST_QTY)) * 10
            cum = int(message.getField(CUM_QTY)) + last - int(message.getField(LAST_QTY))
            message.setField(LAST_QTY, str(last))
            message.setField(CUM_QTY, str(cum))
            message.setField(LEAVES_QTY, "0")
        return [message]
