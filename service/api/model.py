"""``GET /api/v1/model``: which policy new parent orders get, and for ONNX which model exactly.

Why the sha256 and the metadata: after a retraining, "which model is this service running?"
must have an answer that does not depend on a file name. The service builds the policy afresh
for each parent order from the configured path, so the answer describes the file as it is now;
it is cached per file version (path, size, modification time) and computed off the event loop,
since loading an ONNX model takes milliseconds the engine should not wait for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from aiohttp import web

from models.policy import OnnxPolicy
from service.api.auth import Principal, Tokens
from service.api.routes import OperatorRoutes, reply
from service.api.schemas import ActionEntry, ModelInfo
from service.metrics import Metrics

_PREFIX = "execagent."
_FIELDS = ("feature_spec_id", "feature_spec_hash", "algorithm", "training_data", "seed",
           "git_commit", "trained_at")


def model_info(policy: str, model_path: Path) -> ModelInfo:
    """What :class:`ModelInfo` says of ``policy``; a model file that cannot be used is
    described with the problem named, never raised: the service runs, and orders naming the
    policy are refused with the same message."""
    if policy != "onnx":
        return ModelInfo(policy=policy, kind="baseline")
    info = ModelInfo(policy=policy, kind="onnx", path=str(model_path))
    try:
        info.sha256 = hashlib.sha256(model_path.read_bytes()).hexdigest()
    except OSError as exc:
        info.problem = f"model file {model_path}: {exc.strerror or exc}"
        return info
    try:
        metadata = OnnxPolicy(model_path).metadata
    except ValueError as exc:  # ModelError: not ONNX, or another feature spec or action table
        info.problem = str(exc)
        return info
    info.metadata = dict(metadata)
    for field in _FIELDS:
        setattr(info, field, metadata.get(_PREFIX + field))
    try:
        info.action_table = [ActionEntry(kind=str(kind), multiple=float(mult)) for kind, mult
                             in json.loads(metadata[_PREFIX + "action_table"])]
    except (KeyError, ValueError, TypeError):  # OnnxPolicy checked it; only a race gets here
        info.action_table = None
    return info


class ModelRoutes(OperatorRoutes):
    """The ``model`` group of :data:`service.api.openapi.OPERATIONS`."""

    GROUP = "model"

    def __init__(self, policy: str, model_path: Path, tokens: Tokens, metrics: Metrics) -> None:
        super().__init__(tokens, metrics)
        self.policy = policy
        self.model_path = model_path
        self._cached: tuple[object, ModelInfo] | None = None

    async def model(self, _request: web.Request, _who: Principal) -> web.Response:
        return reply(await self.info())

    async def info(self) -> ModelInfo:
        version: object = None
        if self.policy == "onnx":
            try:
                stat = self.model_path.stat()
                version = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                version = "missing"
        if self._cached is None or self._cached[0] != version:
            info = await asyncio.to_thread(model_info, self.policy, self.model_path)
            self._cached = (version, info)
        return self._cached[1]
