"""The container files, checked without a Docker engine.

``Dockerfile`` is read with a small line parser, ``docker-compose.yml`` with PyYAML, and both
are held against the repository and the code they run: every path they copy, bind-mount or
mount exists or is made by ``make wheelhouse`` (and is not left out of the build context by
``.dockerignore``, which keeps the source tree out); the image installs only from the
wheelhouse, whose requirements are pyproject.toml's, never an extra; every command the
containers run parses with the real CLI (``service.cli.build_parser``); every ``EXECAGENT_*``
variable is a real ``ServiceConfig`` field, and the configuration the service container ends up
with (its YAML plus those variables, loaded by ``ServiceConfig`` itself) points at the venue and
Redis containers, binds an address they reach, and sets the ports that are published, scraped
and health-checked, in the bridged stack and in the ``offline`` profile on the host's network;
the image runs as a non-root user and has a HEALTHCHECK that passes against the real API and
fails without it.

That the image builds and runs is tests/e2e/test_container.py's part, with a real engine.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import BaseModel

from gateways.venue.config import VenueConfig, load_venue_config
from models.registry import make_policy
from risk.limits import load_limits
from service.api.server import ApiServer, build_app
from service.cli import build_parser
from service.config import ApiConfig, ServiceConfig, StoreKind
from service.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

PROMETHEUS_PORT = 9090  # prom/prometheus listens here unless --web.listen-address says otherwise
GRAFANA_PORT = 3000  # grafana/grafana listens here unless GF_SERVER_HTTP_PORT says otherwise
REDIS_PORT = 6379
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"  # the prom/prometheus image's --config.file
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"


# --- the Dockerfile ---------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str
    line: int
    workdir: str  # the WORKDIR in force when it runs

    def flags_and_rest(self) -> tuple[dict[str, str], list[str]]:
        """``--name=value`` flags before the arguments (shell form only), and the rest."""
        words = shlex.split(self.args)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags.setdefault(name, value)
        return flags, words

    def exec_form(self) -> list[str] | None:
        text = self.args.strip()
        return json.loads(text) if text.startswith("[") else None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


GLOBAL_ARGS: dict[str, str] = {}  # ARGs before the first FROM, with their defaults


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions: comments dropped, continuation lines joined; ``${ARG}``
    in FROM resolved to the global ARG's default (into GLOBAL_ARGS)."""
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    workdir = "/"
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continued instruction, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical, pending = " ".join(pending), []
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = args.strip().partition("=")
            GLOBAL_ARGS[name] = default
            continue
        if keyword == "FROM":
            args = re.sub(r"\$\{?(\w+)\}?", lambda m: GLOBAL_ARGS.get(m.group(1), ""), args)
            words = [w for w in args.split() if not w.startswith("--")]
            stage_name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], stage_name))
            workdir = "/"
            continue
        assert stages, f"Dockerfile line {start}: {keyword} before the first FROM"
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / args.strip())
        stages[-1].instructions.append(Instruction(keyword, args.strip(), start, workdir))
    assert not pending, "Dockerfile ends inside a continued line"
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text())
RUNTIME = STAGES[-1]


def runtime_workdir() -> str:
    workdir = RUNTIME.last("WORKDIR")
    return workdir.workdir if workdir is not None else "/"


def image_file(path: str | Path, workdir: str | None = None) -> Path | None:
    """The repository file the runtime image has at ``path`` (relative to its WORKDIR when not
    absolute), through the runtime stage's COPY instructions; None when no COPY puts it there."""
    wanted = PurePosixPath(workdir or runtime_workdir()) / str(path)
    for copy in reversed(RUNTIME.all("COPY")):
        flags, words = copy.flags_and_rest()
        if "from" in flags:
            continue
        *sources, dest = words
        destination = PurePosixPath(copy.workdir) / dest
        for source in sources:
            local = ROOT / source
            if local.is_dir():
                if wanted == destination or destination in wanted.parents:
                    candidate = local / wanted.relative_to(destination)
                    if candidate.exists():
                        return candidate
            else:
                target = destination / local.name if dest.endswith("/") else destination
                if wanted == target:
                    return local
    return None


def dockerignore_excludes(relative: str) -> bool:
    """Whether ``.dockerignore`` leaves ``relative`` (a repository path) out of the build context:
    the last pattern matching the path or one of its parent directories decides."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = ""
        for piece in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                piece, re.escape(piece))
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def pip_commands(stage: Stage) -> list[list[str]]:
    """Every ``pip install`` / ``pip wheel`` in the stage's RUN instructions, as argument lists
    (what follows ``pip``)."""
    found = []
    for run in stage.all("RUN"):
        script = re.sub(r"^(--\S+\s+)*", "", run.args)
        for command in script.split("&&"):
            argv = shlex.split(command)
            if argv[:1] == ["pip"] or argv[:3] == ["python", "-m", "pip"]:
                found.append(argv[argv.index("pip") + 1:])
    return found


@dataclass(frozen=True)
class BindMount:
    source: str  # in the build context
    target: str
    line: int


def bind_mounts(stage: Stage) -> list[BindMount]:
    """The build-context directories RUN instructions bind-mount (``--mount=type=bind``)."""
    found = []
    for run in stage.all("RUN"):
        for mount in re.findall(r"--mount=(\S+)", run.args):
            options = dict(o.partition("=")[::2] for o in mount.split(","))
            if options.get("type") == "bind" and "from" not in options:
                found.append(BindMount(options["source"], options["target"], run.line))
    return found


def load_script(name: str) -> Any:
    """A script of scripts/ as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WHEELHOUSE = load_script("wheelhouse")


def makefile_variable(name: str) -> str:
    """A ``NAME ?= value`` / ``NAME := value`` default of the Makefile."""
    match = re.search(rf"^{name}\s*[?:]?=\s*(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile sets no {name}"
    return match.group(1).strip()


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


# --- docker-compose.yml ---------------------------------------------------------------------


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` / ``${VAR}``, as with VAR unset."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


COMPOSE_DOC = interpolate(yaml.safe_load(COMPOSE.read_text()))  # merge keys (<<) resolved
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DOC["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    bind: bool


def mounts(service: dict[str, Any]) -> list[Mount]:
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found.append(Mount(volume["source"], volume["target"], volume["type"] == "bind"))
            continue
        source, target = volume.split(":")[:2]
        found.append(Mount(source, target, source.startswith((".", "/", "~"))))
    return found


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository path a bind mount shows at ``container_path`` in the container."""
    wanted = PurePosixPath(container_path)
    for mount in mounts(service):
        target = PurePosixPath(mount.target)
        if mount.bind and (wanted == target or target in wanted.parents):
            return (COMPOSE.parent / mount.source / wanted.relative_to(target)).resolve()
    return None


def published(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of every published port."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        address = parts[0] if len(parts) == 3 else ""
        found.append((address, int(parts[-1])))
    return found


def builds_image(service: dict[str, Any]) -> bool:
    return "build" in service


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:  # the image's CMD
        cmd = RUNTIME.last("CMD")
        command = (cmd.exec_form() or shlex.split(cmd.args)) if cmd is not None else []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def parse_cli(argv: list[str], where: str) -> Any:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `execagent {' '.join(argv)}` is not a valid execagent command")


def execagent_service(subcommand: str) -> str:
    names = [name for name, svc in SERVICES.items() if builds_image(svc)
             and parse_cli(command_of(svc), name).command == subcommand]
    assert len(names) == 1, f"expected one compose service running `execagent {subcommand}`"
    return names[0]


def depends_on(service: dict[str, Any]) -> set[str]:
    return set(service.get("depends_on") or [])


SERVICE = "service"  # the compose service running `execagent run`
VENUE = "venue"  # the compose service running `execagent venue`


def config_file(name: str) -> Path:
    args = parse_cli(command_of(SERVICES[name]), name)
    assert args.config is not None, f"{name}: pass --config, so the container's settings are seen"
    local = image_file(args.config)
    assert local is not None and local.is_file(), \
        f"{name}: --config {args.config} is not in the image (no COPY in the runtime stage)"
    return local


def load_service_config(monkeypatch: pytest.MonkeyPatch, service: str) -> ServiceConfig:
    """What `execagent run` in the container ``service`` loads: its --config YAML and the
    compose file's EXECAGENT_* variables (which win), with relative paths as in the image's
    WORKDIR."""
    for name in list(os.environ):
        if name.startswith("EXECAGENT_"):
            monkeypatch.delenv(name)
    for name, value in environment(SERVICES[service]).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXECAGENT_CONFIG", str(config_file(service)))
    monkeypatch.chdir(ROOT)
    return ServiceConfig()


@pytest.fixture
def service_config(monkeypatch: pytest.MonkeyPatch) -> ServiceConfig:
    return load_service_config(monkeypatch, SERVICE)


@pytest.fixture
def venue_config() -> VenueConfig:
    return load_venue_config(config_file(VENUE))


# --- Dockerfile tests -------------------------------------------------------------------------


def test_one_stage_on_a_base_image_argument_and_no_compiler() -> None:
    """The wheels are built on the host (make wheelhouse): no builder stage, no compiler."""
    assert len(STAGES) == 1, "one stage: the wheelhouse is built on the host"
    from_line = DOCKERFILE.read_text().split("\nFROM ", 1)[1].split()[0]
    assert re.fullmatch(r"\$\{?BASE_IMAGE\}?", from_line), f"FROM {from_line}: a build argument"
    assert GLOBAL_ARGS["BASE_IMAGE"].startswith("python:3.11-slim"), GLOBAL_ARGS
    # make image builds on the local base that scripts/ensure-docker.sh makes by that name.
    ensure_docker = (ROOT / "scripts" / "ensure-docker.sh").read_text()
    local_base = makefile_variable("BASE_IMAGE")
    assert f"BASE_IMAGE=${{BASE_IMAGE:-{local_base}}}" in ensure_docker
    runs = " ".join(r.args for r in RUNTIME.all("RUN"))
    assert not re.search(r"\b(build-essential|gcc|g\+\+|clang|apt-get|apt)\b", runs)


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    for stage in STAGES:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, words = instruction.flags_and_rest()
            assert "from" not in flags, f"line {instruction.line}: one stage, nothing to copy from"
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"line {instruction.line}: {source} missing"
                assert not dockerignore_excludes(source), \
                    f"line {instruction.line}: {source} is excluded by .dockerignore"
        for mount in bind_mounts(stage):
            assert not dockerignore_excludes(f"{mount.source}/x.whl"), \
                f"line {mount.line}: {mount.source} is excluded by .dockerignore"


def test_the_wheelhouse_is_what_make_wheelhouse_makes() -> None:
    """The Dockerfile bind-mounts the two directories scripts/wheelhouse.py fills, at the
    wheelhouse the Makefile names, and installs the requirements file the script writes."""
    house = makefile_variable("WHEELHOUSE")
    sources = {PurePosixPath(m.source) for m in bind_mounts(RUNTIME)}
    assert sources == {PurePosixPath(house, "deps"), PurePosixPath(house, "project")}
    targets = {PurePosixPath(m.source).name: PurePosixPath(m.target) for m in bind_mounts(RUNTIME)}
    installs = [argv for argv in pip_commands(RUNTIME) if argv[0] == "install"]
    requirement_files = [PurePosixPath(argv[argv.index("-r") + 1]) for argv in installs
                         if "-r" in argv]
    assert requirement_files == [targets["deps"] / WHEELHOUSE.REQUIREMENTS]
    wheels = [a for argv in installs for a in argv[1:] if a.endswith(".whl")]
    assert len(wheels) == 1 and PurePosixPath(wheels[0]).parent == targets["project"]
    assert PurePosixPath(wheels[0]).name.startswith(f"{PYPROJECT['project']['name']}-")


def test_the_source_tree_stays_out_of_the_image() -> None:
    """No package directory is copied or sent: the image has the packages from the wheel, so a
    new package (pyproject.toml's packages.find) needs no change here."""
    packages = WHEELHOUSE.package_dirs()
    assert packages, "pyproject.toml's packages match no directory"
    for copy in RUNTIME.all("COPY"):
        for source in copy.flags_and_rest()[1][:-1]:
            local = ROOT / source
            assert local not in packages and local.suffix != ".py", \
                f"line {copy.line}: COPY {source} copies source code"
    for package in packages:
        assert dockerignore_excludes(f"{package.name}/__init__.py"), \
            f"{package.name}/ is sent to the engine: .dockerignore keeps sources out"


def test_the_project_wheel_is_remade_when_its_sources_change() -> None:
    """`make wheelhouse` rebuilds the project's wheel when a file it is built from changes:
    every package's files, its package data, and the build's inputs."""
    listed = set(WHEELHOUSE.sources())
    for package in WHEELHOUSE.package_dirs():
        for path in package.rglob("*.py"):
            if "__pycache__" not in path.parts:
                assert path in listed, f"{path.relative_to(ROOT)} is not a wheel source"
    setuptools = PYPROJECT["tool"]["setuptools"]
    for package, globs in setuptools["package-data"].items():
        for glob in globs:
            files = list((ROOT / package).glob(glob))
            assert files, f"package data {package}/{glob} matches nothing"
            assert set(files) <= listed, f"{package}/{glob} is not a wheel source"
    for build_input in ("pyproject.toml", "setup.py", "native-modules.txt",
                        PYPROJECT["project"]["readme"]):
        assert ROOT / build_input in listed, build_input
    assert not any(p.suffix in {".so", ".pyc"} for p in listed)


def test_dockerignore_keeps_local_state_sources_and_secrets_out() -> None:
    for path in [".venv/bin/python", "var/fix/store", ".git/HEAD", ".env", "deploy/.env",
                 "deploy/risk/prod.env", "service/cli.py", "service/__pycache__/cli.pyc",
                 ".pytest_cache/v", "tests/unit", "build/lib/x.so", "wheelhouse/scratch/x"]:
        assert dockerignore_excludes(path), f".dockerignore should exclude {path}"
    for path in ["models/artifacts/policy.onnx", "deploy/risk/limits.demo.yaml",
                 "deploy/compose/service.yaml", "wheelhouse/deps/requirements.txt",
                 "wheelhouse/deps/numpy-2.0-cp311-cp311-linux_x86_64.whl",
                 "wheelhouse/project/execagent-0.1.0-cp311-cp311-linux_x86_64.whl"]:
        assert not dockerignore_excludes(path), f".dockerignore must keep {path}"


def test_every_install_is_offline_and_never_an_extra() -> None:
    train = {requirement_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["train"]}
    assert "torch" in train
    runtime = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not train & runtime, f"train-only packages among the runtime ones: {train & runtime}"
    env = " ".join(e.args for e in RUNTIME.all("ENV"))
    assert "PIP_NO_INDEX=1" in env, "pip must never look for an index in the image"
    commands = pip_commands(RUNTIME)
    assert commands and all(argv[0] == "install" for argv in commands)
    for argv in commands:
        assert "--no-index" in argv, "the image installs from the wheelhouse only"
        for argument in argv[1:]:
            assert "[" not in argument, f"extras installed: {argument}"
            assert requirement_name(PurePosixPath(argument).name) not in train, argument


def _wheel(directory: Path, name: str, requires: list[str]) -> None:
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
                        *(f"Requires-Dist: {r}\n" for r in requires)])
    with zipfile.ZipFile(directory / f"{name}-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{name}-1.0.dist-info/METADATA", metadata)


def test_the_wheelhouse_finds_what_an_older_patch_release_needs(tmp_path: Path) -> None:
    """pip resolves for the Python running it; the image's may be an older 3.11 (Debian 12's is
    3.11.2). The wheelhouse adds the wheels such a Python needs, through extras and depth."""
    _wheel(tmp_path, "client", ['timeouts>=4; python_full_version < "3.11.3"',
                                'fast-parser; extra == "fast"', "shared"])
    _wheel(tmp_path, "fast_parser", ['backport; python_version < "3.11"'])
    _wheel(tmp_path, "shared", [])
    assert WHEELHOUSE.unmet(["client[fast]"], tmp_path, "3.11.7") == []
    assert WHEELHOUSE.unmet(["client[fast]"], tmp_path, "3.11.2") == ["timeouts>=4"]
    assert WHEELHOUSE.unmet(["client"], tmp_path, "3.10.9") == ["timeouts>=4"]
    assert WHEELHOUSE.unmet(["client[fast]"], tmp_path, "3.10.9") == ["backport", "timeouts>=4"]
    assert WHEELHOUSE.unmet(["client", "absent>=2"], tmp_path, "3.11.7") == ["absent>=2"]


def test_cli_and_daemon_code_import_without_the_optional_extras() -> None:
    """The runtime image has no torch, Stable-Baselines3, gymnasium, onnx, matplotlib or test
    tools: the CLI parser, `execagent run` and `execagent venue` must import without them."""
    optional = PYPROJECT["project"]["optional-dependencies"]
    runtime = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    blocked = sorted({requirement_name(r).replace("-", "_") for extra in optional.values()
                      for r in extra} - {n.replace("-", "_") for n in runtime})
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = set({blocked!r})
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0].lower() in BLOCKED:
                    raise ModuleNotFoundError(f"{{name}} is not in the runtime image", name=name)
        sys.meta_path.insert(0, Block())
        from service.cli import build_parser
        build_parser()
        import service.app, service.commands.run, service.commands.venue
        import gateways.venue.venue
        from models.registry import make_policy
        make_policy("onnx", "models/artifacts/policy.onnx")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_runtime_runs_as_a_user_it_creates_that_is_not_root() -> None:
    user = RUNTIME.last("USER")
    assert user is not None, "the runtime stage has no USER: it would run as root"
    name = user.args.split(":")[0]
    assert name not in {"root", "0"}, f"USER {user.args} is root"
    if not name.isdigit():
        runs = " ".join(r.args for r in RUNTIME.all("RUN") if r.line < user.line)
        assert re.search(rf"useradd\b[^&]*\b{re.escape(name)}\b", runs), \
            f"USER {name} is never created in the runtime stage"


def test_entrypoint_is_execagent_and_the_default_command_is_valid() -> None:
    entrypoint = RUNTIME.last("ENTRYPOINT")
    assert entrypoint is not None and entrypoint.exec_form() == ["execagent"]
    cmd = RUNTIME.last("CMD")
    assert cmd is not None
    args = parse_cli(cmd.exec_form() or [], "Dockerfile CMD")
    if getattr(args, "config", None) is not None:
        assert image_file(args.config) is not None, f"CMD's {args.config} is not in the image"


def test_exposed_ports_are_the_ones_the_configurations_set(
        service_config: ServiceConfig, venue_config: VenueConfig) -> None:
    exposed = {int(p.split("/")[0]) for e in RUNTIME.all("EXPOSE") for p in e.args.split()}
    assert exposed == {service_config.api.port, venue_config.port}
    assert ApiConfig().port in exposed  # the image's default command without compose


def healthcheck_argv() -> list[str]:
    check = RUNTIME.last("HEALTHCHECK")
    assert check is not None, "the runtime stage has no HEALTHCHECK"
    _, words = check.flags_and_rest()
    assert words[0].upper() == "CMD", f"HEALTHCHECK {check.args}"
    argv = json.loads(check.args[check.args.index("CMD") + 3:].strip())
    assert argv[0] == "python", "the slim image has python, not curl"
    return argv


def test_healthcheck_asks_healthz_on_the_services_api_port(
        service_config: ServiceConfig) -> None:
    code = healthcheck_argv()[-1]
    assert "/healthz" in code
    default = re.search(r"environ\.get\(\s*['\"]EXECAGENT_API__PORT['\"]\s*,\s*['\"](\d+)", code)
    assert default is not None, "the healthcheck's port: EXECAGENT_API__PORT or a default"
    port = int(environment(SERVICES[SERVICE]).get("EXECAGENT_API__PORT", default.group(1)))
    assert port == service_config.api.port
    routes = {r.resource.canonical for r in build_app(Metrics()).router.routes() if r.resource}
    assert "/healthz" in routes
    override = SERVICES[SERVICE].get("healthcheck")
    assert override is None, "the service keeps the image's healthcheck"


async def run_check(argv: list[str], env: dict[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv[1:], env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_healthcheck_passes_against_the_real_api_and_fails_without_it(
        service_config: ServiceConfig) -> None:
    argv = healthcheck_argv()
    server = ApiServer(build_app(Metrics()), service_config.api.host, 0)
    await server.start()
    try:
        assert await run_check(argv, {"EXECAGENT_API__PORT": str(server.port)}) == 0
    finally:
        await server.stop()
    assert await run_check(argv, {"EXECAGENT_API__PORT": str(server.port)}) != 0


# --- docker-compose.yml tests ---------------------------------------------------------------


def test_compose_has_the_stack() -> None:
    assert {"venue", "service", "redis", "prometheus", "grafana"} <= set(SERVICES)
    assert (execagent_service("run"), execagent_service("venue")) == (SERVICE, VENUE)
    assert SERVICES["redis"]["image"].split(":")[0] == "redis"
    assert SERVICES["prometheus"]["image"].split(":")[0] == "prom/prometheus"
    assert SERVICES["grafana"]["image"].split(":")[0] == "grafana/grafana"
    for name in (SERVICE, VENUE):
        assert SERVICES[name]["build"]["context"] in {".", "./"}


def test_every_mounted_path_exists_and_every_volume_is_declared() -> None:
    declared = set(COMPOSE_DOC.get("volumes") or {})
    for name, service in SERVICES.items():
        for mount in mounts(service):
            if mount.bind:
                path = (COMPOSE.parent / mount.source).resolve()
                assert path.exists(), f"{name}: {mount.source} does not exist"
                assert ROOT in path.parents, f"{name}: {mount.source} is outside the repository"
            else:
                assert mount.source in declared, f"{name}: volume {mount.source} not declared"


def test_execagent_containers_run_real_subcommands_with_real_files() -> None:
    for name, service in SERVICES.items():
        if not builds_image(service):
            continue
        args = parse_cli(command_of(service), name)
        assert args.command in {"run", "venue"}, f"{name} runs `execagent {args.command}`"
        config_file(name)


def test_environment_variables_are_service_config_fields() -> None:
    code = "\n".join(p.read_text() for d in ("service", "gateways")
                     for p in (ROOT / d).rglob("*.py"))
    for name, service in SERVICES.items():
        for variable in environment(service):
            if not variable.startswith("EXECAGENT_"):
                continue
            model: type[BaseModel] | None = ServiceConfig
            parts = variable.removeprefix("EXECAGENT_").lower().split("__")
            for part in parts:
                fields = model.model_fields if model is not None else {}
                if part not in fields:
                    model = None
                    break
                annotation = fields[part].annotation
                model = annotation if isinstance(annotation, type) and \
                    issubclass(annotation, BaseModel) else None
            else:
                continue
            # Not a field: only the variables the code reads itself (EXECAGENT_CONFIG, ...).
            assert f'"{variable}"' in code, \
                f"{name}: {variable} is neither a ServiceConfig field nor read by the code"
    # A variable with a wrong nested name is refused by the config itself.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXECAGENT_FIX__HOSTNAME", "venue")
        with pytest.raises(ValueError, match="hostname"):
            ServiceConfig()


def test_service_is_wired_to_the_venue_and_redis(
        service_config: ServiceConfig, venue_config: VenueConfig) -> None:
    fix = service_config.fix
    assert fix.host == VENUE, f"fix.host {fix.host}: the venue container is {VENUE!r}"
    assert fix.port == venue_config.port
    assert fix.begin_string == venue_config.begin_string
    assert fix.target_comp_id == venue_config.comp_id
    assert fix.sender_comp_id in {c.comp_id for c in venue_config.clients}
    venue_symbols = {s.symbol: s.tick_size for s in venue_config.symbols}
    for instrument in service_config.instruments:
        assert venue_symbols.get(instrument.symbol) == instrument.tick_size, instrument.symbol
    assert service_config.store.kind is StoreKind.REDIS
    redis_url = urlparse(service_config.store.redis_url.get_secret_value())
    assert redis_url.hostname == "redis" and (redis_url.port or REDIS_PORT) == REDIS_PORT
    assert {VENUE, "redis"} <= depends_on(SERVICES[SERVICE])


def test_servers_bind_an_address_other_containers_reach(
        service_config: ServiceConfig, venue_config: VenueConfig) -> None:
    assert service_config.api.host in {"0.0.0.0", "::"}, "127.0.0.1 is the container alone"
    assert venue_config.host in {"0.0.0.0", "::"}, "127.0.0.1 is the container alone"


def test_service_files_are_in_the_image_and_load(service_config: ServiceConfig) -> None:
    limits_file = image_file(service_config.risk.limits_path)
    assert limits_file is not None, f"{service_config.risk.limits_path} is not in the image"
    limits = load_limits(limits_file)
    for instrument in service_config.instruments:
        assert instrument.symbol in limits.symbols
    model_file = image_file(service_config.policy.model_path)
    if service_config.policy.name == "onnx":
        assert model_file is not None, f"{service_config.policy.model_path} is not in the image"
    make_policy(service_config.policy.name, model_file)


def test_state_directories_are_on_volumes(
        service_config: ServiceConfig, venue_config: VenueConfig) -> None:
    workdir = PurePosixPath(runtime_workdir())
    for name, state_dir in ((SERVICE, service_config.fix.state_dir),
                            (VENUE, venue_config.state_dir)):
        path = workdir / str(state_dir)
        targets = [PurePosixPath(m.target) for m in mounts(SERVICES[name]) if not m.bind]
        assert any(t == path or t in path.parents for t in targets), \
            f"{name}: {path} is not on a volume: FIX state would not survive a restart"


def test_published_ports_are_the_configured_ones_on_loopback(
        service_config: ServiceConfig, venue_config: VenueConfig) -> None:
    expected = {SERVICE: service_config.api.port, VENUE: venue_config.port,
                "prometheus": PROMETHEUS_PORT, "grafana": GRAFANA_PORT}
    for name, port in expected.items():
        ports = published(SERVICES[name])
        assert ports, f"{name} publishes no port"
        for address, container_port in ports:
            assert container_port == port, f"{name} publishes {container_port}, listens on {port}"
            assert address == "127.0.0.1", f"{name}: publish on the host's loopback only"
    assert "GF_SERVER_HTTP_PORT" not in environment(SERVICES["grafana"])
    assert "command" not in SERVICES["prometheus"], "a command would drop --config.file"
    assert ("127.0.0.1", GRAFANA_PORT) in published(SERVICES["grafana"])  # localhost:3000


def test_venue_healthcheck_probes_its_fix_port(venue_config: VenueConfig) -> None:
    test = SERVICES[VENUE].get("healthcheck", {}).get("test")
    assert test, "the venue serves no /healthz: it needs a healthcheck of its own"
    assert test[0] == "CMD" and test[1] == "python"
    code = test[-1]
    assert "/healthz" not in code
    ports = re.findall(r"\b\d{3,5}\b", re.sub(r"\d+(\.\d+){3}", "", code))  # not the address
    assert ports == [str(venue_config.port)], f"the venue listens on {venue_config.port}: {code}"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        free = listener.getsockname()[1]
        probe = code.replace(str(venue_config.port), str(free))
        ok = subprocess.run([sys.executable, "-c", probe], timeout=30, check=False)
        assert ok.returncode == 0
    closed = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30,
                            check=False)
    assert closed.returncode != 0


# --- the offline profile -------------------------------------------------------------------


def offline_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in SERVICES.items() if "offline" in (svc.get("profiles") or [])}


def offline_role(program: str) -> str:
    """The offline service whose command runs ``program`` (an execagent subcommand, or a
    binary of the ops image)."""
    names = []
    for name, svc in offline_services().items():
        command = command_of(svc)
        if command[:1] == [program] or (svc.get("image") == SERVICES[SERVICE]["image"]
                                        and parse_cli(command, name).command == program):
            names.append(name)
    assert len(names) == 1, f"expected one offline service running {program}: {names}"
    return names[0]


def option(command: list[str], name: str) -> str:
    """The value of ``--name value`` or ``--name=value`` in ``command``."""
    for index, word in enumerate(command):
        if word == name:
            return command[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    raise AssertionError(f"{name} not in {command}")


def test_offline_profile_runs_the_stack_from_local_images_on_the_host_network(
        monkeypatch: pytest.MonkeyPatch) -> None:
    offline = offline_services()
    run, venue = offline_role("run"), offline_role("venue")
    store, prometheus = offline_role("redis-server"), offline_role("prometheus")
    assert set(offline) == {run, venue, store, prometheus}
    version_tag = makefile_variable("IMAGE").replace("$(VERSION)", PYPROJECT["project"]["version"])
    ops_image = re.search(r"OPS_IMAGE=\$\{OPS_IMAGE:-([^}]+)\}",
                          (ROOT / "scripts" / "ensure-docker.sh").read_text())
    assert ops_image is not None
    for name, service in offline.items():
        assert service["network_mode"] == "host", f"{name}: no bridge, the host's network"
        assert not builds_image(service) and not published(service), name
        expected = version_tag if name in {run, venue} else ops_image.group(1)
        assert service["image"] == expected, f"{name}: {service['image']}, not {expected}"
    assert SERVICES[SERVICE]["image"] == version_tag  # the image make image tags

    config = load_service_config(monkeypatch, run)
    venue_file = load_venue_config(config_file(venue))
    assert (config.fix.host, config.fix.port) == ("127.0.0.1", venue_file.port)
    assert venue_file.host == "127.0.0.1" and config.api.host == "127.0.0.1", \
        "on the host's network, loopback only: the API takes orders"
    assert config.fix.target_comp_id == venue_file.comp_id
    assert config.fix.sender_comp_id in {c.comp_id for c in venue_file.clients}
    redis_url = urlparse(config.store.redis_url.get_secret_value())
    assert config.store.kind is StoreKind.REDIS and redis_url.hostname == "127.0.0.1"
    redis_command = command_of(SERVICES[store])
    assert (option(redis_command, "--bind"), int(option(redis_command, "--port"))) == \
        ("127.0.0.1", redis_url.port)
    assert {venue, store} <= depends_on(SERVICES[run])
    workdir = PurePosixPath(runtime_workdir())
    for name, state_dir in ((run, config.fix.state_dir), (venue, venue_file.state_dir)):
        targets = [PurePosixPath(m.target) for m in mounts(SERVICES[name]) if not m.bind]
        assert any(t in (workdir / str(state_dir)).parents for t in targets), name
    healthcheck = SERVICES[venue]["healthcheck"]["test"][-1]
    assert f"{venue_file.port:04X}" in healthcheck or str(venue_file.port) in healthcheck

    # Prometheus: deploy/prometheus/prometheus.yml itself, which scrapes 127.0.0.1:<API port>.
    command = command_of(SERVICES[prometheus])
    config_path = host_path(SERVICES[prometheus], option(command, "--config.file"))
    assert config_path == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    scrape = {job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
              for job in load_yaml(config_path)["scrape_configs"]}
    assert scrape["execagent"] == [f"127.0.0.1:{config.api.port}"]
    assert scrape["prometheus"] == [option(command, "--web.listen-address")]
    for rule_file in load_yaml(config_path).get("rule_files") or []:
        mounted = host_path(SERVICES[prometheus], str(
            PurePosixPath(option(command, "--config.file")).parent / rule_file))
        assert mounted is not None and mounted.is_file(), f"rule file {rule_file} not mounted"
    data = [PurePosixPath(m.target) for m in mounts(SERVICES[prometheus]) if not m.bind]
    assert PurePosixPath(option(command, "--storage.tsdb.path")) in data


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def without_targets(config: dict[str, Any], job: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(config))
    for scrape in copy["scrape_configs"]:
        if scrape["job_name"] == job:
            scrape.pop("static_configs")
    return copy


def test_prometheus_scrapes_the_service_container(service_config: ServiceConfig) -> None:
    prometheus = SERVICES["prometheus"]
    config_path = host_path(prometheus, PROMETHEUS_CONFIG)
    assert config_path is not None and config_path.is_file(), f"nothing at {PROMETHEUS_CONFIG}"
    config = load_yaml(config_path)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for s in jobs["execagent"]["static_configs"] for t in s["targets"]]
    assert targets == [f"{SERVICE}:{service_config.api.port}"]
    routes = {r.resource.canonical for r in build_app(Metrics()).router.routes() if r.resource}
    assert jobs["execagent"].get("metrics_path", "/metrics") in routes
    assert SERVICE in depends_on(prometheus)
    # Everything else as in the Prometheus configuration the alerts and dashboards are built on.
    reference = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    assert without_targets(config, "execagent") == without_targets(reference, "execagent"), \
        f"{config_path.relative_to(ROOT)} differs from deploy/prometheus/prometheus.yml " \
        "beyond the execagent target: copy the change over"
    for rule_file in config.get("rule_files") or []:
        mounted = host_path(prometheus, str(PurePosixPath(PROMETHEUS_CONFIG).parent / rule_file))
        assert mounted is not None and mounted.is_file(), f"rule file {rule_file} not mounted"


def test_prometheus_configuration_as_mounted_passes_promtool(tmp_path: Path) -> None:
    """The container's /etc/prometheus, rebuilt from the mounts, checked by promtool."""
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is not on PATH: run scripts/ensure-promtool.sh (make test does)")
    etc = PurePosixPath(PROMETHEUS_CONFIG).parent
    for mount in mounts(SERVICES["prometheus"]):
        target = PurePosixPath(mount.target)
        if mount.bind and etc in target.parents:
            shutil.copy(COMPOSE.parent / mount.source, tmp_path / target.relative_to(etc))
    config = tmp_path / PurePosixPath(PROMETHEUS_CONFIG).name
    result = subprocess.run([exe, "check", "config", str(config)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_gets_the_datasource_and_the_dashboards() -> None:
    grafana = SERVICES["grafana"]
    assert "prometheus" in depends_on(grafana)
    datasources_dir = host_path(grafana, f"{GRAFANA_PROVISIONING}/datasources")
    assert datasources_dir is not None and datasources_dir.is_dir()
    datasources = [d for f in sorted(datasources_dir.glob("*.y*ml"))
                   for d in load_yaml(f)["datasources"]]
    assert datasources, "no datasource provisioned"
    for datasource in datasources:
        url = urlparse(datasource["url"])
        assert (url.hostname, url.port) == ("prometheus", PROMETHEUS_PORT), datasource["url"]
    reference = load_yaml(ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml")
    ours = [dict(d, url=None) for d in datasources]
    assert ours == [dict(d, url=None) for d in reference["datasources"]], \
        "the compose datasource differs from deploy/grafana's beyond the URL"
    providers_dir = host_path(grafana, f"{GRAFANA_PROVISIONING}/dashboards")
    assert providers_dir is not None and providers_dir.is_dir()
    providers = [p for f in sorted(providers_dir.glob("*.y*ml")) for p in load_yaml(f)["providers"]]
    assert providers
    uids = {d["uid"] for d in datasources}
    for provider in providers:
        dashboards = host_path(grafana, provider["options"]["path"])
        assert dashboards is not None, f"nothing mounted at {provider['options']['path']}"
        files = sorted(dashboards.glob("*.json"))
        assert files, f"no dashboard in {dashboards}"
        for file in files:
            used = datasource_uids(json.loads(file.read_text()))
            assert used <= uids, f"{file.name} refers to datasources {used - uids}"
    home = environment(grafana).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        home_file = host_path(grafana, home)
        assert home_file is not None and home_file.is_file(), f"home dashboard {home} missing"


def datasource_uids(node: Any) -> set[str]:
    """The Prometheus datasource uids a dashboard refers to (template variables aside)."""
    found: set[str] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and source.get("type") == "prometheus" \
                and not str(source.get("uid", "$")).startswith("$"):
            found.add(source["uid"])
        for value in node.values():
            found |= datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= datasource_uids(value)
    return found
