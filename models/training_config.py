"""What ``execagent train`` reads: one YAML file, validated before any work starts.

Why pydantic with ``extra="forbid"``: a misspelt key (``learning_rte``) silently falling back to a
default would train a different policy than the file says. Every mistake is reported with the
key's path and what was expected, and the run does not start. Types are strict for the same
reason: ``n_envs: yes`` is an error, not 1. Mind YAML's rule for floats: ``3e-4`` (no dot) is
a string there, and so an error here; write ``0.0003`` or ``3.0e-4``.

The market an episode trades in is the stochastic flow with parameters from a calibration file
(``sim/params/*.json``, written by ``execagent calibrate``). Training draws episode seeds below
:data:`EVALUATION_SEED_BASE`; evaluation uses seeds from that base up and a sweep's validation
from :data:`VALIDATION_SEED_BASE` up, so neither scores an episode training saw (see
:mod:`service.evaluation.compare` and :mod:`models.sweep`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from core.config_errors import problems, yaml_problem
from core.config_types import NumberRange, TextDecimal, TextPath, tuple_of_list
from models.actions import DEFAULT_ACTION_TABLE, ActionKind
from sim.day_window import clock, parse_window, window_ns
from sim.lobster import open_sample

REWARD_MODES = ("mark_to_market", "shortfall", "detrended")
PairedBaseline = Literal["twap", "twap_passive", "almgren_chriss", "passive_front"]
PAIRED_BASELINES: tuple[str, ...] = get_args(PairedBaseline)
ActionName = Literal["WAIT", "REST_NEAR", "REST_INSIDE", "CROSS"]  # models.actions.ActionKind
ActionEntry = Annotated[tuple[ActionName, float], BeforeValidator(tuple_of_list)]
MAX_SLICE_MULTIPLE = 20.0
"""The largest multiple of the slice an action of a configured table may ask for: with the
usual 20 slices, the whole parent."""
EVALUATION_SEED_BASE = 2**31
"""Training draws episode seeds below this, evaluation at or above it: never the same market."""
VALIDATION_SEED_BASE = 2**32
"""A sweep's validation episodes: seeds from here up, apart from training's and evaluation's."""
REPLAY_MARGIN_S = 60.0
"""Recorded data a replay episode keeps past its horizon and grace, for the final sweep."""


class TrainConfigError(ValueError):
    """The training configuration cannot be used; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)




class TaskConfig(_Strict):
    """Draw each episode's parent instead of the fixed side, qty and horizon (models/task.py):
    a side from ``sides``, a participation of the volume expected over the horizon log-uniform
    in ``participation``, a horizon uniform in ``horizon_minutes``."""

    sides: list[Literal["buy", "sell"]] = Field(min_length=1)
    participation: NumberRange
    horizon_minutes: NumberRange

    @model_validator(mode="after")
    def _ranges(self) -> TaskConfig:
        low, high = self.participation
        if not 0 < low <= high <= 1:
            raise ValueError(f"participation must be [low, high] with 0 < low <= high <= 1, got "
                             f"{list(self.participation)}")
        low, high = self.horizon_minutes
        if not 0 < low <= high:
            raise ValueError(f"horizon_minutes must be [low, high] with 0 < low <= high, got "
                             f"{list(self.horizon_minutes)}")
        return self


class EpisodeConfig(_Strict):
    """One parent order per episode, the same for training and evaluation."""

    side: Literal["buy", "sell"] = "sell"
    qty: int = Field(default=2_000, gt=0)
    horizon_seconds: float = Field(default=600.0, gt=0)
    slice_seconds: float = Field(default=30.0, gt=0)
    warmup_seconds: float = Field(default=60.0, ge=0)
    horizon_grace_seconds: float = Field(default=30.0, ge=0)
    # One-way order latency: fixed at latency_ms, or, with latency_p99_ms, drawn per message
    # from a lognormal with median latency_ms and that 99th percentile (sim/latency.py).
    latency_ms: float = Field(default=0.0, ge=0)
    latency_p99_ms: float | None = Field(default=None, gt=0)
    max_child_qty: int = Field(default=2_000, gt=0)
    # How often the policy decides, seconds of event time: at the first market-data message
    # at or after its last decision plus this (models/env.py); 0, on every message. Exported
    # with the model (execagent.decision_interval_s), so the engine decides at the same pace.
    decision_interval_seconds: float = Field(default=0.0, ge=0)
    task: TaskConfig | None = None

    @model_validator(mode="after")
    def _slice_within_horizon(self) -> EpisodeConfig:
        if self.slice_seconds > self.horizon_seconds:
            raise ValueError(f"slice_seconds ({self.slice_seconds}) must not exceed "
                             f"horizon_seconds ({self.horizon_seconds})")
        if self.decision_interval_seconds >= self.slice_seconds:
            raise ValueError(f"decision_interval_seconds ({self.decision_interval_seconds}) "
                             f"must be less than slice_seconds ({self.slice_seconds})")
        if self.task is not None and self.slice_seconds > 60 * self.task.horizon_minutes[0]:
            raise ValueError(f"slice_seconds ({self.slice_seconds}) must not exceed the "
                             f"shortest task horizon ({self.task.horizon_minutes[0]} min)")
        if self.latency_p99_ms is not None and not 0 < self.latency_ms <= self.latency_p99_ms:
            raise ValueError(f"latency_p99_ms ({self.latency_p99_ms}) needs a median latency_ms "
                             f"above 0 and at most it (got {self.latency_ms})")
        return self

    @property
    def side_sign(self) -> int:
        return 1 if self.side == "buy" else -1

    @property
    def longest_seconds(self) -> float:
        """The event time the longest episode may need: warm-up, the longest horizon, the
        grace, and a minute for the sweep after it (what a replay window reserves, as
        ``execagent evaluate`` does)."""
        horizon_s = self.horizon_seconds if self.task is None else \
            60.0 * self.task.horizon_minutes[1]
        return self.warmup_seconds + horizon_s + self.horizon_grace_seconds + REPLAY_MARGIN_S


class PpoConfig(_Strict):
    learning_rate: float = Field(default=3e-4, gt=0)
    n_steps: int = Field(default=2048, gt=1)
    batch_size: int = Field(default=256, gt=1)
    n_epochs: int = Field(default=5, gt=0)
    gamma: float = Field(default=0.999, gt=0, le=1)
    gae_lambda: float = Field(default=0.95, gt=0, le=1)
    ent_coef: float = Field(default=0.01, ge=0)
    clip_range: float = Field(default=0.2, gt=0)


class DqnConfig(_Strict):
    learning_rate: float = Field(default=1e-4, gt=0)
    buffer_size: int = Field(default=200_000, gt=0)
    batch_size: int = Field(default=256, gt=1)
    gamma: float = Field(default=0.999, gt=0, le=1)
    exploration_fraction: float = Field(default=0.2, gt=0, le=1)
    target_update_interval: int = Field(default=5_000, gt=0)


class RiskInLoopConfig(_Strict):
    """The live risk overlay in the training loop (``execagent train`` builds it from
    ``limits``, for the configuration's ``symbol`` at ``tick_size``); every denied order
    message costs ``denial_cost_bps`` in the reward."""

    limits: TextPath
    tick_size: TextDecimal = Field(default=Decimal("0.01"), gt=0)
    denial_cost_bps: float = Field(default=1.0, ge=0)


class ReplayConfig(_Strict):
    """Episodes on a recorded day (models/env.py ``replay_market``): a LOBSTER sample's
    ``window`` (New York time), each episode's start drawn uniformly so that the whole episode,
    warm-up included, lies inside it. ``share``: the probability that an episode is a replay
    rather than the simulated flow (1: replay only). ``impact``: ``calibrated`` moves the
    replayed prices by the agent's own transient impact (the impact section of
    ``impact_params``, or estimated from ``data`` as ``execagent evaluate --impact calibrated``
    does), ``none`` replays the day as recorded. ``held_out``: the window kept for
    evaluation; the configuration is refused when a training episode could end later than
    ``embargo_minutes`` before it starts."""

    data: TextPath
    window: str
    impact: Literal["calibrated", "none"] = "calibrated"
    impact_params: TextPath | None = None
    share: float = Field(default=1.0, ge=0, le=1)
    held_out: str | None = None
    embargo_minutes: float = Field(default=15.0, ge=0)

    @model_validator(mode="after")
    def _windows(self) -> ReplayConfig:
        _, end = _clock_window("window", self.window)
        if self.impact_params is not None and self.impact != "calibrated":
            raise ValueError("impact_params names the impact's calibration: set impact: "
                             "calibrated")
        if self.held_out is not None:
            held_begin, _ = _clock_window("held_out", self.held_out)
            if end > held_begin - self.embargo_minutes:
                raise ValueError(f"training episodes in window {self.window} could end later "
                                 f"than {self.embargo_minutes:g} min before held_out "
                                 f"{self.held_out} starts: end the window by "
                                 f"{clock(int((held_begin - self.embargo_minutes) * 60e9))}")
        return self


def _clock_window(name: str, text: str) -> tuple[int, int]:
    try:
        begin, end = parse_window(text)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None
    if end <= begin:
        raise ValueError(f"{name} {text} ends before it begins")
    return begin, end


class RandomiseConfig(_Strict):
    """Domain randomisation of the simulated flow (models/domain_randomisation.py): per
    episode, each multiplier log-uniform in its ``[low, high]``; ``[1, 1]`` (the default)
    keeps that scale as calibrated."""

    activity: NumberRange = (1.0, 1.0)
    market_size: NumberRange = (1.0, 1.0)
    spread: NumberRange = (1.0, 1.0)
    depth: NumberRange = (1.0, 1.0)
    impact: NumberRange = (1.0, 1.0)

    @model_validator(mode="after")
    def _ranges(self) -> RandomiseConfig:
        for name in RandomiseConfig.model_fields:
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be [low, high] with 0 < low <= high, got "
                                 f"{[low, high]}")
        return self


class TrainConfig(_Strict):
    algorithm: Literal["ppo", "dqn"] = "ppo"
    seed: int = 7
    total_timesteps: int = Field(default=500_000, gt=0)
    # Save the model every this many steps (rounded down to a multiple of n_envs) into the run's
    # checkpoints/, so that a run stopped early, or one past its best, can still be exported
    # (`execagent export --run DIR --checkpoint STEPS`); null: only the final model.
    checkpoint_timesteps: int | None = Field(default=None, gt=0)
    n_envs: int = Field(default=2, gt=0, le=64)
    market_params: TextPath = Path("sim/params/GOOG_2012-06-21.json")
    symbol: str = Field(default="GOOG", min_length=1)  # what the risk limits know it as
    episode: EpisodeConfig = Field(default_factory=lambda: EpisodeConfig())
    reward: str = "mark_to_market"
    message_cost_bps: float = Field(default=0.0, ge=0)
    # Lambda of mean plus lambda times the timing part's variance, per bps (models/env.py).
    risk_aversion: float = Field(default=0.0, ge=0)
    # Lambda per (bps x share), Almgren-Chriss's unit: times the parent's quantity, added to
    # risk_aversion (models/env.py).
    risk_aversion_per_share: float = Field(default=0.0, ge=0)
    # Reward minus a baseline's on the same market path (models/env.py), or null for the plain
    # shortfall.
    paired_baseline: PairedBaseline | None = None
    risk: RiskInLoopConfig | None = None
    net_arch: list[int] = Field(default_factory=lambda: [64, 64])
    ppo: PpoConfig = Field(default_factory=lambda: PpoConfig())
    dqn: DqnConfig = Field(default_factory=lambda: DqnConfig())
    out_dir: TextPath = Path("var/train")
    tensorboard_log: TextPath | None = None
    # The actions the policy chooses among, each [kind, multiple of the linear schedule's
    # slice] (models/actions.py); null: DEFAULT_ACTION_TABLE. Exported with the model
    # (execagent.action_table), which the engine reads from the file.
    action_table: list[ActionEntry] | None = Field(default=None, min_length=2)
    # The observation the policy learns on (models/features.py): v1; v2 with the price
    # signal, which needs the signal model the environment (and later the engine) runs; or v3,
    # v2 and the parent's task (side, participation, horizon), for a policy of many tasks.
    observation: Literal["execagent-obs-v1", "execagent-obs-v2",
                         "execagent-obs-v3"] = "execagent-obs-v1"
    signal_model: TextPath | None = None
    # Where episodes trade: the simulated flow (market_params), a recorded day (replay), or a
    # mix; the simulated flow optionally randomised per episode (randomise).
    replay: ReplayConfig | None = None
    randomise: RandomiseConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.observation != "execagent-obs-v1" and self.signal_model is None:
            raise ValueError(f"observation {self.observation} holds the price signal: set "
                             "signal_model (e.g. models/artifacts/signal.onnx)")
        if self.reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {list(REWARD_MODES)}, got {self.reward!r}")
        if self.reward == "detrended" and self.replay is None:
            raise ValueError("reward detrended takes the recorded day's trend out of replayed "
                             "episodes, and without replay there are none: add replay or use "
                             "mark_to_market")
        if self.randomise is not None and self.replay is not None and self.replay.share == 1:
            raise ValueError("randomise varies the simulated flow, which replay.share 1 never "
                             "uses: lower the share or drop randomise")
        if not self.net_arch or any(width <= 0 for width in self.net_arch):
            raise ValueError("net_arch must list one or more positive layer widths")
        if self.action_table is not None:
            _check_action_table(self.action_table)
        if self.algorithm == "ppo" and (self.ppo.n_steps * self.n_envs) % self.ppo.batch_size:
            raise ValueError(f"ppo.batch_size ({self.ppo.batch_size}) must divide "
                             f"ppo.n_steps * n_envs ({self.ppo.n_steps * self.n_envs})")
        return self

    def actions(self) -> tuple[tuple[ActionKind, float], ...]:
        """The action table the policy learns on."""
        return action_table_of(self.action_table)


def action_table_of(entries: Sequence[tuple[str, float]] | None,
                    ) -> tuple[tuple[ActionKind, float], ...]:
    """``action_table`` as :mod:`models.actions` takes it; the default table for None."""
    if entries is None:
        return DEFAULT_ACTION_TABLE
    return tuple((ActionKind[kind], float(multiple)) for kind, multiple in entries)


def _check_action_table(entries: list[ActionEntry]) -> None:
    for kind, multiple in entries:
        if kind == "WAIT" and multiple != 0:
            raise ValueError(f"action_table: WAIT has no quantity, give it 0 (got {multiple})")
        if kind != "WAIT" and not 0 < multiple <= MAX_SLICE_MULTIPLE:
            raise ValueError(f"action_table: {kind} {multiple} is not a multiple of the slice "
                             f"in (0, {MAX_SLICE_MULTIPLE:g}]")
    seen = [(kind, float(multiple)) for kind, multiple in entries]
    if len(set(seen)) < len(seen):
        raise ValueError("action_table names an action twice")


def load_train_config(path: Path | str) -> TrainConfig:
    """Read and validate ``path``; every problem becomes a :class:`TrainConfigError`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrainConfigError(f"cannot read training config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"training config {path} is not valid YAML: "
                               f"{yaml_problem(exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise TrainConfigError(f"training config {path} must be a mapping of keys to values")
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise TrainConfigError(f"training config {path} is invalid: "
                               f"{'; '.join(problems(exc))}") from exc
    if config.tensorboard_log is not None and importlib.util.find_spec("tensorboard") is None:
        raise TrainConfigError(f"training config {path}: tensorboard_log is set but tensorboard "
                               "is not installed (.venv/bin/pip install tensorboard), or set "
                               "tensorboard_log: null")
    if config.risk is not None and not config.risk.limits.is_file():
        raise TrainConfigError(f"training config {path}: risk.limits file {config.risk.limits} "
                               "does not exist")
    if not config.market_params.is_file():
        raise TrainConfigError(f"training config {path}: market_params file "
                               f"{config.market_params} does not exist (write one with "
                               "`execagent calibrate`)")
    if config.replay is not None:
        _check_replay_data(config.replay, config.episode, path)
    return config


def _check_replay_data(replay: ReplayConfig, episode: EpisodeConfig, path: Path) -> None:
    """The replay's files exist and its window holds the longest episode; a
    :class:`TrainConfigError` (one line) otherwise. Reads the data (kept for training)."""
    if not replay.data.exists():
        raise TrainConfigError(f"training config {path}: replay.data {replay.data} does not "
                               "exist")
    if replay.impact_params is not None and not replay.impact_params.is_file():
        raise TrainConfigError(f"training config {path}: replay.impact_params "
                               f"{replay.impact_params} does not exist")
    try:
        times = open_sample(replay.data).read().messages.ts_ns
        if not len(times):
            raise ValueError(f"{replay.data} holds no messages")
        lo, hi = window_ns(replay.window, int(times[0]), int(times[-1]))
    except (OSError, ValueError) as exc:
        raise TrainConfigError(f"training config {path}: replay.window: {exc}") from exc
    if hi - lo <= episode.longest_seconds * 1e9:
        raise TrainConfigError(f"training config {path}: replay.window {replay.window} holds "
                               f"{(hi - lo) / 60e9:.1f} min of {replay.data.name}, less than "
                               f"the longest episode ({episode.longest_seconds / 60:g} min "
                               "with warm-up, grace and sweep)")
