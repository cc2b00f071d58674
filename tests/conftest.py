"""Suite-wide guard: never test stale compiled code.

The modules in native-modules.txt are compiled with mypyc into extensions that sit beside their
sources and import in their place. After an edit to one of them, the old extension would still
be what runs, and the suite would pass or fail on code that no longer exists; `make native` (or
`make test`, which depends on it) rebuilds them.
"""

from __future__ import annotations

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
