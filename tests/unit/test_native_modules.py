"""The modules native-modules.txt lists run compiled, as the benchmarks measured them."""

from __future__ import annotations

import importlib
import os

import pytest

from tests.conftest import ROOT, native_sources


@pytest.mark.skipif(os.environ.get("EXECAGENT_PURE_PYTHON") == "1",
                    reason="built without compiling (EXECAGENT_PURE_PYTHON=1)")
@pytest.mark.parametrize("source", native_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_listed_module_imports_compiled(source):
    name = ".".join(source.relative_to(ROOT).with_suffix("").parts)
    module = importlib.import_module(name)
    assert module.__file__ is not None and module.__file__.endswith(".so"), \
        f"{name} imports from {module.__file__}: run `make native`"


def test_every_listed_module_exists():
    assert native_sources(), "native-modules.txt lists no module"
    for source in native_sources():
        assert source.is_file(), f"native-modules.txt lists {source}, which does not exist"
