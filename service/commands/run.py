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
from models.registry import make_policy
from service.app import Service, StartupError, check_trained_range
from service.commands.output import output_console, print_error
from service.config import load_config
from service.evaluation.report import report_table
from service.kill_triggers import install_kill_signal


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
    policy = make_policy(config.policy.name, config.policy.model_path)
    if submit is not None:  # refused before anything starts
        check_trained_range(policy, submit[0], submit[1], submit[3])
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
        return 0 if parent.filled == parent.qty else 1
    finally:
        await service.stop()


def run(args: argparse.Namespace) -> int:
    console = output_console()
    try:
        return asyncio.run(_serve(args, console))
    except (ConfigError, StartupError, ModelError) as exc:
        print_error(f"execagent run: {exc}")
        return 2
