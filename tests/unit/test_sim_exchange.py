"""The in-process exchange: deterministic, FIX-faithful reports, and the engine accepts them."""

from decimal import Decimal

from core.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Instrument,
    MarketData,
    NewOrder,
    OrdStatus,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from models.registry import make_policy
from risk.limits import load_limits
from service.evaluation.backtest import EpisodeSpec, run_episode, unperturbed_mid_path
from service.metrics import Metrics
from sim.exchange import SimExchange
from sim.flow import FlowParams, StochasticFlow

START = 1_700_000_000 * 10**9
PARAMS = FlowParams(start_price=10_000)


def _exchange(seed: int = 3, latency_ns: int = 0) -> SimExchange:
    return SimExchange("SIM", StochasticFlow(PARAMS, seed=seed), START, latency_ns)


def _reports(events: list) -> list[tuple[ExecType, OrdStatus, int, int]]:
    return [(e.exec_type, e.ord_status, e.cum_qty, e.leaves_qty) for e in events
            if isinstance(e, ExecutionReport)]


def _run_flow(exchange: SimExchange, steps: int) -> list:
    return [event for _ in range(steps) for event in exchange.step()]


def test_same_seed_same_market_and_another_seed_another() -> None:
    a, b, c = _exchange(3), _exchange(3), _exchange(4)
    stream_a, stream_b, stream_c = _run_flow(a, 500), _run_flow(b, 500), _run_flow(c, 500)
    assert stream_a == stream_b
    assert stream_a != stream_c
    assert all(isinstance(e, MarketData) for e in stream_a)  # no agent, no reports


def test_ioc_cross_fills_at_the_far_touch_and_cancels_the_rest() -> None:
    exchange = _exchange()
    bid = exchange.book.best_bid()
    touch = exchange.book.level_qty(Side.BUY, bid)
    exchange.send(NewOrder("C1", "P", "SIM", Side.SELL, touch + 500, bid, OrdType.LIMIT,
                           TimeInForce.IOC), exchange.now_ns)
    events = exchange.step()
    assert _reports(events) == [
        (ExecType.NEW, OrdStatus.NEW, 0, touch + 500),
        *[(ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum, touch + 500 - cum)
          for cum in _cumulative([r.last_qty for r in events
                                  if isinstance(r, ExecutionReport) and r.last_qty])],
        (ExecType.CANCELED, OrdStatus.CANCELED, touch, 0),
    ]
    assert sum(f.qty for f in exchange.fills) == touch
    assert all(f.price == bid and not f.passive for f in exchange.fills)
    market = events[-1]
    assert isinstance(market, MarketData)
    assert sum(t.qty for t in market.trades) == touch  # the tape shows the agent's trades
    assert all(t.aggressor is Side.SELL for t in market.trades)
    assert exchange.book.best_bid() != bid  # the level is gone


def _cumulative(quantities: list[int]) -> list[int]:
    out, total = [], 0
    for qty in quantities:
        total += qty
        out.append(total)
    return out


def test_resting_order_is_filled_by_the_crowd_and_reported_as_passive() -> None:
    exchange = _exchange()
    ask = exchange.book.best_ask()
    exchange.send(NewOrder("R1", "P", "SIM", Side.SELL, 50, ask - 1 if ask - 1 >
                           exchange.book.best_bid() else ask), exchange.now_ns)
    events = exchange.step()
    assert _reports(events)[0][:2] == (ExecType.NEW, OrdStatus.NEW)
    trades = []
    for _ in range(20_000):
        trades += [e for e in exchange.step() if isinstance(e, ExecutionReport)]
        if trades and trades[-1].ord_status is OrdStatus.FILLED:
            break
    assert trades and trades[-1].ord_status is OrdStatus.FILLED
    assert sum(r.last_qty for r in trades) == 50
    assert all(f.passive for f in exchange.fills)


def test_cancel_replace_and_their_rejects() -> None:
    exchange = _exchange()
    price = exchange.book.best_bid() - 5
    exchange.send(NewOrder("N1", "P", "SIM", Side.BUY, 100, price), exchange.now_ns)
    exchange.step()
    exchange.send(ReplaceOrder("N2", "N1", "P", "SIM", Side.BUY, 60, price), exchange.now_ns)
    (replaced, *_rest) = exchange.step()
    assert (replaced.exec_type, replaced.cl_ord_id, replaced.orig_cl_ord_id,
            replaced.leaves_qty) == (ExecType.REPLACED, "N2", "N1", 60)
    assert exchange.book.level_qty(Side.BUY, price) >= 60
    exchange.send(CancelOrder("N3", "N2", "P", "SIM", Side.BUY, 60), exchange.now_ns)
    (cancelled, *_rest) = exchange.step()
    assert (cancelled.exec_type, cancelled.ord_status, cancelled.orig_cl_ord_id) == \
        (ExecType.CANCELED, OrdStatus.CANCELED, "N2")
    assert exchange.working_qty() == 0
    exchange.send(CancelOrder("N4", "N2", "P", "SIM", Side.BUY, 60), exchange.now_ns)
    (reject, *_rest) = exchange.step()
    assert isinstance(reject, CancelReject) and reject.orig_cl_ord_id == "N2"
    exchange.send(NewOrder("N1", "P", "SIM", Side.BUY, 10, price), exchange.now_ns)
    (duplicate, *_rest) = exchange.step()
    assert duplicate.exec_type is ExecType.REJECTED and "duplicate" in duplicate.text


def test_latency_delays_the_order_in_event_time() -> None:
    exchange = _exchange(latency_ns=2 * 10**9)
    sent_at = exchange.now_ns
    exchange.send(NewOrder("L1", "P", "SIM", Side.BUY, 10, exchange.book.best_bid()), sent_at)
    first_report_at = None
    while first_report_at is None:
        for event in exchange.step():
            if isinstance(event, ExecutionReport):
                first_report_at = event.ts_ns
    assert first_report_at == sent_at + 2 * 10**9


def test_engine_works_a_parent_to_completion_against_the_exchange() -> None:
    """Backtest equals live: the real engine, OMS and risk overlay accept every report."""
    spec = EpisodeSpec("SIM", Side.SELL, 1_000, horizon_s=120, slice_s=20, warmup_s=10)
    limits = _limits_for("SIM", load_limits("deploy/risk/limits.demo.yaml"))
    reference = unperturbed_mid_path(_exchange(5), START + 400 * 10**9)
    for name in ("twap", "twap_passive", "almgren_chriss", "pov"):
        result = run_episode(make_policy(name), _exchange(5), spec,
                             Instrument("SIM", Decimal("0.01")), limits, Metrics(), 5, reference)
        assert result.filled == 1_000, name
        assert result.risk_denials == 0, name
        assert len(result.inventory) == 21 and result.inventory[0] == 1.0, name
        assert result.inventory[-1] == 0.0, name
        assert result.impact_bps != 0.0, name


def _limits_for(symbol: str, limits):
    """The demo limits with their one symbol renamed to ``symbol``."""
    (only,) = limits.symbols.values()
    return limits.model_copy(update={"symbols": {symbol: only}})
