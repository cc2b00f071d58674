"""``execagent reference``: stamp an ONNX policy with its drift references and expected cost.

Drift monitoring (service/oversight/monitor.py) compares the live policy's inputs and chosen
actions with what it saw in training; the comparison needs reference histograms in the model file
(``execagent.reference``), and the live TCA needs the model card's expected cost
(``execagent.expected_shortfall_bps`` and ``..._std_bps``). This command writes them into an
existing file without touching its weights:

    execagent reference --model models/artifacts/policy.onnx \\
        --sim sim/params/GOOG_2012-06-21.json --episodes 20 \\
        --expected-shortfall-bps 1.160 --expected-std-bps 6.689

The references come from simulated episodes on the training market (``--sim``, the training
configuration's ``market_params``) drawn from training seeds (below
``models.training_config.EVALUATION_SEED_BASE``), worked through the live engine as in
``execagent evaluate``: every decision's features, in the observation version the model was
built for (12 in ``execagent-obs-v1``, 13 with the price signal in v2, 16 with the parent's task
in v3), and the chosen action kind. A model that observes the price signal is shown the one
``--signal`` computes, as live. A model of many parents (v3) works parents drawn from its
trained range (side, participation, horizon; its metadata), as training drew them; the others
work the training configuration's one parent. The expected cost is the caller's, from the model
card (docs/model-card.md: the replay row).

Exit codes: 0 written, 2 a usage problem (no such file, a model for other features, an episode
the engine could not run), each one line.
"""

from __future__ import annotations

import argparse
import json
import random
from decimal import Decimal
from pathlib import Path

from core.domain import Instrument, Side
from models.actions import Action
from models.drift import categorical_reference, continuous_reference
from models.features import FEATURE_SPEC_V3_ID, OBSERVATION_FEATURES
from models.names import RL_NAME
from models.observation import observes_signal
from models.policy import DecisionContext, ModelError, OnnxPolicy
from models.signal import SignalModel
from models.task import TaskSampler
from models.training_config import EpisodeConfig, TrainConfigError, load_train_config
from risk.limits import load_limits
from service.commands.evaluate import DEFAULT_SIGNAL
from service.commands.output import output_console, print_error
from service.evaluation.backtest import EpisodeSpec, run_episode
from service.metrics import Metrics
from service.oversight.monitor import EXPECTED_KEY, EXPECTED_STD_KEY, REFERENCE_KEY
from sim.calibrate import load_flow_params
from sim.exchange import SimExchange
from sim.flow import StochasticFlow

SIM_START_NS = 1_340_280_000 * 10**9
REFERENCE_SEED_BASE = 7 * 1_000_003  # training's seed * 1_000_003 + k (configs/train.yaml)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = subparsers.add_parser("reference", help="write drift references and the expected cost "
                              "into an ONNX policy file")
    r.add_argument("--model", type=Path, default=Path("models/artifacts/policy.onnx"))
    r.add_argument("--sim", type=Path, default=Path("sim/params/GOOG_2012-06-21.json"),
                   help="the training market's calibrated flow (JSON)")
    r.add_argument("--episodes", type=int, default=20)
    r.add_argument("--config", type=Path, default=Path("configs/train.yaml"))
    r.add_argument("--limits", type=Path, default=Path("deploy/risk/limits.demo.yaml"))
    r.add_argument("--expected-shortfall-bps", type=float, default=None)
    r.add_argument("--expected-std-bps", type=float, default=None)
    r.add_argument("--signal", type=Path, default=DEFAULT_SIGNAL,
                   help="the price-signal model a model that observes it is shown "
                        f"(default {DEFAULT_SIGNAL})")
    r.set_defaults(func=run_reference)


class Recording(OnnxPolicy):
    """An ONNX policy that records what it saw and chose. The engine sees an
    :class:`OnnxPolicy` (its observation version, trained range and decision interval), so it
    is observed and asked as live."""

    def __init__(self, path: str | Path, name: str = RL_NAME) -> None:
        super().__init__(path, name)
        self.features: list[list[float]] = []
        self.kinds: list[int] = []

    def act(self, ctx: DecisionContext) -> Action:
        action = super().act(ctx)
        self.features.append([float(v) for v in ctx.obs])
        self.kinds.append(int(action.kind))
        return action


def reference_parents(policy: OnnxPolicy, episode: EpisodeConfig,
                      episodes: int) -> list[EpisodeSpec]:
    """The parents the reference episodes work: drawn from the model's trained range for a
    model of many parents (v3), the configuration's one parent otherwise."""
    def spec(side: int, qty: int, horizon_s: float) -> EpisodeSpec:
        return EpisodeSpec("GOOG", Side(side), qty, horizon_s, episode.slice_seconds,
                           episode.warmup_seconds, episode.horizon_grace_seconds,
                           episode.max_child_qty)

    if policy.feature_spec_id != FEATURE_SPEC_V3_ID:
        return [spec(episode.side_sign, episode.qty, episode.horizon_seconds)] * episodes
    trained = policy.trained_range()
    sampler = TaskSampler(tuple(1 if side == "buy" else -1 for side in trained.sides),
                          trained.participation, trained.horizon_s, trained.volume_per_s)
    rng = random.Random(REFERENCE_SEED_BASE)
    return [spec(task.side, task.qty, task.horizon_s)
            for task in (sampler.draw(rng) for _ in range(episodes))]


def run_reference(args: argparse.Namespace) -> int:
    try:
        import onnx
    except ImportError as exc:
        print_error(f"execagent reference: needs onnx (the train extra): {exc}")
        return 2
    if args.episodes <= 0 or (args.expected_shortfall_bps is None) != \
            (args.expected_std_bps is None):
        print_error("execagent reference: --episodes must be positive, and "
                    "--expected-shortfall-bps and --expected-std-bps go together")
        return 2
    try:
        recording = Recording(args.model)
        config = load_train_config(args.config)
        params = load_flow_params(args.sim)
        limits = load_limits(args.limits).for_symbol("GOOG")
        signal_model = SignalModel(args.signal) if observes_signal(recording) else None
        parents = reference_parents(recording, config.episode, args.episodes)
    except (ModelError, TrainConfigError, OSError, ValueError) as exc:
        print_error(f"execagent reference: {exc}")
        return 2
    metrics = Metrics()
    latency_ns = int(config.episode.latency_ms * 1e6)
    for k, spec in enumerate(parents):
        exchange = SimExchange("GOOG", StochasticFlow(params, seed=REFERENCE_SEED_BASE + k),
                               SIM_START_NS, latency_ns)
        try:
            run_episode(recording, exchange, spec, Instrument("GOOG", Decimal("0.01")), limits,
                        metrics, k, signal_model=signal_model)
        except RuntimeError as exc:  # the engine failed on events: the log has each one
            print_error(f"execagent reference: {exc}")
            return 2
    columns = list(zip(*recording.features, strict=True))
    names = OBSERVATION_FEATURES[recording.feature_spec_id]
    reference = {"features": {name: continuous_reference(list(columns[i]))
                              for i, (name, _) in enumerate(names)},
                 "outputs": {"action_kind": categorical_reference(recording.kinds, 4)},
                 "source": f"{args.episodes} simulated episodes on {args.sim.name}, training "
                           f"seeds {REFERENCE_SEED_BASE}+k, {len(recording.kinds)} decisions"}
    entries = {REFERENCE_KEY: json.dumps(reference)}
    if args.expected_shortfall_bps is not None:
        entries[EXPECTED_KEY] = str(args.expected_shortfall_bps)
        entries[EXPECTED_STD_KEY] = str(args.expected_std_bps)
    proto = onnx.load(str(args.model))
    kept = [(e.key, e.value) for e in proto.metadata_props if e.key not in entries]
    del proto.metadata_props[:]
    for key, value in [*kept, *entries.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(args.model))
    output_console().print(f"{args.model}: references from {len(recording.kinds)} decisions"
                           + (f"; expected shortfall {args.expected_shortfall_bps} bps" if
                              args.expected_shortfall_bps is not None else ""))
    return 0
