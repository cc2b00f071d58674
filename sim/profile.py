"""Intraday volume profiles: the share of the day's volume each time bucket carries.

Why: VWAP (:class:`models.baselines.VwapPolicy`) spreads a parent order over its horizon in
proportion to the volume the market usually trades then, rather than evenly in time. The
profile is measured once from a LOBSTER sample (:func:`volume_profile`), saved as JSON and
loaded by the service, so the live engine never needs the raw data.

Named assumptions:
- a bucket's volume is spread evenly over the bucket (a piecewise-constant volume rate), so
  the cumulative profile is piecewise linear and a horizon need not start on a bucket boundary;
- volume means executed shares: visible (LOBSTER type 4) and hidden (type 5) executions.
  Cross trades (type 6, the opening and closing auctions) are left out: a parent worked during
  the continuous session cannot take part in them;
- before the open and after the last bucket the profile carries no volume;
- the buckets are in the exchange's local time, ``utc_offset_hours`` from UTC (-4, New York in
  summer, like :mod:`sim.lobster`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.lobster import EventType, LobsterSample
from sim.lobster_columns import MessageColumns

NS = 1_000_000_000
DAY_SECONDS = 86_400
NASDAQ_OPEN_SECONDS = 34_200  # 09:30 local
FRACTION_SUM_TOLERANCE = 1e-6
_EXECUTIONS = frozenset({EventType.EXECUTE_VISIBLE, EventType.EXECUTE_HIDDEN})
# LOBSTER file names carry the sample's time window in milliseconds after midnight.
_WINDOW = re.compile(r"_\d{4}-\d{2}-\d{2}_(?P<start>\d+)_(?P<end>\d+)_message_\d+\.csv$")


class ProfileFormatError(ValueError):
    """A volume-profile file or value that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """``fractions[i]`` is the share of the day's volume traded in bucket ``i``, which covers
    ``[open + i * bucket, open + (i + 1) * bucket)`` seconds after local midnight."""

    bucket_seconds: int
    fractions: tuple[float, ...]
    open_seconds: int = NASDAQ_OPEN_SECONDS
    utc_offset_hours: int = -4
    _prefix: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.bucket_seconds, bool) or not isinstance(self.bucket_seconds, int) \
                or self.bucket_seconds <= 0:
            raise ProfileFormatError(
                f"bucket_seconds must be a positive integer, got {self.bucket_seconds!r}")
        if isinstance(self.open_seconds, bool) or not isinstance(self.open_seconds, int) \
                or not 0 <= self.open_seconds < DAY_SECONDS:
            raise ProfileFormatError(
                f"open_seconds must be an integer second of the day, got {self.open_seconds!r}")
        if isinstance(self.utc_offset_hours, bool) or not isinstance(self.utc_offset_hours, int) \
                or not -12 <= self.utc_offset_hours <= 14:
            raise ProfileFormatError(
                f"utc_offset_hours must be an integer in [-12, 14], got {self.utc_offset_hours!r}")
        if not self.fractions:
            raise ProfileFormatError("a volume profile needs at least one bucket")
        for index, value in enumerate(self.fractions):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value < 0:
                raise ProfileFormatError(
                    f"bucket {index}: fraction must be a finite number >= 0, got {value!r}")
        total = math.fsum(self.fractions)
        if abs(total - 1.0) > FRACTION_SUM_TOLERANCE:
            raise ProfileFormatError(f"bucket fractions must sum to 1, they sum to {total!r}")
        # Cumulative share at each bucket boundary: O(1) lookups on every tick.
        prefix = [0.0]
        for value in self.fractions:
            prefix.append(prefix[-1] + float(value))
        object.__setattr__(self, "_prefix", tuple(prefix))

    @classmethod
    def from_volumes(cls, bucket_seconds: int, volumes: Sequence[float],
                     open_seconds: int = NASDAQ_OPEN_SECONDS,
                     utc_offset_hours: int = -4) -> VolumeProfile:
        """A profile from raw per-bucket volumes (normalised to fractions)."""
        total = math.fsum(volumes)
        if not total > 0:
            raise ProfileFormatError("a volume profile needs some volume, got none")
        return cls(bucket_seconds, tuple(v / total for v in volumes), open_seconds,
                   utc_offset_hours)

    @property
    def close_seconds(self) -> int:
        """End of the last bucket, seconds after local midnight (may pass midnight)."""
        return self.open_seconds + self.bucket_seconds * len(self.fractions)

    def time_of_day(self, ts_ns: int) -> float:
        """Seconds after the exchange's local midnight at epoch time ``ts_ns``."""
        local_ns = ts_ns + self.utc_offset_hours * 3600 * NS
        return (local_ns % (DAY_SECONDS * NS)) / NS

    def cumulative(self, seconds: float) -> float:
        """Share of the day's volume traded from the open until ``seconds`` after midnight."""
        prefix = self._prefix
        offset = seconds - self.open_seconds
        if offset <= 0:
            return 0.0
        index, into = divmod(offset, self.bucket_seconds)
        if index >= len(self.fractions):
            return prefix[-1]
        i = int(index)
        return prefix[i] + self.fractions[i] * into / self.bucket_seconds

    def share(self, from_seconds: float, to_seconds: float) -> float:
        """Share of the day's volume in ``[from_seconds, to_seconds)`` after midnight."""
        return self.cumulative(to_seconds) - self.cumulative(from_seconds)

    def to_json(self) -> dict[str, Any]:
        return {"bucket_seconds": self.bucket_seconds, "open_seconds": self.open_seconds,
                "utc_offset_hours": self.utc_offset_hours, "fractions": list(self.fractions)}


def volume_profile(sample: LobsterSample, bucket_seconds: int = 300,
                   open_seconds: int | None = None, utc_offset_hours: int = -4) -> VolumeProfile:
    """Measure a profile from a LOBSTER sample: executed shares (types 4 and 5) per bucket.

    ``open_seconds`` defaults to the start of the sample's time window (from its file name,
    34200 = 09:30 for LOBSTER's full-day samples), else 09:30. Executions before the open are
    left out; the last bucket is the one holding the last execution (or the window's end).
    """
    if bucket_seconds <= 0:
        raise ValueError(f"bucket_seconds must be positive, got {bucket_seconds}")
    window = _WINDOW.search(sample.message_name)
    if open_seconds is None:
        open_seconds = int(window["start"]) // 1000 if window else NASDAQ_OPEN_SECONDS
    volumes: list[int] = []
    if window:
        span = int(window["end"]) // 1000 - open_seconds
        volumes = [0] * max(0, -(-span // bucket_seconds))
    midnight_ns: int | None = None
    for message in sample.messages(utc_offset_hours=utc_offset_hours):
        if message.event not in _EXECUTIONS:
            continue
        if midnight_ns is None:
            local_ns = message.ts_ns + utc_offset_hours * 3600 * NS
            midnight_ns = message.ts_ns - local_ns % (DAY_SECONDS * NS)
        offset_ns = message.ts_ns - midnight_ns - open_seconds * NS
        if offset_ns < 0:
            continue
        index = offset_ns // (bucket_seconds * NS)
        if index >= len(volumes):
            volumes.extend([0] * (index + 1 - len(volumes)))
        volumes[index] += message.qty
    if not sum(volumes):
        raise ValueError(f"{sample.source}: no executions after the open to build a profile")
    return VolumeProfile.from_volumes(bucket_seconds, volumes, open_seconds, utc_offset_hours)


def save(profile: VolumeProfile, path: Path | str) -> None:
    """Write ``profile`` as JSON (what :func:`load` reads)."""
    Path(path).write_text(json.dumps(profile.to_json(), indent=2) + "\n")


def load(path: Path | str) -> VolumeProfile:
    """Read a profile written by :func:`save`; anything malformed raises
    :class:`ProfileFormatError` (a ``ValueError``) naming the file."""
    source = Path(path)
    try:
        document = json.loads(source.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileFormatError(f"{source}: cannot read a volume profile: {exc}") from exc
    if not isinstance(document, dict):
        raise ProfileFormatError(f"{source}: a volume profile is a JSON object, "
                                 f"got {type(document).__name__}")
    missing = {"bucket_seconds", "fractions"} - document.keys()
    if missing:
        raise ProfileFormatError(f"{source}: missing {', '.join(sorted(missing))}")
    fractions = document["fractions"]
    if not isinstance(fractions, list):
        raise ProfileFormatError(f"{source}: fractions must be a list of numbers")
    try:
        return VolumeProfile(document["bucket_seconds"], tuple(fractions),
                             document.get("open_seconds", NASDAQ_OPEN_SECONDS),
                             document.get("utc_offset_hours", -4))
    except ProfileFormatError as exc:
        raise ProfileFormatError(f"{source}: {exc}") from exc


def executed_per_second(messages: MessageColumns) -> float:
    """Executed shares (visible and hidden, as a profile counts them) per second from the first
    message to the last: the volume rate a parent's participation is measured against
    (assumed: the same in every window of the day)."""
    if not len(messages):
        return 0.0
    executed = int(messages.qty[(messages.event == EventType.EXECUTE_VISIBLE) |
                                (messages.event == EventType.EXECUTE_HIDDEN)].sum())
    return executed / max((int(messages.ts_ns[-1]) - int(messages.ts_ns[0])) / 1e9, 1.0)
