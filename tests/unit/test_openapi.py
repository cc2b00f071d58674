"""The OpenAPI document generated from the route table: complete, secured where it must be, its
schemas the pydantic models' own, and valid enough for schemathesis to load."""

from __future__ import annotations

import schemathesis

from risk.limits import RiskLimits
from service.api.openapi import OPERATIONS, docs_page, openapi_document
from service.api.schemas import OrderProgress, SubmitBody

EXPECTED = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"),
    ("GET", "/docs"), ("GET", "/api/v1/orders"), ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{parent_id}"), ("POST", "/api/v1/orders/{parent_id}/cancel"),
    ("GET", "/api/v1/risk"), ("GET", "/api/v1/risk/limits"), ("PUT", "/api/v1/risk/limits"),
    ("POST", "/api/v1/risk/kill"), ("POST", "/api/v1/risk/reducing"),
    ("POST", "/api/v1/risk/resume"), ("GET", "/api/v1/model"),
    ("POST", "/api/v1/model/promote"), ("POST", "/api/v1/model/rollback"),
}


def _operations(document: dict) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    return {(method.upper(), path): op for path, methods in document["paths"].items()
            for method, op in methods.items()}


def test_every_route_is_documented_once() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.")
    assert set(_operations(document)) == EXPECTED
    assert len(OPERATIONS) == len(EXPECTED)


def test_api_v1_needs_a_bearer_token_and_names_its_refusals() -> None:
    document = openapi_document()
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http",
                                                                     "scheme": "bearer"}
    for (method, path), op in _operations(document).items():
        codes = set(op["responses"])
        if path.startswith("/api/v1/"):
            assert op["security"] == [{"bearer": []}], path
            assert {"401", "403"} <= codes, path
            assert ("429" in codes) == (method != "GET"), path
        else:
            assert op["security"] == [], path
        assert ("requestBody" in op) == ({"400", "413"} <= codes), path
    ops = _operations(document)
    assert {"404", "409"} <= set(ops[("POST", "/api/v1/orders/{parent_id}/cancel")]["responses"])
    assert "404" in ops[("GET", "/api/v1/orders/{parent_id}")]["responses"]
    assert "503" in ops[("GET", "/readyz")]["responses"]
    assert ops[("PUT", "/api/v1/risk/limits")]["x-role"] == "admin"
    assert ops[("POST", "/api/v1/orders")]["x-role"] == "trade"


def test_schemas_are_the_models_own() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert schemas["SubmitBody"]["required"] == \
        SubmitBody.model_json_schema()["required"]
    assert schemas["SubmitBody"]["additionalProperties"] is False
    assert set(schemas["OrderProgress"]["properties"]) == set(OrderProgress.model_fields)
    body = _operations(document)[("PUT", "/api/v1/risk/limits")]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    limits = schemas[ref.rsplit("/", 1)[-1]]
    assert set(limits["required"]) == {"global", "symbols"}  # the YAML's spelling, not global_
    assert set(limits["required"]) == {f.alias or name
                                       for name, f in RiskLimits.model_fields.items()}
    assert all(ref.startswith("#/components/schemas/")
               for ref in _refs(document)), "a $ref outside components"


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + \
            [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert labels == {f"{method} {path}" for method, path in EXPECTED}


def test_the_docs_page_is_self_contained_and_names_every_operation() -> None:
    page = docs_page(openapi_document())
    for method, path in EXPECTED:
        assert f"{method} {path}" in page
    assert "RiskLimits" in page and "Role: <b>admin</b>" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
