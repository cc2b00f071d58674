"""The fingerprint a feature specification carries into every model file trained on it.

A model is only valid on the features it was trained on: each specification (the policy's
observation, the price signal's features, the posture's market state) is hashed from its
feature table and the source of the code that computes it, and a model whose hash differs is
refused at load. The source is read from the file, not from the objects: a module compiled with
mypyc (native-modules.txt) carries no source, and the hash must not depend on whether it was
compiled.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def source_of(source_file: Path, names: Iterable[str]) -> list[str]:
    """The source of ``source_file``'s top-level functions and classes ``names``, exactly as
    ``inspect.getsource`` gives it for the interpreted module."""
    source = source_file.read_text()
    lines = source.splitlines(keepends=True)
    starts = {node.name: node.lineno - 1 for node in ast.parse(source).body
              if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return ["".join(inspect.getblock(lines[starts[name]:])) for name in names]


def spec_hash(definition: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of ``definition`` as canonical JSON."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
