"""Parent and child orders and fills to and from JSON, for the durable store.

Why by hand and not pickle or pydantic: the stored form outlives the code that wrote it (a
restart after an upgrade reads yesterday's orders), so it is plain JSON with named fields, enums
by their FIX values, prices as integer ticks; and decoding a record that does not fit raises
:class:`StateFormatError` naming the record, instead of resurrecting a half-valid order: every
field must have its declared type (a quantity an integer, not null, a string or true), so that
nothing later trips over it in the middle of a recovery.
"""

from __future__ import annotations

import json
import types
import typing
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


def encode_fill(cl_ord_id: str, qty: int, price: int) -> str:
    return json.dumps({"cl_ord_id": cl_ord_id, "qty": qty, "price": price})


def decode_fill(exec_id: str, text: str | bytes) -> tuple[str, int, int]:
    """A stored fill: (ClOrdID, quantity, price in ticks); the quantity is negative for the
    undoing of a busted trade."""
    try:
        record = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFormatError(f"stored fill {exec_id!r} is not JSON: {exc}") from exc
    try:
        if not isinstance(record, dict):
            raise TypeError("not a JSON object")
        cl_ord_id, qty, price = record["cl_ord_id"], record["qty"], record["price"]
        _check_type("cl_ord_id", cl_ord_id, str)
        _check_type("qty", qty, int)
        _check_type("price", price, int)
    except (KeyError, TypeError) as exc:
        raise StateFormatError(f"stored fill {exec_id!r} is not valid: {_why(exc)}") from exc
    return cl_ord_id, qty, price


def decode_parent(text: str | bytes) -> ParentOrder:
    record = _load(text, "parent order")
    try:
        record["side"] = Side(record["side"])
        return ParentOrder(**_known(ParentOrder, record))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFormatError(f"stored parent order {record.get('parent_id')!r} is not "
                               f"valid: {_why(exc)}") from exc


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
                               f"valid: {_why(exc)}") from exc


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
    """The record's fields, each of the type ``cls`` declares (enums already converted); a
    missing required one fails in the constructor. Raises TypeError or ValueError."""
    hints = _hints(cls)
    unknown = set(record) - set(hints)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    for name, value in record.items():
        _check_type(name, value, hints[name])
    return record


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        declared = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: declared[f.name] for f in fields(cls)}
    return _HINTS[cls]


def _check_type(name: str, value: object, expected: Any) -> None:
    """TypeError naming ``name`` unless ``value`` is of the type ``expected`` (a class, an
    optional one, or a list of strings); a bool is not an integer here."""
    if isinstance(expected, types.UnionType):  # X | None
        if value is None:
            return
        expected = next(arg for arg in typing.get_args(expected) if arg is not type(None))
    if typing.get_origin(expected) is list:
        (item,) = typing.get_args(expected)
        if isinstance(value, list) and all(isinstance(v, item) for v in value):
            return
        raise TypeError(f"{name} must be a list of {item.__name__}, got {value!r}")
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return
    raise TypeError(f"{name} must be {_NAMES.get(expected, expected.__name__)}, got {value!r}")


_NAMES = {int: "an integer", str: "a string", bool: "true or false"}


def _why(exc: Exception) -> str:
    return f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
