"""Model oversight on the live engine: drift, the shadow policy, and live TCA against the card.

The engine calls three hooks (:meth:`Oversight.on_tick`, :meth:`~Oversight.on_decision`,
:meth:`~Oversight.on_finish`); none of them sends anything or changes what the engine does.

- **Feature drift**: each model that carries reference histograms in its file
  (:mod:`models.drift`) gets one :class:`~models.drift.DriftMonitor` per input feature: the live
  ONNX policy (its 12 observation features, on every decision of a parent it works) and the risk
  posture (its 5 market-state features, on every tick).
- **Prediction drift**: the same, over a model's output stream: the ONNX policy's chosen action
  kind (categorical), the posture's anomaly score. A price signal plugs in the same way
  (:meth:`Oversight.watch`: its reference in its metadata, ``observe_output`` per prediction).
- **Live TCA**: every finished parent's shortfall against the expected cost of its policy, from
  the model card the ONNX file carries (``execagent.expected_shortfall_bps`` and ``..._std_bps``)
  or, for a baseline, the configuration (``oversight.expected_shortfall``): the excess over the
  expectation, in bps, goes into ``execagent_parent_shortfall_excess_bps{policy}``.
- **Shadow**: a :class:`~service.oversight.shadow.ShadowRunner` when ``policy.shadow`` names a
  candidate.

Model names in the metrics are roles, a closed set: ``policy`` (the live ONNX model; with a
policy book, ``policy:<model file stem>`` for each of its models, fixed at start), ``posture``,
and later ``signal``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.depth_book import DepthBook
from core.domain import MarketData, ParentOrder
from models.actions import Action
from models.drift import DriftMonitor, ReferenceError
from models.features import MarketTracker
from models.policy import DecisionContext
from service.oversight.shadow import ShadowRunner
from service.posture.gate import PostureGate

log = logging.getLogger(f"execagent.{__name__}")

REFERENCE_KEY = "execagent.reference"  # the ONNX metadata entry holding the histograms
EXPECTED_KEY = "execagent.expected_shortfall_bps"
EXPECTED_STD_KEY = "execagent.expected_shortfall_std_bps"


@dataclass(frozen=True, slots=True)
class ExpectedCost:
    """A policy's expected shortfall (bps) and its spread across parents, from its card."""

    mean_bps: float
    std_bps: float


@dataclass(slots=True)
class WatchedModel:
    """One model's drift monitors: inputs by feature, outputs by name."""

    role: str
    features: list[DriftMonitor]
    outputs: list[DriftMonitor]


def watched_from(role: str, reference: Mapping[str, Any], window: int) -> WatchedModel:
    """Monitors from a reference section ``{"features": {name: ref}, "outputs": {name: ref}}``;
    a reference that cannot be used raises :class:`~models.drift.ReferenceError`."""
    features = [DriftMonitor(name, ref, window)
                for name, ref in dict(reference.get("features", {})).items()]
    outputs = [DriftMonitor(name, ref, window)
               for name, ref in dict(reference.get("outputs", {})).items()]
    return WatchedModel(role, features, outputs)


def onnx_reference(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The reference histograms an ONNX policy file carries, None when it carries none."""
    raw = metadata.get(REFERENCE_KEY)
    if raw is None:
        return None
    try:
        reference = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ReferenceError(f"{REFERENCE_KEY} is not JSON: {exc}") from exc
    if not isinstance(reference, dict):
        raise ReferenceError(f"{REFERENCE_KEY} must be a JSON object")
    return reference


def onnx_expected_cost(metadata: Mapping[str, str]) -> ExpectedCost | None:
    try:
        return ExpectedCost(float(metadata[EXPECTED_KEY]), float(metadata[EXPECTED_STD_KEY]))
    except (KeyError, ValueError):
        return None


class Oversight:
    def __init__(self, window: int = 2_000) -> None:
        self.window = window
        self.models: dict[str, WatchedModel] = {}
        # Which role's monitors each ONNX policy's decisions feed, by the name its parents
        # carry: {"rl": "policy"}, or one role per model of a policy book.
        self.policy_roles: dict[str, str] = {}
        self.expected: dict[str, ExpectedCost] = {}
        self.excess: dict[str, list[float]] = {}  # finished parents' excess, by policy
        self.shadow: ShadowRunner | None = None
        self.trackers: Mapping[str, MarketTracker] = {}
        self.posture: PostureGate | None = None  # whose features and scores are watched
        # Called with (policy, excess bps) for each finished parent with an expected cost.
        self.on_excess: Callable[[str, float], None] | None = None

    # --- what is watched ----------------------------------------------------------------------
    def watch(self, role: str, reference: Mapping[str, Any] | None) -> bool:
        """Monitor ``role``'s drift against ``reference`` (None, or one that cannot be used:
        stop monitoring it, say why in the log). True when it is monitored."""
        if reference is None:
            self.models.pop(role, None)
            log.warning("%s model carries no reference histograms: its drift is not monitored",
                        role)
            return False
        try:
            self.models[role] = watched_from(role, reference, self.window)
        except ReferenceError as exc:
            self.models.pop(role, None)
            log.error("%s model's reference histograms cannot be used (%s): its drift is not "
                      "monitored", role, exc)
            return False
        return True

    def watch_policy(self, name: str, metadata: Mapping[str, str], role: str = "policy") -> None:
        """A live ONNX policy's references, watched as ``role``, and its expected cost (called
        again on a promotion); ``name``: the policy's own name, which its parents carry
        (``rl``; ``rl:<stem>`` for a book's model, watched as ``policy:<stem>``)."""
        self.policy_roles = {n: r for n, r in self.policy_roles.items() if r != role}
        self.policy_roles[name] = role
        try:
            reference = onnx_reference(metadata)
        except ReferenceError as exc:
            log.error("the %s model's reference histograms cannot be used: %s", role, exc)
            reference = None
        self.watch(role, reference)
        expected = onnx_expected_cost(metadata)
        if expected is not None:
            self.expected[name] = expected

    # --- the engine's hooks -------------------------------------------------------------------
    def on_tick(self, symbol: str, book: DepthBook, message: MarketData, now_ns: int,
                decided: bool, signal_bps: float) -> None:
        """After the engine's walk of a tick: ``decided``, whether its parents were decided on
        (not on a superseded tick), with ``signal_bps`` the symbol's price signal they saw."""
        watched = self.models.get("posture")
        gate = self.posture
        if watched is not None and gate is not None:
            symbol_posture = gate.symbols.get(symbol)
            if symbol_posture is not None:
                for monitor, value in zip(watched.features, symbol_posture.state.values,
                                          strict=False):
                    monitor.observe(value)
                for monitor in watched.outputs:
                    monitor.observe(symbol_posture.scorer.anomaly)
        shadow = self.shadow
        if shadow is not None and shadow.parents:
            tracker = self.trackers.get(symbol)
            if tracker is not None:
                shadow.on_tick(symbol, book, message, tracker, now_ns, decided, signal_bps)

    def observe_inputs(self, role: str, values: Sequence[float]) -> None:
        """One observation of ``role``'s input features, in its reference's order (a signal's
        feature vector, say)."""
        model = self.models.get(role)
        if model is None:
            return
        for monitor, value in zip(model.features, values, strict=False):
            monitor.observe(float(value))

    def observe_output(self, role: str, name: str, value: float) -> None:
        """One prediction of ``role``'s output ``name`` (a signal's forecast, say)."""
        model = self.models.get(role)
        if model is None:
            return
        for monitor in model.outputs:
            if monitor.name == name:
                monitor.observe(value)

    def on_decision(self, parent: ParentOrder, policy: str, ctx: DecisionContext,
                    action: Action) -> None:
        role = self.policy_roles.get(policy)
        model = self.models.get(role) if role is not None else None
        if model is not None:
            obs = ctx.obs
            for i, monitor in enumerate(model.features):
                monitor.observe(float(obs[i]))
            for monitor in model.outputs:
                if monitor.name == "action_kind":
                    monitor.observe(int(action.kind))
        if self.shadow is not None:
            self.shadow.live_decided(parent, ctx, action)

    def on_finish(self, parent: ParentOrder, policy: str, shortfall: float | None) -> None:
        if self.shadow is not None:
            self.shadow.live_finished(parent, shortfall)
        expected = self.expected.get(policy)
        if expected is None or shortfall is None:
            return
        excess = shortfall - expected.mean_bps
        self.excess.setdefault(policy, []).append(excess)
        if self.on_excess is not None:
            self.on_excess(policy, excess)

    # --- reads ------------------------------------------------------------------------------
    def psi(self) -> list[tuple[str, str, str, float]]:
        """(role, "feature" or "output", name, PSI) of every monitor with a complete window."""
        rows = []
        for role, model in self.models.items():
            for kind, monitors in (("feature", model.features), ("output", model.outputs)):
                rows += [(role, kind, m.name, m.psi) for m in monitors if m.psi is not None]
        return rows
