"""``execagent status | kill | resume`` against a real API server on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from risk.state import TradingState
from service.api.auth import Tokens
from service.api.risk import RiskRoutes
from service.api.server import ApiServer, build_app
from service.cli import main
from service.metrics import Metrics
from service.net import free_port
from tests.support.risk import make_overlay

pytestmark = pytest.mark.integration

TRADE, ADMIN = "t" * 16, "a" * 16


@pytest.fixture
def served() -> Iterator[tuple[str, object]]:
    """An API server on its own event loop in a thread, as a running service would be."""
    risk = make_overlay()
    loop = asyncio.new_event_loop()
    metrics = Metrics()
    server = ApiServer(build_app(metrics, None, RiskRoutes(
        risk, Tokens.parse(f"alice=trade:{TRADE},bob=admin:{ADMIN}"), metrics, lambda: 0)),
        "127.0.0.1", 0)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.url, risk
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_kill_status_resume(served: tuple[str, object], monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    url, risk = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", TRADE)
    assert main(["kill", "--url", url, "--reason", "drill"]) == 0
    assert risk.state is TradingState.HALTED  # type: ignore[attr-defined]
    assert main(["status", "--url", url]) == 0
    assert '"trading_state": "halted"' in capsys.readouterr().out
    assert main(["resume", "--url", url, "--reason", "drill over"]) == 1
    assert "needs admin" in capsys.readouterr().err
    monkeypatch.setenv("EXECAGENT_API_TOKEN", ADMIN)
    assert main(["resume", "--url", url, "--reason", "drill over"]) == 0
    assert risk.state is TradingState.ACTIVE  # type: ignore[attr-defined]


def test_no_service_answering_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--url", f"http://127.0.0.1:{free_port()}"]) == 2
    assert "no answer from" in capsys.readouterr().err
