"""The durable state store: Redis, behind the same contract as the in-memory one.

Layout, under a namespace (``execagent`` by default, so one Redis can hold several services):
- ``{ns}:parents``: hash, parent id -> parent order (JSON, :mod:`service.state.codec`);
- ``{ns}:children``: hash, ClOrdID -> child order;
- ``{ns}:fills``: hash, ExecID -> fill; written with HSETNX, so a duplicate ExecID (a PossDup
  resend, a replayed report) is refused by Redis itself, atomically;
- ``{ns}:suspect_fills``: hash, ExecID -> a fill that failed its checks, as the venue stated it
  (JSON; HSETNX as fills); never summed into a position;
- ``{ns}:trading_state``: hash, ``current`` -> the trading state and why, ``holds`` -> the
  symbols held for suspect fills and why (JSON);
- ``{ns}:model``: string, the policy in use (JSON), written at start.

Durability point: every call returns once Redis has the write (one round trip on a synchronous
client; about 50-100 us on loopback, measured in bench/). That is what lets the engine persist a
child order *before* it goes to the venue. Redis's own persistence (AOF/RDB) is its operator's
choice and out of this process's hands; docs/operations.md says what to configure.

Failures: any Redis error becomes :class:`StoreUnavailable`, whose message names the server
without its credentials. URLs with a password and TLS (``rediss://``) are redis-py's own.

Outage: the first failed write marks the store unavailable. From then on writes do not touch the
network (each attempt against a hung server would stall the event loop for the socket timeout):
they raise :class:`StoreUnavailable` so the caller knows they are not durable (the engine halts
new orders on that). The store mirrors in memory, encoded, everything written through it
(latest version of each order, first record of each fill: a few hundred bytes per order), so
:meth:`resync`, called by the service's watchdog once Redis answers again, rewrites the whole
state in one transaction, not only what failed: a Redis that came back empty (no persistence,
a failover to a fresh replica) holds the complete state again. Reads while unavailable raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis

from core.domain import ChildOrder, ParentOrder
from service.state.codec import (
    StateFormatError,
    decode_child,
    decode_fill,
    decode_parent,
    encode_child,
    encode_fill,
    encode_parent,
)
from service.state.store import StoreUnavailable

__all__ = ["RedisStore", "StoreUnavailable", "redact_url"]
_T = TypeVar("_T")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: what logs and errors may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisStore:
    def __init__(self, url: str, namespace: str = "execagent", timeout_s: float = 0.5) -> None:
        self.url = redact_url(url)
        self.namespace = namespace
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                               socket_connect_timeout=timeout_s)
        except ValueError as exc:  # redis-py's message quotes the URL: keep only the reason
            raise StoreUnavailable(f"store.redis_url {self.url} is not a Redis URL "
                                   "(redis://, rediss:// or unix://)") from exc
        self._parents = f"{namespace}:parents"
        self._children = f"{namespace}:children"
        self._fills = f"{namespace}:fills"
        self._model = f"{namespace}:model"
        self._trading = f"{namespace}:trading_state"
        self._suspect = f"{namespace}:suspect_fills"
        self.available = True
        # Everything written through this store (hash key -> field -> value): what resync()
        # rewrites after an outage. ``_unsynced`` counts the writes made while unavailable.
        self._mirror: dict[str, dict[str, str]] = {self._parents: {}, self._children: {},
                                                   self._fills: {}, self._trading: {},
                                                   self._suspect: {}}
        self._unsynced = 0

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def check(self) -> None:
        """A PING at start, saying why it failed: Redis refused our credentials (a wrong
        password or user: starting Redis would not help), or nothing answers at all. Raises
        :class:`StoreUnavailable`."""
        try:
            self._redis.ping()
        except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
            raise StoreUnavailable(f"Redis at {self.url} refused the credentials in "
                                   f"store.redis_url ({exc}): check its user and password") \
                from exc
        except redis.RedisError as exc:
            raise StoreUnavailable(f"store.redis_url {self.url} does not answer "
                                   f"({type(exc).__name__}): start Redis, or use store.kind "
                                   "memory outside live mode") from exc

    def close(self) -> None:
        self._redis.close()

    # --- the StateStore contract --------------------------------------------------------------
    def save_parent(self, parent: ParentOrder) -> None:
        self._write("save a parent order", self._parents, parent.parent_id,
                    encode_parent(parent))

    def save_child(self, order: ChildOrder) -> None:
        self._write("save a child order", self._children, order.first_cl_ord_id,
                    encode_child(order))

    def record_fill(self, exec_id: str, cl_ord_id: str, qty: int, price: int) -> bool:
        record = encode_fill(cl_ord_id, qty, price)
        return self._write_once("record a fill", self._fills, exec_id, record)

    def record_suspect_fill(self, exec_id: str, record: dict[str, object]) -> bool:
        return self._write_once("record a suspect fill", self._suspect, exec_id,
                                json.dumps(record, sort_keys=True))

    def _write_once(self, what: str, key: str, field: str, value: str) -> bool:
        """HSETNX: False when ``field`` was there already (a record never changes)."""
        if not self.available:
            self._keep(key, field, value)
            raise StoreUnavailable(self._down_message(what))
        try:
            fresh = bool(self._redis.hsetnx(key, field, value))
        except redis.RedisError as exc:
            self._go_down(key, field, value)
            raise StoreUnavailable(self._down_message(what, exc)) from exc
        self._mirror[key].setdefault(field, value)
        return fresh

    def suspect_fills(self) -> dict[str, dict[str, object]]:
        stored = self._call("read suspect fills", self._redis.hgetall, self._suspect)
        return {exec_id.decode(): dict(json.loads(value)) for exec_id, value in stored.items()}

    def save_symbol_holds(self, holds: dict[str, str]) -> None:
        self._write("save the held symbols", self._trading, "holds",
                    json.dumps(holds, sort_keys=True))

    def symbol_holds(self) -> dict[str, str]:
        stored = self._call("read the held symbols", self._redis.hget, self._trading, "holds")
        return {} if stored is None else {str(k): str(v) for k, v in json.loads(stored).items()}

    def _write(self, what: str, key: str, field: str, value: str) -> None:
        if not self.available:
            self._keep(key, field, value)
            raise StoreUnavailable(self._down_message(what))
        try:
            self._redis.hset(key, field, value)
        except redis.RedisError as exc:
            self._go_down(key, field, value)
            raise StoreUnavailable(self._down_message(what, exc)) from exc
        self._mirror[key][field] = value

    def _go_down(self, key: str, field: str, value: str) -> None:
        self.available = False
        self._keep(key, field, value)

    def _keep(self, key: str, field: str, value: str) -> None:
        """Keep a write that could not be made: the latest version of an order, the first
        record of a fill."""
        self._unsynced += 1
        if key in (self._fills, self._suspect):
            self._mirror[key].setdefault(field, value)
        else:
            self._mirror[key][field] = value

    def _down_message(self, what: str, exc: Exception | None = None) -> str:
        cause = f": {type(exc).__name__}" if exc is not None else " (unavailable; kept in memory)"
        return f"Redis at {self.url} could not {what}{cause}"

    @property
    def backlog_size(self) -> int:
        """Writes made while unavailable, not yet re-synced."""
        return self._unsynced

    def resync(self) -> bool:
        """Rewrite the whole mirrored state and become available again; False while Redis
        still does not answer. Fills go with HSETNX: one already there is not doubled."""
        if self.available:
            return True
        pipe = self._redis.pipeline(transaction=True)
        for key in (self._parents, self._children, self._trading):
            if self._mirror[key]:
                pipe.hset(key, mapping=cast(dict[Any, Any], self._mirror[key]))
        for key in (self._fills, self._suspect):
            for exec_id, record in self._mirror[key].items():
                pipe.hsetnx(key, exec_id, record)
        try:
            pipe.execute()
        except redis.RedisError:
            return False
        self._unsynced = 0
        self.available = True
        return True

    def parents(self) -> list[ParentOrder]:
        stored = self._call("read parent orders", self._redis.hgetall, self._parents)
        return self._decoded(self._parents, stored, lambda _field, value: decode_parent(value))

    def children(self) -> list[ChildOrder]:
        stored = self._call("read child orders", self._redis.hgetall, self._children)
        return self._decoded(self._children, stored, lambda _field, value: decode_child(value))

    def fills(self) -> dict[str, tuple[str, int, int]]:
        stored = self._call("read fills", self._redis.hgetall, self._fills)
        decoded = self._decoded(self._fills, stored, lambda field, value: (
            field, decode_fill(field, value)))
        return dict(decoded)

    def _decoded(self, key: str, stored: dict[bytes, bytes],
                 decode: Callable[[str, bytes], _T]) -> list[_T]:
        """Each record of hash ``key`` decoded; a StateFormatError names the record and where
        it is kept, for an operator to inspect (``HGET key field``) and correct."""
        out = []
        for raw_field, value in stored.items():
            field = raw_field.decode(errors="replace")
            try:
                out.append(decode(field, value))
            except StateFormatError as exc:
                raise StateFormatError(f"{exc} (Redis hash {key}, field {field})") from exc
        return out

    def save_trading_state(self, state: str, reason: str) -> None:
        self._write("save the trading state", self._trading, "current",
                    json.dumps({"state": state, "reason": reason}))

    def trading_state(self) -> tuple[str, str] | None:
        stored = self._call("read the trading state", self._redis.hget, self._trading, "current")
        if stored is None:
            return None
        try:
            record = json.loads(stored)
            return str(record["state"]), str(record["reason"])
        except (ValueError, TypeError, KeyError) as exc:
            raise StateFormatError(f"the stored trading state is not valid ({exc!r}; Redis "
                                   f"hash {self._trading}, field current)") from exc

    def save_model(self, info: dict[str, object]) -> None:
        self._call("save the model in use", self._redis.set, self._model,
                   json.dumps(info, sort_keys=True))

    def model(self) -> dict[str, object] | None:
        stored = self._call("read the model in use", self._redis.get, self._model)
        return None if stored is None else dict(json.loads(stored))

    def clear(self) -> None:
        """Forget everything in this namespace (tests, and a deliberate fresh start)."""
        self._call("clear the store", self._redis.delete, self._parents, self._children,
                   self._fills, self._model, self._trading, self._suspect)
        for fields in self._mirror.values():
            fields.clear()

    def _call(self, what: str, method: Callable[..., Any], *args: object) -> Any:
        if not self.available:
            raise StoreUnavailable(self._down_message(what))
        try:
            return method(*args)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis at {self.url} could not {what}: "
                                   f"{type(exc).__name__}") from exc
