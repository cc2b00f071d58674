"""What every operator route shares: bearer-token roles, a rate limit on mutations per
principal, JSON bodies validated strictly, refusals that name the problem (counted in
``execagent_api_rejected_requests_total{reason}``), and the journal of mutations (the
``execagent.journal`` logger and ``execagent_api_mutations_total{action}``).

Bodies are read by pydantic's JSON mode straight from the bytes, with strict types: a number
must be a JSON number (``true`` is no quantity, and ``"10"`` none either), a time an ISO 8601
string, a decimal price a string or a number (read from its digits, exactly); NaN, infinities
and numbers beyond a double are refused. Its parser bounds nesting (200 levels), so a deeply
nested body is a 400 like any malformed one, never a RecursionError.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.config_errors import problems
from core.windows import TokenBucket
from service.api.auth import ANONYMOUS_READER, Principal, Role, Tokens
from service.api.openapi import Group, Operation, operations
from service.metrics import Metrics
from service.state.journal import Journal, record_operator_action

journal = logging.getLogger("execagent.journal")
Handler = Callable[[web.Request], Awaitable[web.Response]]
Route = Callable[[web.Request, Principal], Awaitable[web.Response]]
Body = TypeVar("Body", bound=BaseModel)

# Mutations per principal: a burst of 10, then one every 6 s (10 a minute). An operator never
# needs more; a runaway script gets 429 instead of flooding the journal and the venue.
MUTATION_BURST = 10
MUTATIONS_PER_SECOND = 10 / 60
MAX_BODY_BYTES = 64 * 1024  # 413 beyond: a limits file with a few hundred symbols fits
_ERRORS: dict[int, Callable[..., web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    404: web.HTTPNotFound, 409: web.HTTPConflict,
    413: functools.partial(web.HTTPRequestEntityTooLarge, MAX_BODY_BYTES),
    429: web.HTTPTooManyRequests}


def reply(answer: BaseModel, status: int = 200, exclude_none: bool = False) -> web.Response:
    """``answer`` as JSON, as its model (and so the OpenAPI document) spells it."""
    return web.json_response(answer.model_dump(mode="json", by_alias=True,
                                               exclude_none=exclude_none), status=status)


def add_route(app: web.Application, op: Operation, handler: Handler) -> None:
    """``op`` served by ``handler``; a GET answers HEAD too, as aiohttp's ``add_get`` does."""
    if op.method == "GET":
        app.router.add_get(op.path, handler)
    else:
        app.router.add_route(op.method, op.path, handler)


class OperatorRoutes:
    """A group of routes; subclasses name their group in the route table
    (:data:`service.api.openapi.OPERATIONS`) and implement the handlers it names."""

    GROUP: ClassVar[Group]

    def __init__(self, tokens: Tokens, metrics: Metrics) -> None:
        self.tokens = tokens
        self.metrics = metrics
        self._buckets: dict[str, TokenBucket] = {}
        self.audit: Journal | None = None  # the service's audit journal, set when it has one

    def install(self, app: web.Application) -> None:
        """Add this group's routes to ``app``, each behind the role the table gives it."""
        for op in operations(self.GROUP):
            if op.role is None:
                raise TypeError(f"{op.method} {op.path}: operator routes need a role")
            add_route(app, op, self.guard(op.role, getattr(self, op.handler)))

    def guard(self, needed: Role, route: Route) -> Handler:
        """The handler for ``route``, refusing callers below ``needed``. With no token
        configured, reads are open and mutations refused."""
        async def handler(request: web.Request) -> web.Response:
            who = self.tokens.identify(request.headers.get("Authorization"))
            if who is None:
                if not self.tokens.configured and needed > Role.READ:
                    raise self.reject(403, "no_tokens", "mutations are disabled: no API tokens "
                                      "are configured (api.tokens or api.tokens_file)")
                if self.tokens.configured:
                    raise self.reject(401, "unauthenticated", "send Authorization: Bearer <token>")
                who = ANONYMOUS_READER
            if who.role < needed:
                raise self.reject(403, "forbidden", f"{who.name} has the {who.role.name.lower()} "
                                  f"role; this needs {needed.name.lower()}")
            if request.method != "GET" and not self._bucket(who).take(time.monotonic_ns()):
                raise self.reject(429, "rate_limited", f"{who.name}: more than "
                                  f"{MUTATION_BURST} changes in a row; one every "
                                  f"{1 / MUTATIONS_PER_SECOND:g} s after that")
            return await route(request, who)
        return handler

    def _bucket(self, who: Principal) -> TokenBucket:
        bucket = self._buckets.get(who.name)
        if bucket is None:
            bucket = self._buckets[who.name] = TokenBucket(MUTATIONS_PER_SECOND, MUTATION_BURST)
        return bucket

    async def body(self, request: web.Request, model: type[Body]) -> Body:
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise self.reject(413, "too_large", f"the body is larger than "
                              f"{MAX_BODY_BYTES} bytes") from exc
        try:
            return model.model_validate_json(data)
        except ValidationError as exc:
            if any(problem["type"] == "json_invalid" for problem in exc.errors()):
                raise self.reject(400, "malformed_json",
                                  f"the body is not JSON: {exc.errors()[0]['msg']}") from exc
            raise self.reject(400, "invalid_body", "; ".join(problems(exc, top="body"))) from exc

    def reject(self, status: int, reason: str, message: str) -> web.HTTPException:
        self.metrics.api_rejected.labels(reason).inc()
        return _ERRORS[status](text=json.dumps({"error": message}),
                               content_type="application/json")

    def journal(self, who: Principal, action: str, what: str, **details: object) -> None:
        self.metrics.api_mutations.labels(action).inc()
        extra = "".join(f" {key}={value}" for key, value in details.items())
        record_operator_action(self.audit, who.name, who.role.name.lower(), action,
                               f"{what}{extra}")
