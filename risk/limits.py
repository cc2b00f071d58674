"""Risk limits: a YAML file validated by pydantic. No limit is silently unlimited: every field is
required, and a missing one is a configuration error naming it."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class RiskConfigError(ValueError):
    """A limits file that cannot be used; the message names the field and what is allowed."""


class SymbolLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_order_qty: int = Field(gt=0)
    max_long_position: int = Field(ge=0)
    max_short_position: int = Field(ge=0)


class RiskLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: dict[str, SymbolLimits] = Field(min_length=1)


def load_limits(path: str | Path) -> RiskLimits:
    limits_path = Path(path)
    if not limits_path.is_file():
        raise RiskConfigError(f"risk limits file {limits_path} does not exist")
    try:
        raw = yaml.safe_load(limits_path.read_text())
    except yaml.YAMLError as exc:
        raise RiskConfigError(f"risk limits file {limits_path} is not valid YAML: {exc}") from exc
    try:
        return RiskLimits.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RiskConfigError(f"risk limits file {limits_path}: {problems}") from exc
