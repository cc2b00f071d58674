"""Shadow deployment end to end: a candidate shadows the live policy on a replayed market,
journals what it would have done into a real Redis journal, ``execagent shadow report`` reads it
back, and the admin API promotes the candidate without a restart and rolls it back the same way.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import redis

from core.domain import Instrument, Side
from models.actions import DEFAULT_ACTION_TABLE
from models.features import N_FEATURES
from models.policy import OnnxPolicy
from risk.limits import load_limits
from service.api.auth import Tokens
from service.api.model import ModelRoutes
from service.api.server import ApiServer, build_app
from service.cli import main
from service.evaluation.backtest import EpisodeSpec, run_episode
from service.metrics import Metrics
from service.oversight.model_slots import ModelSlots
from service.oversight.monitor import Oversight
from service.state.journal import MemoryJournal, RedisJournal, trading_day
from sim.calibrate import load_flow_params
from sim.exchange import SimExchange
from sim.flow import StochasticFlow
from tests.support.onnx_models import linear_policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN, TRADE = "a" * 16, "t" * 16
TOKENS = Tokens.parse(f"bob=admin:{ADMIN},alice=trade:{TRADE}")
START_NS = 1_340_280_000 * 10**9


def _always(path: Path, action: int) -> Path:
    """A policy whose logits always pick ``action`` of the table."""
    bias = np.zeros(len(DEFAULT_ACTION_TABLE), np.float32)
    bias[action] = 1.0
    return linear_policy(path, np.zeros((N_FEATURES, len(bias)), np.float32), bias)


def test_a_shadow_journals_what_it_would_do_and_the_report_compares(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    journal = RedisJournal(REDIS_URL, namespace=namespace, flush_at=100_000)
    live = OnnxPolicy(_always(tmp_path / "live.onnx", 1), name="rl")  # rest at the touch
    oversight = Oversight()
    slots = ModelSlots(tmp_path / "live.onnx", _always(tmp_path / "cand.onnx", 5), oversight,
                       journal, "onnx")  # the candidate crosses a slice every decision
    assert oversight.shadow is not None
    spec = EpisodeSpec("GOOG", Side.SELL, 600, 120.0, 30.0, warmup_s=10.0)
    exchange = SimExchange("GOOG", StochasticFlow(load_flow_params(
        ROOT / "sim" / "params" / "GOOG_2012-06-21.json"), seed=11), START_NS)
    result = run_episode(live, exchange, spec, Instrument("GOOG", Decimal("0.01")),
                         load_limits(ROOT / "deploy" / "risk" / "limits.demo.yaml"), Metrics(),
                         1, oversight=oversight)
    journal.flush()
    try:
        entries = journal.read(trading_day(START_NS))
        shadow = [e for e in entries if e["kind"] == "shadow"]
        [summary] = [e for e in entries if e["kind"] == "shadow_summary"]
        assert shadow and {e["action"] for e in shadow} >= {"cross 150"}
        assert all(e["live_action"] in ("", "rest_near 150") for e in shadow)
        assert summary["model"] == slots.shadow.sha256[:12]  # type: ignore[union-attr]
        assert float(summary["live_shortfall_bps"]) == pytest.approx(result.shortfall_bps,
                                                                     abs=1e-3) or \
            result.filled < 600
        assert int(summary["agreements"]) == 0 and int(summary["compared"]) > 0
        day = trading_day(START_NS).isoformat()
        out = tmp_path / "report.json"
        assert main(["shadow", "report", "--date", day, "--namespace", namespace,
                     "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["paired_parents"] == 1 and report["agreement"] == 0.0
        assert "shadow - live" in capsys.readouterr().out
        assert main(["shadow", "report", "--date", "2001-01-01", "--namespace",
                     namespace]) == 2
        assert main(["shadow", "report", "--date", "yesterday"]) == 2
    finally:
        redis.Redis.from_url(REDIS_URL).delete(journal.key(trading_day(START_NS)))
        journal.close()


async def _post(url: str, path: str, token: str, body: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}) as reply:
        return reply.status, await reply.json()


async def test_promote_and_roll_back_without_a_restart(tmp_path: Path) -> None:
    live_path = _always(tmp_path / "live.onnx", 1)
    cand_path = _always(tmp_path / "cand.onnx", 5)
    audit = MemoryJournal()
    oversight = Oversight()
    slots = ModelSlots(live_path, cand_path, oversight, audit, "onnx")
    metrics = Metrics()
    routes = ModelRoutes("onnx", slots, TOKENS, metrics)
    routes.audit = audit
    server = ApiServer(build_app(metrics, None, routes), "127.0.0.1", 0)
    await server.start()
    try:
        reason = {"reason": "shadowed a week, cheaper on every parent"}
        status, body = await _post(server.url, "/api/v1/model/promote", TRADE, reason)
        assert status == 403 and slots.live_path == live_path
        status, body = await _post(server.url, "/api/v1/model/rollback", ADMIN, reason)
        assert status == 409 and "no promotion" in str(body["error"])
        status, body = await _post(server.url, "/api/v1/model/promote", ADMIN, reason)
        assert status == 200, body
        assert body["live_path"] == str(cand_path) and body["shadow_path"] == str(live_path)
        assert slots.live_path == cand_path and (await routes.info()).path == str(cand_path)
        assert oversight.shadow is not None and oversight.shadow.model == \
            hashlib.sha256(live_path.read_bytes()).hexdigest()[:12]
        status, body = await _post(server.url, "/api/v1/model/rollback", ADMIN, reason)
        assert status == 200 and slots.live_path == live_path
        # A shadow file replaced on disk since it was loaded was never watched: refused.
        shutil.copy(_always(tmp_path / "other.onnx", 3), cand_path)
        status, body = await _post(server.url, "/api/v1/model/promote", ADMIN, reason)
        assert status == 409 and "changed on disk" in str(body["error"])
        assert slots.live_path == live_path
        actions = [e["action"] for e in audit.entries if e["kind"] == "operator"]
        assert actions == ["model_promote", "model_rollback"]
        text = metrics.render().decode()
        assert 'execagent_model_changes_total{action="promote"} 1.0' in text
    finally:
        await server.stop()


def test_promotion_is_refused_without_a_shadow(tmp_path: Path) -> None:
    slots = ModelSlots(_always(tmp_path / "live.onnx", 1), None, Oversight(), None, "onnx")
    with pytest.raises(ValueError, match="no shadow"):
        slots.promote()
