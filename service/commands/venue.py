"""``execagent venue``: run the simulated FIX venue on its own, its market driven by the
stochastic order flow or, for a symbol with ``replay``, by a LOBSTER sample."""

from __future__ import annotations

import argparse
import gc
import signal
import threading
from pathlib import Path

from core.config_errors import ConfigError
from gateways.venue.config import load_venue_config
from gateways.venue.flows import stochastic_flow
from gateways.venue.replay_flow import lobster_flow
from gateways.venue.venue import SimulatedVenue
from service.commands.output import output_console, print_error
from sim.lobster import LobsterFormatError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("venue", help="run the simulated FIX venue")
    p.add_argument("--config", type=Path, help="venue YAML (defaults: GOOG on 127.0.0.1:9878)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        config = load_venue_config(args.config)
    except ConfigError as exc:
        print_error(f"execagent venue: {exc}")
        return 2
    try:
        flows = {s.symbol: lobster_flow(s.symbol, s.replay, s.tick_size) if s.replay else
                 stochastic_flow(s) for s in config.symbols}
    except (OSError, LobsterFormatError) as exc:
        print_error(f"execagent venue: cannot replay: {exc}")
        return 2
    venue = SimulatedVenue(config, flows)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        venue.start()
    # quickfix reports a busy port as a RuntimeError or a ConfigError, with no common base
    except Exception as exc:  # noqa: BLE001
        print_error(f"execagent venue: cannot listen on {config.host}:"
                                   f"{config.port}: {exc}")
        return 1
    # As the service does once started: what start-up built lives as long as the venue, so a
    # collection while an order is handled scans only what that order allocated.
    gc.collect()
    gc.freeze()
    console.print(f"simulated venue {config.comp_id} listening on {config.host}:{config.port} "
                  f"({config.begin_string}, {config.speed:g}x), symbols "
                  f"{', '.join(s.symbol for s in config.symbols)}; Ctrl-C stops")
    stop.wait()
    venue.stop()
    return 0
