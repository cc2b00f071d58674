"""``execagent book-check PATH [--impact none] [--tick-size DOLLARS] [--symbol S] [--json OUT]``:
replay a LOBSTER sample against its own book file.

Without ``--impact`` each message is applied to the recorded row before it (the per-row check,
:mod:`sim.book_check`); with ``--impact none`` one book is kept by the messages through the
whole day and compared with every row (the stateful check, :mod:`sim.book_state_check`). Only
``none``: a replay with the agent's impact moves the book's prices, so its book cannot be
compared with the recorded rows.

Exit codes: 0 when every row matches (or, per row, the file has one level, where no exact check
exists), 1 when a row mismatches, 2 on a bad argument or when the files cannot be read (one line
naming file and line). Accepted vendor quirks are noted on stderr, one line each
(:mod:`sim.lobster_csv`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from service.commands import instrument_args
from service.commands.output import output_console, print_error
from sim.book_check import BookCheckResult, check_book
from sim.book_state_check import check_book_state
from sim.lobster import LobsterFormatError, open_sample

IMPACT_CHOICES = ("none",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("book-check",
                              help="replay a LOBSTER message file against its order-book file")
    p.add_argument("path", type=Path, help="a LOBSTER sample: zip or folder with both files")
    p.add_argument("--impact", metavar="none",
                   help="none: keep one book by the messages through the whole day and compare "
                        "it with every row (levels entering the window from below come from the "
                        "order-book file and are counted); without it each message is applied "
                        "to the recorded row before it. Only none: a replay with impact moves "
                        "prices, so its book cannot be compared with the recorded rows")
    p.add_argument("--json", type=Path, help="also write rows, mismatches, levels, "
                                             "events_per_second (and with --impact, "
                                             "entered_from_below) as JSON here")
    instrument_args.add_arguments(p, "the ticker in the LOBSTER file name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.impact is not None and args.impact not in IMPACT_CHOICES:
        print_error(f"execagent book-check: --impact must be none, got {args.impact!r} (a replay "
                    "with impact moves prices: its book cannot be compared with the recorded "
                    "rows)")
        return 2
    check = check_book if args.impact is None else check_book_state
    console = output_console()
    try:
        sample = open_sample(args.path)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"replaying {sample.message_name}", total=None)
            result = check(sample, lambda rows: progress.update(task, completed=rows),
                           args.tick_size)
    except (LobsterFormatError, OSError) as exc:
        print_error(f"execagent book-check: {exc}")
        return 2
    how = "one book kept by the messages" if args.impact is not None else "per row"
    console.print(f"{instrument_args.symbol_of(args, sample)} {sample.date}, {result.levels} "
                  f"levels, {how}: {result.rows:,} rows checked at "
                  f"{result.events_per_second:,.0f} events/s")
    _print_verdict(console, result)
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return 1 if result.mismatches else 0


def _print_verdict(console: Console, result: BookCheckResult) -> None:
    if result.entered is not None:
        ask, bid = result.entered
        console.print(f"levels entering the window from below, taken from the order-book file: "
                      f"{ask + bid:,} ({ask:,} ask, {bid:,} bid)")
    if not result.exact:
        console.print("1-level file: exactness is impossible (when the best level empties, the "
                      "next one was invisible), so no mismatch count is reported")
    elif result.mismatches == 0:
        every = "every level of every row" if result.entered is not None \
            else "every level the replay can know"
        console.print(f"mismatching rows: 0 ({every} matches)")
    else:
        console.print(f"mismatching rows: {result.mismatches:,}")
        console.print(f"first mismatch: {result.first_mismatch_dict()}")
