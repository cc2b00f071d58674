"""A halted engine asks nothing of the overlay: no policy decision and no denied order per tick
(which a denial-storm alert would read as a policy gone wrong), while the kill switch's cancels,
and an operator's cancel of a parent, still go out."""

from __future__ import annotations

import time
from decimal import Decimal

from core.domain import (
    BookUpdate,
    CancelOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    ParentOrder,
    Side,
)
from models.actions import Action, ActionKind
from models.policy import DecisionContext
from risk.state import TradingState
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from tests.support.risk import SECOND, make_overlay, roomy
from tests.support.sending import RecordingSender


class Resting:
    name = "resting"

    def __init__(self) -> None:
        self.decisions = 0

    def act(self, ctx: DecisionContext) -> Action:
        self.decisions += 1
        return Action(ActionKind.REST_NEAR, 100)


def _tick(engine: Engine, ts_s: float, bid: int = 57_999) -> None:
    ts = int(ts_s * SECOND)
    engine.on_market_data(MarketData("GOOG", ts, (BookUpdate("GOOG", Side.BUY, bid, 500, ts),
                                                  BookUpdate("GOOG", Side.SELL, bid + 2, 500,
                                                             ts))), time.perf_counter_ns())


def test_a_halted_engine_decides_nothing_and_the_overlay_denies_nothing() -> None:
    sender, policy = RecordingSender(), Resting()
    engine = Engine({"GOOG": Instrument("GOOG", Decimal("0.01"))}, make_overlay(roomy()), sender,
                    MemoryStore(), Metrics())
    engine.submit(ParentOrder("P", "GOOG", Side.SELL, 1_000, 0, 600 * SECOND, "resting"), policy)
    _tick(engine, 1)
    (order,) = sender.sent
    assert isinstance(order, NewOrder)
    engine.on_execution_report(ExecutionReport(order.cl_ord_id, "E1", ExecType.NEW,
                                               OrdStatus.NEW, "GOOG", Side.SELL, 0, 100))
    engine.risk.engage_kill_switch("drill", engine.clock.now_ns())
    assert engine.risk.state is TradingState.HALTED
    assert [type(intent) for intent in sender.sent] == [NewOrder, CancelOrder]  # the kill's
    decided = policy.decisions
    for n in range(100):  # the market moves on: each tick would have wanted a new order
        _tick(engine, 2 + n / 10, bid=57_990 + n % 5)
    assert policy.decisions == decided
    assert engine.risk.denials == {}
    assert len(sender.sent) == 2

    assert engine.cancel_parent("P")  # an operator may still stop working the parent
    assert engine.risk.denials == {}
