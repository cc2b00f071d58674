"""``execagent calibrate PATH -o params.json [--tick-size DOLLARS] [--symbol S]``: estimate the
stochastic flow from LOBSTER data, in ticks of the instrument's tick size (:mod:`sim.calibrate`);
the file records the symbol and tick size (``evaluate --sim`` names its market after them). And
the propagator of the agent's transient impact (the ``impact`` section, :mod:`sim.impact_fit`);
a day with too few market orders for the impact gets no such section, which means no impact,
and the command says so.

Exit codes: 0 written, 2 when the data cannot be read (one line naming file and line) or is too
short to calibrate.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from service.commands import instrument_args
from service.commands.output import output_console, print_error
from sim.calibrate import calibrate
from sim.lobster import LobsterFormatError, open_sample


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("calibrate",
                              help="estimate the stochastic order flow's parameters from LOBSTER")
    p.add_argument("path", type=Path, help="a LOBSTER sample: zip or folder with both files")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the JSON")
    instrument_args.add_arguments(p, "the ticker in the LOBSTER file name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        sample = open_sample(args.path)
        document = calibrate(sample, args.tick_size, instrument_args.symbol_of(args, sample))
    except ImportError as exc:
        print_error(f"execagent calibrate: needs the train extra (pip install -e '.[train]'): "
                    f"{exc}")
        return 2
    except (LobsterFormatError, OSError, ValueError) as exc:
        print_error(f"execagent calibrate: {exc}")
        return 2
    if "impact" not in document:
        print_error("execagent calibrate: no impact section (no impact in a replay): "
                    f"{document['dynamics']['no_impact']}")
    args.output.write_text(to_json(document))
    params = document["params"]
    output_console().print(
        f"{document['data']}: {document['events']:,} events over {document['seconds']:,.0f} s; "
        f"limit {params['limit_rate']:.3f}/s, market {params['market_rate']:.3f}/s, cancel "
        f"{params['cancel_deep']:.4f}/order/s behind the touch{_impact_text(document)}; "
        f"written to {args.output}")
    return 0


def _impact_text(document: dict[str, Any]) -> str:
    impact = document.get("impact")
    if impact is None:
        return ""
    return (f"; impact {impact['g0_ticks']:.2f} ticks for {impact['reference_qty']:g} shares, "
            f"size exponent {impact['size_exponent']:g}, decaying as (1 + t / "
            f"{impact['decay_s']:.3g} s)^-{impact['decay_exponent']:.3g}")


_FLAT_LIST = re.compile(r"\[[^\[\]{}]*\]")


def to_json(document: dict[str, Any]) -> str:
    """Indented JSON with every list of numbers on one line: a short file a person can read."""
    text = json.dumps(document, indent=2)
    return _FLAT_LIST.sub(lambda m: " ".join(m.group(0).split()).replace("[ ", "[")
                          .replace(" ]", "]"), text) + "\n"
