"""The engine's order sender where a test plays the venue: it keeps what the engine sent (and
the order-status requests it asked for) and answers nothing by itself."""

from __future__ import annotations

from core.domain import ChildOrder, OrderIntent


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[OrderIntent] = []
        self.asked: list[str] = []  # ClOrdIDs of the OrderStatusRequests

    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        self.sent.append(intent)
        return True

    def request_status(self, order: ChildOrder) -> bool:
        self.asked.append(order.cl_ord_id)
        return True
