"""``execagent train --sweep SWEEP.yaml``: hyperparameter and seed sweeps on Ray Tune.

Each trial is an ordinary training run (:func:`models.train.train`) of the base configuration
with some keys changed, then a validation: the trained policy, deterministic, works
``validation_episodes`` episodes whose seeds start at
:data:`~models.training_config.VALIDATION_SEED_BASE`, a range neither training nor
``execagent evaluate`` draws. Trials are ranked on that held-out score, never on the reward
seen in training. Every trial is validated on the same episodes, so the ranking compares
trials on the same markets (paired).

Ray: a local Ray by default (``ray.init`` with this machine's CPUs, no dashboard), or an
existing cluster at ``--ray-address`` without any other change. Each trial reports its model
as a Ray checkpoint, which Ray copies into the sweep's storage; the best trial's is copied back
next to the sweep's summary, and exported to ONNX with the sweep in its metadata. On a cluster
of several machines the storage must be one they all reach (``storage:`` in the sweep file,
a shared folder or a URI Ray knows), and every node runs the same execagent install with the
same files at the same paths (the configuration's market file, the risk limits): an
assumption, named.

A sweep file (every key checked; ``configs/sweep.yaml`` is an example)::

    samples: 2              # Ray Tune's num_samples: draws of the space (each grid point)
    metric: shortfall_bps   # or return_bps: what the best trial is chosen by
    validation_episodes: 50
    cpus_per_trial: 1
    space:                  # training-config keys, dotted, each with one Ray Tune domain
      seed: {grid: [1, 2]}
      ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
      message_cost_bps: {choice: [0.001, 0.01]}
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.config_errors import problems, yaml_problem
from models.pretrade import PreTradeFactory
from models.training_config import VALIDATION_SEED_BASE, TrainConfig

Metric = Literal["shortfall_bps", "return_bps"]
METRIC_MODES: dict[str, Literal["min", "max"]] = {"shortfall_bps": "min", "return_bps": "max"}
DOMAINS = ("choice", "grid", "uniform", "loguniform", "randint")
_NOT_SWEPT = frozenset({"out_dir", "tensorboard_log"})  # where a trial writes is the sweep's
ADDRESS_TIMEOUT_S = 5.0
FROZEN_DECISIONS = 1_000
"""A validation episode whose event time has not moved for this many decisions is stuck: a
deterministic policy flipping between two working states on its own orders' market data, which
with no order latency and no throttle never lets time advance. It scores its cost so far plus
:data:`STUCK_PENALTY_BPS`, so a stuck policy is never the best trial."""
STUCK_PENALTY_BPS = 1_000.0


class SweepError(ValueError):
    """A sweep that cannot run: a bad sweep file, a Ray that does not answer. One line."""


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=1, gt=0)
    metric: Metric = "shortfall_bps"
    validation_episodes: int = Field(default=50, gt=0)
    cpus_per_trial: float = Field(default=1.0, gt=0)
    max_concurrent_trials: int | None = Field(default=None, gt=0)
    name: str = Field(default="sweep", pattern=r"^[A-Za-z0-9._-]+$")
    storage: str | None = None  # Ray's storage_path; default: <out_dir>/<name>/ray
    space: dict[str, dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="after")
    def _domains(self) -> SweepConfig:
        for key, domain in self.space.items():
            _check_domain(key, domain)
        return self


def _check_domain(key: str, domain: dict[str, Any]) -> None:
    if len(domain) != 1 or next(iter(domain)) not in DOMAINS:
        raise ValueError(f"space.{key} must be one of {{{', '.join(DOMAINS)}: ...}}, got "
                         f"{domain!r}")
    kind, values = next(iter(domain.items()))
    if not isinstance(values, list) or not values:
        raise ValueError(f"space.{key}.{kind} must be a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform", "randint"):
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(values) != 2 or len(numbers) != 2 or not numbers[0] < numbers[1]:
            raise ValueError(f"space.{key}.{kind} must be [low, high] numbers with low < high, "
                             f"got {values!r}")
        if kind == "loguniform" and numbers[0] <= 0:
            raise ValueError(f"space.{key}.loguniform needs a positive low, got {values!r}")
        if kind == "randint" and not all(isinstance(v, int) for v in numbers):
            raise ValueError(f"space.{key}.randint needs integers, got {values!r}")


def candidates(domain: dict[str, Any]) -> list[Any]:
    """Values a domain can give that a configuration check should see: every listed value,
    or a range's two ends (randint's high is exclusive, as in Ray)."""
    kind, values = next(iter(domain.items()))
    if kind == "randint":
        return [values[0], values[1] - 1]
    return list(values)


def _is_key(model: type[BaseModel], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    nested = [a for a in (field.annotation, *get_args(field.annotation))
              if isinstance(a, type) and issubclass(a, BaseModel)]
    return bool(nested) and _is_key(nested[0], rest)


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a configuration as a dict) with dotted keys set to new values."""
    result = copy.deepcopy(base)
    for dotted, value in overrides.items():
        node = result
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return result


def load_sweep(path: Path | str, base: TrainConfig) -> tuple[SweepConfig, str]:
    """Read and check ``path`` against the base configuration: every space key must be a
    training-config key, and every value a domain can give must make a valid configuration.
    Returns the sweep and the file's text (kept in the exported model)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise SweepError(f"cannot read sweep file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SweepError(f"sweep file {path} is not valid YAML: {yaml_problem(exc)}") from exc
    if not isinstance(raw, dict):
        raise SweepError(f"sweep file {path} must be a mapping of keys to values")
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise SweepError(f"sweep file {path} is invalid: {'; '.join(problems(exc))}") from exc
    base_dict = json.loads(base.model_dump_json())
    for key, domain in sweep.space.items():
        if key in _NOT_SWEPT or not _is_key(TrainConfig, key):
            raise SweepError(f"sweep file {path}: space key {key!r} is not a training-config "
                             "key that a sweep may set (models/training_config.py lists them)")
        for value in candidates(domain):
            try:
                TrainConfig.model_validate(with_overrides(base_dict, {key: value}))
            except ValidationError as exc:
                raise SweepError(f"sweep file {path}: space.{key} = {value!r} makes an invalid "
                                 f"training config: {'; '.join(problems(exc))}") from exc
    return sweep, text


def check_address(address: str) -> None:
    """A SweepError unless something answers at ``address`` (``host:port``, the head's GCS,
    or ``ray://host:port``, a Ray client server) within :data:`ADDRESS_TIMEOUT_S`. Without
    this, ``ray.init`` waits on an address that does not answer for minutes, retrying."""
    if address == "auto":
        return  # Ray finds a cluster started on this machine with `ray start`, or says so
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S):
            pass
    except OSError as exc:
        raise SweepError(f"no Ray cluster answers at {address}: {exc.strerror or exc} (is the "
                         "head running? `ray start --head` prints its address)") from exc


# --- a trial, in a Ray worker ---------------------------------------------------------------------
def validation_scores(model: Any, config: TrainConfig, episodes: int,
                      pre_trade: PreTradeFactory | None = None) -> dict[str, float]:
    """The deterministic policy on the validation episodes: mean shortfall (bps, the whole
    parent, a remainder marked at the mid), mean return (what training maximises: shortfall
    plus message and denial costs, paired if configured), risk denials, order messages, and
    episodes stuck (see :data:`FROZEN_DECISIONS`)."""
    from models.train import make_env

    env = make_env(config, pre_trade)
    costs, returns, messages = [], [], []
    denials = stuck = 0
    for k in range(episodes):
        obs, info = env.reset(options={"episode_seed": VALIDATION_SEED_BASE + k})
        total, done, frozen, clock = 0.0, False, 0, env.exchange.now_ns
        while not done and frozen < FROZEN_DECISIONS:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            total += reward
            done = terminated or truncated
            frozen = frozen + 1 if env.exchange.now_ns == clock else 0
            clock = env.exchange.now_ns
        stuck += not done
        costs.append(info["cost_bps"] + (0.0 if done else STUCK_PENALTY_BPS))
        returns.append(total - (0.0 if done else STUCK_PENALTY_BPS))
        denials += info["denials"]
        messages.append(info["messages"])
    return {"shortfall_bps": statistics.fmean(costs), "return_bps": statistics.fmean(returns),
            "denials": float(denials), "messages": statistics.fmean(messages),
            "stuck": float(stuck)}


def run_trial(overrides: dict[str, Any], *, base: dict[str, Any], episodes: int,
              pre_trade: PreTradeFactory | None) -> None:
    """One Ray Tune trial: train the base configuration with ``overrides``, validate, and
    report the scores with the run (model.zip, run.json) as the trial's checkpoint."""
    from ray import tune
    from stable_baselines3.common.base_class import BaseAlgorithm

    from models.export import load_sb3
    from models.train import train

    with tempfile.TemporaryDirectory(prefix="execagent-trial-") as tmp:
        config = TrainConfig.model_validate(with_overrides(base, {**overrides,
                                                                  "out_dir": tmp}))
        run = train(config, progress_bar=False, pre_trade=pre_trade, out=Path(tmp) / "run")
        model: BaseAlgorithm = load_sb3(run / "model.zip")
        scores = validation_scores(model, config, episodes, pre_trade)
        tune.report(scores, checkpoint=tune.Checkpoint.from_directory(str(run)))


# --- the driver --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SweepResult:
    directory: Path  # <out_dir>/<name>: sweep.json and best/
    best_run: Path  # best/: model.zip and run.json (with the sweep)
    summary: dict[str, Any]


def _space(sweep: SweepConfig) -> dict[str, Any]:
    from ray import tune

    makers = {"choice": tune.choice, "grid": tune.grid_search,
              "uniform": lambda v: tune.uniform(*v), "loguniform": lambda v: tune.loguniform(*v),
              "randint": lambda v: tune.randint(*v)}
    return {key: makers[kind](values) for key, domain in sweep.space.items()
            for kind, values in domain.items()}


def local_cpus() -> int:
    """The CPUs this process may run on (2 on the reference machine)."""
    return len(os.sched_getaffinity(0))


def run_sweep(base: TrainConfig, sweep: SweepConfig, sweep_text: str, *,
              address: str | None = None,
              pre_trade: PreTradeFactory | None = None) -> SweepResult:
    """Run every trial, choose the best by the validation metric, and keep its run."""
    if address is not None:
        check_address(address)
    # Ray Tune's classic reporter honours verbose=0; the newer one prints its tables anyway.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune

    out = base.out_dir.resolve() / sweep.name
    out.mkdir(parents=True, exist_ok=True)
    # Trials may run in another directory or on another machine: absolute paths throughout.
    base_dict = json.loads(base.model_copy(update={
        "market_params": base.market_params.resolve(),
        "risk": None if base.risk is None else base.risk.model_copy(
            update={"limits": base.risk.limits.resolve()}),
        "replay": None if base.replay is None else base.replay.model_copy(update={
            "data": base.replay.data.resolve(),
            "impact_params": None if base.replay.impact_params is None
            else base.replay.impact_params.resolve()})}).model_dump_json())
    started = time.monotonic()
    try:
        if address is None:
            ray.init(num_cpus=local_cpus(), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SweepError(f"cannot start or join Ray{f' at {address}' if address else ''}: "
                         f"{exc}") from exc
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, base=base_dict, episodes=sweep.validation_episodes,
                                 pre_trade=pre_trade),
            {"cpu": sweep.cpus_per_trial})
        tuner = tune.Tuner(
            trainable, param_space=_space(sweep),
            tune_config=tune.TuneConfig(num_samples=sweep.samples, metric=sweep.metric,
                                        mode=METRIC_MODES[sweep.metric],
                                        max_concurrent_trials=sweep.max_concurrent_trials),
            run_config=tune.RunConfig(name=sweep.name, verbose=0,
                                      storage_path=sweep.storage or str(out / "ray")))
        grid = tuner.fit()
        failed = [str(error) for error in grid.errors]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(grid)} trials failed; the first: "
                               f"{failed[0].strip().splitlines()[-1]}")
        best = grid.get_best_result()
        trials = [{"trial": _trial_id(result), "params": result.config,
                   "scores": _scores(result.metrics)}
                  for result in (grid[index] for index in range(len(grid)))]
        best_dir = out / "best"
        if best_dir.exists():
            shutil.rmtree(best_dir)
        assert best.checkpoint is not None
        best.checkpoint.to_directory(str(best_dir))
    finally:
        ray.shutdown()
    wall_s = round(time.monotonic() - started, 1)
    best_trial = _trial_id(best)
    summary = {"file": sweep_text, "metric": sweep.metric, "mode": METRIC_MODES[sweep.metric],
               "validation_episodes": sweep.validation_episodes,
               "validation_seed_base": VALIDATION_SEED_BASE, "best_trial": best_trial,
               "best_params": best.config, "best_scores": _scores(best.metrics),
               "trials": trials, "wall_seconds": wall_s, "ray_address": address or "local"}
    (out / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    run_json = best_dir / "run.json"
    info = json.loads(run_json.read_text(encoding="utf-8"))
    info["sweep"] = summary
    run_json.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return SweepResult(out, best_dir, summary)


def _trial_id(result: Any) -> str:
    return str((result.metrics or {}).get("trial_id", "?"))


def _scores(metrics: dict[str, Any] | None) -> dict[str, float]:
    metrics = metrics or {}
    return {key: metrics[key] for key in ("shortfall_bps", "return_bps", "denials", "messages",
                                          "stuck") if key in metrics}
