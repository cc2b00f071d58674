"""``execagent book-check PATH [--tick-size DOLLARS] [--symbol S] [--json OUT]``: replay a
LOBSTER sample against its own book file.

Exit codes: 0 when every row matches (or the file has one level, where no exact check exists),
1 when a row mismatches, 2 when the files cannot be read (one line naming file and line).
Accepted vendor quirks are noted on stderr, one line each (:mod:`sim.lobster_csv`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.progress import Progress

from service.commands import instrument_args
from service.commands.output import output_console, print_error
from sim.book_check import check_book
from sim.lobster import LobsterFormatError, open_sample


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("book-check",
                              help="replay a LOBSTER message file against its order-book file")
    p.add_argument("path", type=Path, help="a LOBSTER sample: zip or folder with both files")
    p.add_argument("--json", type=Path, help="also write rows, mismatches, levels and "
                                             "events_per_second as JSON here")
    instrument_args.add_arguments(p, "the ticker in the LOBSTER file name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        sample = open_sample(args.path)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"replaying {sample.message_name}", total=None)
            result = check_book(sample, lambda rows: progress.update(task, completed=rows),
                                args.tick_size)
    except (LobsterFormatError, OSError) as exc:
        print_error(f"execagent book-check: {exc}")
        return 2
    console.print(f"{instrument_args.symbol_of(args, sample)} {sample.date}, {result.levels} "
                  f"levels: {result.rows:,} rows checked at {result.events_per_second:,.0f} "
                  "events/s")
    if not result.exact:
        console.print("1-level file: exactness is impossible (when the best level empties, the "
                      "next one was invisible), so no mismatch count is reported")
    elif result.mismatches == 0:
        console.print("mismatching rows: 0 (every level the replay can know matches)")
    else:
        console.print(f"mismatching rows: {result.mismatches:,}")
        console.print(f"first mismatch: {result.first_mismatch_dict()}")
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return 1 if result.mismatches else 0
