"""No posture and no forecast can loosen a hard limit; the overlay runs on every order.

The posture's tightened view is derived from the limits in force and never above them, whatever
the configured factors (even ones validation would refuse) and whatever the posture; the gate
never touches the overlay's limits; and through the engine, every order the posture lets by is
checked by the unchanged overlay, which still denies what the hard limits forbid.
"""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.depth_book import DepthBook
from core.domain import BookUpdate, MarketData, NewOrder, ParentOrder, Side
from models.actions import Action, ActionKind
from models.baselines import AlmgrenChrissPolicy
from models.policy import DecisionContext
from models.posture.levels import Posture
from risk.limits import parse_limits
from risk.overlay import RiskOverlay
from service.engine import Engine
from service.metrics import Metrics
from service.posture.config import PostureConfig, Tightening
from service.posture.gate import PostureGate, tighten
from service.state.store import MemoryStore
from tests.support.posture import small_params
from tests.support.risk import BASE_LIMITS, INSTRUMENTS, limits_with

SECOND = 1_000_000_000
GOOG = INSTRUMENTS
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def _limits(qty: int, collar: float, rate: float | None, mps: float, burst: int) -> object:
    raw = limits_with(**{"symbols.GOOG.max_order_qty": qty,
                         "symbols.GOOG.price_collar_bps": collar,
                         "symbols.GOOG.max_participation":
                             None if rate is None else {"rate": rate, "window_seconds": 60},
                         "global.throttle": {"messages_per_second": mps, "burst": burst}})
    return parse_limits(raw)


@settings(max_examples=300, deadline=None)
@given(qty=st.integers(1, 10**7), collar=st.floats(0.01, 10_000),
       rate=st.one_of(st.none(), st.floats(0.001, 1.0)), mps=st.floats(0.01, 10**6),
       burst=st.integers(1, 10**6),
       factors=st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT))
def test_the_tightened_view_is_never_looser_than_the_limits(
        qty: int, collar: float, rate: float | None, mps: float, burst: int,
        factors: tuple[float, float, float, float, float]) -> None:
    limits = _limits(qty, collar, rate, mps, burst)
    before = copy.deepcopy(limits)
    # model_construct: factors validation would refuse (NaN, infinite, above 1, negative).
    tightening = Tightening.model_construct(collar=factors[0], child_qty=factors[1],
                                            participation=factors[2], messages=factors[3],
                                            urgency=factors[4])
    configured = tighten(limits, "GOOG", None)  # type: ignore[arg-type]
    view = tighten(limits, "GOOG", tightening)  # type: ignore[arg-type]
    assert view.collar <= configured.collar == collar / 1e4
    assert 1 <= view.max_order_qty <= configured.max_order_qty == qty
    assert view.messages_per_second <= configured.messages_per_second
    assert 1 <= view.burst <= configured.burst
    if rate is None:
        assert view.participation is None
    else:
        assert view.participation is not None and view.participation <= rate
    for value in (view.collar, view.messages_per_second):
        assert not math.isnan(value)
    assert limits == before


@settings(max_examples=100, deadline=None)
@given(posture=st.sampled_from(list(Posture)), configured=st.integers(1, 100_000),
       child=st.floats(0.01, 1.0), intents=st.lists(st.tuples(
           st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 3_000),
           st.integers(57_000, 59_000)), max_size=30))
def test_no_posture_changes_the_limits_or_enlarges_a_child_order(
        posture: Posture, configured: int, child: float,
        intents: list[tuple[Side, int, int]]) -> None:
    overlay = RiskOverlay(parse_limits(BASE_LIMITS), GOOG)
    limits = overlay.limits
    snapshot = copy.deepcopy(limits)
    config = PostureConfig(enabled=True,
                           elevated=Tightening(collar=1, child_qty=child, participation=1,
                                               messages=1),
                           stressed=Tightening(collar=1, child_qty=child, participation=1,
                                               messages=1))
    gate = PostureGate(small_params(), config, GOOG, overlay)
    gate.symbols["GOOG"].posture = posture
    assert gate.max_child_qty("GOOG", configured) <= configured
    for k, (side, qty, price) in enumerate(intents):
        reason = gate.check(NewOrder(f"C{k}", "P", "GOOG", side, qty, price), k * SECOND)
        if posture is Posture.NORMAL:
            assert reason is None
    assert overlay.limits is limits and limits == snapshot


class _Cross:
    """Sell by crossing 600 shares on every tick."""

    name = "crosser"

    def act(self, ctx: DecisionContext) -> Action:
        return Action(ActionKind.CROSS, 600)


class _Venue:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, intent: object, now_ns: int) -> bool:
        self.sent.append(intent)
        return True


def _engine(posture: Posture, max_order_qty: int, max_short_position: int = 100_000) \
        -> tuple[Engine, _Venue, RiskOverlay, Metrics]:
    overlay = RiskOverlay(parse_limits(limits_with(
        **{"symbols.GOOG.max_order_qty": max_order_qty,
           "symbols.GOOG.max_short_position": max_short_position,
           "symbols.GOOG.max_order_notional": 10**9})), GOOG)
    gate = PostureGate(small_params(), PostureConfig(enabled=True), GOOG, overlay)
    gate.symbols["GOOG"].posture = posture
    venue, metrics = _Venue(), Metrics()
    engine = Engine(GOOG, overlay, venue, MemoryStore(), metrics, max_child_qty=1_000,
                    posture=gate)
    engine.submit(ParentOrder("P", "GOOG", Side.SELL, 5_000, 0, 600 * SECOND, "crosser"),
                  _Cross())
    return engine, venue, overlay, metrics


def _tick(engine: Engine, second: int) -> None:
    quotes = (BookUpdate("GOOG", Side.BUY, 58_000, 5_000, 0),
              BookUpdate("GOOG", Side.SELL, 58_002, 5_000, 0))
    engine.on_market_data(MarketData("GOOG", second * SECOND, quotes, ()), 0)


def _checks(metrics: Metrics) -> int:
    return int(metrics.risk_check.labels().counts and sum(metrics.risk_check.labels().counts))


def test_stressed_pauses_risk_increasing_orders_before_the_overlay() -> None:
    engine, venue, _overlay, metrics = _engine(Posture.STRESSED, max_order_qty=5_000)
    for second in range(1, 5):
        _tick(engine, second)
    assert venue.sent == []
    assert engine.posture is not None and engine.posture.denials["posture_stressed"] == 4
    assert _checks(metrics) == 0  # nothing reached the overlay, nothing was sent
    assert engine.errors == 0


def test_elevated_halves_the_child_order_and_the_overlay_still_checks_it() -> None:
    engine, venue, _overlay, metrics = _engine(Posture.ELEVATED, max_order_qty=5_000)
    _tick(engine, 1)
    [order] = venue.sent
    assert isinstance(order, NewOrder) and order.qty == 500  # 600, capped at 1,000 x 0.5
    assert _checks(metrics) == 1


def test_the_hard_limit_still_denies_what_the_posture_lets_by() -> None:
    """The position limit: the engine sizes its orders to the order-size limits itself, so a
    limit it does not size for shows the overlay judging on its own."""
    for posture in (Posture.NORMAL, Posture.ELEVATED):
        engine, venue, overlay, metrics = _engine(posture, max_order_qty=5_000,
                                                  max_short_position=100)
        _tick(engine, 1)
        assert venue.sent == []
        denied = overlay.denials.get(next(r for r in overlay.denials), 0) if overlay.denials \
            else 0
        posture_denied = engine.posture.denials["posture_order_qty"] if engine.posture else 0
        assert denied + posture_denied == 1
        if posture is Posture.NORMAL:
            assert denied == 1 and _checks(metrics) == 1


def test_a_posture_configured_to_loosen_is_a_configuration_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="less than or equal to 1"):
        Tightening(collar=1.5, child_qty=1, participation=1, messages=1)
    with pytest.raises(ValidationError, match=r"looser than posture\.elevated\.collar"):
        PostureConfig(elevated=Tightening(collar=0.5, child_qty=1, participation=1, messages=1),
                      stressed=Tightening(collar=0.8, child_qty=1, participation=1, messages=1))


def test_urgency_makes_almgren_chriss_trade_sooner() -> None:
    parent = ParentOrder("P", "GOOG", Side.SELL, 10_000, 0, 600 * SECOND, "almgren_chriss")
    policy = AlmgrenChrissPolicy()
    calm = DecisionContext(None, parent, DepthBook("GOOG"), 0, 500, 20, 0, 0)  # type: ignore[arg-type]
    urgent = DecisionContext(None, parent, DepthBook("GOOG"), 0, 500, 20, 0, 0,  # type: ignore[arg-type]
                             urgency=4.0)
    assert policy.urgent_kappa(urgent) == pytest.approx(2 * policy.urgent_kappa(calm))
    assert policy.target(urgent, 5) > policy.target(calm, 5)
