"""``execagent order submit | list | get | cancel`` and ``execagent model`` against a running
service (simulated FIX venue over loopback), the service on its own event loop in a thread as
it would be in its own process."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.app import Service
from service.cli import main
from service.config import (
    ApiConfig,
)
from service.net import free_port
from tests.support.session import scripted_venue, service_config

pytestmark = pytest.mark.e2e

TRADE, READ = "t" * 20, "r" * 20


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Service]]:
    port = free_port()
    venue = scripted_venue(tmp_path, port)
    config = service_config(tmp_path, port, api=ApiConfig(
        port=0, tokens=SecretStr(f"ops=trade:{TRADE},viewer=read:{READ}")))
    venue.start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = Service(config)
    try:
        asyncio.run_coroutine_threadsafe(running.start(), loop).result(60)
        asyncio.run_coroutine_threadsafe(running.wait_ready(), loop).result(60)
        assert running.api is not None
        yield running.api.url, running
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        venue.stop()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submit_list_get_cancel(served: tuple[str, Service], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    url, running = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", TRADE)
    code, out, err = _run(capsys, "order", "submit", "--url", url, "--symbol", "GOOG", "--side",
                          "sell", "--qty", "500", "--duration", "600", "--limit-price", "579.00")
    assert code == 0, err
    created = json.loads(out)
    parent_id = created["parent_id"]
    assert (created["side"], created["quantity"], created["active"]) == ("sell", 500, True)
    assert running.engine is not None and running.engine.oms.parents[parent_id].limit_price == \
        57_900

    monkeypatch.setenv("EXECAGENT_API_URL", url)  # the URL from the environment from here on
    code, out, _ = _run(capsys, "order", "list")
    assert code == 0 and [o["parent_id"] for o in json.loads(out)["orders"]] == [parent_id]
    code, out, _ = _run(capsys, "order", "get", parent_id)
    assert code == 0 and json.loads(out)["remaining"] == 500

    assert _run(capsys, "order", "cancel", parent_id)[0] == 0
    deadline = time.monotonic() + 30
    while running.engine.is_active(parent_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    code, _, err = _run(capsys, "order", "cancel", parent_id)
    assert code == 1 and "409" in err and "no longer being worked" in err
    code, _, err = _run(capsys, "order", "get", "P404")
    assert code == 1 and "no parent order 'P404'" in err


def test_submit_until_an_end_time(served: tuple[str, Service],
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    url, running = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", TRADE)
    end = (datetime.now().astimezone() + timedelta(minutes=10)).isoformat(timespec="seconds")
    code, out, err = _run(capsys, "order", "submit", "--url", url, "--symbol", "GOOG",
                          "--side", "buy", "--qty", "100", "--end", end)
    assert code == 0, err
    parent = running.engine.oms.parents[json.loads(out)["parent_id"]]  # type: ignore[union-attr]
    assert 0 < parent.end_ns - parent.start_ns <= 600e9


@pytest.mark.parametrize("token, argv, message", [
    (READ, ["--symbol", "GOOG", "--side", "buy", "--qty", "1", "--duration", "60"],
     "403 viewer has the read role; this needs trade"),
    (TRADE, ["--symbol", "AAPL", "--side", "buy", "--qty", "1", "--duration", "60"],
     "400 symbol 'AAPL' is not configured"),
    (TRADE, ["--symbol", "GOOG", "--side", "buy", "--qty", "1", "--duration", "60",
             "--limit-price", "579.005"], "not on the 0.01 tick grid"),
    (TRADE, ["--symbol", "GOOG", "--side", "buy", "--qty", "1", "--duration", "60",
             "--policy", "magic"], "policy: Input should be"),
    ("", ["--symbol", "GOOG", "--side", "buy", "--qty", "1", "--duration", "60"],
     "401 send Authorization: Bearer <token>"),
])
def test_refusals_exit_1_with_the_service_message(
        served: tuple[str, Service], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], token: str, argv: list[str], message: str) -> None:
    url, running = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", token)
    code, _, err = _run(capsys, "order", "submit", "--url", url, *argv)
    assert code == 1 and err.startswith("execagent order submit: ") and message in err, err
    assert running.engine is not None and not running.engine.oms.parents


def test_model_names_the_baseline(served: tuple[str, Service], monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", READ)
    code, out, _ = _run(capsys, "model", "--url", url)
    assert code == 0
    assert json.loads(out)["policy"] == "twap_passive" and json.loads(out)["kind"] == "baseline"


@pytest.mark.parametrize("argv, message", [
    (["--duration", "60", "--end", "15:00"], "not allowed with argument"),
    ([], "one of the arguments --duration --end is required"),
    (["--duration", "-5"], "must be a positive number of seconds"),
    (["--duration", "60", "--limit-price", "cheap"], "'cheap' is not a decimal price"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["order", "submit", "--symbol", "GOOG", "--side", "buy", "--qty", "1", *argv])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_an_end_in_the_past_or_no_service_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    past = (datetime.now().astimezone() - timedelta(minutes=1)).isoformat()
    code, _, err = _run(capsys, "order", "submit", "--url", url, "--symbol", "GOOG", "--side",
                        "buy", "--qty", "1", "--end", past)
    assert code == 2 and "is not in the future" in err
    code, _, err = _run(capsys, "order", "list", "--url", url)
    assert code == 2 and "execagent order list: no answer from" in err
