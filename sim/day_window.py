"""A clock window of a trading day, ``"HH:MM-HH:MM"`` in the exchange's local time, as event
times: the part of a LOBSTER day an evaluation or a training run may use.

LOBSTER times count from the exchange's local midnight (New York); :mod:`sim.lobster` places
that midnight at UTC-4 (right for the summer sample day), and so does this module. Kept below
both the evaluation (``execagent evaluate --window``) and the training configuration
(``replay.window``, ``replay.held_out``), so the two read a window the same way.
"""

from __future__ import annotations

EXCHANGE_UTC_OFFSET_HOURS = -4
DAY_NS = 86_400 * 10**9
_MINUTE_NS = 60 * 10**9


def parse_window(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as (begin, end) in minutes after local midnight; ValueError (one line)
    when it is not that form. The order of the two is not checked here."""
    try:
        begin, end = (part.strip() for part in text.split("-"))
        minutes = []
        for part in (begin, end):
            hours, mins = (int(x) for x in part.split(":"))
            if not (0 <= hours <= 24 and 0 <= mins < 60):
                raise ValueError(part)
            minutes.append(hours * 60 + mins)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM") from exc
    return minutes[0], minutes[1]


def local_midnight_ns(ts_ns: int) -> int:
    """The local midnight (in ns since the epoch) of the day that holds ``ts_ns``."""
    offset_ns = EXCHANGE_UTC_OFFSET_HOURS * 3_600 * 10**9
    return (ts_ns + offset_ns) // DAY_NS * DAY_NS - offset_ns


def window_ns(text: str, first: int, last: int) -> tuple[int, int]:
    """The window ``text`` on the day of data from ``first`` to ``last`` (event times), cut to
    the data; ValueError (one line) when it is malformed or holds none of the data."""
    begin, end = parse_window(text)
    day_start = local_midnight_ns(first)
    lo = max(day_start + begin * _MINUTE_NS, first)
    hi = min(day_start + end * _MINUTE_NS, last)
    if hi <= lo:
        raise ValueError(f"{text} holds no data (the data covers "
                         f"{clock(first - day_start)}-{clock(last - day_start)})")
    return lo, hi


def clock(ns: int) -> str:
    """ns after midnight as HH:MM."""
    minutes = ns // _MINUTE_NS
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
