"""The HTTP surface: liveness, Prometheus metrics and the operator routes.

Bound to 127.0.0.1 by default: an execution service's controls are not for the open network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service.metrics import Metrics
from service.routes import OperatorRoutes

HealthCheck = Callable[[], dict[str, object]]
ReadinessCheck = Callable[[], dict[str, bool]]


def build_app(metrics: Metrics, health: HealthCheck | None = None,
              routes: OperatorRoutes | Sequence[OperatorRoutes] = (),
              readiness: ReadinessCheck | None = None) -> web.Application:
    """``/healthz`` says the process is alive; ``/readyz`` whether it can trade: 200 when every
    readiness check passes, 503 with the failing ones named otherwise."""
    async def healthz(_: web.Request) -> web.Response:
        body: dict[str, object] = {"status": "ok"}
        if health is not None:
            body.update(health())
        return web.json_response(body)

    async def readyz(_: web.Request) -> web.Response:
        checks = readiness() if readiness is not None else {}
        ready = all(checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics_handler(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    for group in [routes] if isinstance(routes, OperatorRoutes) else routes:
        group.install(app)
    return app


class ApiServer:
    """An aiohttp site on ``host:port`` (port 0 picks a free one; :attr:`port` tells which)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
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
