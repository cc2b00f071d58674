"""Operator routes for parent orders: submit, list, get with progress, cancel.

``POST /api/v1/orders`` and ``POST /api/v1/orders/{id}/cancel`` need the ``trade`` role;
``GET /api/v1/orders`` and ``GET /api/v1/orders/{id}`` the ``read`` role. Progress is the same
summary the demo prints: filled, remaining, average price, arrival mid, implementation shortfall
so far in bps against arrival, child orders, risk denials, and whether it is still worked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from service.auth import Principal, Role, Tokens
from service.domain import Instrument, ParentOrder, Side
from service.engine import Engine
from service.metrics import Metrics
from service.report import summarise
from service.routes import OperatorRoutes

MAX_DURATION_SECONDS = 86_400.0

# (side, quantity, symbol, duration seconds, policy name or None, limit price in ticks or None)
Submitter = Callable[[Side, int, str, float, str | None, int | None], ParentOrder]


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=100_000_000)
    duration_seconds: float = Field(gt=0, le=MAX_DURATION_SECONDS)
    policy: Literal["twap", "twap_passive", "onnx"] | None = None
    limit_price: Decimal | None = Field(default=None, gt=0, max_digits=18)


class OrderRoutes(OperatorRoutes):
    def __init__(self, engine: Engine, instruments: Mapping[str, Instrument], submit: Submitter,
                 tokens: Tokens, metrics: Metrics) -> None:
        super().__init__(tokens, metrics)
        self.engine = engine
        self.instruments = instruments
        self.submit_parent = submit

    def install(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/orders", self.guard(Role.READ, self.list_orders))
        app.router.add_post("/api/v1/orders", self.guard(Role.TRADE, self.submit))
        app.router.add_get("/api/v1/orders/{parent_id}", self.guard(Role.READ, self.get))
        app.router.add_post("/api/v1/orders/{parent_id}/cancel",
                            self.guard(Role.TRADE, self.cancel))

    async def submit(self, request: web.Request, who: Principal) -> web.Response:
        body = await self.body(request, SubmitBody)
        instrument = self.instruments.get(body.symbol)
        if instrument is None:
            raise self.reject(400, "unknown_symbol", f"symbol {body.symbol!r} is not configured; "
                              f"configured: {sorted(self.instruments)}")
        limit = None
        if body.limit_price is not None:
            try:
                limit = instrument.to_ticks(body.limit_price)
            except ValueError as exc:
                raise self.reject(400, "invalid_body", f"limit_price: {exc}") from exc
        side = Side.BUY if body.side == "buy" else Side.SELL
        try:
            parent = self.submit_parent(side, body.quantity, body.symbol, body.duration_seconds,
                                        body.policy, limit)
        except ValueError as exc:  # e.g. a policy whose model file is missing
            raise self.reject(400, "invalid_body", str(exc)) from exc
        self.journal(who, "submit", f"{parent.parent_id} {body.side} {body.quantity} "
                     f"{body.symbol} over {body.duration_seconds:g} s with {parent.policy}")
        return web.json_response(self._progress(parent), status=201)

    async def list_orders(self, _request: web.Request, _who: Principal) -> web.Response:
        parents = sorted(self.engine.oms.parents.values(), key=lambda p: p.start_ns)
        return web.json_response({"orders": [self._progress(p) for p in parents]})

    async def get(self, request: web.Request, _who: Principal) -> web.Response:
        return web.json_response(self._progress(self._parent(request)))

    async def cancel(self, request: web.Request, who: Principal) -> web.Response:
        parent = self._parent(request)
        if not self.engine.cancel_parent(parent.parent_id):
            raise self.reject(409, "conflict", f"{parent.parent_id} is no longer being worked")
        self.journal(who, "cancel", parent.parent_id)
        return web.json_response(self._progress(parent))

    def _parent(self, request: web.Request) -> ParentOrder:
        parent_id = request.match_info["parent_id"]
        parent = self.engine.oms.parents.get(parent_id)
        if parent is None:
            raise self.reject(404, "not_found", f"no parent order {parent_id!r}")
        return parent

    def _progress(self, parent: ParentOrder) -> dict[str, object]:
        summary = summarise(parent, self.instruments[parent.symbol]).as_dict()
        return {"parent_id": parent.parent_id, **summary, "remaining": parent.remaining,
                "active": self.engine.is_active(parent.parent_id)}
