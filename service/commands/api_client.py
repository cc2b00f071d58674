"""What every CLI client of the operator API shares: the URL option, the token, the call, and
the exit codes.

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
EXIT_REFUSED = 1
EXIT_NO_SERVICE = 2


def add_url_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("EXECAGENT_API_URL", DEFAULT_URL),
                   help=f"the service's API (default {DEFAULT_URL}, or EXECAGENT_API_URL)")


def call_api(command: str, url: str, method: str, path: str,
             body: object = None) -> tuple[int, dict[str, Any]]:
    """(exit code, answer): 0 and the service's answer, or 1 or 2 with the problem already
    printed on stderr as one line starting with ``command``."""
    token = os.environ.get("EXECAGENT_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        status, answer = asyncio.run(_call(url.rstrip("/"), headers, method, path, body))
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        # ValueError: a URL aiohttp cannot use (no scheme, say)
        print_error(f"{command}: no answer from {url}: {exc}")
        return EXIT_NO_SERVICE, {}
    if status >= 400:
        print_error(f"{command}: {status} {answer.get('error', answer)}")
        return EXIT_REFUSED, answer
    return 0, answer


def print_answer(answer: dict[str, Any]) -> None:
    output_console().print_json(json.dumps(answer))


async def _call(url: str, headers: dict[str, str], method: str, path: str,
                body: object) -> tuple[int, dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.request(
            method, url + path, headers=headers, json=body) as response:
        text = await response.text()
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"error": text[:200]}
        return response.status, answer if isinstance(answer, dict) else {"answer": answer}
