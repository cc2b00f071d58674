"""``execagent venue``: run the simulated FIX venue on its own, its market driven by the
stochastic order flow or, for a symbol with ``replay``, by a LOBSTER sample: as recorded
(``--impact none``, the default), or moved by the clients' transient impact (``--impact
calibrated``: the propagator in ``--params``, or estimated from the replayed sample;
:mod:`gateways.venue.impact_flow`).

Exit codes: 0 stopped, 2 a usage problem (a bad configuration, persona or impact, a sample
that cannot be replayed: one line), 1 a port it cannot listen on."""

from __future__ import annotations

import argparse
import gc
import signal
import threading
from pathlib import Path

from core.config_errors import ConfigError
from gateways.venue.config import VenueSymbol, load_venue_config
from gateways.venue.flows import stochastic_flow
from gateways.venue.impact_flow import ImpactReplayFlow
from gateways.venue.personas import PERSONAS, parse_persona
from gateways.venue.replay_flow import lobster_flow, open_replay
from gateways.venue.venue import SimulatedVenue
from service.commands import impact_args
from service.commands.output import output_console, print_error
from sim.flow import OrderFlow


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("venue", help="run the simulated FIX venue")
    p.add_argument("--config", type=Path, help="venue YAML (defaults: GOOG on 127.0.0.1:9878)")
    p.add_argument("--persona", metavar="NAME",
                   help="behave as a counterparty that is not careful: "
                        f"{', '.join(PERSONAS)} (comma-separated to combine; docs/fix.md)")
    p.add_argument("--impact", default="none", metavar="none|calibrated",
                   help="replayed symbols: none (the recorded flow at its recorded prices, the "
                        "default) or calibrated (the clients' marketable orders move the "
                        "recorded book by the propagator in --params, or estimated from the "
                        "replayed sample)")
    p.add_argument("--params", type=Path, default=None, metavar="PARAMS",
                   help="with --impact calibrated: the calibration file (execagent calibrate) "
                        "whose impact section to use")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        config = load_venue_config(args.config)
        if args.persona is not None:
            parse_persona(args.persona)
            config = config.model_copy(update={"persona": args.persona})
        impact_args.check(args.impact, args.params)
        if args.impact != "none" and not any(s.replay for s in config.symbols):
            raise ValueError("--impact applies to replayed symbols, and the configuration "
                             "replays none (give a symbol replay: LOBSTER.zip)")
    except (ConfigError, ValueError) as exc:
        print_error(f"execagent venue: {exc}")
        return 2
    flows: dict[str, OrderFlow] = {}
    notes = []
    try:
        for symbol in config.symbols:
            flows[symbol.symbol], note = _flow(symbol, args.impact, args.params)
            notes += [note] if note else []
    except (OSError, ValueError) as exc:  # sim.lobster.LobsterFormatError is a ValueError
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
                  f"({config.begin_string}, {config.speed:g}x, persona {config.persona}), symbols "
                  f"{', '.join(s.symbol for s in config.symbols)}; Ctrl-C stops")
    for note in notes:
        console.print(note)
    stop.wait()
    venue.stop()
    return 0


def _flow(symbol: VenueSymbol, impact: str, params: Path | None) -> tuple[OrderFlow, str]:
    """The symbol's market, and a line naming its impact when it has one."""
    if symbol.replay is None:
        return stochastic_flow(symbol), ""
    if impact == "none":
        return lobster_flow(symbol.symbol, symbol.replay, symbol.tick_size), ""
    sample = open_replay(symbol.symbol, symbol.replay)
    found, source = impact_args.calibrated_impact(params, sample, symbol.tick_size,
                                                  require_section=True)
    return (ImpactReplayFlow(sample, symbol.tick_size, found),
            f"{symbol.symbol} replays {symbol.replay.name} with the clients' transient impact "
            f"{source}")
