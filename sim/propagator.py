"""The agent's transient price impact: a propagator in the manner of Bouchaud et al.

Each of the agent's marketable orders (sign ``s``, ``+1`` buy, ``v`` shares, at time ``t_i``)
moves the price, in ticks, by

    s * g0_ticks * (v / reference_qty) ** size_exponent
      * (1 + (t - t_i) / decay_s) ** -decay_exponent

and the shift at ``t`` is the sum over all of them (linear superposition). Why a propagator and
not Obizhaeva-Wang: the resilience of an Obizhaeva-Wang book is exponential, one time scale; the
decay of a trade's impact in order-book data is a power law (Bouchaud, Gefen, Potters and Wyart,
2004), and the propagator's kernel is estimated directly from the data's response to market
orders (:mod:`sim.impact_fit`), with no assumed book shape.

Named assumptions:
- **Concave in size, the same shape at every lag**: the size factor ``(v / V) ** delta``
  multiplies the whole kernel (a factorised propagator).
- **Linear superposition**: the agent's orders add their kernels; no saturation.
- **Transient only**: with ``decay_exponent > 0`` every trade's impact decays to zero; the
  permanent part a real market keeps is not modelled.
- Applied to prices as a whole number of ticks (:meth:`Propagator.shift_ticks`, rounded half
  away from zero), so a shift below half a tick moves nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.domain import Side


@dataclass(frozen=True, slots=True)
class ImpactParams:
    """The propagator's parameters. ``g0_ticks``: the impact, in ticks, of one order of
    ``reference_qty`` shares just after it; ``size_exponent``: the concavity in size;
    ``decay_s`` and ``decay_exponent``: the kernel's time scale (seconds) and power-law decay."""

    g0_ticks: float = 0.0
    size_exponent: float = 0.5
    reference_qty: float = 100.0
    decay_s: float = 1.0
    decay_exponent: float = 0.5

    def __post_init__(self) -> None:
        values = (self.g0_ticks, self.size_exponent, self.reference_qty, self.decay_s,
                  self.decay_exponent)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"impact parameters must be finite, got {values}")
        if self.g0_ticks < 0 or self.size_exponent < 0 or self.decay_exponent < 0:
            raise ValueError("g0_ticks, size_exponent and decay_exponent must not be negative")
        if self.reference_qty <= 0 or self.decay_s <= 0:
            raise ValueError("reference_qty and decay_s must be positive")

    @classmethod
    def none(cls) -> ImpactParams:
        """Zero impact: the replay as recorded."""
        return cls()

    @property
    def is_none(self) -> bool:
        return self.g0_ticks == 0.0

    def kernel(self, qty: int, age_ns: int) -> float:
        """The impact in ticks, unsigned, of one order of ``qty`` shares ``age_ns`` after it."""
        if age_ns < 0:
            return 0.0
        size = (qty / self.reference_qty) ** self.size_exponent
        return self.g0_ticks * size * (1.0 + age_ns / 1e9 / self.decay_s) \
            ** -self.decay_exponent

    def to_json(self) -> dict[str, float]:
        return {"g0_ticks": self.g0_ticks, "size_exponent": self.size_exponent,
                "reference_qty": self.reference_qty, "decay_s": self.decay_s,
                "decay_exponent": self.decay_exponent}

    @classmethod
    def from_json(cls, document: Any) -> ImpactParams:
        """From the ``impact`` section of a calibration file; ValueError (one line) if it is
        not one."""
        if not isinstance(document, dict):
            raise ValueError("the impact section is not an object")
        names = set(cls().to_json())
        unknown = sorted(set(document) - names - {"estimated_from"})
        if unknown:
            raise ValueError(f"unknown impact parameters {unknown}")
        try:
            return cls(**{k: float(v) for k, v in document.items() if k in names})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid impact parameters: {exc}") from None


@dataclass(slots=True)
class Propagator:
    """The agent's trades so far and the price shift they make now."""

    params: ImpactParams
    _trades: list[tuple[int, float, int]] = field(default_factory=list)  # (ts, sign, qty)

    def trade(self, side: Side, qty: int, ts_ns: int) -> None:
        """Record one marketable order's traded quantity (all its fills together)."""
        if qty > 0 and not self.params.is_none:
            self._trades.append((ts_ns, 1.0 if side is Side.BUY else -1.0, qty))

    def shift(self, now_ns: int) -> float:
        """The cumulative impact at ``now_ns`` in ticks (positive: prices pushed up)."""
        kernel = self.params.kernel
        return sum(sign * kernel(qty, now_ns - ts) for ts, sign, qty in self._trades)

    def shift_ticks(self, now_ns: int) -> int:
        """:meth:`shift` as a whole number of ticks, rounded half away from zero."""
        if not self._trades:
            return 0
        value = self.shift(now_ns)
        return int(math.copysign(math.floor(abs(value) + 0.5), value))
