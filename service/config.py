"""Service configuration: a YAML file plus ``EXECAGENT_*`` environment variables.

Precedence, highest first: environment variables (nested fields with ``__``, e.g.
``EXECAGENT_FIX__PORT=9878``), then the YAML file named by ``--config`` or
``EXECAGENT_CONFIG``, then the defaults below. Every field is validated; an invalid value is
reported by :func:`describe_validation_error` naming the field and what is allowed, and the CLI
exits with code 2.

Types are strict: in the YAML a number must be a number and a flag a flag (``port: "9878"``,
``port: yes`` or ``port: 9878.0`` are errors, not 9878). What is naturally written as text
stays text: decimals (``tick_size: "0.01"``, or a number), paths and the names of enumerations.
Environment variables are text by nature, so pydantic-settings reads each one as its field's
type before the strict check (``EXECAGENT_FIX__PORT=9878`` is the port 9878).
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.config_errors import ConfigError, describe_validation_error, yaml_problem
from core.config_types import TextDecimal, TextPath
from core.domain import Instrument
from core.fill_rules import DEFAULT_FILL_BAND_BPS
from models.names import POLICY_NAMES, is_book
from service.oversight.config import OversightConfig
from service.posture.config import PostureConfig


class Mode(StrEnum):
    LIVE = "live"  # real orders: requires a durable store
    PAPER = "paper"  # a simulated or test venue
    DEMO = "demo"


class StoreKind(StrEnum):
    MEMORY = "memory"
    REDIS = "redis"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)




class InstrumentConfig(_Section):
    symbol: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/-]+$")
    tick_size: TextDecimal = Field(gt=0)
    # The quantity unit: every quantity of the symbol (its feed's sizes, parent and child
    # orders, the risk limits, positions) is a whole number of lots, and FIX carries lots x
    # lot_size exactly. 1 for shares; a Binance symbol's sizes are decimals (docs/feeds.md).
    lot_size: TextDecimal = Field(default=Decimal(1), gt=0)
    # A fill further than this from the mid is not believed (core/fill_rules.py names the
    # default's assumption: US equities' widest limit-up/limit-down band).
    fill_band_bps: float = Field(default=DEFAULT_FILL_BAND_BPS, gt=0, le=100_000)

    def to_domain(self) -> Instrument:
        return Instrument(self.symbol, self.tick_size, self.lot_size)


class FixConfig(_Section):
    """The FIX session to the venue (the service is the initiator)."""

    host: str = "127.0.0.1"
    port: int = Field(default=9878, ge=1, le=65535)
    sender_comp_id: str = Field(default="EXECAGENT", min_length=1)
    target_comp_id: str = Field(default="SIMVENUE", min_length=1)
    begin_string: str = Field(default="FIX.4.4", pattern=r"^FIX\.4\.[24]$")
    heartbeat_seconds: int = Field(default=5, ge=1, le=300)
    # Reconnecting with backoff (gateways/fix/reconnect.py): after the n-th connection in a
    # row that ended without a logon, wait min(max, initial * multiplier**(n-1)), plus up to
    # jitter times that, at random. reconnect_seconds is the initial wait.
    reconnect_seconds: int = Field(default=2, ge=1, le=300)
    reconnect_max_seconds: float = Field(default=60.0, ge=1, le=3_600)
    reconnect_multiplier: float = Field(default=2.0, ge=1, le=10)
    reconnect_jitter: float = Field(default=0.2, ge=0, le=1)
    logon_timeout_seconds: float = Field(default=10.0, gt=0)
    state_dir: TextPath = Path("var/fix")
    market_data: bool = True  # subscribe to the venue's FIX market data

    @model_validator(mode="after")
    def _backoff_capped_above_its_start(self) -> FixConfig:
        if "reconnect_max_seconds" not in self.model_fields_set:
            # A first wait above the default cap (a configuration from before the backoff,
            # when the interval was fixed) keeps that interval: the cap follows it.
            self.reconnect_max_seconds = max(self.reconnect_max_seconds, self.reconnect_seconds)
        if self.reconnect_max_seconds < self.reconnect_seconds:
            raise ValueError(f"fix.reconnect_max_seconds ({self.reconnect_max_seconds}) is "
                             f"below fix.reconnect_seconds ({self.reconnect_seconds}), the first "
                             "wait: raise the cap or lower the first wait")
        return self


class PolicyConfig(_Section):
    name: str = Field(default="twap", pattern=f"^({'|'.join(POLICY_NAMES)})$")
    # One ONNX model, or a policy book (YAML, models/policy_book.py) that picks a model per
    # parent by side, participation and horizon.
    model_path: TextPath = Path("models/artifacts/policy.onnx")
    slice_seconds: float = Field(default=30.0, gt=0)
    horizon_grace_seconds: float = Field(default=60.0, ge=0)
    # A parent winding down (past its horizon and grace, cancelled, or stopped) finishes
    # after this many wall-clock seconds even if the venue has not answered its cancels; its
    # outcome names what is still working or unknown.
    settle_seconds: float = Field(default=10.0, gt=0, le=3_600)
    # The largest child order the engine sends: a bigger action (a policy's catch-up, the
    # remainder crossed at the horizon) is worked over several ticks. Keep it at or below the
    # risk limits' max_order_qty, or the overlay denies the excess every tick.
    max_child_qty: int = Field(default=2_000, gt=0)
    # A candidate ONNX model run beside the live one on the same ticks, never trading
    # (service/oversight/shadow.py); promoted or rolled back through the admin API. One that
    # observes the price signal (execagent-obs-v2 or v3) needs signal.model_path.
    shadow: TextPath | None = None

    @model_validator(mode="after")
    def _shadow_is_one_model_file(self) -> PolicyConfig:
        """``model_path`` may name a policy book (service/live_policy.py); the shadow is one
        ONNX file, and promotion swaps one file for another, so a book has no shadow."""
        if self.shadow is not None and is_book(self.shadow):
            raise ValueError(f"policy.shadow {self.shadow} is a policy book: a shadow is one "
                             "ONNX file")
        if self.shadow is not None and is_book(self.model_path):
            raise ValueError(f"policy.model_path {self.model_path} is a policy book, which "
                             "runs without a shadow (promotion swaps one model file for "
                             "another): unset policy.shadow, or edit the book and restart")
        return self


class SignalConfig(_Section):
    # The short-horizon price signal (models/signal.py), run on every tick beside the policy;
    # null runs without it (a policy that observes it, execagent-obs-v2 or v3, live or
    # shadow, then cannot start).
    model_path: TextPath | None = Path("models/artifacts/signal.onnx")


class RiskConfig(_Section):
    limits_path: TextPath = Path("deploy/risk/limits.demo.yaml")


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    # Bearer tokens, "name=role:secret" comma-separated (see service.api.auth); keep them in the
    # environment (EXECAGENT_API__TOKENS) or a file, never in the YAML under version control.
    tokens: SecretStr = SecretStr("")
    tokens_file: TextPath | None = None


class StoreConfig(_Section):
    kind: Annotated[StoreKind, Field(strict=False)] = StoreKind.MEMORY
    # A secret: it may carry the password (redis://:pw@host or rediss:// for TLS); shown
    # redacted everywhere.
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    namespace: str = Field(default="execagent", min_length=1, max_length=64,
                           pattern=r"^[A-Za-z0-9._-]+$")
    journal_retention_days: int = Field(default=90, gt=0, le=3_650)
    # After a restart or a reconnect, how long the venue has to answer the order-status
    # requests for our working orders before trading halts (service/state/recovery.py).
    reconcile_timeout_seconds: float = Field(default=10.0, gt=0, le=600)


class _DecimalSizes(_Section):
    """A feed whose sizes are decimals, read as lots of its instrument's ``lot_size``."""

    @model_validator(mode="before")
    @classmethod
    def _lot_size_is_the_instruments(cls, data: object) -> object:
        if isinstance(data, dict) and "lot_size" in data:
            raise ValueError("lot_size is the instrument's (instruments: - {symbol, tick_size, "
                             "lot_size}), for its feed, its orders and its limits alike")
        return data


class FixFeedConfig(_Section):
    """The symbol's market data comes from the FIX session (``fix.market_data``): the default
    for every symbol without an entry."""

    source: Literal["fix"]
    symbol: str


class BinanceWsFeedConfig(_DecimalSizes):
    """Binance's spot diff-depth over a websocket (or ``execagent feed-server``)."""

    source: Literal["binance_ws"]
    symbol: str
    ws_url: str = Field(pattern=r"^wss?://")  # base, e.g. wss://stream.binance.com:9443
    rest_url: str = Field(pattern=r"^https?://")  # base of GET /api/v3/depth
    depth_limit: int = Field(default=1000, ge=5, le=5000)


class RedisStreamFeedConfig(_Section):
    """A Redis stream under the schema of docs/feeds.md, read in a consumer group."""

    source: Literal["redis_stream"]
    symbol: str
    # A secret: it may carry a password; shown redacted.
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    prefix: str = Field(default="execagent", min_length=1, pattern=r"^[A-Za-z0-9._:-]+$")
    group: str = Field(default="execagent", min_length=1)
    consumer: str = Field(default="engine", min_length=1)
    # Where a consumer group created now starts: "0" the whole stream (a backlog is replayed
    # into the book, from its first snapshot on), "$" only what is published from now on (the
    # feed asks the publisher for a snapshot). An existing group keeps its own position.
    start_id: str = Field(default="0", pattern=r"^(0|\$|\d+-\d+)$")


class FileReplayFeedConfig(_DecimalSizes):
    """A recorded day replayed through the Feed interface (paper and demo runs)."""

    source: Literal["file_replay"]
    symbol: str
    format: Literal["lobster", "binance"]
    path: TextPath  # a LOBSTER sample (zip or folder) or a Binance capture file
    speed: float = Field(default=1.0, ge=0)  # 1 real time, 10 ten times faster, 0 flat out


FeedConfig = Annotated[FixFeedConfig | BinanceWsFeedConfig | RedisStreamFeedConfig
                       | FileReplayFeedConfig, Field(discriminator="source")]


def _binance(feed: FeedConfig) -> bool:
    return feed.source == "binance_ws" or (isinstance(feed, FileReplayFeedConfig)
                                           and feed.format == "binance")


class MarketDataConfig(_Section):
    """Where each symbol's market data comes from, and how the engine is protected from it.

    A symbol without an entry in ``feeds`` takes FIX market data. ``stale_seconds``: a feed
    silent this long stops new orders on its symbol until it speaks again; keep it below the
    risk limits' ``global.stale_feed_seconds`` (the kill switch, the last resort).
    ``queue_max_depth``: how many messages may wait for the engine before new ones are merged
    into the waiting ones (conflation, docs/feeds.md)."""

    feeds: list[FeedConfig] = Field(default_factory=list)
    stale_seconds: float = Field(default=2.0, gt=0)
    queue_max_depth: int = Field(default=64, ge=1, le=100_000)


class ServiceConfig(BaseSettings):
    """Everything the daemon needs to start."""

    model_config = SettingsConfigDict(env_prefix="EXECAGENT_", env_nested_delimiter="__",
                                      extra="forbid", strict=True)

    mode: Annotated[Mode, Field(strict=False)] = Mode.PAPER
    instruments: list[InstrumentConfig] = Field(
        default_factory=lambda: [InstrumentConfig(symbol="GOOG", tick_size=Decimal("0.01"))],
        min_length=1,
    )
    fix: FixConfig = Field(default_factory=FixConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    signal: SignalConfig = Field(default_factory=SignalConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    market_data: MarketDataConfig = Field(default_factory=MarketDataConfig)
    posture: PostureConfig = Field(default_factory=PostureConfig)
    oversight: OversightConfig = Field(default_factory=OversightConfig)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        if self.mode is Mode.LIVE and self.store.kind is StoreKind.MEMORY:
            raise ValueError("mode 'live' needs store.kind 'redis': durability is not optional "
                             "when real orders are at stake")
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instruments lists a symbol twice: {symbols}")
        fed = [feed.symbol for feed in self.market_data.feeds]
        unknown = sorted(set(fed) - set(symbols))
        if unknown:
            raise ValueError(f"market_data.feeds names {unknown}, not among the instruments "
                             f"{symbols}: add it to instruments or remove its feed")
        twice = sorted({symbol for symbol in fed if fed.count(symbol) > 1})
        if twice:
            raise ValueError(f"market_data.feeds gives {twice} more than one feed: one source "
                             "per symbol")
        unset = sorted(feed.symbol for feed in self.market_data.feeds if _binance(feed)
                       and "lot_size" not in next(i for i in self.instruments
                                                  if i.symbol == feed.symbol).model_fields_set)
        if unset:
            raise ValueError(f"instruments {unset}: Binance gives quantities as decimals, so "
                             "the instrument needs a lot_size (its LOT_SIZE step or finer, "
                             "e.g. \"0.000001\"): orders and limits count those lots")
        return self

    def feed_sources(self) -> dict[str, FeedConfig]:
        """Each instrument's market-data source (FIX where none is configured)."""
        chosen: dict[str, FeedConfig] = {feed.symbol: feed for feed in self.market_data.feeds}
        return {i.symbol: chosen.get(i.symbol) or FixFeedConfig(source="fix", symbol=i.symbol)
                for i in self.instruments}

    def fix_market_data_symbols(self) -> list[str]:
        """Symbols to subscribe to over FIX: those sourced from FIX, if FIX market data is on."""
        if not self.fix.market_data:
            return []
        return [s for s, feed in self.feed_sources().items() if feed.source == "fix"]

    def market_data_symbols(self) -> list[str]:
        """Symbols that receive market data from some source (the others never will)."""
        return [s for s, feed in self.feed_sources().items()
                if feed.source != "fix" or self.fix.market_data]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("EXECAGENT_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    def instrument_map(self) -> dict[str, Instrument]:
        return {i.symbol: i.to_domain() for i in self.instruments}


def load_config(path: str | Path | None = None, **overrides: Any) -> ServiceConfig:
    """Load and validate; raises :class:`ConfigError` with a readable message."""
    previous = os.environ.get("EXECAGENT_CONFIG")
    try:
        if path is not None:
            config_path = Path(path)
            if not config_path.is_file():
                raise ConfigError(f"configuration file {config_path} does not exist")
            try:
                yaml.safe_load(config_path.read_text())
            except yaml.YAMLError as exc:
                raise ConfigError(f"configuration file {config_path} is not valid YAML: "
                                  f"{yaml_problem(exc)}") from exc
            os.environ["EXECAGENT_CONFIG"] = str(config_path)
        try:
            return ServiceConfig(**overrides)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from exc
    finally:
        if path is not None:
            if previous is None:
                os.environ.pop("EXECAGENT_CONFIG", None)
            else:
                os.environ["EXECAGENT_CONFIG"] = previous
