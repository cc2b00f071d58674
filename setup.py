"""Build hook: compiles the modules listed in native-modules.txt with mypyc.

Everything else about the package is in pyproject.toml. mypyc turns the listed modules, which
are ordinary type-annotated Python, into C extensions that import in their place (an extension
module is found before the ``.py`` beside it): the risk check and the simulator's event loop
run 2x faster that way (docs/benchmarks.md, "Compiled modules"). ``EXECAGENT_PURE_PYTHON=1``
builds without a C compiler and runs the same source interpreted, slower and otherwise alike.
"""

import os
from pathlib import Path

from setuptools import setup


def native_modules() -> list[str]:
    listing = Path(__file__).with_name("native-modules.txt").read_text()
    return [line.strip() for line in listing.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def extensions() -> list:
    if os.environ.get("EXECAGENT_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify  # a build requirement (pyproject.toml)

    return mypycify(native_modules(), opt_level="3")


setup(ext_modules=extensions())
