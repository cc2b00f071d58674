"""The wheelhouse the container image installs from, offline (Dockerfile, ``make wheelhouse``).

    python scripts/wheelhouse.py deps [DIR]      DIR/deps: a wheel of every runtime dependency
    python scripts/wheelhouse.py project [DIR]   DIR/project: the project's wheel
    python scripts/wheelhouse.py sources         the files the project's wheel is built from

``deps`` writes ``DIR/deps/requirements.txt`` from pyproject.toml's ``[project]`` dependencies
(no extra: the image has no torch) and runs ``pip wheel`` on it, pinned to the versions this
Python's environment has installed (the ones the test suite ran against; quickfix then comes
from pip's wheel cache instead of a 6-minute compile; wheels compiled here lose their debug
symbols). ``project`` runs ``pip wheel --no-deps``
on the repository: the wheel carries its mypyc-compiled modules (setup.py). Both build in a
scratch directory and then replace only what changed, so an unchanged wheel keeps its bytes and
the image's layer cache holds.

Run it with the Python whose environment should be pinned (``make wheelhouse`` uses .venv's).
The wheels are for this machine's platform: the image's base must be Debian 12 with Python
3.11, like the host (the Dockerfile says so).
"""

from __future__ import annotations

import filecmp
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]["name"]
REQUIREMENTS = "requirements.txt"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0])


def package_dirs() -> list[Path]:
    """The top-level package directories pyproject.toml's ``packages.find.include`` selects."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {pattern.split(".")[0].rstrip("*") for pattern in patterns}
    return sorted(ROOT / top for top in tops if (ROOT / top / "__init__.py").is_file())


def sources() -> list[Path]:
    """Every file that can change the project's wheel: the packages (not their compiled or
    cached files) and the build's inputs."""
    found = [path for directory in package_dirs() for path in directory.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts
             and path.suffix not in {".so", ".pyc", ".c", ".o"}]
    inputs = ["pyproject.toml", "setup.py", "native-modules.txt", "MANIFEST.in",
              PYPROJECT["project"]["readme"]]
    return sorted(found) + [ROOT / name for name in inputs if (ROOT / name).is_file()]


def installed_pins() -> list[str]:
    """``name==version`` of every distribution in this environment but the project itself."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) != canonical(PROJECT):
            pins[canonical(name)] = f"{canonical(name)}=={dist.version}"
    return sorted(pins.values())


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(f"wheelhouse: `pip {' '.join(args)}` failed (exit {result.returncode})")


def wheel_requirements(wheels: Path) -> dict[str, list[str]]:
    """Each wheel's distribution (canonical name) and its Requires-Dist lines."""
    found = {}
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(name).decode())
        found[canonical(metadata["Name"])] = metadata.get_all("Requires-Dist") or []
    return found


def unmet(requirements: list[str], wheels: Path, python: str) -> list[str]:
    """The requirements, direct or not, that a Python ``python`` (full version) on this
    platform needs and ``wheels`` has no wheel for. pip resolves for the Python running it
    only: Debian 12's python3 is 3.11.2, and redis asks for async-timeout below 3.11.3."""
    from packaging.markers import default_environment  # in .venv; `sources` needs only stdlib
    from packaging.requirements import Requirement

    environment: dict[str, str] = {str(k): str(v) for k, v in default_environment().items()}
    environment.update(python_full_version=python, python_version=".".join(python.split(".")[:2]))
    available = wheel_requirements(wheels)
    todo = [(Requirement(r), frozenset({""})) for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing = []
    while todo:
        requirement, extras = todo.pop()
        if requirement.marker is not None and not any(
                requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras):
            continue
        name = canonical(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        if name not in available:
            requirement.marker = None
            missing.append(str(requirement))
            continue
        wanted = frozenset({"", *requirement.extras})
        todo.extend((Requirement(line), wanted) for line in available[name])
    return sorted(missing)


def target_pythons() -> list[str]:
    """Every patch release of this Python's minor version up to its own: the image's base may
    ship any of them (Debian 12: 3.11.2; python:3.11-slim: the latest)."""
    major, minor, micro = sys.version_info[:3]
    return [f"{major}.{minor}.{patch}" for patch in range(micro + 1)]


def strip_local_builds(wheels: Path) -> None:
    """Drop the debug symbols of the shared objects in wheels compiled here (platform tag
    ``linux_*``, not a registry's ``manylinux``): quickfix's sdist compiles with -g, 65 MB of
    its 67 MB extension. Repacked with a fixed timestamp, so the same input gives the same
    bytes. Skipped where binutils' strip is missing (the image is then only larger)."""
    strip = shutil.which("strip")
    if strip is None:
        print("wheelhouse: no `strip` on PATH: locally built wheels keep their debug symbols")
        return
    for wheel in sorted(wheels.glob("*-linux_*.whl")):
        with tempfile.TemporaryDirectory(prefix="wheelhouse-strip-") as scratch:
            subprocess.run([sys.executable, "-m", "wheel", "unpack", "--dest", scratch,
                            str(wheel)], check=True, capture_output=True)
            (unpacked,) = Path(scratch).iterdir()
            objects = [str(p) for p in unpacked.rglob("*.so*") if p.is_file()]
            if not objects:
                continue
            subprocess.run([strip, "--strip-debug", *objects], check=True)
            wheel.unlink()
            subprocess.run([sys.executable, "-m", "wheel", "pack", "--dest-dir", str(wheels),
                            str(unpacked)], check=True, capture_output=True,
                           env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"})


def sync(built: Path, target: Path, keep: set[str]) -> list[str]:
    """Make ``target`` hold exactly ``built``'s files (and ``keep``), rewriting only those whose
    bytes differ. Returns the names written."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for stale in target.iterdir():
        if stale.name not in keep and not (built / stale.name).exists():
            stale.unlink()
    for wheel in sorted(built.iterdir()):
        existing = target / wheel.name
        if not existing.exists() or not filecmp.cmp(wheel, existing, shallow=False):
            shutil.copy2(wheel, existing)
            written.append(wheel.name)
    return written


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def build_deps(house: Path) -> None:
    requirements = PYPROJECT["project"]["dependencies"]
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as scratch:
        scratch_dir = Path(scratch)
        wanted = scratch_dir / REQUIREMENTS
        wanted.write_text("\n".join(requirements) + "\n")
        pins = scratch_dir / "constraints.txt"
        pins.write_text("\n".join(installed_pins()) + "\n")
        wheels = scratch_dir / "wheels"
        pip("wheel", "--quiet", "--wheel-dir", str(wheels), "--requirement", str(wanted),
            "--constraint", str(pins))
        for python in target_pythons():
            extra = unmet(requirements, wheels, python)
            if extra:
                print(f"wheelhouse: Python {python} also needs {', '.join(extra)}")
                pip("wheel", "--quiet", "--wheel-dir", str(wheels), "--constraint", str(pins),
                    *extra)
        strip_local_builds(wheels)
        built = {requirement_name(w.name.split("-")[0]) for w in wheels.glob("*.whl")}
        missing = sorted({requirement_name(r) for r in requirements} - built)
        if missing:
            sys.exit(f"wheelhouse: pip built no wheel for {', '.join(missing)}")
        written = sync(wheels, house / "deps", keep={REQUIREMENTS})
        header = ("# pyproject.toml's [project] dependencies, written by scripts/wheelhouse.py:"
                  " the image installs these from this directory alone.\n")
        write_if_changed(house / "deps" / REQUIREMENTS, header + wanted.read_text())
    count = len(list((house / "deps").glob("*.whl")))
    print(f"wheelhouse: {count} dependency wheels in {house / 'deps'}"
          f" ({len(written)} new or changed)")


def build_project(house: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as scratch:
        wheels = Path(scratch)
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT))
        strip_local_builds(wheels)
        names = [w.name for w in wheels.glob("*.whl")]
        if len(names) != 1 or not canonical(names[0]).startswith(canonical(PROJECT) + "-"):
            sys.exit(f"wheelhouse: expected one {PROJECT} wheel, pip built {names}")
        sync(wheels, house / "project", keep=set())
    print(f"wheelhouse: {names[0]} in {house / 'project'}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"deps", "project", "sources"} or len(argv) > 2:
        print("\n".join(__doc__.strip().splitlines()[2:5]), file=sys.stderr)
        return 2
    if argv[0] == "sources":
        print("\n".join(str(p.relative_to(ROOT)) for p in sources()))
        return 0
    house = (Path(argv[1]) if len(argv) == 2 else ROOT / "wheelhouse").resolve()
    (build_deps if argv[0] == "deps" else build_project)(house)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
