"""The ``oversight`` section of the service configuration: drift windows and expected costs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # as every section (service/config.py)


class ExpectedShortfall(_Section):
    """A policy's expected implementation shortfall and its spread across parents, bps."""

    mean_bps: float = Field(ge=-1_000, le=1_000)
    std_bps: float = Field(ge=0, le=1_000)


class OversightConfig(_Section):
    # Observations per drift comparison (one PSI per window and stream).
    drift_window: int = Field(default=2_000, ge=50, le=1_000_000)
    # Expected cost per policy name, for the live TCA of the baselines; an ONNX model's comes
    # from its own file (execagent.expected_shortfall_bps) and wins over an entry here.
    expected_shortfall: dict[str, ExpectedShortfall] = Field(default_factory=dict)
