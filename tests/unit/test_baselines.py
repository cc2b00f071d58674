import numpy as np

from core.depth_book import DepthBook
from core.domain import BookUpdate, ParentOrder, Side
from models.actions import WAIT, Action, ActionKind
from models.baselines import TwapPolicy
from models.policy import DecisionContext

SECOND = 10**9


def _ctx(now_s: float, filled: int = 0, ioc: int = 0, qty: int = 1000) -> DecisionContext:
    parent = ParentOrder("P", "GOOG", Side.SELL, qty, 0, 100 * SECOND, "twap")
    parent.filled = filled
    book = DepthBook("GOOG")
    book.apply(BookUpdate("GOOG", Side.BUY, 100, 10, 0))
    book.apply(BookUpdate("GOOG", Side.SELL, 101, 10, 0))
    return DecisionContext(np.zeros(12, np.float32), parent, book, int(now_s * SECOND), qty // 10,
                           10, 0, ioc)


def test_aggressive_twap_crosses_each_slice_quantity_once() -> None:
    twap = TwapPolicy()
    assert twap.act(_ctx(0)) == Action(ActionKind.CROSS, 100)
    assert twap.act(_ctx(5, ioc=100)) == WAIT  # in flight counts as done
    assert twap.act(_ctx(5, filled=100)) == WAIT
    assert twap.act(_ctx(10, filled=100)) == Action(ActionKind.CROSS, 100)
    assert twap.act(_ctx(35, filled=100)) == Action(ActionKind.CROSS, 300)  # catches up


def test_passive_twap_rests_then_crosses_what_a_slice_left() -> None:
    twap = TwapPolicy(passive=True)
    assert twap.act(_ctx(0)) == Action(ActionKind.REST_NEAR, 100)
    assert twap.act(_ctx(10, filled=40)) == Action(ActionKind.CROSS, 60)
    assert twap.act(_ctx(10, filled=100)) == Action(ActionKind.REST_NEAR, 100)
