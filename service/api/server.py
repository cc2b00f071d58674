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
from aiohttp.http_exceptions import LineTooLong
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.openapi import docs_page, openapi_document, operations
from service.api.routes import MAX_BODY_BYTES, Handler, OperatorRoutes, add_route, reply
from service.api.schemas import Health, Readiness
from service.metrics import Metrics

log = logging.getLogger(f"execagent.{__name__}")
MAX_LINE_BYTES = 8_190  # aiohttp's longest request line and header (its defaults, kept)
HealthCheck = Callable[[], dict[str, object]]
ReadinessCheck = Callable[[], Readiness]


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
    """``/healthz`` says the process is alive; ``/readyz`` whether it can trade: 200 when
    ``readiness`` says ready, 503 otherwise, with the failing checks and each symbol's reason
    (service/readiness.py)."""
    groups = [routes] if isinstance(routes, OperatorRoutes) else list(routes)
    served = operations("service") + [op for group in groups for op in operations(group.GROUP)]
    document = openapi_document(served)
    page = docs_page(document)

    async def healthz(_: web.Request) -> web.Response:
        return reply(Health.model_validate(health() if health is not None else {}),
                     exclude_none=True)

    async def readyz(_: web.Request) -> web.Response:
        answer = readiness() if readiness is not None else Readiness(ready=True, checks={})
        return reply(answer, status=200 if answer.ready else 503)

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


class _JsonErrorHandler(web.RequestHandler):
    """aiohttp's connection handler, answering its own errors in the API's shape: a request
    its HTTP parser refuses (a request line or a header past aiohttp's 8,190 bytes, bytes that
    are not HTTP) never reaches the application or its middleware, and aiohttp would answer it
    in plain text and log a traceback. The answer does not echo the request (a header may
    hold a token); the log gets one line, and the refusal is counted."""

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)  # never: the middleware
        if request.writer.output_size > 0:  # aiohttp's own rule: an answer already began
            raise ConnectionError("an answer was already sent; cannot send the error")
        text = (f"the request line or a header is longer than {MAX_LINE_BYTES:,} bytes"
                if isinstance(exc, LineTooLong) else
                f"the request is not valid HTTP/1.1 ({type(exc).__name__ if exc else status})")
        log.warning("refused a request from %s before routing: %s", request.remote, text)
        manager = self._manager
        if isinstance(manager, _JsonErrorServer) and manager.on_refused is not None:
            manager.on_refused()
        response = web.json_response({"error": text}, status=status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    """aiohttp's low-level server with :class:`_JsonErrorHandler` for each connection."""

    on_refused: Callable[[], None] | None = None

    def __call__(self) -> web.RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class ApiServer:
    """An aiohttp site on ``host:port`` (port 0 picks a free one; :attr:`port` tells which).

    Two runners: the application's (its start-up and clean-up, and the server it builds), and
    the one that serves that server's handler and request factory through
    :class:`_JsonErrorServer`, so that even what aiohttp refuses before routing is JSON."""

    def __init__(self, app: web.Application, host: str, port: int,
                 metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self._app_runner = web.AppRunner(app, access_log=None)
        self._runner: web.ServerRunner | None = None
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._app_runner.setup()
        built = self._app_runner.server
        assert built is not None  # set up just above
        server = _JsonErrorServer(built.request_handler, request_factory=built.request_factory,
                                  access_log=None)
        if self.metrics is not None:
            server.on_refused = self.metrics.api_rejected.labels("bad_request").inc
        self._runner = web.ServerRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._app_runner.cleanup()
