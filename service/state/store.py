"""Where the service's state lives between ticks and across restarts.

The interface is what the engine needs to persist; ``memory`` keeps it in this process (the
demo and backtests), :class:`service.state.redis_store.RedisStore` (production) follows the same
contract, and one test suite (tests/integration/test_store_contract.py) holds both to it. Writes are
synchronous calls so the engine's order of operations is the order of persistence; a durable
implementation batches them off the tick's critical path behind the same calls.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Protocol

from core.domain import ChildOrder, ParentOrder


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or refused a write; nothing was persisted by that call."""


class StateStore(Protocol):
    def save_parent(self, parent: ParentOrder) -> None: ...

    def save_child(self, order: ChildOrder) -> None: ...

    def record_fill(self, exec_id: str, cl_ord_id: str, qty: int, price: int) -> bool:
        """Store a fill once; False when ``exec_id`` was already recorded. The engine passes
        the order's first ClOrdID (its key here), which, unlike the current one, an order
        keeps across every replace."""
        ...

    def record_suspect_fill(self, exec_id: str, record: dict[str, object]) -> bool:
        """Keep a fill that failed its checks as the venue stated it (core/fill_rules.py):
        never summed into a position. False when ``exec_id`` was already kept."""
        ...

    def suspect_fills(self) -> dict[str, dict[str, object]]: ...

    def save_symbol_holds(self, holds: dict[str, str]) -> None:
        """The symbols held for suspect fills, with why, on every change: only an operator
        lifts a hold, a restart does not."""
        ...

    def symbol_holds(self) -> dict[str, str]: ...

    def parents(self) -> list[ParentOrder]: ...

    def children(self) -> list[ChildOrder]: ...

    def fills(self) -> dict[str, tuple[str, int, int]]:
        """ExecID -> (ClOrdID, quantity, price in ticks) of every fill recorded."""
        ...

    def save_trading_state(self, state: str, reason: str) -> None:
        """The risk overlay's trading state (active, reducing, halted) and why, on every
        change: a restart keeps a halt an operator has not lifted."""
        ...

    def trading_state(self) -> tuple[str, str] | None: ...

    def save_model(self, info: dict[str, object]) -> None:
        """The policy in use (name, and for ONNX the file's sha256 and metadata), at start."""
        ...

    def model(self) -> dict[str, object] | None: ...


class MemoryStore:
    """Embedded store: state lives and dies with the process. Refused in live mode."""

    def __init__(self) -> None:
        self._parents: dict[str, ParentOrder] = {}
        self._children: dict[str, ChildOrder] = {}
        self._fills: dict[str, tuple[str, int, int]] = {}
        self._model: dict[str, object] | None = None
        self._trading: tuple[str, str] | None = None
        self._suspect: dict[str, dict[str, object]] = {}
        self._holds: dict[str, str] = {}

    def save_parent(self, parent: ParentOrder) -> None:
        self._parents[parent.parent_id] = replace(parent)

    def save_child(self, order: ChildOrder) -> None:
        self._children[order.first_cl_ord_id] = replace(order,
                                                  previous_cl_ord_ids=list(order.previous_cl_ord_ids))

    def record_fill(self, exec_id: str, cl_ord_id: str, qty: int, price: int) -> bool:
        if exec_id in self._fills:
            return False
        self._fills[exec_id] = (cl_ord_id, qty, price)
        return True

    def record_suspect_fill(self, exec_id: str, record: dict[str, object]) -> bool:
        if exec_id in self._suspect:
            return False
        self._suspect[exec_id] = json.loads(json.dumps(record))
        return True

    def suspect_fills(self) -> dict[str, dict[str, object]]:
        return {exec_id: dict(record) for exec_id, record in self._suspect.items()}

    def save_symbol_holds(self, holds: dict[str, str]) -> None:
        self._holds = dict(holds)

    def symbol_holds(self) -> dict[str, str]:
        return dict(self._holds)

    def parents(self) -> list[ParentOrder]:
        return [replace(p) for p in self._parents.values()]

    def children(self) -> list[ChildOrder]:
        return [replace(c, previous_cl_ord_ids=list(c.previous_cl_ord_ids))
                for c in self._children.values()]

    def fills(self) -> dict[str, tuple[str, int, int]]:
        return dict(self._fills)

    def save_trading_state(self, state: str, reason: str) -> None:
        self._trading = (state, reason)

    def trading_state(self) -> tuple[str, str] | None:
        return self._trading

    def save_model(self, info: dict[str, object]) -> None:
        self._model = json.loads(json.dumps(info))  # a copy, as JSON would keep it

    def model(self) -> dict[str, object] | None:
        return None if self._model is None else dict(self._model)
