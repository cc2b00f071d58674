"""The container image, built and run by a real Docker engine.

``make image`` builds it offline from the wheelhouse on the local base (scripts/ensure-docker.sh
starts an engine and makes that base once; the layer cache makes later builds quick). Then the
venue and the service run as two containers on the host's network, on free ports, with a real
Redis (on its own loopback port) as the service's store, as docker-compose.yml wires them but
without its fixed ports: a parent order submitted through the API with a trade token is filled
at the venue, both processes run as the image's non-root user, the image's HEALTHCHECK and the
compose file's venue check turn healthy, and SIGTERM (``docker stop``) ends the service by itself
within compose's grace period. The image holds no torch, no package of the ``train`` extra and no
compiler; its size is reported. A wheelhouse missing a dependency's wheel fails the build,
naming it, before anything is downloaded; docker-compose.yml passes ``docker compose config``,
its ``offline`` profile included.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import textwrap
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from service.net import free_port
from tests.support.redis_server import RedisServer

# The first build (the wheelhouse, the project's mypyc-compiled wheel, the image) takes minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1_200)]

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
IMAGE = f"execagent:{PYPROJECT['project']['version']}"  # the Makefile's default tag
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
IMAGE_USER_UID = 10001  # the Dockerfile's `useradd --uid`
COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "clang++", "tcc")
TRADE_TOKEN = secrets.token_hex(16)


def docker(*args: str, check: bool = True, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                            check=False)
    if check and result.returncode != 0:
        pytest.fail(f"`docker {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def grace_seconds() -> int:
    """compose's stop_grace_period for the execagent containers ("30s")."""
    period = str(COMPOSE["services"]["service"]["stop_grace_period"])
    match = re.fullmatch(r"(\d+)s", period)
    assert match, f"stop_grace_period {period!r}: expected seconds"
    return int(match.group(1))


@pytest.fixture(scope="module")
def image() -> str:
    """The image, built by `make image` (the engine and the base first, as make test does)."""
    subprocess.run([str(ROOT / "scripts" / "ensure-docker.sh")], check=True, timeout=600)
    result = subprocess.run(["make", "--no-print-directory", "image", f"IMAGE={IMAGE}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=1_100, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return IMAGE


def in_image(image: str, code: str) -> Any:
    """What ``code`` (Python, printing JSON) prints inside a fresh container, with no network."""
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
                    textwrap.dedent(code))
    return json.loads(result.stdout)


def test_the_image_has_no_torch_no_train_extra_and_no_compiler(
        image: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    train_only = {requirement_name(r)
                  for r in PYPROJECT["project"]["optional-dependencies"]["train"]} - runtime
    found = in_image(image, f"""
        import importlib.metadata, importlib.util, json, shutil
        print(json.dumps({{
            "distributions": sorted(d.metadata["Name"].lower().replace("_", "-")
                                    for d in importlib.metadata.distributions()),
            "torch": importlib.util.find_spec("torch") is not None,
            "compilers": [c for c in {COMPILERS!r} if shutil.which(c)],
            "uid": __import__("os").getuid(),
        }}))
    """)
    assert found["torch"] is False
    assert not train_only & set(found["distributions"]), train_only & set(found["distributions"])
    assert runtime <= set(found["distributions"]), runtime - set(found["distributions"])
    assert PYPROJECT["project"]["name"] in found["distributions"]
    assert found["compilers"] == []
    assert found["uid"] == IMAGE_USER_UID
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    request.node.user_properties.append(("image_size_bytes", size))
    with capsys.disabled():
        print(f"\n{image}: {size / 1e6:.0f} MB (docker image inspect)")


@dataclass
class Stack:
    image: str
    venue: str  # container names
    service: str
    api: str  # http://127.0.0.1:PORT
    redis_url: str
    namespace: str


def health(container: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()


def running(container: str) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", container).stdout.strip() == "true"


def logs(container: str) -> str:
    result = docker("logs", "--tail", "60", container, check=False)
    return result.stdout + result.stderr


def wait_for(what: str, ready: Any, containers: list[str], attempts: int = 240) -> None:
    """Poll ``ready()`` twice a second; fail with the containers' logs if it never holds."""
    for _ in range(attempts):
        if ready():
            return
        if not all(running(c) for c in containers):
            break
        time.sleep(0.5)
    pytest.fail(f"{what} never happened\n" + "\n".join(f"--- {c}\n{logs(c)}" for c in containers))


def http(method: str, url: str, body: object = None, token: str | None = None
         ) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def venue_healthcheck(port: int) -> str:
    """docker-compose.yml's venue check, on ``port`` instead of the compose port, as a shell
    command for `docker run --health-cmd`."""
    test = COMPOSE["services"]["venue"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    compose_port = yaml.safe_load((ROOT / "deploy/compose/venue.yaml").read_text())["port"]
    return shlex.join(word.replace(str(compose_port), str(port)) for word in test[1:])


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tag = uuid.uuid4().hex[:8]
    fix_port, api_port = free_port(), free_port()
    store = RedisServer().start()
    # The compose venue (deploy/compose/venue.yaml) on loopback and a free port, 20 market
    # seconds per second so that a minute-long order finishes in seconds.
    venue_config = yaml.safe_load((ROOT / "deploy/compose/venue.yaml").read_text())
    venue_config.update(host="127.0.0.1", port=fix_port, speed=20.0)
    venue_file = tmp_path_factory.mktemp("container") / "venue.yaml"
    venue_file.write_text(yaml.safe_dump(venue_config))
    venue_file.chmod(0o644)  # read by the image's user
    venue, service = f"execagent-e2e-venue-{tag}", f"execagent-e2e-service-{tag}"
    namespace = f"e2e-container-{tag}"
    common = ["run", "--detach", "--network", "host", "--cap-drop", "ALL",
              "--security-opt", "no-new-privileges:true"]
    try:
        docker(*common, "--name", venue, "--volume", f"{venue_file}:/app/e2e/venue.yaml:ro",
               "--health-cmd", venue_healthcheck(fix_port), "--health-interval", "2s",
               "--health-retries", "30", image, "venue", "--config", "/app/e2e/venue.yaml")
        wait_for("the venue's healthcheck", lambda: health(venue) == "healthy", [venue])
        # The compose service's configuration (deploy/compose/service.yaml, the image's default
        # command), its neighbours on loopback instead of the compose names.
        environment = {
            "EXECAGENT_FIX__HOST": "127.0.0.1", "EXECAGENT_FIX__PORT": str(fix_port),
            "EXECAGENT_API__HOST": "127.0.0.1", "EXECAGENT_API__PORT": str(api_port),
            "EXECAGENT_STORE__KIND": "redis", "EXECAGENT_STORE__REDIS_URL": store.url,
            "EXECAGENT_STORE__NAMESPACE": namespace,
            "EXECAGENT_API__TOKENS": f"desk=trade:{TRADE_TOKEN}",
        }
        env_args = [arg for name, value in environment.items() for arg in ("--env", name)]
        subprocess.run(["docker", *common, "--name", service, *env_args, image],
                       env={**os.environ, **environment}, check=True, capture_output=True,
                       timeout=120)
        api = f"http://127.0.0.1:{api_port}"
        wait_for("/readyz answering 200", lambda: http("GET", f"{api}/readyz")[0] == 200,
                 [venue, service])
        yield Stack(image, venue, service, api, store.url, namespace)
    finally:
        for container in (service, venue):
            docker("rm", "--force", "--volumes", container, check=False)
        store.stop()


def test_a_parent_order_through_the_api_is_filled(stack: Stack) -> None:
    orders = f"{stack.api}/api/v1/orders"
    # The aggressive TWAP crosses the spread at every slice: filled whatever the crowd does.
    order = {"symbol": "GOOG", "side": "sell", "quantity": 300, "duration_seconds": 60,
             "policy": "twap"}
    assert http("POST", orders, order)[0] == 401  # no token: refused
    status, created = http("POST", orders, order, token=TRADE_TOKEN)
    assert status == 201, created
    parent = f"{orders}/{created['parent_id']}"
    progress: dict[str, Any] = {}

    def done() -> bool:
        nonlocal progress
        progress = http("GET", parent, token=TRADE_TOKEN)[1] or {}
        return progress.get("active") is False

    wait_for("the parent order finishing", done, [stack.venue, stack.service])
    assert progress["filled"] == 300 and progress["remaining"] == 0, progress
    assert progress["average_price"] is not None
    # The service kept it in the Redis it was given, under its namespace.
    keys = redis.Redis.from_url(stack.redis_url).keys(f"{stack.namespace}:*")
    assert keys, f"nothing under {stack.namespace}: in Redis"


def test_both_processes_run_as_the_images_non_root_user(stack: Stack) -> None:
    for container in (stack.venue, stack.service):
        status = docker("exec", container, "cat", "/proc/1/status").stdout
        uids = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
        assert uids is not None
        assert {int(u) for u in uids.group(1).split()} == {IMAGE_USER_UID}, container
        command = docker("exec", container, "cat", "/proc/1/cmdline").stdout.split("\0")
        assert Path(command[1]).name == "execagent", command  # the interpreter runs the script
        assert ("venue" if container == stack.venue else "run") in command, command


def test_the_images_healthcheck_turns_healthy(stack: Stack) -> None:
    wait_for("the image's HEALTHCHECK turning healthy",
             lambda: health(stack.service) == "healthy", [stack.service])
    checks = json.loads(docker("inspect", "--format", "{{json .State.Health.Log}}",
                               stack.service).stdout)
    assert checks and checks[-1]["ExitCode"] == 0


def test_sigterm_stops_the_service_within_the_grace_period(stack: Stack) -> None:
    grace = grace_seconds()
    # docker stop: SIGTERM, then SIGKILL once the grace period is over (exit code 137).
    docker("stop", "--time", str(grace), stack.service, timeout=grace + 60)
    state = json.loads(docker("inspect", "--format", "{{json .State}}", stack.service).stdout)
    assert (state["Running"], state["OOMKilled"], state["ExitCode"]) == (False, False, 0), \
        logs(stack.service)
    assert "Traceback" not in logs(stack.service)


def test_a_wheel_missing_from_the_wheelhouse_fails_the_build_naming_it(
        image: str, tmp_path: Path) -> None:
    """An offline build never reaches for a registry: a dependency without its wheel stops the
    build at pip, which names it."""
    context = tmp_path / "context"
    shutil.copytree(ROOT / "wheelhouse", context / "wheelhouse",
                    copy_function=_link_or_copy, ignore=shutil.ignore_patterns(".built"))
    requirements = (context / "wheelhouse/deps/requirements.txt").read_text().splitlines()
    names = [requirement_name(r) for r in requirements if r and not r.startswith("#")]
    dropped = next(n for n in names if n != "quickfix")
    wheels = [w for w in (context / "wheelhouse/deps").glob("*.whl")
              if requirement_name(w.name.split("-")[0]) == dropped]
    assert wheels, f"no wheel of {dropped} in the wheelhouse"
    for wheel in wheels:
        wheel.unlink()
    for name in ("Dockerfile", ".dockerignore", "models/artifacts/policy.onnx"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "deploy", context / "deploy")
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh")], capture_output=True, text=True,
        timeout=600, check=False,
        env={**os.environ, "CONTEXT": str(context), "IMAGE": f"execagent-e2e-broken:{dropped}"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"No matching distribution found for {dropped}" in output, output[-3000:]


def _link_or_copy(source: str, destination: str) -> str:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def compose_command() -> list[str] | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True,
                      check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.parametrize("profile", [None, "offline"])
def test_compose_file_passes_compose_config(profile: str | None) -> None:
    command = compose_command()
    if command is None:
        pytest.fail("neither `docker compose` nor docker-compose: run scripts/ensure-docker.sh")
    args = [*command, "--file", str(ROOT / "docker-compose.yml")]
    if profile is not None:
        args += ["--profile", profile]
    result = subprocess.run([*args, "config"], capture_output=True, text=True, timeout=60,
                            check=False, env={**os.environ, "EXECAGENT_API__TOKENS": ""})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    # Without --profile: the registry stack (docker-compose 1.x lists every service, 2.x only
    # the active ones).
    assert {"venue", "service", "redis", "prometheus", "grafana"} <= set(resolved)
    offline = {name for name, svc in resolved.items() if "offline" in (svc.get("profiles") or [])}
    for name in set(resolved) - offline:
        assert not resolved[name].get("profiles"), f"{name} would not start with plain `up`"
    if profile == "offline":
        assert offline, "no service in the offline profile"
        for name in offline:
            assert resolved[name].get("network_mode") == "host", name
            assert "build" not in resolved[name], f"{name}: the offline profile builds nothing"
