"""Kill the service with SIGKILL while it works parent orders, restart it, and audit the result.

One harness for the crash test in ``make test`` (tests/e2e/test_crash_recovery.py, 20 kills) and
the longer run in ``make bench`` (bench/bench_crash_recovery.py, 200 kills; docs/reliability.md).

The parts are real: the simulated FIX venue (in this process, driven by the order flow
calibrated to LOBSTER GOOG 2012-06-21, accelerated, *without* cancel-on-disconnect, so orders
keep working and filling while the service is dead), the service as its own process
(``execagent run``) on the Redis store at 127.0.0.1:6379 under a namespace of its own, talking
FIX over loopback with its quickfix FileStore on disk. The harness submits sell parent orders
through the HTTP API, always keeping one active, and kills the process at random moments.

The audit compares three independent records: the venue's (what it filled, which ClOrdIDs it
received, read from its own FIX message log, and what still works there), the store's (fills
by ExecID, parent orders), and the restarted service's (the risk overlay's position, the
parents' progress, the trading state, through the API).
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from gateways.venue.config import VenueConfig, VenueSymbol
from gateways.venue.flows import stochastic_flow
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from service.state.redis_store import RedisStore

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-token-0123456789"
SOH = "\x01"


@dataclass
class CrashAudit:
    """What the three records say after the last restart, once every parent is finished."""

    kills: int
    parents: int
    parents_unfinished: int
    venue_filled: int
    store_filled: int  # sum of the store's fills (by ExecID)
    parents_filled: int  # sum of the parents' filled quantities as the service reports them
    position: int  # the restarted service's risk overlay
    cl_ord_ids_sent_twice: list[str]
    venue_working_unknown: list[str]  # orders working at the venue the service does not know
    trading_state: str
    restart_seconds: list[float] = field(default_factory=list)  # start to FIX logon, per restart
    # How hard the kills hit, from the service's logs and the venue's FIX event log:
    restarts_with_working_orders: int = 0  # the store held orders working at the venue
    recovered_fills: int = 0  # fills only an order-status answer revealed
    messages_resent_by_venue: int = 0  # execution reports the dead process had not taken

    @property
    def exact(self) -> bool:
        return (self.venue_filled == self.store_filled == self.parents_filled == -self.position
                and not self.cl_ord_ids_sent_twice and not self.venue_working_unknown
                and self.parents_unfinished == 0)


class CrashHarness:
    def __init__(self, workdir: Path, seed: int, speed: float = 10.0,
                 redis_url: str = "redis://127.0.0.1:6379/0") -> None:
        self.workdir = workdir
        self.random = random.Random(seed)
        self.speed = speed
        self.redis_url = redis_url
        self.namespace = f"crash-{uuid.uuid4().hex[:12]}"
        self.fix_port = free_port()
        self.api_port = free_port()
        symbol = VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                             start_price=Decimal("580.00"), seed=seed)
        self.venue = SimulatedVenue(
            VenueConfig(port=self.fix_port, speed=speed, cancel_on_disconnect=False,
                        state_dir=workdir / "venue", symbols=[symbol]),
            flows={"GOOG": stochastic_flow(symbol)})
        self.config_path = self._write_config()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.restart_seconds: list[float] = []
        self.parents: list[str] = []

    # --- the pieces ---------------------------------------------------------------------------
    def _write_config(self) -> Path:
        limits = yaml.safe_load((ROOT / "deploy/risk/limits.demo.yaml").read_text())
        limits["symbols"]["GOOG"]["max_short_position"] = 10_000_000  # many parents, one side
        limits_path = self.workdir / "limits.yaml"
        limits_path.write_text(yaml.safe_dump(limits))
        config = {
            "mode": "live",
            "instruments": [{"symbol": "GOOG", "tick_size": "0.01"}],
            "fix": {"port": self.fix_port, "state_dir": str(self.workdir / "fix"),
                    "heartbeat_seconds": 5, "reconnect_seconds": 1},
            "policy": {"name": "twap_passive", "slice_seconds": 10},
            "risk": {"limits_path": str(limits_path)},
            "api": {"port": self.api_port},
            "store": {"kind": "redis", "redis_url": self.redis_url,
                      "namespace": self.namespace},
        }
        path = self.workdir / "service.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def start_service(self) -> None:
        log = (self.workdir / f"service-{self.restarts}.log").open("wb")
        env = {**os.environ, "EXECAGENT_API__TOKENS": f"crash=admin:{TOKEN}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "run", "--config", str(self.config_path)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.restarts += 1
        started = time.monotonic()
        self._wait_logged_on()
        self.restart_seconds.append(time.monotonic() - started)

    def kill(self, how: signal.Signals = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(how)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self.venue.stop()
        RedisStore(self.redis_url, namespace=self.namespace).clear()

    # --- the API ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def _wait_logged_on(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}; see "
                                   f"{self.workdir}/service-{self.restarts - 1}.log")
            try:
                if self._call("GET", "/healthz").get("fix_logged_on"):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the service did not log on within {timeout_s:.0f} s")

    def wait_risk(self, condition: Callable[[dict[str, Any]], bool],
                  timeout_s: float = 30.0) -> dict[str, Any]:
        """``GET /api/v1/risk`` until ``condition`` holds for its answer (the last answer
        either way: the caller asserts on it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            risk: dict[str, Any] = self._call("GET", "/api/v1/risk")
            if condition(risk) or time.monotonic() > deadline:
                return risk
            time.sleep(0.05)

    def orders(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/orders")["orders"])

    def keep_one_parent_active(self, qty: int, market_seconds: float) -> None:
        if any(order["active"] for order in self.orders()):
            return
        placed = self._call("POST", "/api/v1/orders", {
            "symbol": "GOOG", "side": "sell", "quantity": qty,
            "duration_seconds": market_seconds, "policy": "twap_passive"})
        self.parents.append(placed["parent_id"])

    # --- the run ------------------------------------------------------------------------------
    def run(self, kills: int, qty: int = 3_000, market_seconds: float = 120.0,
            between_s: tuple[float, float] = (0.2, 2.0), settle_s: float = 180.0,
            how: signal.Signals = signal.SIGKILL) -> CrashAudit:
        """``kills`` signals (SIGKILL; SIGTERM for a graceful restart) at random moments, each
        followed by a restart; then let every parent finish and audit."""
        self.venue.start()
        self.start_service()
        for _ in range(kills):
            self.keep_one_parent_active(qty, market_seconds)
            time.sleep(self.random.uniform(*between_s))
            self.kill(how)
            self.start_service()
        deadline = time.monotonic() + settle_s
        while any(order["active"] for order in self.orders()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.audit(kills)

    def audit(self, kills: int) -> CrashAudit:
        store = RedisStore(self.redis_url, namespace=self.namespace)
        known = {c.cl_ord_id for c in store.children()}
        for child in store.children():
            known.update(child.previous_cl_ord_ids)
        orders = self.orders()
        risk = self._call("GET", "/api/v1/risk")
        return CrashAudit(
            kills=kills, parents=len(orders),
            parents_unfinished=sum(1 for o in orders if o["active"]),
            venue_filled=self.venue.client_filled_qty,
            store_filled=sum(qty for _, qty, _ in store.fills().values()),
            parents_filled=sum(o["filled"] for o in orders),
            position=risk["positions"]["GOOG"],
            cl_ord_ids_sent_twice=sent_twice(self.workdir / "venue"),
            venue_working_unknown=[o.cl_ord_id for o in self.venue.working_orders()
                                   if o.cl_ord_id not in known],
            trading_state=risk["trading_state"],
            restart_seconds=list(self.restart_seconds),
            **log_counts(self.workdir))


def log_counts(workdir: Path) -> dict[str, int]:
    """Restarts that found orders working, recovered fills (the service's logs), and messages
    the venue resent on the service's ResendRequests (the venue's FIX event log)."""
    working = recovered = 0
    for log in workdir.glob("service-*.log"):
        text = log.read_text(errors="replace")
        working += len(re.findall(r"child orders \([1-9][0-9]* working\)", text))
        recovered += text.count("that no execution report brought")
    resent = sum(log.read_text(errors="replace").count("Resending Message")
                 for log in (workdir / "venue").rglob("*.event.current.log"))
    return {"restarts_with_working_orders": working, "recovered_fills": recovered,
            "messages_resent_by_venue": resent}


def sent_twice(venue_dir: Path) -> list[str]:
    """ClOrdIDs the venue received more than once on an order message (new, cancel, replace),
    from its own FIX message log."""
    counts: collections.Counter[str] = collections.Counter()
    for log in venue_dir.rglob("*.messages.current.log"):
        for line in log.read_text(errors="replace").splitlines():
            if not any(f"{SOH}35={kind}{SOH}" in line for kind in "DFG"):
                continue
            fields = dict(f.split("=", 1) for f in line.split(SOH) if "=" in f)
            counts[fields.get("11", "")] += 1
    return sorted(cl for cl, n in counts.items() if n > 1)
