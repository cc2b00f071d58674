"""Operator routes for the risk overlay: trading state, limits, kill switch, resume, reducing-only.

Every mutation needs a bearer token of the right role (kill and reducing: ``trade``; resume and
a change of limits: ``admin``) and a reason or a full set of limits, and is journaled: one line
on the ``execagent.journal`` logger with who, what, when and why, and
``execagent_api_mutations_total{action}``. Bad requests get a 4xx with a message naming the
problem and are counted in ``execagent_api_rejected_requests_total{reason}``; nothing a client
sends reaches the overlay unvalidated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from core.domain import Side
from risk.limits import RiskLimits
from risk.overlay import RiskOverlay
from service.api.auth import Principal, Tokens
from service.api.routes import OperatorRoutes, reply
from service.api.schemas import (
    KillAnswer,
    LimitsChanged,
    OpenOrder,
    ReasonBody,
    RiskState,
    TradingStateAnswer,
)
from service.metrics import Metrics


class RiskRoutes(OperatorRoutes):
    """The ``risk`` group of :data:`service.api.openapi.OPERATIONS`."""

    GROUP = "risk"

    def __init__(self, risk: RiskOverlay, tokens: Tokens, metrics: Metrics,
                 now_ns: Callable[[], int]) -> None:
        super().__init__(tokens, metrics)
        self.risk = risk
        self.now_ns = now_ns
        # Why a resume must wait (the durable store is down), or None: set by the service.
        self.resume_blocker: Callable[[], str | None] | None = None

    # --- routes ---------------------------------------------------------------------------------
    async def state(self, _request: web.Request, _who: Principal) -> web.Response:
        risk = self.risk
        return reply(RiskState(
            trading_state=risk.state.value,
            positions={s: risk.position(s) for s in risk.limits.symbols},
            pnl=round(risk.pnl(), 2),
            open_orders=[OpenOrder(cl_ord_id=cl, symbol=sym,
                                   side="buy" if side is Side.BUY else "sell", open_qty=qty)
                         for cl, (sym, side, qty) in sorted(risk.open_orders().items())],
            unknown_orders=risk.unknown_orders(),
            held_symbols=risk.held_symbols(),
            denials={reason.value: n for reason, n in risk.denials.items()},
            kills={trigger.value: n for trigger, n in risk.kills.items()},
        ))

    async def limits(self, _request: web.Request, _who: Principal) -> web.Response:
        """The limits in force, as the YAML file spells them: what PUT takes back."""
        return reply(self.risk.limits)

    async def replace_limits(self, request: web.Request, who: Principal) -> web.Response:
        """New limits in force at once, validated as the limits file is (every key required),
        all or nothing; journaled with each value that changed. The file is not rewritten: a
        restart goes back to it, which is what an intraday change should do."""
        limits = await self.body(request, RiskLimits)
        before = self.risk.limits
        try:
            self.risk.replace_limits(limits, self.now_ns())
        except ValueError as exc:
            raise self.reject(400, "invalid_body", str(exc)) from exc
        changed = limit_changes(before, limits)
        self.journal(who, "limits", "; ".join(changed) or "no change",
                     trading_state=self.risk.state.value)
        return reply(LimitsChanged(changed=changed, limits=limits))

    async def kill(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        cancels = self.risk.engage_kill_switch(f"{body.reason} (by {who.name})", self.now_ns())
        self._journal(who, "kill", body.reason, cancels=len(cancels))
        return reply(KillAnswer(trading_state=self.risk.state.value, cancels_sent=len(cancels)))

    async def reducing(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        try:
            self.risk.set_reducing(f"{body.reason} (by {who.name})", self.now_ns())
        except ValueError as exc:
            raise self.reject(409, "conflict", str(exc)) from exc
        self._journal(who, "reducing", body.reason)
        return reply(TradingStateAnswer(trading_state=self.risk.state.value))

    async def resume(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        blocker = self.resume_blocker() if self.resume_blocker is not None else None
        if blocker is not None:
            raise self.reject(409, "conflict", blocker)
        self.risk.resume(body.reason, who.name, self.now_ns())
        self._journal(who, "resume", body.reason)
        # A daily loss past its limit halts again at once: the answer shows the real state.
        return reply(TradingStateAnswer(trading_state=self.risk.state.value))

    def _journal(self, who: Principal, action: str, reason: str, **details: object) -> None:
        self.journal(who, action, f"{reason}; trading state now {self.risk.state.value}",
                     **details)


def limit_changes(before: RiskLimits, after: RiskLimits) -> list[str]:
    """Each leaf that differs, as ``dotted.key: old -> new`` (a symbol added or dropped is one
    entry), in the limits file's spelling."""
    changes: list[str] = []

    def walk(key: str, old: Any, new: Any) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(old.keys() | new.keys()):
                walk(f"{key}.{name}" if key else name, old.get(name, _ABSENT),
                     new.get(name, _ABSENT))
        elif old != new:
            changes.append(f"{key}: {_show(old)} -> {_show(new)}")

    walk("", before.model_dump(by_alias=True, mode="json"),
         after.model_dump(by_alias=True, mode="json"))
    return changes


_ABSENT = object()


def _show(value: object) -> str:
    return "(none)" if value is _ABSENT else json.dumps(value, sort_keys=True)
