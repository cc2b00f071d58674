"""Parent and child orders to and from JSON, for the durable store.

Why by hand and not pickle or pydantic: the stored form outlives the code that wrote it (a
restart after an upgrade reads yesterday's orders), so it is plain JSON with named fields, enums
by their FIX values, prices as integer ticks; and decoding a record that does not fit raises
:class:`StateFormatError` naming the record, instead of resurrecting a half-valid order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from core.domain import ChildOrder, OrdStatus, OrdType, ParentOrder, Side, TimeInForce

FORMAT_VERSION = 1


class StateFormatError(ValueError):
    """A stored record that cannot be decoded into an order."""


def encode_parent(parent: ParentOrder) -> str:
    record = asdict(parent)
    record["side"] = int(parent.side)
    record["v"] = FORMAT_VERSION
    return json.dumps(record, separators=(",", ":"))


def encode_child(order: ChildOrder) -> str:
    record = asdict(order)
    record["side"] = int(order.side)
    record["ord_type"] = order.ord_type.value
    record["tif"] = order.tif.value
    record["status"] = order.status.value
    record["v"] = FORMAT_VERSION
    return json.dumps(record, separators=(",", ":"))


def decode_parent(text: str | bytes) -> ParentOrder:
    record = _load(text, "parent order")
    try:
        record["side"] = Side(record["side"])
        return ParentOrder(**_known(ParentOrder, record))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFormatError(f"stored parent order {record.get('parent_id')!r} is not "
                               f"valid: {exc}") from exc


def decode_child(text: str | bytes) -> ChildOrder:
    record = _load(text, "child order")
    try:
        record["side"] = Side(record["side"])
        record["ord_type"] = OrdType(record["ord_type"])
        record["tif"] = TimeInForce(record["tif"])
        record["status"] = OrdStatus(record["status"])
        return ChildOrder(**_known(ChildOrder, record))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFormatError(f"stored child order {record.get('cl_ord_id')!r} is not "
                               f"valid: {exc}") from exc


def _load(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFormatError(f"a stored {what} is not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise StateFormatError(f"a stored {what} is not a JSON object")
    version = record.pop("v", None)
    if version != FORMAT_VERSION:
        raise StateFormatError(f"a stored {what} has format version {version!r}; this build "
                               f"reads version {FORMAT_VERSION}")
    return record


def _known(cls: type, record: dict[str, Any]) -> dict[str, Any]:
    """The record's fields that ``cls`` has; a missing required one fails in the constructor."""
    names = {f.name for f in fields(cls)}
    unknown = set(record) - names
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    return record
