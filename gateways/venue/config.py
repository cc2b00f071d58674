"""Configuration of the simulated venue (``execagent venue --config FILE``).

Strict types, as every configuration file's (service/config.py): a number must be a number
(``port: "9878"`` or ``speed: yes`` is an error); decimals and paths are text or numbers.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config_errors import ConfigError, describe_validation_error, yaml_problem
from core.config_types import TextDecimal, TextPath
from gateways.venue.personas import parse_persona


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)




class VenueSymbol(_Section):
    symbol: str = Field(min_length=1, max_length=32)
    tick_size: TextDecimal = Field(gt=0)
    start_price: TextDecimal = Field(gt=0, description="initial mid of the stochastic flow")
    seed: int = 7
    replay: TextPath | None = Field(
        default=None, description="a LOBSTER sample (zip or folder) replayed instead of the "
                                  "stochastic flow, at the venue's speed")


class VenueClient(_Section):
    """A counterparty allowed to log on: its SenderCompID and, optionally, a password."""

    comp_id: str = Field(min_length=1)
    password: str | None = None


class VenueConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9878, ge=0, le=65535)
    comp_id: str = Field(default="SIMVENUE", min_length=1)
    begin_string: str = Field(default="FIX.4.4", pattern=r"^FIX\.4\.[24]$")
    clients: list[VenueClient] = Field(
        default_factory=lambda: [VenueClient(comp_id="EXECAGENT")], min_length=1)
    symbols: list[VenueSymbol] = Field(
        default_factory=lambda: [VenueSymbol(symbol="GOOG", tick_size=Decimal("0.01"),
                                             start_price=Decimal("580.00"))], min_length=1)
    speed: float = Field(default=1.0, gt=0, le=10_000,
                         description="market seconds per wall-clock second")
    order_latency_ms: float = Field(default=0.0, ge=0, le=10_000)
    cancel_on_disconnect: bool = True
    state_dir: TextPath = Path("var/venue")
    # How it behaves as a counterparty (gateways/venue/personas.py): "strict", or one or more
    # of the personas real venues and simulators show, comma-separated.
    persona: str = "strict"

    @field_validator("persona")
    @classmethod
    def _known_persona(cls, value: str) -> str:
        parse_persona(value)
        return value


def load_venue_config(path: str | Path | None) -> VenueConfig:
    if path is None:
        return VenueConfig()
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"venue configuration file {config_path} does not exist")
    try:
        raw = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"venue configuration {config_path} is not valid YAML: "
                          f"{yaml_problem(exc)}") from exc
    try:
        return VenueConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
