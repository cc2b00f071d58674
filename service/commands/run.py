"""``execagent run``: the daemon, connected to a FIX venue, serving /healthz and /metrics."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from rich.console import Console

from core.config_errors import ConfigError
from core.domain import Side
from core.tca import summarise
from models.policy import ModelError
from service.app import Service, StartupError
from service.commands.output import output_console, print_error
from service.config import load_config
from service.engine import ParentOutcome
from service.evaluation.report import report_table
from service.kill_triggers import install_kill_signal
from service.live_policy import LivePolicies


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("run", help="run the service against a FIX venue")
    p.add_argument("--config", type=Path, help="service YAML (EXECAGENT_* variables override)")
    p.add_argument("--submit", metavar="SIDE:QTY:SYMBOL:SECONDS",
                   help="work one parent order once ready, e.g. sell:20000:GOOG:600, then exit")
    p.set_defaults(func=run)


def _parse_submit(text: str) -> tuple[Side, int, str, float]:
    try:
        side, qty, symbol, seconds = text.split(":")
        parsed = (Side.BUY if side.lower() == "buy" else Side.SELL if side.lower() == "sell"
                  else None)
        if parsed is None or int(qty) <= 0 or float(seconds) <= 0:
            raise ValueError
        return parsed, int(qty), symbol, float(seconds)
    except ValueError:
        raise ConfigError(f"--submit {text!r}: expected SIDE:QTY:SYMBOL:SECONDS with side buy or "
                          "sell and positive numbers, e.g. sell:20000:GOOG:600") from None


async def _serve(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)
    submit = _parse_submit(args.submit) if args.submit else None
    policy = None
    if submit is not None:  # refused before anything starts
        model_path = config.policy.model_path
        policy = LivePolicies(config.policy.name, model_path, lambda: model_path) \
            .for_parent(submit[0], submit[1], submit[3])
    service = Service(config)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    assert service.operator_kill is not None
    install_kill_signal(loop, service.operator_kill)
    try:
        await service.wait_ready()
        assert service.api is not None
        console.print(f"ready: FIX logged on to {config.fix.host}:{config.fix.port}; "
                      f"metrics at {service.api.url}/metrics")
        if submit is None:
            await stop.wait()
            return 0
        side, qty, symbol, seconds = submit
        parent, finished = service.submit(side, qty, symbol, seconds, policy)
        waiter = asyncio.create_task(finished.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        console.print(report_table([summarise(parent, service.instruments[symbol])],
                                   "Execution report"))
        assert service.engine is not None
        return report_outcome(service.engine.outcome(parent.parent_id), console)
    finally:
        await service.stop()


# Exit codes of ``run --submit`` (2 is a usage, configuration or data error, as everywhere).
FILLED, NOT_FILLED, IN_DOUBT = 0, 1, 3


def report_outcome(outcome: ParentOutcome, console: Console) -> int:
    """Say what became of the parent, doubts first, and choose the exit code: 0 filled with
    nothing in doubt; 1 ended (expired, cancelled, interrupted) short of its quantity with
    nothing in doubt; 3 the record is in doubt (a fill not believed, an order whose state is
    unknown or still working at the venue): check at the venue before anything else."""
    console.print(f"parent {outcome.parent_id}: {outcome.outcome or 'interrupted'}, "
                  f"{outcome.filled:,} of {outcome.qty:,} filled")
    if outcome.stopped:
        console.print(f"stopped: {outcome.stopped}")
    for suspect in outcome.suspect_fills:
        console.print(f"not believed: {suspect}")
    if outcome.unknown_orders:
        console.print(f"state unknown at the venue: {', '.join(outcome.unknown_orders)}")
    if outcome.working_orders:
        console.print(f"still working at the venue: {', '.join(outcome.working_orders)}")
    if outcome.in_doubt or outcome.stopped:
        console.print("the record is in doubt: check these orders at the venue "
                      "(docs/operations.md, \"ExecagentSuspectFill\")")
        return IN_DOUBT
    return FILLED if outcome.filled == outcome.qty else NOT_FILLED


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        return asyncio.run(_serve(args, console))
    except (ConfigError, StartupError, ModelError) as exc:
        print_error(f"execagent run: {exc}")
        return 2
