"""Which policy works a parent order: the one named (the configured one by default), and for
``onnx`` the live model or, when ``policy.model_path`` names a policy book
(:mod:`models.policy_book`), the book's model for the parent's side, participation and horizon.

Every parent gets its policy built afresh from the file as it is now (the live model is the
one :mod:`service.oversight.model_slots` holds, promotion changes it); a book is read and
checked once, at start: to change it, edit it and restart. The policy a book picks is named
``rl:<model file stem>`` (``rl`` alone for a single live model), so each entry's parents,
metrics and expected cost stay apart.

A parent outside what the model, or every entry of the book, was trained for is refused
(:class:`models.policy.OutsideTrainedRange`, one line naming the way out: a baseline). A parent
recovered from the store is worked again by the policy it was worked by: the same book entry
is picked again for it, without the trained-range check (it was accepted once; refusing it now
would leave its shares unworked). When that policy cannot be built any more (a model file gone,
a book changed so that no entry covers it), it resumes with TWAP, which works any parent and
needs no file, and the log says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from core.domain import ParentOrder, Side
from models.names import RL_NAME, is_book
from models.policy import ExecutionPolicy, ModelError, OnnxPolicy
from models.policy_book import PolicyBook
from models.registry import make_policy

log = logging.getLogger(f"execagent.{__name__}")

FALLBACK = "twap"  # what a recovered parent resumes with when its policy cannot be built


def book_policy_name(model: Path) -> str:
    """The name a book entry's model works its parents under (a single live model's is
    ``rl``)."""
    return f"{RL_NAME}:{model.stem}"


def checked(policy: ExecutionPolicy, side: Side, qty: int,
            duration_s: float) -> ExecutionPolicy:
    """``policy``, if it may work the parent: an ONNX model only parents like those it was
    trained on (OutsideTrainedRange otherwise); the baselines work any."""
    if isinstance(policy, OnnxPolicy):
        policy.check_parent(int(side), qty, duration_s)
    return policy


class LivePolicies:
    """The policies new and recovered parents get. ``name`` is the configured policy,
    ``model_path`` the configured model file or book, ``live_path`` the live model file now
    (it moves on a promotion). A book that cannot be used raises its ModelError (one line)."""

    def __init__(self, name: str, model_path: Path, live_path: Callable[[], Path]) -> None:
        self.name = name
        self._live_path = live_path
        self.book = PolicyBook(model_path) if is_book(model_path) else None
        if self.book is not None:
            _check_names(self.book)

    def for_parent(self, side: Side, qty: int, duration_s: float, name: str | None = None,
                   urgency: str = "normal") -> ExecutionPolicy:
        """The policy ``name`` (the configured one by default) for a new parent; ValueError
        (ModelError, OutsideTrainedRange) when it cannot be built or will not work it."""
        name = name or self.name
        if name == "onnx" and self.book is not None:
            model = self.book.model_for(int(side), qty, duration_s)
            return OnnxPolicy(model, name=book_policy_name(model))
        return checked(make_policy(name, self._live_path(), urgency=urgency), side, qty,
                       duration_s)

    def for_recovered(self, parent: ParentOrder) -> ExecutionPolicy:
        """The policy ``parent`` was worked by, built again; TWAP when it cannot be."""
        duration_s = (parent.end_ns - parent.start_ns) / 1e9
        try:
            if parent.policy == RL_NAME:
                return OnnxPolicy(self._live_path())
            if parent.policy.startswith(f"{RL_NAME}:"):
                if self.book is None:
                    raise ValueError("policy.model_path no longer names a policy book")
                model = self.book.model_for(int(parent.side), parent.qty, duration_s)
                if book_policy_name(model) != parent.policy:
                    raise ValueError(f"the book now gives such a parent to {model.name}")
                return OnnxPolicy(model, name=parent.policy)
            return make_policy(parent.policy, self._live_path())
        except ValueError as exc:
            log.error("parent %s was worked by %r, which cannot work it now (%s); it resumes "
                      "with %s", parent.parent_id, parent.policy, exc, FALLBACK)
            return make_policy(FALLBACK)


def _check_names(book: PolicyBook) -> None:
    """Two different model files with one stem would share a name, and with it their parents'
    metrics, drift monitors and recovery: a ModelError naming both."""
    seen: dict[str, Path] = {}
    for entry in book.entries:
        first = seen.setdefault(entry.model.stem, entry.model)
        if first.resolve() != entry.model.resolve():
            raise ModelError(f"policy book {book.path}: {first} and {entry.model} share the "
                             f"name {book_policy_name(entry.model)!r} the service works their "
                             "parents under: rename one")
