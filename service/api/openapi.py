"""Every HTTP route in one table, and the OpenAPI document and docs page generated from it.

Why one table: the routes are installed from it (method, path, handler, the role the guard
demands), and ``/openapi.json`` is generated from it and from the pydantic models' own JSON
schemas, so what is documented is what is served. ``/docs`` renders the same document as plain
HTML with no script and no CDN: the machines that run the service have no internet.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from risk.limits import RiskLimits
from service.api.auth import Role
from service.api.schemas import (
    ErrorAnswer,
    Health,
    KillAnswer,
    LimitsChanged,
    ModelChange,
    ModelInfo,
    OrderList,
    OrderProgress,
    Readiness,
    ReasonBody,
    RiskState,
    SubmitBody,
    TradingStateAnswer,
)

Group = Literal["service", "orders", "risk", "model"]

_DESCRIPTIONS = {
    200: "done", 201: "created", 400: "the body or a value is invalid (the message names it)",
    401: "no valid bearer token (tokens are configured)",
    403: "the token's role is below the one needed, or no tokens are configured and this is a "
         "change", 404: "no such object", 409: "the request conflicts with the current state",
    413: "the body is larger than 64 KiB", 429: "more than 10 changes in a row by this token; "
    "one every 6 s after that", 500: "a fault of the service (logged); never caused by a request",
    503: "not ready to trade: the failing checks are named"}


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: what it takes, who may call it, what it answers."""

    method: Literal["GET", "POST", "PUT"]
    path: str
    group: Group  # the object that serves it: the app itself, or an OperatorRoutes subclass
    handler: str  # the name of the serving method
    role: Role | None  # None: no token needed
    summary: str
    response: type[BaseModel] | None  # None: not JSON (the media type says what)
    status: int = 200
    request: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # beyond 400/401/403/413/429, which follow from the above
    media_type: str = "application/json"
    also: tuple[tuple[int, type[BaseModel]], ...] = ()  # other non-error answers (503 of readyz)

    @property
    def statuses(self) -> list[int]:
        """Every status this operation can answer with an ``{"error"}`` body."""
        codes = set(self.errors)
        if self.request is not None:
            codes |= {400, 413}
        if self.role is not None:
            codes |= {401, 403}
            if self.method != "GET":
                codes.add(429)
        return sorted(codes)


_ID = "/api/v1/orders/{parent_id}"
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/healthz", "service", "healthz", None, "liveness", Health),
    Operation("GET", "/readyz", "service", "readyz", None,
              "200 when it can trade (FIX logged on, fresh market data, not halted)", Readiness,
              also=((503, Readiness),)),
    Operation("GET", "/metrics", "service", "metrics", None, "Prometheus exposition", None,
              media_type="text/plain"),
    Operation("GET", "/openapi.json", "service", "openapi", None, "this document", None),
    Operation("GET", "/docs", "service", "docs", None, "this document as a page", None,
              media_type="text/html"),
    Operation("GET", "/api/v1/orders", "orders", "list_orders", Role.READ,
              "parent orders with their progress", OrderList),
    Operation("POST", "/api/v1/orders", "orders", "submit", Role.TRADE,
              "work a parent order from now", OrderProgress, status=201, request=SubmitBody),
    Operation("GET", _ID, "orders", "get", Role.READ, "one parent order's progress",
              OrderProgress, errors=(404,)),
    Operation("POST", _ID + "/cancel", "orders", "cancel", Role.TRADE,
              "stop working it: its child orders are cancelled (409 when no longer worked)",
              OrderProgress, errors=(404, 409)),
    Operation("GET", "/api/v1/risk", "risk", "state", Role.READ,
              "trading state, positions, P&L, open orders, denials and kills", RiskState),
    Operation("GET", "/api/v1/risk/limits", "risk", "limits", Role.READ,
              "the limits in force, as the limits YAML spells them", RiskLimits),
    Operation("PUT", "/api/v1/risk/limits", "risk", "replace_limits", Role.ADMIN,
              "replace the limits in force (every key required, as GET answers them)",
              LimitsChanged, request=RiskLimits),
    Operation("POST", "/api/v1/risk/kill", "risk", "kill", Role.TRADE,
              "kill switch: HALTED, every working order cancelled", KillAnswer,
              request=ReasonBody),
    Operation("POST", "/api/v1/risk/reducing", "risk", "reducing", Role.TRADE,
              "only position-reducing orders from now on (409 when halted)", TradingStateAnswer,
              request=ReasonBody, errors=(409,)),
    Operation("POST", "/api/v1/risk/resume", "risk", "resume", Role.ADMIN,
              "back to ACTIVE (halts again at once if the daily loss is past its limit; 409 "
              "while the durable store is unavailable)",
              TradingStateAnswer, request=ReasonBody, errors=(409,)),
    Operation("GET", "/api/v1/model", "model", "model", Role.READ,
              "the configured policy, and for ONNX the model file, its sha256 and metadata",
              ModelInfo),
    Operation("POST", "/api/v1/model/promote", "model", "promote", Role.ADMIN,
              "the shadow model goes live for parents submitted from now on, the live one "
              "becomes the shadow (409 with no shadow, or a shadow file changed on disk)",
              ModelChange, request=ReasonBody, errors=(409,)),
    Operation("POST", "/api/v1/model/rollback", "model", "rollback", Role.ADMIN,
              "undo the last promotion the same way (409 when there is none)", ModelChange,
              request=ReasonBody, errors=(409,)),
)


def operations(group: Group) -> list[Operation]:
    return [op for op in OPERATIONS if op.group == group]


def _schemas(ops: Sequence[Operation]) -> tuple[dict[tuple[Any, str], Any], dict[str, Any]]:
    """The models' JSON schemas with shared definitions under ``components/schemas``. A model
    used both ways (RiskLimits) may get two schemas, ``-Input`` and ``-Output``, when its
    validation and serialisation differ (a Decimal is read from a number or a string, written as
    a string)."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorAnswer, "serialization"):
                                                                  None}
    for op in ops:
        if op.request is not None:
            wanted[(op.request, "validation")] = None
        for model in [op.response, *(m for _, m in op.also)]:
            if model is not None:
                wanted[(model, "serialization")] = None
    refs, defs = models_json_schema(list(wanted), ref_template="#/components/schemas/{model}")
    return {key: schema for key, schema in refs.items()}, defs.get("$defs", {})


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
            for name in re.findall(r"{(\w+)}", path)]


def openapi_document(ops: Sequence[Operation] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``ops`` (JSON Schema 2020-12, which pydantic emits)."""
    refs, defs = _schemas(ops)
    error = {"application/json": {"schema": refs[(ErrorAnswer, "serialization")]}}
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        if op.response is not None:
            content = {op.media_type: {"schema": refs[(op.response, "serialization")]}}
        elif op.media_type == "application/json":
            content = {op.media_type: {"schema": {"type": "object"}}}
        else:
            content = {op.media_type: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(op.status): {"description": _DESCRIPTIONS[op.status],
                                                      "content": content}}
        for status, model in op.also:
            responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": {
                "application/json": {"schema": refs[(model, "serialization")]}}}
        for status in op.statuses:
            responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": error}
        operation: dict[str, Any] = {
            "operationId": f"{op.group}_{op.handler}", "summary": op.summary,
            "tags": [op.group], "responses": responses,
            "x-role": op.role.name.lower() if op.role is not None else "none"}
        if op.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs a token of the {op.role.name.lower()} role or " \
                                       "above."
        else:
            operation["security"] = []
        if parameters := _path_parameters(op.path):
            operation["parameters"] = parameters
        if op.request is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(op.request, "validation")]}}}
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "execagent operator API", "version": "1",
                 "description": "Parent orders, the risk overlay and the model of a running "
                                "execagent service. Send `Authorization: Bearer <token>`; roles "
                                "are ordered read < trade < admin. With no token configured, "
                                "reads are open and every change is refused (403). Every "
                                "refusal is a JSON `{\"error\": ...}` naming the problem."},
        "paths": paths,
        "components": {"schemas": defs,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def docs_page(document: dict[str, Any]) -> str:
    """The document as one self-contained HTML page: each operation with its role, body and
    answers, then every schema as indented JSON."""
    esc = html.escape
    title = esc(document["info"]["title"])
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
             "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}code{background:#f4f4f4}"
             "h3{font-family:monospace}</style></head><body>",
             f"<h1>{title}</h1>",
             f"<p>{esc(document['info']['description'])}</p>",
             "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI "
             f"{esc(document['openapi'])}).</p><h2>Operations</h2>"]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3 id='{esc(op['operationId'])}'>{esc(method.upper())} "
                         f"{esc(path)}</h3><p>{esc(op['summary'])}. Role: "
                         f"<b>{esc(op['x-role'])}</b>.</p>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                parts.append(f"<p>Body (JSON): {_schema_link(schema)}</p>")
            parts.append("<ul>")
            for status, answer in op["responses"].items():
                media, content = next(iter(answer["content"].items()))
                parts.append(f"<li><b>{esc(status)}</b> {esc(answer['description'])}: "
                             f"{esc(media)} {_schema_link(content['schema'])}</li>")
            parts.append("</ul>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='schema-{esc(name)}'>{esc(name)}</h3>"
                     f"<pre>{esc(json.dumps(schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _schema_link(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref is None:
        return f"<code>{html.escape(json.dumps(schema))}</code>"
    name = ref.rsplit("/", 1)[-1]
    return f"<a href='#schema-{html.escape(name)}'>{html.escape(name)}</a>"
