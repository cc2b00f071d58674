"""Suite-wide guard: never test stale compiled code.

The modules in native-modules.txt are compiled with mypyc into extensions that sit beside their
sources and import in their place. After an edit to one of them, the old extension would still
be what runs, and the suite would pass or fail on code that no longer exists; `make native` (or
`make test`, which depends on it) rebuilds them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def native_sources() -> list[Path]:
    listing = (ROOT / "native-modules.txt").read_text().splitlines()
    return [ROOT / line.strip() for line in listing
            if line.strip() and not line.lstrip().startswith("#")]


def compiled_beside(source: Path) -> list[Path]:
    return sorted(source.parent.glob(f"{source.stem}.*.so"))


def pytest_configure(config: pytest.Config) -> None:
    stale = [str(source.relative_to(ROOT)) for source in native_sources()
             for extension in compiled_beside(source)
             if source.stat().st_mtime > extension.stat().st_mtime]
    if stale:
        raise pytest.UsageError(f"compiled modules older than their source: {stale}; "
                                "run `make native` to rebuild them")


@pytest.fixture(autouse=True)
def _execagent_log_levels() -> Iterator[None]:
    """Each test starts with our loggers' levels as the one before found them. A command run
    in-process sets them for its whole process, as it should in production (the CLI's
    ``--log-level``, the training run quieting the overlay's denial log), and the suite runs many
    commands in one process."""
    manager = logging.root.manager
    before = {name: logger.level for name, logger in manager.loggerDict.items()
              if name.startswith("execagent") and isinstance(logger, logging.Logger)}
    yield
    for name, logger in list(manager.loggerDict.items()):
        if name.startswith("execagent") and isinstance(logger, logging.Logger):
            logger.setLevel(before.get(name, logging.NOTSET))
