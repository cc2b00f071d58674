"""What every operator route shares: bearer-token roles, a rate limit on mutations per
principal, validated JSON bodies, refusals that name the problem (counted in
``execagent_api_rejected_requests_total{reason}``), and the journal of mutations (the
``execagent.journal`` logger and ``execagent_api_mutations_total{action}``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from risk.windows import TokenBucket
from service.auth import ANONYMOUS_READER, Principal, Role, Tokens
from service.metrics import Metrics

journal = logging.getLogger("execagent.journal")
Handler = Callable[[web.Request], Awaitable[web.Response]]
Route = Callable[[web.Request, Principal], Awaitable[web.Response]]
Body = TypeVar("Body", bound=BaseModel)

_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    404: web.HTTPNotFound, 409: web.HTTPConflict, 429: web.HTTPTooManyRequests}
# Mutations per principal: a burst of 10, then one every 6 s (10 a minute). An operator never
# needs more; a runaway script gets 429 instead of flooding the journal and the venue.
MUTATION_BURST = 10
MUTATIONS_PER_SECOND = 10 / 60


class OperatorRoutes:
    def __init__(self, tokens: Tokens, metrics: Metrics) -> None:
        self.tokens = tokens
        self.metrics = metrics
        self._buckets: dict[str, TokenBucket] = {}

    def install(self, app: web.Application) -> None:
        """Add this group's routes to ``app``."""
        raise NotImplementedError

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
            raw: Any = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.reject(400, "malformed_json", f"the body is not JSON: {exc}") from exc
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                                 for e in exc.errors())
            raise self.reject(400, "invalid_body", problems) from exc

    def reject(self, status: int, reason: str, message: str) -> web.HTTPException:
        self.metrics.api_rejected.labels(reason).inc()
        return _ERRORS[status](text=json.dumps({"error": message}),
                               content_type="application/json")

    def journal(self, who: Principal, action: str, what: str, **details: object) -> None:
        self.metrics.api_mutations.labels(action).inc()
        extra = "".join(f" {key}={value}" for key, value in details.items())
        journal.warning("%s by %s (%s): %s%s", action, who.name, who.role.name.lower(), what,
                        extra)
