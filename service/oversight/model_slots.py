"""Which ONNX model is live and which one shadows it; promotion and rollback without a restart.

``policy.model_path`` starts live and ``policy.shadow`` (when set) starts as the shadow. A
promotion (admin API, ``POST /api/v1/model/promote``) makes the shadow live and the old live
model the shadow, so the two keep being compared the other way round; a rollback (``POST
/api/v1/model/rollback``) undoes the last promotion the same way. Each is refused with a reason
(409) unless it can be done whole:

- the candidate file must still be the one that was shadowing (same sha256: a file replaced
  on disk since it was loaded has not been watched);
- it must load and match the running code's feature spec and action table
  (:class:`models.policy.OnnxPolicy` checks both), which the shadow already proved by running.

A shadow model that observes the price signal (``execagent-obs-v2`` or ``-v3``) needs the
service to run a signal model (``signal.model_path``): without one it is refused, at start as
``policy.shadow``, as the engine refuses a live policy that observes the signal.

What changes: parents submitted from then on get the new live model; parents being worked keep
the model they started with, so each parent's cost belongs to one model (cancel and resubmit one
to move it). Each change is an operator action in the audit journal (who, why, which sha256).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from models.observation import feature_spec_of, observes_signal
from models.policy import ModelError, OnnxPolicy
from service.oversight.monitor import Oversight
from service.oversight.shadow import ShadowRunner
from service.state.journal import Journal

log = logging.getLogger(f"execagent.{__name__}")


class ModelChangeRefused(ValueError):
    """A promotion or rollback that cannot be done now; the message says why."""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(slots=True)
class Slot:
    path: Path
    sha256: str


class ModelSlots:
    def __init__(self, live_path: Path, shadow_path: Path | None, oversight: Oversight,
                 journal: Journal | None, policy_name: str, runs_signal: bool = False) -> None:
        self.live = Slot(live_path, _sha_or_blank(live_path))
        self.oversight = oversight
        self.journal = journal
        self.policy_name = policy_name  # the configured policy (onnx, or a baseline)
        self.runs_signal = runs_signal  # the service runs a price-signal model
        self.shadow: Slot | None = None
        self.promoted = False  # a rollback is possible
        if shadow_path is not None:
            self.shadow = Slot(shadow_path, _sha_or_blank(shadow_path))
            self._start_shadow(self.shadow)

    @property
    def live_path(self) -> Path:
        return self.live.path

    def _start_shadow(self, slot: Slot) -> None:
        """Load ``slot`` as the shadow; a ModelError (missing file, other feature spec, the
        price signal observed with no signal model running) goes to the caller."""
        policy = OnnxPolicy(slot.path, name="shadow")
        if observes_signal(policy) and not self.runs_signal:
            raise ModelError(f"shadow model {slot.path} observes the price signal "
                             f"({feature_spec_of(policy)}) but the service runs no signal "
                             "model: configure signal.model_path")
        self.oversight.shadow = ShadowRunner(policy, slot.sha256[:12], self.journal)

    def promote(self) -> tuple[Slot, Slot]:
        """The shadow becomes live, the live model the shadow; (new live, new shadow)."""
        if self.shadow is None:
            raise ModelChangeRefused("no shadow model is running (policy.shadow): nothing to "
                                     "promote")
        return self._swap(self.shadow, promoted=True)

    def rollback(self) -> tuple[Slot, Slot]:
        if not self.promoted or self.shadow is None:
            raise ModelChangeRefused("no promotion to roll back")
        return self._swap(self.shadow, promoted=False)

    def _swap(self, candidate: Slot, promoted: bool) -> tuple[Slot, Slot]:
        try:
            sha = file_sha256(candidate.path)
        except OSError as exc:
            raise ModelChangeRefused(f"{candidate.path}: {exc.strerror or exc}") from exc
        if sha != candidate.sha256:
            raise ModelChangeRefused(f"{candidate.path} changed on disk since it was loaded "
                                     f"(sha256 {candidate.sha256[:12]} -> {sha[:12]}): it has not "
                                     "been watched in shadow; restart with it as policy.shadow")
        try:
            policy = OnnxPolicy(candidate.path)
        except ModelError as exc:
            raise ModelChangeRefused(str(exc)) from exc
        old_live = self.live
        try:
            self._start_shadow(old_live)
        except ModelError as exc:
            raise ModelChangeRefused(f"the live model cannot run as the shadow: {exc}") from exc
        self.live, self.shadow, self.promoted = candidate, old_live, promoted
        if self.policy_name == "onnx":
            self.oversight.watch_policy(policy.name, policy.metadata)
        return self.live, old_live


def _sha_or_blank(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""
