"""``GET /api/v1/model`` and ``execagent model`` over real HTTP: which policy, and for ONNX which
file exactly (sha256) with what metadata."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from models.actions import DEFAULT_ACTION_TABLE
from models.features import FEATURE_SPEC_HASH, FEATURE_SPEC_ID, N_FEATURES
from models.policy_book import PolicyBook
from service.api.auth import Tokens
from service.api.model import ModelRoutes
from service.api.server import ApiServer, build_app
from service.cli import main
from service.metrics import Metrics
from service.oversight.model_slots import ModelSlots
from service.oversight.monitor import Oversight
from service.state.journal import MemoryJournal
from tests.support.onnx_models import buyer_model, desk_book, linear_policy

pytestmark = pytest.mark.integration

READ = "r" * 16
TOKENS = Tokens.parse(f"grafana=read:{READ}")
TRAINING = {"execagent.algorithm": "PPO", "execagent.seed": "7",
            "execagent.git_commit": "abc1234", "execagent.trained_at": "2026-11-23T13:20:51+00:00",
            "execagent.training_data": "stochastic flow"}


def _model(path: Path, extra: dict[str, str] | None = None) -> Path:
    n_actions = len(DEFAULT_ACTION_TABLE)
    return linear_policy(path, np.zeros((N_FEATURES, n_actions), np.float32),
                         np.zeros(n_actions, np.float32), {**TRAINING, **(extra or {})})


def _routes(policy: str, path: Path, book: PolicyBook | None = None) -> ModelRoutes:
    slots = ModelSlots(path, None, Oversight(), MemoryJournal(), policy)
    return ModelRoutes(policy, slots, TOKENS, Metrics(), book)


async def _get(routes: ModelRoutes, token: str | None = READ) -> tuple[int, dict[str, object]]:
    server = ApiServer(build_app(Metrics(), None, routes), "127.0.0.1", 0)
    await server.start()
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/v1/model",
                                                             headers=headers) as response:
            return response.status, await response.json()
    finally:
        await server.stop()


async def test_an_onnx_policy_is_named_by_its_file_hash_and_metadata(tmp_path: Path) -> None:
    path = _model(tmp_path / "policy.onnx")
    status, body = await _get(_routes("onnx", path))
    assert status == 200, body
    assert body["policy"] == "onnx" and body["kind"] == "onnx" and body["problem"] is None
    assert body["path"] == str(path)
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (body["feature_spec_id"], body["feature_spec_hash"]) == (FEATURE_SPEC_ID,
                                                                    FEATURE_SPEC_HASH)
    assert (body["algorithm"], body["seed"], body["git_commit"], body["trained_at"],
            body["training_data"]) == ("PPO", "7", "abc1234", "2026-11-23T13:20:51+00:00",
                                       "stochastic flow")
    assert body["action_table"] == [{"kind": kind.name, "multiple": float(multiple)}
                                    for kind, multiple in DEFAULT_ACTION_TABLE]
    assert body["metadata"]["execagent.seed"] == "7"  # type: ignore[index]


async def test_a_new_model_file_is_seen_without_a_restart(tmp_path: Path) -> None:
    path = _model(tmp_path / "policy.onnx")
    routes = _routes("onnx", path)
    first = await routes.info()
    _model(path, {"execagent.seed": "8", "execagent.note": "retrained"})
    second = await routes.info()
    assert second.sha256 != first.sha256 and second.seed == "8"
    assert second.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_book_is_described_as_the_service_picks_by_it(tmp_path: Path) -> None:
    """The service reads its book at start and loads each entry's model per parent: a model
    file replaced under the book is what new parents get, and what the answer describes; the
    book file edited is not, until a restart."""
    path = desk_book(tmp_path)
    routes = _routes("onnx", path, PolicyBook(path))
    first = await routes.info()
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    buyer = buyer_model(tmp_path / "buyer.onnx", 1, {"execagent.git_commit": "retrained"})
    second = await routes.info()
    assert first.entries is not None and second.entries is not None
    assert second.entries[0].sha256 == hashlib.sha256(buyer.read_bytes()).hexdigest()
    assert second.entries[0].sha256 != first.entries[0].sha256
    assert second.entries[0].git_commit == "retrained"
    assert second.entries[1] == first.entries[1] and second.sha256 == first.sha256
    path.write_text("entries:\n  - model: desk-sell.onnx\n    sides: [sell]\n")
    assert await routes.info() == second


async def test_a_baseline_is_just_its_name(tmp_path: Path) -> None:
    status, body = await _get(_routes("twap_passive", tmp_path / "unused.onnx"))
    assert status == 200
    assert {k: v for k, v in body.items() if v is not None} == {"policy": "twap_passive",
                                                                "kind": "baseline"}


@pytest.mark.parametrize("content, problem", [
    (None, "No such file or directory"),
    (b"not a model", "is not a valid ONNX model"),
])
async def test_an_unusable_model_file_is_described_not_a_server_error(
        tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "policy.onnx"
    if content is not None:
        path.write_bytes(content)
    status, body = await _get(_routes("onnx", path))
    assert status == 200 and problem in str(body["problem"])
    assert body["sha256"] == (None if content is None else hashlib.sha256(content).hexdigest())


async def test_it_needs_a_token_when_tokens_are_configured(tmp_path: Path) -> None:
    status, body = await _get(_routes("twap", tmp_path / "x.onnx"), None)
    assert status == 401 and "Bearer" in str(body["error"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The API on its own event loop in a thread, as a running service would be."""
    path = _model(tmp_path / "policy.onnx")
    loop = asyncio.new_event_loop()
    server = ApiServer(build_app(Metrics(), None, _routes("onnx", path)),
                       "127.0.0.1", 0)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.url, path
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_execagent_model_prints_it(served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    url, path = served
    monkeypatch.setenv("EXECAGENT_API_TOKEN", READ)
    assert main(["model", "--url", url]) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(path.read_bytes()).hexdigest() in out and '"PPO"' in out
    monkeypatch.setenv("EXECAGENT_API_TOKEN", "wrong-token-123456")
    assert main(["model", "--url", url]) == 1
    assert "execagent model: 401" in capsys.readouterr().err
