"""Schemathesis against a running service's own ``/openapi.json``: requests generated from the
document (valid and invalid ones), sent with no token, a read, a trade and an admin token.

What must hold for every request: no 5xx, the answer conforms to the document (status code,
media type, body schema), and a request without the right role changes nothing: after the runs
with no token and with a read token the service's state is exactly as before, and after the run
with a trade token the limits are (only admin may change them, or resume). The admin run may
change anything; it checks only conformance.

Bounded: ``EXAMPLES`` requests per run over every operation, four runs (no token, read, trade,
admin): the whole test takes about 20 s on 2 cores (EXAMPLES = 1500 found nothing more).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.domain import Side
from service.api import routes
from service.app import Service
from service.config import (
    ApiConfig,
)
from service.net import free_port
from tests.support.session import running_service, scripted_venue, service_config

pytestmark = pytest.mark.e2e

READ, TRADE, ADMIN = "r" * 20, "t" * 20, "a" * 20
EXAMPLES = 300
# Not schemathesis's not_a_server_error: it counts the documented 503 of /readyz as a failure.
# fuzz() asserts "no 5xx" itself.
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    port = free_port()
    venue = scripted_venue(tmp_path, port)
    config = service_config(tmp_path, port, api=ApiConfig(port=0, tokens=SecretStr(
        f"grafana=read:{READ},alice=trade:{TRADE},bob=admin:{ADMIN}")))
    async with running_service(venue, config) as running:
        yield running


def fuzz(base_url: str, token: str | None) -> Counter[tuple[str, int]]:
    """One schemathesis run; (operation, status) counts. Raises on the first failed check."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    cases = st.one_of(schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      schema.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    seen: Counter[tuple[str, int]] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        seen[(f"{case.method.upper()} {case.operation.path}", response.status_code)] += 1
        assert response.status_code < 500 or (case.operation.path, response.status_code) == (
            "/readyz", 503), response.text
        case.validate_response(response, checks=CHECKS)

    run()
    return seen


def snapshot(running: Service) -> dict[str, Any]:
    """Everything a mutation through the API could change."""
    assert running.engine is not None
    text = running.metrics.render().decode()
    return {"state": running.risk.state, "limits": running.risk.limits,
            "parents": sorted(running.engine.oms.parents),
            "active": [p for p in running.engine.oms.parents if running.engine.is_active(p)],
            "mutations": [line for line in text.splitlines()
                          if line.startswith("execagent_api_mutations_total")]}


async def test_fuzzed_requests_conform_and_change_nothing_without_the_role(
        service: Service, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.WARNING, logger="execagent.journal")
    assert service.api is not None and service.engine is not None
    url = service.api.url
    service.submit(Side.SELL, 300, "GOOG", 600.0)  # something to see and, for admin, to cancel
    before = snapshot(service)

    anonymous = await asyncio.to_thread(fuzz, url, None)
    reader = await asyncio.to_thread(fuzz, url, READ)

    assert snapshot(service) == before
    assert not journal(caplog)
    api_v1 = {status for op, status in anonymous if " /api/v1/" in op}
    assert api_v1 == {401}
    # refused before the body is even read; 401 when schemathesis left the token out on purpose
    mutations = {status for (op, status) in reader if op.startswith(("POST", "PUT"))}
    assert 403 in mutations and mutations <= {401, 403}
    assert any(status == 200 for (op, status) in reader if op.startswith("GET /api/v1/"))

    # trade may submit, cancel, kill and switch to reducing, never resume nor change limits;
    # with the real rate limit, most of its changes are 429s
    trader = await asyncio.to_thread(fuzz, url, TRADE)
    assert service.risk.limits is before["limits"]
    assert not [entry for entry in journal(caplog) if entry.startswith(("limits", "resume"))]
    assert {status for (op, status) in trader if op.startswith(("PUT", "POST /api/v1/risk/res"))} \
        <= {401, 403}
    assert any(status == 429 for (_, status) in trader)

    # admin with the rate limit out of the way, so that bodies reach the handlers
    monkeypatch.setattr(routes, "MUTATION_BURST", 1_000_000)
    admin = await asyncio.to_thread(fuzz, url, ADMIN)
    assert any(status == 400 for (op, status) in admin if op == "PUT /api/v1/risk/limits")
    assert any(status == 400 for (op, status) in admin if op == "POST /api/v1/orders")
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
        assert response.status == 200  # still serving after all that


def journal(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "execagent.journal"]
