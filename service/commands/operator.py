"""``execagent status | kill | resume | reducing``: the operator's CLI over the HTTP API.

The token comes from ``EXECAGENT_API_TOKEN`` (never a command-line argument: it would show in
the process list and the shell history). Exit codes: 0 done, 1 the service refused (the message
is the API's), 2 a usage error or no service answering. The HTTP part is
:mod:`service.commands.api_client`, shared with ``execagent order`` and ``execagent model``.
"""

from __future__ import annotations

import argparse

from service.commands.api_client import add_url_argument, call_api, print_answer


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser("status", help="trading state, positions and open orders")
    add_url_argument(status)
    status.set_defaults(func=run, action=None)
    for action, text in (("kill", "engage the kill switch: halt and cancel every order"),
                         ("reducing", "allow only orders that reduce the position"),
                         ("resume", "resume trading (admin role)")):
        p = subparsers.add_parser(action, help=text)
        add_url_argument(p)
        p.add_argument("--reason", required=True, help="why: it goes into the journal")
        p.set_defaults(func=run, action=action)


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        code, answer = call_api("execagent status", args.url, "GET", "/api/v1/risk")
    else:
        code, answer = call_api(f"execagent {args.action}", args.url, "POST",
                                f"/api/v1/risk/{args.action}", {"reason": args.reason})
    if code == 0:
        print_answer(answer)
    return code
