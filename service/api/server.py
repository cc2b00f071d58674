"""The HTTP surface: liveness, Prometheus metrics, the OpenAPI document and the operator routes.

Bound to 127.0.0.1 by default: an execution service's controls are not for the open network.
Every route comes from the table in :mod:`service.api.openapi`; ``/openapi.json`` and ``/docs``
describe the routes this app actually serves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.openapi import docs_page, openapi_document, operations
from service.api.routes import MAX_BODY_BYTES, Handler, OperatorRoutes, add_route, reply
from service.api.schemas import Health, Readiness
from service.metrics import Metrics

log = logging.getLogger(f"execagent.{__name__}")
HealthCheck = Callable[[], dict[str, object]]
ReadinessCheck = Callable[[], dict[str, bool]]


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) \
        -> web.StreamResponse:
    """Every error answer is JSON ``{"error": ...}``: the refusals the routes raise already are;
    aiohttp's own (404 for an unknown path, 405, 413) get the same shape, and a fault of the
    service a 500 that names no internals (the traceback goes to the log, not the client)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        exc.text = json.dumps({"error": exc.text or exc.reason})
        exc.content_type = "application/json"
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error (logged by the service)"}, status=500)


def build_app(metrics: Metrics, health: HealthCheck | None = None,
              routes: OperatorRoutes | Sequence[OperatorRoutes] = (),
              readiness: ReadinessCheck | None = None) -> web.Application:
    """``/healthz`` says the process is alive; ``/readyz`` whether it can trade: 200 when every
    readiness check passes, 503 with the failing ones named otherwise."""
    groups = [routes] if isinstance(routes, OperatorRoutes) else list(routes)
    served = operations("service") + [op for group in groups for op in operations(group.GROUP)]
    document = openapi_document(served)
    page = docs_page(document)

    async def healthz(_: web.Request) -> web.Response:
        return reply(Health.model_validate(health() if health is not None else {}),
                     exclude_none=True)

    async def readyz(_: web.Request) -> web.Response:
        checks = readiness() if readiness is not None else {}
        ready = all(checks.values())
        return reply(Readiness(ready=ready, checks=checks), status=200 if ready else 503)

    async def metrics_handler(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    async def docs(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    handlers: dict[str, Handler] = {"healthz": healthz, "readyz": readyz,
                                    "metrics": metrics_handler, "openapi": openapi, "docs": docs}
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
    for op in operations("service"):
        add_route(app, op, handlers[op.handler])
    for group in groups:
        group.install(app)
    return app


class ApiServer:
    """An aiohttp site on ``host:port`` (port 0 picks a free one; :attr:`port` tells which)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self._runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
