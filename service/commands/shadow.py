"""``execagent shadow report --date D``: the shadow model against the live one, from the journal.

Reads the day's audit journal (the Redis stream the service writes) and compares, for every
parent both the live policy and the shadow finished: the live parent's realised shortfall and the
shadow's estimated one (service/oversight/shadow.py says how it is estimated), and how often the
two chose the same action on the ticks both decided. The mean paired difference (shadow - live)
comes with a 95% confidence interval (normal approximation; with fewer than two parents, none).

Exit codes: 0 done, 1 Redis unreachable, 2 usage (a bad date, no shadow data that day).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from service.commands.output import output_console, print_error
from service.state.journal import RedisJournal
from service.state.redis_store import StoreUnavailable

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("shadow", help="the shadow model's record")
    actions = p.add_subparsers(dest="shadow_command", metavar="ACTION")
    actions.required = True
    r = actions.add_parser("report", help="the shadow against the live policy for one day")
    r.add_argument("--date", required=True, help="the trading day, YYYY-MM-DD (UTC)")
    r.add_argument("--redis-url", default=None,
                   help=f"default EXECAGENT_STORE__REDIS_URL, else {DEFAULT_URL}")
    r.add_argument("--namespace", default="execagent", help="the service's store namespace")
    r.add_argument("--json", type=Path, default=None, help="write the report here too")
    r.set_defaults(func=run_report)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def report(entries: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    """The comparison over a day's journal entries (what ``--json`` writes)."""
    parents: list[dict[str, Any]] = []
    decisions = differing = 0
    for entry in entries:
        kind = entry.get("kind")
        if kind == "shadow":
            live = entry.get("live_action", "")
            if live:
                decisions += 1
                differing += live != entry.get("action", "")
        elif kind == "shadow_summary":
            parents.append({
                "parent_id": entry.get("parent_id", ""), "model": entry.get("model", ""),
                "live_bps": _number(entry.get("live_shortfall_bps", "")),
                "shadow_bps": _number(entry.get("shadow_shortfall_bps", "")),
                "compared": int(_number(entry.get("compared", "")) or 0),
                "agreements": int(_number(entry.get("agreements", "")) or 0)})
    paired = [p["shadow_bps"] - p["live_bps"] for p in parents
              if p["shadow_bps"] is not None and p["live_bps"] is not None]
    compared = sum(p["compared"] for p in parents)
    result: dict[str, Any] = {
        "parents": parents, "paired_parents": len(paired),
        "agreement": (sum(p["agreements"] for p in parents) / compared) if compared else None,
        "changed_decisions_journaled": decisions, "of_which_differing": differing,
        "mean_difference_bps": None, "ci95_bps": None}
    if paired:
        mean = sum(paired) / len(paired)
        result["mean_difference_bps"] = round(mean, 4)
        if len(paired) > 1:
            sd = math.sqrt(sum((d - mean) ** 2 for d in paired) / (len(paired) - 1))
            half = 1.96 * sd / math.sqrt(len(paired))
            result["ci95_bps"] = [round(mean - half, 4), round(mean + half, 4)]
    return result


def run_report(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print_error(f"execagent shadow report: --date {args.date!r} is not YYYY-MM-DD")
        return 2
    url = args.redis_url or os.environ.get("EXECAGENT_STORE__REDIS_URL", DEFAULT_URL)
    journal = RedisJournal(url, namespace=args.namespace)
    try:
        entries = journal.read(day)
    except StoreUnavailable as exc:
        print_error(f"execagent shadow report: {exc}")
        return 1
    finally:
        journal.close()
    result = report(entries)
    if not result["parents"]:
        print_error(f"execagent shadow report: no parent finished with a shadow on {day} in "
                    f"namespace {args.namespace} (is policy.shadow set?)")
        return 2
    console = output_console()
    console.print(f"{'parent':<20} {'model':<14} {'live bps':>10} {'shadow bps':>11} "
                  f"{'agreement':>10}")
    for p in result["parents"]:
        agree = f"{p['agreements'] / p['compared']:.0%}" if p["compared"] else "-"
        console.print(f"{p['parent_id']:<20} {p['model']:<14} {_show(p['live_bps']):>10} "
                      f"{_show(p['shadow_bps']):>11} {agree:>10}")
    mean, ci = result["mean_difference_bps"], result["ci95_bps"]
    console.print(f"shadow - live: {_show(mean)} bps"
                  + (f", 95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
                  + f" over {result['paired_parents']} parents; the shadow's cost is an "
                    "estimate (no queue, no impact), the live one realised")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
