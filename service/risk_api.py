"""Operator routes for the risk overlay: trading state, kill switch, resume, reducing-only.

Every mutation needs a bearer token of the right role (kill and reducing: ``trade``; resume:
``admin``) and a reason, and is journaled: one line on the ``execagent.journal`` logger with
who, what, when and why, and ``execagent_api_mutations_total{action}``. Bad requests get a 4xx
with a message naming the problem and are counted in
``execagent_api_rejected_requests_total{reason}``; nothing a client sends reaches the overlay
unvalidated.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from risk.overlay import RiskOverlay
from service.auth import Principal, Role, Tokens
from service.metrics import Metrics
from service.routes import OperatorRoutes


class ReasonBody(BaseModel):
    """The body of every risk mutation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=500)  # blank after stripping: refused


class RiskRoutes(OperatorRoutes):
    def __init__(self, risk: RiskOverlay, tokens: Tokens, metrics: Metrics,
                 now_ns: Callable[[], int]) -> None:
        super().__init__(tokens, metrics)
        self.risk = risk
        self.now_ns = now_ns

    def install(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/risk", self.guard(Role.READ, self.state))
        app.router.add_get("/api/v1/risk/limits", self.guard(Role.READ, self.limits))
        app.router.add_post("/api/v1/risk/kill", self.guard(Role.TRADE, self.kill))
        app.router.add_post("/api/v1/risk/reducing", self.guard(Role.TRADE, self.reducing))
        app.router.add_post("/api/v1/risk/resume", self.guard(Role.ADMIN, self.resume))

    # --- routes ---------------------------------------------------------------------------------
    async def state(self, _request: web.Request, _who: Principal) -> web.Response:
        risk = self.risk
        return web.json_response({
            "trading_state": risk.state.value,
            "positions": {s: risk.position(s) for s in risk.limits.symbols},
            "pnl": round(risk.pnl(), 2),
            "open_orders": [{"cl_ord_id": cl, "symbol": sym, "side": side.name.lower(),
                             "open_qty": qty}
                            for cl, (sym, side, qty) in sorted(risk.open_orders().items())],
            "unknown_orders": risk.unknown_orders(),
            "denials": {reason.value: n for reason, n in risk.denials.items()},
            "kills": {trigger.value: n for trigger, n in risk.kills.items()},
        })

    async def limits(self, _request: web.Request, _who: Principal) -> web.Response:
        """The limits in force, as the YAML file spells them (changing them is not offered yet:
        it needs the admin role and a restart today)."""
        return web.json_response(self.risk.limits.model_dump(by_alias=True, mode="json"))

    async def kill(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        cancels = self.risk.engage_kill_switch(f"{body.reason} (by {who.name})", self.now_ns())
        self._journal(who, "kill", body.reason, cancels=len(cancels))
        return web.json_response({"trading_state": self.risk.state.value,
                                  "cancels_sent": len(cancels)})

    async def reducing(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        try:
            self.risk.set_reducing(f"{body.reason} (by {who.name})", self.now_ns())
        except ValueError as exc:
            raise self.reject(409, "conflict", str(exc)) from exc
        self._journal(who, "reducing", body.reason)
        return web.json_response({"trading_state": self.risk.state.value})

    async def resume(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, ReasonBody)
        self.risk.resume(body.reason, who.name, self.now_ns())
        self._journal(who, "resume", body.reason)
        # A daily loss past its limit halts again at once: the answer shows the real state.
        return web.json_response({"trading_state": self.risk.state.value})

    def _journal(self, who: Principal, action: str, reason: str, **details: object) -> None:
        self.journal(who, action, f"{reason}; trading state now {self.risk.state.value}",
                     **details)
