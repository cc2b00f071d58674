"""``execagent``: the command line. Also reachable as ``python -m service``.

Exit codes: 0 success, 1 a run that failed, 2 a usage or configuration error (the message names
what is wrong). A user's mistake never ends in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from service.commands import COMMAND_MODULES
from service.commands.output import print_error
from service.cpus import CpuListError, parse_cpu_list, pin_process

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execagent",
        description="Event-driven execution service: RL policy, hard-limit risk overlay, FIX.")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log verbosity (default WARNING)")
    parser.add_argument("--cpus", metavar="LIST",
                        help="run only on these CPUs, e.g. 0 or 0,2-3 (default: any); give the "
                             "engine and a venue simulator on the same machine a core each")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Every logger of ours is under "execagent.", so one level sets them all; libraries stay
    # at WARNING whatever the level asked for (aiohttp's and asyncio's debug output is theirs).
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("execagent").setLevel(args.log_level)
    if args.cpus is not None:
        try:  # before the command starts any thread: they all inherit it
            pin_process(parse_cpu_list(args.cpus))
        except CpuListError as exc:
            print_error(f"execagent: {exc}")
            return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
