"""A policy book: a small set of ONNX models, each working the parents of its entry, picked per
parent by side, participation and horizon.

Why: one model trained on every side and size can be best at some and worst at others (the
desk runs' verdicts move between parents with the timing-risk penalty, docs/results.md); a
book lets each part of the task go to the model chosen for it, on hours the held-out
evaluation does not use.

The file (YAML), its model paths relative to the book's folder::

    entries:
      - model: buy.onnx
        sides: [buy]
      - model: sell-small.onnx
        sides: [sell]
        participation: [0.01, 0.05]
      - model: sell-large.onnx
        sides: [sell]
        participation: [0.05, 0.25]

An entry's ``participation`` and ``horizon_minutes`` default to its model's trained range and
must lie within it; ``sides`` must be sides the model was trained for. A parent goes to the
**first** entry that covers it, each entry's ends widened by the trained range's tolerance
(:data:`models.task.RANGE_TOLERANCE`), so two entries that meet at a band's edge overlap a
little and the earlier one wins there. A parent no entry covers is refused, in one line.
Participation is measured, as a model's trained range measures it, against the volume rate of
the entry model's training market unless the caller names the symbol's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config_errors import problems, yaml_problem
from models.policy import ModelError, OnnxPolicy, OutsideTrainedRange
from models.task import TrainedRange


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: Path
    sides: list[Literal["buy", "sell"]] = Field(min_length=1)
    participation: tuple[float, float] | None = None
    horizon_minutes: tuple[float, float] | None = None


class _Book(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    entries: list[_Entry] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One entry: the model file, the parents it works, and the model's metadata and sha256 as
    read when the book was (its card, its drift references)."""

    model: Path
    covers: TrainedRange
    metadata: Mapping[str, str]
    sha256: str


class PolicyBook:
    """The book at ``path``, every model loaded and checked against its entry once;
    ``sha256`` of the book's file as read."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_bytes()
            self.sha256 = hashlib.sha256(text).hexdigest()
            raw = yaml.safe_load(text.decode("utf-8"))
        except OSError as exc:
            raise ModelError(f"policy book {self.path} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ModelError(f"policy book {self.path} is not UTF-8 text: {exc.reason} at byte "
                             f"{exc.start}") from exc
        except yaml.YAMLError as exc:
            raise ModelError(f"policy book {self.path} is not valid YAML: "
                             f"{yaml_problem(exc)}") from exc
        try:
            book = _Book.model_validate(raw)
        except ValidationError as exc:
            raise ModelError(f"policy book {self.path} is invalid: "
                             f"{'; '.join(problems(exc))}") from exc
        self.entries = [self._entry(k, entry) for k, entry in enumerate(book.entries)]

    def _entry(self, index: int, entry: _Entry) -> BookEntry:
        where = f"policy book {self.path}, entry {index + 1}"
        model = entry.model if entry.model.is_absolute() else self.path.parent / entry.model
        try:
            policy = OnnxPolicy(model)
            trained = policy.trained_range()
            sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
        except OSError as exc:
            raise ModelError(f"{where}: {model}: {exc.strerror}") from exc
        except ModelError as exc:
            raise ModelError(f"{where}: {exc}") from exc
        untrained = sorted(set(entry.sides) - set(trained.sides))
        if untrained:
            raise ModelError(f"{where}: {model.name} was not trained to {', '.join(untrained)}")
        participation = _within(where, "participation", entry.participation,
                                trained.participation, 1.0)
        horizon_s = _within(where, "horizon_minutes", entry.horizon_minutes,
                            trained.horizon_s, 60.0)
        return BookEntry(model, TrainedRange(tuple(entry.sides), participation, horizon_s,
                                             trained.volume_per_s, f"{where} ({model.name})"),
                         policy.metadata, sha256)

    def model_for(self, side: int, qty: int, horizon_s: float,
                  volume_per_s: float | None = None) -> Path:
        """The model file of the first entry that covers the parent; OutsideTrainedRange (one
        line, each entry's reason) when none does."""
        reasons = []
        for k, entry in enumerate(self.entries):
            reason = entry.covers.refusal(side, qty, horizon_s, volume_per_s, "the entry's")
            if reason is None:
                return entry.model
            reasons.append(f"entry {k + 1} ({entry.model.name}): {reason}")
        raise OutsideTrainedRange(f"policy book {self.path.name} has no model for this parent: "
                                  f"{'; '.join(reasons)}; name a baseline policy to work it")


def _within(where: str, name: str, asked: tuple[float, float] | None,
            trained: tuple[float, float], unit: float) -> tuple[float, float]:
    """The entry's [low, high] in the trained range's unit (``unit`` of the file's per one of
    the range's); the trained range itself when the entry names none."""
    if asked is None:
        return trained
    low, high = asked[0] * unit, asked[1] * unit
    if not 0 < low <= high:
        raise ModelError(f"{where}: {name} {list(asked)} is not a [low, high] pair of positive "
                         "numbers")
    if low < trained[0] * (1 - 1e-9) or high > trained[1] * (1 + 1e-9):
        raise ModelError(f"{where}: {name} {list(asked)} reaches outside the model's trained "
                         f"[{trained[0] / unit:g}, {trained[1] / unit:g}]")
    return low, high
