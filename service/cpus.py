"""Which CPUs a process may run on (``execagent --cpus LIST``).

Why: the engine decides on every tick and its order leaves from the event loop's thread; a
process that shares its core (a venue simulator on the same machine, a feed handler, a
backtest) is woken by that very order on loopback and preempts the sender inside
``sendToTarget``, which then returns only once the other side has answered. Measured on the
2-core development VM (``python -m bench.tick_probe stages --pin none|both``;
docs/benchmarks.md, "Tick to wire"): the median ``sendToTarget`` of a tick that sent an order
was 327 µs with the venue free to run anywhere, 110 µs with the venue on one core and the
engine on the other. Desks pin their engines for the same reason; this is the switch for it,
beside ``taskset`` and a container's ``cpuset``.

The CPUs are set for the whole process before the command starts any thread (quickfix's,
onnxruntime's, the venue's), so every thread inherits them.
"""

from __future__ import annotations

import os


class CpuListError(ValueError):
    """A CPU list that cannot be read or applied; the message says why."""


def parse_cpu_list(text: str) -> set[int]:
    """``"0"``, ``"0,2"``, ``"1-3"`` or a mix (``"0,2-3"``), as taskset and cgroups write
    them, to a set of CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise CpuListError(f"--cpus {text!r}: {part.strip()!r} is not a CPU number or "
                               "range (write e.g. 0,2-3)") from None
        if low < 0 or high < low:
            raise CpuListError(f"--cpus {text!r}: {part.strip()!r} is not a CPU range")
        cpus.update(range(low, high + 1))
    return cpus


def pin_process(cpus: set[int]) -> None:
    """Run this process (the calling thread and every thread it starts later) on ``cpus``
    only; CpuListError when the machine refuses (no such CPU, or not allowed to this
    process)."""
    allowed = os.sched_getaffinity(0)
    unknown = cpus - allowed
    if unknown:
        raise CpuListError(f"--cpus: CPU {', '.join(map(str, sorted(unknown)))} is not one this "
                           f"process may use (it may use {_ranges(allowed)})")
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        raise CpuListError(f"--cpus: the machine refused {_ranges(cpus)}: {exc}") from exc


def _ranges(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))
