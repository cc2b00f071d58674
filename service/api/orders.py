"""Operator routes for parent orders: submit, list, get with progress, cancel.

``POST /api/v1/orders`` and ``POST /api/v1/orders/{id}/cancel`` need the ``trade`` role;
``GET /api/v1/orders`` and ``GET /api/v1/orders/{id}`` the ``read`` role. Progress is the same
summary the demo prints: filled, remaining, average price, arrival mid, implementation shortfall
so far in bps against arrival, child orders, risk denials, and whether it is still worked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from core.domain import Instrument, ParentOrder, Side
from core.tca import summarise
from models.policy import OutsideTrainedRange
from service.api.auth import Principal, Tokens
from service.api.routes import OperatorRoutes, reply
from service.api.schemas import MAX_DURATION_SECONDS, OrderList, OrderProgress, SubmitBody
from service.engine import Engine
from service.metrics import Metrics

# (side, quantity, symbol, start ns, end ns, policy name or None, limit in ticks or None, urgency)
Submitter = Callable[[Side, int, str, int, int, str | None, int | None, str], ParentOrder]


MAX_DURATION_NS = int(MAX_DURATION_SECONDS * 1e9)
# How far ahead of the market's clock a parent order may be set to start: as far as it may run.
MAX_START_AHEAD_NS = MAX_DURATION_NS


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 10**9 + when.microsecond * 1_000


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when is not None else "(none)"


class OrderRoutes(OperatorRoutes):
    """The ``orders`` group of :data:`service.api.openapi.OPERATIONS`."""

    GROUP = "orders"

    def __init__(self, engine: Engine, instruments: Mapping[str, Instrument], submit: Submitter,
                 tokens: Tokens, metrics: Metrics) -> None:
        super().__init__(tokens, metrics)
        self.engine = engine
        self.instruments = instruments
        self.submit_parent = submit

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
        start_ns, end_ns = self._window(body)
        try:
            parent = self.submit_parent(side, body.quantity, body.symbol, start_ns, end_ns,
                                        body.policy, limit, body.urgency)
        except OutsideTrainedRange as exc:  # the RL model was not trained for this parent
            raise self.reject(400, "outside_trained_range", str(exc)) from exc
        except ValueError as exc:  # e.g. a policy whose model file is missing
            raise self.reject(400, "invalid_body", str(exc)) from exc
        self.journal(who, "submit", f"{parent.parent_id} {body.side} {body.quantity} "
                     f"{body.symbol} over {(end_ns - start_ns) / 1e9:g} s with {parent.policy}"
                     f" ({body.urgency} urgency)")
        return reply(self._progress(parent), status=201)

    def _window(self, body: SubmitBody) -> tuple[int, int]:
        """Start and end in event time; a start in the past means now. Refused (400): a start
        more than a day ahead, an end not after the start or more than a day after it, however
        the horizon was given."""
        now = self.engine.market_now_ns()
        start = now if body.start_time is None else max(now, _ns(body.start_time))
        if start - now > MAX_START_AHEAD_NS:
            raise self.reject(400, "invalid_body", f"start_time {_iso(body.start_time)} is more "
                              f"than {MAX_DURATION_SECONDS:g} s ahead of the market's clock")
        if body.end_time is None:
            assert body.duration_seconds is not None
            return start, start + int(body.duration_seconds * 1e9)
        end = _ns(body.end_time)
        if end <= start:
            raise self.reject(400, "invalid_body", f"end_time {_iso(body.end_time)} is not after "
                              "the start (start_time, or now on the market's clock)")
        if end - start > MAX_DURATION_NS:
            raise self.reject(400, "invalid_body", f"end_time {_iso(body.end_time)} is more than "
                              f"{MAX_DURATION_SECONDS:g} s after the start (start_time, or now on "
                              "the market's clock)")
        return start, end

    async def list_orders(self, _request: web.Request, _who: Principal) -> web.Response:
        parents = sorted(self.engine.oms.parents.values(), key=lambda p: p.start_ns)
        return reply(OrderList(orders=[self._progress(p) for p in parents]))

    async def get(self, request: web.Request, _who: Principal) -> web.Response:
        return reply(self._progress(self._parent(request)))

    async def cancel(self, request: web.Request, who: Principal) -> web.Response:
        parent = self._parent(request)
        if not self.engine.cancel_parent(parent.parent_id):
            raise self.reject(409, "conflict", f"{parent.parent_id} is no longer being worked")
        self.journal(who, "cancel", parent.parent_id)
        return reply(self._progress(parent))

    def _parent(self, request: web.Request) -> ParentOrder:
        parent_id = request.match_info["parent_id"]
        parent = self.engine.oms.parents.get(parent_id)
        if parent is None:
            raise self.reject(404, "not_found", f"no parent order {parent_id!r}")
        return parent

    def _progress(self, parent: ParentOrder) -> OrderProgress:
        summary = summarise(parent, self.instruments[parent.symbol]).as_dict()
        return OrderProgress.model_validate(
            {"parent_id": parent.parent_id, **summary, "remaining": parent.remaining,
             "active": self.engine.is_active(parent.parent_id)})
