"""A user's mistake ends in one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from core.domain import ChildOrder, OrdType, Side, TimeInForce
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.cli import main
from service.net import free_port
from service.state.codec import encode_child
from tests.support.scripted_flow import ScriptedFlow

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "service.yaml"
    path.write_text(text + f"\nrisk:\n  limits_path: {ROOT / 'deploy/risk/limits.demo.yaml'}\n")
    return path


def test_invalid_configuration_exits_2_naming_the_field(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--config", str(_config(tmp_path, "fix:\n  port: 0\n"))])
    err = capsys.readouterr().err
    assert code == 2 and "fix.port" in err and "greater than or equal to 1" in err
    assert "Traceback" not in err


def test_bad_api_token_exits_2_without_showing_it(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXECAGENT_API__TOKENS", "alice=root:correct-horse-battery")
    code = main(["run", "--config", str(_config(tmp_path, ""))])
    err = capsys.readouterr().err
    assert code == 2 and "read, trade or admin" in err and "correct-horse" not in err
    assert "Traceback" not in err


def test_missing_model_file_is_one_clear_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--policies", "onnx", "--model", str(tmp_path / "none.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_unknown_policy_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--policies", "magic"]) == 2
    assert "unknown" in capsys.readouterr().err


@pytest.fixture
def guarded_venue(tmp_path: Path) -> Iterator[SimulatedVenue]:
    venue = SimulatedVenue(
        VenueConfig(port=free_port(), clients=[VenueClient(comp_id="EXECAGENT",
                                                           password="right")],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                         start_price=Decimal("580.01"))],
                    state_dir=tmp_path / "venue"),
        flows={"GOOG": ScriptedFlow(58000, 58002)})
    venue.start()
    yield venue
    venue.stop()


def test_venue_refusing_the_logon_is_one_clear_line(
        tmp_path: Path, guarded_venue: SimulatedVenue, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXECAGENT_FIX_PASSWORD", "wrong")
    config = _config(tmp_path, f"fix:\n  port: {guarded_venue.config.port}\n"
                               f"  logon_timeout_seconds: 3\n  state_dir: {tmp_path / 'fix'}\n"
                               "api:\n  port: 0\n")
    code = main(["run", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and "no FIX logon" in err and "Traceback" not in err
    assert "wrong" not in err  # the password is never printed


def test_api_port_in_use_is_one_clear_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(tmp_path, f"api:\n  port: {port}\nfix:\n  state_dir: {tmp_path}\n")
        code = main(["run", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}" in err and "another api.port" in err


def test_an_unknown_venue_persona_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["venue", "--persona", "strict,careless"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown persona careless" in err and "fill-at-limit" in err
    assert "Traceback" not in err


SHARED_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    for key in client.keys(f"{name}:*"):
        client.delete(key)


def _store_config(tmp_path: Path, namespace: str, url: str = SHARED_REDIS) -> Path:
    return _config(tmp_path, f"store:\n  kind: redis\n  redis_url: {url}\n"
                             f"  namespace: {namespace}\n")


@pytest.mark.parametrize("key, field, record, named", [
    ("children", "C1", {"cl_ord_id": "C1", "qty": None}, "stored child order 'C1'"),
    ("fills", "E1", {"qty": 5, "price": 58_000}, "stored fill 'E1'"),
    ("fills", "E2", {"cl_ord_id": "C1", "qty": "5", "price": 58_000}, "stored fill 'E2'"),
])
def test_a_corrupt_store_record_is_one_line_naming_it_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], namespace: str, key: str,
        field: str, record: dict[str, object], named: str) -> None:
    if key == "children":  # a child order as the store writes it, then its qty lost
        order = ChildOrder("C1", "P1", "GOOG", Side.SELL, 100, 58_000, OrdType.LIMIT,
                           TimeInForce.DAY)
        record = {**json.loads(encode_child(order)), **record}
    redis.Redis.from_url(SHARED_REDIS).hset(f"{namespace}:{key}", field, json.dumps(record))
    code = main(["run", "--config", str(_store_config(tmp_path, namespace))])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert named in err and f"Redis hash {namespace}:{key}, field {field}" in err
    assert len(err.strip().splitlines()) == 1


def test_redis_refusing_the_credentials_is_said_so(tmp_path: Path, namespace: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = "redis://nobody:wrong-password@127.0.0.1:6379/0"
    code = main(["run", "--config", str(_store_config(tmp_path, namespace, url))])
    err = capsys.readouterr().err
    assert code == 2 and "refused the credentials in store.redis_url" in err
    assert "start Redis" not in err and "wrong-password" not in err
