"""``execagent calibrate PATH -o params.json``: estimate the stochastic flow from LOBSTER data.

Exit codes: 0 written, 2 when the data cannot be read or is too short to calibrate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.commands.output import output_console, print_error
from sim.calibrate import calibrate
from sim.lobster import LobsterFormatError, open_sample


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("calibrate",
                              help="estimate the stochastic order flow's parameters from LOBSTER")
    p.add_argument("path", type=Path, help="a LOBSTER sample: zip or folder with both files")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        document = calibrate(open_sample(args.path))
    except (LobsterFormatError, OSError, ValueError) as exc:
        print_error(f"execagent calibrate: {exc}")
        return 2
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    params = document["params"]
    output_console().print(
        f"{document['data']}: {document['events']:,} events over {document['seconds']:,.0f} s; "
        f"limit {params['limit_rate']:.3f}/s, market {params['market_rate']:.3f}/s, cancel "
        f"{params['cancel_rate']:.4f}/order/s; written to {args.output}")
    return 0
