"""200 SIGKILLs of the service while it works parent orders against the simulated FIX venue,
each followed by a restart; then the audit of tests/support/crash_harness.py (venue, store and
service must agree exactly). Prints the audit and the restart times, writes
docs/reliability.json, and exits non-zero when anything differs.

    .venv/bin/python -m bench.bench_crash_recovery [--kills 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.support.crash_harness import CrashHarness

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.json")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="execagent-crash-") as workdir:
        harness = CrashHarness(Path(workdir), seed=args.seed)
        try:
            audit = harness.run(kills=args.kills, settle_s=300.0)
        finally:
            harness.stop()
    wall = time.monotonic() - started
    restarts = sorted(audit.restart_seconds)
    table = Table(title=f"{audit.kills} SIGKILLs, seed {args.seed}, {wall:.0f} s")
    table.add_column("record")
    table.add_column("value", justify="right")
    for name, value in (
            ("parent orders (all finished)", f"{audit.parents} ({audit.parents_unfinished} not)"),
            ("filled at the venue", f"{audit.venue_filled:,}"),
            ("fills in the store", f"{audit.store_filled:,}"),
            ("filled by the parents", f"{audit.parents_filled:,}"),
            ("position in the risk overlay", f"{audit.position:,}"),
            ("ClOrdIDs the venue got twice", str(len(audit.cl_ord_ids_sent_twice))),
            ("venue orders the service does not know", str(len(audit.venue_working_unknown))),
            ("trading state at the end", audit.trading_state),
            ("restarts that found orders working", str(audit.restarts_with_working_orders)),
            ("fills only a status answer revealed", str(audit.recovered_fills)),
            ("messages the venue resent", f"{audit.messages_resent_by_venue:,}"),
            ("restart to FIX logon, median s", f"{statistics.median(restarts):.2f}"),
            ("restart to FIX logon, max s", f"{restarts[-1]:.2f}")):
        table.add_row(name, value)
    Console().print(table)
    verdict = "exact" if audit.exact and audit.trading_state == "active" else "DIFFERS"
    Console().print(f"result: {verdict}")
    summary = {key: value for key, value in asdict(audit).items() if key != "restart_seconds"}
    summary.update(seed=args.seed, wall_seconds=round(wall, 1), result=verdict,
                   restart_to_logon_seconds={"median": round(statistics.median(restarts), 2),
                                             "max": round(restarts[-1], 2)})
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if verdict == "exact" else 1


if __name__ == "__main__":
    sys.exit(main())
