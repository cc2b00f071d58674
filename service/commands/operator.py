"""``execagent status | kill | resume | reducing``: the operator's CLI over the HTTP API.

The token comes from ``EXECAGENT_API_TOKEN`` (never a command-line argument: it would show in
the process list and the shell history). Exit codes: 0 done, 1 the service refused (the message
is the API's), 2 a usage error or no service answering.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import aiohttp

from service.commands.output import output_console, print_error

DEFAULT_URL = "http://127.0.0.1:8080"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser("status", help="trading state, positions and open orders")
    _common(status)
    status.set_defaults(func=run, action=None)
    for action, text in (("kill", "engage the kill switch: halt and cancel every order"),
                         ("reducing", "allow only orders that reduce the position"),
                         ("resume", "resume trading (admin role)")):
        p = subparsers.add_parser(action, help=text)
        _common(p)
        p.add_argument("--reason", required=True, help="why: it goes into the journal")
        p.set_defaults(func=run, action=action)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("EXECAGENT_API_URL", DEFAULT_URL),
                   help=f"the service's API (default {DEFAULT_URL}, or EXECAGENT_API_URL)")


def run(args: argparse.Namespace) -> int:
    token = os.environ.get("EXECAGENT_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request: tuple[str, str, dict[str, str] | None]
    if args.action is None:
        request = ("GET", "/api/v1/risk", None)
    else:
        request = ("POST", f"/api/v1/risk/{args.action}", {"reason": args.reason})
    try:
        status, body = asyncio.run(_call(args.url.rstrip("/"), headers, *request))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        print_error(f"execagent {args.action or 'status'}: no answer from {args.url}: {exc}")
        return 2
    if status >= 400:
        print_error(f"execagent {args.action or 'status'}: {status} {body.get('error', body)}")
        return 1
    output_console().print_json(json.dumps(body))
    return 0


async def _call(url: str, headers: dict[str, str], method: str, path: str,
                body: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.request(
            method, url + path, headers=headers, json=body) as response:
        text = await response.text()
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"error": text[:200]}
        return response.status, answer if isinstance(answer, dict) else {"answer": answer}
