"""Risk limits: a YAML file validated by pydantic.

No limit is silently unlimited. Every field is required: a missing one is a configuration error
that names it. The one optional control, max participation, must still be written down, as
``max_participation: null`` when it is deliberately off. Amounts of money are in the
instruments' quote currency; times are seconds. docs/risk.md describes each key.

Types are strict, in the YAML file as in the API's JSON: a count is an integer (``yes``,
``"10"`` and ``10.0`` are errors, not 1 or 10), a rate or a time a number; amounts of money are
decimals, written as numbers or as strings (``"2500.50"``), and answered as strings.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.config_errors import problems, yaml_problem


class RiskConfigError(ValueError):
    """A limits file that cannot be used; the message names the field and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Money = Annotated[Decimal, Field(strict=False)]  # a number or a string; never true


class ParticipationLimit(_Strict):
    """Our volume (filled in the window plus working) at most ``rate`` of the market's."""

    rate: float = Field(gt=0, le=1)
    window_seconds: float = Field(gt=0)


class SymbolLimits(_Strict):
    max_order_qty: int = Field(gt=0)
    max_order_notional: Money = Field(gt=0)
    price_collar_bps: float = Field(gt=0)
    max_long_position: int = Field(ge=0)
    max_short_position: int = Field(ge=0)
    max_open_orders: int = Field(gt=0)
    max_participation: ParticipationLimit | None


class ThrottleLimit(_Strict):
    """Token bucket over new, replace and cancel messages (cancels use tokens, never wait)."""

    messages_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RejectStormLimit(_Strict):
    """The kill switch fires after ``max_rejects`` venue rejects within ``window_seconds``."""

    max_rejects: int = Field(ge=1)
    window_seconds: float = Field(gt=0)


class GlobalLimits(_Strict):
    max_open_orders: int = Field(gt=0)
    max_daily_loss: Money = Field(gt=0)
    throttle: ThrottleLimit
    reject_storm: RejectStormLimit
    max_reference_age_seconds: float = Field(gt=0)
    stale_feed_seconds: float = Field(gt=0)
    restricted_symbols: list[str]


class RiskLimits(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True,
                              allow_inf_nan=False)

    global_: GlobalLimits = Field(alias="global")
    symbols: dict[str, SymbolLimits] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        g = self.global_
        if g.stale_feed_seconds < g.max_reference_age_seconds:
            raise ValueError("global.stale_feed_seconds must be at least "
                             "global.max_reference_age_seconds: orders are denied on a stale "
                             "reference before the feed is declared dead")
        for symbol, limits in self.symbols.items():
            if limits.max_open_orders > g.max_open_orders:
                raise ValueError(f"symbols.{symbol}.max_open_orders exceeds "
                                 "global.max_open_orders")
        return self

    def for_symbol(self, symbol: str) -> RiskLimits:
        """These limits with ``symbol``'s section only, the global ones unchanged: what a run
        that trades that one symbol enforces. A desk's file names every symbol it trades, and
        the overlay refuses limits for symbols it has no instrument for. ValueError (one line)
        when the file has no section for ``symbol``."""
        if symbol not in self.symbols:
            raise ValueError(f"the risk limits have no section for {symbol} (they name "
                             f"{', '.join(sorted(self.symbols))})")
        return self.model_copy(update={"symbols": {symbol: self.symbols[symbol]}})


def load_limits(path: str | Path) -> RiskLimits:
    limits_path = Path(path)
    if not limits_path.is_file():
        raise RiskConfigError(f"risk limits file {limits_path} does not exist")
    try:
        raw = yaml.safe_load(limits_path.read_text())
    except yaml.YAMLError as exc:
        raise RiskConfigError(f"risk limits file {limits_path} is not valid YAML: "
                              f"{yaml_problem(exc)}") from exc
    return parse_limits(raw, str(limits_path))


def parse_limits(raw: object, source: str = "risk limits") -> RiskLimits:
    try:
        return RiskLimits.model_validate(raw)
    except ValidationError as exc:
        raise RiskConfigError(f"{source}: {'; '.join(problems(exc))}") from exc
