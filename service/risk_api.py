"""Operator routes for the risk overlay: trading state, kill switch, resume, reducing-only.

Every mutation needs a bearer token of the right role (kill and reducing: ``trade``; resume:
``admin``) and a reason, and is journaled: one line on the ``execagent.journal`` logger with
who, what, when and why, and ``execagent_api_mutations_total{action}``. Bad requests get a 4xx
with a message naming the problem and are counted in
``execagent_api_rejected_requests_total{reason}``; nothing a client sends reaches the overlay
unvalidated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from risk.overlay import RiskOverlay
from service.auth import ANONYMOUS_READER, Principal, Role, Tokens
from service.metrics import Metrics

journal = logging.getLogger("execagent.journal")
Handler = Callable[[web.Request], Awaitable[web.Response]]


class ReasonBody(BaseModel):
    """The body of every risk mutation."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


class RiskRoutes:
    def __init__(self, risk: RiskOverlay, tokens: Tokens, metrics: Metrics,
                 now_ns: Callable[[], int]) -> None:
        self.risk = risk
        self.tokens = tokens
        self.metrics = metrics
        self.now_ns = now_ns

    def install(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/risk", self._guard(Role.READ, self.state))
        app.router.add_post("/api/v1/risk/kill", self._guard(Role.TRADE, self.kill))
        app.router.add_post("/api/v1/risk/reducing", self._guard(Role.TRADE, self.reducing))
        app.router.add_post("/api/v1/risk/resume", self._guard(Role.ADMIN, self.resume))

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

    async def kill(self, request: web.Request, who: Principal) -> web.Response:
        body = await self._body(request)
        cancels = self.risk.engage_kill_switch(f"{body.reason} (by {who.name})", self.now_ns())
        self._journal(who, "kill", body.reason, cancels=len(cancels))
        return web.json_response({"trading_state": self.risk.state.value,
                                  "cancels_sent": len(cancels)})

    async def reducing(self, request: web.Request, who: Principal) -> web.Response:
        body = await self._body(request)
        try:
            self.risk.set_reducing(f"{body.reason} (by {who.name})", self.now_ns())
        except ValueError as exc:
            raise self._reject(409, "conflict", str(exc)) from exc
        self._journal(who, "reducing", body.reason)
        return web.json_response({"trading_state": self.risk.state.value})

    async def resume(self, request: web.Request, who: Principal) -> web.Response:
        body = await self._body(request)
        self.risk.resume(body.reason, who.name, self.now_ns())
        self._journal(who, "resume", body.reason)
        # A daily loss past its limit halts again at once: the answer shows the real state.
        return web.json_response({"trading_state": self.risk.state.value})

    # --- plumbing -------------------------------------------------------------------------------
    def _guard(self, needed: Role, route: Callable[[web.Request, Principal],
                                                   Awaitable[web.Response]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            who = self.tokens.identify(request.headers.get("Authorization"))
            if who is None:
                if self.tokens.configured or needed > Role.READ:
                    if not self.tokens.configured:
                        raise self._reject(403, "no_tokens",
                                           "mutations are disabled: no API tokens are "
                                           "configured (api.tokens or api.tokens_file)")
                    raise self._reject(401, "unauthenticated",
                                       "send Authorization: Bearer <token>")
                who = ANONYMOUS_READER
            if who.role < needed:
                raise self._reject(403, "forbidden", f"{who.name} has the {who.role.name.lower()} "
                                   f"role; this needs {needed.name.lower()}")
            return await route(request, who)
        return handler

    async def _body(self, request: web.Request) -> ReasonBody:
        try:
            raw: Any = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._reject(400, "malformed_json", f"the body is not JSON: {exc}") from exc
        try:
            return ReasonBody.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                                 for e in exc.errors())
            raise self._reject(400, "invalid_body", problems) from exc

    def _reject(self, status: int, reason: str, message: str) -> web.HTTPException:
        self.metrics.api_rejected.labels(reason).inc()
        return _http_error(status, message)

    def _journal(self, who: Principal, action: str, reason: str, **details: object) -> None:
        self.metrics.api_mutations.labels(action).inc()
        extra = "".join(f" {key}={value}" for key, value in details.items())
        journal.warning("%s by %s (%s): %s; trading state now %s%s", action, who.name,
                        who.role.name.lower(), reason, self.risk.state.value, extra)


def _http_error(status: int, message: str) -> web.HTTPException:
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
        409: web.HTTPConflict}
    return classes[status](text=json.dumps({"error": message}), content_type="application/json")
