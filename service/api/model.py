"""``GET /api/v1/model``: which policy new parent orders get, and for ONNX which model exactly.

Why the sha256 and the metadata: after a retraining, "which model is this service running?"
must have an answer that does not depend on a file name. The service builds the policy afresh
for each parent order from the configured path, so the answer describes the file as it is now;
it is cached per file version (path, size, modification time; for a policy book, its models'
files) and computed off the event loop, since loading an ONNX model takes milliseconds the
engine should not wait for. A book is described as the service read it at start: it picks by
that book until it restarts, and loads each entry's model file afresh per parent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

from aiohttp import web

from models.names import is_book
from models.policy import ModelError, OnnxPolicy
from models.policy_book import BookEntry, PolicyBook
from service.api.auth import Principal, Tokens
from service.api.routes import OperatorRoutes, reply
from service.api.schemas import ActionEntry, BookEntryInfo, ModelChange, ModelInfo, ReasonBody
from service.live_policy import book_policy_name
from service.metrics import Metrics
from service.oversight.model_slots import ModelChangeRefused, ModelSlots, file_sha256

_PREFIX = "execagent."
_FIELDS = ("feature_spec_id", "feature_spec_hash", "algorithm", "training_data", "seed",
           "git_commit", "trained_at")


def model_info(policy: str, model_path: Path, book: PolicyBook | None = None) -> ModelInfo:
    """What :class:`ModelInfo` says of ``policy``; a model file that cannot be used is
    described with the problem named, never raised: the service runs, and orders naming the
    policy are refused with the same message. ``book``: the policy book the service read at
    start, which it picks by until it restarts (without it, the book file as it is now)."""
    if policy != "onnx":
        return ModelInfo(policy=policy, kind="baseline")
    info = ModelInfo(policy=policy, kind="book" if is_book(model_path) else "onnx",
                     path=str(model_path))
    if info.kind == "book":
        try:
            book = book or PolicyBook(model_path)
            info.sha256 = book.sha256
            info.entries = [_entry_info(entry) for entry in book.entries]
        except ValueError as exc:  # ModelError: the book, or one of its models, is unusable
            info.problem = str(exc)
        return info
    try:
        info.sha256 = file_sha256(model_path)
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


def _file_version(path: Path) -> object:
    try:
        stat = path.stat()
    except OSError:
        return (path, "missing")
    return (path, stat.st_size, stat.st_mtime_ns)


def _entry_info(entry: BookEntry) -> BookEntryInfo:
    """A book entry as :class:`BookEntryInfo` says it: the parents of the entry as the book was
    read, its model file as it is now (the service loads it for each parent); ModelError when
    a model file replaced since cannot be used."""
    covers, metadata = entry.covers, entry.metadata
    try:
        sha256 = file_sha256(entry.model)
    except OSError as exc:
        raise ModelError(f"model file {entry.model}: {exc.strerror or exc}") from exc
    if sha256 != entry.sha256:
        metadata = OnnxPolicy(entry.model).metadata
    return BookEntryInfo(
        policy=book_policy_name(entry.model), path=str(entry.model), sha256=sha256,
        sides=list(covers.sides),
        participation=covers.participation,
        horizon_minutes=(covers.horizon_s[0] / 60, covers.horizon_s[1] / 60),
        **{field: metadata.get(_PREFIX + field)
           for field in ("feature_spec_id", "trained_at", "git_commit")})


class ModelRoutes(OperatorRoutes):
    """The ``model`` group of :data:`service.api.openapi.OPERATIONS`: what is live, and the
    promotion of the shadow model and its rollback (:mod:`service.oversight.model_slots`)."""

    GROUP = "model"

    def __init__(self, policy: str, slots: ModelSlots, tokens: Tokens, metrics: Metrics,
                 book: PolicyBook | None = None) -> None:
        super().__init__(tokens, metrics)
        self.policy = policy
        self.slots = slots
        self.book = book  # the service's, as read at start
        self._cached: tuple[object, ModelInfo] | None = None

    @property
    def model_path(self) -> Path:
        return self.slots.live_path

    async def model(self, _request: web.Request, _who: Principal) -> web.Response:
        return reply(await self.info())

    async def info(self) -> ModelInfo:
        version = self._version()
        if self._cached is None or self._cached[0] != version:
            info = await asyncio.to_thread(model_info, self.policy, self.model_path, self.book)
            self._cached = (version, info)
        return self._cached[1]

    def _version(self) -> object:
        """The live model file's (path, size, modification time); for a book each of its
        models' (the book itself is the one read at start)."""
        if self.policy != "onnx":
            return self.model_path
        paths = [entry.model for entry in self.book.entries] if self.book is not None \
            else [self.model_path]
        return tuple(_file_version(path) for path in paths)

    async def promote(self, request: web.Request, who: Principal) -> web.Response:
        """The shadow model goes live for new parents; the live one becomes the shadow."""
        return await self._change(request, who, "promote")

    async def rollback(self, request: web.Request, who: Principal) -> web.Response:
        """The last promotion undone, the same way."""
        return await self._change(request, who, "rollback")

    async def _change(self, request: web.Request, who: Principal,
                      action: Literal["promote", "rollback"]) -> web.Response:
        body = await self.body(request, ReasonBody)
        change = self.slots.promote if action == "promote" else self.slots.rollback
        try:
            live, shadow = await asyncio.to_thread(change)
        except ModelChangeRefused as exc:
            raise self.reject(409, "conflict", str(exc)) from exc
        self.metrics.oversight.model_changes.labels(action).inc()
        self.journal(who, f"model_{action}", body.reason, live=live.path,
                     live_sha256=live.sha256[:12], shadow=shadow.path,
                     shadow_sha256=shadow.sha256[:12])
        return reply(ModelChange(action=action, live_path=str(live.path),
                                 live_sha256=live.sha256, shadow_path=str(shadow.path),
                                 shadow_sha256=shadow.sha256))
