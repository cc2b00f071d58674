"""``execagent order submit | list | get | cancel`` and ``execagent model``: parent orders and
the model in use, over the operator API.

Same conventions as ``execagent status``: the URL from ``--url`` or ``EXECAGENT_API_URL``, the
token from ``EXECAGENT_API_TOKEN``; exit 1 when the service refuses (its message is printed), 2
on a usage error or when no service answers. What the service validates (symbol, policy, tick
grid) it alone validates: the client checks only what it must turn into the request (a
positive quantity, a decimal price, an end in the future).
"""

from __future__ import annotations

import argparse
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from service.commands.api_client import add_url_argument, call_api, print_answer
from service.commands.output import print_error

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    order = subparsers.add_parser("order", help="submit, list, inspect and cancel parent orders")
    actions = order.add_subparsers(dest="order_action", metavar="ACTION")
    actions.required = True

    submit = actions.add_parser("submit", help="work a parent order from now (trade role)")
    add_url_argument(submit)
    submit.add_argument("--symbol", required=True)
    submit.add_argument("--side", required=True, choices=["buy", "sell"])
    submit.add_argument("--qty", required=True, type=_positive_int, help="shares")
    horizon = submit.add_mutually_exclusive_group(required=True)
    horizon.add_argument("--duration", type=_positive_float, metavar="SECONDS",
                         help="work it over this many seconds from now")
    horizon.add_argument("--end", metavar="ISO",
                         help="work it until then: 2026-11-23T15:30, 15:30 (today, local "
                              "time) or with an offset, 2026-11-23T20:30+00:00")
    submit.add_argument("--policy", help="the execution policy (default: the service's)")
    submit.add_argument("--limit-price", type=_decimal, metavar="PX",
                        help="never buy above / sell below this price")
    submit.add_argument("--urgency", choices=["low", "normal", "high"], default="normal",
                        help="tilts Almgren-Chriss (risk aversion) and POV (rate); default normal")
    submit.set_defaults(func=run_submit)

    listing = actions.add_parser("list", help="every parent order with its progress")
    add_url_argument(listing)
    listing.set_defaults(func=run_list)
    for name, text, func in (("get", "one parent order's progress", run_get),
                             ("cancel", "stop working a parent order (trade role)",
                              run_cancel)):
        p = actions.add_parser(name, help=text)
        add_url_argument(p)
        p.add_argument("parent_id", metavar="ID", help="as submit and list show it (P...)")
        p.set_defaults(func=func)

    model = subparsers.add_parser("model", help="the policy in use; for ONNX the model file's "
                                                "sha256 and metadata")
    add_url_argument(model)
    model.set_defaults(func=run_model)


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal price") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive price")
    return value


def seconds_until(end: str, now: datetime | None = None) -> float:
    """Seconds from ``now`` (default: the wall clock) to ``end``, an ISO date-time or a time of
    day today; without an offset it is local time. A ValueError says what is wrong."""
    now = now or datetime.now().astimezone()
    try:
        when = datetime.fromisoformat(end)
    except ValueError:
        try:
            when = datetime.combine(now.date(), time.fromisoformat(end))
        except ValueError:
            raise ValueError(f"--end {end!r} is not an ISO date-time (2026-11-23T15:30) or "
                             "time of day (15:30)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo) if now.tzinfo else when.astimezone()
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        raise ValueError(f"--end {end} is not in the future")
    return seconds


def run_submit(args: argparse.Namespace) -> int:
    duration = args.duration
    if duration is None:
        try:
            duration = seconds_until(args.end)
        except ValueError as exc:
            print_error(f"execagent order submit: {exc}")
            return EXIT_USAGE
    body: dict[str, object] = {"symbol": args.symbol, "side": args.side, "quantity": args.qty,
                               "duration_seconds": round(duration, 3), "urgency": args.urgency}
    if args.policy is not None:
        body["policy"] = args.policy
    if args.limit_price is not None:
        body["limit_price"] = str(args.limit_price)
    return _show(call_api("execagent order submit", args.url, "POST", "/api/v1/orders", body))


def run_list(args: argparse.Namespace) -> int:
    return _show(call_api("execagent order list", args.url, "GET", "/api/v1/orders"))


def run_get(args: argparse.Namespace) -> int:
    return _show(call_api("execagent order get", args.url, "GET",
                          f"/api/v1/orders/{_quoted(args.parent_id)}"))


def run_cancel(args: argparse.Namespace) -> int:
    return _show(call_api("execagent order cancel", args.url, "POST",
                          f"/api/v1/orders/{_quoted(args.parent_id)}/cancel"))


def run_model(args: argparse.Namespace) -> int:
    return _show(call_api("execagent model", args.url, "GET", "/api/v1/model"))


def _quoted(parent_id: str) -> str:
    return quote(parent_id, safe="")


def _show(result: tuple[int, dict[str, object]]) -> int:
    code, answer = result
    if code == 0:
        print_answer(answer)
    return code
