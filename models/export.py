"""``execagent export``: a trained SB3 model to the ONNX file the live engine runs.

What is exported is the deterministic decision only: observation in, one score per action out
(``logits``: PPO's action logits, DQN's Q-values), the action being the argmax; no sampling, no
value head. The file carries, as ONNX metadata, everything :class:`models.policy.OnnxPolicy`
checks and a reader of the model card wants: the feature-spec id and hash, the action table
(the run's ``action_table``, or the default one), the algorithm, the training data, seed and
configuration, the git commit, and the date; how often it decides
(``execagent.decision_interval_s``, the training episode's interval); the range of parents it
was trained for (``execagent.task_range``, :mod:`models.task`), which the service holds parents
to; and for the best trial of a sweep, the sweep (``execagent.sweep``: the sweep file, the
chosen trial and every trial's validation scores).
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.actions import ActionKind
from models.features import OBSERVATION_SPECS
from models.policy import DECISION_INTERVAL_KEY, ModelError
from models.task import TASK_RANGE_KEY, TRAINING_CONFIG_KEY, market_volume_per_s, trained_range
from models.training_config import action_table_of
from sim.calibrate import load_flow_params

OPSET = 17


def action_table_json(table: tuple[tuple[ActionKind, float], ...]) -> str:
    return json.dumps([[kind.name, multiple] for kind, multiple in table])


def load_sb3(model_path: Path) -> Any:
    """The SB3 model in ``model_path`` (PPO or DQN, told apart by trying PPO first)."""
    from stable_baselines3 import DQN, PPO

    if not model_path.is_file():
        raise ModelError(f"no trained model at {model_path}: run `execagent train` first")
    errors = []
    for algorithm in (PPO, DQN):
        try:
            return algorithm.load(model_path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - SB3 raises assorted errors for other formats
            errors.append(f"{algorithm.__name__}: {exc}")
    raise ModelError(f"{model_path} is not a Stable-Baselines3 PPO or DQN model "
                     f"({'; '.join(errors)})")


def decision_module(model: Any) -> Any:
    """A torch module mapping observations to the scores whose argmax is the action."""
    import torch

    policy = model.policy

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            if hasattr(self.policy, "q_net"):  # DQN
                return self.policy.q_net(obs)
            features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
            latent = self.policy.mlp_extractor.forward_actor(features)
            return self.policy.action_net(latent)

    module = Scores()
    module.eval()
    return module


def export_onnx(model_path: Path, out: Path, run_info: dict[str, Any] | None = None) -> Path:
    """Write ``out`` from the SB3 model at ``model_path``; ``run_info`` is the run's run.json."""
    import onnx
    import torch

    model = load_sb3(model_path)
    # The observation version by its width (12: v1, 13: v2 with the price signal, 16: v3
    # with the task as well).
    by_width = {width: (spec, spec_hash) for spec, (spec_hash, width)
                in OBSERVATION_SPECS.items()}
    shape = model.observation_space.shape
    if shape is None or len(shape) != 1 or shape[0] not in by_width:
        raise ModelError(f"{model_path} observes {shape} but this code builds observations of "
                         f"{sorted(by_width)} features ({', '.join(OBSERVATION_SPECS)}): retrain")
    n_features = shape[0]
    spec_id, spec_hash = by_width[n_features]
    info = run_info or {}
    table = _action_table(info)
    if model.action_space.n != len(table):
        raise ModelError(f"{model_path} has {model.action_space.n} actions but its run's action "
                         f"table has {len(table)}: export it with the run.json it was trained "
                         "with")
    module = decision_module(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros((1, n_features), dtype=torch.float32)
    # The TorchScript exporter on purpose: the newer torch.export one needs onnxscript, and a
    # plain MLP gains nothing from it. Its deprecation notice is not for our users.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (dummy,), str(out), input_names=["obs"],
                          output_names=["logits"],
                          dynamic_axes={"obs": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(out))
    metadata = {
        "execagent.feature_spec_id": spec_id,
        "execagent.feature_spec_hash": spec_hash,
        "execagent.action_table": action_table_json(table),
        "execagent.algorithm": type(model).__name__,
        "execagent.training_data": str(info.get("data", "unknown")),
        "execagent.seed": str(info.get("seed", "unknown")),
        "execagent.total_timesteps": str(info.get("total_timesteps", "unknown")),
        "execagent.git_commit": str(info.get("git_commit", "unknown")),
        "execagent.trained_at": str(info.get("date", "unknown")),
        "execagent.exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        TRAINING_CONFIG_KEY: json.dumps(info.get("config", {}), sort_keys=True),
        DECISION_INTERVAL_KEY: repr(_decision_interval_s(info)),
    }
    signal_model = info.get("config", {}).get("signal_model")
    if signal_model:  # a v2 or v3 policy learnt on this signal model's outputs: say which
        metadata["execagent.signal_model"] = str(signal_model)
    task_range = _task_range(info)
    if task_range is not None:
        metadata[TASK_RANGE_KEY] = task_range
    if "sweep" in info:
        metadata["execagent.sweep"] = json.dumps(info["sweep"], sort_keys=True)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def _action_table(info: dict[str, Any]) -> tuple[tuple[ActionKind, float], ...]:
    """The run's action table (its configuration's ``action_table``; the default table for a
    run that names none, or predates the key)."""
    config = info.get("config")
    entries = config.get("action_table") if isinstance(config, dict) else None
    try:
        return action_table_of(entries)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the run's action_table {entries!r} is not a list of [kind, "
                         f"multiple] pairs: {exc}") from exc


def _decision_interval_s(info: dict[str, Any]) -> float:
    """The seconds between two of the policy's decisions in training (the run's
    ``episode.decision_interval_seconds``; 0, every message, for a run that predates it)."""
    config = info.get("config")
    episode = config.get("episode") if isinstance(config, dict) else None
    interval = episode.get("decision_interval_seconds", 0.0) if isinstance(episode, dict) \
        else 0.0
    if not isinstance(interval, (int, float)) or not 0 <= interval < math.inf:
        raise ModelError(f"the run's episode.decision_interval_seconds {interval!r} is not a "
                         "number of seconds >= 0")
    return float(interval)


def _task_range(info: dict[str, Any]) -> str | None:
    """The trained range as JSON, from the run's configuration and the volume rate its tasks
    were drawn against (run.json's ``task_volume_per_second``, or for a run that predates it,
    its simulated market's); None for a run that does not say how it was trained."""
    config = info.get("config")
    if not isinstance(config, dict) or "market_params" not in config:
        return None
    volume = info.get("task_volume_per_second")
    if isinstance(volume, (int, float)) and volume > 0:
        return trained_range(config, float(volume), TASK_RANGE_KEY).as_json()
    market = Path(config["market_params"])
    try:
        volume = market_volume_per_s(load_flow_params(market))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"cannot read the training market {market} to record the model's "
                         f"trained range: {exc}") from exc
    return trained_range(config, volume, TASK_RANGE_KEY).as_json()
