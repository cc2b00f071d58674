"""Monitoring as code, proved against a real Prometheus.

A Prometheus server (Debian's ``prometheus`` binary, scripts/ensure-promtool.sh) scrapes a
running service, connected over FIX to the simulated venue exactly as the other end-to-end
tests connect it, while it works two parent orders. Then every expression of every panel of
the Grafana dashboard must return at least one series (a panel that shows nothing is a bug),
the dashboard's variable must find the instance, and every alert expression must evaluate
without error, both through the query API and in Prometheus's own rule evaluation.

The Prometheus configuration is the shipped deploy/prometheus/prometheus.yml with the target,
the intervals (1 s) and the rule file's path changed: a broken shipped config fails here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from core.domain import Side
from models.registry import make_policy
from service.app import Service
from service.net import free_port
from service.oversight.config import ExpectedShortfall, OversightConfig
from service.posture.config import PostureConfig
from tests.support.posture import small_params
from tests.support.scripted_flow import ScriptedFlow
from tests.support.session import running_service, scripted_venue, service_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "execagent.json"
# Grafana's variables, made concrete: ranges long enough to hold several 1 s scrapes.
VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m",
             "$instance": ".*", "${instance}": ".*"}
WAIT_S = 40.0


def _binary(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not on PATH: run scripts/ensure-promtool.sh (make test does)")
    return exe


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel, rows' panels included."""
    def walk(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
        found = []
        for panel in panels:
            found += [(panel["title"], t["expr"]) for t in panel.get("targets", []) if "expr" in t]
            found += walk(panel.get("panels", []))
        return found
    return walk(json.loads(DASHBOARD.read_text())["panels"])


def concrete(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    left = re.findall(r"\$\{?\w+", expr)
    assert not left, f"dashboard variable(s) {left} have no test value: {expr}"
    return expr


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@dataclass
class Prometheus:
    url: str
    http: aiohttp.ClientSession

    async def query(self, expr: str) -> tuple[str, list[dict[str, Any]], str]:
        """(status, result, error) of an instant query now."""
        async with self.http.get(f"{self.url}/api/v1/query", params={"query": expr}) as reply:
            body = await reply.json()
        return body["status"], body.get("data", {}).get("result", []), body.get("error", "")

    async def value(self, expr: str) -> float:
        status, result, error = await self.query(expr)
        assert status == "success", f"{expr}: {error}"
        return max((float(r["value"][1]) for r in result), default=0.0)

    async def wait_for(self, expr: str, at_least: float, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while await self.value(expr) < at_least:
            assert time.monotonic() < deadline, f"Prometheus never saw {what} ({expr})"
            await asyncio.sleep(0.5)


def _prometheus_config(target: str, work: Path) -> Path:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "execagent"]
    job["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = [job]
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def running_prometheus(target: str) -> AsyncIterator[Prometheus]:
    """A Prometheus on a free loopback port scraping ``target``; stopped and its directory
    removed whatever happens."""
    exe = _binary("prometheus")
    work = Path(tempfile.mkdtemp(prefix="execagent-prometheus-"))
    process: subprocess.Popen[bytes] | None = None
    log = work / "prometheus.log"
    try:
        port = free_port()
        with log.open("wb") as sink:
            process = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited
                [exe, f"--config.file={_prometheus_config(target, work)}",
                 f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                 "--log.level=warn"], stdout=sink, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            deadline = time.monotonic() + WAIT_S
            while True:
                assert process.poll() is None, f"prometheus exited:\n{log.read_text()}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/-/ready") as reply:
                        if reply.status == 200:
                            break
                assert time.monotonic() < deadline, f"prometheus not ready:\n{log.read_text()}"
                await asyncio.sleep(0.2)
            yield Prometheus(url, http)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """The service against the simulated venue, as tests/e2e/test_service_api.py starts it;
    the venue runs 30x real time so a one-minute parent finishes in seconds."""
    port = free_port()
    venue = scripted_venue(tmp_path, port, speed=30.0, flow=ScriptedFlow(
        bid=58000, ask=58002, heartbeat_ns=500_000_000))
    # The risk posture on, with a model made here whose extremes the scripted market never
    # nears (the parents must trade), and drift compared every 50 observations; expected costs
    # for the baselines, so that live TCA has something to show.
    model = tmp_path / "posture.json"
    model.write_text(json.dumps(small_params(warmup_s=1.0).to_json()))
    config = service_config(
        tmp_path, port, posture=PostureConfig(enabled=True, model_path=model),
        oversight=OversightConfig(drift_window=50, expected_shortfall={
            name: ExpectedShortfall(mean_bps=3.0, std_bps=8.0)
            for name in ("twap", "twap_passive")}))
    async with running_service(venue, config) as running:
        yield running


async def test_every_dashboard_panel_and_alert_works_against_a_real_prometheus(
        service: Service) -> None:
    promtool = _binary("promtool")
    checked = await asyncio.to_thread(
        subprocess.run, [promtool, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")],
        capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert service.api is not None
    target = f"127.0.0.1:{service.api.port}"
    async with running_prometheus(target) as prom:
        await prom.wait_for('up{job="execagent"}', 1, "the service's target up")
        # Metrics move: an aggressive TWAP parent that finishes within seconds (IOCs at the
        # bid), and a passive one that keeps working through the test.
        _done, finished = service.submit(Side.SELL, 1_000, "GOOG", 60.0, make_policy("twap"))
        service.submit(Side.SELL, 500, "GOOG", 1_200.0, make_policy("twap_passive"))
        await asyncio.wait_for(finished.wait(), WAIT_S)
        await prom.wait_for('execagent_parent_orders_completed_total{outcome="filled"}', 1,
                            "the finished parent")
        await prom.wait_for('count_over_time(up{job="execagent"}[1m])', 5, "five scrapes")

        # The wiring, seen through Prometheus: what the run must have moved.
        moved = {
            'execagent_fix_messages_total{direction="out", msg_type="logon"}': 1,
            'execagent_fix_messages_total{direction="in", msg_type="market_data_incremental"}': 1,
            'execagent_fix_messages_total{direction="out", msg_type="new_order_single"}': 2,
            "execagent_fix_session_up": 1,
            "execagent_orders_filled_total": 1,  # the first IOC takes a whole level
            "-execagent_position_shares": 1_000,  # sold
            "execagent_parent_remaining_shares": 1,  # the passive parent is still worked
            "execagent_parent_final_shortfall_bps_count": 1,
            'execagent_store_write_seconds_count{operation="record_fill"}': 2,
            "execagent_event_loop_lag_seconds_count": 1,
            "process_resident_memory_bytes": 1,
        }
        for expr, at_least in moved.items():
            assert await prom.value(expr) >= at_least, expr

        empty = []
        for title, expr in dashboard_expressions():
            status, result, error = await prom.query(concrete(expr))
            if status != "success" or not result:
                empty.append(f"{title!r}: {expr} -> {error or 'no series'}")
        assert not empty, "dashboard panels that would show nothing:\n" + "\n".join(empty)

        # The dashboard's instance variable: label_values(<selector>, instance).
        variable = json.loads(DASHBOARD.read_text())["templating"]["list"][0]
        selector = re.fullmatch(r"label_values\((.+), instance\)", variable["definition"])
        assert selector is not None, variable["definition"]
        async with prom.http.get(f"{prom.url}/api/v1/series",
                                 params={"match[]": selector.group(1)}) as reply:
            series = (await reply.json())["data"]
        assert {s["instance"] for s in series} == {target}

        for rule in alert_rules():
            status, _result, error = await prom.query(rule["expr"])
            assert status == "success", f"{rule['alert']}: {error}"
        await _wait_rules_evaluated(prom, {rule["alert"] for rule in alert_rules()})


async def _wait_rules_evaluated(prom: Prometheus, names: set[str]) -> None:
    """Prometheus's own evaluation of the loaded rule file: every alert evaluated, none
    in error."""
    deadline = time.monotonic() + WAIT_S
    while True:
        async with prom.http.get(f"{prom.url}/api/v1/rules") as reply:
            groups = (await reply.json())["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == names
        errors = {n: r.get("lastError") for n, r in rules.items() if r["health"] == "err"}
        assert not errors, f"alert rules failing in Prometheus: {errors}"
        if all(r["health"] == "ok" for r in rules.values()):
            return
        assert time.monotonic() < deadline, f"rules never evaluated: {rules}"
        await asyncio.sleep(0.5)
