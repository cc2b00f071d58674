"""The instrument of a command that reads LOBSTER data: its symbol and tick size come from the
data (the ticker in the file name; LOBSTER's equities trade in cents), or from the flags."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from sim.lobster import LobsterSample

LOBSTER_TICK = Decimal("0.01")  # NASDAQ's tick for stocks above $1, LOBSTER's universe


def add_arguments(parser: argparse.ArgumentParser, symbol_default: str) -> None:
    parser.add_argument("--symbol", default=None,
                        help=f"the instrument's symbol (default: {symbol_default})")
    parser.add_argument("--tick-size", type=tick_size, default=LOBSTER_TICK, metavar="DOLLARS",
                        help=f"the instrument's tick size in dollars (default {LOBSTER_TICK}, "
                             "LOBSTER's equities)")


def tick_size(text: str) -> Decimal:
    """An argparse type: a positive decimal number of dollars."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of dollars")
    return value


def symbol_of(args: argparse.Namespace, sample: LobsterSample) -> str:
    """``--symbol`` when given, else the ticker of the sample's file names."""
    return str(args.symbol) if args.symbol else sample.ticker
