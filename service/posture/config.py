"""The ``posture`` section of the service configuration: the model file and what each posture
tightens.

Every tightening is a factor in ``(0, 1]`` of the risk limits in force: a factor above 1 is a
configuration error, so no configuration can make a posture loosen a limit (and
:func:`service.posture.gate.tighten` caps at the configured limit anyway). STRESSED's factors may
not be looser than ELEVATED's: a higher posture only ever tightens more.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config_types import TextPath


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # as every section (service/config.py)


class Tightening(_Section):
    """Factors of the hard limits a posture applies on top of them (1: as configured)."""

    collar: float = Field(gt=0, le=1)  # of symbols.<S>.price_collar_bps
    child_qty: float = Field(gt=0, le=1)  # of policy.max_child_qty and symbols.<S>.max_order_qty
    participation: float = Field(gt=0, le=1)  # of symbols.<S>.max_participation.rate
    messages: float = Field(gt=0, le=1)  # of global.throttle, per symbol
    # Multiplies Almgren-Chriss's risk aversion: a riskier market makes a risk-averse schedule
    # trade sooner (its kappa grows with the square root of this). 1 leaves it as it is.
    urgency: float = Field(default=1.0, ge=1, le=100)


class PostureConfig(_Section):
    enabled: bool = False
    model_path: TextPath = Path("models/artifacts/posture.json")
    elevated: Tightening = Field(default_factory=lambda: Tightening(
        collar=0.5, child_qty=0.5, participation=0.5, messages=0.5, urgency=4.0))
    # STRESSED also stops every order that would increase the symbol's position.
    stressed: Tightening = Field(default_factory=lambda: Tightening(
        collar=0.25, child_qty=0.25, participation=0.25, messages=0.25, urgency=4.0))
    # A price signal's forecast move (bps, either way) from which the signal alone proposes
    # ELEVATED; None: the signal, when the engine passes one, is only recorded.
    signal_elevated_bps: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _stressed_tighter(self) -> PostureConfig:
        for name in ("collar", "child_qty", "participation", "messages"):
            if getattr(self.stressed, name) > getattr(self.elevated, name):
                raise ValueError(f"posture.stressed.{name} is looser than "
                                 f"posture.elevated.{name}: a higher posture only tightens")
        return self
