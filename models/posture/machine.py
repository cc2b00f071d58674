"""NORMAL / ELEVATED / STRESSED with hysteresis: from scores to a posture that does not flap.

Each update proposes a *raw* posture from the scores (:class:`Thresholds`); the posture follows:

- **up at once**, with one guard: STRESSED needs its raw proposal on ``confirm_ticks`` updates
  in a row, so that one odd message cannot pause trading;
- **down only after a cool-down**: STRESSED steps down to ELEVATED once the raw proposal has
  stayed below STRESSED *and* the anomaly score below ``clear`` (the book back to normal) for
  ``cooldown_stressed_s`` of event time; ELEVATED steps down to NORMAL the same way after
  ``cooldown_elevated_s``. Any proposal at or above the current posture restarts the clock.

Pure logic in event time; the training command calibrates the thresholds by running this very
class over the training part of the day, and the service runs it on every tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.posture.levels import Posture


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a posture is proposed. ``anomaly`` is in units of the training day's extremes (1:
    as far from usual as the most extreme moment of the training part of the day)."""

    elevated: float = 0.8  # anomaly score proposing ELEVATED
    stressed: float = 1.25  # anomaly score proposing STRESSED
    clear: float = 0.5  # the anomaly score below which the book counts as back to normal
    vol_elevated: float = 4.0  # volatility forecast / its usual level proposing ELEVATED
    regime_elevated: float = 0.99  # the turbulent regime's filtered probability, ditto
    confirm_ticks: int = 2
    cooldown_elevated_s: float = 5.0
    cooldown_stressed_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.clear <= self.elevated < self.stressed:
            raise ValueError("posture thresholds must satisfy 0 < clear <= elevated < stressed")
        if self.confirm_ticks < 1 or self.cooldown_elevated_s < 0 or self.cooldown_stressed_s < 0:
            raise ValueError("posture confirm_ticks must be >= 1 and cool-downs >= 0")

    def propose(self, anomaly: float, vol_ratio: float, turbulent: float) -> Posture:
        if anomaly >= self.stressed:
            return Posture.STRESSED
        if anomaly >= self.elevated or vol_ratio >= self.vol_elevated or \
                turbulent >= self.regime_elevated:
            return Posture.ELEVATED
        return Posture.NORMAL


class PostureMachine:
    """One symbol's posture; :meth:`update` once per scored tick."""

    __slots__ = ("_calm_since_ns", "_stress_run", "posture", "since_ns", "thresholds")

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.posture = Posture.NORMAL
        self.since_ns = 0  # event time the current posture began
        self._stress_run = 0  # consecutive STRESSED proposals
        self._calm_since_ns: int | None = None  # below the current posture and clear since

    def update(self, now_ns: int, anomaly: float, vol_ratio: float,
               turbulent: float) -> Posture | None:
        """Fold in one tick's scores; the new posture when it changed, else None."""
        th = self.thresholds
        raw = th.propose(anomaly, vol_ratio, turbulent)
        self._stress_run = self._stress_run + 1 if raw is Posture.STRESSED else 0
        if raw is Posture.STRESSED and self._stress_run < th.confirm_ticks:
            raw = Posture.ELEVATED
        current = self.posture
        if raw > current:
            return self._move(raw, now_ns)
        if raw == current or anomaly >= th.clear:
            self._calm_since_ns = None
            return None
        if self._calm_since_ns is None:
            self._calm_since_ns = now_ns
        cooldown = th.cooldown_stressed_s if current is Posture.STRESSED \
            else th.cooldown_elevated_s
        if now_ns - self._calm_since_ns >= cooldown * 1e9:
            return self._move(Posture(current - 1), now_ns)
        return None

    def _move(self, posture: Posture, now_ns: int) -> Posture:
        self.posture = posture
        self.since_ns = now_ns
        self._calm_since_ns = None
        return posture
