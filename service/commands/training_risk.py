"""The live risk overlay, handed to the training environment as its pre-trade check.

Why here: the environment (``models``) may not import the risk package, so the training
command wires it in, as the service does for the engine. Each episode gets a fresh
:class:`~risk.overlay.RiskOverlay` from the same limits file the service would load: flat
positions, a full message bucket, no reference price until the episode's first quote. The
factory is a plain picklable object, so a Ray Tune trial on another process or machine builds
the same overlays.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from core.domain import Instrument
from models.training_config import TrainConfig
from risk.limits import RiskLimits, load_limits
from risk.overlay import RiskOverlay

# The overlay logs its 1st, 2nd, 4th... denial of each reason: once per episode that is
# thousands of lines over a training run; the run counts denials instead (run.json).
_OVERLAY_LOGGER = "execagent.risk.overlay"


class OverlayFactory:
    """``factory(symbol)``: a new overlay enforcing ``limits`` on ``symbol``."""

    def __init__(self, limits: RiskLimits, symbol: str, tick_size: Decimal) -> None:
        if symbol not in limits.symbols:
            raise ValueError(f"the risk limits have no entry for {symbol!r} (they name "
                             f"{sorted(limits.symbols)}): set the training config's symbol to "
                             "one of them")
        self.limits = limits
        self.symbol = symbol
        self.tick_size = tick_size

    def __call__(self, symbol: str) -> RiskOverlay:
        logging.getLogger(_OVERLAY_LOGGER).setLevel(logging.ERROR)
        instruments = {name: Instrument(name, self.tick_size)
                       for name in {symbol, *self.limits.symbols}}
        return RiskOverlay(self.limits, instruments)


def overlay_factory(config: TrainConfig) -> OverlayFactory | None:
    """The factory ``config.risk`` asks for, or None; RiskConfigError or ValueError with one
    line when the limits cannot be used."""
    if config.risk is None:
        return None
    return OverlayFactory(load_limits(Path(config.risk.limits)), config.symbol,
                          config.risk.tick_size)
