"""``execagent journal export --date D --out FILE``: a trading day's audit journal as a file.

For the compliance officer (CSV) and the quant (Parquet). Reads the Redis stream the service
wrote (``{namespace}:journal:{date}``). Exit codes: 0 written, 1 Redis unreachable, 2 usage.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from service.commands.output import output_console, print_error
from service.state.journal import RedisJournal, export
from service.state.redis_store import StoreUnavailable

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("journal", help="the audit journal")
    actions = p.add_subparsers(dest="journal_command", metavar="ACTION")
    actions.required = True
    e = actions.add_parser("export", help="write one trading day's journal to CSV or Parquet")
    e.add_argument("--date", required=True, help="the trading day, YYYY-MM-DD (UTC)")
    e.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.parquet")
    e.add_argument("--redis-url", default=None,
                   help=f"default EXECAGENT_STORE__REDIS_URL, else {DEFAULT_URL}")
    e.add_argument("--namespace", default="execagent", help="the service's store namespace")
    e.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print_error(f"execagent journal export: --date {args.date!r} is not YYYY-MM-DD")
        return 2
    if args.out.suffix.lower() not in (".csv", ".parquet"):
        print_error(f"execagent journal export: {args.out}: write .csv or .parquet")
        return 2
    url = args.redis_url or os.environ.get("EXECAGENT_STORE__REDIS_URL", DEFAULT_URL)
    journal = RedisJournal(url, namespace=args.namespace)
    try:
        entries = journal.read(day)
        rows = export(entries, args.out)
    except StoreUnavailable as exc:
        print_error(f"execagent journal export: {exc}")
        return 1
    except (ValueError, OSError) as exc:
        print_error(f"execagent journal export: {exc}")
        return 2
    finally:
        journal.close()
    output_console().print(f"{rows:,} journal entries of {day} written to {args.out}")
    return 0
