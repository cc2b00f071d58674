"""``execagent feed-server``: replay a Binance capture as a Binance look-alike on loopback.

Why a command: the websocket feed can be demonstrated and poked at (with injected gaps,
duplicates, reordering and disconnects) without the internet or an exchange account; point a
feed (or ``websocat``/``curl``) at the printed URLs.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from gateways.venue.binance_exchange import BinanceTestExchange, ExchangeConfig
from service.commands.output import output_console, print_error

DEFAULT_DATA = Path("../shared/data/binance_spot_btcusdt_20240808.gz")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "feed-server", help="replay a Binance capture over a Binance-style websocket and REST")
    p.add_argument("--data", type=Path, action="append",
                   help=f"capture file, repeat for consecutive files (default {DEFAULT_DATA})")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--speed", type=float, default=1.0,
                   help="replay speed: 1 as captured, 10 ten times faster, 0 flat out")
    for fault, what in (("gap-every", "lose every Nth depth update"),
                        ("duplicate-every", "send every Nth depth update twice"),
                        ("reorder-every", "swap every Nth depth update with the next"),
                        ("disconnect-after", "drop each connection after N messages"),
                        ("malformed-every", "send a malformed message after every Nth")):
        p.add_argument(f"--{fault}", type=int, default=0, metavar="N", help=what)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = args.data or [DEFAULT_DATA]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print_error(f"execagent feed-server: no capture file at {', '.join(missing)}; pass "
                    f"--data with a Binance capture (see ../shared/data/README.md)")
        return 2
    counts = (args.gap_every, args.duplicate_every, args.reorder_every, args.disconnect_after,
              args.malformed_every)
    if args.speed < 0 or min(counts) < 0:
        print_error("execagent feed-server: --speed and the fault counts must not be negative")
        return 2
    config = ExchangeConfig(paths, symbol=args.symbol.upper(), host=args.host, port=args.port,
                            speed=args.speed, gap_every=args.gap_every,
                            duplicate_every=args.duplicate_every,
                            reorder_every=args.reorder_every,
                            disconnect_after=args.disconnect_after,
                            malformed_every=args.malformed_every)
    try:
        exchange = BinanceTestExchange(config)
    except (OSError, ValueError) as exc:
        print_error(f"execagent feed-server: cannot read the capture: {exc}")
        return 2
    try:
        return asyncio.run(_serve(exchange))
    except OSError as exc:
        print_error(f"execagent feed-server: cannot listen on {args.host}:{args.port}: {exc}")
        return 1


async def _serve(exchange: BinanceTestExchange) -> int:
    console = output_console()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await exchange.start()
    symbol = exchange.config.symbol
    lower = symbol.lower()
    ws = exchange.url.replace("http://", "ws://")
    console.print(f"Binance test exchange replaying {', '.join(map(str, exchange.config.paths))} "
                  f"at {exchange.config.speed:g}x; Ctrl-C stops\n"
                  f"  websocket: {ws}/stream?streams={lower}@depth@100ms/{lower}@bookTicker/"
                  f"{lower}@trade\n"
                  f"  snapshot:  {exchange.url}/api/v3/depth?symbol={symbol}&limit=1000",
                  highlight=False, soft_wrap=True)
    try:
        await stop.wait()
    finally:
        await exchange.stop()
    console.print(f"stopped: {exchange.stats}", highlight=False, soft_wrap=True)
    return 0
