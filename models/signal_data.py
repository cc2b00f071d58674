"""The signal's data set: features and labels from a LOBSTER day, and the time-ordered split.

Rows: one per feed message the engine would see (every :class:`~core.domain.MarketData` the
replay of the day emits with an idle agent). Why every message and not a regular time grid:
the live engine asks for the signal on every tick, so the rows a model trains and is tested on
are drawn the way live draws them (busy moments weigh more, as they do live). The price is that
consecutive rows' labels overlap heavily (a 5 s horizon spans hundreds of messages at busy
times), so the row count overstates the number of independent observations; the evaluation's
confidence intervals resample whole blocks of time for that reason (:mod:`models.signal_eval`).

Features come from :class:`models.signal_features.SignalTracker` fed exactly what the engine
and the Gymnasium environment feed it: the :class:`~sim.replay_exchange.ReplayExchange`'s
market data applied to a :class:`~core.depth_book.DepthBook`.

Label for horizon ``h``: the mid ``h`` seconds of event time later (the last mid at or before
``t + h``) minus the mid now, in basis points of the mid now. Rows whose ``t + h`` lies beyond
the day's last message have no label and are dropped.

Split: by event time, the first 60% of the day (first to last message) for training, the next
20% for validation, the last 20% for test. Rows in the ``embargo`` before each boundary are
dropped, so no training label reaches into the validation period and none of validation's into
the test period; the embargo is twice the horizon (it must exceed the horizon). Features look
only backwards, so a test row's features may use messages of the training period, as live they
use whatever came before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.depth_book import DepthBook
from core.domain import MarketData
from models.signal_features import N_SIGNAL_FEATURES, SignalTracker
from sim.lobster import LobsterFormatError, open_sample
from sim.replay_exchange import ReplayExchange

NS = 1_000_000_000
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
EMBARGO_HORIZONS = 2.0  # the embargo, in horizons
MIN_ROWS_PER_PART = 200  # fewer in any part is too few to train or judge a model on


class SignalDataError(ValueError):
    """Data that cannot give the rows asked for; the message says what and why."""


@dataclass(frozen=True, slots=True)
class SignalDay:
    """One day's rows: event time, twice the mid in ticks, and the feature matrix."""

    source: Path
    ticker: str
    date: str
    levels: int
    sha256: str  # of the message file: which data a model was trained on
    ts_ns: np.ndarray  # int64 [n]
    mid_x2: np.ndarray  # int64 [n]
    features: np.ndarray  # float32 [n, N_SIGNAL_FEATURES]

    def __len__(self) -> int:
        return len(self.ts_ns)

    def labels_bps(self, horizon_s: float) -> np.ndarray:
        """The mid change over ``horizon_s`` in bps of the mid now; NaN where ``t + h`` is past
        the last message."""
        horizon_ns = round(horizon_s * NS)
        ts = self.ts_ns
        later = np.searchsorted(ts, ts + horizon_ns, side="right") - 1
        mid = self.mid_x2.astype(np.float64)
        change = (mid[later] - mid) / mid * 1e4
        change[ts + horizon_ns > ts[-1]] = np.nan
        return change


@dataclass(frozen=True, slots=True)
class Split:
    """Row masks of the three parts and the times that bound them."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    boundaries_ns: tuple[int, int]
    embargo_ns: int


def load_day(path: Path | str) -> SignalDay:
    """Replay the LOBSTER sample at ``path`` and compute the signal's features at every feed
    message. :class:`SignalDataError` when it is not a LOBSTER sample or holds no two-sided
    book."""
    try:
        sample = open_sample(path)
        exchange = ReplayExchange(sample, sample.ticker)
        digest = hashlib.sha256(sample.read_bytes(sample.message_name)).hexdigest()
    except (LobsterFormatError, OSError, ValueError) as exc:
        raise SignalDataError(f"{path}: not a LOBSTER sample the signal can read: {exc}") \
            from exc
    book = DepthBook(sample.ticker)
    tracker = SignalTracker()
    first = exchange.snapshot()
    book.apply_market_data(first)
    tracker.update(book, first)
    ts: list[int] = []
    mids: list[int] = []
    rows: list[np.ndarray] = []
    buffer = np.zeros(N_SIGNAL_FEATURES, dtype=np.float32)
    try:
        while exchange.next_event_ns() is not None:
            for event in exchange.step():
                if not isinstance(event, MarketData):
                    continue
                book.apply_market_data(event)
                tracker.update(book, event)
                if not tracker.ready():
                    continue
                tracker.write(buffer, book)
                ts.append(event.ts_ns)
                mids.append(tracker.last_mid_x2)
                rows.append(buffer.copy())
    except LobsterFormatError as exc:
        raise SignalDataError(f"{path}: {exc}") from exc
    if not rows:
        raise SignalDataError(f"{path}: no two-sided book in the file: nothing to learn from")
    return SignalDay(Path(path), sample.ticker, sample.date.isoformat(), sample.levels, digest,
                     np.asarray(ts, dtype=np.int64), np.asarray(mids, dtype=np.int64),
                     np.vstack(rows))


def check_horizon(day: SignalDay, horizon_s: float) -> None:
    span_s = (int(day.ts_ns[-1]) - int(day.ts_ns[0])) / NS
    if not horizon_s > 0:
        raise SignalDataError(f"the horizon must be positive, got {horizon_s:g} s")
    if horizon_s * (1 + 2 * EMBARGO_HORIZONS) >= span_s * min(SPLIT_FRACTIONS):
        raise SignalDataError(
            f"{day.source}: a {horizon_s:g} s horizon is too long for {span_s:,.0f} s of data: "
            f"each 20% part must hold more than the horizon and its embargoes "
            f"({horizon_s * (1 + 2 * EMBARGO_HORIZONS):g} s)")


def split(day: SignalDay, horizon_s: float) -> Split:
    """The time-ordered train/validation/test split of ``day`` with embargoes (module doc);
    rows without a label are in no part."""
    check_horizon(day, horizon_s)
    first, last = int(day.ts_ns[0]), int(day.ts_ns[-1])
    span = last - first
    b1 = first + int(span * SPLIT_FRACTIONS[0])
    b2 = first + int(span * (SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]))
    embargo = round(EMBARGO_HORIZONS * horizon_s * NS)
    ts = day.ts_ns
    labelled = ~np.isnan(day.labels_bps(horizon_s))
    parts = Split(labelled & (ts < b1 - embargo),
                  labelled & (ts >= b1) & (ts < b2 - embargo),
                  labelled & (ts >= b2), (b1, b2), embargo)
    for name in ("train", "validation", "test"):
        count = int(getattr(parts, name).sum())
        if count < MIN_ROWS_PER_PART:
            raise SignalDataError(
                f"{day.source}: only {count} {name} rows for a {horizon_s:g} s horizon "
                f"(at least {MIN_ROWS_PER_PART} needed in each of train, validation and test): "
                "use a longer file or a shorter horizon")
    return parts


def parse_horizon(text: str) -> float:
    """``"5s"``, ``"500ms"``, ``"1m"`` or a plain number of seconds, as seconds."""
    value = text.strip().lower()
    scale = 1.0
    for suffix, factor in (("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if value.endswith(suffix):
            value, scale = value[: -len(suffix)], factor
            break
    try:
        seconds = float(value) * scale
    except ValueError:
        raise SignalDataError(f"horizon {text!r} is not a duration like 5s, 500ms or 1m") \
            from None
    if not np.isfinite(seconds) or seconds <= 0:
        raise SignalDataError(f"horizon {text!r} must be a positive duration")
    return seconds
